#include "servers/engine/engine.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "lib/reactor/event.hpp"

extern char** environ;

namespace krt::servers {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// How long the output pipes may stay open after the group is gone (held by
// a descendant that left the group with setsid) before we stop reading.
constexpr auto output_drain_limit = 2000ms;
constexpr std::size_t read_chunk = 64 * 1024;

std::string error_text(int err) { return std::system_category().message(err); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void write_fully(int fd, const char* data, std::size_t n) {
  while (n > 0 && fd >= 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a full disk loses log bytes, never the execution
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// "signal: killed", "signal: terminated", ... (the wording runtimed's users
// know from the Go servers: the C library's description, first letter lower).
std::string signal_message(int sig) {
  const char* d = ::sigdescr_np(sig);
  std::string name = d ? d : "signal " + std::to_string(sig);
  if (!name.empty() && name[0] >= 'A' && name[0] <= 'Z') name[0] = static_cast<char>(name[0] - 'A' + 'a');
  return "signal: " + name;
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

// A pipe with our (read) end non-blocking, both ends CLOEXEC and above 2.
bool make_pipe(int (&fds)[2], std::string& err) {
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    err = "pipe: " + error_text(errno);
    return false;
  }
  for (int& fd : fds) {
    if (fd > 2) continue;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    fd = moved;
  }
  if (fds[0] < 0 || fds[1] < 0) {
    err = "pipe: " + error_text(errno);
    close_fd(fds[0]);
    close_fd(fds[1]);
    return false;
  }
  int flags = ::fcntl(fds[0], F_GETFL);
  ::fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
  return true;
}

// posix_spawnp in a new session with stdout/stderr on the given pipes.
// Returns the pid, or the error text (glibc reports a failed exec here).
result<pid_t, std::string> spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
                                 const std::string& dir, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  int rc = ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  if (rc == 0) rc = ::posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t none;
  sigset_t defaults;
  ::sigemptyset(&none);
  ::sigfillset(&defaults);
  ::sigdelset(&defaults, SIGKILL);
  ::sigdelset(&defaults, SIGSTOP);
  if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr, &defaults);
  if (rc == 0)
    rc = ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  std::string err;
  if (rc != 0) {
    err = "posix_spawn setup: " + error_text(rc);
  } else {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    rc = ::posix_spawnp(&pid, args.front().c_str(), &actions, &attr, argv.data(), envp.data());
    if (rc != 0) err = "start " + args.front() + ": " + error_text(rc);
  }
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (!err.empty()) return unexpected(std::move(err));
  return pid;
}

bool valid_id(const std::string& id) {
  return id != "." && id != ".." && id.find('/') == std::string::npos && id.find('\0') == std::string::npos;
}

}  // namespace

// One execution. Touched only on the engine's executor; its coroutines hold
// it by shared_ptr, so Forget may drop the map entry while they finish.
struct exec_engine::execution {
  struct output {
    explicit output(const executor& ex) : pipe(ex) {}
    asio::posix::stream_descriptor pipe;
    int log_fd = -1;
    bool done = true;  // no pipe yet
    bool truncated = false;
  };

  explicit execution(const executor& ex) : pidfd(ex), out(ex), err(ex), exited(ex), changed(ex) {}
  ~execution() {
    close_fd(out.log_fd);
    close_fd(err.log_fd);
  }

  output& stream(bool is_stderr) { return is_stderr ? err : out; }
  std::string& retained(bool is_stderr) { return is_stderr ? st.stderr_text : st.stdout_text; }

