#include "sidecar/daemon.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lib/api/phase.hpp"
#include "lib/api/pod.hpp"
#include "lib/api/retry.hpp"
#include "lib/core/time.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/events.hpp"
#include "sidecar/daemon_internal.hpp"

namespace krt::runtimed {

using namespace asio::experimental::awaitable_operators;
using namespace internal;

daemon::daemon(executor ex, kube::client& kc, options opts)
    : ex_(ex),
      kc_(kc),
      opts_(std::move(opts)),
      log_("runtimed"),
      watch_done_(ex),
      stop_ev_(ex),
      finished_(opts_.finished_log_entries, opts_.finished_log_bytes),
      runs_(ex, "runtimed-runs"),
      bg_(ex, "runtimed-background"),
      http_(ex,
            net::http_server_options{.address = opts_.http_address, .port = opts_.http_port},
            [this](net::http_request& req, net::response_writer& w) { return handle_http(req, w); }) {
  ws_opts_.root = opts_.workspace_dir;
  if (opts_.artifact_driver == "filesystem") {
    ws_opts_.artifacts = true;
    filesystem_store s;
    s.root = opts_.artifact_root;
    s.volume_claim = opts_.artifact_volume_claim;
    store_ = s;
  }
  if (!opts_.pod_name.empty()) log_ = log_.with("pod", opts_.pod_name);
}

daemon::~daemon() { pool_.join(); }

krt::result<void, std::string> daemon::start() {
  auto l = http_.listen();
  if (!l) return unexpected(l.error());
  http_.start();
  set_active_gauge();
  bg_.spawn(startup(), "startup");
  return {};
}

awaitable<void> daemon::stop() {
  stopping_ = true;
  stop_ev_.set();
  wake_all();
  co_await http_.stop();
  if (watch_ != nullptr) watch_->cancel();
  co_await runs_.close();
  co_await bg_.drain();
  co_await bg_.close();
}

awaitable<bool> daemon::sleep_or_stop(std::chrono::milliseconds d) {
  if (stopping_) co_return false;
  asio::steady_timer t(ex_, d);
  co_await (stop_ev_.wait() || t.async_wait(asio::use_awaitable));
  co_return !stopping_;
}

void daemon::wake_all() {
  for (auto& [uid, a] : active_) a->wake.set();
}

// ------------------------------------------------------------------ startup

awaitable<bool> daemon::connect_runtime() {
  // The socket first (docs/run-path.md), then TCP; until one answers Health.
  std::chrono::milliseconds backoff = 50ms;
  while (!stopping_) {
    std::vector<std::string> targets;
    if (!opts_.runtime_socket.empty()) targets.push_back(opts_.runtime_socket);
    if (!opts_.runtime_endpoint.empty()) targets.push_back(opts_.runtime_endpoint);
    for (const auto& t : targets) {
      auto c = std::make_unique<runtime_client>(runtime_client::make_channel(t));
      auto [st, resp] = co_await c->health(1s, true);
      if (st.ok()) {
        log_.info("connected to the runtime server", {{"target", t}, {"healthy", resp.healthy()}});
        rc_ = std::move(c);
        if (resp.healthy()) {
          healthy_once_ = true;
          last_healthy_ = steady::now();
        }
        co_return true;
      }
      log_.debug("runtime server not reachable", {{"target", t}, {"error", st.error_message()}});
    }
    if (!co_await sleep_or_stop(backoff)) co_return false;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s);
  }
  co_return false;
}

