#pragma once
// A value-or-error type for I/O and control paths (STYLE rule 8): errors are
// values, exceptions are for broken invariants. Modelled on std::expected,
// which g++ 12 does not offer in C++20 mode.
//
// Affinity: none (a plain value type).

#include <cassert>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace krt {

// The message of an exception (what(), or "unknown exception").
inline std::string describe_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

template <typename E>
struct unexpected {
  explicit unexpected(E e) : error(std::move(e)) {}
  E error;
};
template <typename E>
unexpected(E) -> unexpected<E>;

// Thrown only by value() on an error result: a caller that did not check.
class bad_result_access : public std::logic_error {
 public:
  bad_result_access() : std::logic_error("result holds an error") {}
};

template <typename T, typename E>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = E;

  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, result>>>
  result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}  // NOLINT
  template <typename G>
  result(unexpected<G> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  E&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw bad_result_access();
  }
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] result<void, E> {
 public:
  result() = default;
  template <typename G>
  result(unexpected<G> e) : err_(std::move(e.error)), ok_(false) {}  // NOLINT

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw bad_result_access();
  }
  const E& error() const& {
    assert(!ok_);
    return err_;
  }
  E&& error() && {
    assert(!ok_);
    return std::move(err_);
  }

 private:
  E err_{};
  bool ok_ = true;
};

}  // namespace krt
