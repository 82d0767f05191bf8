// Scheduler placement with a backlog of Pending Runs (issue #6): what one new
// Run costs when N Runs already wait on a full pool, and what a whole pass
// costs when one slot frees and every waiting Run is looked at again.
//
// pool_shard needs a live API server (its constructor builds a client and
// its pass is private), so this file reproduces pool_shard::process_pool and
// place_one step by step on the same data structures (pending map by UID,
// FIFO set of (creationTimestamp, name, UID), todo set, the `all` flag), the
// pure placement API (decide, pool::place, reserve, dominates, the status
// edits) and the same per-Run metric and logger calls on a real
// obs::registry. What is left out is the network: a status write is its
// patch body (encode_status_patch), built as write_one does before sending.
// Keep this in step with services/scheduler/pool_shard.cpp.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/api/validation.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/clock.hpp"
#include "services/scheduler/placement.hpp"

// Named (not anonymous): unity builds put several bench files in one TU.
namespace sched_pass_bench {

using namespace krt;
using namespace krt::scheduler;

const wall_time t0{std::chrono::seconds{1'800'000'000}};
constexpr int pool_pods = 10;
constexpr int pod_slots = 10;  // kruntimes.io/capacity.runs per pod

constexpr std::string_view metric_sync = "kruntimes_scheduler_sync_total";
constexpr std::string_view metric_sync_help = "Scheduling attempts by runtime and result.";

api::pod_view make_pod(int i) {
  api::pod_view p;
  p.metadata.name = "runtime-bash-6c9f7d8b5-" + std::to_string(10000 + i);
  p.metadata.namespace_ = "ci";
  p.metadata.uid = "pod-uid-" + std::to_string(i);
  p.metadata.labels["kruntimes.io/runtime"] = "bash";
  p.metadata.annotations["kruntimes.io/capacity.runs"] = std::to_string(pod_slots);
  p.phase = "Running";
  kube::condition ready;
  ready.type = "Ready";
  ready.status = "True";
  p.conditions.push_back(ready);
  kube::condition hb;
  hb.type = std::string(api::heartbeat_condition);
  hb.status = "True";
  hb.reason = "Heartbeat";
  hb.last_probe_time = t0;
  p.conditions.push_back(hb);
  return p;
}

// A UUID-shaped UID that differs from the others early on, like the API
// server's random ones (a shared prefix would inflate every map lookup).
std::string uid_of(int i) {
  std::uint64_t x = static_cast<std::uint64_t>(i);
  auto next = [&x] {  // splitmix64
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  char buf[40];
  std::uint64_t a = next();
  std::uint64_t b = next();
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::shared_ptr<const api::run> make_run(int i, bool told_to_wait) {
  api::run r;
  r.metadata.name = "run-" + std::to_string(i) + "-x7k2q";
  r.metadata.namespace_ = "ci";
  r.metadata.uid = uid_of(i);
  r.metadata.resource_version = std::to_string(1000000 + i);
  r.metadata.creation_timestamp = t0 - std::chrono::seconds{3600} + std::chrono::milliseconds{i};
  r.spec.runtime = "bash";
  r.spec.mode = api::run_mode{api::task_mode{"", {"make", "test"}}, {}};
  r.spec.resource_requests = std::map<std::string, std::string>{{"runs", "1"}};
  // A Run that already waited carries the waiting message (so the pass sends
  // nothing for it); a new one does not.
  if (told_to_wait) r.status.message = waiting_message("bash");
  return std::make_shared<const api::run>(std::move(r));
}

// pool_shard's per-pool state and pass, minus the I/O.
class shard_model {
 public:
  using order_key = std::tuple<wall_time, std::string, std::string>;
  struct pending_entry {
    std::shared_ptr<const api::run> run;
    order_key order;
    bool inflight = false;
    std::string blocked_rv;
    std::optional<wall_time> hold_until;
    reactor::clock::time_point seen{};
    std::string event_message;
    bool affinity_logged = false;
    std::optional<resource_map> shape;
  };

  // observe=false leaves out the per-Run metric and logger calls (to show
  // their share; pool_shard always makes them).
  explicit shard_model(int waiting, bool observe = true)
      : clock_(reactor::real_clock()), log_("scheduler"), observe_(observe) {
    for (int i = 0; i < pool_pods; ++i) pods_.upsert_pod(make_pod(i), t0);
    // Every slot taken by a Running Run the informer shows.
    for (int i = 0; i < pool_pods * pod_slots; ++i)
      pods_.set_assigned("busy-" + std::to_string(i), make_pod(i / pod_slots).metadata.name, resource_map{{"runs", 1}});
    for (int i = 0; i < waiting; ++i) {
      auto& e = on_pending(make_run(i, true));
      e.event_message = waiting_message("bash");  // its FailedScheduling Event went out
    }
    todo_.clear();
  }

  // on_run for a Pending Run (the insert half of it).
  pending_entry& on_pending(std::shared_ptr<const api::run> r) {
    const std::string& uid = r->metadata.uid;
    auto [it, inserted] = pending_.try_emplace(uid);
    pending_entry& e = it->second;
    if (inserted) {
      e.order = {r->metadata.creation_timestamp.value_or(wall_time::max()), r->metadata.name, uid};
      fifo_.insert(e.order);
      if (auto req = api::effective_requests(r->spec)) {
        e.shape = std::move(*req);
        ++shapes_[*e.shape];
      }
    }
    e.run = std::move(r);
    e.seen = clock_.now();
    todo_.insert(e.order);  // touch
    return e;
  }

  void erase_pending(const std::string& uid) {
    auto it = pending_.find(uid);
    if (it == pending_.end()) return;
    fifo_.erase(it->second.order);
    todo_.erase(it->second.order);
    if (it->second.shape) {
      auto s = shapes_.find(*it->second.shape);
      if (s != shapes_.end() && --s->second == 0) shapes_.erase(s);
    }
    pending_.erase(it);
  }

  // on_run for a busy Run that finished: capacity released, wake the pool.
  void release_busy(const std::string& uid) {
    if (pods_.clear_assigned(uid)) {
      metrics_.get_counter("kruntimes_scheduler_pending_run_wakeups_total", "Wake-ups of a pool's Pending Runs by cause.",
                           {{"source", "capacity_released"}})
          .inc();
      all_ = true;
    }
  }
  void take_busy(const std::string& uid, const std::string& pod) { pods_.set_assigned(uid, pod, resource_map{{"runs", 1}}); }
  // Undo what the pass did to `uid` (its write "failed" before being sent).
  void unreserve(const std::string& uid) {
    pods_.release(uid);
    auto it = pending_.find(uid);
    if (it != pending_.end()) it->second.inflight = false;
  }

  // pool_shard::process_pool. Returns the number of Runs decided.
  std::size_t process_pool(wall_time now) {
    std::vector<resource_map> failed;
    std::size_t decided = 0;
    auto visit = [&](const order_key& k) {
      auto it = pending_.find(std::get<2>(k));
      if (it == pending_.end()) return;
      pending_entry& e = it->second;
      if (e.inflight || (!e.blocked_rv.empty() && e.blocked_rv == e.run->metadata.resource_version)) return;
      if (e.hold_until && now < *e.hold_until) return;
      action a = decide(*e.run, now);
      ++decided;
      if (a.kind == action_kind::place) place_one(e, a, now, failed);
    };
    const bool every = all_;
    std::set<order_key> changed = std::move(todo_);
    todo_.clear();
    all_ = false;
    if (!every) {
      for (const auto& k : changed) visit(k);
      return decided;
    }
    for (auto it = fifo_.begin(); it != fifo_.end();) {
      order_key k = *it;
      ++it;
      if (nothing_fits(failed)) {
        for (auto c = changed.lower_bound(k); c != changed.end(); ++c) visit(*c);
        return decided;
      }
      visit(k);
    }
    return decided;
  }

  bool nothing_fits(const std::vector<resource_map>& failed) const {
    if (failed.empty()) return false;
    for (const auto& [shape, n] : shapes_) {
      bool blocked = false;
      for (const auto& f : failed)
        if (dominates(shape, f)) blocked = true;
      if (!blocked) return false;
    }
    return true;
  }

  std::size_t bytes_written() const { return bytes_; }
  std::size_t placed() const { return placed_; }
  const std::string& last_placed() const { return last_placed_; }

 private:
  void place_one(pending_entry& e, const action& a, wall_time now, std::vector<resource_map>& failed) {
    const api::run& r = *e.run;
    if (observe_) {
      obs::logger rlog = log_.with("run_uid", r.metadata.uid);
      benchmark::DoNotOptimize(&rlog);
    }
    placement pl;
    bool hopeless = false;
    for (const auto& f : failed)
      if (dominates(a.requests, f)) hopeless = true;
    auto t = clock_.now();
    if (!hopeless) pl = pods_.place(a.requests, now);
    if (observe_)
      metrics_.get_histogram("kruntimes_scheduler_sync_duration_seconds", "Time to place one Run (filter and score).")
          .observe(clock_.now() - t);
    for (const auto& [why, n] : pl.rejections)
      if (observe_)
        metrics_
          .get_counter("kruntimes_scheduler_filter_rejections_total", "Pods rejected by a filter.",
                       {{"plugin", "RuntimePodAvailability"}, {"reason", std::string(to_string(why))}})
          .inc(n);
    if (pl.pod) {
      pods_.reserve(r.metadata.uid, *pl.pod, a.requests);
      spawn_write(e, with_assignment(r, *pl.pod, pl.pod_uid, now));
      ++placed_;
      last_placed_ = r.metadata.uid;
      return;
    }
    if (!hopeless) failed.push_back(a.requests);
    if (observe_) {
      metrics_.get_counter("kruntimes_scheduler_no_pods_total", "Scheduling attempts that found no runtime pod.").inc();
      metrics_.get_counter(metric_sync, metric_sync_help, {{"runtime", "bash"}, {"result", "no_pods"}}).inc();
    }
    std::string msg = waiting_message(r.spec.runtime);
    if (e.event_message != msg) e.event_message = msg;  // the FailedScheduling Event (not sent here)
    if (r.status.message != msg) spawn_write(e, with_message(r, msg));
  }

  // spawn_write + the CPU half of write_one.
  void spawn_write(pending_entry& e, api::run desired) {
    e.inflight = true;
    std::string body = api::encode_status_patch(desired);
    bytes_ += body.size();
    benchmark::DoNotOptimize(body.data());
  }

  reactor::clock& clock_;
  obs::logger log_;
  bool observe_;
  obs::registry metrics_;
  pool pods_;
  std::map<std::string, pending_entry> pending_;
  std::map<resource_map, std::size_t> shapes_;
  std::set<order_key> fifo_;
  std::set<order_key> todo_;
  bool all_ = false;
  std::size_t bytes_ = 0;
  std::size_t placed_ = 0;
  std::string last_placed_;
};

// (a) A new Pending Run arrives while N Runs wait on a full pool: the watch
// event's insert into the pending structures, a pass over `todo` (just this
// Run: decide, place finds no pod, the waiting-message write is built), and
// the Run leaving the pending structures (as it would once assigned).
void BM_SchedulerNewRunFullPool(benchmark::State& state) {
  const int waiting = static_cast<int>(state.range(0));
  shard_model m(waiting);
  std::vector<std::shared_ptr<const api::run>> arrivals;
  for (int i = 0; i < 1024; ++i) arrivals.push_back(make_run(waiting + 1000000 + i, false));
  std::size_t next = 0;
  std::int64_t decided = 0;
  for (auto _ : state) {
    const auto& r = arrivals[next++ & 1023];
    m.on_pending(r);
    decided += static_cast<std::int64_t>(m.process_pool(t0));
    m.erase_pending(r->metadata.uid);
  }
  if (decided != static_cast<std::int64_t>(state.iterations()) || m.placed() != 0)
    state.SkipWithError("a new Run was not decided exactly once, or was placed on a full pool");
  state.SetItemsProcessed(decided);
  state.counters["waiting"] = waiting;
}
BENCHMARK(BM_SchedulerNewRunFullPool)->Arg(100)->Arg(10000)->Arg(100000);

// (b) One slot frees with N Runs waiting: the wake-up, then the pass over
// every waiting Run (pc.all): the oldest Run is placed (reserve + assignment
// patch), the next one runs the filters and finds no pod, and the pass stops
// there because no waiting request shape can fit any more (it visited all N
// before; 257 ms at N = 100,000). The time per iteration is the pass.
void pass_after_release(benchmark::State& state, bool observe) {
  const int waiting = static_cast<int>(state.range(0));
  shard_model m(waiting, observe);
  const std::string busy = "busy-0";
  const std::string busy_pod = make_pod(0).metadata.name;
  std::int64_t decided = 0;
  std::size_t pass = 0;
  for (auto _ : state) {
    m.release_busy(busy);
    pass = m.process_pool(t0);
    decided += static_cast<std::int64_t>(pass);
    // Back to the full pool for the next pass (cheap: two map operations).
    m.unreserve(m.last_placed());
    m.take_busy(busy, busy_pod);
  }
  if (pass != std::min<std::size_t>(2, static_cast<std::size_t>(waiting)) ||
      m.placed() != static_cast<std::size_t>(state.iterations()))
    state.SkipWithError("the pass did not place exactly one Run and stop after the next one");
  state.SetItemsProcessed(decided);
  state.counters["waiting"] = waiting;
}
void BM_SchedulerPassAfterRelease(benchmark::State& state) { pass_after_release(state, true); }
BENCHMARK(BM_SchedulerPassAfterRelease)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// Diagnostic: the same pass without the per-Run metric and logger calls.
void BM_SchedulerPassAfterReleaseNoObs(benchmark::State& state) { pass_after_release(state, false); }
BENCHMARK(BM_SchedulerPassAfterReleaseNoObs)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// The pure placement decision alone for one Run on a pool of 10 pods with one
// free slot: decide (requests parsed from the spec) + pool::place (filters,
// LeastLoaded, tie-break). Independent of the backlog by construction.
void BM_SchedulerDecideAndPlace(benchmark::State& state) {
  pool p;
  for (int i = 0; i < pool_pods; ++i) p.upsert_pod(make_pod(i), t0);
  for (int i = 1; i < pool_pods * pod_slots; ++i)
    p.set_assigned("busy-" + std::to_string(i), make_pod(i / pod_slots).metadata.name, resource_map{{"runs", 1}});
  auto r = make_run(1, false);
  for (auto _ : state) {
    action a = decide(*r, t0);
    placement pl = p.place(a.requests, t0);
    benchmark::DoNotOptimize(pl.pod);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_SchedulerDecideAndPlace);

}  // namespace sched_pass_bench
