#include "local/apiserver/json.hpp"

namespace krt::local {

namespace {

bool is_number(const bj::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

}  // namespace

bool json_equal(const bj::value& a, const bj::value& b) {
  if (is_number(a) && is_number(b)) {
    if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
    if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
    if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
    // One signed, one unsigned: a negative value can never equal a uint64.
    const std::int64_t s = a.is_int64() ? a.get_int64() : b.get_int64();
    const std::uint64_t u = a.is_uint64() ? a.get_uint64() : b.get_uint64();
    return s >= 0 && static_cast<std::uint64_t>(s) == u;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case bj::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!json_equal(x[i], y[i])) return false;
      return true;
    }
    case bj::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        auto it = y.find(kv.key());
        if (it == y.end() || !json_equal(kv.value(), it->value())) return false;
      }
      return true;
    }
    default:
      return a == b;
  }
}

const bj::value* field_at(const bj::object& o, std::initializer_list<std::string_view> keys) {
  const bj::value* cur = nullptr;
  const bj::object* obj = &o;
  for (auto k : keys) {
    if (obj == nullptr) return nullptr;
    cur = obj->if_contains(k);
    if (cur == nullptr) return nullptr;
    obj = cur->is_object() ? &cur->as_object() : nullptr;
  }
  return cur;
}

std::string string_of(const bj::value* v) {
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t int_of(const bj::value* v, std::int64_t dflt) { return v != nullptr && v->is_int64() ? v->as_int64() : dflt; }

std::string meta_string(const bj::object& obj, std::string_view field) {
  return string_of(field_at(obj, {"metadata", field}));
}

}  // namespace krt::local
