#pragma once
// The controller process: options from the command line (SPEC §10) and the
// composition root that connects to the API server, serves /metrics and the
// probes, takes the leader lease and runs the Runtime reconciler and the Run
// reconciler (TTL, artifact cleanup).
//
// Affinity: shard 0 of a one-shard engine.

#include <cstdint>
#include <optional>
#include <string>

#include "lib/core/result.hpp"
#include "lib/reactor/engine.hpp"
#include "services/controller/controller.hpp"
#include "services/controller/runs.hpp"

namespace krt::controller {

struct app_options {
  std::string metrics_bind_address = ":8082";
  std::string health_probe_bind_address = ":8083";
  bool leader_elect = true;
  std::string leader_election_namespace;
  std::string leader_election_id = "kruntimes-controller.kruntimes.com";
  std::string kubeconfig;
  controller_options controller;
  maintainer_options maintainer;  // --runtime-maintainer-image[-pull-secrets]
};

struct bind_address {
  std::string host;
  std::uint16_t port = 0;
};

// "[host]:port", "host:port" or ":port" (then $POD_IP when `pod_ip` is set,
// else every interface); "0" disables the listener (nullopt). Errors are
// messages for the user.
krt::result<std::optional<bind_address>, std::string> parse_bind_address(const std::string& flag,
                                                                          const std::string& value,
                                                                          const std::string& pod_ip);

// Runs until SIGTERM/SIGINT or the loss of the lease; returns the exit code.
awaitable<int> run_app(reactor::engine& eng, app_options o);

}  // namespace krt::controller
