#pragma once
// The scheduler's composition root (STYLE rule 2): informers on Runs and
// runtime Pods on shard 0, routing of every event to the shard that owns its
// pool (stable hash of "namespace/runtime", DESIGN §3), leader election, and
// the metrics and probe endpoints. Stops run in reverse order of starts.
//
// Affinity: shard 0 only.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/api/pod.hpp"
#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/informer.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/endpoint.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"
#include "lib/reactor/sharded.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/scheduler/bind_address.hpp"
#include "services/scheduler/partitions.hpp"
#include "services/scheduler/pool_shard.hpp"

namespace krt::scheduler {

struct app_options {
  kube::rest_config config;
  kube::client_options client;  // every shard's client (QPS, burst)
  std::string namespace_;  // empty: all namespaces
  bool leader_elect = true;
  std::string lease_namespace = "kruntimes-system";
  std::string lease_name = "kruntimes-scheduler.kruntimes.com";
  // 1: one leader writes everything. More: the pools are spread over this
  // many partitions, each with its own Lease, shared by the live replicas
  // (partitioning.hpp). Every replica must use the same number.
  unsigned partitions = 1;
  std::string identity;
  std::string metrics_address;  // "host:port"; empty disables
  std::string probe_address;    // "host:port"; empty disables
};

class app {
 public:
  app(reactor::engine& e, app_options opts);
  ~app();

  // Starts everything; an error message if the configuration is unusable.
  awaitable<std::optional<std::string>> start();
  awaitable<void> stop();

 private:
  void route_run(std::shared_ptr<const api::run> old_r, std::shared_ptr<const api::run> cur);
  void route_pod(std::shared_ptr<const api::pod_view> old_p, std::shared_ptr<const api::pod_view> cur);
  unsigned shard_of(const std::string& ns, const std::string& runtime) const;
  void broadcast_leader(bool leader);
  void broadcast_owned(unsigned partition, bool owned);
  awaitable<void> sync_then_release();
  awaitable<std::optional<std::string>> start_endpoints();

  reactor::engine& engine_;
  app_options opts_;
  obs::logger log_;
  obs::sharded_metrics metrics_;
  reactor::sharded<pool_shard> shards_;
  std::vector<pool_shard*> targets_;  // dereferenced only on their own shard
  bool shards_started_ = false;
  std::unique_ptr<kube::client> client_;
  std::unique_ptr<kube::informer<api::run>> runs_;
  std::unique_ptr<kube::informer<api::pod_view>> pods_;
  std::unique_ptr<kube::leader_elector> elector_;
  std::unique_ptr<partition_manager> partitions_;
  std::unique_ptr<obs::endpoint> metrics_ep_;
  std::unique_ptr<obs::endpoint> probe_ep_;
  reactor::task_group tasks_;
};

}  // namespace krt::scheduler
