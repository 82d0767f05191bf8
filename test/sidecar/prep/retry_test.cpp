// lib/api/retry: retry decisions, backoff, failure classification and messages.
#include "lib/api/retry.hpp"

#include <gtest/gtest.h>

#include "lib/core/strings.hpp"

namespace krt::api {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::optional<retry_policy> policy(std::optional<std::int32_t> max, std::optional<std::string> backoff = {},
                                   std::vector<std::string> reasons = {}) {
  retry_policy p;
  p.max_attempts = max;
  p.backoff = std::move(backoff);
  p.retryable_reasons = std::move(reasons);
  return p;
}

TEST(ShouldRetry, NoPolicyNeverRetries) {
  EXPECT_FALSE(should_retry(std::nullopt, 0, "RuntimeError"));
  EXPECT_FALSE(should_retry(std::nullopt, 1, "RuntimeError"));
  EXPECT_FALSE(should_retry(policy(std::nullopt), 1, "RuntimeError"));
}

TEST(ShouldRetry, AttemptTable) {
  const auto p = policy(3);
  EXPECT_TRUE(should_retry(p, 0, "RuntimeError"));  // 0 reads as 1
  EXPECT_TRUE(should_retry(p, 1, "RuntimeError"));
  EXPECT_TRUE(should_retry(p, 2, "Timeout"));
  EXPECT_FALSE(should_retry(p, 3, "RuntimeError"));
  EXPECT_FALSE(should_retry(p, 4, "RuntimeError"));
  EXPECT_FALSE(should_retry(policy(1), 0, "RuntimeError"));
}

TEST(ShouldRetry, CancelledNeverRetries) {
  EXPECT_FALSE(should_retry(policy(5), 1, "Cancelled"));
  EXPECT_FALSE(should_retry(policy(5, {}, {"Cancelled"}), 1, "Cancelled"));
}

TEST(ShouldRetry, RetryableReasonsFilter) {
  const auto p = policy(5, {}, {"Timeout", "PodGone"});
  EXPECT_TRUE(should_retry(p, 1, "Timeout"));
  EXPECT_TRUE(should_retry(p, 1, "PodGone"));
  EXPECT_FALSE(should_retry(p, 1, "RuntimeError"));
  EXPECT_TRUE(should_retry(policy(5), 1, "OutputsInvalid"));  // empty list: everything but Cancelled
}

TEST(RetryBackoff, DefaultsToOneSecond) {
  EXPECT_EQ(retry_backoff(std::nullopt, 2), seconds(1));
  EXPECT_EQ(retry_backoff(policy(3), 2), seconds(1));
  EXPECT_EQ(retry_backoff(policy(3, "0s"), 2), seconds(1));
  EXPECT_EQ(retry_backoff(policy(3, "-5s"), 2), seconds(1));
  EXPECT_EQ(retry_backoff(policy(3, "bogus"), 2), seconds(1));
}

TEST(RetryBackoff, DoublesFromAttemptThree) {
  const auto p = policy(10, "500ms");
  EXPECT_EQ(retry_backoff(p, 0), milliseconds(500));
  EXPECT_EQ(retry_backoff(p, 1), milliseconds(500));
  EXPECT_EQ(retry_backoff(p, 2), milliseconds(500));
  EXPECT_EQ(retry_backoff(p, 3), seconds(1));
  EXPECT_EQ(retry_backoff(p, 4), seconds(2));
  EXPECT_EQ(retry_backoff(p, 5), seconds(4));
}

TEST(RetryBackoff, CappedAtSixtySeconds) {
  EXPECT_EQ(retry_backoff(policy(100, "10s"), 4), seconds(40));
  EXPECT_EQ(retry_backoff(policy(100, "10s"), 5), seconds(60));
  EXPECT_EQ(retry_backoff(policy(100, "1s"), 100), seconds(60));
  EXPECT_EQ(retry_backoff(policy(100, "2m"), 2), seconds(60));
  EXPECT_EQ(retry_backoff(policy(100, "1s"), 2147483647), seconds(60));
}

TEST(ClassifyFailure, Table) {
  EXPECT_EQ(classify_failure("timeout", -1), "Timeout");
  EXPECT_EQ(classify_failure("timeout", 1), "RuntimeError");
  EXPECT_EQ(classify_failure("timeout ", -1), "RuntimeError");
  EXPECT_EQ(classify_failure("no args or script provided", 0), "PrepareSource");
  EXPECT_EQ(classify_failure("mkdir: /x: permission denied", 1), "PrepareSource");
  EXPECT_EQ(classify_failure("git clone: exit status 128", 1), "PrepareSource");
  EXPECT_EQ(classify_failure("git checkout: bad", 1), "PrepareSource");
  EXPECT_EQ(classify_failure("write inline: full", 1), "PrepareSource");
  EXPECT_EQ(classify_failure("exit status 3", 3), "RuntimeError");
  EXPECT_EQ(classify_failure("", 1), "RuntimeError");
}

TEST(CapMessage, ShortUnchangedLongCut) {
  EXPECT_EQ(cap_message("hello"), "hello");
  EXPECT_EQ(cap_message(std::string(1024, 'a')), std::string(1024, 'a'));
  const std::string cut = cap_message(std::string(1025, 'a'));
  EXPECT_EQ(cut.size(), 1024u);
  EXPECT_EQ(cut, std::string(1021, 'a') + "...");
}

TEST(CapMessage, CutsOnCharacterBoundaryAndRepairs) {
  std::string s;
  for (int i = 0; i < 600; ++i) s += "\xc3\xa9";  // 1200 bytes of é
  const std::string cut = cap_message(s);
  EXPECT_LE(cut.size(), 1024u);
  EXPECT_TRUE(valid_utf8(cut));
  EXPECT_TRUE(cut.ends_with("..."));
  EXPECT_EQ(cut.size(), 1020u + 3u);  // 510 whole characters fit before "..."
  const std::string fixed = cap_message(
      "a\xff"
      "b");
  EXPECT_TRUE(valid_utf8(fixed));
  EXPECT_EQ(fixed,
            "a\xef\xbf\xbd"
            "b");
}

TEST(FailureMessage, PrefersErrorMessage) {
  EXPECT_EQ(failure_message("boom", "stderr text"), "boom");
  const std::string long_err = failure_message(std::string(5000, 'e'), "");
  EXPECT_EQ(long_err.size(), 1024u);
  EXPECT_TRUE(long_err.ends_with("..."));
}

TEST(FailureMessage, StderrTail) {
  EXPECT_EQ(failure_message("", "  oops\n"), "runtime stderr: oops");
  std::string err = std::string(2000, 'x') + "THE END";
  const std::string m = failure_message("", err + "\n");
  EXPECT_EQ(m.size(), 1024u);
  EXPECT_TRUE(m.starts_with("runtime stderr: ... "));
  EXPECT_TRUE(m.ends_with("THE END"));
  const std::string exact(1024 - 16, 'y');
  EXPECT_EQ(failure_message("", exact), "runtime stderr: " + exact);
  EXPECT_TRUE(failure_message("", exact + "z").starts_with("runtime stderr: ... "));
}

TEST(FailureMessage, StderrTailUtf8) {
  std::string err;
  for (int i = 0; i < 1000; ++i) err += "\xe2\x82\xac";  // €, 3 bytes
  const std::string m = failure_message("", err + "\xff");
  EXPECT_LE(m.size(), 1024u);
  EXPECT_TRUE(valid_utf8(m));
  EXPECT_TRUE(m.ends_with("\xef\xbf\xbd"));
}

TEST(FailureMessage, Fallback) {
  EXPECT_EQ(failure_message("", ""), "runtime execution failed");
  EXPECT_EQ(failure_message("", " \n\t "), "runtime execution failed");
}

}  // namespace
}  // namespace krt::api
