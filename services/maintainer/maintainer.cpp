#include "services/maintainer/maintainer.hpp"

#include <iostream>
#include <memory>
#include <set>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/kube/config.hpp"
#include "lib/kube/events.hpp"
#include "services/maintainer/sweep.hpp"

namespace krt::maintainer {

namespace {

using run_list = std::vector<std::shared_ptr<const api::run>>;

// Every Run of the namespace, page by page.
awaitable<kube::result<run_list>> list_runs(kube::client& c, std::string ns) {
  run_list out;
  std::string token;
  for (;;) {
    kube::list_options lo;
    lo.limit = 500;
    lo.continue_token = token;
    auto body = co_await c.list(api::runs, ns, lo);
    if (!body) co_return krt::unexpected(std::move(body).error());
    auto decoded = kube::decode_list(kube::codec_of<api::run>(), *body);
    if (!decoded) co_return kube::fail(kube::errc::decode, decoded.error().describe());
    for (const auto& item : decoded->items) out.push_back(kube::object_as<api::run>(item));
    token = decoded->meta.continue_token;
    if (token.empty()) co_return out;
  }
}

class maintainer {
 public:
  maintainer(kube::client& c, options o) : client_(c), opts_(std::move(o)), log_("maintainer") {}

  // Deletes the Run's directory, then its finalizer; false when either failed.
  awaitable<bool> clean_one(std::shared_ptr<const api::run> r) {
    auto rlog = log_.with("run_uid", r->metadata.uid);
    auto removed = remove_run_dir(opts_.filesystem_root, opts_.run_namespace, r->metadata.uid);
    if (!removed) {
      rlog.error("could not delete the Run's artifacts", {{"run", r->metadata.name}, {"error", removed.error()}});
      co_return false;
    }
    rlog.info(*removed ? "deleted the Run's artifacts" : "the Run has no artifacts directory",
              {{"run", r->metadata.name},
               {"path", (runs_dir(opts_.filesystem_root, opts_.run_namespace) / r->metadata.uid).string()}});
    bool has_finalizer = false;
    for (const auto& f : r->metadata.finalizers) has_finalizer = has_finalizer || f == api::artifact_cleanup_finalizer;
    if (!has_finalizer) co_return true;
    auto p = co_await client_.patch(api::runs, r->metadata.namespace_, r->metadata.name, kube::patch_type::merge,
                                    finalizer_removal_patch(*r));
    if (!p) {
      if (p.error().code == kube::errc::not_found) co_return true;
      // A conflict means the Run changed since our list; the next pass sees it.
      rlog.warn("could not remove the finalizer; trying again next pass",
                {{"run", r->metadata.name}, {"error", p.error().describe()}});
      co_return false;
    }
    rlog.info("removed the finalizer", {{"run", r->metadata.name}, {"finalizer", api::artifact_cleanup_finalizer}});
    auto about = kube::reference_to(r->metadata, std::string(api::api_version), "Run");
    kube::event_source source;
    source.component = "kruntimes-maintainer";
    std::string message = *removed ? "deleted the Run's artifacts from volume " + opts_.filesystem_volume_claim
                                   : "the Run stored no artifacts on volume " + opts_.filesystem_volume_claim;
    auto e = co_await kube::record_event(client_, about, "Normal", "ArtifactsDeleted", message, source);
    if (!e) rlog.debug("could not record an event", {{"error", e.error().describe()}});
    co_return true;
  }

  // One pass over the namespace: our deleting Runs, then orphans.
  awaitable<void> pass() {
    auto runs = co_await list_runs(client_, opts_.run_namespace);
    if (!runs) {
      log_.warn("listing Runs failed; trying again next pass", {{"error", runs.error().describe()}});
      co_return;
    }
    std::set<std::string> live;
    for (const auto& r : *runs) {
      live.insert(r->metadata.uid);
      if (should_clean(*r, opts_.store_hash)) (void)co_await clean_one(r);
    }
    auto grace = std::chrono::duration_cast<std::chrono::seconds>(opts_.orphan_grace);
    for (const auto& uid : find_orphans(opts_.filesystem_root, opts_.run_namespace, live,
                                        std::chrono::system_clock::now(), grace)) {
      auto removed = remove_run_dir(opts_.filesystem_root, opts_.run_namespace, uid);
      if (removed)
        log_.info("deleted an orphaned run directory (no Run has this uid)",
                  {{"run_uid", uid}, {"namespace", opts_.run_namespace}});
      else
        log_.warn("could not delete an orphaned run directory", {{"run_uid", uid}, {"error", removed.error()}});
    }
  }

