#include "services/reaper/reaper.hpp"

#include <algorithm>
#include <vector>

#include "lib/api/phase.hpp"
#include "lib/kube/events.hpp"
#include "lib/reactor/deadline.hpp"

namespace krt::reaper {

namespace {

constexpr std::string_view metric_stale = "kruntimes_reaper_stale_runs_total";
constexpr std::string_view metric_stale_help = "Stale Runs acted on, by reason and action.";
constexpr std::string_view pod_index = "assigned-pod";
// Conflicting writes in a row before the key goes back to the rate limiter.
constexpr int max_rounds = 3;
// Timers never fire closer together than this (wall and steady clocks drift).
constexpr auto min_timer = std::chrono::milliseconds{50};
constexpr std::size_t max_vanished = 4096;

kube::informer_options with_namespace(const std::string& ns, std::string label_selector, obs::registry& metrics) {
  kube::informer_options o;
  o.namespace_ = ns;
  o.label_selector = std::move(label_selector);
  o.metrics = &metrics;
  return o;
}

std::vector<double> delay_buckets() { return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}; }

std::string pod_key_of(const api::pod_view& p) { return p.metadata.namespace_ + "/" + p.metadata.name; }

}  // namespace

reaper::reaper(executor ex, kube::client& c, reaper_options o, obs::registry& metrics)
    : ex_(ex),
      client_(c),
      opts_(std::move(o)),
      metrics_(metrics),
      log_("reaper"),
      runs_(c, with_namespace(opts_.namespace_, "", metrics)),
      pods_(c, with_namespace(opts_.namespace_, std::string(api::runtime_label), metrics)),
      queue_(ex, c.get_clock()),
      informers_(ex, "reaper-informers"),
      workers_(ex, "reaper-workers"),
      checks_(metrics.get_counter("kruntimes_reaper_checks_total", "Checks of a watched Run against its pod.")),
      conflicts_(metrics.get_counter("kruntimes_reaper_write_conflicts_total",
                                     "Status writes refused because the Run changed since it was read.")),
      delay_(metrics.get_histogram("kruntimes_reaper_detection_delay_seconds",
                                   "From the moment a Run's pod became stale (as the objects tell) to the "
                                   "Run's status being written.",
                                   {}, delay_buckets())),
      leader_gauge_(metrics.get_gauge("kruntimes_reaper_leader",
                                      "Whether this replica holds the lease (1) or is a standby (0).")) {
  // Zero series from the start, so dashboards and alerts see every pair.
  for (std::string_view reason : {api::reason::pod_gone, api::reason::pod_terminating, api::reason::pod_unhealthy})
    for (action a : {action::retried, action::failed, action::rescheduled})
      metrics_.get_counter(metric_stale, metric_stale_help,
                           {{"reason", std::string(reason)}, {"action", std::string(to_string(a))}});

  runs_.add_index(std::string(pod_index), [](const api::run& r) {
    return watched(r) ? std::vector<std::string>{pod_key(r)} : std::vector<std::string>{};
  });
  kube::informer_handlers rh;
  rh.on_add = [this](const kube::decoded_object& o) { on_run(*kube::object_as<api::run>(o)); };
  rh.on_update = [this](const kube::decoded_object&, const kube::decoded_object& n) {
    on_run(*kube::object_as<api::run>(n));
  };
  rh.on_delete = [this](const kube::decoded_object& o) {
    next_check_.erase(kube::key_of(kube::object_as<api::run>(o)->metadata));
  };
  runs_.base().add_handlers(std::move(rh));

  kube::informer_handlers ph;
  ph.on_add = [this](const kube::decoded_object& o) { on_pod_added(*kube::object_as<api::pod_view>(o)); };
  ph.on_update = [this](const kube::decoded_object& a, const kube::decoded_object& b) {
    on_pod_updated(*kube::object_as<api::pod_view>(a), *kube::object_as<api::pod_view>(b));
  };
  ph.on_delete = [this](const kube::decoded_object& o) { on_pod_deleted(*kube::object_as<api::pod_view>(o)); };
  pods_.base().add_handlers(std::move(ph));
}

reaper::~reaper() = default;

