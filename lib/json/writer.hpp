#pragma once
// A streaming JSON writer for requests and patches: no DOM, one std::string,
// commas and escaping handled. Strings are escaped per RFC 8259; invalid UTF-8
// is replaced with U+FFFD so the output is always valid JSON.
//
// Affinity: none (one writer per producer).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace krt::json {

class writer {
 public:
  writer() { stack_.reserve(16); }

  writer& begin_object();
  writer& end_object();
  writer& begin_array();
  writer& end_array();
  writer& key(std::string_view k);

  writer& value(std::string_view s);
  writer& value(const char* s) { return value(std::string_view(s)); }
  writer& value(const std::string& s) { return value(std::string_view(s)); }
  writer& value(bool b);
  writer& value(std::int64_t v);
  writer& value(std::uint64_t v);
  writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  writer& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
  writer& value(long long v) { return value(static_cast<std::int64_t>(v)); }
  writer& value(double v);
  writer& null();
  // Inserts already-encoded JSON (trusted to be valid) as one value.
  writer& raw(std::string_view json);

  template <typename T>
  writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  bool complete() const { return stack_.empty() && !out_.empty(); }

 private:
  void before_value();
  std::string out_;
  // Per open container: number of elements written so far.
  std::vector<std::uint32_t> stack_;
  bool after_key_ = false;
};

// Re-indents compact JSON text (2 spaces, as kubectl -o json prints). The
// input must be valid JSON (e.g. a writer's output); strings are kept as is.
std::string pretty(std::string_view compact, int indent = 2);

// Appends `s` as a quoted JSON string.
void append_quoted(std::string& out, std::string_view s);
std::string quote(std::string_view s);

}  // namespace krt::json
