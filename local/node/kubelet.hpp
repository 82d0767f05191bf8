#pragma once
// The node's pod model ("kubelet"): every Pod is bound to this node and its
// containers run through a container runtime (runtime.hpp): as host
// processes (process_runtime.hpp, the default) or as real containers
// (podman_runtime.hpp). The kubelet prepares the pod's directory
// (emptyDir/configMap/secret/persistentVolumeClaim volumes, the service
// account token, CA and namespace), builds each container's command line,
// environment, mounts and security context, runs readiness and liveness
// probes, restarts containers per restartPolicy with exponential backoff,
// writes pod status, terminates gracefully on deletion (SIGTERM, grace
// period, SIGKILL) and serves logs for pods/log.
//
// Affinity: shard-0 only (the API server's shard).

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "lib/obs/log.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "local/apiserver/server.hpp"
#include "local/node/runtime.hpp"

namespace krt::local::node {

struct node_options {
  std::string node_name = "krt-local";
  std::string state_dir;                      // pods live in <state_dir>/pods/<uid>
  std::map<std::string, std::string> images;  // image (with or without tag) → executable
  std::string default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::chrono::seconds max_restart_backoff{30};
  // How containers run (runtime.hpp): "process" (host processes; images
  // map to executables) or "podman" (real containers from local storage).
  std::string runtime = "process";
  std::string podman = "podman";  // the podman executable (podman runtime)
  // Process runtime: each container in a cgroup of its own (cgroup.hpp)
  // where a cgroup v2 hierarchy is writable, so its death takes every
  // process it started.
  bool container_cgroups = true;
};

class kubelet final : public pod_log_source {
 public:
  kubelet(executor ex, api_server& api, node_options opts);
  ~kubelet() override;
  void start();
  // Stops every pod's processes (SIGTERM, then SIGKILL after a short grace).
  awaitable<void> stop();

  awaitable<std::optional<std::string>> serve_log(const pod_log_request& req, net::response_writer& out) override;

  std::size_t running_pods() const { return pods_.size(); }
  // "process" or "podman".
  const std::string& runtime_name() const { return opts_.runtime; }

  struct container;
  struct pod;

 private:
  std::filesystem::path procs_dir() const;
  void on_event(const store_event& ev);
  awaitable<void> bind_loop();
  awaitable<void> run_pod(std::shared_ptr<pod> p);
  awaitable<void> run_container(std::shared_ptr<pod> p, std::size_t index);
  krt::result<container_launch, std::string> build_launch(const pod& p, const container& c);
  awaitable<void> start_runtime();
  std::string node_id() const;
  awaitable<void> probe_loop(std::shared_ptr<pod> p, std::size_t index, bool liveness);
  awaitable<bool> probe_once(std::shared_ptr<pod> p, std::size_t index, bj::object probe);
  awaitable<void> status_loop(std::shared_ptr<pod> p);
  krt::result<void, std::string> prepare(pod& p);
  // Writes the pod's service account token, CA, namespace and a kubeconfig
  // into `dir`; false when the service account does not exist.
  bool write_service_account(const pod& p, const std::filesystem::path& dir);
  std::string log_path(const pod& p, const std::string& container, int restart) const;

  executor ex_;
  api_server& api_;
  node_options opts_;
  obs::logger log_{"node"};
  std::map<std::string, std::shared_ptr<pod>> pods_;  // by uid
  std::vector<std::pair<std::string, std::string>> to_bind_;
  std::uint32_t next_ip_ = 0;
  bool stopping_ = false;  // stop() began: no new pod starts
  std::uint32_t ip_block_ = 1;
  std::unique_ptr<container_runtime> runtime_;
  bool runtime_ready_ = false;  // runtime_->start() finished
  reactor::event runtime_ready_ev_;
  reactor::event bind_wake_;
  reactor::task_group tasks_;
};

}  // namespace krt::local::node
