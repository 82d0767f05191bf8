#include "local/node/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "local/node/cgroup.hpp"
#include "local/node/logs.hpp"

extern char** environ;

namespace krt::local::node {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The kubelet's PATH for a container whose environment sets none.
constexpr std::string_view default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Most bytes the handle's destructor reads from a pipe before giving up on a
// writer that escaped the group and keeps writing.
constexpr std::size_t max_final_drain = 4 * 1024 * 1024;
constexpr std::size_t read_chunk = 64 * 1024;

std::string error_text(int err) { return std::system_category().message(err); }

// An owned descriptor for spawn(); release() hands it on.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

void write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    // A full disk loses log lines, never the process.
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// `p` as an absolute path, relative ones taken from `dir` (or our cwd), so
// the stat() checks here and the child's exec after chdir see the same file.
std::string absolute_in(const std::string& dir, const std::string& p) {
  if (!p.empty() && p.front() == '/') return p;
  std::error_code ec;
  fs::path base = dir.empty() ? fs::current_path(ec) : fs::absolute(dir, ec);
  return (base / p).string();
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

bool is_executable_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

// The command's path: argv[0] itself if it has a '/', else the first
// executable regular file of that name in the PATH of spec.env.
result<std::string, std::string> resolve_executable(const process_spec& spec) {
  const std::string& cmd = spec.argv.front();
  if (cmd.empty()) return unexpected(std::string("executable not found: \"\""));
  if (cmd.find('/') != std::string::npos) {
    std::string path = absolute_in(spec.working_dir, cmd);
    if (!exists(path)) return unexpected("executable not found: " + cmd);
    return path;
  }
  std::string_view search = default_path;
  for (const auto& kv : spec.env)
    if (kv.starts_with("PATH=")) search = std::string_view(kv).substr(5);
  std::string_view rest = search;
  for (;;) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string candidate = absolute_in(spec.working_dir, (dir.empty() ? std::string(".") : dir) + "/" + cmd);
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return unexpected("executable not found: " + cmd + " (PATH=" + std::string(search) + ")");
}

result<unique_fd, std::string> open_log(const std::string& path) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return unexpected("cannot open log file " + path + ": " + error_text(errno));
  return unique_fd(fd);
}

// A pipe whose read end (ours) is non-blocking and whose write end (the
// child's) is blocking, both CLOEXEC and above 2 so the child's dup2s onto
// 0..2 cannot clobber one another.
result<std::pair<unique_fd, unique_fd>, std::string> make_output_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return unexpected("pipe: " + error_text(errno));
  unique_fd ends[2] = {unique_fd(fds[0]), unique_fd(fds[1])};
  for (auto& end : ends) {
    if (end.get() > 2) continue;
    int moved = ::fcntl(end.get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) return unexpected("fcntl: " + error_text(errno));
    end = unique_fd(moved);
  }
  int flags = ::fcntl(ends[0].get(), F_GETFL);
  if (flags < 0 || ::fcntl(ends[0].get(), F_SETFL, flags | O_NONBLOCK) != 0)
    return unexpected("fcntl: " + error_text(errno));
  return std::pair<unique_fd, unique_fd>(std::move(ends[0]), std::move(ends[1]));
}

// A null-terminated array of pointers into `v`, for exec (which takes
// char* const* but does not write through them).
std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn: glibc's runs the child on a CLONE_VFORK stack with only
// async-signal-safe code and returns the exec errno to us, so a failed exec
// is an error here rather than a process that exits 127.
class spawn_request {
 public:
  spawn_request() {
    ::posix_spawn_file_actions_init(&actions_);
    ::posix_spawnattr_init(&attr_);
  }
  ~spawn_request() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  spawn_request(const spawn_request&) = delete;
  spawn_request& operator=(const spawn_request&) = delete;

