#include "lib/json/decode.hpp"

#include <limits>

namespace krt::json {

std::string_view to_string(errc c) {
  switch (c) {
    case errc::malformed: return "malformed";
    case errc::truncated: return "truncated";
    case errc::type_mismatch: return "type_mismatch";
    case errc::missing_field: return "missing_field";
    case errc::out_of_range: return "out_of_range";
    case errc::invalid_value: return "invalid_value";
    case errc::too_large: return "too_large";
  }
  return "unknown";
}

std::string error::describe() const {
  std::string out(to_string(code));
  if (!path.empty()) out += " at " + path;
  if (!message.empty()) out += ": " + message;
  return out;
}

error& error::within(std::string_view segment) {
  path.insert(0, segment);
  return *this;
}

od::parser& shard_parser() {
  thread_local od::parser parser;
  return parser;
}

od::parser& nested_parser() {
  thread_local od::parser parser;
  return parser;
}

error from_simdjson(simdjson::error_code code) {
  errc c;
  switch (code) {
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING:
    case simdjson::EMPTY:
    case simdjson::OUT_OF_BOUNDS:
      c = errc::truncated;
      break;
    case simdjson::INCORRECT_TYPE:
      c = errc::type_mismatch;
      break;
    case simdjson::NUMBER_OUT_OF_RANGE:
      c = errc::out_of_range;
      break;
    case simdjson::CAPACITY:
    case simdjson::DEPTH_ERROR:
      c = errc::too_large;
      break;
    default:
      c = errc::malformed;
  }
  return error{c, {}, simdjson::error_message(code)};
}

void ensure_padding(std::string& buf) {
  if (buf.capacity() < buf.size() + simdjson::SIMDJSON_PADDING)
    buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
}

bool is_null(od::value& v) {
  // type() peeks at the first byte without consuming and, unlike
  // value::is_null(), is also valid on a document's root value. A token that
  // only starts like null ("nul", "nan") is not null: the caller's typed read
  // then reports it.
  od::json_type t;
  if (v.type().get(t) || t != od::json_type::null) return false;
  std::string_view token = v.raw_json_token();
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' || token.back() == '\t'))
    token.remove_suffix(1);
  return token == "null";
}

bool at_end(od::document& doc) {
  const char* loc = nullptr;
  return doc.current_location().get(loc) == simdjson::OUT_OF_BOUNDS;
}

result<void> read(od::value v, std::string& out) {
  if (is_null(v)) return {};
  std::string_view s;
  if (auto e = v.get_string().get(s)) return unexpected(from_simdjson(e));
  out.assign(s);
  return {};
}

result<void> read(od::value v, bool& out) {
  if (is_null(v)) return {};
  if (auto e = v.get_bool().get(out)) return unexpected(from_simdjson(e));
  return {};
}

result<void> read(od::value v, std::int64_t& out) {
  if (is_null(v)) return {};
  if (auto e = v.get_int64().get(out)) return unexpected(from_simdjson(e));
  return {};
}

result<void> read(od::value v, std::int32_t& out) {
  if (is_null(v)) return {};
  std::int64_t wide;
  if (auto e = v.get_int64().get(wide)) return unexpected(from_simdjson(e));
  if (wide < std::numeric_limits<std::int32_t>::min() || wide > std::numeric_limits<std::int32_t>::max())
    return fail(errc::out_of_range, "does not fit in int32");
  out = static_cast<std::int32_t>(wide);
  return {};
}

result<void> read(od::value v, double& out) {
  if (is_null(v)) return {};
  if (auto e = v.get_double().get(out)) return unexpected(from_simdjson(e));
  return {};
}

result<void> read(od::value v, std::vector<std::string>& out) {
  if (is_null(v)) return {};
  out.clear();
  return for_each_element(v, [&](od::value elem) -> result<void> {
    std::string s;
    auto r = read(elem, s);
    if (r) out.push_back(std::move(s));
    return r;
  });
}

result<void> read(od::value v, std::map<std::string, std::string>& out) {
  if (is_null(v)) return {};
  out.clear();
  return for_each_field(v, [&](std::string_view key, od::value val) -> result<void> {
    std::string s;
    auto r = read(val, s);
    if (r) out.insert_or_assign(std::string(key), std::move(s));
    return r;
  });
}

result<void> read_raw(od::value v, std::string& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return unexpected(from_simdjson(e));
  std::string_view raw;
  if (type == od::json_type::object) {
    od::object obj;
    if (auto e = v.get_object().get(obj)) return unexpected(from_simdjson(e));
    if (auto e = obj.raw_json().get(raw)) return unexpected(from_simdjson(e));
  } else if (type == od::json_type::array) {
    od::array arr;
    if (auto e = v.get_array().get(arr)) return unexpected(from_simdjson(e));
    if (auto e = arr.raw_json().get(raw)) return unexpected(from_simdjson(e));
  } else {
    raw = v.raw_json_token();
    // A scalar token: validate it by reading it as its own type.
    if (type == od::json_type::string) {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return unexpected(from_simdjson(e));
    } else if (type == od::json_type::number) {
      double d;
      if (auto e = v.get_double().get(d)) return unexpected(from_simdjson(e));
    } else if (type == od::json_type::boolean) {
      bool b;
      if (auto e = v.get_bool().get(b)) return unexpected(from_simdjson(e));
    } else {
      bool n;
      if (auto e = v.is_null().get(n)) return unexpected(from_simdjson(e));
      if (!n) return fail(errc::malformed, "invalid literal");
    }
  }
  // raw_json_token includes trailing whitespace up to the next structural char.
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
    raw.remove_suffix(1);
  out.assign(raw);
  return {};
}

result<void> read_int_or_string(od::value v, std::string& out) {
  if (is_null(v)) return {};
  od::json_type type;
  if (auto e = v.type().get(type)) return unexpected(from_simdjson(e));
  if (type == od::json_type::string) return read(v, out);
  if (type == od::json_type::number) {
    std::string_view raw = v.raw_json_token();
    double d;
    if (auto e = v.get_double().get(d)) return unexpected(from_simdjson(e));
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
      raw.remove_suffix(1);
    out.assign(raw);
    return {};
  }
  return fail(errc::type_mismatch, "expected an integer or a string");
}

}  // namespace krt::json