void reaper::start() {
  queue_.start();
  informers_.spawn(runs_.run(), "runs informer");
  informers_.spawn(pods_.run(), "pods informer");
  for (int i = 0; i < std::max(1, opts_.workers); ++i) workers_.spawn(worker_loop(), "check worker");
}

awaitable<void> reaper::stop() {
  leader_ = false;
  queue_.shut_down();
  // A check in flight finishes its write (its outcome is logged), within a
  // bound. Before the informers synced no check can be in flight (the
  // workers are still waiting for the sync), so there is nothing to drain.
  if (synced()) {
    bool drained = co_await reactor::with_timeout(workers_.drain(), opts_.stop_drain_timeout);
    if (!drained) log_.warn("status writes still in flight at shutdown; cancelling them");
  }
  co_await workers_.close();
  co_await informers_.close();
  co_await queue_.stop();
}

awaitable<void> reaper::wait_synced() {
  co_await runs_.wait_synced();
  co_await pods_.wait_synced();
}

std::optional<std::string> reaper::not_ready_reason() const {
  if (!runs_.has_synced()) return "Runs informer not synced: " + runs_.base().last_error();
  if (!pods_.has_synced()) return "Pods informer not synced: " + pods_.base().last_error();
  return std::nullopt;
}

void reaper::set_leader(bool leader) {
  bool was = leader_;
  leader_ = leader;
  leader_gauge_.set(leader ? 1 : 0);
  if (leader && !was) enqueue_all();
  if (!leader) next_check_.clear();
}

// ------------------------------------------------------------ informer events

void reaper::on_run(const api::run& r) {
  if (watched(r)) queue_.add(kube::key_of(r.metadata));
}

void reaper::enqueue_runs_on(const std::string& key) {
  for (const auto& r : runs_.by_index(std::string(pod_index), key)) queue_.add(kube::key_of(r->metadata));
}

void reaper::enqueue_all() {
  for (const auto& r : runs_.list())
    if (watched(*r)) queue_.add(kube::key_of(r->metadata));
}

void reaper::on_pod_added(const api::pod_view& p) {
  std::string key = pod_key_of(p);
  vanished_.erase(key);
  enqueue_runs_on(key);
}

void reaper::on_pod_updated(const api::pod_view& old_p, const api::pod_view& cur) {
  if (pod_change_matters(old_p, cur)) enqueue_runs_on(pod_key_of(cur));
}

void reaper::on_pod_deleted(const api::pod_view& p) {
  std::string key = pod_key_of(p);
  if (vanished_.size() >= max_vanished) vanished_.clear();
  vanished_[key] = client_.get_clock().wall();
  enqueue_runs_on(key);
}

// ------------------------------------------------------------ checks

awaitable<void> reaper::worker_loop() {
  co_await wait_synced();
  for (;;) {
    auto key = co_await queue_.get();
    if (!key) co_return;
    // A standby drops its keys; becoming leader re-checks everything.
    if (leader_) co_await check_one(*key);
    queue_.done(*key);
  }
}

void reaper::check_due(const std::string& key, wall_time now) {
  auto it = next_check_.find(key);
  if (it != next_check_.end() && it->second <= now) next_check_.erase(it);
}

void reaper::schedule_check(const std::string& key, wall_time when, wall_time now) {
  auto it = next_check_.find(key);
  // An earlier check is already on its way; it schedules the next one.
  if (it != next_check_.end() && it->second > now && it->second <= when) return;
  next_check_[key] = when;
  auto delay = std::max<reactor::clock::duration>(std::chrono::duration_cast<reactor::clock::duration>(when - now),
                                                  min_timer);
  queue_.add_after(key, delay);
}

