// CRI log files: timestamps, record parsing, read_log's filters (tail, since,
// timestamps, limitBytes), joining of P fragments, and the follower used for
// `kubectl logs -f`.
#include "local/node/logs.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "local/node/process.hpp"
#include "test/support/async.hpp"

namespace krt::local::node {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using namespace std::chrono_literals;

log_time at(std::string_view s) {
  auto t = parse_log_time(s);
  EXPECT_TRUE(t.has_value()) << s;
  return t.value_or(log_time{});
}

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("krt-logs-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "c.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void append(const std::string& text) {
    std::ofstream out(path_, std::ios::app | std::ios::binary);
    out << text;
  }
  void record(std::string_view time, std::string_view stream, bool partial, std::string_view message) {
    append(format_cri_record(at(time), stream, partial, message));
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(LogsTest, FormatsAndParsesNanosecondTimes) {
  EXPECT_EQ(format_log_time(at("2026-11-22T04:53:43.123456789Z")), "2026-11-22T04:53:43.123456789Z");
  EXPECT_EQ(format_log_time(at("2026-11-22T06:53:43.5+02:00")), "2026-11-22T04:53:43.500000000Z");
  EXPECT_EQ(format_log_time(at("2026-11-22T04:53:43Z")), "2026-11-22T04:53:43.000000000Z");
  // Digits beyond nanoseconds are dropped.
  EXPECT_EQ(format_log_time(at("2026-11-22T04:53:43.1234567891Z")), "2026-11-22T04:53:43.123456789Z");
  EXPECT_FALSE(parse_log_time("yesterday").has_value());
  EXPECT_FALSE(parse_log_time("2026-11-22T04:53:43").has_value());
}

TEST_F(LogsTest, ParsesRecords) {
  auto r = parse_cri_record("2026-11-22T04:53:43.000000001Z stdout F hello world");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stream, "stdout");
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->message, "hello world");
  EXPECT_EQ(format_log_time(r->time), "2026-11-22T04:53:43.000000001Z");

  auto p = parse_cri_record("2026-11-22T04:53:43Z stderr P  two  spaces ");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->stream, "stderr");
  EXPECT_TRUE(p->partial);
  EXPECT_EQ(p->message, " two  spaces ");

  auto tagged = parse_cri_record("2026-11-22T04:53:43Z stdout F:extra x");
  ASSERT_TRUE(tagged);
  EXPECT_FALSE(tagged->partial);
  EXPECT_EQ(tagged->message, "x");

  auto empty = parse_cri_record("2026-11-22T04:53:43Z stdout F ");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->message, "");
  auto bare = parse_cri_record("2026-11-22T04:53:43Z stdout F");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->message, "");

  EXPECT_FALSE(parse_cri_record("garbage"));
  EXPECT_FALSE(parse_cri_record("2026-11-22T04:53:43Z stdin F x"));
  EXPECT_FALSE(parse_cri_record("2026-11-22T04:53:43Z stdout X x"));
  EXPECT_FALSE(parse_cri_record("notatime stdout F x"));

  EXPECT_EQ(format_cri_record(at("2026-11-22T04:53:43Z"), "stderr", true, "m"),
            "2026-11-22T04:53:43.000000000Z stderr P m\n");
}

TEST_F(LogsTest, ReadsMessagesAndTimestamps) {
  record("2026-11-22T04:53:43.1Z", "stdout", false, "one");
  record("2026-11-22T04:53:44.2Z", "stderr", false, "two");
  record("2026-11-22T04:53:45.3Z", "stdout", false, "");
  log_options opts;
  EXPECT_EQ(read_log(path_, opts), "one\ntwo\n\n");
  opts.timestamps = true;
  EXPECT_EQ(read_log(path_, opts),
            "2026-11-22T04:53:43.100000000Z one\n"
            "2026-11-22T04:53:44.200000000Z two\n"
            "2026-11-22T04:53:45.300000000Z \n");
}

