// Tests for lib/core/strings.hpp: base64, URL escaping, split/trim, UTF-8
// validation and repair, random suffixes.

#include "lib/core/strings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace krt {
namespace {

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s;
}

// ------------------------------------------------------------------ base64

struct b64_vector {
  const char* plain;
  const char* encoded;
};

// RFC 4648 §10.
const std::vector<b64_vector> rfc4648_vectors = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& v : rfc4648_vectors) EXPECT_EQ(base64_encode(v.plain), v.encoded) << v.plain;
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const auto& v : rfc4648_vectors) EXPECT_EQ(base64_decode(v.encoded), std::string(v.plain)) << v.encoded;
}

TEST(Base64, PaddingIsOptional) {
  EXPECT_EQ(base64_decode("Zg"), std::string("f"));
  EXPECT_EQ(base64_decode("Zm8"), std::string("fo"));
  EXPECT_EQ(base64_decode("Zm9vYmE"), std::string("fooba"));
}

TEST(Base64, WhitespaceIsIgnored) {
  EXPECT_EQ(base64_decode("Zm9v\nYmFy\n"), std::string("foobar"));
  EXPECT_EQ(base64_decode(" Zm9v\r\n\tYmFy "), std::string("foobar"));
  EXPECT_EQ(base64_decode("Zm9vYg==\n"), std::string("foob"));
}

TEST(Base64, BinaryRoundTripsAtEveryLength) {
  std::string bytes = all_bytes();
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    std::string in = bytes.substr(bytes.size() - n);  // includes 0xFF..., high bytes first
    std::string enc = base64_encode(in);
    EXPECT_EQ(enc.size(), (n + 2) / 3 * 4);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec) << n;
    EXPECT_EQ(*dec, in) << n;
  }
}

TEST(Base64, EncodedOutputUsesStandardAlphabet) {
  std::string enc = base64_encode("\xfb\xff\xbf");
  EXPECT_EQ(enc, "+/+/");
}

TEST(Base64, UrlSafeAlphabetIsAlsoAccepted) {
  EXPECT_EQ(base64_decode("-_-_"), base64_decode("+/+/"));
}

TEST(Base64, RejectsInvalidInput) {
  EXPECT_FALSE(base64_decode("Zm9v!"));    // not in the alphabet
  EXPECT_FALSE(base64_decode("Zm9v\x80"));  // non-ASCII
  EXPECT_FALSE(base64_decode("Z"));        // a lone symbol carries no byte
  EXPECT_FALSE(base64_decode("Zm9vY"));    // same, after a full group
  EXPECT_FALSE(base64_decode("Zg==Zg"));   // data after padding
  EXPECT_FALSE(base64_decode("Zg=g"));
}

// ------------------------------------------------------------------ URL escaping

TEST(UrlEscape, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(url_escape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(url_escape("a b&c=d/e?f#g+h%"), "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
  EXPECT_EQ(url_escape("\xC3\xA9"), "%C3%A9");  // é, upper-case hex
  EXPECT_EQ(url_escape(std::string("\0\x7f", 2)), "%00%7F");
  EXPECT_EQ(url_escape(""), "");
}

TEST(UrlUnescape, DecodesPercentAndPlus) {
  EXPECT_EQ(url_unescape("%41%2f%2F"), std::string("A//"));
  EXPECT_EQ(url_unescape("a+b"), std::string("a b"));
  EXPECT_EQ(url_unescape("a+b", false), std::string("a+b"));
  EXPECT_EQ(url_unescape("%2B", true), std::string("+"));
  EXPECT_EQ(url_unescape("%c3%A9"), std::string("\xC3\xA9"));
  EXPECT_EQ(url_unescape("plain"), std::string("plain"));
  EXPECT_EQ(url_unescape(""), std::string());
  EXPECT_EQ(url_unescape("%00"), std::string(1, '\0'));
}

TEST(UrlUnescape, RejectsBrokenEscapes) {
  EXPECT_FALSE(url_unescape("%"));
  EXPECT_FALSE(url_unescape("%4"));
  EXPECT_FALSE(url_unescape("abc%"));
  EXPECT_FALSE(url_unescape("abc%4"));
  EXPECT_FALSE(url_unescape("%zz"));
  EXPECT_FALSE(url_unescape("%4g"));
  EXPECT_FALSE(url_unescape("%g4"));
}

TEST(UrlEscape, RoundTripsEveryByte) {
  std::string bytes = all_bytes();
  EXPECT_EQ(url_unescape(url_escape(bytes)), bytes);
  EXPECT_EQ(url_unescape(url_escape(bytes), false), bytes);
}

// ------------------------------------------------------------------ split / trim / to_lower

TEST(Trim, StripsAsciiWhitespaceBothEnds) {
  EXPECT_EQ(trim("  \t a b \r\n\f\v"), "a b");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\n "), "");
  EXPECT_EQ(trim("a \t b"), "a \t b");
}

TEST(Split, KeepsEmptyFields) {
  using v = std::vector<std::string_view>;
  EXPECT_EQ(split("a,b,,c", ','), (v{"a", "b", "", "c"}));
  EXPECT_EQ(split("abc", ','), (v{"abc"}));
  EXPECT_EQ(split("", ','), (v{""}));
  EXPECT_EQ(split(",", ','), (v{"", ""}));
  EXPECT_EQ(split(",a,", ','), (v{"", "a", ""}));
  EXPECT_EQ(split("a/b/c", '/'), (v{"a", "b", "c"}));
}

TEST(ToLower, AsciiOnly) {
  EXPECT_EQ(to_lower("AbC-Z09xYz"), "abc-z09xyz");
  EXPECT_EQ(to_lower("\xC3\x89"), "\xC3\x89");  // É untouched
}

// ------------------------------------------------------------------ UTF-8

TEST(Utf8, AcceptsValidSequences) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8(std::string(1, '\0')));
  EXPECT_TRUE(valid_utf8("\xC3\xA9"));              // é U+00E9
  EXPECT_TRUE(valid_utf8("\xDF\xBF"));              // U+07FF
  EXPECT_TRUE(valid_utf8("\xE2\x82\xAC"));          // € U+20AC
  EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));          // U+D7FF, just below surrogates
  EXPECT_TRUE(valid_utf8("\xEE\x80\x80"));          // U+E000, just above
  EXPECT_TRUE(valid_utf8("\xF0\x9D\x84\x9E"));      // 𝄞 U+1D11E
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  EXPECT_TRUE(valid_utf8("a\xC3\xA9z\xE2\x82\xAC"));
}

