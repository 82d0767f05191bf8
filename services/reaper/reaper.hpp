#pragma once
// The stale Run reaper as a service (SPEC §7, docs/reaper.md): informers on
// Runs and runtime pods (label `runtime`) feed one work queue of Run keys;
// each check reads both caches, confirms a vanished or replaced pod with a
// live GET, and writes a stale Run's status with a resourceVersion
// precondition. Healthy Runs are re-checked by a timer at the moment they
// could next go stale (a heartbeat or a not-ready period running out), so
// nothing polls.
//
// Only the leader checks and writes; a standby keeps its informers warm and
// drops queued keys. Becoming leader re-checks every watched Run.
//
// Affinity: per-shard (shard 0 of a one-shard engine); construct, call and
// stop there. Informer handlers run on the same shard and only enqueue keys.
// Lifetime: start() spawns informers and workers; stop() lets checks in
// flight finish (bounded), then cancels everything. The client and registry
// must outlive the reaper.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "lib/api/pod.hpp"
#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/informer.hpp"
#include "lib/kube/workqueue.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/reaper/decision.hpp"

namespace krt::reaper {

struct reaper_options {
  std::string namespace_;  // empty: every namespace
  std::chrono::microseconds stale_threshold = default_stale_threshold;
  std::string host;  // Event source host (the pod name)
  int workers = 2;
  // How long stop() lets a check in flight finish its write.
  std::chrono::seconds stop_drain_timeout{10};
};

class reaper {
 public:
  reaper(executor ex, kube::client& c, reaper_options o, obs::registry& metrics);
  ~reaper();

  void start();
  awaitable<void> stop();

  // Only the leader checks and writes. true re-checks every watched Run.
  void set_leader(bool leader);
  // Both informers have listed.
  bool synced() const { return runs_.has_synced() && pods_.has_synced(); }
  // Why the reaper is not ready (an informer has not synced), or nullopt.
  std::optional<std::string> not_ready_reason() const;
  // Both informers' first list applied.
  awaitable<void> wait_synced();

 private:
  void on_run(const api::run& r);
  void on_pod_added(const api::pod_view& p);
  void on_pod_updated(const api::pod_view& old_p, const api::pod_view& cur);
  void on_pod_deleted(const api::pod_view& p);
  void enqueue_runs_on(const std::string& pod_key);
  void enqueue_all();

  awaitable<void> worker_loop();
  awaitable<void> check_one(std::string key);

  // Plain bookkeeping around check_one (no coroutine frames).
  void schedule_check(const std::string& key, wall_time when, wall_time now);
  void check_due(const std::string& key, wall_time now);
  void written(const api::run& before, const api::run& after, action a, const verdict& v, wall_time written_at);
  void conflicted(const api::run& r);
  void failed_call(const api::run& r, std::string_view what, const kube::error& e);
  awaitable<void> record(api::run before, api::run after, action a, verdict v);

  executor ex_;
  kube::client& client_;
  reaper_options opts_;
  obs::registry& metrics_;
  obs::logger log_;
  kube::informer<api::run> runs_;
  kube::informer<api::pod_view> pods_;
  kube::work_queue queue_;
  reactor::task_group informers_;
  reactor::task_group workers_;
  bool leader_ = false;
  // The next timer-driven check per Run key (a later one is not queued while
  // an earlier one is pending, so heartbeats never pile up timers).
  std::map<std::string, wall_time> next_check_;
  // When the informer saw each runtime pod disappear (pod key → time), for
  // the detection-delay histogram of PodGone. Bounded.
  std::map<std::string, wall_time> vanished_;
  obs::counter& checks_;
  obs::counter& conflicts_;
  obs::histogram& delay_;
  obs::gauge& leader_gauge_;
};

}  // namespace krt::reaper