awaitable<void> daemon::startup() {
  if (!co_await connect_runtime()) co_return;
  bg_.spawn(watch_loop(), "watch");

  kube::informer_options io;
  io.namespace_ = opts_.pod_namespace;
  io.field_selector = "status.assignedPod=" + opts_.pod_name;
  io.metrics = &metrics_;
  informer_ = std::make_unique<kube::informer<api::run>>(kc_, io);
  informer_->on_add([this](const api::run& r) { on_run(r); });
  informer_->on_update([this](const api::run&, const api::run& r) { on_run(r); });
  informer_->on_delete([this](const api::run& r) { on_run_deleted(r); });
  runs_.spawn(informer_loop(), "informer");
  {
    auto synced = co_await (informer_->wait_synced() || stop_ev_.wait());
    if (synced.index() != 0 || stopping_) co_return;
  }

  // Recovery (SPEC §4): what the Runtime Server still holds.
  std::map<std::string, pb::StatusResponse> held;
  for (;;) {
    auto [st, resp] = co_await rc_->list(rpc_timeout);
    if (st.ok()) {
      for (const auto& e : resp.entries()) held[e.id()] = e;
      break;
    }
    log_.warn("listing executions failed; retrying", {{"error", st.error_message()}});
    if (!co_await sleep_or_stop(500ms)) co_return;
  }
  // Scheduled Runs that this pod started before runtimed restarted: their
  // workspace is here, but the Runtime Server holds no execution of them.
  std::vector<std::string> unclaimed;
  for (const auto& r : informer_->list())
    if (is_ours(*r) && api::phase_of(r->status) == api::phase::scheduled && !held.count(r->metadata.uid))
      unclaimed.push_back(r->metadata.uid);
  if (!unclaimed.empty()) {
    std::function<std::set<std::string>()> find_job = [root = ws_opts_.root, unclaimed] {
      std::set<std::string> found;
      std::error_code ec;
      for (const auto& uid : unclaimed)
        if (std::filesystem::is_directory(std::filesystem::path(root) / uid, ec)) found.insert(uid);
      return found;
    };
    interrupted_ = co_await blocking<std::set<std::string>>(std::move(find_job));
    for (const auto& uid : interrupted_)
      log_.info("a Run was started here before runtimed restarted, without a durable claim: its next start "
                "counts as a new attempt",
                {{"run_uid", uid}});
  }
  ready_ = true;
  for (const auto& r : informer_->list()) note_waiting(r);
  std::set<std::string> running_here;
  for (const auto& r : informer_->list()) {
    if (!is_ours(*r) || api::phase_of(r->status) != api::phase::running) continue;
    running_here.insert(r->metadata.uid);
    if (active_.count(r->metadata.uid)) continue;
    auto h = held.find(r->metadata.uid);
    begin(r, true, true, h == held.end() ? nullptr : &h->second);
  }
  // Executions whose Run is finished or gone (runtimed died between the
  // terminal write and Forget) would otherwise stay on the server.
  for (const auto& [id, e] : held)
    if (!running_here.count(id) && is_terminal_state(e.state())) {
      auto [st, resp] = co_await rc_->forget(id, rpc_timeout);
      (void)resp;
      if (st.ok()) log_.info("forgot a finished execution left by a previous runtimed", {{"run_uid", id}});
    }
  start_pending();
  bg_.spawn(heartbeat_loop(), "heartbeat");
}

awaitable<void> daemon::informer_loop() { co_await informer_->run(); }

// ------------------------------------------------------------------ watch

