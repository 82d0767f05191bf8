#pragma once
// Small read helpers over stored objects, shared by the node's controllers
// and pod runtime.

#include <initializer_list>
#include <string>
#include <string_view>

#include "local/apiserver/json.hpp"

namespace krt::local::node {

inline const std::string pods_key = "/pods";

// The value at a path of object keys, or null.
inline const bj::value* path(const bj::object& o, std::initializer_list<std::string_view> keys) {
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

inline std::string str(const bj::value* v) {
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

inline std::string meta_str(const bj::object& o, std::string_view field) { return str(path(o, {"metadata", field})); }

inline std::int64_t int_or(const bj::value* v, std::int64_t dflt) {
  return v != nullptr && v->is_int64() ? v->as_int64() : dflt;
}

}  // namespace krt::local::node