awaitable<void> reaper::check_one(std::string key) {
  checks_.inc();
  reactor::clock& clk = client_.get_clock();
  check_due(key, clk.wall());
  std::shared_ptr<const api::run> run = runs_.get(key);
  for (int round = 0; round < max_rounds; ++round) {
    if (!run || !watched(*run)) {
      next_check_.erase(key);
      co_return;
    }
    const std::string ns = run->metadata.namespace_;
    const std::string name = run->metadata.name;
    const std::string pod_name = run->status.assigned_pod;
    wall_time now = clk.wall();
    std::shared_ptr<const api::pod_view> pod = pods_.get(pod_key(*run));
    verdict v = check_pod(*run, pod.get(), now, opts_.stale_threshold);
    if (v.stale && v.reason == api::reason::pod_gone) {
      // The cache may lag a pod the scheduler has just used: ask the server.
      auto live = co_await kube::get_as<api::pod_view>(client_, ns, pod_name);
      if (!live && live.error().code != kube::errc::not_found) {
        failed_call(*run, "reading the assigned pod", live.error());
        co_return;
      }
      pod.reset();
      if (live) pod = *live;
      now = clk.wall();
      v = check_pod(*run, pod.get(), now, opts_.stale_threshold);
    }
    if (!v.stale) {
      queue_.forget(key);
      if (v.recheck_at) schedule_check(key, *v.recheck_at, now);
      co_return;
    }
    if (!leader_) co_return;
    action a = decide(*run, v.reason);
    api::run desired = with_stale(*run, a, v.reason, v.message, now);
    std::string body = api::encode_status_patch(desired);
    auto res = co_await client_.patch(api::runs, ns, name, kube::patch_type::merge, std::move(body), "status");
    if (res) {
      written(*run, desired, a, v, clk.wall());
      co_await record(*run, desired, a, v);
      co_return;
    }
    kube::errc code = res.error().code;
    if (code == kube::errc::not_found || code == kube::errc::cancelled) co_return;
    if (code != kube::errc::conflict) {
      failed_call(*run, "writing the Run's status", res.error());
      co_return;
    }
    // The Run changed since it was read: decide again from the server's copy.
    conflicted(*run);
    auto fresh = co_await kube::get_as<api::run>(client_, ns, name);
    if (!fresh) {
      if (fresh.error().code != kube::errc::not_found && fresh.error().code != kube::errc::cancelled)
        failed_call(*run, "re-reading the Run", fresh.error());
      co_return;
    }
    run = *fresh;
  }
  queue_.add_rate_limited(key);
}

void reaper::written(const api::run& before, const api::run& after, action a, const verdict& v,
                     wall_time written_at) {
  queue_.forget(kube::key_of(before.metadata));
  next_check_.erase(kube::key_of(before.metadata));
  metrics_
      .get_counter(metric_stale, metric_stale_help,
                   {{"reason", std::string(v.reason)}, {"action", std::string(to_string(a))}})
      .inc();
  std::optional<wall_time> since = v.stale_since;
  if (!since && v.reason == api::reason::pod_gone)
    if (auto it = vanished_.find(pod_key(before)); it != vanished_.end()) since = it->second;
  if (since && written_at >= *since) delay_.observe(std::chrono::nanoseconds(written_at - *since));
  log_.with("run_uid", before.metadata.uid)
      .info("stale Run", {{"namespace", before.metadata.namespace_},
                          {"run", before.metadata.name},
                          {"pod", before.status.assigned_pod},
                          {"phase", before.status.phase_text},
                          {"reason", v.reason},
                          {"message", v.message},
                          {"action", to_string(a)},
                          {"attempt", static_cast<std::int64_t>(after.status.attempt)}});
}

void reaper::conflicted(const api::run& r) {
  conflicts_.inc();
  log_.with("run_uid", r.metadata.uid)
      .info("status write conflicted; deciding again from the current Run",
            {{"namespace", r.metadata.namespace_}, {"run", r.metadata.name}});
}

void reaper::failed_call(const api::run& r, std::string_view what, const kube::error& e) {
  log_.with("run_uid", r.metadata.uid)
      .warn("check failed; retrying",
            {{"namespace", r.metadata.namespace_}, {"run", r.metadata.name}, {"while", what}, {"error", e.describe()}});
  queue_.add_rate_limited(kube::key_of(r.metadata));
}

awaitable<void> reaper::record(api::run before, api::run after, action a, verdict v) {
  event_text ev = stale_event(before, after, a, v.reason, v.message);
  kube::object_reference ref = kube::reference_to(before.metadata, std::string(api::api_version), "Run");
  kube::event_source src;
  src.component = "stale-reaper";
  src.host = opts_.host;
  auto res = co_await kube::record_event(client_, ref, ev.type, ev.reason, ev.message, src);
  if (!res)
    log_.with("run_uid", before.metadata.uid)
        .warn("could not record an event", {{"reason", ev.reason}, {"error", res.error().describe()}});
}

}  // namespace krt::reaper