awaitable<void> daemon::watch_loop() {
  std::chrono::milliseconds backoff = 50ms;
  while (!stopping_) {
    watch_done_.reset();
    watch_done_flag_ = false;
    snapshot_seen_.clear();
    auto ws = std::make_unique<watch_stream>(
        ex_, [this](const pbx::ExecutionEvent& ev) { on_watch_event(ev); },
        [this](const grpc::Status& s) { on_watch_done(s); });
    watch_ = ws.get();
    ws->start(rc_->events_stub());
    while (!watch_done_flag_) co_await watch_done_.wait();
    watch_ = nullptr;
    ws.reset();
    bool was_live = push_live_;
    push_live_ = false;
    wake_all();  // running executions fall back to polling until the stream is back
    if (stopping_) break;
    if (watch_status_.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      push_unimplemented_ = true;
      log_.info("the runtime server has no ExecutionEvents/Watch; polling Status for running executions");
      co_return;
    }
    if (was_live) backoff = 50ms;
    log_.warn("execution event stream ended; reopening",
              {{"code", static_cast<int>(watch_status_.error_code())}, {"error", watch_status_.error_message()}});
    if (!co_await sleep_or_stop(backoff)) break;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
}

void daemon::on_watch_done(const grpc::Status& s) {
  watch_status_ = s;
  watch_done_flag_ = true;
  watch_done_.set();
}

void daemon::on_watch_event(const pbx::ExecutionEvent& ev) {
  if (ev.snapshot_done()) {
    push_live_ = true;
    // A running execution the snapshot did not list may be gone: ask Status.
    for (auto& [uid, a] : active_)
      if (a->started && !a->terminal_status && !snapshot_seen_.count(uid)) a->verify = true;
    wake_all();
    return;
  }
  if (!ev.has_status()) return;
  const auto& st = ev.status();
  if (!push_live_) snapshot_seen_.insert(st.id());
  auto it = active_.find(st.id());
  if (it == active_.end()) return;
  auto& a = *it->second;
  if (!a.executing) return;
  if (!is_terminal_state(st.state())) {
    a.fresh_seen = true;
    return;
  }
  if ((!a.need_fresh || a.fresh_seen) && !a.terminal_status) {
    a.terminal_status = st;
    if (!a.timing.exited) a.timing.exited = wall_now();
    a.wake.set();
  }
}

// ------------------------------------------------------------------ heartbeat

awaitable<void> daemon::heartbeat_loop() {
  // First beat only once the Runtime Server answers Health (docs/run-path.md).
  while (!stopping_) {
    auto [st, resp] = co_await rc_->health(2s, false);
    if (st.ok() && resp.healthy()) {
      healthy_once_ = true;
      last_healthy_ = steady::now();
      break;
    }
    if (!co_await sleep_or_stop(200ms)) co_return;
  }
  if (!heartbeat_since_) {
    auto pod = co_await kube::get_as<api::pod_view>(kc_, opts_.pod_namespace, opts_.pod_name);
    if (pod) {
      const auto* c = api::pod_condition(**pod, api::heartbeat_condition);
      if (c != nullptr && c->status == "True" && c->last_transition_time) heartbeat_since_ = c->last_transition_time;
    }
  }
  while (!stopping_) {
    auto now = wall_now();
    if (!heartbeat_since_) heartbeat_since_ = now;
    json::writer w;
    w.begin_object().key("status").begin_object().key("conditions").begin_array().begin_object();
    w.field("type", api::heartbeat_condition).field("status", "True").field("reason", "Heartbeat");
    w.field("message", "runtimed heartbeat is fresh");
    w.field("lastProbeTime", format_rfc3339_micro(now));
    w.field("lastTransitionTime", format_rfc3339_micro(*heartbeat_since_));
    w.end_object().end_array().end_object().end_object();
    auto r = co_await kc_.patch(kube::resources::pods, opts_.pod_namespace, opts_.pod_name,
                                kube::patch_type::strategic, w.take(), "status");
    if (!r) log_.warn("heartbeat failed", {{"error", r.error().describe()}});
    // Health is part of readiness: refresh it with every beat.
    auto [hs, hr] = co_await rc_->health(2s, false);
    if (hs.ok() && hr.healthy()) last_healthy_ = steady::now();
    if (!co_await sleep_or_stop(opts_.heartbeat_interval)) co_return;
  }
}

// ------------------------------------------------------------------ Run discovery

bool daemon::is_ours(const api::run& r) const {
  if (r.metadata.namespace_ != opts_.pod_namespace || r.status.assigned_pod != opts_.pod_name) return false;
  if (!opts_.pod_uid.empty() && !r.status.assigned_pod_uid.empty() && r.status.assigned_pod_uid != opts_.pod_uid)
    return false;
  return true;
}

void daemon::set_latest(active_run& a, std::shared_ptr<const api::run> r) {
  if (a.latest && !newer_or_same(r->metadata.resource_version, a.latest->metadata.resource_version)) return;
  a.latest = std::move(r);
}

void daemon::on_run(const api::run& r) {
  if (stopping_) return;
  auto it = active_.find(r.metadata.uid);
  if (it != active_.end()) {
    set_latest(*it->second, std::make_shared<const api::run>(r));
    it->second->wake.set();
    return;
  }
  auto shared = std::make_shared<const api::run>(r);
  note_waiting(shared);
  if (!ready_ || !is_ours(r)) return;
  auto p = api::phase_of(r.status);
  if (p == api::phase::scheduled) {
    start_pending();
  } else if (p == api::phase::running && !finished_.get(r.metadata.uid)) {
    // Running here but not known: a Run we lost track of. Recovery settles
    // it (a stale event after our own terminal write fails its precondition).
    begin(shared, true, true);
  }
}

void daemon::on_run_deleted(const api::run& r) {
  drop_waiting(r.metadata.uid);
  claim_first_.erase(r.metadata.uid);
  interrupted_.erase(r.metadata.uid);
  auto it = active_.find(r.metadata.uid);
  if (it == active_.end()) return;
  it->second->deleted = true;
  it->second->wake.set();
}

void daemon::note_waiting(const std::shared_ptr<const api::run>& r) {
  const std::string& uid = r->metadata.uid;
  drop_waiting(uid);
  if (active_.count(uid) || !is_ours(*r) || api::phase_of(r->status) != api::phase::scheduled) return;
  wait_key k{r->metadata.creation_timestamp.value_or(wall_time{}), r->metadata.name, uid};
  waiting_.insert(k);
  waiting_by_uid_.emplace(uid, std::make_pair(std::move(k), r));
}

void daemon::drop_waiting(const std::string& uid) {
  auto it = waiting_by_uid_.find(uid);
  if (it == waiting_by_uid_.end()) return;
  waiting_.erase(it->second.first);
  waiting_by_uid_.erase(it);
}

void daemon::start_pending() {
  if (!ready_ || stopping_ || !informer_) return;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    auto w = waiting_by_uid_.find(std::get<2>(*it));
    ++it;  // begin() removes the entry
    if (w == waiting_by_uid_.end()) continue;
    std::shared_ptr<const api::run> r = w->second.second;
    // A cancelled Run is settled at once, whatever the capacity.
    if (r->spec.cancel_requested) {
      begin(r, false, false);
    } else if (slots_used_ < opts_.workers) {
      begin(r, false, true);
    }
  }
}

