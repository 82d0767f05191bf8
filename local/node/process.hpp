#pragma once
// One container of a local Pod as a host process: start it, watch it, signal
// its process group, reap it, and append its stdout/stderr to a CRI log file
// (logs.hpp).
//
// Process model, as a container runtime would see it:
//  - The child leads a new session and process group (pgid == pid), so
//    signal_group() and terminate() reach every descendant that stays in it.
//  - When the leader exits, whatever is left of its group is killed with
//    SIGKILL before the leader is reaped, like the processes of a container
//    whose PID 1 exits.
//  - With spec.cgroup (a fresh cgroup v2 directory, cgroup.hpp) the child
//    joins that cgroup before it execs, so every descendant is in it, also
//    one that calls setsid() or setpgid(): signal_group() reaches them all,
//    and when the leader exits the whole cgroup is killed and then removed.
//    Without a cgroup such descendants escape (they outlive the container).
//  - stdin is /dev/null; stdout and stderr are pipes read by the shard
//    (no thread per child); no other descriptor is inherited; signal
//    dispositions and the signal mask are reset to the defaults (except that
//    glibc's posix_spawn leaves its internal signals 32 and 33 ignored).
//  - The environment is exactly spec.env. A command without '/' is looked up
//    in the PATH of spec.env (or the kubelet's default PATH); a relative
//    command with '/' is relative to working_dir.
//
// Exit detection: a pidfd (pidfd_open, Linux >= 5.3) in a stream_descriptor
// waited on for readability by the shard's reactor (without a pidfd, a
// 100 ms poll). Before each wait, waitid(WNOWAIT|WNOHANG) checks whether the
// leader is already a zombie; once it is, the group is killed and waitpid
// reaps the leader without blocking. No SIGCHLD handler is installed and
// nothing else may reap our children (SIGCHLD must not be SIG_IGN).
//
// Affinity: per-shard. spawn(), every member and the destructor run on the
// executor given to spawn(). Destroy the handle before its io_context.
// Lifetime: the handle owns the process. Its destructor kills the group with
// SIGKILL and reaps the leader (a blocking waitpid that returns as soon as the
// kernel has delivered the SIGKILL), flushes the output already in the pipes
// to the log, and ends the background readers. Coroutines still inside
// wait() or terminate() then complete with the exit status.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::local::node {

struct process_spec {
  std::vector<std::string> argv;  // argv[0] is the command
  std::vector<std::string> env;   // "K=V", the complete environment
  std::string working_dir;        // "" keeps ours
  std::string log_path;           // CRI-format log file, appended; "" discards output
  // A cgroup v2 directory (empty, writable) the process starts in; the
  // handle owns it from then on and removes it once everything in it died.
  // "" keeps ours.
  std::string cgroup;
};

struct exit_info {
  int code = 0;    // exit status, or 128 + signal for a signal death; -1 if
                   // something else reaped the child (status unknown)
  int signal = 0;  // the terminating signal, 0 for a normal exit
};

class child_process {
 public:
  // Starts the process. Errors (nothing is left running):
  //   "empty argv"
  //   "working directory does not exist: <dir>" / "... is not a directory: <dir>"
  //   "executable not found: <argv[0]>" (with the PATH searched, if any)
  //   "cannot open log file <path>: <reason>"
  //   "exec <path> failed: <reason>" (e.g. permission denied, exec format
  //   error), reported by the child before it would have run anything.
  //   "joining cgroup <dir> failed: <reason>", likewise.
  static result<std::unique_ptr<child_process>, std::string> spawn(executor ex, const process_spec& spec);

  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const;
  // True until the process has exited and its output has been flushed, i.e.
  // until wait() would complete at once.
  bool running() const;
  // The exit status once running() is false.
  std::optional<exit_info> status() const;

  // Waits for the exit and returns exit_info::code. Any number of waiters;
  // after the leader exits, waits up to output_drain_limit for the pipes to
  // close so the log is complete when wait() returns.
  // No deadline of its own: race it with a timer. Cancellation: throws
  // boost::system::system_error(operation_aborted) (the process runs on).
  awaitable<int> wait();
  awaitable<exit_info> wait_info();

  // Sends `sig` to the whole process group (and, with a cgroup, to every
  // process in it); a no-op once the leader has been reaped (its group and
  // cgroup were killed then).
  void signal_group(int sig);

  // SIGTERM to the group, up to `grace` for the leader to exit, then SIGKILL
  // to the group; returns the exit code (143 or 137 if signals ended it).
  // Members left after the leader exits are killed as described above.
  // Cancellation: as wait(); the SIGTERM has been sent.
  awaitable<int> terminate(std::chrono::milliseconds grace);

  // How long wait() lets descendants that escaped the group keep the output
  // pipes open after the leader exits before it stops reading them.
  static constexpr std::chrono::milliseconds output_drain_limit{2000};

 private:
  struct state;
  explicit child_process(std::shared_ptr<state> st);
  std::shared_ptr<state> state_;
};

// Runs `argv` (argv[0] looked up in PATH) with stdin, stdout and stderr on
// /dev/null and our environment, and waits for it: the exit status, or -1
// when it could not run or died of a signal. Blocking: for command-line
// tools and rare cleanup paths, never a shard's hot path.
int run_quietly(const std::vector<std::string>& argv);

}  // namespace krt::local::node
