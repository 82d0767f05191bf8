#include "local/apiserver/json.hpp"

namespace krt::local {

namespace {

bool is_number(const bj::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

// Recursion depth is bounded by depth_limit + 1: the walk returns as soon as
// a container would go deeper.
void measure(const bj::value& v, std::size_t level, std::size_t depth_limit, std::size_t byte_limit, json_extent& out) {
  if (!out.within) return;
  auto add = [&](std::size_t n) {
    out.bytes += n;
    if (out.bytes > byte_limit) out.within = false;
  };
  switch (v.kind()) {
    case bj::kind::object:
    case bj::kind::array: {
      if (level + 1 > out.depth) out.depth = level + 1;
      if (out.depth > depth_limit) {
        out.within = false;
        return;
      }
      add(2);
      if (const auto* o = v.if_object()) {
        for (const auto& kv : *o) {
          add(kv.key().size() + 4);  // "key": and a comma
          measure(kv.value(), level + 1, depth_limit, byte_limit, out);
          if (!out.within) return;
        }
      } else {
        for (const auto& e : v.get_array()) {
          add(1);
          measure(e, level + 1, depth_limit, byte_limit, out);
          if (!out.within) return;
        }
      }
      return;
    }
    case bj::kind::string:
      add(v.get_string().size() + 2);
      return;
    case bj::kind::bool_:
    case bj::kind::null:
      add(5);
      return;
    default:
      add(8);  // a number: an estimate, numbers are short
      return;
  }
}

}  // namespace

bj::value parse_json(std::string_view text, boost::system::error_code& ec, std::size_t max_depth) {
  bj::parse_options opts;
  opts.max_depth = max_depth;
  return bj::parse(text, ec, {}, opts);
}

json_extent measure_json(const bj::value& v, std::size_t depth_limit, std::size_t byte_limit) {
  json_extent out;
  measure(v, 0, depth_limit, byte_limit, out);
  return out;
}

json_extent measure_json(const bj::object& o, std::size_t depth_limit, std::size_t byte_limit) {
  json_extent out;
  out.depth = 1;
  out.bytes = 2;
  if (depth_limit < 1 || byte_limit < 2) {
    out.within = false;
    return out;
  }
  for (const auto& kv : o) {
    out.bytes += kv.key().size() + 4;
    if (out.bytes > byte_limit) out.within = false;
    measure(kv.value(), 1, depth_limit, byte_limit, out);
    if (!out.within) break;
  }
  return out;
}

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

std::vector<std::string> strings_of(const bj::value* v) {
  std::vector<std::string> out;
  if (v != nullptr && v->is_array())
    for (const auto& e : v->as_array())
      if (e.is_string()) out.emplace_back(e.as_string());
  return out;
}

std::int64_t int_of(const bj::value* v, std::int64_t dflt) { return v != nullptr && v->is_int64() ? v->as_int64() : dflt; }

std::string meta_string(const bj::object& obj, std::string_view field) {
  return string_of(field_at(obj, {"metadata", field}));
}

}  // namespace krt::local