  // --run-uid: that one Run, once.
  awaitable<int> once() {
    auto runs = co_await list_runs(client_, opts_.run_namespace);
    if (!runs) {
      std::cerr << "Error: listing Runs in namespace " << opts_.run_namespace << ": " << runs.error().describe() << "\n";
      co_return 1;
    }
    std::shared_ptr<const api::run> found;
    for (const auto& r : *runs)
      if (r->metadata.uid == opts_.run_uid) found = r;
    if (!found) {
      auto removed = remove_run_dir(opts_.filesystem_root, opts_.run_namespace, opts_.run_uid);
      if (!removed) {
        std::cerr << "Error: " << removed.error() << "\n";
        co_return 1;
      }
      log_.info(*removed ? "deleted the artifacts of a Run that no longer exists" : "nothing to delete",
                {{"run_uid", opts_.run_uid}, {"namespace", opts_.run_namespace}});
      co_return 0;
    }
    if (!found->metadata.deletion_timestamp) {
      std::cerr << "Error: Run " << opts_.run_namespace << "/" << found->metadata.name << " (uid " << opts_.run_uid
                << ") is not being deleted; delete it first (kubectl delete run " << found->metadata.name << ")\n";
      co_return 1;
    }
    if (!opts_.store_hash.empty() && !should_clean(*found, opts_.store_hash)) {
      std::cerr << "Error: Run " << found->metadata.name << " does not use the artifact store with hash "
                << opts_.store_hash << " (or carries no " << api::artifact_cleanup_finalizer << " finalizer)\n";
      co_return 1;
    }
    bool ok = co_await clean_one(found);
    co_return ok ? 0 : 1;
  }

 private:
  kube::client& client_;
  options opts_;
  obs::logger log_;
};

awaitable<void> sleep_or_shutdown(reactor::engine& eng, std::chrono::nanoseconds d) {
  using namespace asio::experimental::awaitable_operators;
  auto& clk = reactor::real_clock();
  co_await (clk.sleep_for(std::chrono::duration_cast<reactor::clock::duration>(d)) || eng.shutdown_requested().wait());
}

}  // namespace

awaitable<int> run(reactor::engine& eng, options o) {
  obs::logger log("maintainer");
  obs::install_task_exception_logging(log);
  executor ex = eng.get_executor(0);
  kube::load_options lo;
  lo.kubeconfig = o.kubeconfig;
  auto cfg = kube::load_config(lo);
  if (!cfg) {
    std::cerr << "Error: " << cfg.error() << "\n";
    co_return 1;
  }
  kube::client_options co;
  co.user_agent = "kruntimes-maintainer";
  auto client = kube::client::connect(ex, *cfg, co);
  if (!client) {
    std::cerr << "Error: " << client.error() << "\n";
    co_return 1;
  }
  maintainer m(**client, o);
  if (!o.run_uid.empty()) {
    int rc = co_await m.once();
    co_return rc;
  }
  log.info("cleaning deleted Runs' artifacts",
           {{"namespace", o.run_namespace},
            {"root", o.filesystem_root},
            {"volume_claim", o.filesystem_volume_claim},
            {"store_hash", o.store_hash}});
  while (!eng.shutdown_requested().is_set()) {
    co_await m.pass();
    if (eng.shutdown_requested().is_set()) break;
    co_await sleep_or_shutdown(eng, o.interval);
  }
  log.info("shutting down");
  co_return 0;
}

}  // namespace krt::maintainer
