// Tests for lib/json/line_buffer.hpp: watch-stream line splitting at any
// chunk boundary, keep-alive blank lines, CRLF, padding for in-place parsing
// and overflow detection.

#include "lib/json/line_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lib/json/decode.hpp"

namespace krt::json {
namespace {

const std::string watch_stream =
    "{\"type\":\"ADDED\",\"object\":{\"n\":1}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"n\":2}}\r\n"
    "   \n"
    "\t\r\n"
    "{\"type\":\"DELETED\",\"object\":{\"n\":3,\"s\":\"a b\"}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"n\":4}}\n";

const std::vector<std::string> watch_lines = {
    "{\"type\":\"ADDED\",\"object\":{\"n\":1}}",
    "{\"type\":\"MODIFIED\",\"object\":{\"n\":2}}",
    "{\"type\":\"DELETED\",\"object\":{\"n\":3,\"s\":\"a b\"}}",
    "{\"type\":\"BOOKMARK\",\"object\":{\"n\":4}}",
};

// Drains every complete line, checking the padding promise on each.
void drain(line_buffer& lb, std::vector<std::string>& out) {
  while (auto line = lb.next_line()) {
    EXPECT_GE(lb.readable_from(*line), line->size() + simdjson::SIMDJSON_PADDING);
    out.emplace_back(*line);
  }
}

std::vector<std::string> feed_chunks(const std::string& input, const std::vector<std::size_t>& cuts) {
  line_buffer lb;
  std::vector<std::string> out;
  std::size_t prev = 0;
  for (std::size_t cut : cuts) {
    lb.append(std::string_view(input).substr(prev, cut - prev));
    drain(lb, out);
    prev = cut;
  }
  lb.append(std::string_view(input).substr(prev));
  drain(lb, out);
  EXPECT_EQ(lb.pending(), 0U);
  return out;
}

TEST(LineBuffer, SplitsLinesAndSkipsBlankOnes) {
  EXPECT_EQ(feed_chunks(watch_stream, {}), watch_lines);
}

TEST(LineBuffer, SameLinesForASplitAtEveryOffset) {
  for (std::size_t i = 0; i <= watch_stream.size(); ++i) EXPECT_EQ(feed_chunks(watch_stream, {i}), watch_lines) << i;
}

TEST(LineBuffer, SameLinesForEveryPairOfSplits) {
  for (std::size_t i = 0; i <= watch_stream.size(); ++i)
    for (std::size_t j = i; j <= watch_stream.size(); ++j)
      ASSERT_EQ(feed_chunks(watch_stream, {i, j}), watch_lines) << i << "," << j;
}

TEST(LineBuffer, ByteAtATime) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < watch_stream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(feed_chunks(watch_stream, cuts), watch_lines);
}

TEST(LineBuffer, CarriageReturnOnlyStrippedAtTheEnd) {
  line_buffer lb;
  lb.append("a\rb\r\nc\n");
  auto l1 = lb.next_line();
  ASSERT_TRUE(l1);
  EXPECT_EQ(*l1, "a\rb");
  auto l2 = lb.next_line();
  ASSERT_TRUE(l2);
  EXPECT_EQ(*l2, "c");
  EXPECT_FALSE(lb.next_line());
}

TEST(LineBuffer, IncompleteLineStaysPending) {
  line_buffer lb;
  lb.append("{\"partial\":");
  EXPECT_FALSE(lb.next_line());
  EXPECT_EQ(lb.pending(), 11U);
  EXPECT_FALSE(lb.next_line());  // asking again changes nothing
  lb.append("1}\n");
  auto line = lb.next_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "{\"partial\":1}");
  EXPECT_EQ(lb.pending(), 0U);
}

TEST(LineBuffer, PrepareAndCommit) {
  line_buffer lb;
  std::vector<std::string> out;
  std::size_t pos = 0;
  // Socket-style reads: ask for more room than is filled.
  for (std::size_t chunk : {3U, 1U, 17U, 5U, 64U, 2U, 1000U}) {
    char* p = lb.prepare(chunk + 10);
    std::size_t n = std::min(chunk, watch_stream.size() - pos);
    std::memcpy(p, watch_stream.data() + pos, n);
    lb.commit(n);
    pos += n;
    drain(lb, out);
  }
  ASSERT_EQ(pos, watch_stream.size());
  EXPECT_EQ(out, watch_lines);
}

TEST(LineBuffer, LinesParseInPlace) {
  line_buffer lb;
  lb.append(watch_stream);
  std::vector<std::int64_t> ns;
  while (auto line = lb.next_line()) {
    std::int64_t n = 0;
    auto r = parse_padded(*line, lb.readable_from(*line), [&](od::value root) {
      return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
        if (k != "object") return {};
        return for_each_field(v, [&](std::string_view ok, od::value ov) -> result<void> {
          if (ok == "n") return read(ov, n);
          return {};
        });
      });
    });
    ASSERT_TRUE(r) << r.error().describe();
    ns.push_back(n);
  }
  EXPECT_EQ(ns, (std::vector<std::int64_t>{1, 2, 3, 4}));
}

TEST(LineBuffer, ManyLinesThroughCompaction) {
  // Deterministic pseudo-random chunking over a long stream, so the buffer
  // grows, compacts and reuses space many times.
  std::string input;
  std::vector<std::string> want;
  for (int i = 0; i < 2000; ++i) {
    std::string line = "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(static_cast<std::size_t>(i % 97), 'x') + "\"}";
    want.push_back(line);
    input += line;
    input += (i % 3 == 0) ? "\r\n" : "\n";
    if (i % 10 == 0) input += "\n";
  }
  std::uint32_t seed = 12345;
  std::vector<std::size_t> cuts;
  std::size_t pos = 0;
  while (true) {
    seed = seed * 1103515245U + 12345U;
    pos += 1 + (seed >> 16) % 300;
    if (pos >= input.size()) break;
    cuts.push_back(pos);
  }
  EXPECT_EQ(feed_chunks(input, cuts), want);
}

TEST(LineBuffer, OverflowWhenAnIncompleteLineExceedsMax) {
  line_buffer lb(16);
  lb.append(std::string(16, 'a'));
  EXPECT_FALSE(lb.next_line());
  EXPECT_FALSE(lb.overflowed());  // exactly max_line is fine
  lb.append("b");
  EXPECT_FALSE(lb.next_line());
  EXPECT_TRUE(lb.overflowed());
  EXPECT_EQ(lb.pending(), 17U);
}

TEST(LineBuffer, CompleteLongLinesAreNotOverflow) {
  line_buffer lb(8);
  lb.append("0123456789abcdef\nxy");
  auto line = lb.next_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "0123456789abcdef");
  EXPECT_FALSE(lb.next_line());
  EXPECT_FALSE(lb.overflowed());
  EXPECT_EQ(lb.pending(), 2U);
}

TEST(LineBuffer, OverflowIsJudgedAfterScanning) {
  line_buffer lb(4);
  lb.append("ab\ncdefgh");
  // Until next_line() has scanned the bytes, a newline may still be among them.
  EXPECT_FALSE(lb.overflowed());
  auto line = lb.next_line();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "ab");
  EXPECT_FALSE(lb.next_line());
  EXPECT_TRUE(lb.overflowed());
}

}  // namespace
}  // namespace krt::json
