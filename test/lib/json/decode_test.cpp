// Tests for lib/json/decode.hpp and error.hpp: the error type, primitive
// readers, iteration helpers and their error paths, raw capture and
// int-or-string.

#include "lib/json/decode.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace krt::json {
namespace {

// Parses {"v": <value_text>} and reads "v" into out.
template <typename T>
result<void> read_v(std::string_view value_text, T& out) {
  std::string text = "{\"v\": " + std::string(value_text) + "}";
  return parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "v") return read(v, out);
      return {};
    });
  });
}

result<void> raw_v(std::string_view value_text, std::string& out) {
  std::string text = "{\"v\": " + std::string(value_text) + " , \"after\": 1}";
  return parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "v") return read_raw(v, out);
      return {};
    });
  });
}

result<void> int_or_string_v(std::string_view value_text, std::string& out) {
  std::string text = "{\"v\": " + std::string(value_text) + " }";
  return parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "v") return read_int_or_string(v, out);
      return {};
    });
  });
}

// ------------------------------------------------------------------ error type

TEST(JsonError, DescribeAndWithin) {
  error e{errc::type_mismatch, {}, "expected string"};
  EXPECT_EQ(e.describe(), "type_mismatch: expected string");
  e.within(".timeout").within(".spec");
  EXPECT_EQ(e.path, ".spec.timeout");
  EXPECT_EQ(e.describe(), "type_mismatch at .spec.timeout: expected string");
  error bare{errc::truncated, ".a", ""};
  EXPECT_EQ(bare.describe(), "truncated at .a");
}

TEST(JsonError, ErrcNames) {
  EXPECT_EQ(to_string(errc::malformed), "malformed");
  EXPECT_EQ(to_string(errc::truncated), "truncated");
  EXPECT_EQ(to_string(errc::type_mismatch), "type_mismatch");
  EXPECT_EQ(to_string(errc::missing_field), "missing_field");
  EXPECT_EQ(to_string(errc::out_of_range), "out_of_range");
  EXPECT_EQ(to_string(errc::invalid_value), "invalid_value");
  EXPECT_EQ(to_string(errc::too_large), "too_large");
}

TEST(JsonError, FromSimdjsonClassifies) {
  EXPECT_EQ(from_simdjson(simdjson::INCORRECT_TYPE).code, errc::type_mismatch);
  EXPECT_EQ(from_simdjson(simdjson::NUMBER_OUT_OF_RANGE).code, errc::out_of_range);
  EXPECT_EQ(from_simdjson(simdjson::EMPTY).code, errc::truncated);
  EXPECT_EQ(from_simdjson(simdjson::UNCLOSED_STRING).code, errc::truncated);
  EXPECT_EQ(from_simdjson(simdjson::INCOMPLETE_ARRAY_OR_OBJECT).code, errc::truncated);
  EXPECT_EQ(from_simdjson(simdjson::DEPTH_ERROR).code, errc::too_large);
  EXPECT_EQ(from_simdjson(simdjson::TAPE_ERROR).code, errc::malformed);
  EXPECT_FALSE(from_simdjson(simdjson::TAPE_ERROR).message.empty());
}

