// The per-Run workspace (SPEC.md §4 "Workspace", "Execute request").
#include "sidecar/prep/workspace.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "lib/core/strings.hpp"

extern char** environ;

namespace krt::runtimed {
namespace {

namespace fs = std::filesystem;

// A uid usable as one path component under the root.
bool valid_uid(std::string_view uid) {
  return !uid.empty() && uid != "." && uid != ".." && uid.find('/') == std::string_view::npos &&
         uid.find('\0') == std::string_view::npos;
}

std::string errno_text(int e) { return std::strerror(e); }

// Lexical cleaning as Go's path.Clean: collapses "//", "." and "x/..".
std::string clean_path(std::string_view p) {
  const bool absolute = !p.empty() && p.front() == '/';
  std::vector<std::string_view> parts;
  for (std::string_view seg : split(p, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!absolute) {
        parts.push_back(seg);
      }
      continue;
    }
    parts.push_back(seg);
  }
  std::string out = absolute ? "/" : "";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  if (out.empty()) out = ".";
  return out;
}

bool allowed_repo_url(std::string_view url, bool allow_file) {
  if (url.starts_with("https://") || url.starts_with("ssh://")) return url.size() > 8;
  if (url.starts_with("git@")) {
    const std::size_t colon = url.find(':');
    return colon != std::string_view::npos && colon > 4 && colon + 1 < url.size() &&
           url.substr(4, colon - 4).find('/') == std::string_view::npos;
  }
  return allow_file && url.starts_with("file://") && url.size() > 7;
}

// The outcome of one child process run to completion (or killed).
struct command_result {
  bool started = false;
  bool timed_out = false;
  int status = 0;      // waitpid status
  std::string output;  // combined stdout and stderr: the first max_output bytes
  std::string error;   // why it could not start
};

// Starts argv (argv[0] searched on PATH) as the leader of a new process group,
// with GIT_TERMINAL_PROMPT=0, stdin from /dev/null and stdout+stderr into
// `out_fd`. posix_spawn keeps this safe in a multi-threaded process.
krt::result<pid_t, std::string> spawn_child(const std::vector<std::string>& argv, int out_fd) {
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    if (!kv.starts_with("GIT_TERMINAL_PROMPT=")) env_strings.emplace_back(kv);
  }
  env_strings.emplace_back("GIT_TERMINAL_PROMPT=0");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGCHLD);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argp[0], &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return krt::unexpected("start " + argv[0] + ": " + errno_text(rc));
  return pid;
}

// Reads `fd` until EOF or the deadline, keeping the first max_output bytes.
// Returns false when the deadline passed first.
bool drain_until(int fd, std::chrono::steady_clock::time_point deadline, std::size_t max_output,
                 std::string& output, bool& truncated) {
  char buf[8192];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return true;
    if (n <= 0) continue;
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) return true;
    // Keep the head (where git's fatal line usually is) and drop the rest.
    const auto got = static_cast<std::size_t>(r);
    const std::size_t take = std::min(got, max_output - std::min(output.size(), max_output));
    output.append(buf, take);
    if (take < got) truncated = true;
  }
}

// Runs argv to completion; at the deadline the whole process group is killed.
command_result run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                           std::size_t max_output) {
  command_result res;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    res.error = "pipe: " + errno_text(errno);
    return res;
  }
  auto pid = spawn_child(argv, pipefd[1]);
  ::close(pipefd[1]);
  if (!pid) {
    ::close(pipefd[0]);
    res.error = pid.error();
    return res;
  }
  res.started = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool truncated = false;
  res.timed_out = !drain_until(pipefd[0], deadline, max_output, res.output, truncated);
  ::close(pipefd[0]);
  if (truncated) res.output += "\n[git output truncated]";

  // Wait for the leader to exit without reaping it, so its pid (the group id)
  // cannot be reused before the group is killed.
  while (!res.timed_out) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(*pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR)
      break;
    if (info.si_pid == *pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      res.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(-*pid, SIGKILL);  // on a timeout everything; otherwise leftovers (none normally)
  res.status = -1;         // stays so (not an exit) if the child cannot be waited for
  while (::waitpid(*pid, &res.status, 0) < 0 && errno == EINTR) {
  }
  return res;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal: ") + ::strsignal(WTERMSIG(status));
  return "unknown status";
}

