#pragma once
// Real containers for the local node (runtime.hpp), through podman and runc:
// `krt local up --node-runtime podman`. Images come from podman's local
// storage only (scripts/build-images.sh puts the project's there); the node
// never pulls, and a missing image is reported as ErrImageNeverPull.
//
// Each run of a container is `podman create` + `podman start`, then a
// `podman wait` child process that ends with it:
//  - host network (the pod's processes bind its own loopback address, as in
//    process mode), the pod's name as hostname, a PID namespace of its own
//    (so the death of its first process takes all the others);
//  - the pod's volumes as bind mounts (emptyDir, configMap, secret,
//    persistentVolumeClaim and hostPath directories of the node; the service
//    account token, ca.crt and namespace at the standard path);
//  - command/args over the image's ENTRYPOINT/CMD as Kubernetes composes
//    them; the environment through a file readable only by root, never on a
//    command line;
//  - securityContext: runAsUser/runAsGroup, fsGroup and supplementalGroups,
//    runAsNonRoot checked against the image's user as the kubelet checks it,
//    readOnlyRootFilesystem (no tmpfs added), capabilities, privileged,
//    allowPrivilegeEscalation: false as no-new-privileges, seccomp;
//  - CPU and memory limits, where this machine's cgroups have the
//    controllers (otherwise the node says once that it ignores them);
//  - stdout/stderr written by conmon straight into the node's CRI log file
//    (podman's k8s-file log driver writes that format), so `kubectl logs`,
//    `-f` and `--previous` work as in process mode.
// Containers carry the label io.kruntimes.local/node=<node id>; the node's
// start removes any such container left by a node that was killed outright.
//
// Affinity: per-shard (see runtime.hpp).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lib/obs/log.hpp"
#include "local/node/runtime.hpp"

namespace krt::local::node {

struct podman_runtime_options {
  std::string podman = "podman";      // executable, looked up in PATH
  std::vector<std::string> global_args;  // before the podman subcommand; default_podman_args() when empty
  std::string node_id;                // label value marking this node's containers
  std::filesystem::path work_dir;     // env files and command output (root-only)
  std::chrono::seconds command_timeout{120};
};

// The global podman flags this node uses unless told otherwise: the cgroupfs
// manager (no systemd needed), and runc when it is installed (crun cannot run
// containers on hosts with a hybrid cgroup v1/v2 layout).
std::vector<std::string> default_podman_args();

// Whether `podman` runs here; the error says what to install.
result<std::string, std::string> podman_version(const std::string& podman);

class podman_runtime final : public container_runtime {
 public:
  podman_runtime(executor ex, podman_runtime_options opts);
  ~podman_runtime() override;

  std::string name() const override { return "podman"; }
  bool host_paths() const override { return false; }
  awaitable<std::vector<std::string>> start() override;
  awaitable<result<std::unique_ptr<container_handle>, start_error>> start_container(container_launch launch) override;
  void close() override {}

  struct command_output {
    int code = -1;  // -1: did not run or timed out
    std::string out, err;
  };
  // Runs `podman <global args> args...` (with `extra_env` added to ours) and
  // collects its output; gives up after `timeout` (default: the options').
  awaitable<command_output> run(std::vector<std::string> args);
  awaitable<command_output> run(std::vector<std::string> args, std::vector<std::string> extra_env);
  awaitable<command_output> run(std::vector<std::string> args, std::vector<std::string> extra_env,
                                std::chrono::milliseconds timeout);

 private:
  struct image_info {
    std::string id;
    std::string user;  // the image's USER ("" is root)
  };
  awaitable<std::optional<image_info>> inspect_image(std::string image);
  awaitable<result<std::unique_ptr<container_handle>, start_error>> create_and_start(
      container_launch launch, std::string name, std::filesystem::path env_file, std::vector<std::string> env_names,
      std::vector<std::string> extra_env);
  std::vector<std::string> create_args(const container_launch& l, const std::string& name,
                                       const std::string& env_file, std::vector<std::string>& env_names);

  executor ex_;
  podman_runtime_options opts_;
  obs::logger log_{"node"};
  std::string unusable_;  // why podman cannot run containers here ("" when it can)
  bool limits_ = true;    // the cgroup controllers for CPU and memory limits exist
  bool limits_noted_ = false;
  std::uint64_t nofile_ = 1024, nproc_ = 1024;
  std::uint64_t next_command_ = 0;
};

}  // namespace krt::local::node
