#pragma once
// The reaper's composition root (STYLE rule 2): the API client, the reaper
// service, leader election on the Lease kruntimes-reaper.kruntimes.com, and
// the /metrics, /healthz and /readyz endpoints. Stops run in reverse order of
// starts.
//
// Affinity: shard 0 of a one-shard engine.

#include <memory>
#include <optional>
#include <string>

#include "lib/kube/client.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/endpoint.hpp"
#include "lib/obs/log.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/engine.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/reaper/reaper.hpp"

namespace krt::reaper {

struct app_options {
  kube::rest_config config;
  bool leader_elect = true;
  std::string lease_namespace = "kruntimes-system";
  std::string lease_name = "kruntimes-reaper.kruntimes.com";
  std::string identity;
  std::string metrics_address;  // flag syntax: ":PORT", "host:PORT", "0" disables
  std::string probe_address;
  reaper_options reaper;
};

class app {
 public:
  app(reactor::engine& e, app_options opts);
  ~app();

  // Starts everything; an error message if the configuration is unusable.
  awaitable<std::optional<std::string>> start();
  awaitable<void> stop();

 private:
  std::optional<std::string> start_endpoints();
  awaitable<void> log_when_synced();

  reactor::engine& engine_;
  app_options opts_;
  obs::logger log_;
  obs::registry metrics_;
  std::unique_ptr<kube::client> client_;
  std::unique_ptr<reaper> reaper_;
  std::unique_ptr<kube::leader_elector> elector_;
  std::unique_ptr<obs::endpoint> metrics_ep_;
  std::unique_ptr<obs::endpoint> probe_ep_;
  reactor::task_group tasks_;
};

}  // namespace krt::reaper
