// Outputs parsing: every rule and limit of SPEC.md §4 "Outputs".
#include "sidecar/prep/outputs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "test/sidecar/prep/tempdir.hpp"

namespace krt::runtimed {
namespace {

using outputs_map = std::map<std::string, std::string>;

outputs_map ok(std::string_view content) {
  auto r = parse_outputs(content);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().reason + ": " + r.error().message);
  return r ? *r : outputs_map{};
}

std::string reason(std::string_view content) {
  auto r = parse_outputs(content);
  return r ? "ok" : r.error().reason;
}

TEST(Outputs, ParsesKeyValueLines) {
  EXPECT_EQ(ok("a=1\nb=two words\n"), (outputs_map{{"a", "1"}, {"b", "two words"}}));
}

TEST(Outputs, StripsCarriageReturnAndTrims) {
  EXPECT_EQ(ok("  a  =  1  \r\nb=2\r"), (outputs_map{{"a", "1"}, {"b", "2"}}));
}

TEST(Outputs, SplitsAtFirstEquals) { EXPECT_EQ(ok("url=a=b=c"), (outputs_map{{"url", "a=b=c"}})); }

TEST(Outputs, EmptyValueAllowed) { EXPECT_EQ(ok("k="), (outputs_map{{"k", ""}})); }

TEST(Outputs, SkipsBlankAndCommentLines) {
  EXPECT_EQ(ok("\n   \n# comment=x\n  # indented\nk=v\n\n"), (outputs_map{{"k", "v"}}));
}

TEST(Outputs, EmptyContentGivesNothing) {
  EXPECT_TRUE(ok("").empty());
  EXPECT_TRUE(ok("\n\n").empty());
}

TEST(Outputs, DuplicateLastWins) { EXPECT_EQ(ok("k=1\nk=2\n"), (outputs_map{{"k", "2"}})); }

TEST(Outputs, MissingEqualsIsInvalid) {
  EXPECT_EQ(reason("just text"), "OutputsInvalid");
  EXPECT_EQ(reason("a=1\nnoequals\n"), "OutputsInvalid");
}

TEST(Outputs, EmptyKeyIsInvalid) {
  EXPECT_EQ(reason("=v"), "OutputsInvalid");
  EXPECT_EQ(reason("   = v"), "OutputsInvalid");
}

TEST(Outputs, InvalidUtf8IsInvalid) {
  EXPECT_EQ(reason("k=\xff\xfe"), "OutputsInvalid");
  EXPECT_EQ(reason("# \xc3\n"), "OutputsInvalid");  // checked before comments are skipped
  EXPECT_EQ(ok("k=h\xc3\xa9llo"), (outputs_map{{"k", "h\xc3\xa9llo"}}));
}

TEST(Outputs, KeyLimit) {
  EXPECT_EQ(reason(std::string(128, 'k') + "=v"), "ok");
  EXPECT_EQ(reason(std::string(129, 'k') + "=v"), "OutputsTooLarge");
}

TEST(Outputs, ValueLimit) {
  EXPECT_EQ(reason("k=" + std::string(8192, 'v')), "ok");
  EXPECT_EQ(reason("k=" + std::string(8193, 'v')), "OutputsTooLarge");
}

std::string keys(int n, std::size_t value_len = 1) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "k" + std::to_string(i) + "=" + std::string(value_len, 'v') + "\n";
  return s;
}

TEST(Outputs, KeyCountLimit) {
  EXPECT_EQ(ok(keys(64)).size(), 64u);
  EXPECT_EQ(reason(keys(65)), "OutputsTooLarge");
  EXPECT_EQ(reason(keys(64) + "k0=again\n"), "ok");  // duplicates do not count twice
}

TEST(Outputs, TotalLimit) {
  // 8 keys of 8 bytes ("key0000X") with 8184-byte values: 8 × 8192 = 65536 exactly.
  std::string at_limit;
  for (int i = 0; i < 8; ++i) at_limit += "key0000" + std::to_string(i) + "=" + std::string(8184, 'v') + "\n";
  EXPECT_EQ(reason(at_limit), "ok");
  EXPECT_EQ(reason(at_limit + "x=\n"), "OutputsTooLarge");  // one more byte
  // A replaced value counts once, at its new size.
  EXPECT_EQ(reason(at_limit + "key00000=short\nextra=1\n"), "ok");
}

TEST(Outputs, ReadFileMissingOrEmpty) {
  krt::test::temp_dir d;
  auto missing = read_outputs_file(d / "outputs");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->empty());
  krt::test::write_text(d / "outputs", "");
  auto empty = read_outputs_file(d / "outputs");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  krt::test::write_text(d / "outputs", "a=b\n");
  auto some = read_outputs_file(d / "outputs");
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(*some, (outputs_map{{"a", "b"}}));
}

TEST(Outputs, ReadFileTooLargeAndUnreadable) {
  krt::test::temp_dir d;
  krt::test::write_text(d / "outputs", std::string((1 << 20) + 1, '#'));
  auto big = read_outputs_file(d / "outputs");
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().reason, "OutputsTooLarge");

  ::mkdir((d / "dir").c_str(), 0755);
  auto dir = read_outputs_file(d / "dir");
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().reason, "OutputsInvalid");
}

TEST(Outputs, ReadFileExactlyOneMiBIsRead) {
  krt::test::temp_dir d;
  krt::test::write_text(d / "outputs", "k=v\n" + std::string((1 << 20) - 4, '\n'));
  auto r = read_outputs_file(d / "outputs");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (outputs_map{{"k", "v"}}));
}

}  // namespace
}  // namespace krt::runtimed
