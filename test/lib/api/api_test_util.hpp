#pragma once
// Helpers shared by the lib/api tests: an order-independent view of encoded
// JSON, and readable checks on validation errors.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/api/validation.hpp"
#include "lib/json/decode.hpp"

namespace krt::api::test_util {

// Flattens a JSON value to path → raw JSON text of each leaf (or "{}"/"[]"
// for empty containers), so tests can check shapes independent of key order.
inline json::result<void> flatten_value(json::od::value v, const std::string& path,
                                        std::map<std::string, std::string>& out) {
  json::od::json_type t;
  if (auto e = v.type().get(t)) return unexpected(json::from_simdjson(e));
  if (t == json::od::json_type::object) {
    bool any = false;
    auto r = json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
      any = true;
      return flatten_value(f, path + "." + std::string(k), out);
    });
    if (r && !any) out[path] = "{}";
    return r;
  }
  if (t == json::od::json_type::array) {
    std::size_t i = 0;
    auto r = json::for_each_element(v, [&](json::od::value e) -> json::result<void> {
      return flatten_value(e, path + "[" + std::to_string(i++) + "]", out);
    });
    if (r && i == 0) out[path] = "[]";
    return r;
  }
  std::string raw;
  auto r = json::read_raw(v, raw);
  if (r) out[path] = raw;
  return r;
}

inline std::map<std::string, std::string> flatten(std::string text) {
  std::map<std::string, std::string> out;
  auto r = json::parse(text, [&](json::od::value root) { return flatten_value(root, "", out); });
  EXPECT_TRUE(r) << r.error().describe() << "\n" << text;
  return out;
}

inline std::string describe(const std::vector<field_error>& errs) {
  std::string out;
  for (const auto& e : errs) out += "  " + e.field + ": " + e.message + "\n";
  return out;
}

// Exactly one error, with this field and message.
inline void expect_only(const std::vector<field_error>& errs, const std::string& field, const std::string& message) {
  ASSERT_EQ(errs.size(), 1U) << describe(errs);
  EXPECT_EQ(errs[0].field, field);
  EXPECT_EQ(errs[0].message, message);
}

inline bool has(const std::vector<field_error>& errs, const std::string& field, const std::string& message) {
  for (const auto& e : errs)
    if (e.field == field && e.message == message) return true;
  return false;
}

}  // namespace krt::api::test_util