TEST(JsonFail, BuildsAnUnexpectedError) {
  result<int> r = fail(errc::invalid_value, "nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_value);
  EXPECT_EQ(r.error().message, "nope");
  EXPECT_TRUE(r.error().path.empty());
}

// ------------------------------------------------------------------ primitives

TEST(JsonRead, String) {
  std::string s;
  ASSERT_TRUE(read_v(R"("plain")", s));
  EXPECT_EQ(s, "plain");
  ASSERT_TRUE(read_v(R"("a\"b\\c\n\u00e9\ud834\udd1e")", s));
  EXPECT_EQ(s, "a\"b\\c\n\xC3\xA9\xF0\x9D\x84\x9E");
  ASSERT_TRUE(read_v(R"("")", s));
  EXPECT_EQ(s, "");
}

TEST(JsonRead, StringTypeMismatch) {
  std::string s = "keep";
  for (auto v : {"1", "true", "[]", "{}"}) {
    auto r = read_v(v, s);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, errc::type_mismatch) << v;
    EXPECT_EQ(r.error().path, ".v");
  }
}

TEST(JsonRead, Bool) {
  bool b = false;
  ASSERT_TRUE(read_v("true", b));
  EXPECT_TRUE(b);
  ASSERT_TRUE(read_v("false", b));
  EXPECT_FALSE(b);
  auto r = read_v("1", b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::type_mismatch);
  EXPECT_FALSE(read_v(R"("true")", b));
}

TEST(JsonRead, Int64) {
  std::int64_t v = 0;
  ASSERT_TRUE(read_v("42", v));
  EXPECT_EQ(v, 42);
  ASSERT_TRUE(read_v("-7", v));
  EXPECT_EQ(v, -7);
  ASSERT_TRUE(read_v("9223372036854775807", v));
  EXPECT_EQ(v, std::numeric_limits<std::int64_t>::max());
  ASSERT_TRUE(read_v("-9223372036854775808", v));
  EXPECT_EQ(v, std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(read_v("9223372036854775808", v));
  EXPECT_FALSE(read_v("1.5", v));
  EXPECT_FALSE(read_v(R"("1")", v));
  EXPECT_EQ(v, std::numeric_limits<std::int64_t>::min());  // failures leave it alone
}

TEST(JsonRead, Int32Range) {
  std::int32_t v = 0;
  ASSERT_TRUE(read_v("2147483647", v));
  EXPECT_EQ(v, 2147483647);
  ASSERT_TRUE(read_v("-2147483648", v));
  EXPECT_EQ(v, -2147483647 - 1);
  v = 5;
  for (auto big : {"2147483648", "-2147483649", "9223372036854775807"}) {
    auto r = read_v(big, v);
    ASSERT_FALSE(r) << big;
    EXPECT_EQ(r.error().code, errc::out_of_range) << big;
    EXPECT_EQ(r.error().path, ".v");
    EXPECT_EQ(v, 5);
  }
  auto r = read_v("true", v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::type_mismatch);
}

TEST(JsonRead, Double) {
  double d = 0;
  ASSERT_TRUE(read_v("1.5", d));
  EXPECT_EQ(d, 1.5);
  ASSERT_TRUE(read_v("-2e3", d));
  EXPECT_EQ(d, -2000.0);
  ASSERT_TRUE(read_v("7", d));
  EXPECT_EQ(d, 7.0);
  EXPECT_FALSE(read_v(R"("1.5")", d));
  EXPECT_FALSE(read_v("1e400", d));
}

TEST(JsonRead, NullLeavesScalarsUnchanged) {
  std::string s = "keep";
  bool b = true;
  std::int64_t i64 = 64;
  std::int32_t i32 = 32;
  double d = 2.5;
  ASSERT_TRUE(read_v("null", s));
  ASSERT_TRUE(read_v("null", b));
  ASSERT_TRUE(read_v("null", i64));
  ASSERT_TRUE(read_v("null", i32));
  ASSERT_TRUE(read_v("null", d));
  EXPECT_EQ(s, "keep");
  EXPECT_TRUE(b);
  EXPECT_EQ(i64, 64);
  EXPECT_EQ(i32, 32);
  EXPECT_EQ(d, 2.5);
}

TEST(JsonRead, NullLeavesContainersUnchanged) {
  // Regression (was a bug): lib/json/decode.cpp read(vector<string>&) and read(map<string,string>&)
  // call out.clear() before checking for null, so null empties the container;
  // decode.hpp promises "A JSON null leaves `out` unchanged".
  std::vector<std::string> v = {"keep"};
  std::map<std::string, std::string> m = {{"k", "v"}};
  ASSERT_TRUE(read_v("null", v));
  ASSERT_TRUE(read_v("null", m));
  EXPECT_EQ(v, std::vector<std::string>{"keep"});
  EXPECT_EQ(m.size(), 1U);
}

TEST(JsonRead, NullMisspelledIsAnError) {
  // Regression (was a bug): lib/json/decode.cpp is_null() (working-tree version) decides with
  // value::type(), which only looks at the first byte, and the readers return
  // early on "null" without consuming or validating the literal. So
  // {"v": nul}, {"v": nulll} and {"v": nan} read as null and parse() succeeds.
  std::string s;
  EXPECT_FALSE(read_v("nul", s));
  EXPECT_FALSE(read_v("nulll", s));
  std::int64_t i = 0;
  EXPECT_FALSE(read_v("nan", i));
}

TEST(JsonRead, VectorOfStrings) {
  std::vector<std::string> v = {"old"};
  ASSERT_TRUE(read_v(R"(["a", "b", ""])", v));
  EXPECT_EQ(v, (std::vector<std::string>{"a", "b", ""}));
  ASSERT_TRUE(read_v("[]", v));
  EXPECT_TRUE(v.empty());
  auto r = read_v(R"(["a", 2, "c"])", v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::type_mismatch);
  EXPECT_EQ(r.error().path, ".v[1]");
  auto r2 = read_v(R"({"a": "b"})", v);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, errc::type_mismatch);
  // An array element may itself be null: it reads as "".
  ASSERT_TRUE(read_v(R"(["a", null])", v));
  EXPECT_EQ(v, (std::vector<std::string>{"a", ""}));
}

TEST(JsonRead, MapOfStrings) {
  std::map<std::string, std::string> m = {{"old", "x"}};
  ASSERT_TRUE(read_v(R"({"a": "1", "b\"q": "2", "a": "3"})", m));
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"a", "3"}, {"b\"q", "2"}}));
  auto r = read_v(R"({"ok": "1", "bad": 2})", m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().path, ".v.bad");
  EXPECT_EQ(r.error().code, errc::type_mismatch);
  EXPECT_FALSE(read_v(R"(["a"])", m));
}

