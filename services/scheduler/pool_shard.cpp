#include "services/scheduler/pool_shard.hpp"

#include <stdexcept>

#include "lib/api/phase.hpp"
#include "lib/api/validation.hpp"
#include "lib/kube/events.hpp"
#include "lib/reactor/deadline.hpp"
#include "lib/reactor/engine.hpp"
#include "services/scheduler/partitioning.hpp"

namespace krt::scheduler {

namespace {

constexpr std::string_view metric_sync = "kruntimes_scheduler_sync_total";
constexpr std::string_view metric_sync_help = "Scheduling attempts by runtime and result.";
constexpr std::string_view plugin_availability = "RuntimePodAvailability";

executor home_executor() {
  auto* e = reactor::this_engine();
  if (e == nullptr) throw std::logic_error("pool_shard must be built on an engine shard");
  return e->get_executor(reactor::this_shard_id());
}

resource_map held_requests(const api::run& r) {
  auto req = api::effective_requests(r.spec);
  if (req) return std::move(*req);
  return resource_map{{std::string(api::runs_resource_name), 1}};
}

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

}  // namespace

std::optional<std::string> connect_client(executor ex, const kube::rest_config& cfg,
                                          std::unique_ptr<kube::client>& out, const kube::client_options& co) {
  auto c = kube::client::connect(std::move(ex), cfg, co);
  if (!c) return "cannot build the Kubernetes client: " + c.error();
  out = std::move(*c);
  return std::nullopt;
}

pool_shard::pool_shard(const kube::rest_config* cfg, const kube::client_options* co, obs::sharded_metrics* metrics,
                       const std::string* host)
    : cfg_(*cfg),
      client_opts_(*co),
      metrics_(metrics->local()),
      host_(*host),
      clock_(reactor::real_clock()),
      log_("scheduler"),
      ex_(home_executor()),
      wake_(ex_),
      loop_tasks_(ex_, "scheduler-loop"),
      writes_(ex_, "scheduler-writes") {
  // Series that exist from the start, so dashboards see zeros.
  metrics_.get_counter("kruntimes_scheduler_no_pods_total", "Scheduling attempts that found no runtime pod.");
  for (const char* stage : {"reserve", "bind"})
    metrics_.get_counter("kruntimes_scheduler_reservation_conflicts_total",
                         "Reservations dropped because of a conflict.", {{"stage", stage}});
  for (const char* source : {"runtime_pod", "capacity_released"})
    metrics_.get_counter("kruntimes_scheduler_pending_run_wakeups_total",
                         "Wake-ups of a pool's Pending Runs by cause.", {{"source", source}});
  metrics_.get_histogram("kruntimes_scheduler_sync_duration_seconds", "Time to place one Run (filter and score).");
  metrics_.get_histogram("kruntimes_scheduler_run_queue_duration_seconds",
                         "From a Run's creation to its assignment being written.");
  metrics_.get_histogram("kruntimes_scheduler_decision_latency_seconds",
                         "From the latest watch event of a Run to its assignment being written.");
}

awaitable<void> pool_shard::start() {
  if (auto err = connect_client(ex_, cfg_, client_, client_opts_)) throw std::runtime_error(*err);
  next_periodic_ = clock_.now() + periodic_requeue;
  loop_tasks_.spawn(run_loop(), "scheduler loop");
  co_return;
}

awaitable<void> pool_shard::stop() {
  co_await loop_tasks_.close();
  // Writes already sent finish (their outcome is logged), within a bound.
  bool drained = co_await reactor::with_timeout(writes_.drain(), stop_drain_timeout);
  if (!drained) log_.warn("status writes still in flight at shutdown; cancelling them");
  co_await writes_.close();
}

void pool_shard::set_owned(unsigned partition, unsigned partitions, bool owned) {
  if (owned_.size() != partitions) owned_.assign(partitions, false);
  if (partition >= partitions) return;
  owned_[partition] = owned;
  if (owned) {
    // A partition just taken over: its pools' Runs may have waited meanwhile.
    for (auto& [k, pc] : pools_)
      if (partition_of(k, partitions) == partition) pc.all = true;
    wake_.set();
  }
}

bool pool_shard::owns(const std::string& pool_key) const {
  if (owned_.empty()) return false;
  return owned_[partition_of(pool_key, static_cast<unsigned>(owned_.size()))];
}

void pool_shard::set_synced() {
  synced_ = true;
  for (auto& [k, pc] : pools_) pc.all = true;
  wake_.set();
}

pool_shard::pool_ctx& pool_shard::pool_for(const std::string& ns, const std::string& runtime) {
  auto [it, inserted] = pools_.try_emplace(pool_key(ns, runtime));
  if (inserted) it->second.runtime = runtime;
  return it->second;
}

void pool_shard::erase_pending(pool_ctx& pc, const std::string& uid) {
  auto it = pc.pending.find(uid);
  if (it == pc.pending.end()) return;
  pc.fifo.erase(it->second.order);
  pc.todo.erase(it->second.order);
  if (it->second.hold_until) pc.holds.erase({*it->second.hold_until, uid});
  if (it->second.shape) {
    auto s = pc.shapes.find(*it->second.shape);
    if (s != pc.shapes.end() && --s->second == 0) pc.shapes.erase(s);
  }
  pc.pending.erase(it);
}

bool pool_shard::nothing_fits(const pool_ctx& pc, const std::vector<resource_map>& failed) {
  if (failed.empty()) return false;
  for (const auto& [shape, n] : pc.shapes) {
    bool blocked = false;
    for (const auto& f : failed)
      if (dominates(shape, f)) blocked = true;
    if (!blocked) return false;
  }
  return true;
}

void pool_shard::wake(pool_ctx& pc, std::string_view source) {
  if (!pc.pending.empty() && !source.empty())
    metrics_
        .get_counter("kruntimes_scheduler_pending_run_wakeups_total", "Wake-ups of a pool's Pending Runs by cause.",
                     {{"source", std::string(source)}})
        .inc();
  pc.all = true;
  wake_.set();
}

void pool_shard::touch(pool_ctx& pc, const pending_entry& e) {
  pc.todo.insert(e.order);
  wake_.set();
}

void pool_shard::set_hold(pool_ctx& pc, pending_entry& e, wall_time until) {
  if (e.hold_until) pc.holds.erase({*e.hold_until, std::get<2>(e.order)});
  e.hold_until = until;
  pc.holds.insert({until, std::get<2>(e.order)});
}

void pool_shard::on_run(std::shared_ptr<const api::run> old_r, std::shared_ptr<const api::run> cur) {
  const api::run& any = cur ? *cur : *old_r;
  if (any.spec.runtime.empty()) return;
  pool_ctx& pc = pool_for(any.metadata.namespace_, any.spec.runtime);
  const std::string& uid = any.metadata.uid;
  if (!cur) {
    erase_pending(pc, uid);
    pc.pods.release(uid);
    if (pc.pods.clear_assigned(uid)) wake(pc, "capacity_released");
    return;
  }
  api::phase p = api::phase_of(cur->status);
  if (api::is_assigned_phase(p) && !cur->status.assigned_pod.empty()) {
    pc.pods.set_assigned(uid, cur->status.assigned_pod, held_requests(*cur));
    erase_pending(pc, uid);
    return;
  }
  bool freed = pc.pods.clear_assigned(uid);
  if (p == api::phase::pending) {
    auto [it, inserted] = pc.pending.try_emplace(uid);
    pending_entry& e = it->second;
    if (inserted) {
      e.order = {cur->metadata.creation_timestamp.value_or(wall_time::max()), cur->metadata.name, uid};
      pc.fifo.insert(e.order);
      if (auto req = api::effective_requests(cur->spec)) {
        e.shape = std::move(*req);
        ++pc.shapes[*e.shape];
      }
    }
    e.run = cur;
    e.seen = clock_.now();
    if (e.blocked_rv != cur->metadata.resource_version) e.blocked_rv.clear();
    // A reservation without a write in flight belongs to an older state.
    if (!e.inflight && pc.pods.release(uid)) pc.all = true;
    touch(pc, e);
  } else {
    erase_pending(pc, uid);
    pc.pods.release(uid);
  }
  if (freed) wake(pc, "capacity_released");
}

void pool_shard::on_pod(std::shared_ptr<const api::pod_view> old_p, std::shared_ptr<const api::pod_view> cur) {
  auto label_of = [](const api::pod_view& p) -> std::string {
    auto it = p.metadata.labels.find(std::string(api::runtime_label));
    return it == p.metadata.labels.end() ? std::string() : it->second;
  };
  if (old_p && (!cur || label_of(*old_p) != label_of(*cur))) {
    std::string rt = label_of(*old_p);
    if (!rt.empty()) pool_for(old_p->metadata.namespace_, rt).pods.remove_pod(old_p->metadata.name);
  }
  if (!cur) return;
  std::string rt = label_of(*cur);
  if (rt.empty()) return;
  pool_ctx& pc = pool_for(cur->metadata.namespace_, rt);
  if (pc.pods.upsert_pod(*cur, clock_.wall())) wake(pc, "runtime_pod");
}

reactor::clock::duration pool_shard::time_to_next_deadline(wall_time now) {
  auto next = next_periodic_ - clock_.now();
  for (auto& [key, pc] : pools_) {
    std::optional<wall_time> due = pc.pods.next_heartbeat_expiry(now);
    if (!pc.holds.empty() && (!due || pc.holds.begin()->first < *due)) due = pc.holds.begin()->first;
    if (!due) continue;
    if (*due <= now) return reactor::clock::duration::zero();
    next = std::min<reactor::clock::duration>(next, *due - now);
  }
  return std::max(next, reactor::clock::duration::zero());
}

awaitable<void> pool_shard::run_loop() {
  for (;;) {
    auto wait = time_to_next_deadline(clock_.wall());
    if (wait > reactor::clock::duration::zero()) (void)co_await reactor::with_timeout(wake_.wait(), wait);
    wake_.reset();
    wall_time now = clock_.wall();
    if (clock_.now() >= next_periodic_) {
      next_periodic_ = clock_.now() + periodic_requeue;
      for (auto& [k, pc] : pools_)
        if (!pc.pending.empty()) pc.all = true;
    }
    for (auto& [key, pc] : pools_) {
      while (!pc.holds.empty() && pc.holds.begin()->first <= now) {
        auto it = pc.pending.find(pc.holds.begin()->second);
        pc.holds.erase(pc.holds.begin());
        if (it == pc.pending.end()) continue;
        it->second.hold_until.reset();
        pc.todo.insert(it->second.order);
      }
      // A heartbeat that went stale since the last pass changes availability.
      if (auto hb = pc.pods.next_heartbeat_expiry(now - std::chrono::seconds{1}); hb && *hb <= now) pc.all = true;
    }
    if (!synced_) continue;
    for (auto& [key, pc] : pools_)
      if (pc.dirty() && owns(key)) process_pool(key, pc, now);
    // Let the writes and informer posts run between passes.
    co_await reactor::yield();
  }
}

void pool_shard::process_pool(const std::string& key, pool_ctx& pc, wall_time now) {
  std::vector<resource_map> failed;
  auto visit = [&](const order_key& k) {
    auto it = pc.pending.find(std::get<2>(k));
    if (it == pc.pending.end()) return;
    pending_entry& e = it->second;
    if (e.inflight || (!e.blocked_rv.empty() && e.blocked_rv == e.run->metadata.resource_version)) return;
    if (e.hold_until && now < *e.hold_until) return;
    action a = decide(*e.run, now);
    switch (a.kind) {
      case action_kind::skip:
        break;
      case action_kind::cancel:
        spawn_write(key, e, with_cancelled(*e.run, now), write_kind::cancel);
        break;
      case action_kind::invalid:
        spawn_write(key, e, with_invalid(*e.run, a.message, now), write_kind::invalid);
        break;
      case action_kind::hold:
        set_hold(pc, e, a.hold_until);
        break;
      case action_kind::place:
        place_one(key, pc, e, a, now, failed);
        break;
    }
  };
  const bool every = pc.all;
  std::set<order_key> changed = std::move(pc.todo);
  pc.todo.clear();
  pc.all = false;
  if (!every) {
    for (const auto& k : changed) visit(k);
    return;
  }
  // A pass over every Run (capacity freed, a pod changed, the periodic
  // requeue) ends once nothing waiting can fit; the Runs that changed
  // themselves are still visited, for cancellations, holds and their first
  // waiting message. Visiting never erases from the FIFO (writes are spawned).
  for (auto it = pc.fifo.begin(); it != pc.fifo.end();) {
    order_key k = *it;
    ++it;
    if (nothing_fits(pc, failed)) {
      for (auto c = changed.lower_bound(k); c != changed.end(); ++c) visit(*c);
      return;
    }
    visit(k);
  }
}

void pool_shard::place_one(const std::string& key, pool_ctx& pc, pending_entry& e, const action& a, wall_time now,
                           std::vector<resource_map>& failed) {
  const api::run& r = *e.run;
  obs::logger rlog = log_.with("run_uid", r.metadata.uid);
  if (r.spec.affinity && !e.affinity_logged) {
    e.affinity_logged = true;
    rlog.info("spec.affinity is not supported by this scheduler and is ignored",
              {{"namespace", r.metadata.namespace_}, {"run", r.metadata.name}});
  }
  placement pl;
  bool hopeless = false;
  for (const auto& f : failed)
    if (dominates(a.requests, f)) hopeless = true;
  auto t0 = clock_.now();
  if (!hopeless) pl = pc.pods.place(a.requests, now);
  metrics_.get_histogram("kruntimes_scheduler_sync_duration_seconds", "Time to place one Run (filter and score).")
      .observe(clock_.now() - t0);
  for (const auto& [why, n] : pl.rejections)
    metrics_
        .get_counter("kruntimes_scheduler_filter_rejections_total", "Pods rejected by a filter.",
                     {{"plugin", std::string(plugin_availability)}, {"reason", std::string(to_string(why))}})
        .inc(n);
  if (pl.pod) {
    pc.pods.reserve(r.metadata.uid, *pl.pod, a.requests);
    spawn_write(key, e, with_assignment(r, *pl.pod, pl.pod_uid, now), write_kind::assign);
    return;
  }
  if (!hopeless) failed.push_back(a.requests);
  metrics_.get_counter("kruntimes_scheduler_no_pods_total", "Scheduling attempts that found no runtime pod.").inc();
  metrics_.get_counter(metric_sync, metric_sync_help, {{"runtime", pc.runtime}, {"result", "no_pods"}}).inc();
  std::string msg = waiting_message(r.spec.runtime);
  if (e.event_message != msg) {
    e.event_message = msg;
    writes_.spawn(event_one(r, msg), "FailedScheduling event");
  }
  if (r.status.message != msg) {
    rlog.info("no runtime pod fits", {{"namespace", r.metadata.namespace_},
                                      {"run", r.metadata.name},
                                      {"pods", static_cast<std::uint64_t>(pc.pods.pod_count())}});
    spawn_write(key, e, with_message(r, msg), write_kind::message);
  }
}

void pool_shard::spawn_write(const std::string& key, pending_entry& e, api::run desired, write_kind kind) {
  e.inflight = true;
  std::string uid = desired.metadata.uid;
  if (!writes_.spawn(write_one(key, uid, std::move(desired), kind, e.seen), "run status write")) e.inflight = false;
}

awaitable<void> pool_shard::write_one(std::string key, std::string uid, api::run desired, write_kind kind,
                                      reactor::clock::time_point seen) {
  std::string body = api::encode_status_patch(desired);
  auto res = co_await client_->patch(api::runs, desired.metadata.namespace_, desired.metadata.name,
                                     kube::patch_type::merge, std::move(body), "status");
  // Back on this shard; the bookkeeping is plain code (no coroutine frame).
  write_done(key, uid, desired, kind, seen, res);
}

void pool_shard::write_done(const std::string& key, const std::string& uid, const api::run& desired, write_kind kind,
                            reactor::clock::time_point seen, const kube::result<std::string>& res) {
  obs::logger rlog = log_.with("run_uid", uid);
  auto pit = pools_.find(key);
  if (pit == pools_.end()) return;
  pool_ctx& pc = pit->second;
  auto eit = pc.pending.find(uid);
  pending_entry* e = eit == pc.pending.end() ? nullptr : &eit->second;
  // The newer object may already be here (watch before response): look again.
  if (e != nullptr) touch(pc, *e);
  if (res) {
    if (e != nullptr) {
      e->inflight = false;
      e->blocked_rv = desired.metadata.resource_version;  // wait for the newer object
    }
    switch (kind) {
      case write_kind::assign: {
        metrics_.get_counter(metric_sync, metric_sync_help, {{"runtime", pc.runtime}, {"result", "scheduled"}}).inc();
        metrics_
            .get_histogram("kruntimes_scheduler_decision_latency_seconds",
                           "From the latest watch event of a Run to its assignment being written.")
            .observe(clock_.now() - seen);
        if (desired.metadata.creation_timestamp)
          metrics_
              .get_histogram("kruntimes_scheduler_run_queue_duration_seconds",
                             "From a Run's creation to its assignment being written.")
              .observe(seconds(clock_.wall() - *desired.metadata.creation_timestamp));
        rlog.info("assigned", {{"namespace", desired.metadata.namespace_},
                               {"run", desired.metadata.name},
                               {"pod", desired.status.assigned_pod}});
        break;
      }
      case write_kind::cancel:
        rlog.info("cancelled before scheduling", {{"namespace", desired.metadata.namespace_}, {"run", desired.metadata.name}});
        break;
      case write_kind::invalid:
        rlog.info("invalid resource request", {{"namespace", desired.metadata.namespace_},
                                               {"run", desired.metadata.name},
                                               {"message", desired.status.message}});
        break;
      case write_kind::message:
        break;
    }
    return;
  }
  const kube::error& err = res.error();
  // Runs judged while this reservation held capacity deserve another look.
  if (kind == write_kind::assign && pc.pods.release(uid)) wake(pc, "");
  if (err.code == kube::errc::conflict) {
    if (kind == write_kind::assign)
      metrics_
          .get_counter("kruntimes_scheduler_reservation_conflicts_total", "Reservations dropped because of a conflict.",
                       {{"stage", "bind"}})
          .inc();
    rlog.info("status write conflicted; waiting for the newer Run", {{"run", desired.metadata.name}});
    if (e != nullptr) {
      e->inflight = false;
      e->blocked_rv = desired.metadata.resource_version;
    }
    return;
  }
  if (err.code == kube::errc::not_found) {
    if (e != nullptr) erase_pending(pc, uid);
    return;
  }
  if (err.code == kube::errc::cancelled) return;
  rlog.warn("status write failed; retrying", {{"run", desired.metadata.name}, {"error", err.describe()}});
  if (e != nullptr) {
    e->inflight = false;
    set_hold(pc, *e, clock_.wall() + std::chrono::duration_cast<std::chrono::microseconds>(write_retry_delay));
  }
}

awaitable<void> pool_shard::event_one(api::run r, std::string message) {
  kube::object_reference ref = kube::reference_to(r.metadata, std::string(api::api_version), "Run");
  kube::event_source src;
  src.component = "kruntimes-scheduler";
  src.host = host_;
  auto res = co_await kube::record_event(*client_, ref, "Warning", "FailedScheduling", message, src);
  if (!res)
    log_.with("run_uid", r.metadata.uid)
        .warn("could not record the FailedScheduling event", {{"error", res.error().describe()}});
}

}  // namespace krt::scheduler
