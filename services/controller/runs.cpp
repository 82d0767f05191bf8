#include "services/controller/runs.hpp"

#include <exception>

#include "lib/api/store_hash.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/events.hpp"
#include "services/controller/build.hpp"

namespace krt::controller {

run_reconciler::run_reconciler(executor ex, kube::client& c, run_reconciler_options o,
                               runtime_controller& runtimes, obs::registry& metrics)
    : ex_(ex),
      client_(c),
      opts_(std::move(o)),
      runtimes_(runtimes),
      log_("controller"),
      runs_(c, kube::informer_options{.namespace_ = opts_.namespace_, .metrics = &metrics}),
      queue_(ex, c.get_clock()),
      tasks_(ex, "run-reconciler"),
      deleted_ttl_(metrics.get_counter("kruntimes_controller_runs_deleted_total", "Runs the controller deleted, by reason",
                                       {{"reason", "ttl"}})) {
  auto on_add = [this](const kube::decoded_object& o) { consider(*kube::object_as<api::run>(o)); };
  auto on_update = [on_add](const kube::decoded_object&, const kube::decoded_object& n) { on_add(n); };
  auto on_delete = [this](const kube::decoded_object& o) { warned_.erase(kube::object_as<api::run>(o)->metadata.uid); };
  runs_.base().add_handlers({on_add, on_update, on_delete});
}

run_reconciler::~run_reconciler() = default;

void run_reconciler::consider(const api::run& r) {
  // Only Runs with something to do are queued; the reconcile decides what.
  if (has_cleanup_finalizer(r) || ttl_due(r)) queue_.add(kube::key_of(r.metadata));
}

void run_reconciler::start() {
  queue_.start();
  tasks_.spawn(runs_.run(), "runs informer");
  for (int i = 0; i < std::max(1, opts_.workers); ++i) tasks_.spawn(worker_loop(), "run worker");
}

awaitable<void> run_reconciler::stop() {
  queue_.shut_down();
  co_await tasks_.close();
  co_await queue_.stop();
}

awaitable<void> run_reconciler::worker_loop() {
  co_await runs_.wait_synced();
  co_await runtimes_.wait_synced();
  for (;;) {
    auto key = co_await queue_.get();
    if (!key) co_return;
    kube::result<void> r = kube::fail(kube::errc::other, "reconcile did not run");
    std::string what;
    try {
      r = co_await reconcile(*key);
    } catch (const std::exception& e) {
      what = e.what();
    }
    if (!what.empty()) r = kube::fail(kube::errc::other, "unexpected: " + what);
    if (r) {
      queue_.forget(*key);
    } else if (r.error().code != kube::errc::cancelled) {
      if (r.error().code == kube::errc::conflict)
        log_.debug("Run reconcile raced a newer version; retrying", {{"run", *key}, {"error", r.error().describe()}});
      else
        log_.warn("Run reconcile failed; retrying", {{"run", *key}, {"error", r.error().describe()}});
      queue_.add_rate_limited(*key);
    }
    queue_.done(*key);
  }
}

awaitable<kube::result<void>> run_reconciler::reconcile(std::string key) {
  auto r = runs_.get(key);
  if (!r) co_return kube::result<void>{};
  if (has_cleanup_finalizer(*r)) {
    auto c = co_await cleanup(*r);
    if (!c) co_return c;
  }
  auto left = ttl_remaining(*r, client_.get_clock().wall());
  if (!left) co_return kube::result<void>{};
  if (left->count() > 0) {
    queue_.add_after(key, *left);
    co_return kube::result<void>{};
  }
  co_return co_await delete_expired(*r);
}

awaitable<kube::result<void>> run_reconciler::delete_expired(const api::run& r) {
  kube::delete_options d;
  d.propagation_policy = "Background";
  d.precondition_uid = r.metadata.uid;
  auto res = co_await client_.remove(api::runs, r.metadata.namespace_, r.metadata.name, d);
  if (!res) {
    // Gone already, or the name now belongs to a newer Run (uid precondition).
    if (res.error().code == kube::errc::not_found || res.error().code == kube::errc::conflict)
      co_return kube::result<void>{};
    co_return krt::unexpected(std::move(res).error());
  }
  deleted_ttl_.inc();
  log_.info("deleted a finished Run whose TTL expired",
            {{"run", r.metadata.name},
             {"namespace", r.metadata.namespace_},
             {"run_uid", r.metadata.uid},
             {"ttl_seconds", static_cast<std::int64_t>(r.spec.ttl_seconds_after_finished.value_or(0))}});
  co_return kube::result<void>{};
}

awaitable<kube::result<void>> run_reconciler::cleanup(const api::run& r) {
  const std::string& ns = r.metadata.namespace_;
  std::string key = kube::key_of(r.metadata);
  std::optional<api::artifact_store_spec> store;
  if (api::store_snapshot_empty(r.status.artifact_store)) {
    auto rt = runtimes_.runtime(ns + "/" + r.spec.runtime);
    if (!rt || !rt->spec.artifact_store) {
      // Nothing to copy (yet): look again later; the Runtime may appear.
      log_.debug("no artifact store to record for the Run", {{"run", r.metadata.name}, {"namespace", ns}});
      queue_.add_after(key, opts_.cleanup_requeue);
      co_return kube::result<void>{};
    }
    store = *rt->spec.artifact_store;
    auto c = co_await copy_store(r, *store);
    if (!c) co_return c;
  } else {
    store = api::parse_store_snapshot(*r.status.artifact_store);
  }
  if (!r.metadata.deletion_timestamp) co_return kube::result<void>{};
  queue_.add_after(key, opts_.cleanup_requeue);  // while the finalizer stays
  if (!store) {
    co_await warn_once(r, "ArtifactCleanupFailed", "status.artifactStore is not a JSON object; the artifacts of this Run "
                                                   "cannot be located. Remove the finalizer " +
                                                       std::string(api::artifact_cleanup_finalizer) + " by hand.");
    co_return kube::result<void>{};
  }
  if (store->driver != "filesystem") {
    co_await warn_once(r, "ArtifactCleanupUnsupported",
                       "artifact store driver \"" + store->driver +
                           "\" is not cleaned up yet (only filesystem is); delete the objects yourself and remove "
                           "the finalizer " + std::string(api::artifact_cleanup_finalizer));
    co_return kube::result<void>{};
  }
  auto a = co_await ensure(resources::service_accounts, ns, build_maintainer_service_account(ns));
  if (!a) co_return a;
  auto b = co_await ensure(resources::roles, ns, build_maintainer_role(ns));
  if (!b) co_return b;
  auto c = co_await ensure(resources::role_bindings, ns, build_maintainer_role_binding(ns));
  if (!c) co_return c;
  auto d = co_await ensure(resources::deployments, ns, build_maintainer_deployment(ns, *store, opts_.maintainer));
  co_return d;
}

awaitable<kube::result<void>> run_reconciler::copy_store(const api::run& r, const api::artifact_store_spec& store) {
  json::writer w;
  w.begin_object();
  w.key("metadata").begin_object().field("resourceVersion", r.metadata.resource_version).end_object();
  w.key("status").begin_object().key("artifactStore").raw(api::store_spec_json(store)).end_object();
  w.end_object();
  auto p = co_await client_.patch(api::runs, r.metadata.namespace_, r.metadata.name, kube::patch_type::merge,
                                  w.take(), "status");
  if (!p) {
    if (p.error().code == kube::errc::not_found) co_return kube::result<void>{};
    co_return krt::unexpected(std::move(p).error());
  }
  log_.info("recorded the Run's artifact store from its Runtime",
            {{"run", r.metadata.name}, {"namespace", r.metadata.namespace_}, {"run_uid", r.metadata.uid}});
  co_return kube::result<void>{};
}

awaitable<kube::result<void>> run_reconciler::ensure(const kube::resource& res, std::string ns, bj::object desired) {
  auto r = co_await runtimes_.apply_object(res, std::move(ns), std::move(desired), std::string(), "artifact cleanup");
  if (!r) co_return krt::unexpected(std::move(r).error());
  co_return kube::result<void>{};
}

awaitable<void> run_reconciler::warn_once(const api::run& r, std::string reason, std::string message) {
  if (!warned_.insert(r.metadata.uid).second) co_return;
  log_.warn(message, {{"run", r.metadata.name}, {"namespace", r.metadata.namespace_}, {"run_uid", r.metadata.uid},
                      {"reason", reason}});
  auto about = kube::reference_to(r.metadata, std::string(api::api_version), "Run");
  kube::event_source source;
  source.component = "kruntimes-controller";
  auto e = co_await kube::record_event(client_, about, "Warning", reason, message, source);
  if (!e) log_.warn("could not record an event", {{"run", r.metadata.name}, {"error", e.error().describe()}});
}

}  // namespace krt::controller
