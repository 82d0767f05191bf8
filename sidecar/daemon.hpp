#pragma once
// runtimed (SPEC.md §4, docs/run-path.md, docs/runtimed.md): the sidecar of a
// Runtime Pod. It watches the Runs assigned to its pod (server-side field
// selector), claims them, executes them on the local Runtime Server, learns of
// completion by push (ExecutionEvents/Watch, else adaptive Status polling),
// writes the terminal status, and serves health, metrics, logs and artifacts.
//
// Affinity: shard-0 only (one daemon per process, all state on one executor).
// Blocking work (workspace preparation, outputs, artifacts, file removal) runs
// on a small thread pool and resumes on the shard.
// Lifetime: start() once; stop() closes the HTTP server, ends the watch
// stream, cancels every Run coroutine and waits for them. A Run interrupted by
// stop() is resumed by the next runtimed through recovery.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/events.hpp"
#include "lib/kube/informer.hpp"
#include "lib/net/http_server.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "sidecar/log_store.hpp"
#include "sidecar/timing_log.hpp"
#include "sidecar/prep/artifacts.hpp"
#include "sidecar/prep/workspace.hpp"
#include "sidecar/runtime_client.hpp"

namespace krt::runtimed {

struct options {
  std::string runtime_socket;                      // tried first ("" = none)
  std::string runtime_endpoint = "127.0.0.1:9091";  // TCP fallback
  std::string http_address = "0.0.0.0";
  std::uint16_t http_port = 9094;
  std::string runtime_name;
  int workers = 2;
  std::string workspace_dir = "/workspace";
  std::string artifact_driver;  // "" | filesystem
  std::string artifact_root = "/var/lib/kruntimes/artifacts";
  std::string artifact_volume_claim;
  std::uint64_t max_artifact_bytes = 1ull << 30;
  std::uint64_t max_artifacts_bytes = 10ull << 30;
  std::string pod_name;
  std::string pod_namespace = "default";
  std::string pod_uid;
  std::chrono::milliseconds heartbeat_interval{5000};
  std::size_t finished_log_entries = 128;
  std::size_t finished_log_bytes = 64u << 20;
};

class daemon {
 public:
  daemon(executor ex, kube::client& kc, options opts);
  ~daemon();
  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  // Binds the HTTP port and starts every background task. The Runtime Server
  // and the API server may still be unreachable: the daemon keeps trying.
  krt::result<void, std::string> start();
  awaitable<void> stop();

  std::uint16_t http_port() const { return http_.port(); }
  obs::registry& metrics() { return metrics_; }

 private:
  struct active_run;
  enum class outcome_kind { terminal, cancel, deadline, deleted, lost, shutdown };
  struct outcome {
    outcome_kind kind = outcome_kind::shutdown;
    pb::StatusResponse status;
  };

  // ---- startup and background loops
  awaitable<void> startup();
  awaitable<bool> connect_runtime();
  awaitable<void> watch_loop();
  awaitable<void> heartbeat_loop();
  awaitable<void> informer_loop();
  awaitable<bool> sleep_or_stop(std::chrono::milliseconds d);  // false when stopping

  // ---- informer and watch events (never suspend)
  void on_run(const api::run& r);
  void on_run_deleted(const api::run& r);
  void on_watch_event(const pbx::ExecutionEvent& ev);
  void on_watch_done(const grpc::Status& s);
  void start_pending();
  bool is_ours(const api::run& r) const;
  // held: what the Runtime Server reported for a recovered Run (List).
  void begin(const std::shared_ptr<const api::run>& r, bool recover, bool takes_slot,
             const pb::StatusResponse* held = nullptr);
  void wake_all();

  // ---- one Run
  awaitable<void> run_one(std::shared_ptr<active_run> a, bool recover);
  awaitable<void> drive(std::shared_ptr<active_run> a, bool recover);
  awaitable<bool> claim(std::shared_ptr<active_run> a);
  // What was done alongside the claim: the workspace, then Execute.
  struct early_start {
    bool prepared = false;
    std::string prep_error;
    bool executed = false;
    std::optional<std::string> exec_error;
  };
  awaitable<early_start> prepare_and_execute(std::shared_ptr<active_run> a);
  awaitable<bool> write_status(std::shared_ptr<active_run> a, api::phase expected,
                               std::function<bool(api::run&)> mutate);
  awaitable<std::optional<std::string>> execute(std::shared_ptr<active_run> a);
  awaitable<outcome> wait_outcome(std::shared_ptr<active_run> a, std::chrono::steady_clock::time_point deadline);
  // Returns true when the Run goes on with another attempt (after backoff).
  awaitable<bool> fail_or_retry(std::shared_ptr<active_run> a, std::string reason, std::string message,
                                const pb::StatusResponse* output);
  // Waits out the backoff of a recorded retry, then marks Running=True/Retrying.
  awaitable<bool> resume_retry(std::shared_ptr<active_run> a);
  awaitable<void> succeed(std::shared_ptr<active_run> a, pb::StatusResponse st);
  awaitable<bool> terminal(std::shared_ptr<active_run> a, api::phase p, std::string reason, std::string message,
                           const pb::StatusResponse* output);
  std::string store_snapshot_json() const;  // status.artifactStore of our store
  awaitable<bool> add_artifact_finalizer(std::shared_ptr<active_run> a);
  awaitable<void> forget(std::shared_ptr<active_run> a);
  awaitable<void> cleanup(std::shared_ptr<active_run> a);
  void write_output_lines(const active_run& a, const pb::StatusResponse& st) const;
  void set_latest(active_run& a, std::shared_ptr<const api::run> r);
  awaitable<void> emit_event(kube::object_reference ref, std::string type, std::string reason, std::string message);
  void set_active_gauge();
  void observe_dispatch(const std::string& runtime, std::chrono::steady_clock::duration d);
  void count_retry(const std::string& runtime, const std::string& reason);
  void count_finished(const std::string& runtime, api::phase p, const std::string& reason,
                      std::optional<wall_time> start, wall_time now);
  void record_event(const active_run& a, std::string_view type, std::string_view reason, std::string message);