  result<pid_t, std::string> run(const std::string& exe, const process_spec& spec, int out_fd, int err_fd) {
    int rc = ::posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions_, out_fd, 1);
    if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions_, err_fd, 2);
    if (rc == 0 && !spec.working_dir.empty())
      rc = ::posix_spawn_file_actions_addchdir_np(&actions_, spec.working_dir.c_str());
    // Descriptors another thread opened without O_CLOEXEC must not leak either.
    if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&actions_, 3);
    // A new session makes the child the leader of its own process group.
    // The shard's blocked signals and ignored SIGPIPE must not be inherited.
    sigset_t none;
    sigset_t defaults;
    ::sigemptyset(&none);
    ::sigfillset(&defaults);
    ::sigdelset(&defaults, SIGKILL);
    ::sigdelset(&defaults, SIGSTOP);
    if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr_, &none);
    if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr_, &defaults);
    if (rc == 0)
      rc = ::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc != 0) return unexpected("posix_spawn setup: " + error_text(rc));

    std::vector<char*> argv = c_strings(spec.argv);
    std::vector<char*> envp = c_strings(spec.env);
    pid_t pid = -1;
    rc = ::posix_spawn(&pid, exe.c_str(), &actions_, &attr_, argv.data(), envp.data());
    if (rc != 0) return unexpected("exec " + exe + " failed: " + error_text(rc));
    return pid;
  }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// The child side of spawn_in_cgroup(), between fork() and exec: only
// async-signal-safe calls (the parent has other threads). Reports a failure
// as {stage, errno} on `report_fd` (stage 0: joining the cgroup, 1: exec).
[[noreturn]] void exec_child(int procs_fd, int report_fd, int out_fd, int err_fd, const char* exe, char* const* argv,
                             char* const* envp, const char* working_dir) {
  auto fail = [report_fd](int stage) {
    int msg[2] = {stage, errno};
    ssize_t n = ::write(report_fd, msg, sizeof msg);
    (void)n;
    ::_exit(127);
  };
  // "0" moves the writer: from here on everything this process starts is
  // in the container's cgroup, before any of its code has run.
  if (::write(procs_fd, "0", 1) != 1) fail(0);
  ::setsid();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) fail(1);
  if (working_dir != nullptr && ::chdir(working_dir) != 0) fail(1);
  // Every other descriptor goes; the report pipe closes itself on exec.
  if (report_fd > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(report_fd - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(report_fd + 1), ~0u, 0u);
  ::execve(exe, argv, envp);
  fail(1);
  ::_exit(127);  // not reached: fail() exits
}

