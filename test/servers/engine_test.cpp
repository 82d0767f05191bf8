// exec_engine with real processes: exit codes and signals, timeouts and
// cancels that reach grandchildren, output caps and log files, environment
// precedence, working directories, idempotent ids, Forget, and stop().
#include "servers/engine/engine.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/support/async.hpp"

namespace krt::servers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True once `pid` is gone or a zombie (waiting for its new parent to reap it).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z';
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/krt-engine-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  engine_options opts(runtime_kind kind = runtime_kind::bash) {
    engine_options o;
    o.kind = kind;
    o.work_dir = dir.string();
    o.grace_period = 300ms;
    return o;
  }
  void run(awaitable<void> body) { krt::testing::run_on(ctx, std::move(body), std::chrono::seconds(60)); }

  asio::io_context ctx{1};
  fs::path dir;
};

execute_request bash_req(std::string id, std::vector<std::string> args) {
  execute_request r;
  r.id = std::move(id);
  r.args = std::move(args);
  return r;
}

// One argument: a bash script (no braced lists inside coroutines).
execute_request bash_cmd(std::string id, std::string script) {
  execute_request r;
  r.id = std::move(id);
  r.args.push_back(std::move(script));
  return r;
}

// Waits until `id` is terminal (or gone) and returns its status.
awaitable<execution_status> wait_done(exec_engine& eng, std::string id) {
  reactor::event ev(co_await asio::this_coro::executor);
  auto token = eng.subscribe([&ev](const execution_status&) { ev.notify_all(); });
  bool ok = co_await krt::testing::wait_for(
      ev,
      [&eng, &id] {
        auto s = eng.status(id);
        return !s || s->terminal();
      },
      30000ms);
  eng.unsubscribe(token);
  EXPECT_TRUE(ok) << id << " did not finish";
  auto s = eng.status(id);
  execution_status out;
  if (s) out = *s;
  co_return out;
}

awaitable<void> start(exec_engine& eng, execute_request req) {
  auto id = eng.execute(req);
  EXPECT_TRUE(id);
  if (id) {
    EXPECT_EQ(*id, req.id);
  }
  co_return;
}

awaitable<void> exit_codes(exec_engine& eng, fs::path dir) {
  co_await start(eng, bash_cmd("ok", "echo hello; echo oops >&2"));
  co_await start(eng, bash_cmd("three", "exit 3"));
  co_await start(eng, bash_cmd("killed", "kill -KILL $$"));
  co_await start(eng, bash_cmd("segv", "kill -SEGV $$"));
  auto ok = co_await wait_done(eng, "ok");
  EXPECT_EQ(ok.state, execution_state::succeeded);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.stdout_text, "hello\n");
  EXPECT_EQ(ok.stderr_text, "oops\n");
  EXPECT_EQ(ok.error_message, "");
  EXPECT_EQ(read_file(dir / ".logs/ok.stdout"), "hello\n");
  EXPECT_EQ(read_file(dir / ".logs/ok.stderr"), "oops\n");
  auto three = co_await wait_done(eng, "three");
  EXPECT_EQ(three.state, execution_state::failed);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(three.error_message, "exit status 3");
  auto killed = co_await wait_done(eng, "killed");
  EXPECT_EQ(killed.state, execution_state::failed);
  EXPECT_EQ(killed.exit_code, -1);
  EXPECT_EQ(killed.error_message, "signal: killed");
  auto segv = co_await wait_done(eng, "segv");
  EXPECT_EQ(segv.exit_code, -1);
  EXPECT_EQ(segv.error_message, "signal: segmentation fault");
  co_await eng.stop();
}

TEST_F(EngineTest, ExitCodesSignalsAndOutput) {
  exec_engine eng(ctx.get_executor(), opts());
  run(exit_codes(eng, dir));
}

awaitable<void> timeout_kills_group(exec_engine& eng, fs::path dir) {
  // The grandchild ignores SIGTERM, so only the SIGKILL after the grace
  // period ends it; the leader waits for it.
  auto req = bash_cmd("slow", "bash -c 'trap \"\" TERM; sleep 300' & echo $! > gc.pid; wait");
  req.timeout_seconds = 1;
  co_await start(eng, req);
  auto s = co_await wait_done(eng, "slow");
  EXPECT_EQ(s.state, execution_state::failed);
  EXPECT_EQ(s.exit_code, -1);
  EXPECT_EQ(s.error_message, "timeout");
  pid_t gc = std::atoi(read_file(dir / "slow/gc.pid").c_str());
  EXPECT_GT(gc, 0);
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && gc > 0 && !process_gone(gc); ++i) {
    t.expires_after(20ms);
    co_await t.async_wait(use_nothrow);
  }
  EXPECT_TRUE(gc > 0 && process_gone(gc)) << "grandchild " << gc << " survived the timeout";
  co_await eng.stop();
}

