// Tests for the document-level entry points of lib/json/decode.hpp: parse(),
// parse_padded(), parse_nested() and decode_document(): trailing content,
// malformed documents, padding.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lib/json/decode.hpp"

namespace krt::json {
namespace {

// ------------------------------------------------------------------ documents

result<void> read_name(std::string& text, std::string& name) {
  return parse(text, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "name") return read(v, name);
      return {};
    });
  });
}

TEST(JsonParse, AcceptsObjectAndTrailingWhitespace) {
  std::string name;
  std::string text = "  {\"name\": \"a\"}  \n\t ";
  ASSERT_TRUE(read_name(text, name));
  EXPECT_EQ(name, "a");
}

TEST(JsonParse, RejectsTrailingContent) {
  for (std::string text : {R"({"name": "a"} {})", R"({"name": "a"}x)", R"({"name": "a"}})", R"({"name": "a"} 1)",
                           R"({"name": "a"},)"}) {
    std::string name;
    auto r = read_name(text, name);
    EXPECT_FALSE(r) << text;
  }
  std::string text = R"({"name": "a"} {"name": "b"})";
  std::string name;
  auto r = read_name(text, name);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::malformed);
  EXPECT_NE(r.error().message.find("trailing content"), std::string::npos);
}

TEST(JsonParse, RejectsMalformedDocuments) {
  const std::vector<std::string> bad = {
      "",
      "   ",
      "{",
      "}",
      "[",
      R"({"name": })",
      R"({"name" "a"})",
      R"({'name': 'a'})",
      R"({name: "a"})",
      R"({"name": "a",})",
      R"({"name": "a" "x": 1})",
      R"({"name": "unterminated})",
      R"({"name": "a"]})",
      "{\"name\": \"bad\x01control\"}",
      R"({"name": "bad \x escape"})",
      R"({"name": 1})",  // well-formed, but the wrong type
  };
  for (auto text : bad) {
    std::string name;
    auto r = read_name(text, name);
    EXPECT_FALSE(r) << testing::PrintToString(text);
  }
}

TEST(JsonParse, EmptyInputIsTruncated) {
  std::string text;
  std::string name;
  auto r = read_name(text, name);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::truncated);
}

TEST(JsonParse, PaddingIsAddedToTheCallersString) {
  std::string text = R"({"name": "padded"})";
  text.shrink_to_fit();
  std::string name;
  ASSERT_TRUE(read_name(text, name));
  EXPECT_EQ(name, "padded");
  EXPECT_GE(text.capacity(), text.size() + simdjson::SIMDJSON_PADDING);
  EXPECT_EQ(text, R"({"name": "padded"})");
}

TEST(JsonParse, ParsePaddedUsesTheGivenCapacity) {
  std::string buf = R"({"name": "view"}GARBAGE)";
  std::size_t len = std::string(R"({"name": "view"})").size();
  buf.resize(len + 7 + simdjson::SIMDJSON_PADDING, ' ');
  std::string name;
  auto r = parse_padded(std::string_view(buf.data(), len), buf.size(), [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "name") return read(v, name);
      return {};
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(name, "view");
}

TEST(JsonParse, NestedParserWhileAnotherIsIterating) {
  std::string outer = R"({"inner": "{\"name\": \"deep\"}", "after": "x"})";
  std::string name, after;
  auto r = parse(outer, [&](od::value root) {
    return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
      if (k == "after") return read(v, after);
      std::string inner;
      auto rr = read(v, inner);
      if (!rr) return rr;
      return parse_nested(inner, [&](od::value iroot) {
        return for_each_field(iroot, [&](std::string_view ik, od::value iv) -> result<void> {
          if (ik == "name") return read(iv, name);
          return {};
        });
      });
    });
  });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(name, "deep");
  EXPECT_EQ(after, "x");
}

struct named {
  std::string name;
  std::int64_t count = 0;
};

result<void> decode(od::value v, named& out) {
  return for_each_field(v, [&](std::string_view k, od::value f) -> result<void> {
    if (k == "name") return read(f, out.name);
    if (k == "count") return read(f, out.count);
    return {};
  });
}

TEST(JsonParse, DecodeDocument) {
  std::string text = R"({"name": "n", "count": 3, "extra": [1, 2]})";
  auto r = decode_document<named>(text);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->name, "n");
  EXPECT_EQ(r->count, 3);
  std::string bad = R"({"name": "n", "count": "3"})";
  auto e = decode_document<named>(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().path, ".count");
}

}  // namespace
}  // namespace krt::json