TEST(JsonRead, Optional) {
  std::optional<std::int64_t> o;
  ASSERT_TRUE(read_v("null", o));
  EXPECT_FALSE(o.has_value());
  ASSERT_TRUE(read_v("5", o));
  EXPECT_EQ(o, 5);
  ASSERT_TRUE(read_v("null", o));
  EXPECT_EQ(o, 5);  // null leaves it unchanged
  EXPECT_FALSE(read_v(R"("x")", o));
  EXPECT_EQ(o, 5);

  std::optional<std::string> s;
  ASSERT_TRUE(read_v(R"("")", s));
  ASSERT_TRUE(s.has_value());  // present-but-empty is not absent
  EXPECT_EQ(*s, "");

  std::optional<std::int32_t> small;
  auto r = read_v("4294967296", small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::out_of_range);
  EXPECT_FALSE(small.has_value());
}

// ------------------------------------------------------------------ iteration helpers

TEST(JsonForEach, ErrorPathNamesTheNestedValue) {
  std::string text = R"({"a": {"x": 1, "b": [1, 2, "three", 4]}})";
  std::vector<std::int64_t> seen;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value a) -> result<void> {
      if (k != "a") return {};
      return for_each_field(a, [&](std::string_view k2, od::value b) -> result<void> {
        if (k2 != "b") return {};
        return for_each_element(b, [&](od::value e) -> result<void> {
          std::int64_t v = 0;
          auto rr = read(e, v);
          if (rr) seen.push_back(v);
          return rr;
        });
      });
    });
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().path, ".a.b[2]");
  EXPECT_EQ(r.error().code, errc::type_mismatch);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2}));
}

TEST(JsonForEach, CallbackErrorsGetPathsAndStopIteration) {
  std::string text = R"([{"k": 1}, {"k": 2}, {"stop": 3}, {"k": 4}])";
  int calls = 0;
  auto r = parse(text, [&](od::value root) {
    return for_each_element(root, [&](od::value e) -> result<void> {
      return for_each_field(e, [&](std::string_view k, od::value) -> result<void> {
        ++calls;
        if (k == "stop") return fail(errc::invalid_value, "stop here");
        return {};
      });
    });
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().path, "[2].stop");
  EXPECT_EQ(r.error().code, errc::invalid_value);
  EXPECT_EQ(r.error().message, "stop here");
  EXPECT_EQ(calls, 3);
}

TEST(JsonForEach, NullIsEmpty) {
  std::string text = R"({"o": null, "a": null})";
  int calls = 0;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "o") return for_each_field(v, [&](std::string_view, od::value) -> result<void> {
          ++calls;
          return {};
        });
      return for_each_element(v, [&](od::value) -> result<void> {
        ++calls;
        return {};
      });
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(calls, 0);
}

TEST(JsonForEach, WrongContainerTypeIsTypeMismatch) {
  std::string text = R"({"o": [1], "a": {"x": 1}, "s": "str"})";
  std::vector<std::string> errors;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      result<void> rr;
      if (k == "o" || k == "s") {
        rr = for_each_field(v, [](std::string_view, od::value) -> result<void> { return {}; });
      } else {
        rr = for_each_element(v, [](od::value) -> result<void> { return {}; });
      }
      if (!rr) errors.push_back(std::string(k) + ":" + std::string(to_string(rr.error().code)));
      return {};
    });
  });
  // A failed get_object()/get_array() leaves the value unconsumed; the outer
  // iteration still moves on to the next field.
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(errors, (std::vector<std::string>{"o:type_mismatch", "a:type_mismatch", "s:type_mismatch"}));
}

