#include "local/node/process_runtime.hpp"

#include <csignal>

#include "lib/reactor/deadline.hpp"
#include "local/node/leftovers.hpp"

namespace krt::local::node {

namespace {

// One run of a container as a host process. The exec probe runs with the
// container's rewritten environment and working directory, as if inside it.
class process_container final : public container_handle {
 public:
  process_container(executor ex, std::unique_ptr<child_process> proc, std::filesystem::path procs_dir,
                    std::vector<mount_spec> mounts, std::vector<std::string> env, std::string working_dir)
      : ex_(ex),
        proc_(std::move(proc)),
        procs_dir_(std::move(procs_dir)),
        mounts_(std::move(mounts)),
        env_(std::move(env)),
        working_dir_(std::move(working_dir)) {
    record_process(procs_dir_, proc_->pid());
  }
  ~process_container() override {
    pid_t pid = proc_->pid();
    proc_.reset();  // kills and reaps what is left
    forget_process(procs_dir_, pid);
  }

  std::string id() const override { return "krt://" + std::to_string(proc_->pid()); }
  bool running() const override { return proc_->running(); }
  awaitable<exit_info> wait_info() override { return proc_->wait_info(); }
  awaitable<void> signal(int sig) override {
    proc_->signal_group(sig);
    co_return;
  }
  awaitable<int> terminate(std::chrono::milliseconds grace) override { return proc_->terminate(grace); }
  awaitable<std::optional<int>> exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) override {
    process_spec ps;
    for (auto& a : argv) ps.argv.push_back(rewrite_paths(a, mounts_));
    ps.env = env_;
    ps.working_dir = working_dir_;
    auto child = child_process::spawn(ex_, ps);
    if (!child) co_return std::nullopt;
    auto code = co_await reactor::with_timeout((*child)->wait(), timeout);
    co_return code;
  }

 private:
  executor ex_;
  std::unique_ptr<child_process> proc_;
  std::filesystem::path procs_dir_;
  std::vector<mount_spec> mounts_;
  std::vector<std::string> env_;
  std::string working_dir_;
};

}  // namespace

std::string rewrite_paths(std::string s, const std::vector<mount_spec>& mounts) {
  auto boundary_before = [&](std::size_t i) { return i == 0 || std::string_view(" =:,\"'").find(s[i - 1]) != std::string_view::npos; };
  for (const auto& m : mounts) {
    const std::string& from = m.container_path;
    const std::string& to = m.host_path;
    if (from.empty() || from == to) continue;
    std::size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      std::size_t end = pos + from.size();
      bool boundary_after = end == s.size() || std::string_view("/ =:,\"'").find(s[end]) != std::string_view::npos;
      if (boundary_before(pos) && boundary_after) {
        s.replace(pos, from.size(), to);
        pos += to.size();
      } else {
        pos = end;
      }
    }
  }
  return s;
}

process_runtime::process_runtime(executor ex, process_runtime_options opts) : ex_(ex), opts_(std::move(opts)) {}

awaitable<std::vector<std::string>> process_runtime::start() {
  std::vector<std::string> notes;
  if (!opts_.cgroup_name.empty()) {
    auto tree = cgroup_tree::open(opts_.cgroup_name);
    if (tree)
      cgroups_ = std::move(*tree);
    else
      notes.push_back("containers run without a cgroup of their own (" + tree.error() +
                      "): a process that leaves its container's process group outlives the container");
  }
  // Container processes of a node that was killed outright (SIGKILL leaves
  // them running in their own sessions) go before anything starts again.
  std::size_t left = kill_leftovers(opts_.procs_dir) + (cgroups_ ? cgroups_->sweep() : 0);
  if (left > 0) notes.push_back("killed container processes left by a previous run: " + std::to_string(left));
  co_return notes;
}

void process_runtime::close() {
  if (cgroups_) cgroups_->close();
}

awaitable<result<std::unique_ptr<container_handle>, start_error>> process_runtime::start_container(
    container_launch launch) {
  co_return start_now(std::move(launch));
}

// Not a coroutine: GCC 12 mishandles aggregate temporaries in coroutine
// bodies (docs/development.md), and nothing here waits.
result<std::unique_ptr<container_handle>, start_error> process_runtime::start_now(container_launch launch) {
  using failed = krt::unexpected<start_error>;
  // The image's executable is the entrypoint: command replaces it, args follow.
  std::string exe;
  const std::vector<std::string> keys{launch.image, launch.image.substr(0, launch.image.find_first_of("@:"))};
  for (const std::string& key : keys) {
    auto it = opts_.images.find(key);
    if (it != opts_.images.end()) {
      exe = it->second;
      break;
    }
  }
  std::vector<std::string> argv;
  if (!exe.empty()) {
    argv = launch.command;
    if (argv.empty()) argv.push_back(exe);
  } else if (!launch.command.empty() && launch.command.front().starts_with("/")) {
    argv = launch.command;
  } else {
    return failed(start_error{
        "ImageNotMapped", "image \"" + launch.image +
                              "\" is not mapped to a local executable and the container has no absolute command; "
                              "map it with krt local up --image " + launch.image + "=/path/to/executable"});
  }
  argv.insert(argv.end(), launch.args.begin(), launch.args.end());
  process_spec ps;
  for (auto& a : argv) ps.argv.push_back(rewrite_paths(a, launch.mounts));
  for (const auto& [k, v] : launch.env) ps.env.push_back(k + "=" + rewrite_paths(v, launch.mounts));
  ps.working_dir = launch.working_dir.empty() ? launch.pod_dir : rewrite_paths(launch.working_dir, launch.mounts);
  ps.log_path = launch.log_path;
  if (cgroups_) {
    auto cg = cgroups_->create(launch.pod_uid + "-" + launch.container + "-" + std::to_string(launch.restart));
    if (cg)
      ps.cgroup = *cg;
    else
      log_.warn("container runs without a cgroup",
                {{"pod", launch.pod_namespace + "/" + launch.pod_name}, {"error", cg.error()}});
  }
  auto spawned = child_process::spawn(ex_, ps);
  if (!spawned) {
    if (!ps.cgroup.empty()) cgroup_remove(ps.cgroup);
    return failed(start_error{"RunContainerError", spawned.error()});
  }
  return std::make_unique<process_container>(ex_, std::move(*spawned), opts_.procs_dir, std::move(launch.mounts),
                                             std::move(ps.env), ps.working_dir);
}

}  // namespace krt::local::node
