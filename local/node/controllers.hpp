#pragma once
// The node's workload controllers: Deployment → ReplicaSet (one per pod
// template, named by its hash, rolled out by scaling the new one up and the
// old ones down once the new pods are available) and ReplicaSet → Pods.
//
// Level-based, as controllers are in Kubernetes: committed events only mark
// keys dirty; the loop reads the current state from the store and writes
// through the API server's in-process path (the same admission as kubectl).
// A periodic resync catches anything an event did not.
//
// Affinity: shard-0 only (the API server's shard).

#include <set>
#include <string>
#include <utility>

#include "lib/obs/log.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "local/apiserver/server.hpp"

namespace krt::local::node {

class workload_controllers {
 public:
  workload_controllers(executor ex, api_server& api);
  void start();
  awaitable<void> stop();

 private:
  enum class kind { deployment, replicaset, service_account };
  using key = std::tuple<kind, std::string, std::string>;  // kind, namespace, name
  void on_event(const store_event& ev);
  void enqueue(kind k, const std::string& ns, const std::string& name);
  awaitable<void> loop();
  awaitable<void> resync_loop();
  awaitable<void> sync_deployment(std::string ns, std::string name);
  awaitable<void> sync_replicaset(std::string ns, std::string name);
  awaitable<void> ensure_service_account(std::string ns, std::string name);

  executor ex_;
  api_server& api_;
  obs::logger log_{"node"};
  std::set<key> dirty_;
  reactor::event wake_;
  reactor::task_group tasks_;
};

// The pod-template-hash of a Deployment's template (stable across restarts).
std::string template_hash(const bj::value& pod_template);

}  // namespace krt::local::node
