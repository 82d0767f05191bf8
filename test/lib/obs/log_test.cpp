// JSON-lines logging (DESIGN §9): every line is one valid JSON object with
// ts, level, component, msg first, then bound and call fields; sensitive
// values never reach the output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/core/time.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/task_group.hpp"

namespace krt::obs::test_log {

namespace bj = boost::json;
using namespace std::chrono_literals;

// Captures lines through set_sink and restores the sink, level and task
// exception hook afterwards, so tests cannot leak configuration.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_level_ = current_level();
    set_level(level::debug);
    set_sink([this](std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    set_sink(nullptr);
    set_level(saved_level_);
    reactor::set_unhandled_exception_hook(nullptr);
  }

  // The only captured line, parsed; fails the test if there is not exactly one.
  bj::object only_line() {
    EXPECT_EQ(lines_.size(), 1U);
    if (lines_.size() != 1) return {};
    return parse(lines_[0]);
  }

  static bj::object parse(const std::string& line) {
    EXPECT_FALSE(line.empty());
    if (line.empty()) return {};
    EXPECT_EQ(line.back(), '\n') << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "a line must not contain raw newlines: " << line;
    bj::error_code ec;
    bj::value v = bj::parse(line, ec);
    EXPECT_FALSE(ec) << ec.message() << " in " << line;
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "not a JSON object: " << line;
      return {};
    }
    return v.as_object();
  }

  static std::vector<std::string> keys(const bj::object& o) {
    std::vector<std::string> out;
    for (const auto& kv : o) out.emplace_back(kv.key());
    return out;
  }

  static std::string str(const bj::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return "<missing or not a string>";
    return std::string(v->as_string());
  }

  std::vector<std::string> lines_;
  level saved_level_ = level::info;
};

TEST_F(LogTest, LineIsOneObjectWithFixedKeysFirst) {
  logger log("scheduler");
  log.info("assigned", {{"run_uid", "6f1c"}, {"pod", "runtime-bash-0"}});
  auto o = only_line();
  EXPECT_EQ(keys(o), (std::vector<std::string>{"ts", "level", "component", "msg", "run_uid", "pod"}));
  EXPECT_EQ(str(o, "level"), "info");
  EXPECT_EQ(str(o, "component"), "scheduler");
  EXPECT_EQ(str(o, "msg"), "assigned");
  EXPECT_EQ(str(o, "run_uid"), "6f1c");
  EXPECT_EQ(str(o, "pod"), "runtime-bash-0");
  EXPECT_EQ(log.component(), "scheduler");
}

TEST_F(LogTest, TimestampIsRfc3339MicrosecondsUtcAndCurrent) {
  auto before = wall_now();
  logger("c").info("m");
  auto after = wall_now();
  auto ts = str(only_line(), "ts");
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"))) << ts;
  auto parsed = parse_rfc3339(ts);
  ASSERT_TRUE(parsed.has_value()) << ts;
  EXPECT_GE(*parsed, before);
  EXPECT_LE(*parsed, after);
}

TEST_F(LogTest, EveryLevelHasItsName) {
  logger log("c");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  log.log(level::warn, "via log");
  ASSERT_EQ(lines_.size(), 5U);
  const char* want[] = {"debug", "info", "warn", "error", "warn"};
  for (std::size_t i = 0; i < lines_.size(); ++i) EXPECT_EQ(str(parse(lines_[i]), "level"), want[i]);
}

TEST_F(LogTest, BoundFieldsPrecedeCallFieldsAndDoNotLeakIntoTheParent) {
  logger base("reconciler");
  logger run = base.with("run_uid", "u-1").with("namespace", "default");
  run.info("reconciled", {{"phase", "Running"}});
  base.info("plain");
  ASSERT_EQ(lines_.size(), 2U);
  auto o = parse(lines_[0]);
  EXPECT_EQ(keys(o), (std::vector<std::string>{"ts", "level", "component", "msg", "run_uid", "namespace", "phase"}));
  EXPECT_EQ(str(o, "run_uid"), "u-1");
  EXPECT_EQ(str(o, "namespace"), "default");
  EXPECT_EQ(keys(parse(lines_[1])), (std::vector<std::string>{"ts", "level", "component", "msg"}));
  EXPECT_EQ(run.component(), "reconciler");
}

TEST_F(LogTest, StringsAreEscapedAndRoundTrip) {
  const std::string nasty = "quote\" backslash\\ newline\n cr\r tab\t ctl\x01\x1f bell\b ff\f del\x7f h\xc3\xa9 \xe2\x9c\x93";
  logger(nasty).with("bound", nasty).info(nasty, {{"call", nasty}, {nasty, "key escaped"}});
  auto o = only_line();
  EXPECT_EQ(str(o, "component"), nasty);
  EXPECT_EQ(str(o, "msg"), nasty);
  EXPECT_EQ(str(o, "bound"), nasty);
  EXPECT_EQ(str(o, "call"), nasty);
  EXPECT_EQ(str(o, nasty), "key escaped");
}