TEST_F(EngineTest, TimeoutKillsTheWholeGroupIncludingAGrandchild) {
  exec_engine eng(ctx.get_executor(), opts());
  run(timeout_kills_group(eng, dir));
}

awaitable<void> cancel_flow(exec_engine& eng) {
  co_await start(eng, bash_cmd("c1", "sleep 300"));
  co_await start(eng, bash_cmd("c2", "trap '' TERM; sleep 300 & wait; sleep 300"));
  EXPECT_EQ(eng.status("c1")->state, execution_state::running);
  EXPECT_TRUE(eng.cancel("c1"));
  EXPECT_TRUE(eng.cancel("c1"));  // repeatable
  EXPECT_TRUE(eng.cancel("c2"));
  auto c1 = co_await wait_done(eng, "c1");
  EXPECT_EQ(c1.state, execution_state::failed);
  EXPECT_EQ(c1.exit_code, -1);
  EXPECT_EQ(c1.error_message, "cancelled");
  auto c2 = co_await wait_done(eng, "c2");
  EXPECT_EQ(c2.error_message, "cancelled");
  EXPECT_TRUE(eng.cancel("c1"));  // finished: still fine
  auto unknown = eng.cancel("nope");
  EXPECT_FALSE(unknown);
  if (unknown) co_return;
  EXPECT_EQ(unknown.error().code, engine_errc::not_found);
  EXPECT_EQ(unknown.error().message, "request nope not found");
  co_await eng.stop();
}

TEST_F(EngineTest, CancelIsRepeatableAndKillsAfterTheGracePeriod) {
  exec_engine eng(ctx.get_executor(), opts());
  run(cancel_flow(eng));
}

awaitable<void> truncation(exec_engine& eng, fs::path dir) {
  co_await start(eng, bash_cmd("big", "head -c 5000 /dev/zero | tr '\\0' a; head -c 999 /dev/zero | tr '\\0' b >&2"));
  auto s = co_await wait_done(eng, "big");
  EXPECT_EQ(s.state, execution_state::succeeded);
  EXPECT_EQ(s.stdout_text, std::string(1000, 'a') + "\n[output truncated]\n");
  EXPECT_EQ(s.stderr_text, std::string(999, 'b'));
  EXPECT_EQ(read_file(dir / ".logs/big.stdout"), std::string(5000, 'a'));
  co_await eng.stop();
}

TEST_F(EngineTest, OutputIsCappedWithAMarkerAndLoggedInFull) {
  auto o = opts();
  o.max_output_bytes = 1000;
  exec_engine eng(ctx.get_executor(), o);
  run(truncation(eng, dir));
}

awaitable<void> env_precedence(exec_engine& eng) {
  auto req = bash_cmd("env", "echo \"$KRT_TEST_ONLY_CONTAINER|$KRT_TEST_BOTH|$KRUNTIME_OUTPUTS|$KRT_TEST_REQ\"");
  req.env["KRT_TEST_BOTH"] = "request";
  req.env["KRUNTIME_OUTPUTS"] = "/from/request";
  req.env["KRT_TEST_REQ"] = "r";
  co_await start(eng, req);
  auto s = co_await wait_done(eng, "env");
  EXPECT_EQ(s.stdout_text, "container|request|/from/request|r\n");
  co_await eng.stop();
}

TEST_F(EngineTest, RequestEnvOverridesTheContainerEnv) {
  ::setenv("KRT_TEST_ONLY_CONTAINER", "container", 1);
  ::setenv("KRT_TEST_BOTH", "container", 1);
  ::setenv("KRUNTIME_OUTPUTS", "/from/container", 1);
  exec_engine eng(ctx.get_executor(), opts());
  run(env_precedence(eng));
  ::unsetenv("KRT_TEST_ONLY_CONTAINER");
  ::unsetenv("KRT_TEST_BOTH");
  ::unsetenv("KRUNTIME_OUTPUTS");
}