TEST_F(LogsTest, JoinsPartialRecordsPerStream) {
  record("2026-11-22T04:53:43Z", "stdout", true, "ab");
  record("2026-11-22T04:53:44Z", "stderr", false, "x");
  record("2026-11-22T04:53:45Z", "stdout", true, "cd");
  record("2026-11-22T04:53:46Z", "stdout", false, "ef");
  log_options opts;
  EXPECT_EQ(read_log(path_, opts), "x\nabcdef\n");
  opts.timestamps = true;
  EXPECT_EQ(read_log(path_, opts),
            "2026-11-22T04:53:44.000000000Z x\n"
            "2026-11-22T04:53:43.000000000Z abcdef\n");
}

TEST_F(LogsTest, TailKeepsTheLastLines) {
  for (int i = 1; i <= 5; ++i) record("2026-11-22T04:53:43Z", "stdout", false, "line" + std::to_string(i));
  log_options opts;
  opts.tail_lines = 2;
  EXPECT_EQ(read_log(path_, opts), "line4\nline5\n");
  opts.tail_lines = 0;
  EXPECT_EQ(read_log(path_, opts), "");
  opts.tail_lines = -1;
  EXPECT_EQ(read_log(path_, opts), "line1\nline2\nline3\nline4\nline5\n");
  opts.tail_lines = 50;
  EXPECT_EQ(read_log(path_, opts), "line1\nline2\nline3\nline4\nline5\n");
}

TEST_F(LogsTest, SinceDropsOlderLines) {
  auto now = time_point_cast<nanoseconds>(system_clock::now());
  append(format_cri_record(now - 2h, "stdout", false, "old"));
  append(format_cri_record(now - 30min, "stdout", false, "recent"));
  append(format_cri_record(now - 10s, "stderr", false, "newest"));
  log_options opts;
  opts.since = 1h;
  EXPECT_EQ(read_log(path_, opts), "recent\nnewest\n");
  opts.tail_lines = 1;
  EXPECT_EQ(read_log(path_, opts), "newest\n");

  log_options by_time;
  by_time.since_time = floor<microseconds>(now - 20min);
  EXPECT_EQ(read_log(path_, by_time), "newest\n");
  by_time.since = 3h;  // the later bound wins
  EXPECT_EQ(read_log(path_, by_time), "newest\n");
}

TEST_F(LogsTest, LimitBytesCutsTheOutput) {
  record("2026-11-22T04:53:43Z", "stdout", false, "hello");
  record("2026-11-22T04:53:44Z", "stdout", false, "world");
  log_options opts;
  opts.limit_bytes = 8;
  EXPECT_EQ(read_log(path_, opts), "hello\nwo");
  opts.limit_bytes = 100;
  EXPECT_EQ(read_log(path_, opts), "hello\nworld\n");
}

TEST_F(LogsTest, SkipsMalformedAndUnfinishedRecords) {
  record("2026-11-22T04:53:43Z", "stdout", false, "good");
  append("not a record\n");
  record("2026-11-22T04:53:44Z", "stdout", false, "also good");
  std::int64_t complete = static_cast<std::int64_t>(fs::file_size(path_));
  append("2026-11-22T04:53:45Z stdout F being wri");
  log_options opts;
  auto snap = read_log_snapshot(path_, opts);
  EXPECT_EQ(snap.text, "good\nalso good\n");
  EXPECT_EQ(snap.end_offset, complete);
}

TEST_F(LogsTest, MissingFileReadsAsEmpty) {
  log_options opts;
  EXPECT_EQ(read_log((dir_ / "nope.log").string(), opts), "");
  log_follower f((dir_ / "nope.log").string(), 0);
  EXPECT_EQ(f.poll(), "");
}