TEST(Utf8, RejectsInvalidSequences) {
  const std::vector<std::string> bad = {
      "\x80",                  // lone continuation
      "\xBF",
      "\xC3",                  // truncated 2-byte
      "\xE2\x82",              // truncated 3-byte
      "\xF0\x9D\x84",          // truncated 4-byte
      "\xC3\x28",              // bad continuation
      "\xC0\xAF",              // overlong '/'
      "\xC1\xBF",              // overlong
      "\xE0\x80\xAF",          // overlong 3-byte
      "\xF0\x80\x80\xAF",      // overlong 4-byte
      "\xED\xA0\x80",          // U+D800 surrogate
      "\xED\xBF\xBF",          // U+DFFF surrogate
      "\xF4\x90\x80\x80",      // U+110000
      "\xF5\x80\x80\x80",
      "\xF8\x88\x80\x80\x80",  // 5-byte form
      "\xFE",
      "\xFF",
      "ok\xFFok",
  };
  for (const auto& s : bad) EXPECT_FALSE(valid_utf8(s)) << testing::PrintToString(s);
}

TEST(Utf8, RepairLeavesValidTextAlone) {
  for (std::string s : {"", "abc", "\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E"}) EXPECT_EQ(repair_utf8(s), s);
}

TEST(Utf8, RepairReplacesInvalidBytes) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(repair_utf8("a\x80z"), "a" + fffd + "z");
  EXPECT_EQ(repair_utf8("\xFF"), fffd);
  EXPECT_EQ(repair_utf8("\xC3\xA9\xFF\xC3\xA9"), "\xC3\xA9" + fffd + "\xC3\xA9");
  EXPECT_EQ(repair_utf8("x\xC3"), "x" + fffd);  // truncated at the end
  // A surrogate's bytes are all replaced; what follows survives.
  std::string r = repair_utf8("\xED\xA0\x80ok");
  EXPECT_TRUE(valid_utf8(r));
  EXPECT_EQ(r.substr(0, 3), fffd);
  EXPECT_EQ(r.substr(r.size() - 2), "ok");
  EXPECT_EQ(r.find_first_not_of(fffd + "ok"), std::string::npos);
}

TEST(Utf8, RepairAlwaysProducesValidUtf8) {
  std::string bytes = all_bytes();
  std::string r = repair_utf8(bytes);
  EXPECT_TRUE(valid_utf8(r));
  // ASCII survives in order.
  std::string ascii;
  for (char c : r)
    if (static_cast<unsigned char>(c) < 0x80) ascii += c;
  EXPECT_EQ(ascii, bytes.substr(0, 128));
  // Every truncation of a multi-byte text repairs to valid UTF-8.
  std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9Ez";
  for (std::size_t n = 0; n <= text.size(); ++n) EXPECT_TRUE(valid_utf8(repair_utf8(text.substr(0, n)))) << n;
}

// ------------------------------------------------------------------ random_suffix

TEST(RandomSuffix, LengthAndAlphabet) {
  EXPECT_EQ(random_suffix(0), "");
  for (int i = 0; i < 50; ++i) {
    std::string s = random_suffix(5);
    ASSERT_EQ(s.size(), 5U);
    EXPECT_EQ(s.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace krt