  execution_status st;
  std::int64_t timeout_seconds = 0;
  pid_t pid = -1;
  bool reaped = true;  // until a process is started
  int wait_status = 0;
  const char* kill_reason = nullptr;  // "timeout" | "cancelled"
  asio::posix::stream_descriptor pidfd;
  output out;
  output err;
  reactor::event exited;   // set when the leader has been reaped
  reactor::event changed;  // pulsed when an output closes
};

exec_engine::exec_engine(executor ex, engine_options opts)
    : ex_(ex), opts_(std::move(opts)), tasks_(ex, "executions") {
  if (opts_.interpreter.empty()) opts_.interpreter = opts_.kind == runtime_kind::bash ? "bash" : "python3";
  // A relative interpreter path must not be resolved inside each working dir.
  if (opts_.interpreter.find('/') != std::string::npos) opts_.interpreter = fs::absolute(opts_.interpreter).string();
  opts_.work_dir = fs::absolute(opts_.work_dir).lexically_normal().string();
}

exec_engine::~exec_engine() {
  // Without stop(): make sure nothing we started outlives us.
  for (auto& [id, e] : executions_) {
    if (e->reaped) continue;
    ::kill(-e->pid, SIGKILL);
    int status = 0;
    while (::waitpid(e->pid, &status, 0) < 0 && errno == EINTR) {
    }
    e->reaped = true;
  }
}

std::string exec_engine::log_path(const std::string& id, bool is_stderr) const {
  return opts_.work_dir + "/.logs/" + id + (is_stderr ? ".stderr" : ".stdout");
}

std::vector<std::string> exec_engine::merged_env(const execute_request& req) const {
  std::map<std::string, std::string> env;
  for (char** p = environ; p && *p; ++p) {
    std::string_view kv(*p);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  // The request's env overrides the container's; the reserved KRUNTIME_*
  // names are part of the request (runtimed puts them there), so they win too.
  for (const auto& [k, v] : req.env)
    if (!k.empty() && k.find('=') == std::string::npos) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

result<std::string, engine_error> exec_engine::execute(const execute_request& req) {
  if (req.id.empty()) return unexpected(engine_error{engine_errc::invalid_argument, "id is required"});
  if (!valid_id(req.id))
    return unexpected(engine_error{engine_errc::invalid_argument,
                                   "id \"" + req.id + "\" is not usable as a file name (no '/', not . or ..)"});
  if (stopping_) return unexpected(engine_error{engine_errc::unavailable, "the runtime server is shutting down"});
  // At-least-once delivery: a retained id is the same execution.
  if (executions_.count(req.id)) return req.id;

  auto e = std::make_shared<execution>(ex_);
  e->st.id = req.id;
  e->timeout_seconds = req.timeout_seconds;
  executions_[req.id] = e;
  start_process(e, req);
  return req.id;
}

void exec_engine::start_process(const std::shared_ptr<execution>& e, const execute_request& req) {
  auto fail = [&](std::string msg) {
    e->st.state = execution_state::failed;
    e->st.exit_code = 0;
    e->st.error_message = std::move(msg);
    publish(*e);
  };
  std::error_code ec;
  std::string dir;
  if (req.working_dir.empty()) {
    dir = opts_.work_dir + "/" + req.id;
    fs::create_directories(dir, ec);
    if (ec) return fail("mkdir " + dir + ": " + ec.message());
  } else {
    dir = fs::absolute(req.working_dir, ec).lexically_normal().string();
    struct stat sb {};
    if (::stat(dir.c_str(), &sb) != 0) return fail("working directory " + dir + ": " + error_text(errno));
    if (!S_ISDIR(sb.st_mode)) return fail("working directory " + dir + " is not a directory");
  }
  command_request creq{.kind = opts_.kind,
                       .interpreter = opts_.interpreter,
                       .working_dir = dir,
                       .entrypoint = req.entrypoint,
                       .args = req.args,
                       .handler = req.handler};
  auto argv = select_command(creq, regular_file_exists);
  if (!argv) return fail(std::move(argv).error());

  fs::create_directories(opts_.work_dir + "/.logs", ec);
  for (bool is_stderr : {false, true}) {
    std::string path = log_path(req.id, is_stderr);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return fail("open log file " + path + ": " + error_text(errno));
    e->stream(is_stderr).log_fd = fd;
  }
  int out_fds[2] = {-1, -1};
  int err_fds[2] = {-1, -1};
  std::string perr;
  if (!make_pipe(out_fds, perr)) return fail(perr);
  if (!make_pipe(err_fds, perr)) {
    close_fd(out_fds[0]);
    close_fd(out_fds[1]);
    return fail(perr);
  }
  auto pid = spawn(*argv, merged_env(req), dir, out_fds[1], err_fds[1]);
  close_fd(out_fds[1]);
  close_fd(err_fds[1]);
  if (!pid) {
    close_fd(out_fds[0]);
    close_fd(err_fds[0]);
    return fail(std::move(pid).error());
  }
  e->pid = *pid;
  e->reaped = false;
  e->out.pipe.assign(out_fds[0]);
  e->out.done = false;
  e->err.pipe.assign(err_fds[0]);
  e->err.done = false;
  int pidfd = open_pidfd(e->pid);
  if (pidfd >= 0) e->pidfd.assign(pidfd);  // else watch_exit polls
  e->st.state = execution_state::running;
  publish(*e);
  tasks_.spawn(run_one(e), "execution " + req.id);
}

awaitable<void> exec_engine::run_one(std::shared_ptr<execution> e) {
  using namespace asio::experimental::awaitable_operators;
  tasks_.spawn(read_output(e, false), "read stdout");
  tasks_.spawn(read_output(e, true), "read stderr");
  if (e->timeout_seconds > 0) tasks_.spawn(watch_timeout(e), "timeout");
  co_await watch_exit(e);

  // The group is gone; the pipes close unless a descendant that left the
  // group holds them. Give it a moment, then stop reading.
  auto deadline = std::chrono::steady_clock::now() + output_drain_limit;
  while (!(e->out.done && e->err.done) && std::chrono::steady_clock::now() < deadline) {
    asio::steady_timer t(ex_, deadline - std::chrono::steady_clock::now());
    co_await (e->changed.wait() || t.async_wait(use_nothrow));
  }
  finish(*e);
}

// Waits for the leader to exit, kills what is left of its group, reaps it.
awaitable<void> exec_engine::watch_exit(std::shared_ptr<execution> e) {
  asio::steady_timer poll(ex_);
  bool lost = false;
  for (;;) {
    // Checked before each wait: an exit that happened before the wait was
    // queued is reported only once by the edge-triggered reactor.
    siginfo_t si{};
    int rc = ::waitid(P_PID, static_cast<id_t>(e->pid), &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc != 0 && errno == EINTR) continue;
    if (rc != 0) {
      // Someone else reaped our child (SIGCHLD ignored?): its pid may be in
      // use again, so signal nothing.
      lost = true;
      break;
    }
    if (si.si_pid != 0) break;
    if (e->pidfd.is_open()) {
      auto [ec] = co_await e->pidfd.async_wait(asio::posix::descriptor_base::wait_read, use_nothrow);
      if (ec) {
        error_code ignored;
        e->pidfd.close(ignored);
      }
    } else {
      poll.expires_after(100ms);
      auto [ec] = co_await poll.async_wait(use_nothrow);
      (void)ec;
    }
  }
  e->wait_status = -1;
  if (!lost) {
    // The leader is a zombie, so its pid (== pgid) cannot be reused yet.
    ::kill(-e->pid, SIGKILL);
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(e->pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r == e->pid) e->wait_status = status;
    // Group members re-parented to us (we are PID 1 or a subreaper).
    while (::waitpid(-e->pid, &status, WNOHANG) > 0) {
    }
  }
  e->reaped = true;
  error_code ignored;
  e->pidfd.close(ignored);
  e->exited.set();
}

awaitable<void> exec_engine::read_output(std::shared_ptr<execution> e, bool is_stderr) {
  auto& o = e->stream(is_stderr);
  std::vector<char> buf(read_chunk);
  for (;;) {
    auto [ec, n] = co_await o.pipe.async_read_some(asio::buffer(buf), use_nothrow);
    if (e->st.terminal()) break;  // finish() gave up on this pipe
    if (n > 0) {
      write_fully(o.log_fd, buf.data(), n);
      std::string& kept = e->retained(is_stderr);
      if (!o.truncated) {
        std::size_t room = opts_.max_output_bytes - std::min(opts_.max_output_bytes, kept.size());
        if (n <= room) {
          kept.append(buf.data(), n);
        } else {
          kept.append(buf.data(), room);
          kept += truncation_marker;
          o.truncated = true;
        }
      }
    }
    if (ec || o.done) break;
  }
  o.done = true;
  error_code ignored;
  o.pipe.close(ignored);
  e->changed.notify_all();
}

awaitable<void> exec_engine::watch_timeout(std::shared_ptr<execution> e) {
  using namespace asio::experimental::awaitable_operators;
  // Capped at ten years so the deadline cannot overflow the clock.
  constexpr std::int64_t max_timeout = 10LL * 365 * 24 * 3600;
  asio::steady_timer t(ex_, std::chrono::seconds(std::min(e->timeout_seconds, max_timeout)));
  co_await (e->exited.wait() || t.async_wait(use_nothrow));
  if (!e->reaped) request_kill(e, "timeout");
}

void exec_engine::request_kill(const std::shared_ptr<execution>& e, const char* reason) {
  if (e->reaped || e->kill_reason) return;
  e->kill_reason = reason;
  tasks_.spawn(terminate(e), "terminate");
}

awaitable<void> exec_engine::terminate(std::shared_ptr<execution> e) {
  using namespace asio::experimental::awaitable_operators;
  if (e->reaped) co_return;
  ::kill(-e->pid, SIGTERM);
  if (opts_.grace_period.count() > 0) {
    asio::steady_timer t(ex_, opts_.grace_period);
    co_await (e->exited.wait() || t.async_wait(use_nothrow));
  }
  if (!e->reaped) ::kill(-e->pid, SIGKILL);
}

void exec_engine::finish(execution& e) {
  // Whatever is still in the pipes belongs to the output.
  for (bool is_stderr : {false, true}) {
    auto& o = e.stream(is_stderr);
    if (o.done) continue;
    o.done = true;  // the pending read's completion ends its coroutine
    error_code ignored;
    o.pipe.cancel(ignored);
  }
  int status = e.wait_status;
  if (e.kill_reason) {
    e.st.state = execution_state::failed;
    e.st.exit_code = -1;
    e.st.error_message = e.kill_reason;
  } else if (status == -1) {
    e.st.state = execution_state::failed;
    e.st.exit_code = -1;
    e.st.error_message = "exit status unknown: the process was reaped by someone else";
  } else if (WIFSIGNALED(status)) {
    e.st.state = execution_state::failed;
    e.st.exit_code = -1;
    e.st.error_message = signal_message(WTERMSIG(status));
  } else if (WEXITSTATUS(status) == 0) {
    e.st.state = execution_state::succeeded;
    e.st.exit_code = 0;
  } else {
    e.st.state = execution_state::failed;
    e.st.exit_code = WEXITSTATUS(status);
    e.st.error_message = "exit status " + std::to_string(e.st.exit_code);
  }
  close_fd(e.out.log_fd);
  close_fd(e.err.log_fd);
  publish(e);
}

void exec_engine::publish(const execution& e) {
  if (listeners_.empty()) return;
  execution_status s;
  if (e.st.terminal()) {
    s = e.st;
  } else {
    s.id = e.st.id;
    s.state = e.st.state;
  }
  // Listeners may unsubscribe others (not themselves) only via the next turn.
  auto copy = listeners_;
  for (auto& [token, fn] : copy) fn(s);
}

result<execution_status, engine_error> exec_engine::status(const std::string& id) const {
  auto it = executions_.find(id);
  if (it == executions_.end()) return unexpected(engine_error{engine_errc::not_found, "request " + id + " not found"});
  return it->second->st;
}

std::vector<execution_status> exec_engine::list() const {
  std::vector<execution_status> out;
  out.reserve(executions_.size());
  for (const auto& [id, e] : executions_) out.push_back(e->st);
  return out;
}

result<void, engine_error> exec_engine::cancel(const std::string& id) {
  auto it = executions_.find(id);
  if (it == executions_.end()) return unexpected(engine_error{engine_errc::not_found, "request " + id + " not found"});
  request_kill(it->second, "cancelled");
  return {};
}

result<void, engine_error> exec_engine::forget(const std::string& id) {
  auto it = executions_.find(id);
  if (it == executions_.end()) return unexpected(engine_error{engine_errc::not_found, "request " + id + " not found"});
  if (!it->second->st.terminal())
    return unexpected(engine_error{engine_errc::failed_precondition,
                                   "request " + id + " is still running; cancel it and wait for it to finish first"});
  executions_.erase(it);
  std::error_code ec;
  fs::remove(log_path(id, false), ec);
  fs::remove(log_path(id, true), ec);
  return {};
}

std::uint64_t exec_engine::subscribe(listener fn) {
  auto token = next_token_++;
  listeners_.emplace(token, std::move(fn));
  return token;
}

void exec_engine::unsubscribe(std::uint64_t token) { listeners_.erase(token); }

awaitable<void> exec_engine::stop() {
  stopping_ = true;
  for (auto& [id, e] : executions_) request_kill(e, "cancelled");
  co_await tasks_.drain();
  co_await tasks_.close();
}

}  // namespace krt::servers