TEST_F(LogsTest, FollowerReturnsOnlyNewCompleteLines) {
  record("2026-11-22T04:53:43Z", "stdout", false, "before");
  log_options opts;
  auto snap = read_log_snapshot(path_, opts);
  EXPECT_EQ(snap.text, "before\n");
  log_follower f(path_, snap.end_offset);
  EXPECT_EQ(f.poll(), "");

  record("2026-11-22T04:53:44Z", "stdout", false, "one");
  record("2026-11-22T04:53:45Z", "stderr", false, "two");
  EXPECT_EQ(f.poll(), "one\ntwo\n");
  EXPECT_EQ(f.poll(), "");

  // A record cut mid-write waits for its newline.
  append("2026-11-22T04:53:46Z stdout F thr");
  EXPECT_EQ(f.poll(), "");
  append("ee\n");
  EXPECT_EQ(f.poll(), "three\n");

  // P fragments wait for the record that ends them.
  record("2026-11-22T04:53:47Z", "stdout", true, "fo");
  EXPECT_EQ(f.poll(), "");
  record("2026-11-22T04:53:48Z", "stdout", false, "ur");
  EXPECT_EQ(f.poll(), "four\n");
  EXPECT_EQ(f.offset(), static_cast<std::int64_t>(fs::file_size(path_)));
}

TEST_F(LogsTest, FollowerWithTimestamps) {
  log_follower f(path_, 0, true);
  record("2026-11-22T04:53:44.25Z", "stdout", false, "one");
  EXPECT_EQ(f.poll(), "2026-11-22T04:53:44.250000000Z one\n");
}

TEST_F(LogsTest, FollowerRestartsOnTruncatedOrReplacedFile) {
  record("2026-11-22T04:53:43Z", "stdout", false, "first file, long line");
  log_follower f(path_, 0);
  EXPECT_EQ(f.poll(), "first file, long line\n");

  fs::resize_file(path_, 0);
  record("2026-11-22T04:53:44Z", "stdout", false, "short");
  EXPECT_EQ(f.poll(), "short\n");

  auto other = (dir_ / "rotated.log").string();
  {
    std::ofstream out(other, std::ios::binary);
    out << format_cri_record(at("2026-11-22T04:53:45Z"), "stdout", false, "a whole new file here");
  }
  fs::rename(other, path_);
  EXPECT_EQ(f.poll(), "a whole new file here\n");
}

TEST_F(LogsTest, FollowerContinuesASnapshotsPendingFragments) {
  record("2026-11-22T04:53:43Z", "stdout", false, "done");
  record("2026-11-22T04:53:44Z", "stdout", true, "ab");
  log_options opts;
  auto snap = read_log_snapshot(path_, opts);
  EXPECT_EQ(snap.text, "done\n");
  log_follower f(path_, snap, true);
  record("2026-11-22T04:53:45Z", "stdout", false, "cd");
  EXPECT_EQ(f.poll(), "2026-11-22T04:53:44.000000000Z abcd\n");
}

template <typename T>
awaitable<void> store_result(awaitable<T> task, std::optional<T>* out) {
  *out = co_await std::move(task);
}

TEST_F(LogsTest, ReadsWhatAChildProcessWrote) {
  asio::io_context ctx(1);
  process_spec spec;
  spec.argv = {"/bin/sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2"};
  spec.log_path = path_;
  auto p = child_process::spawn(ctx.get_executor(), spec);
  ASSERT_TRUE(p) << p.error();
  std::optional<int> code;
  krt::testing::run_on(ctx, store_result((*p)->wait(), &code));
  EXPECT_EQ(code, 0);

  log_options opts;
  auto all = read_log(path_, opts);
  EXPECT_NE(all.find("line1\nline2\nline3\nline4\nline5\n"), std::string::npos) << all;
  EXPECT_NE(all.find("oops\n"), std::string::npos) << all;
  opts.tail_lines = 1;
  opts.since = 1h;
  auto last = read_log(path_, opts);
  EXPECT_TRUE(last == "line5\n" || last == "oops\n") << last;
}

}  // namespace
}  // namespace krt::local::node
