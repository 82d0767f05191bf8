// child_process with real processes: exit codes and signals, spawn errors,
// the child's environment, terminate() with and without a SIGTERM handler,
// process-group kills that reach grandchildren, and CRI log capture.
#include "local/node/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "local/node/cgroup.hpp"
#include "local/node/logs.hpp"
#include "test/support/async.hpp"

namespace krt::local::node {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <typename T>
awaitable<void> store_into(awaitable<T> task, std::optional<T>* out) {
  *out = co_await std::move(task);
}

// Runs `task` on `ctx` and returns its value (the test fails if it hangs).
template <typename T>
T run_value(asio::io_context& ctx, awaitable<T> task) {
  std::optional<T> out;
  krt::testing::run_on(ctx, store_into(std::move(task), &out), std::chrono::seconds(60));
  EXPECT_TRUE(out.has_value());
  return out.value_or(T{});
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls the log until it contains `needle`, at most `limit`.
awaitable<bool> wait_for_text(std::string path, std::string needle, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (read_file(path).find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    timer.expires_after(20ms);
    co_await timer.async_wait(use_nothrow);
  }
  co_return true;
}

// Dead: no such process, or a zombie waiting for whoever adopted it.
bool is_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

// Killed processes disappear asynchronously: poll, bounded.
bool becomes_gone(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    if (is_gone(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

struct record_line {
  std::string stream;
  bool partial;
  std::string message;
};

std::vector<record_line> records(const fs::path& log) {
  std::vector<record_line> out;
  std::istringstream in(read_file(log));
  std::string line;
  while (std::getline(in, line)) {
    auto r = parse_cri_record(line);
    EXPECT_TRUE(r.has_value()) << "malformed record: " << line;
    if (!r) continue;
    out.push_back(record_line{std::string(r->stream), r->partial, std::string(r->message)});
  }
  return out;
}

std::vector<std::string> messages_of(const std::vector<record_line>& recs, std::string_view stream) {
  std::vector<std::string> out;
  for (const auto& r : recs)
    if (r.stream == stream) out.push_back(r.message);
  return out;
}

// The pid printed after `marker ` in the log.
pid_t pid_after(const fs::path& log, const std::string& marker) {
  auto text = read_file(log);
  auto at = text.find(marker + " ");
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::stol(text.substr(at + marker.size() + 1)));
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("krt-process-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  process_spec sh(const std::string& script) {
    process_spec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.log_path = log_path();
    return spec;
  }
  std::string log_path() const { return (dir_ / "container.log").string(); }
  std::unique_ptr<child_process> start(const process_spec& spec) {
    auto p = child_process::spawn(ctx_.get_executor(), spec);
    EXPECT_TRUE(p) << (p ? "" : p.error());
    if (!p) return nullptr;
    return std::move(*p);
  }
  bool log_has(const std::string& needle) {
    return run_value(ctx_, wait_for_text(log_path(), needle, 20000ms));
  }

  asio::io_context ctx_{1};
  fs::path dir_;
};

TEST_F(ProcessTest, ReportsExitCodes) {
  auto ok = start(sh("exit 0"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(run_value(ctx_, ok->wait()), 0);
  EXPECT_FALSE(ok->running());

  auto seven = start(sh("exit 7"));
  ASSERT_TRUE(seven);
  exit_info info = run_value(ctx_, seven->wait_info());
  EXPECT_EQ(info.code, 7);
  EXPECT_EQ(info.signal, 0);
  ASSERT_TRUE(seven->status().has_value());
  EXPECT_EQ(seven->status()->code, 7);
}

TEST_F(ProcessTest, ReportsSignalDeathAs128PlusSignal) {
  auto p = start(sh("kill -KILL $$"));
  ASSERT_TRUE(p);
  exit_info info = run_value(ctx_, p->wait_info());
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_EQ(info.code, 128 + SIGKILL);
}

TEST_F(ProcessTest, MissingExecutableIsAnError) {
  process_spec spec = sh("");
  spec.argv = {"/nonexistent/krt-no-such-binary"};
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), "executable not found: /nonexistent/krt-no-such-binary");

  spec.argv = {"krt-no-such-binary", "x"};
  auto q = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().rfind("executable not found: krt-no-such-binary", 0), 0u) << q.error();
}

TEST_F(ProcessTest, ExecFailureIsReportedBySpawn) {
  auto no_exec_bit = dir_ / "script.sh";
  std::ofstream(no_exec_bit) << "#!/bin/sh\necho hi\n";
  ::chmod(no_exec_bit.c_str(), 0644);
  process_spec spec = sh("");
  spec.argv = {no_exec_bit.string()};
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("exec " + no_exec_bit.string() + " failed"), std::string::npos) << p.error();

  auto garbage = dir_ / "garbage";
  std::ofstream(garbage) << std::string("\x01\x02\x03\x04 not a program");
  ::chmod(garbage.c_str(), 0755);
  spec.argv = {garbage.string()};
  auto q = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().find("failed"), std::string::npos) << q.error();
}

TEST_F(ProcessTest, MissingWorkingDirectoryIsAnError) {
  process_spec spec = sh("true");
  spec.working_dir = (dir_ / "missing").string();
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), "working directory does not exist: " + spec.working_dir);
}