TEST_F(LogTest, InvalidUtf8IsRepairedSoTheLineStaysJson) {
  logger("c").info("bad \xff\xfe bytes", {{"v", std::string_view("\xc3", 1)}});
  auto o = only_line();
  EXPECT_EQ(str(o, "msg").find("\xff"), std::string::npos);
  EXPECT_NE(str(o, "msg").find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD replaces invalid bytes";
  EXPECT_NE(str(o, "v").find("\xef\xbf\xbd"), std::string::npos);
}

TEST_F(LogTest, NumbersAndBoolsAreJsonTypes) {
  std::size_t bytes = 4096;
  logger("c").info("m", {{"int", 42},
                         {"neg", std::numeric_limits<std::int64_t>::min()},
                         {"u64", std::numeric_limits<std::uint64_t>::max()},
                         {"size", bytes},
                         {"ll", -7LL},
                         {"uns", 3U},
                         {"dbl", 1.5},
                         {"tiny", 1e-7},
                         {"nan", std::numeric_limits<double>::quiet_NaN()},
                         {"inf", std::numeric_limits<double>::infinity()},
                         {"yes", true},
                         {"no", false}});
  auto o = only_line();
  EXPECT_EQ(o.at("int").as_int64(), 42);
  EXPECT_EQ(o.at("neg").as_int64(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(o.at("u64").as_uint64(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(o.at("size").to_number<std::uint64_t>(), 4096U);
  EXPECT_EQ(o.at("ll").as_int64(), -7);
  EXPECT_EQ(o.at("uns").to_number<std::uint64_t>(), 3U);
  EXPECT_DOUBLE_EQ(o.at("dbl").as_double(), 1.5);
  EXPECT_DOUBLE_EQ(o.at("tiny").as_double(), 1e-7);
  EXPECT_TRUE(o.at("nan").is_null()) << "JSON has no NaN";
  EXPECT_TRUE(o.at("inf").is_null()) << "JSON has no Infinity";
  EXPECT_EQ(o.at("yes").as_bool(), true);
  EXPECT_EQ(o.at("no").as_bool(), false);
}

TEST_F(LogTest, SetLevelFiltersLowerLevels) {
  logger log("c");
  set_level(level::warn);
  EXPECT_EQ(current_level(), level::warn);
  EXPECT_FALSE(log.enabled(level::debug));
  EXPECT_FALSE(log.enabled(level::info));
  EXPECT_TRUE(log.enabled(level::warn));
  EXPECT_TRUE(log.enabled(level::error));
  log.debug("dropped");
  log.info("dropped");
  log.warn("kept w");
  log.error("kept e");
  ASSERT_EQ(lines_.size(), 2U);
  EXPECT_EQ(str(parse(lines_[0]), "msg"), "kept w");
  EXPECT_EQ(str(parse(lines_[1]), "msg"), "kept e");

  set_level(level::error);
  log.warn("dropped too");
  EXPECT_EQ(lines_.size(), 2U);
  set_level(level::debug);
  log.debug("now kept");
  EXPECT_EQ(lines_.size(), 3U);
}

TEST(LogLevel, ParseAndName) {
  level l = level::error;
  EXPECT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, level::debug);
  EXPECT_TRUE(parse_level("INFO", l));
  EXPECT_EQ(l, level::info);
  EXPECT_TRUE(parse_level("Warning", l));
  EXPECT_EQ(l, level::warn);
  EXPECT_TRUE(parse_level("warn", l));
  EXPECT_EQ(l, level::warn);
  EXPECT_TRUE(parse_level("error", l));
  EXPECT_EQ(l, level::error);
  EXPECT_FALSE(parse_level("verbose", l));
  EXPECT_FALSE(parse_level("", l));
  EXPECT_EQ(l, level::error) << "a failed parse leaves the output alone";
  for (level x : {level::debug, level::info, level::warn, level::error}) {
    level back = level::debug;
    EXPECT_TRUE(parse_level(to_string(x), back));
    EXPECT_EQ(back, x);
  }
}

// DESIGN §9: tokens, passwords, secrets, credentials, authorization and env
// values are never written, whatever their type and however they are attached.
TEST_F(LogTest, SensitiveValuesNeverAppear) {
  const std::string secret = "s3cr3t-VALUE-do-not-log";
  const char* sensitive[] = {"token",          "Authorization", "password",       "client_key",   "secret",
                             "env",            "ENV",           "ENV_x",          "x_env",        "bearer_token",
                             "ServiceAccountToken", "api_token", "db_passwd",     "client_secret", "credentials",
                             "aws_credential", "Cookie",        "Set-Cookie",     "private_key",  "tls.private_key",
                             "Proxy-Authorization", "env.PATH", "RUN_ENV",        "bearer"};
  logger log("c");
  for (const char* key : sensitive) {
    lines_.clear();
    log.with(key, secret).info("bound", {{key, secret}});
    log.info("number", {{key, 123456789}});
    log.info("bool", {{key, true}});
    ASSERT_EQ(lines_.size(), 3U) << key;
    for (const auto& line : lines_) {
      EXPECT_EQ(line.find(secret), std::string::npos) << key << " leaked: " << line;
      EXPECT_EQ(line.find("123456789"), std::string::npos) << key << " leaked: " << line;
      EXPECT_EQ(line.find("true"), std::string::npos) << key << " leaked: " << line;
      auto o = parse(line);
      EXPECT_EQ(str(o, key), "[REDACTED]") << key << ": " << line;
    }
    EXPECT_TRUE(is_sensitive_key(key)) << key;
  }
}

// The same intent for spellings the substring/affix rules miss: dotted paths
// ending in env, camelCase env fields as Kubernetes spells them, and API keys.
TEST_F(LogTest, SensitiveSpellingsOutsideTheAffixRules) {
  const std::string secret = "s3cr3t-VALUE-do-not-log";
  logger log("c");
  for (const char* key : {"spec.env", "envVars", "api_key", "apiKey", "X-Api-Key"}) {
    lines_.clear();
    log.info("m", {{key, secret}});
    ASSERT_EQ(lines_.size(), 1U);
    EXPECT_EQ(lines_[0].find(secret), std::string::npos) << key << " leaked: " << lines_[0];
  }
}

TEST_F(LogTest, OrdinaryKeysAreNotRedacted) {
  const char* ordinary[] = {"run_uid", "key", "pod", "namespace", "runtime", "error", "path", "phase"};
  logger log("c");
  for (const char* key : ordinary) {
    lines_.clear();
    log.info("m", {{key, "plain-value"}});
    EXPECT_EQ(str(only_line(), key), "plain-value") << key;
    EXPECT_FALSE(is_sensitive_key(key)) << key;
  }
}

TEST_F(LogTest, SinkReceivesOneCallPerLine) {
  logger log("c");
  for (int i = 0; i < 50; ++i) log.info("line", {{"i", i}});
  ASSERT_EQ(lines_.size(), 50U);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(parse(lines_[static_cast<std::size_t>(i)]).at("i").as_int64(), i);
}

TEST_F(LogTest, DefaultSinkWritesWholeLinesToStderr) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int saved = ::dup(2);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(fds[1], 2), 2);
  set_sink(nullptr);
  logger("stderr-test").warn("to stderr", {{"n", 1}});
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  EXPECT_TRUE(lines_.empty());
  auto o = parse(got);
  EXPECT_EQ(str(o, "component"), "stderr-test");
  EXPECT_EQ(str(o, "msg"), "to stderr");
}

// ------------------------------------------- task group exceptions into the log

awaitable<void> throw_runtime_error() {
  co_await reactor::yield();
  throw std::runtime_error("disk on fire");
}

awaitable<void> throw_non_std() {
  co_await reactor::yield();
  throw 42;
}

awaitable<void> wait_forever() {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
  co_await t.async_wait(asio::use_awaitable);
}

void run_to_completion(asio::io_context& ctx) {
  ctx.restart();
  ctx.run_for(10s);
  EXPECT_TRUE(ctx.stopped()) << "work left after 10s";
}

awaitable<void> close_group(reactor::task_group& g) { co_await g.close(); }

void close_and_wait(asio::io_context& ctx, reactor::task_group& g) {
  bool closed = false;
  asio::co_spawn(ctx, close_group(g), [&closed](std::exception_ptr e) {
    EXPECT_FALSE(e) << "close() threw";
    closed = true;
  });
  run_to_completion(ctx);
  EXPECT_TRUE(closed);
}

TEST_F(LogTest, TaskGroupExceptionBecomesAnErrorLine) {
  install_task_exception_logging(logger("runtimed").with("pod", "runtime-bash-0"));
  asio::io_context ctx{1};
  reactor::task_group group(ctx.get_executor(), "dispatch");
  ASSERT_TRUE(group.spawn(throw_runtime_error(), "watch loop"));
  ASSERT_TRUE(group.spawn(throw_non_std(), "odd thrower"));
  run_to_completion(ctx);
  close_and_wait(ctx, group);
  ASSERT_EQ(lines_.size(), 2U);
  auto a = parse(lines_[0]);
  EXPECT_EQ(str(a, "level"), "error");
  EXPECT_EQ(str(a, "component"), "runtimed");
  EXPECT_EQ(str(a, "pod"), "runtime-bash-0");
  EXPECT_EQ(str(a, "msg"), "background task failed");
  EXPECT_EQ(str(a, "group"), "dispatch");
  EXPECT_EQ(str(a, "task"), "watch loop");
  EXPECT_EQ(str(a, "error"), "disk on fire");
  auto b = parse(lines_[1]);
  EXPECT_EQ(str(b, "task"), "odd thrower");
  EXPECT_EQ(str(b, "error"), "unknown exception");
}

TEST_F(LogTest, CancellationAtCloseIsNotLogged) {
  install_task_exception_logging(logger("c"));
  asio::io_context ctx{1};
  reactor::task_group group(ctx.get_executor(), "idle");
  ASSERT_TRUE(group.spawn(wait_forever(), "sleeper"));
  ctx.poll();
  close_and_wait(ctx, group);
  EXPECT_EQ(group.size(), 0U);
  EXPECT_TRUE(lines_.empty()) << lines_.front();
}

}  // namespace krt::obs::test_log
