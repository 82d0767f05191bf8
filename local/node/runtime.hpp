#pragma once
// How the local node runs a container: the seam between the pod model
// (kubelet.hpp: volumes, environment, probes, restarts, status) and the two
// ways this node can run one container:
//
//  - process_runtime (process_runtime.hpp): the container's image maps to a
//    local executable that runs as a host process in a cgroup of its own;
//    volume paths are rewritten to host directories. Zero setup.
//  - podman_runtime (podman_runtime.hpp): the image from local container
//    storage runs as a real container (podman + runc): its own root
//    filesystem, user, capabilities, read-only root, bind-mounted volumes.
//
// In both, every container of a pod uses the host network, and the pod's
// processes bind the pod's own loopback address (status.podIP).
//
// Affinity: per-shard (the kubelet's shard); handles and runtimes are used
// and destroyed there.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/reactor/asio.hpp"
#include "local/node/process.hpp"

namespace krt::local::node {

struct mount_spec {
  std::string container_path;  // volumeMounts[].mountPath
  std::string host_path;       // the volume's directory on the node (+ subPath)
  bool read_only = false;
};

// The container's securityContext merged over the pod's, as Kubernetes
// resolves it (the container's field wins where both set one).
struct security_spec {
  std::optional<std::int64_t> run_as_user;
  std::optional<std::int64_t> run_as_group;
  bool run_as_non_root = false;
  std::vector<std::int64_t> supplemental_groups;  // fsGroup first, then supplementalGroups
  bool read_only_root_filesystem = false;
  bool privileged = false;
  std::optional<bool> allow_privilege_escalation;
  std::vector<std::string> capabilities_add;
  std::vector<std::string> capabilities_drop;
  std::string seccomp;  // "", RuntimeDefault, Unconfined or Localhost
};

// Everything a runtime needs to start one run of a container; built by the
// kubelet from the pod, with $(VAR) references already expanded.
struct container_launch {
  std::string pod_namespace, pod_name, pod_uid, pod_ip;
  std::string container;
  int restart = 0;  // restartCount of this run
  std::string image;
  std::vector<std::string> command;  // replaces the image's ENTRYPOINT when set
  std::vector<std::string> args;     // replaces the image's CMD when set (or command is)
  std::vector<std::pair<std::string, std::string>> env;  // in Kubernetes' order
  std::string working_dir;                               // "" = the image's (or the pod directory)
  std::vector<mount_spec> mounts;                        // longest container path first
  security_spec security;
  std::optional<double> cpu_limit;              // cores
  std::optional<std::int64_t> memory_limit;     // bytes
  std::string pod_dir;                          // the pod's directory on the node
  std::string log_path;                         // CRI log of this run
};

// Why a container did not start: the reason and message a kubelet reports in
// the container's waiting state.
struct start_error {
  std::string reason;  // e.g. CreateContainerConfigError, ErrImageNeverPull, RunContainerError
  std::string message;
};

// One run of a container. Lifetime: owned by the kubelet; destroying a handle
// whose container still runs kills it (synchronously; the kubelet stops
// containers with terminate() first).
class container_handle {
 public:
  virtual ~container_handle() = default;
  // The status's containerID ("krt://<pid>", "podman://<id>").
  virtual std::string id() const = 0;
  // True until the container has exited and its output is in the log.
  virtual bool running() const = 0;
  // Waits for the exit. Cancellation: throws operation_aborted, the
  // container runs on.
  virtual awaitable<exit_info> wait_info() = 0;
  // Sends `sig` to the container's main process (and, as a process runtime
  // does, its process group).
  virtual awaitable<void> signal(int sig) = 0;
  // SIGTERM, up to `grace` for the exit, then SIGKILL; returns the exit code.
  virtual awaitable<int> terminate(std::chrono::milliseconds grace) = 0;
  // Runs `argv` inside the container (an exec probe) with `timeout`; returns
  // its exit code, or nullopt when it could not run or timed out.
  virtual awaitable<std::optional<int>> exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) = 0;
  // Once the container has exited: removes what the runtime keeps of it
  // (the kubelet calls it before dropping the handle; a handle destroyed
  // without it cleans up synchronously).
  virtual awaitable<void> remove() { co_return; }
};

class container_runtime {
 public:
  virtual ~container_runtime() = default;
  // "process" or "podman".
  virtual std::string name() const = 0;
  // Whether containers see host paths (process: volume paths are rewritten,
  // HOME is the pod directory, KUBECONFIG names a host file) rather than
  // their own filesystem.
  virtual bool host_paths() const = 0;
  // Gets the node ready (e.g. removes what a node killed outright left
  // behind) and says what it found, for the node's log. Called once.
  virtual awaitable<std::vector<std::string>> start() = 0;
  // Starts one run of a container.
  virtual awaitable<result<std::unique_ptr<container_handle>, start_error>> start_container(container_launch launch) = 0;
  // At the node's stop, after every container has ended.
  virtual void close() = 0;
};

}  // namespace krt::local::node
