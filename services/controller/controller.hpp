#pragma once
// The Runtime reconciler (SPEC §6): informers on Runtimes and on the kinds a
// Runtime owns feed one work queue of Runtime keys; each reconcile brings
// ServiceAccount → Role → RoleBinding → Deployment → NetworkPolicy → status
// to the level the Runtime asks for, creating what is missing and updating
// what differs in the fields we set.
//
// Affinity: per-shard; construct, start and stop on one shard.
// Lifetime: start() spawns informers and workers; stop() shuts the queue and
// waits for every task. The client must outlive the controller.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/informer.hpp"
#include "lib/kube/workqueue.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/controller/build.hpp"
#include "services/controller/objects.hpp"

namespace krt::controller {

struct controller_options {
  build_options build;
  std::string namespace_;  // empty: every namespace
  int workers = 2;
};

// Reasons of the conditions we write (SPEC writes none; ours).
inline constexpr std::string_view reason_ready = "MinimumReplicasAvailable";
inline constexpr std::string_view reason_not_ready = "ReplicasNotReady";
inline constexpr std::string_view reason_invalid = "InvalidSpec";
inline constexpr std::string_view reason_rolling = "RolloutInProgress";
inline constexpr std::string_view reason_rolled = "RolloutComplete";

// The facts of a Deployment's status that the Runtime's status reflects.
struct deployment_state {
  bool exists = false;
  std::int64_t generation = 0;
  std::int64_t observed_generation = 0;
  std::int64_t replicas = 0;  // spec.replicas
  std::int64_t status_replicas = 0;
  std::int64_t updated_replicas = 0;
  std::int64_t ready_replicas = 0;
};
deployment_state deployment_state_of(const boost::json::object& deployment);

// Sets (or adds) a condition; lastTransitionTime changes only with status.
void set_condition(std::vector<kube::condition>& list, kube::condition c, wall_time now);

// The status the Runtime should have: readyReplicas and the Ready and
// Progressing conditions (for an invalid spec: Ready=False InvalidSpec).
api::runtime_status desired_status(const api::runtime& rt, const deployment_state& d,
                                   const std::optional<std::string>& invalid, wall_time now);
// Equal for our purposes (times of unchanged conditions are kept anyway).
bool same_status(const api::runtime_status& a, const api::runtime_status& b);

class runtime_controller {
 public:
  runtime_controller(executor ex, kube::client& c, controller_options o, obs::registry& metrics);
  ~runtime_controller();

  void start();
  awaitable<void> stop();
  // True once every informer has listed.
  bool synced() const;

  // One reconcile of "namespace/name" (also used by tests).
  awaitable<kube::result<void>> reconcile(std::string key);

  // Read access to the caches for the Run reconciler (same shard).
  std::shared_ptr<const api::runtime> runtime(const std::string& key) const { return runtimes_.get(key); }
  std::shared_ptr<const raw_object> cached(const kube::resource& res, const std::string& key) const;
  // Completes once every informer has listed.
  awaitable<void> wait_synced();

  // Creates `desired` in `ns` when missing, updates it when it differs in
  // what we set; returns the object as the server has it afterwards. The live
  // object comes from the caches, else is read after an AlreadyExists.
  // `owner_uid` (may be empty): the controlling owner it must have; another
  // controller owning it is a conflict. `why` labels the log lines.
  awaitable<kube::result<boost::json::object>> apply_object(const kube::resource& res, std::string ns,
                                                            boost::json::object desired, std::string owner_uid,
                                                            std::string why);

 private:
  awaitable<void> worker_loop();
  void enqueue_owner(const raw_object& o);
  void enqueue_namespace(const std::string& ns);

  // apply_object for one of `rt`'s objects. `owned`: the Runtime is its
  // controlling owner (Deployment, NetworkPolicy).
  awaitable<kube::result<boost::json::object>> ensure(const api::runtime& rt, const kube::resource& res,
                                                      boost::json::object desired, bool owned);
  awaitable<kube::result<void>> write_status(const api::runtime& rt, api::runtime_status st);
  awaitable<void> warn_event(const api::runtime& rt, std::string reason, std::string message);

  executor ex_;
  kube::client& client_;
  controller_options opts_;
  obs::logger log_;
  kube::informer<api::runtime> runtimes_;
  // One informer per owned kind, with the resource it lists.
  std::vector<std::pair<const kube::resource*, std::unique_ptr<kube::informer_base>>> owned_;
  kube::work_queue queue_;
  reactor::task_group tasks_;
  obs::counter& reconciles_ok_;
  obs::counter& reconciles_error_;
  obs::histogram& reconcile_seconds_;
};

}  // namespace krt::controller