awaitable<void> working_dirs(exec_engine& eng, fs::path dir) {
  co_await start(eng, bash_cmd("auto", "pwd"));
  fs::create_directories(dir / "given");
  {
    std::ofstream script(dir / "given/script");
    script << "echo \"script $1 $2 in $(pwd)\"\n";
  }
  std::vector<std::string> xy{"x", "y"};
  auto given = bash_req("given", xy);
  given.working_dir = (dir / "given").string();
  co_await start(eng, given);
  auto missing = bash_cmd("missing", "pwd");
  missing.working_dir = (dir / "nope").string();
  co_await start(eng, missing);
  auto escape = bash_cmd("escape", "pwd");
  escape.entrypoint = "../given/script";
  co_await start(eng, escape);
  auto empty = bash_req("empty", std::vector<std::string>());
  co_await start(eng, empty);

  auto a = co_await wait_done(eng, "auto");
  EXPECT_EQ(a.stdout_text, (dir / "auto").string() + "\n");
  auto g = co_await wait_done(eng, "given");
  EXPECT_EQ(g.stdout_text, "script x y in " + (dir / "given").string() + "\n");
  auto m = co_await wait_done(eng, "missing");
  EXPECT_EQ(m.state, execution_state::failed);
  EXPECT_EQ(m.exit_code, 0);
  EXPECT_NE(m.error_message.find("working directory"), std::string::npos) << m.error_message;
  auto e = co_await wait_done(eng, "escape");
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_NE(e.error_message.find("invalid entrypoint"), std::string::npos) << e.error_message;
  auto n = co_await wait_done(eng, "empty");
  EXPECT_EQ(n.state, execution_state::failed);
  EXPECT_EQ(n.error_message, "no args or script provided");
  co_await eng.stop();
}

TEST_F(EngineTest, WorkingDirectoriesAndStartFailures) {
  exec_engine eng(ctx.get_executor(), opts());
  run(working_dirs(eng, dir));
}

awaitable<void> bad_interpreter(exec_engine& eng) {
  co_await start(eng, bash_cmd("x", "echo hi"));
  auto s = co_await wait_done(eng, "x");
  EXPECT_EQ(s.state, execution_state::failed);
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_NE(s.error_message.find("start "), std::string::npos) << s.error_message;
  co_await eng.stop();
}

TEST_F(EngineTest, AnInterpreterThatCannotStartFailsWithExitZero) {
  auto o = opts();
  o.interpreter = "/nonexistent/bash";
  exec_engine eng(ctx.get_executor(), o);
  run(bad_interpreter(eng));
}

awaitable<void> many(exec_engine& eng) {
  constexpr int n = 40;
  for (int i = 0; i < n; ++i) co_await start(eng, bash_cmd("m" + std::to_string(i), "echo " + std::to_string(i)));
  for (int i = 0; i < n; ++i) {
    auto s = co_await wait_done(eng, "m" + std::to_string(i));
    EXPECT_EQ(s.state, execution_state::succeeded);
    EXPECT_EQ(s.stdout_text, std::to_string(i) + "\n");
  }
  EXPECT_EQ(eng.list().size(), static_cast<std::size_t>(n));
  co_await eng.stop();
}

TEST_F(EngineTest, ManyConcurrentExecutions) {
  exec_engine eng(ctx.get_executor(), opts());
  run(many(eng));
}

awaitable<void> idempotent(exec_engine& eng, fs::path dir) {
  auto req = bash_cmd("dup", "echo run >> " + (dir / "count").string() + "; sleep 0.2");
  co_await start(eng, req);
  co_await start(eng, req);  // while running
  auto s = co_await wait_done(eng, "dup");
  EXPECT_EQ(s.state, execution_state::succeeded);
  co_await start(eng, req);  // finished but retained
  EXPECT_EQ(eng.status("dup")->state, execution_state::succeeded);
  EXPECT_EQ(read_file(dir / "count"), "run\n");
  // After Forget the id is new again (runtimed's in-pod retry).
  EXPECT_TRUE(eng.forget("dup"));
  co_await start(eng, req);
  co_await wait_done(eng, "dup");
  EXPECT_EQ(read_file(dir / "count"), "run\nrun\n");

  auto empty = eng.execute(bash_cmd("", "true"));
  EXPECT_FALSE(empty);
  if (empty) co_return;
  EXPECT_EQ(empty.error().code, engine_errc::invalid_argument);
  auto slash = eng.execute(bash_cmd("a/b", "true"));
  EXPECT_FALSE(slash);
  if (slash) co_return;
  EXPECT_EQ(slash.error().code, engine_errc::invalid_argument);
  co_await eng.stop();
}

TEST_F(EngineTest, RepeatedIdIsIdempotentWhileRetained) {
  exec_engine eng(ctx.get_executor(), opts());
  run(idempotent(eng, dir));
}

