#pragma once
// kruntimes-maintainer (SPEC §8, §10): deletes the filesystem artifacts of
// deleted Runs in one namespace and then their kruntimes.io/artifact-cleanup
// finalizer, and sweeps run directories that no Run owns.
//
// Affinity: shard 0 of a one-shard engine.

#include <chrono>
#include <string>

#include "lib/kube/client.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"

namespace krt::maintainer {

struct options {
  std::string run_namespace;  // required (flag or $POD_NAMESPACE)
  std::string run_uid;        // set: clean that one Run and exit
  std::string driver = "filesystem";
  std::string filesystem_root = "/var/lib/kruntimes/artifacts";
  std::string filesystem_volume_claim;  // informational (logged)
  std::string store_hash;               // Runs whose store hashes otherwise are not ours
  std::chrono::nanoseconds interval = std::chrono::seconds(10);
  std::chrono::nanoseconds orphan_grace = std::chrono::minutes(10);
  std::string kubeconfig;
};

// Runs until SIGTERM/SIGINT (or, with run_uid, one cleanup); the exit code.
awaitable<int> run(reactor::engine& eng, options o);

}  // namespace krt::maintainer
