#pragma once
// One shard's share of the scheduler: the pools ((namespace, runtime)) that
// hash to this shard, their Pending queues, reservations, and the writes.
// Informer events reach it from shard 0 by post (scheduler_app routes them);
// it never reads another shard's state.
//
// Wake-ups: a pool is marked for a pass when a Pending Run arrives or changes,
// capacity is released, a pod becomes available or changes capacity, a retry
// hold or a heartbeat expires, and every 30 s as a fallback. The loop then
// runs the pool's Pending Runs in FIFO order (creationTimestamp, name); each
// decision costs O(pods in the pool).
//
// Affinity: per-shard. Construct, call and stop on its home shard.
// Lifetime: stop() cancels the loop and waits for in-flight writes.

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lib/api/pod.hpp"
#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/obs/endpoint.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/clock.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/scheduler/placement.hpp"

namespace krt::scheduler {

// Fallback re-evaluation of waiting Runs (SPEC §3: RequeueAfter 30s).
inline constexpr std::chrono::seconds periodic_requeue{30};
// Retry delay after a failed write other than a conflict.
inline constexpr std::chrono::seconds write_retry_delay{1};
// How long stop() lets in-flight status writes finish before cancelling them.
inline constexpr std::chrono::seconds stop_drain_timeout{10};

// Builds a client for `cfg` into `out`; an error message if it cannot. Not a
// coroutine: client::connect's defaulted options argument must not be created
// inside a coroutine frame (GCC 12).
std::optional<std::string> connect_client(executor ex, const kube::rest_config& cfg,
                                          std::unique_ptr<kube::client>& out, const kube::client_options& co);

class pool_shard {
 public:
  // `cfg` (copied) builds this shard's own API client; `host` names the
  // Event source.
  pool_shard(const kube::rest_config* cfg, const kube::client_options* co, obs::sharded_metrics* metrics,
             const std::string* host);

  awaitable<void> start();
  awaitable<void> stop();

  // Informer events (old is null for an add, cur is null for a delete).
  void on_run(std::shared_ptr<const api::run> old_r, std::shared_ptr<const api::run> cur);
  void on_pod(std::shared_ptr<const api::pod_view> old_p, std::shared_ptr<const api::pod_view> cur);
  // Only the owner of a pool's partition writes (a single leader owns the one
  // partition); placement waits until both informers synced.
  void set_leader(bool leader) { set_owned(0, 1, leader); }
  void set_owned(unsigned partition, unsigned partitions, bool owned);
  void set_synced();

 private:
  enum class write_kind { assign, cancel, invalid, message };

  // FIFO order: creationTimestamp, name, UID.
  using order_key = std::tuple<wall_time, std::string, std::string>;
  struct pending_entry {
    std::shared_ptr<const api::run> run;
    order_key order;
    bool inflight = false;
    std::string blocked_rv;  // wait for an object newer than this
    std::optional<wall_time> hold_until;
    reactor::clock::time_point seen{};  // latest watch event
    std::string event_message;         // last FailedScheduling Event sent
    bool affinity_logged = false;
    std::optional<resource_map> shape;  // effective requests (unset when invalid)
  };
  struct pool_ctx {
    std::string runtime;
    pool pods;
    std::map<std::string, pending_entry> pending;  // by Run UID
    std::set<order_key> fifo;                      // every pending Run
    // What the next pass looks at: every pending Run (capacity or pods
    // changed) or only those that changed themselves. So a new Run costs
    // O(pods), not O(waiting Runs).
    bool all = false;
    std::set<order_key> todo;
    std::set<std::pair<wall_time, std::string>> holds;  // (until, uid)
    // Pending Runs by effective requests: a pass over every Run stops once
    // each shape present is known not to fit (a failed request it
    // dominates), so a freed slot costs O(Runs placed), not O(waiting).
    std::map<resource_map, std::size_t> shapes;
    bool dirty() const { return all || !todo.empty(); }
  };

  pool_ctx& pool_for(const std::string& ns, const std::string& runtime);
  void erase_pending(pool_ctx& pc, const std::string& uid);
  static bool nothing_fits(const pool_ctx& pc, const std::vector<resource_map>& failed);
  // Re-evaluate every pending Run of the pool (source: metrics label or "").
  void wake(pool_ctx& pc, std::string_view source);
  // Re-evaluate one Run.
  void touch(pool_ctx& pc, const pending_entry& e);
  void set_hold(pool_ctx& pc, pending_entry& e, wall_time until);
  awaitable<void> run_loop();
  reactor::clock::duration time_to_next_deadline(wall_time now);
  void process_pool(const std::string& key, pool_ctx& pc, wall_time now);
  // `failed`: requests that found no pod earlier in this pass.
  void place_one(const std::string& key, pool_ctx& pc, pending_entry& e, const action& a, wall_time now,
                 std::vector<resource_map>& failed);
  void spawn_write(const std::string& key, pending_entry& e, api::run desired, write_kind kind);
  awaitable<void> write_one(std::string key, std::string uid, api::run desired, write_kind kind,
                            reactor::clock::time_point seen);
  void write_done(const std::string& key, const std::string& uid, const api::run& desired, write_kind kind,
                  reactor::clock::time_point seen, const kube::result<std::string>& res);
  awaitable<void> event_one(api::run r, std::string message);

  kube::rest_config cfg_;
  kube::client_options client_opts_;
  std::unique_ptr<kube::client> client_;
  obs::registry& metrics_;
  std::string host_;
  reactor::clock& clock_;
  obs::logger log_;
  executor ex_;
  reactor::event wake_;
  reactor::task_group loop_tasks_;
  reactor::task_group writes_;
  std::map<std::string, pool_ctx> pools_;
  bool owns(const std::string& pool_key) const;
  std::vector<bool> owned_;  // by partition (partitioning.hpp)
  bool synced_ = false;
  reactor::clock::time_point next_periodic_{};
};

}  // namespace krt::scheduler
