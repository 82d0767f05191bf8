#pragma once
// The zero-setup way to run a container (runtime.hpp): the image maps to a
// local executable (`krt local up --image IMAGE=PATH`; the project's own
// images map to its binaries), which runs as a host process in a session and
// process group of its own and, where a cgroup v2 hierarchy is writable, in a
// cgroup of its own (cgroup.hpp), so that its death takes every process it
// started.
//
// Processes are not in a mount namespace, so a volume's mountPath is
// rewritten to its host directory wherever it appears as a whole path in
// command, args, env values and workingDir (rewrite_paths).
//
// Affinity: per-shard (see runtime.hpp).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/obs/log.hpp"
#include "local/node/cgroup.hpp"
#include "local/node/runtime.hpp"

namespace krt::local::node {

struct process_runtime_options {
  std::map<std::string, std::string> images;  // image (with or without tag) → executable
  std::filesystem::path procs_dir;            // records of running process groups (leftovers.hpp)
  std::string cgroup_name;                    // the node's cgroup directory; "" for none
};

class process_runtime final : public container_runtime {
 public:
  process_runtime(executor ex, process_runtime_options opts);

  std::string name() const override { return "process"; }
  bool host_paths() const override { return true; }
  awaitable<std::vector<std::string>> start() override;
  awaitable<result<std::unique_ptr<container_handle>, start_error>> start_container(container_launch launch) override;
  void close() override;

 private:
  result<std::unique_ptr<container_handle>, start_error> start_now(container_launch launch);

  executor ex_;
  process_runtime_options opts_;
  std::optional<cgroup_tree> cgroups_;
  obs::logger log_{"node"};
};

// Replaces each mount's container path by its host path wherever it appears
// as a whole path: at the start of `s` or after one of ` =:,"'`, and followed
// by the end, '/' or one of those. `mounts` longest container path first.
std::string rewrite_paths(std::string s, const std::vector<mount_spec>& mounts);

}  // namespace krt::local::node