TEST(JsonForEach, UnescapedKeysAreOwned) {
  std::string text = R"({"a\"b": "1", "c\u00e9": "2", "d\\e": "3"})";
  std::vector<std::string> keys;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      std::string s;
      auto rr = read(v, s);  // reading a string after the key must not clobber it
      keys.push_back(std::string(k) + "=" + s);
      return rr;
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(keys, (std::vector<std::string>{"a\"b=1", "c\xC3\xA9=2", "d\\e=3"}));
}

TEST(JsonForEach, UnreadValuesAreSkipped) {
  std::string text = R"({"skip": {"deep": [1, {"x": [true, null]}]}, "want": "yes", "skip2": [[], {}]})";
  std::string want;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "want") return read(v, want);
      return {};
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(want, "yes");
}

// ------------------------------------------------------------------ read_raw

TEST(JsonReadRaw, ObjectsAndArraysVerbatim) {
  std::string raw;
  ASSERT_TRUE(raw_v(R"({"x": [1, 2], "y": "s"})", raw));
  EXPECT_EQ(raw, R"({"x": [1, 2], "y": "s"})");
  ASSERT_TRUE(raw_v(R"([1, {"b": null}, "c"])", raw));
  EXPECT_EQ(raw, R"([1, {"b": null}, "c"])");
  ASSERT_TRUE(raw_v("{}", raw));
  EXPECT_EQ(raw, "{}");
  ASSERT_TRUE(raw_v("[ ]", raw));
  EXPECT_EQ(raw, "[ ]");
}

TEST(JsonReadRaw, ScalarsWithoutTrailingWhitespace) {
  std::string raw;
  ASSERT_TRUE(raw_v(R"("str\"q")", raw));
  EXPECT_EQ(raw, R"("str\"q")");
  ASSERT_TRUE(raw_v("-1.5e3", raw));
  EXPECT_EQ(raw, "-1.5e3");
  ASSERT_TRUE(raw_v("true", raw));
  EXPECT_EQ(raw, "true");
  ASSERT_TRUE(raw_v("false", raw));
  EXPECT_EQ(raw, "false");
  ASSERT_TRUE(raw_v("null", raw));
  EXPECT_EQ(raw, "null");
  ASSERT_TRUE(raw_v("0\n\t\r ", raw));
  EXPECT_EQ(raw, "0");
}

TEST(JsonReadRaw, InvalidScalarsAreErrors) {
  std::string raw;
  EXPECT_FALSE(raw_v("tru", raw));
  EXPECT_FALSE(raw_v("nul", raw));
  EXPECT_FALSE(raw_v("fals", raw));
  EXPECT_FALSE(raw_v("-", raw));
  EXPECT_FALSE(raw_v("01x", raw));
}

TEST(JsonReadRaw, RawTextParsesAgain) {
  std::string raw;
  ASSERT_TRUE(raw_v(R"({"a": {"b": [1, "two", {"c": false}]}})", raw));
  std::string again = raw;
  std::string two;
  auto r = parse(again, [&](od::value root) {
    return for_each_field(root, [&](std::string_view, od::value a) -> result<void> {
      return for_each_field(a, [&](std::string_view, od::value b) -> result<void> {
        std::size_t i = 0;
        return for_each_element(b, [&](od::value e) -> result<void> {
          return i++ == 1 ? read(e, two) : result<void>{};
        });
      });
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(two, "two");
}

// ------------------------------------------------------------------ read_int_or_string

TEST(JsonIntOrString, NumbersKeepTheirText) {
  std::string out;
  ASSERT_TRUE(int_or_string_v("2", out));
  EXPECT_EQ(out, "2");
  ASSERT_TRUE(int_or_string_v("-15", out));
  EXPECT_EQ(out, "-15");
  ASSERT_TRUE(int_or_string_v("1.5", out));
  EXPECT_EQ(out, "1.5");
  ASSERT_TRUE(int_or_string_v("1e3", out));
  EXPECT_EQ(out, "1e3");
}

TEST(JsonIntOrString, StringsAreUnquoted) {
  std::string out;
  ASSERT_TRUE(int_or_string_v(R"("1Ki")", out));
  EXPECT_EQ(out, "1Ki");
  ASSERT_TRUE(int_or_string_v(R"("500m")", out));
  EXPECT_EQ(out, "500m");
}

TEST(JsonIntOrString, NullKeepsAndOtherTypesFail) {
  std::string out = "keep";
  ASSERT_TRUE(int_or_string_v("null", out));
  EXPECT_EQ(out, "keep");
  for (auto v : {"true", "[1]", R"({"a": 1})"}) {
    auto r = int_or_string_v(v, out);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, errc::type_mismatch) << v;
  }
}

}  // namespace
}  // namespace krt::json
