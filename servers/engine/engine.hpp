#pragma once
// The execution engine shared by the built-in Runtime Servers: starts one
// process per Execute request, retains its state and output until Forget,
// and tells listeners about every state change (the push extension).
//
// Process model:
//  - posix_spawnp with POSIX_SPAWN_SETSID: every execution leads its own
//    session and process group; stdin is /dev/null; stdout and stderr are
//    pipes read by this shard (no thread per child); no other descriptor is
//    inherited; signal mask and dispositions are reset.
//  - Exit detection with a pidfd watched by the reactor (100 ms polling
//    without one). Before the leader is reaped, whatever is left of its group
//    is killed with SIGKILL, so no orphan keeps running; group members that
//    were re-parented to us (we are PID 1 in a container) are reaped too.
//  - Timeout and Cancel: SIGTERM to the group, SIGKILL after the grace period.
//  - Environment: the server's own environment, overridden by the request's
//    env (so the reserved KRUNTIME_* names the request carries win as well).
//  - Output: appended in full to <work-dir>/.logs/<id>.stdout|.stderr while
//    running; at most max_output_bytes of each are retained for Status,
//    followed by "\n[output truncated]\n" when cut.
//
// Affinity: per-shard. Construct, call and destroy on the executor given at
// construction. Listeners are called on that executor.
// Lifetime: call stop() (awaitable) before destroying the engine when any
// execution was started.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/reactor/asio.hpp"
#include "lib/reactor/task_group.hpp"
#include "servers/engine/command.hpp"

namespace krt::servers {

// Mirrors executor.v1.ExecutionState (same numbers).
enum class execution_state { unspecified = 0, pending = 1, running = 2, succeeded = 3, failed = 4 };

struct execution_status {
  std::string id;
  execution_state state = execution_state::unspecified;
  int exit_code = 0;
  std::string stdout_text;  // retained output (capped)
  std::string stderr_text;
  std::string error_message;

  bool terminal() const { return state == execution_state::succeeded || state == execution_state::failed; }
};

struct execute_request {
  std::string id;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::int64_t timeout_seconds = 0;
  std::string working_dir;
  std::string entrypoint;
  std::string handler;
};

// Error codes of the engine's calls; the gRPC layer maps them 1:1 onto
// grpc::StatusCode.
enum class engine_errc { invalid_argument, not_found, failed_precondition, unavailable };

struct engine_error {
  engine_errc code;
  std::string message;
};

struct engine_options {
  runtime_kind kind = runtime_kind::bash;
  std::string interpreter;  // default "bash" / "python3" (looked up in PATH)
  std::string work_dir = "/workspace";
  std::chrono::milliseconds grace_period{2000};
  std::size_t max_output_bytes = 1024 * 1024;
};

inline constexpr std::string_view truncation_marker = "\n[output truncated]\n";

class exec_engine {
 public:
  using listener = std::function<void(const execution_status&)>;

  exec_engine(executor ex, engine_options opts);
  ~exec_engine();
  exec_engine(const exec_engine&) = delete;
  exec_engine& operator=(const exec_engine&) = delete;

  // Starts an execution and returns its id at once (the process runs on).
  // A start failure is not an error here: the execution is then FAILED with
  // exit code 0 and the reason in error_message. A repeated id while the
  // execution is retained returns the id and starts nothing.
  // Errors: invalid_argument (empty id, or an id that is not a file name),
  // unavailable (stopping).
  result<std::string, engine_error> execute(const execute_request& req);

  // Errors: not_found "request <id> not found".
  result<execution_status, engine_error> status(const std::string& id) const;
  std::vector<execution_status> list() const;
  // Best effort and repeatable; OK for a finished execution.
  // Errors: not_found.
  result<void, engine_error> cancel(const std::string& id);
  // Drops a finished execution and deletes its log files.
  // Errors: not_found, failed_precondition (still running).
  result<void, engine_error> forget(const std::string& id);

  bool healthy() const { return !stopping_; }
  const engine_options& options() const { return opts_; }
  // Where the full output of `id` is written.
  std::string log_path(const std::string& id, bool is_stderr) const;

  // Called with every state change: RUNNING (without output) when an
  // execution starts, then its terminal status. Returns a token for
  // unsubscribe(). A listener must not call subscribe/unsubscribe itself.
  std::uint64_t subscribe(listener fn);
  void unsubscribe(std::uint64_t token);

  // Refuses new executions, cancels the running ones (SIGTERM, grace,
  // SIGKILL) and waits until every process is reaped.
  awaitable<void> stop();

 private:
  struct execution;
  awaitable<void> run_one(std::shared_ptr<execution> e);
  awaitable<void> watch_exit(std::shared_ptr<execution> e);
  awaitable<void> read_output(std::shared_ptr<execution> e, bool is_stderr);
  awaitable<void> watch_timeout(std::shared_ptr<execution> e);
  awaitable<void> terminate(std::shared_ptr<execution> e);
  void request_kill(const std::shared_ptr<execution>& e, const char* reason);
  void start_process(const std::shared_ptr<execution>& e, const execute_request& req);
  void finish(execution& e);
  void publish(const execution& e);
  std::vector<std::string> merged_env(const execute_request& req) const;

  executor ex_;
  engine_options opts_;
  std::map<std::string, std::shared_ptr<execution>> executions_;
  std::map<std::uint64_t, listener> listeners_;
  std::uint64_t next_token_ = 1;
  reactor::task_group tasks_;
  bool stopping_ = false;
};

}  // namespace krt::servers