awaitable<void> forget_flow(exec_engine& eng, fs::path dir) {
  co_await start(eng, bash_cmd("f", "echo out; sleep 300"));
  auto busy = eng.forget("f");
  EXPECT_FALSE(busy);
  if (busy) co_return;
  EXPECT_EQ(busy.error().code, engine_errc::failed_precondition);
  EXPECT_TRUE(fs::exists(dir / ".logs/f.stdout"));
  EXPECT_TRUE(eng.cancel("f"));
  co_await wait_done(eng, "f");
  EXPECT_TRUE(eng.forget("f"));
  EXPECT_FALSE(fs::exists(dir / ".logs/f.stdout"));
  EXPECT_FALSE(fs::exists(dir / ".logs/f.stderr"));
  auto gone = eng.status("f");
  EXPECT_FALSE(gone);
  if (gone) co_return;
  EXPECT_EQ(gone.error().code, engine_errc::not_found);
  EXPECT_EQ(gone.error().message, "request f not found");
  auto again = eng.forget("f");
  EXPECT_FALSE(again);
  if (again) co_return;
  EXPECT_EQ(again.error().code, engine_errc::not_found);
  co_await eng.stop();
}

TEST_F(EngineTest, ForgetRefusesRunningAndDeletesLogs) {
  exec_engine eng(ctx.get_executor(), opts());
  run(forget_flow(eng, dir));
}

awaitable<void> events_and_stop(exec_engine& eng, std::vector<execution_status>* seen) {
  auto token = eng.subscribe([seen](const execution_status& s) { seen->push_back(s); });
  co_await start(eng, bash_cmd("quick", "echo done"));
  co_await wait_done(eng, "quick");
  co_await start(eng, bash_cmd("long", "sleep 300"));
  EXPECT_TRUE(eng.healthy());
  co_await eng.stop();
  EXPECT_FALSE(eng.healthy());
  EXPECT_EQ(eng.status("long")->error_message, "cancelled");
  auto refused = eng.execute(bash_cmd("late", "true"));
  EXPECT_FALSE(refused);
  if (refused) co_return;
  EXPECT_EQ(refused.error().code, engine_errc::unavailable);
  eng.unsubscribe(token);
}

TEST_F(EngineTest, ListenersSeeEveryStateChangeAndStopCancels) {
  exec_engine eng(ctx.get_executor(), opts());
  std::vector<execution_status> seen;
  run(events_and_stop(eng, &seen));
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].id, "quick");
  EXPECT_EQ(seen[0].state, execution_state::running);
  EXPECT_EQ(seen[1].state, execution_state::succeeded);
  EXPECT_EQ(seen[1].stdout_text, "done\n");
  EXPECT_EQ(seen[2].state, execution_state::running);
  EXPECT_EQ(seen[3].state, execution_state::failed);
  EXPECT_EQ(seen[3].error_message, "cancelled");
}

awaitable<void> python_rules(exec_engine& eng, fs::path dir) {
  fs::create_directories(dir / "p");
  {
    std::ofstream script(dir / "p/script");
    script << "import os, sys\nprint('args', sys.argv[1:], os.getcwd())\nsys.exit(4)\n";
  }
  execute_request with_script;
  with_script.id = "py1";
  with_script.working_dir = (dir / "p").string();
  with_script.args.push_back("a");
  with_script.args.push_back("b");
  co_await start(eng, with_script);
  execute_request inline_args;
  inline_args.id = "py2";
  inline_args.args.push_back("-c");
  inline_args.args.push_back("print('hi')");
  co_await start(eng, inline_args);
  execute_request nothing;
  nothing.id = "py3";
  co_await start(eng, nothing);
  execute_request handler;
  handler.id = "py4";
  handler.args.push_back("x");
  handler.handler = "mod.fn";
  co_await start(eng, handler);

  auto s1 = co_await wait_done(eng, "py1");
  EXPECT_EQ(s1.stdout_text, "args ['a', 'b'] " + (dir / "p").string() + "\n");
  EXPECT_EQ(s1.exit_code, 4);
  EXPECT_EQ(s1.error_message, "exit status 4");
  auto s2 = co_await wait_done(eng, "py2");
  EXPECT_EQ(s2.state, execution_state::succeeded);
  EXPECT_EQ(s2.stdout_text, "hi\n");
  auto s3 = co_await wait_done(eng, "py3");
  EXPECT_EQ(s3.state, execution_state::failed);
  EXPECT_EQ(s3.exit_code, 0);
  EXPECT_EQ(s3.error_message, "no script or args provided");
  auto s4 = co_await wait_done(eng, "py4");
  EXPECT_EQ(s4.state, execution_state::failed);
  EXPECT_NE(s4.error_message.find("not supported"), std::string::npos);
  co_await eng.stop();
}

TEST_F(EngineTest, PythonRuntimeRules) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  auto o = opts(runtime_kind::python);
  o.interpreter = "/usr/bin/python3";
  exec_engine eng(ctx.get_executor(), o);
  run(python_rules(eng, dir));
}

}  // namespace
}  // namespace krt::servers