TEST_F(ProcessTest, UnwritableLogIsAnError) {
  std::ofstream(dir_ / "file") << "x";
  process_spec spec = sh("true");
  spec.log_path = (dir_ / "file" / "container.log").string();
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().rfind("cannot open log file", 0), 0u) << p.error();
}

TEST_F(ProcessTest, UsesWorkingDirectoryEnvironmentAndPathOfSpec) {
  fs::create_directories(dir_ / "work");
  std::ofstream(dir_ / "work" / "hello.sh") << "#!/bin/sh\necho \"hello from $0\"\n";
  ::chmod((dir_ / "work" / "hello.sh").c_str(), 0755);
  ::setenv("KRT_PROCESS_TEST_LEAK", "leaked", 1);

  process_spec spec = sh("");
  spec.argv = {"sh", "-c", "pwd; echo \"foo=$FOO\"; echo \"leak=${KRT_PROCESS_TEST_LEAK-unset}\"; ./hello.sh"};
  spec.env = {"PATH=/usr/bin:/bin", "FOO=bar baz"};
  spec.working_dir = (dir_ / "work").string();
  auto p = start(spec);
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  ::unsetenv("KRT_PROCESS_TEST_LEAK");

  auto out = messages_of(records(log_path()), "stdout");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(fs::canonical(out[0]), fs::canonical(dir_ / "work"));
  EXPECT_EQ(out[1], "foo=bar baz");
  EXPECT_EQ(out[2], "leak=unset");
  EXPECT_EQ(out[3], "hello from ./hello.sh");

  // A relative command with '/' is relative to the working directory.
  spec.argv = {"./hello.sh"};
  auto q = start(spec);
  ASSERT_TRUE(q);
  EXPECT_EQ(run_value(ctx_, q->wait()), 0);
}

TEST_F(ProcessTest, StdinIsDevNullAndNoDescriptorLeaks) {
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  process_spec spec = sh("");
  spec.argv = {"ls", "/proc/self/fd"};
  auto p = start(spec);
  ::close(leaked);
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  // ls itself holds 3, the directory it lists.
  EXPECT_EQ(messages_of(records(log_path()), "stdout"), (std::vector<std::string>{"0", "1", "2", "3"}));

  auto q = start(sh("readlink /proc/self/fd/0; cat; echo after-cat"));
  ASSERT_TRUE(q);
  EXPECT_EQ(run_value(ctx_, q->wait()), 0);
  auto out = messages_of(records(log_path()), "stdout");
  ASSERT_GE(out.size(), 2u);
  EXPECT_EQ(out[out.size() - 2], "/dev/null");
  EXPECT_EQ(out.back(), "after-cat");
}

TEST_F(ProcessTest, ChildGetsDefaultSignalMaskAndDispositions) {
  sigset_t block;
  sigset_t old_mask;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGTERM);
  ::sigaddset(&block, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);

  process_spec spec = sh("");
  spec.argv = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"};
  auto p = start(spec);
  ::signal(SIGPIPE, old_pipe);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  auto out = messages_of(records(log_path()), "stdout");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "SigBlk:\t0000000000000000");
  // Signals 1..31 at their defaults (SIGPIPE not inherited as ignored).
  // glibc's posix_spawn leaves its internal signals 32 and 33 ignored in the
  // child; glibc programs reinstall them and nothing else uses them.
  ASSERT_EQ(out[1].rfind("SigIgn:\t", 0), 0u);
  auto ignored = std::stoull(out[1].substr(8), nullptr, 16);
  EXPECT_EQ(ignored & 0x7fffffffull, 0u) << out[1];
}