// "" on success, else "<what>: <why>".
std::string run_git(std::string_view what, const std::vector<std::string>& argv, std::chrono::seconds timeout,
                    std::size_t max_output) {
  const command_result r = run_command(argv, timeout, max_output);
  if (!r.started) return std::string(what) + ": " + r.error;
  if (r.timed_out) {
    return std::string(what) + ": timed out after " + std::to_string(timeout.count()) + "s";
  }
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) return "";
  std::string msg = std::string(what) + ": " + describe_exit(r.status);
  const std::string_view out = trim(r.output);
  if (!out.empty()) {
    msg += ": ";
    msg += out;
  }
  return msg;
}

// Total bytes of regular files under dir (symlinks not followed), or nullopt on an error.
std::optional<std::uint64_t> regular_bytes(const fs::path& dir, std::uint64_t stop_after) {
  std::error_code ec;
  std::uint64_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) return std::nullopt;
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return std::nullopt;
    const fs::file_status st = it->symlink_status(ec);
    if (ec) return std::nullopt;
    if (fs::is_regular_file(st)) {
      total += it->file_size(ec);
      if (ec) return std::nullopt;
      if (total > stop_after) return total;
    }
  }
  if (ec) return std::nullopt;
  return total;
}

krt::result<void, std::string> write_file(const std::string& path, std::string_view content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return krt::unexpected(path + ": " + errno_text(errno));
  std::size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return krt::unexpected(path + ": " + errno_text(e));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) {  // the umask must not narrow it
    const int e = errno;
    ::close(fd);
    return krt::unexpected(path + ": " + errno_text(e));
  }
  if (::close(fd) != 0) return krt::unexpected(path + ": " + errno_text(errno));
  return {};
}

krt::result<void, std::string> make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    return krt::unexpected(path + ": " + errno_text(errno));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return krt::unexpected(path + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode)) return krt::unexpected(path + ": not a directory");
  if (::chmod(path.c_str(), mode) != 0) return krt::unexpected(path + ": " + errno_text(errno));
  return {};
}

// Clones the Run's repository into <run_dir>/repo (checking out commitSHA
// when set) and returns that directory.
krt::result<std::string, std::string> clone_source(const api::run_source& src, const std::string& run_dir,
                                                   const workspace_options& o) {
  const std::string& url = *src.repo_url;
  if (!allowed_repo_url(url, o.allow_file_urls)) {
    return krt::unexpected(
        std::string("git clone: repository URL must start with https://, ssh:// or git@host:path"));
  }
  const std::string sha = src.commit_sha.value_or("");
  if (!sha.empty() && (sha.front() == '-' || sha.find_first_of(" \t\r\n") != std::string::npos)) {
    return krt::unexpected("git checkout: invalid commitSHA \"" + sha + "\"");
  }
  const std::string repo = (fs::path(run_dir) / "repo").string();
  std::error_code ec;
  fs::remove_all(repo, ec);  // a re-prepared workspace clones afresh
  if (ec) return krt::unexpected("git clone: remove " + repo + ": " + ec.message());
  std::vector<std::string> clone{o.git, "clone", "--quiet"};
  if (sha.empty()) clone.emplace_back("--depth=1");
  clone.emplace_back("--");
  clone.push_back(url);
  clone.push_back(repo);
  if (auto err = run_git("git clone", clone, o.clone_timeout, o.max_command_output); !err.empty()) {
    fs::remove_all(repo, ec);
    return krt::unexpected(std::move(err));
  }
  if (!sha.empty()) {
    const std::vector<std::string> checkout{o.git,      "-C",      repo, "-c", "advice.detachedHead=false",
                                            "checkout", "--quiet", sha};
    if (auto err = run_git("git checkout", checkout, o.checkout_timeout, o.max_command_output);
        !err.empty()) {
      return krt::unexpected(std::move(err));
    }
  }
  const auto bytes = regular_bytes(repo, o.max_repo_bytes);
  if (!bytes) return krt::unexpected("git clone: could not measure the cloned repository " + repo);
  if (*bytes > o.max_repo_bytes) {
    fs::remove_all(repo, ec);
    return krt::unexpected("git clone: repository is larger than " + std::to_string(o.max_repo_bytes) +
                           " bytes of files");
  }
  return repo;
}

}  // namespace