// Like spawn_request::run, with the child joining `spec.cgroup` first. A
// fork() rather than posix_spawn: glibc 2.36 has no way to give a spawned
// child a cgroup, and moving it in after the exec would let a fast
// grandchild start outside.
result<pid_t, std::string> spawn_in_cgroup(const std::string& exe, const process_spec& spec, int out_fd, int err_fd) {
  unique_fd procs(::open((spec.cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (procs.get() < 0) return unexpected("joining cgroup " + spec.cgroup + " failed: " + error_text(errno));
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return unexpected("pipe: " + error_text(errno));
  unique_fd report_r(report[0]), report_w(report[1]);
  std::vector<char*> argv = c_strings(spec.argv);
  std::vector<char*> envp = c_strings(spec.env);
  const char* wd = spec.working_dir.empty() ? nullptr : spec.working_dir.c_str();
  pid_t pid = ::fork();
  if (pid < 0) return unexpected("fork: " + error_text(errno));
  if (pid == 0)
    exec_child(procs.get(), report_w.get(), out_fd, err_fd, exe.c_str(), argv.data(), envp.data(), wd);
  report_w.reset();
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(report_r.get(), msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof msg)) return pid;  // EOF: the exec happened
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (msg[0] == 0) return unexpected("joining cgroup " + spec.cgroup + " failed: " + error_text(msg[1]));
  return unexpected("exec " + exe + " failed: " + error_text(msg[1]));
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

// Everything the background coroutines touch. They hold it by shared_ptr, so
// it outlives the handle until they have seen their descriptors closed.
// Affinity: per-shard (the executor given to spawn()).
struct child_process::state {
  struct output {
    output(const executor& ex, std::string_view name) : pipe_(ex), name_(name) {}
    asio::posix::stream_descriptor pipe_;
    std::string_view name_;  // "stdout" or "stderr"
    std::string pending_;    // the unfinished line, at most max_log_record bytes
    bool done_ = false;      // pipe closed and pending_ flushed
  };

  state(const executor& ex, pid_t pid, int log_fd, std::string cgroup)
      : ex_(ex),
        pid_(pid),
        cgroup_(std::move(cgroup)),
        pidfd_(ex),
        out_(ex, "stdout"),
        err_(ex, "stderr"),
        log_fd_(log_fd),
        drain_timer_(ex),
        reaped_ev_(ex),
        finished_ev_(ex) {}
  ~state() {
    if (log_fd_ >= 0) ::close(log_fd_);
  }

  static void start(const std::shared_ptr<state>& st);
  static void run_task(const std::shared_ptr<state>& st, awaitable<void> task, const char* what);
  static awaitable<void> watch_exit(std::shared_ptr<state> st);
  static awaitable<void> read_output(std::shared_ptr<state> st, bool is_stderr);
  static awaitable<exit_info> wait_finished(std::shared_ptr<state> st);
  static awaitable<int> wait_code(std::shared_ptr<state> st);
  static awaitable<int> terminate(std::shared_ptr<state> st, std::chrono::milliseconds grace);

  bool leader_exited() const;
  void reap();
  void signal_group(int sig) {
    if (reaped_) return;
    ::kill(-pid_, sig);
    if (!cgroup_.empty()) cgroup_signal(cgroup_, sig);
  }
  // Removes the cgroup once the processes killed in reap() have left it
  // (bounded; a leftover directory is swept at the node's next start).
  static awaitable<void> remove_cgroup(std::shared_ptr<state> st);
  void consume(output& o, const char* data, std::size_t n);
  void write_record(const output& o, std::string_view message, bool partial);
  void close_output(output& o);
  void drain_now(output& o);
  void finish();
  bool outputs_done() const { return out_.done_ && err_.done_; }

  executor ex_;
  pid_t pid_;
  std::string cgroup_;  // "" without one
  asio::posix::stream_descriptor pidfd_;
  output out_;
  output err_;
  int log_fd_;
  asio::steady_timer drain_timer_;  // cancelled when both outputs are done
  reactor::event reaped_ev_;
  reactor::event finished_ev_;
  bool reaped_ = false;
  bool finished_ = false;
  exit_info info_;
};

void child_process::state::run_task(const std::shared_ptr<state>& st, awaitable<void> task, const char* what) {
  // Not a task_group: the handle's destructor is synchronous and ends these
  // tasks by closing their descriptors; their frames keep the state alive.
  asio::co_spawn(st->ex_, std::move(task), [what](std::exception_ptr e) {
    if (e) reactor::report_unhandled_exception("child_process", what, e);
  });
}

void child_process::state::start(const std::shared_ptr<state>& st) {
  run_task(st, watch_exit(st), "watch exit");
  run_task(st, read_output(st, false), "read stdout");
  run_task(st, read_output(st, true), "read stderr");
}

// Whether the leader is a zombie, without reaping it (WNOWAIT). Checked
// before every wait on the pidfd: the reactor's edge-triggered epoll reports
// an exit that happened before the wait was queued only once.
bool child_process::state::leader_exited() const {
  siginfo_t si{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return si.si_pid != 0;
}

// Kills what is left of the group, then reaps the leader. While the leader is
// unreaped its pid (== pgid) cannot be reused, so the killpg cannot hit a
// stranger. Blocks only until a SIGKILLed leader is gone.
void child_process::state::reap() {
  // If someone else reaped our child (ECHILD), its pid may already be reused:
  // signal nothing.
  siginfo_t si{};
  bool lost = ::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD;
  if (!lost) ::kill(-pid_, SIGKILL);
  // The cgroup is exact even when the pid is not: everything the container
  // started, wherever it moved in the process tree, dies with it.
  if (!cgroup_.empty()) cgroup_kill(cgroup_);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ && WIFSIGNALED(status)) {
    info_.signal = WTERMSIG(status);
    info_.code = 128 + info_.signal;
  } else if (r == pid_) {
    info_.code = WEXITSTATUS(status);
  } else {
    info_.code = -1;  // reaped by someone else (SIGCHLD ignored?): status lost
  }
  reaped_ = true;
  error_code ignored;
  pidfd_.close(ignored);
  reaped_ev_.set();
}

awaitable<void> child_process::state::watch_exit(std::shared_ptr<state> st) {
  asio::steady_timer poll_timer(st->ex_);
  while (!st->reaped_) {
    if (st->leader_exited()) {
      st->reap();
      break;
    }
    if (st->pidfd_.is_open()) {
      auto [ec] = co_await st->pidfd_.async_wait(asio::posix::descriptor_base::wait_read, use_nothrow);
      if (ec && ec != asio::error::operation_aborted) {
        error_code ignored;
        st->pidfd_.close(ignored);  // fall back to polling
      }
    } else {
      // No pidfd (kernel < 5.3, or out of descriptors): poll.
      poll_timer.expires_after(100ms);
      auto [ec] = co_await poll_timer.async_wait(use_nothrow);
      (void)ec;
    }
  }
  if (!st->finished_) {
    if (!st->outputs_done()) {
      st->drain_timer_.expires_after(output_drain_limit);
      auto [ec] = co_await st->drain_timer_.async_wait(use_nothrow);
      (void)ec;
    }
    st->finish();
  }
  co_await remove_cgroup(st);
}

awaitable<void> child_process::state::remove_cgroup(std::shared_ptr<state> st) {
  if (st->cgroup_.empty()) co_return;
  asio::steady_timer timer(st->ex_);
  for (int i = 0; i < 2000 && !cgroup_empty(st->cgroup_); ++i) {
    timer.expires_after(5ms);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    (void)ec;
  }
  if (cgroup_remove(st->cgroup_)) st->cgroup_.clear();
}

awaitable<void> child_process::state::read_output(std::shared_ptr<state> st, bool is_stderr) {
  output& o = is_stderr ? st->err_ : st->out_;
  std::vector<char> buf(read_chunk);
  for (;;) {
    auto [ec, n] = co_await o.pipe_.async_read_some(asio::buffer(buf), use_nothrow);
    if (o.done_) {
      // finish() drained and closed the pipe while this read's completion
      // was queued: keep its bytes rather than lose them.
      if (n > 0) {
        st->consume(o, buf.data(), n);
        if (!o.pending_.empty()) st->write_record(o, o.pending_, false);
        o.pending_.clear();
      }
      co_return;
    }
    if (n > 0) st->consume(o, buf.data(), n);
    if (ec) break;
  }
  st->close_output(o);
  if (st->outputs_done()) st->drain_timer_.cancel();
}

void child_process::state::consume(output& o, const char* data, std::size_t n) {
  if (log_fd_ < 0) return;
  o.pending_.append(data, n);
  std::string_view rest = o.pending_;
  for (;;) {
    auto nl = rest.find('\n');
    if (nl != std::string_view::npos && nl <= max_log_record) {
      write_record(o, rest.substr(0, nl), false);
      rest.remove_prefix(nl + 1);
    } else if (rest.size() > max_log_record) {
      write_record(o, rest.substr(0, max_log_record), true);
      rest.remove_prefix(max_log_record);
    } else {
      break;
    }
  }
  o.pending_.erase(0, o.pending_.size() - rest.size());
}

void child_process::state::write_record(const output& o, std::string_view message, bool partial) {
  auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  write_fully(log_fd_, format_cri_record(now, o.name_, partial, message));
}

void child_process::state::close_output(output& o) {
  if (o.done_) return;
  o.done_ = true;
  if (!o.pending_.empty() && log_fd_ >= 0) write_record(o, o.pending_, false);
  o.pending_.clear();
  error_code ignored;
  o.pipe_.close(ignored);
}

// Reads what is already in the pipe (its read end is non-blocking) and
// closes it, which also ends the reader coroutine's pending read.
void child_process::state::drain_now(output& o) {
  if (o.done_) return;
  if (o.pipe_.is_open()) {
    std::vector<char> buf(read_chunk);
    std::size_t total = 0;
    while (total < max_final_drain) {
      ssize_t n = ::read(o.pipe_.native_handle(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      consume(o, buf.data(), static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
    }
  }
  close_output(o);
}

void child_process::state::finish() {
  if (finished_) return;
  drain_now(out_);
  drain_now(err_);
  drain_timer_.cancel();
  finished_ = true;
  finished_ev_.set();
}

awaitable<exit_info> child_process::state::wait_finished(std::shared_ptr<state> st) {
  while (!st->finished_) co_await st->finished_ev_.wait();
  co_return st->info_;
}

awaitable<int> child_process::state::wait_code(std::shared_ptr<state> st) {
  exit_info info = co_await wait_finished(st);
  co_return info.code;
}

awaitable<int> child_process::state::terminate(std::shared_ptr<state> st, std::chrono::milliseconds grace) {
  using namespace asio::experimental::awaitable_operators;
  if (!st->reaped_) {
    st->signal_group(SIGTERM);
    if (grace > std::chrono::milliseconds::zero()) {
      asio::steady_timer timer(st->ex_, grace);
      auto first = co_await (st->reaped_ev_.wait() || timer.async_wait(use_nothrow));
      (void)first;
    }
    st->signal_group(SIGKILL);
  }
  exit_info info = co_await wait_finished(st);
  co_return info.code;
}

result<std::unique_ptr<child_process>, std::string> child_process::spawn(executor ex, const process_spec& spec) {
  if (spec.argv.empty()) return unexpected(std::string("empty argv"));
  if (!spec.working_dir.empty()) {
    struct stat st {};
    if (::stat(spec.working_dir.c_str(), &st) != 0)
      return unexpected("working directory does not exist: " + spec.working_dir);
    if (!S_ISDIR(st.st_mode)) return unexpected("working directory is not a directory: " + spec.working_dir);
  }
  auto exe = resolve_executable(spec);
  if (!exe) return unexpected(std::move(exe).error());

  unique_fd log_fd;
  if (!spec.log_path.empty()) {
    auto opened = open_log(spec.log_path);
    if (!opened) return unexpected(std::move(opened).error());
    log_fd = std::move(*opened);
  }
  auto out_pipe = make_output_pipe();
  if (!out_pipe) return unexpected(std::move(out_pipe).error());
  auto err_pipe = make_output_pipe();
  if (!err_pipe) return unexpected(std::move(err_pipe).error());

  spawn_request request;
  auto pid = spec.cgroup.empty() ? request.run(*exe, spec, out_pipe->second.get(), err_pipe->second.get())
                                 : spawn_in_cgroup(*exe, spec, out_pipe->second.get(), err_pipe->second.get());
  if (!pid) return unexpected(std::move(pid).error());
  out_pipe->second.reset();
  err_pipe->second.reset();

  auto st = std::make_shared<state>(ex, *pid, log_fd.release(), spec.cgroup);
  // The handle exists from here on, so any failure below still kills and
  // reaps the child (its destructor).
  std::unique_ptr<child_process> handle(new child_process(st));
  error_code ec;
  st->out_.pipe_.assign(out_pipe->first.get(), ec);
  if (!ec) out_pipe->first.release();
  if (!ec) st->err_.pipe_.assign(err_pipe->first.get(), ec);
  if (!ec) err_pipe->first.release();
  if (ec) return unexpected("watching output pipes: " + ec.message());
  unique_fd pidfd(open_pidfd(*pid));
  if (pidfd.get() >= 0) {
    st->pidfd_.assign(pidfd.get(), ec);
    if (!ec) pidfd.release();  // else poll instead (watch_exit)
  }
  state::start(st);
  return handle;
}

int run_quietly(const std::vector<std::string>& argv) {
  if (argv.empty()) return -1;
  std::vector<char*> args = c_strings(argv);
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

child_process::child_process(std::shared_ptr<state> st) : state_(std::move(st)) {}

child_process::~child_process() {
  if (!state_->reaped_) state_->reap();
  state_->finish();
  // One try: watch_exit keeps trying if the killed processes linger.
  if (!state_->cgroup_.empty() && cgroup_empty(state_->cgroup_) && cgroup_remove(state_->cgroup_))
    state_->cgroup_.clear();
}

pid_t child_process::pid() const { return state_->pid_; }
bool child_process::running() const { return !state_->finished_; }
std::optional<exit_info> child_process::status() const {
  if (!state_->finished_) return std::nullopt;
  return state_->info_;
}

awaitable<int> child_process::wait() { return state::wait_code(state_); }
awaitable<exit_info> child_process::wait_info() { return state::wait_finished(state_); }
void child_process::signal_group(int sig) { state_->signal_group(sig); }
awaitable<int> child_process::terminate(std::chrono::milliseconds grace) { return state::terminate(state_, grace); }

}  // namespace krt::local::node