TEST_F(ProcessTest, SeveralWaitersGetTheSameCode) {
  using namespace asio::experimental::awaitable_operators;
  auto p = start(sh("read x < /dev/null; exit 4"));
  ASSERT_TRUE(p);
  auto both = run_value(ctx_, awaitable<std::tuple<int, int>>(p->wait() && p->wait()));
  EXPECT_EQ(std::get<0>(both), 4);
  EXPECT_EQ(std::get<1>(both), 4);
  EXPECT_EQ(run_value(ctx_, p->wait()), 4);  // and later ones
}

TEST_F(ProcessTest, TerminateLetsATrapRun) {
  auto p = start(sh("trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("ready"));
  EXPECT_TRUE(p->running());
  EXPECT_EQ(::kill(p->pid(), 0), 0);
  EXPECT_EQ(run_value(ctx_, p->terminate(30000ms)), 3);
  EXPECT_FALSE(p->running());
  EXPECT_NE(read_file(log_path()).find("stdout F got TERM"), std::string::npos);
}

TEST_F(ProcessTest, TerminateEndsAPlainProcessWithSigterm) {
  process_spec spec = sh("");
  spec.argv = {"sleep", "1000"};
  auto p = start(spec);
  ASSERT_TRUE(p);
  exit_info info;
  EXPECT_EQ(run_value(ctx_, p->terminate(30000ms)), 128 + SIGTERM);
  info = *p->status();
  EXPECT_EQ(info.signal, SIGTERM);
}

TEST_F(ProcessTest, TerminateEscalatesToSigkillAfterGrace) {
  auto p = start(sh("trap '' TERM; echo ready; while :; do sleep 0.1; done"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("ready"));
  EXPECT_EQ(run_value(ctx_, p->terminate(200ms)), 128 + SIGKILL);
  EXPECT_EQ(p->status()->signal, SIGKILL);
}

TEST_F(ProcessTest, TerminateReachesGrandchildren) {
  auto p = start(sh("sleep 1000 & echo \"grandchild $!\"; wait"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("grandchild"));
  pid_t gc = pid_after(log_path(), "grandchild");
  ASSERT_GT(gc, 0);
  EXPECT_EQ(::kill(gc, 0), 0);
  run_value(ctx_, p->terminate(30000ms));
  EXPECT_TRUE(becomes_gone(gc));
}

TEST_F(ProcessTest, GroupMembersIgnoringSigtermDieWithTheLeader) {
  // The leader exits on SIGTERM within the grace period; the grandchild
  // ignores it and must still not survive.
  auto p = start(sh("(trap '' TERM; exec sleep 1000) & echo \"grandchild $!\"; wait"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("grandchild"));
  pid_t gc = pid_after(log_path(), "grandchild");
  ASSERT_GT(gc, 0);
  EXPECT_EQ(run_value(ctx_, p->terminate(30000ms)), 128 + SIGTERM);
  EXPECT_TRUE(becomes_gone(gc));
}

TEST_F(ProcessTest, LeftoverGroupMembersDieWhenTheLeaderExits) {
  auto p = start(sh("sleep 1000 & echo \"grandchild $!\""));
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  pid_t gc = pid_after(log_path(), "grandchild");
  ASSERT_GT(gc, 0);
  EXPECT_TRUE(becomes_gone(gc));
}

TEST_F(ProcessTest, SignalGroupDeliversASignal) {
  auto p = start(sh("trap 'exit 5' USR1; echo ready; while :; do sleep 0.1; done"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("ready"));
  p->signal_group(SIGUSR1);
  EXPECT_EQ(run_value(ctx_, p->wait()), 5);
  p->signal_group(SIGUSR1);  // after exit: a no-op
}

TEST_F(ProcessTest, DestructorKillsTheGroupAndWakesWaiters) {
  auto p = start(sh("sleep 1000 & echo \"grandchild $!\"; wait"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("grandchild"));
  pid_t leader = p->pid();
  pid_t gc = pid_after(log_path(), "grandchild");
  ASSERT_GT(gc, 0);

  std::optional<int> code;
  asio::co_spawn(ctx_, store_into(p->wait(), &code), [](std::exception_ptr) {});
  krt::testing::pump(ctx_);
  EXPECT_FALSE(code.has_value());
  p.reset();
  EXPECT_TRUE(is_gone(leader));  // reaped before the destructor returned
  EXPECT_TRUE(becomes_gone(gc));
  krt::testing::run_on(ctx_, krt::reactor::yield());
  EXPECT_EQ(code, 128 + SIGKILL);
}

TEST_F(ProcessTest, CapturesStdoutAndStderrAsCriRecords) {
  auto p = start(sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo; printf no-newline"));
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  auto recs = records(log_path());
  EXPECT_EQ(messages_of(recs, "stdout"), (std::vector<std::string>{"out1", "out2", "", "no-newline"}));
  EXPECT_EQ(messages_of(recs, "stderr"), (std::vector<std::string>{"err1", "err2"}));
  for (const auto& r : recs) EXPECT_FALSE(r.partial);
  // Every record starts with an RFC 3339 UTC time with nanoseconds.
  std::istringstream in(read_file(log_path()));
  std::string line;
  while (std::getline(in, line)) {
    ASSERT_GT(line.size(), 31u);
    EXPECT_EQ(line[10], 'T');
    EXPECT_EQ(line[19], '.');
    EXPECT_EQ(line[29], 'Z');
    EXPECT_TRUE(parse_log_time(line.substr(0, 30)).has_value());
  }
}

TEST_F(ProcessTest, SplitsLongLinesIntoPartialRecords) {
  auto p = start(sh("head -c 40000 /dev/zero | tr '\\0' a; echo; head -c 16384 /dev/zero | tr '\\0' b; echo"));
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  auto recs = records(log_path());
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_TRUE(recs[0].partial);
  EXPECT_EQ(recs[0].message, std::string(16384, 'a'));
  EXPECT_TRUE(recs[1].partial);
  EXPECT_EQ(recs[1].message, std::string(16384, 'a'));
  EXPECT_FALSE(recs[2].partial);
  EXPECT_EQ(recs[2].message, std::string(40000 - 2 * 16384, 'a'));
  EXPECT_FALSE(recs[3].partial);  // exactly 16 KiB fits one record
  EXPECT_EQ(recs[3].message, std::string(16384, 'b'));

  log_options opts;
  EXPECT_EQ(read_log(log_path(), opts), std::string(40000, 'a') + "\n" + std::string(16384, 'b') + "\n");
}

TEST_F(ProcessTest, LosesNoOutputUnderBackpressure) {
  auto p = start(sh("seq 1 100000; seq 1 50000 >&2"));
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  auto recs = records(log_path());
  auto out = messages_of(recs, "stdout");
  auto err = messages_of(recs, "stderr");
  ASSERT_EQ(out.size(), 100000u);
  ASSERT_EQ(err.size(), 50000u);
  EXPECT_EQ(out.front(), "1");
  EXPECT_EQ(out.back(), "100000");
  EXPECT_EQ(out[41234], "41235");
  EXPECT_EQ(err.back(), "50000");
}

TEST_F(ProcessTest, DiscardsOutputWithoutLogPath) {
  process_spec spec = sh("seq 1 100000; seq 1 100000 >&2");
  spec.log_path.clear();
  auto p = start(spec);
  ASSERT_TRUE(p);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  EXPECT_FALSE(fs::exists(log_path()));
}

TEST_F(ProcessTest, WaitDoesNotHangOnAnEscapedOutputHolder) {
  // setsid leaves the group, so the group kill misses it and it keeps the
  // stdout pipe open; wait() still returns (after output_drain_limit).
  // The leader exits only once the other process leads its own session.
  auto p = start(sh(
      "setsid sh -c 'echo \"escaped $$\"; exec sleep 1000' & pid=$!; "
      "while [ \"$(cut -d' ' -f6 /proc/$pid/stat)\" != $pid ]; do sleep 0.01; done; echo leader-done"));
  ASSERT_TRUE(p);
  EXPECT_TRUE(log_has("escaped"));
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  pid_t escaped = pid_after(log_path(), "escaped");
  ASSERT_GT(escaped, 0);
  ::kill(escaped, SIGKILL);
  EXPECT_NE(read_file(log_path()).find("leader-done"), std::string::npos);
}

std::vector<std::string> open_descriptors() {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    out.push_back(fs::read_symlink(entry.path(), ec).string());
  }
  return out;
}

TEST_F(ProcessTest, WatchesExitThroughAPidfdAndClosesEverything) {
  // The first process also creates the io_context's reactor descriptors.
  auto warm_up = start(sh("true"));
  ASSERT_TRUE(warm_up);
  run_value(ctx_, warm_up->wait());
  warm_up.reset();
  for (int i = 0; i < 3; ++i) krt::testing::run_on(ctx_, krt::reactor::yield());

  auto before = open_descriptors();
  auto p = start(sh("read x < /dev/null; echo hi"));
  ASSERT_TRUE(p);
  auto during = open_descriptors();
  EXPECT_EQ(std::count(during.begin(), during.end(), "anon_inode:[pidfd]"),
            std::count(before.begin(), before.end(), "anon_inode:[pidfd]") + 1);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  p.reset();
  // Let the background readers see their descriptors closed and finish.
  for (int i = 0; i < 3; ++i) krt::testing::run_on(ctx_, krt::reactor::yield());
  auto after = open_descriptors();
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, before);
}

TEST_F(ProcessTest, RunsManyAtOnce) {
  std::vector<std::unique_ptr<child_process>> procs;
  for (int i = 0; i < 8; ++i) {
    procs.push_back(start(sh("echo proc-" + std::to_string(i) + "; exit " + std::to_string(i))));
    ASSERT_TRUE(procs.back());
  }
  for (int i = 7; i >= 0; --i) EXPECT_EQ(run_value(ctx_, procs[static_cast<std::size_t>(i)]->wait()), i);
  EXPECT_EQ(messages_of(records(log_path()), "stdout").size(), 8u);
}


// Containers in a cgroup of their own (cgroup.hpp): what leaves the process
// group or session still dies with the container. CI runs as root, where a
// cgroup v2 hierarchy is writable; elsewhere these say why they skip.
class CgroupProcessTest : public ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    auto tree = cgroup_tree::open("krt-process-test-" + std::to_string(::getpid()));
    if (!tree) GTEST_SKIP() << "no writable cgroup v2 hierarchy: " << tree.error();
    tree_.emplace(std::move(*tree));
  }
  void TearDown() override {
    if (tree_) {
      tree_->sweep();
      tree_->close();
    }
    ProcessTest::TearDown();
  }
  process_spec in_cgroup(const std::string& script, const std::string& name = "c") {
    process_spec spec = sh(script);
    auto cg = tree_->create(name);
    EXPECT_TRUE(cg) << (cg ? "" : cg.error());
    if (cg) spec.cgroup = *cg;
    return spec;
  }
  std::optional<cgroup_tree> tree_;
};

TEST_F(CgroupProcessTest, TheChildStartsInsideItsCgroup) {
  auto spec = in_cgroup("cat /proc/self/cgroup | grep '^0::'; sleep 1000");
  std::string dir = spec.cgroup;
  auto p = start(spec);
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("0::"));
  auto pids = cgroup_pids(dir);
  EXPECT_NE(std::find(pids.begin(), pids.end(), p->pid()), pids.end());
  // The path the child printed ends with our cgroup's directory name.
  EXPECT_NE(read_file(log_path()).find("/" + fs::path(dir).parent_path().filename().string() + "/c"),
            std::string::npos);
  run_value(ctx_, p->terminate(0ms));
}

TEST_F(CgroupProcessTest, DescendantsInOtherSessionsDieWhenTheLeaderExits) {
  // setsid puts the grandchild in a session and group of its own, as a
  // Runtime Server does with each Run: only the cgroup still finds it.
  auto spec = in_cgroup("setsid sleep 1000 & echo \"escaped $!\"; sleep 0.2");
  std::string dir = spec.cgroup;
  auto p = start(spec);
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("escaped"));
  pid_t gc = pid_after(log_path(), "escaped");
  ASSERT_GT(gc, 0);
  EXPECT_EQ(run_value(ctx_, p->wait()), 0);
  EXPECT_TRUE(becomes_gone(gc));
  // And the cgroup itself goes once it is empty.
  bool removed = false;
  for (int i = 0; i < 1500 && !removed; ++i) {
    run_value(ctx_, [](asio::io_context& ctx) -> awaitable<int> {
      asio::steady_timer t(ctx, 10ms);
      co_await t.async_wait(use_nothrow);
      co_return 0;
    }(ctx_));
    removed = !fs::exists(dir);
  }
  EXPECT_TRUE(removed) << dir;
}

TEST_F(CgroupProcessTest, ASigkilledLeaderTakesItsEscapedDescendants) {
  // What issue #13 found: a killed Runtime Server's Run kept running.
  auto p = start(in_cgroup("setsid sh -c 'trap \"\" TERM; sleep 1000' & echo \"escaped $!\"; wait"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("escaped"));
  pid_t gc = pid_after(log_path(), "escaped");
  ASSERT_GT(gc, 0);
  ::kill(p->pid(), SIGKILL);
  exit_info info = run_value(ctx_, p->wait_info());
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_TRUE(becomes_gone(gc));
}

TEST_F(CgroupProcessTest, SignalGroupReachesEveryProcessOfTheCgroup) {
  // The leader waits for the escaped process to report before it exits
  // itself: its exit would kill the cgroup, maybe before the report.
  auto p = start(in_cgroup("setsid sh -c 'trap \"echo got-usr1; exit 0\" USR1; echo waiting; while :; do sleep 0.05; done' & "
                           "trap 'wait; exit 3' USR1; while :; do sleep 0.05; done"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("waiting"));
  p->signal_group(SIGUSR1);
  EXPECT_TRUE(log_has("got-usr1"));
  EXPECT_EQ(run_value(ctx_, p->wait()), 3);
}

TEST_F(CgroupProcessTest, DestructorKillsTheWholeCgroup) {
  auto spec = in_cgroup("setsid sleep 1000 & echo \"escaped $!\"; sleep 1000");
  std::string dir = spec.cgroup;
  auto p = start(spec);
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("escaped"));
  pid_t gc = pid_after(log_path(), "escaped");
  p.reset();
  EXPECT_TRUE(becomes_gone(gc));
  // cgroup.kill signals at once; the processes leave the cgroup as the
  // kernel tears them down, a moment later under load.
  bool empty = false;
  for (int i = 0; i < 1000 && !(empty = cgroup_empty(dir)); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(empty) << dir;
}

TEST_F(CgroupProcessTest, ExecErrorsAreReportedAsWithoutACgroup) {
  auto spec = in_cgroup("");
  fs::path noexec = dir_ / "not-executable";
  std::ofstream(noexec) << "#!/bin/sh\n";
  ::chmod(noexec.c_str(), 0644);
  spec.argv = {noexec.string()};
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("exec " + noexec.string() + " failed: Permission denied"), std::string::npos) << p.error();
}

TEST_F(CgroupProcessTest, AMissingCgroupIsAnError) {
  auto spec = sh("exit 0");
  spec.cgroup = tree_->path() + "/does-not-exist";
  auto p = child_process::spawn(ctx_.get_executor(), spec);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("joining cgroup " + spec.cgroup + " failed"), std::string::npos) << p.error();
}

TEST_F(CgroupProcessTest, SweepKillsWhatANodeLeftBehind) {
  auto spec = in_cgroup("setsid sleep 1000 & echo \"escaped $!\"; sleep 1000", "left");
  auto p = start(spec);
  ASSERT_TRUE(p);
  ASSERT_TRUE(log_has("escaped"));
  pid_t gc = pid_after(log_path(), "escaped");
  EXPECT_GE(tree_->sweep(), 2u);
  EXPECT_EQ(run_value(ctx_, p->wait_info()).signal, SIGKILL);
  EXPECT_TRUE(becomes_gone(gc));
  // Removed by the sweep, or by the handle once its leader was reaped.
  bool removed = false;
  for (int i = 0; i < 1000 && !(removed = !fs::exists(spec.cgroup)); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(removed) << spec.cgroup;
}

TEST(CgroupTree, RefusesNamesThatAreNotOneComponent) {
  EXPECT_FALSE(cgroup_tree::open("a/b"));
  EXPECT_FALSE(cgroup_tree::open(".."));
  EXPECT_FALSE(cgroup_tree::open(""));
}

}  // namespace
}  // namespace krt::local::node
