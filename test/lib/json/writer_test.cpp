// Tests for lib/json/writer.hpp: structure, commas, escaping, UTF-8 repair,
// numbers and raw() insertion. Output is also fed back through the decoder.

#include "lib/json/writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "lib/core/strings.hpp"
#include "lib/json/decode.hpp"

namespace krt::json {
namespace {

TEST(JsonWriter, NestedObjectsAndArrays) {
  writer w;
  w.begin_object()
      .field("a", 1)
      .key("b")
      .begin_array()
      .value(1)
      .value("x")
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .null()
      .end_array()
      .key("c")
      .begin_object()
      .field("d", true)
      .key("e")
      .begin_array()
      .begin_object()
      .field("f", false)
      .end_object()
      .end_array()
      .end_object()
      .field("g", "h")
      .end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":[1,"x",{},[],null],"c":{"d":true,"e":[{"f":false}]},"g":"h"})");
  EXPECT_TRUE(w.complete());
}

TEST(JsonWriter, EmptyContainersAndTopLevelArray) {
  writer o;
  o.begin_object().end_object();
  EXPECT_EQ(o.str(), "{}");
  writer a;
  a.begin_array().begin_array().end_array().begin_object().end_object().value(0).end_array();
  EXPECT_EQ(a.str(), "[[],{},0]");
  EXPECT_TRUE(a.complete());
}

TEST(JsonWriter, CompleteOnlyWhenAllContainersClosed) {
  writer w;
  EXPECT_FALSE(w.complete());
  w.begin_object();
  EXPECT_FALSE(w.complete());
  w.key("a").begin_array();
  EXPECT_FALSE(w.complete());
  w.end_array();
  EXPECT_FALSE(w.complete());
  w.end_object();
  EXPECT_TRUE(w.complete());
}

TEST(JsonWriter, TakeMovesTheOutput) {
  writer w;
  w.begin_array().value(1).end_array();
  std::string s = w.take();
  EXPECT_EQ(s, "[1]");
}

TEST(JsonWriter, EscapesQuotesBackslashAndShortControls) {
  EXPECT_EQ(quote("q\"b\\s/"), R"("q\"b\\s/")");
  EXPECT_EQ(quote("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(quote(""), R"("")");
}

TEST(JsonWriter, EscapesOtherControlCharsAsU00XX) {
  EXPECT_EQ(quote(std::string(1, '\0')), R"("\u0000")");
  EXPECT_EQ(quote("\x01"), R"("\u0001")");
  EXPECT_EQ(quote("\x0b"), R"("\u000b")");
  EXPECT_EQ(quote("\x1f"), R"("\u001f")");
  EXPECT_EQ(quote("a\x1b[0mb"), R"("a\u001b[0mb")");
  // DEL and space need no escape.
  EXPECT_EQ(quote("\x7f "), "\"\x7f \"");
  // Every byte below 0x20 is escaped, nothing else in ASCII except " and \.
  for (int c = 0; c < 0x80; ++c) {
    std::string q = quote(std::string(1, static_cast<char>(c)));
    bool escaped = q.size() > 3;
    EXPECT_EQ(escaped, c < 0x20 || c == '"' || c == '\\') << c;
  }
}

TEST(JsonWriter, KeysAreEscapedToo) {
  writer w;
  w.begin_object().field("a\"b\n", 1).end_object();
  EXPECT_EQ(w.str(), R"({"a\"b\n":1})");
}

TEST(JsonWriter, ValidUtf8PassesThrough) {
  EXPECT_EQ(quote("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E"), "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E\"");
}

TEST(JsonWriter, InvalidUtf8BecomesReplacementChar) {
  EXPECT_EQ(quote("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(quote("\xC3"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(quote("\xED\xA0\x80"), "\"" + repair_utf8("\xED\xA0\x80") + "\"");
  // Escaping still applies after repair.
  EXPECT_EQ(quote("\x80\n\""), "\"\xEF\xBF\xBD\\n\\\"\"");
  writer w;
  w.begin_object().field("k\xFE", "v\xFF").end_object();
  EXPECT_TRUE(valid_utf8(w.str()));
}

TEST(JsonWriter, AppendQuotedAppends) {
  std::string out = "x=";
  append_quoted(out, "y");
  EXPECT_EQ(out, R"(x="y")");
}

TEST(JsonWriter, Integers) {
  writer w;
  w.begin_array()
      .value(0)
      .value(-1)
      .value(std::numeric_limits<std::int64_t>::max())
      .value(std::numeric_limits<std::int64_t>::min())
      .value(std::numeric_limits<std::uint64_t>::max())
      .value(7U)
      .value(-5LL)
      .value(std::int32_t{-2147483647 - 1})
      .end_array();
  EXPECT_EQ(w.str(),
            "[0,-1,9223372036854775807,-9223372036854775808,18446744073709551615,7,-5,-2147483648]");
}

TEST(JsonWriter, Doubles) {
  writer w;
  w.begin_array().value(1.5).value(0.1).value(-2.0).value(1e300).value(-0.0).value(123456.789).end_array();
  EXPECT_EQ(w.str(), "[1.5,0.1,-2,1e+300,-0,123456.789]");
}

TEST(JsonWriter, NonFiniteDoublesBecomeNull) {
  writer w;
  w.begin_array()
      .value(std::numeric_limits<double>::quiet_NaN())
      .value(std::numeric_limits<double>::infinity())
      .value(-std::numeric_limits<double>::infinity())
      .end_array();
  EXPECT_EQ(w.str(), "[null,null,null]");
}

TEST(JsonWriter, Booleans) {
  writer w;
  w.begin_object().field("t", true).field("f", false).end_object();
  EXPECT_EQ(w.str(), R"({"t":true,"f":false})");
}

TEST(JsonWriter, RawInsertsVerbatimWithCommas) {
  writer w;
  w.begin_object()
      .key("x")
      .raw(R"({"a":[1, 2]})")
      .field("y", 2)
      .key("z")
      .begin_array()
      .raw("1")
      .raw(R"("s")")
      .raw("null")
      .end_array()
      .end_object();
  EXPECT_EQ(w.str(), R"({"x":{"a":[1, 2]},"y":2,"z":[1,"s",null]})");
}

TEST(JsonWriter, OutputDecodesBackToTheSameStrings) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  writer w;
  w.begin_object().field("all", bytes).field("plain", "a\"b\\c").end_object();
  std::string text = w.take();
  std::string all, plain;
  auto r = parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "all") return read(v, all);
      if (k == "plain") return read(v, plain);
      return {};
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(all, repair_utf8(bytes));
  EXPECT_EQ(plain, "a\"b\\c");
}

}  // namespace
}  // namespace krt::json