void daemon::begin(const std::shared_ptr<const api::run>& r, bool recover, bool takes_slot,
                   const pb::StatusResponse* held) {
  drop_waiting(r->metadata.uid);
  auto a = std::make_shared<active_run>(ex_);
  if (held != nullptr) {
    a->executing = true;
    a->started = true;
    if (is_terminal_state(held->state())) a->terminal_status = *held;
  }
  a->uid = r->metadata.uid;
  a->latest = r;
  a->takes_slot = takes_slot;
  a->log = log_.with("run_uid", r->metadata.uid)
               .with("run_name", r->metadata.name)
               .with("namespace", r->metadata.namespace_)
               .with("runtime", r->spec.runtime);
  active_[a->uid] = a;
  if (takes_slot) ++slots_used_;
  set_active_gauge();
  if (!runs_.spawn(run_one(a, recover), "run " + a->uid)) {
    active_.erase(a->uid);
    if (takes_slot) --slots_used_;
  }
}

void daemon::set_active_gauge() {
  metrics_.get_gauge("kruntimes_runtimed_active_runs", "Runs this runtimed is executing or retrying",
                     {{"runtime", opts_.runtime_name}})
      .set(static_cast<double>(slots_used_));
}

void daemon::observe_dispatch(const std::string& runtime, std::chrono::steady_clock::duration d) {
  metrics_.get_histogram("kruntimes_runtimed_dispatch_duration_seconds",
                         "Time from claim to the execution started on the Runtime Server", {{"runtime", runtime}})
      .observe(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

void daemon::record_timing(active_run& a, api::phase p, wall_time completion, bool written) {
  run_timing t = a.timing;
  t.uid = a.uid;
  t.name = a.latest->metadata.name;
  t.namespace_ = a.latest->metadata.namespace_;
  t.attempt = std::max(1, a.latest->status.attempt);
  if (written) {
    t.phase = std::string(api::to_string(p));
    t.completion = completion;
    t.completed = wall_now();
  }
  timings_.put(std::move(t));
}

void daemon::count_retry(const std::string& runtime, const std::string& reason) {
  metrics_.get_counter("kruntimes_runtimed_run_retries_total", "In-pod retries",
                       {{"runtime", runtime}, {"reason", reason}})
      .inc();
}

void daemon::count_finished(const std::string& runtime, api::phase p, const std::string& reason,
                            std::optional<wall_time> start, wall_time now) {
  metrics_.get_counter("kruntimes_runtimed_runs_total", "Runs finished by runtimed",
                       {{"runtime", runtime}, {"result", lower(api::to_string(p))}})
      .inc();
  if (p != api::phase::succeeded)
    metrics_.get_counter("kruntimes_runtimed_run_failures_total", "Runs that did not succeed",
                         {{"runtime", runtime}, {"phase", std::string(api::to_string(p))}, {"reason", reason}})
        .inc();
  if (start)
    metrics_.get_histogram("kruntimes_runtimed_run_duration_seconds", "Run duration from startTime to completion",
                           {{"runtime", runtime}})
        .observe(std::chrono::duration_cast<std::chrono::nanoseconds>(now - *start));
}

void daemon::record_event(const active_run& a, std::string_view type, std::string_view reason, std::string message) {
  auto ref = kube::reference_to(a.latest->metadata, std::string(api::api_version), "Run");
  runs_.spawn(emit_event(std::move(ref), std::string(type), std::string(reason), std::move(message)), "event");
}

awaitable<void> daemon::emit_event(kube::object_reference ref, std::string type, std::string reason,
                                   std::string message) {
  kube::event_source src;
  src.component = "runtimed";
  src.host = opts_.pod_name;
  auto r = co_await kube::record_event(kc_, ref, type, reason, message, src);
  if (!r) log_.debug("event not recorded", {{"reason", reason}, {"error", r.error().describe()}});
}

}  // namespace krt::runtimed