  // ---- blocking helpers on the pool
  template <typename T>
  awaitable<T> blocking(std::function<T()> fn);

  // ---- HTTP
  awaitable<void> handle_http(net::http_request& req, net::response_writer& w);
  awaitable<void> serve_log(std::string uid, net::http_request& req, net::response_writer& w);
  awaitable<void> serve_artifact(std::string uid, std::string name, net::response_writer& w);
  // Writes bytes [off, end) of the log file `path` (fewer if it is shorter)
  // a chunk at a time, advancing off; false when the client went away.
  awaitable<bool> copy_log(const std::string& path, std::uint64_t& off, std::uint64_t end,
                           net::response_writer& w);
  // The Runtime Server answered Health (nullopt) or why not.
  awaitable<std::optional<std::string>> runtime_health();
  awaitable<std::optional<std::string>> readiness();

  executor ex_;
  kube::client& kc_;
  options opts_;
  obs::logger log_;
  workspace_options ws_opts_;
  std::optional<filesystem_store> store_;
  std::unique_ptr<runtime_client> rc_;
  std::unique_ptr<kube::informer<api::run>> informer_;
  std::map<std::string, std::shared_ptr<active_run>> active_;  // by Run UID
  // Our Scheduled Runs not yet begun, in start order (creationTimestamp,
  // name, UID), kept from informer events so start_pending costs O(waiting),
  // not O(every Run ever assigned to this pod).
  using wait_key = std::tuple<wall_time, std::string, std::string>;
  std::set<wait_key> waiting_;
  std::map<std::string, std::pair<wait_key, std::shared_ptr<const api::run>>> waiting_by_uid_;
  void note_waiting(const std::shared_ptr<const api::run>& r);  // adds, updates or removes
  void drop_waiting(const std::string& uid);
  std::set<std::string> claim_first_;  // UIDs whose pipelined claim was lost (run.cpp)
  // Scheduled Runs whose workspace was already here at startup, with no
  // execution on the Runtime Server: a previous runtimed started them with a
  // pipelined claim that never became durable. Their next start is a new
  // attempt (run.cpp), so no Run runs more often than its attempts.
  std::set<std::string> interrupted_;
  int slots_used_ = 0;
  bool ready_ = false;     // informer synced and executions listed
  bool stopping_ = false;
  bool healthy_once_ = false;
  std::chrono::steady_clock::time_point last_healthy_{};
  // Push extension state.
  watch_stream* watch_ = nullptr;
  bool push_live_ = false;
  bool push_unimplemented_ = false;
  bool watch_done_flag_ = false;
  grpc::Status watch_status_;
  std::set<std::string> snapshot_seen_;
  reactor::event watch_done_;
  reactor::event stop_ev_;
  // Heartbeat: the condition's lastTransitionTime, kept while it stays True.
  std::optional<wall_time> heartbeat_since_;
  log_store finished_;
  timing_log timings_{16384};
  void record_timing(active_run& a, api::phase p, wall_time completion, bool written);
  asio::thread_pool pool_{2};
  obs::registry metrics_;
  reactor::task_group runs_;   // Run coroutines, the informer, events: cancelled at stop
  reactor::task_group bg_;     // startup, watch, heartbeat: end on stop_ev_
  net::http_server http_;
};

namespace detail {
// Runs fn on the pool and completes on the awaiting coroutine's executor.
template <typename T>
struct blocking_initiation {
  asio::thread_pool* pool;
  std::function<T()> fn;
  template <typename Handler>
  void operator()(Handler&& handler) {
    auto h = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    auto ex = asio::get_associated_executor(*h);
    asio::post(*pool, [h, ex, f = std::move(fn)]() mutable {
      T v = f();
      asio::post(ex, [h, v = std::move(v)]() mutable { std::move(*h)(std::move(v)); });
    });
  }
};
}  // namespace detail

// Not a coroutine itself: the returned awaitable starts the work when awaited.
template <typename T>
awaitable<T> daemon::blocking(std::function<T()> fn) {
  detail::blocking_initiation<T> init{&pool_, std::move(fn)};
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(std::move(init), asio::use_awaitable);
}

}  // namespace krt::runtimed
