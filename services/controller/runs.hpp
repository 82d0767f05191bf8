#pragma once
// The Run side of the controller (SPEC §8), one informer on Runs and one
// work queue of Run keys:
//
// - TTL: a finished Run with spec.ttlSecondsAfterFinished > 0 is deleted at
//   completionTime + ttl (uid precondition, Background propagation). Until
//   then its key waits in the queue's delay heap for the remaining time:
//   one timer for every Run, no polling.
// - Artifact cleanup, for Runs carrying kruntimes.io/artifact-cleanup: an
//   empty status.artifactStore is filled from the Runtime's store; once the
//   Run is being deleted the namespace gets the maintainer's
//   ServiceAccount, Role, RoleBinding and Deployment
//   runtime-maintainer-<store hash>, which deletes the files and removes the
//   finalizer. Such Runs are looked at again every 30 s.
//
// Affinity: per-shard, the shard of the runtime_controller whose caches it
// reads. Lifetime: start() spawns the informer and workers; stop() shuts the
// queue and waits. The client and the runtime_controller must outlive it.

#include <memory>
#include <string>
#include <unordered_set>

#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/informer.hpp"
#include "lib/kube/workqueue.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/controller/cleanup_build.hpp"
#include "services/controller/controller.hpp"

namespace krt::controller {

struct run_reconciler_options {
  std::string namespace_;  // empty: every namespace
  int workers = 2;
  maintainer_options maintainer;
  std::chrono::seconds cleanup_requeue{30};
};

class run_reconciler {
 public:
  run_reconciler(executor ex, kube::client& c, run_reconciler_options o, runtime_controller& runtimes,
                 obs::registry& metrics);
  ~run_reconciler();

  void start();
  awaitable<void> stop();
  bool synced() const { return runs_.has_synced(); }

  // One reconcile of the Run "namespace/name".
  awaitable<kube::result<void>> reconcile(std::string key);

 private:
  awaitable<void> worker_loop();
  void consider(const api::run& r);
  awaitable<kube::result<void>> delete_expired(const api::run& r);
  awaitable<kube::result<void>> cleanup(const api::run& r);
  awaitable<kube::result<void>> copy_store(const api::run& r, const api::artifact_store_spec& store);
  awaitable<kube::result<void>> ensure(const kube::resource& res, std::string ns, bj::object desired);
  awaitable<void> warn_once(const api::run& r, std::string reason, std::string message);

  executor ex_;
  kube::client& client_;
  run_reconciler_options opts_;
  runtime_controller& runtimes_;
  obs::logger log_;
  kube::informer<api::run> runs_;
  kube::work_queue queue_;
  reactor::task_group tasks_;
  std::unordered_set<std::string> warned_;  // uids of Runs with a Warning Event already
  obs::counter& deleted_ttl_;
};

}  // namespace krt::controller