krt::result<std::string, std::string> clean_entrypoint(std::string_view entrypoint) {
  if (entrypoint.empty()) return std::string("script");
  const std::string cleaned = clean_path(entrypoint);
  if (entrypoint.front() == '/' || cleaned == ".." || cleaned.starts_with("../")) {
    return krt::unexpected("invalid entrypoint \"" + std::string(entrypoint) +
                           "\": it must be a relative path that does not leave the working directory");
  }
  return cleaned;
}

krt::result<workspace, std::string> prepare_workspace(const api::run& r, const workspace_options& o) {
  const std::string& uid = r.metadata.uid;
  if (!valid_uid(uid)) return krt::unexpected("mkdir: invalid Run uid \"" + uid + "\"");
  workspace ws;
  ws.run_dir = (fs::path(o.root) / uid).string();
  {
    std::error_code ec;
    fs::create_directories(o.root, ec);
    if (ec) return krt::unexpected("mkdir: " + o.root + ": " + ec.message());
    if (auto made = make_dir(ws.run_dir, 0755); !made) return krt::unexpected("mkdir: " + made.error());
  }

  const auto& src = r.spec.source;
  const bool is_inline = src && src->inline_.has_value();
  const bool is_git = src && !is_inline && src->repo_url.has_value() && !src->repo_url->empty();

  if (is_inline) {
    ws.entrypoint = "script";
  } else {
    std::string_view ep;
    if (r.spec.mode && r.spec.mode->task) {
      ep = r.spec.mode->task->entrypoint;
      ws.args = r.spec.mode->task->args;
    }
    auto cleaned = clean_entrypoint(ep);
    if (!cleaned) return krt::unexpected(cleaned.error());
    ws.entrypoint = std::move(*cleaned);
  }

  ws.working_dir = ws.run_dir;
  if (is_inline) {
    if (auto w = write_file((fs::path(ws.run_dir) / "script").string(), *src->inline_, 0644); !w) {
      return krt::unexpected("write inline: " + w.error());
    }
  } else if (is_git) {
    auto repo = clone_source(*src, ws.run_dir, o);
    if (!repo) return krt::unexpected(std::move(repo).error());
    ws.working_dir = std::move(*repo);
  }

  ws.outputs_path = (fs::path(ws.working_dir) / "outputs").string();
  if (::unlink(ws.outputs_path.c_str()) != 0 && errno != ENOENT) {
    return krt::unexpected("remove outputs: " + ws.outputs_path + ": " + errno_text(errno));
  }
  if (o.artifacts) {
    ws.artifacts_dir = (fs::path(ws.run_dir) / "artifacts").string();
    std::error_code ec;
    fs::remove_all(ws.artifacts_dir, ec);
    if (ec) return krt::unexpected("mkdir: remove " + ws.artifacts_dir + ": " + ec.message());
    if (auto made = make_dir(ws.artifacts_dir, 0750); !made) return krt::unexpected("mkdir: " + made.error());
  }
  return ws;
}

void remove_workspace(const workspace_options& o, std::string_view uid) {
  if (!valid_uid(uid) || o.root.empty()) return;
  std::error_code ec;
  fs::remove_all(fs::path(o.root) / std::string(uid), ec);
}

}  // namespace krt::runtimed
