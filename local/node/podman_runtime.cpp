#include "local/node/podman_runtime.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "lib/core/strings.hpp"
#include "lib/reactor/deadline.hpp"
#include "local/node/logs.hpp"

extern char** environ;

namespace krt::local::node {

namespace fs = std::filesystem;
namespace bj = boost::json;

namespace {

constexpr std::string_view node_label = "io.kruntimes.local/node";

std::vector<std::string> our_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

bool on_path(const std::string& exe) {
  if (exe.find('/') != std::string::npos) return ::access(exe.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (;;) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (!dir.empty() && ::access((dir + "/" + exe).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    rest.remove_prefix(colon + 1);
  }
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// stdout and stderr of a finished command, from the CRI log its
// child_process wrote.
void read_output(const fs::path& log, std::string& out, std::string& err) {
  std::ifstream in(log, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    auto rec = parse_cri_record(line);
    if (!rec) continue;
    std::string& dst = rec->stream == "stderr" ? err : out;
    dst.append(rec->message);
    if (!rec->partial) dst += '\n';
  }
}

// A podman container name from the pod and container, unique per run.
std::string container_name(const container_launch& l) {
  std::string n = "k8s_" + l.container + "_" + l.pod_name + "_" + l.pod_namespace + "_" + l.pod_uid + "_" +
                  std::to_string(l.restart);
  for (char& ch : n)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-')) ch = '-';
  return n;
}

// The uid the image's USER names: "" is root; "uid", "uid:gid" are numbers;
// a user name cannot be checked without the image's /etc/passwd.
std::optional<std::int64_t> numeric_user(const std::string& user) {
  std::string u = user.substr(0, user.find(':'));
  if (u.empty()) return 0;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(u.data(), u.data() + u.size(), v);
  if (ec != std::errc() || end != u.data() + u.size()) return std::nullopt;
  return v;
}

// The kubelet's own messages for a runAsNonRoot the image cannot honour.
std::string non_root_problem(const container_launch& l, const std::string& image_user) {
  if (!l.security.run_as_non_root) return {};
  std::string pod = "(pod: \"" + l.pod_name + "_" + l.pod_namespace + "(" + l.pod_uid + ")\", container: " +
                    l.container + ")";
  if (l.security.run_as_user) {
    if (*l.security.run_as_user == 0) return "container's runAsUser breaks non-root policy " + pod;
    return {};
  }
  auto uid = numeric_user(image_user);
  if (!uid)
    return "container has runAsNonRoot and image has non-numeric user (" + image_user +
           "), cannot verify user is non-root " + pod;
  if (*uid == 0) return "container has runAsNonRoot and image will run as root " + pod;
  return {};
}

// Removes a container synchronously (a handle destroyed without remove(),
// or a start cancelled half-way).
void remove_now(const std::string& podman, const std::vector<std::string>& global, const std::string& name) {
  std::vector<std::string> args{podman};
  args.insert(args.end(), global.begin(), global.end());
  for (const char* a : {"rm", "-f", "-t", "0", "--ignore"}) args.emplace_back(a);
  args.push_back(name);
  run_quietly(args);
}

// One run of a container under podman: a `podman wait` child process ends
// when the container does and prints its exit code.
class podman_container final : public container_handle {
 public:
  podman_container(podman_runtime& rt, std::vector<std::string> global, std::string podman, std::string name,
                   std::string id, std::unique_ptr<child_process> waiter, fs::path wait_log)
      : rt_(rt),
        global_(std::move(global)),
        podman_(std::move(podman)),
        name_(std::move(name)),
        id_(std::move(id)),
        waiter_(std::move(waiter)),
        wait_log_(std::move(wait_log)) {}
  ~podman_container() override {
    waiter_.reset();
    if (!removed_) remove_now(podman_, global_, name_);
    std::error_code ec;
    fs::remove(wait_log_, ec);
  }

  std::string id() const override { return "podman://" + id_; }
  bool running() const override { return waiter_->running(); }

  awaitable<exit_info> wait_info() override {
    exit_info waited = co_await waiter_->wait_info();
    if (!info_) {
      std::string out, err;
      read_output(wait_log_, out, err);
      exit_info info;
      std::string code = last_line(out);
      auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), info.code);
      if (waited.code != 0 || ec != std::errc() || end != code.data() + code.size()) info.code = -1;
      info_ = info;
    }
    co_return *info_;
  }

  awaitable<void> signal(int sig) override {
    if (!running()) co_return;
    std::vector<std::string> args{"kill", "--signal", std::to_string(sig), name_};
    co_await rt_.run(std::move(args));
  }

  awaitable<int> terminate(std::chrono::milliseconds grace) override {
    if (running()) {
      auto secs = (grace.count() + 999) / 1000;
      std::vector<std::string> args = secs > 0 ? std::vector<std::string>{"stop", "-t", std::to_string(secs), name_}
                                               : std::vector<std::string>{"kill", "--signal", "KILL", name_};
      co_await rt_.run(std::move(args));
    }
    exit_info info = co_await wait_info();
    co_return info.code;
  }

  awaitable<std::optional<int>> exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) override {
    std::vector<std::string> args{"exec", name_};
    args.insert(args.end(), argv.begin(), argv.end());
    std::vector<std::string> no_env;
    auto r = co_await rt_.run(std::move(args), std::move(no_env), timeout);
    // 125-127: podman or the exec itself failed, not the probe's command.
    if (r.code < 0 || r.code == 125 || r.code == 126 || r.code == 127) co_return std::nullopt;
    co_return r.code;
  }

  awaitable<void> remove() override {
    if (removed_) co_return;
    std::vector<std::string> args{"rm", "-f", "-t", "0", "--ignore", name_};
    auto r = co_await rt_.run(std::move(args));
    // Only once it is gone: a cancelled or failed removal is retried by the
    // next call or by the destructor.
    removed_ = r.code == 0;
  }

 private:
  podman_runtime& rt_;
  std::vector<std::string> global_;
  std::string podman_;
  std::string name_, id_;
  std::unique_ptr<child_process> waiter_;
  fs::path wait_log_;
  std::optional<exit_info> info_;
  bool removed_ = false;
};

std::uint64_t read_number(const char* path, std::uint64_t fallback) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  return (in >> v) ? v : fallback;
}

}  // namespace

std::vector<std::string> default_podman_args() {
  std::vector<std::string> a{"--cgroup-manager", "cgroupfs"};
  if (on_path("runc")) {
    a.emplace_back("--runtime");
    a.emplace_back("runc");
  }
  return a;
}

result<std::string, std::string> podman_version(const std::string& podman) {
  if (!on_path(podman))
    return unexpected(std::string("podman is not installed (not found on PATH): install it with "
                                  "apt-get install podman runc, or run scripts/install-deps.sh"));
  std::string cmd = "'" + podman + "' version --format '{{.Client.Version}}' 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return unexpected(std::string("cannot run podman"));
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
  int rc = ::pclose(f);
  if (rc != 0) return unexpected("podman does not work here: " + last_line(out));
  return last_line(out);
}

podman_runtime::podman_runtime(executor ex, podman_runtime_options opts) : ex_(ex), opts_(std::move(opts)) {
  if (opts_.global_args.empty()) opts_.global_args = default_podman_args();
  // podman's default ulimits exceed what an unprivileged container host may
  // grant; give containers the node's own hard limits (RLIMIT_NPROC no
  // higher than pid_max, which runc refuses to exceed).
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) nofile_ = std::min<std::uint64_t>(rl.rlim_max, 1048576);
  if (::getrlimit(RLIMIT_NPROC, &rl) == 0)
    nproc_ = std::min<std::uint64_t>(rl.rlim_max, read_number("/proc/sys/kernel/pid_max", 32768));
  std::error_code ec;
  fs::create_directories(opts_.work_dir, ec);
  fs::permissions(opts_.work_dir, fs::perms::owner_all, ec);
}

podman_runtime::~podman_runtime() = default;

awaitable<podman_runtime::command_output> podman_runtime::run(std::vector<std::string> args) {
  return run(std::move(args), std::vector<std::string>{});
}

awaitable<podman_runtime::command_output> podman_runtime::run(std::vector<std::string> args,
                                                              std::vector<std::string> extra_env) {
  return run(std::move(args), std::move(extra_env),
             std::chrono::duration_cast<std::chrono::milliseconds>(opts_.command_timeout));
}

awaitable<podman_runtime::command_output> podman_runtime::run(std::vector<std::string> args,
                                                              std::vector<std::string> extra_env,
                                                              std::chrono::milliseconds timeout) {
  command_output r;
  process_spec ps;
  ps.argv.push_back(opts_.podman);
  ps.argv.insert(ps.argv.end(), opts_.global_args.begin(), opts_.global_args.end());
  ps.argv.insert(ps.argv.end(), args.begin(), args.end());
  ps.env = our_environment();
  ps.env.insert(ps.env.end(), extra_env.begin(), extra_env.end());
  fs::path log = opts_.work_dir / ("command-" + std::to_string(++next_command_) + ".log");
  ps.log_path = log.string();
  auto child = child_process::spawn(ex_, ps);
  if (!child) {
    r.err = child.error();
    co_return r;
  }
  std::optional<int> code;
  try {
    code = co_await reactor::with_timeout((*child)->wait(), timeout);
  } catch (const asio::multiple_exceptions& e) {
    // Cancelled (the pod stops): both branches of the race report it; pass
    // on the first, an operation_aborted the task group knows.
    std::rethrow_exception(e.first_exception());
  }
  if (!code) {
    co_await (*child)->terminate(std::chrono::milliseconds(0));
    r.err = "podman " + (args.empty() ? std::string() : args.front()) + " did not finish within " +
            std::to_string(timeout.count() / 1000) + " s";
  } else {
    r.code = *code;
  }
  read_output(log, r.out, r.err);
  std::error_code ec;
  fs::remove(log, ec);
  co_return r;
}

awaitable<std::vector<std::string>> podman_runtime::start() {
  std::vector<std::string> notes;
  std::vector<std::string> version_args{"version", "--format", "{{.Client.Version}}"};
  auto v = co_await run(std::move(version_args));
  if (v.code != 0) {
    unusable_ = "podman does not work here: " + last_line(v.err.empty() ? v.out : v.err) +
                " (install it with apt-get install podman runc)";
    notes.push_back(unusable_);
    co_return notes;
  }
  std::string args_text;
  for (const auto& a : opts_.global_args) args_text += " " + a;
  notes.push_back("containers run with podman " + last_line(v.out) + " (podman" + args_text + ")");
  std::vector<std::string> info_args{"info", "--format", "{{.Host.CgroupControllers}}"};
  auto info = co_await run(std::move(info_args));
  limits_ = info.code == 0 && info.out.find("memory") != std::string::npos && info.out.find("cpu") != std::string::npos;
  // Containers of a node that was killed outright.
  std::vector<std::string> ps_args{"ps", "-a", "--filter", "label=" + std::string(node_label) + "=" + opts_.node_id,
                                   "--format", "{{.Names}}"};
  auto ps = co_await run(std::move(ps_args));
  if (ps.code != 0)
    notes.push_back("cannot list containers left by a previous run: " + last_line(ps.err.empty() ? ps.out : ps.err));
  std::vector<std::string> rm{"rm", "-f", "-t", "0", "--ignore"};
  std::istringstream names(ps.out);
  for (std::string n; std::getline(names, n);)
    if (!n.empty()) rm.push_back(n);
  if (rm.size() > 5) {
    std::size_t n = rm.size() - 5;
    co_await run(std::move(rm));
    notes.push_back("removed " + std::to_string(n) + " containers left by a previous run");
  }
  co_return notes;
}

awaitable<std::optional<podman_runtime::image_info>> podman_runtime::inspect_image(std::string image) {
  std::vector<std::string> args{"image", "inspect", "--format", "{{.Id}}|{{.Config.User}}", image};
  auto r = co_await run(std::move(args));
  if (r.code != 0) co_return std::nullopt;
  std::string line = last_line(r.out);
  auto bar = line.find('|');
  if (bar == std::string::npos) co_return std::nullopt;
  image_info info;
  info.id = line.substr(0, bar);
  info.user = line.substr(bar + 1);
  co_return info;
}

std::vector<std::string> podman_runtime::create_args(const container_launch& l, const std::string& name,
                                                     const std::string& env_file,
                                                     std::vector<std::string>& env_names) {
  std::vector<std::string> a{"create", "--name", name, "--pull", "never", "--network", "host"};
  auto label = [&](std::string_view k, const std::string& v) {
    a.emplace_back("--label");
    a.push_back(std::string(k) + "=" + v);
  };
  label(node_label, opts_.node_id);
  label("io.kubernetes.pod.namespace", l.pod_namespace);
  label("io.kubernetes.pod.name", l.pod_name);
  label("io.kubernetes.pod.uid", l.pod_uid);
  label("io.kubernetes.container.name", l.container);
  // A pod's hostname is its name, cut to a DNS label as the kubelet does.
  std::string host = l.pod_name.substr(0, 63);
  while (!host.empty() && (host.back() == '-' || host.back() == '.')) host.pop_back();
  a.insert(a.end(), {"--hostname", host});
  a.insert(a.end(), {"--ulimit", "nofile=" + std::to_string(nofile_) + ":" + std::to_string(nofile_)});
  a.insert(a.end(), {"--ulimit", "nproc=" + std::to_string(nproc_) + ":" + std::to_string(nproc_)});
  a.insert(a.end(), {"--log-driver", "k8s-file", "--log-opt", "path=" + l.log_path});
  a.insert(a.end(), {"--env-file", env_file});
  for (const auto& n : env_names) a.insert(a.end(), {"--env", n});
  const auto& s = l.security;
  if (s.run_as_user || s.run_as_group) {
    std::string user = s.run_as_user ? std::to_string(*s.run_as_user) : std::string();
    if (!s.run_as_user) user = "0";
    if (s.run_as_group) user += ":" + std::to_string(*s.run_as_group);
    a.insert(a.end(), {"--user", user});
  }
  for (auto g : s.supplemental_groups) a.insert(a.end(), {"--group-add", std::to_string(g)});
  if (s.read_only_root_filesystem) a.insert(a.end(), {"--read-only", "--read-only-tmpfs=false"});
  if (s.privileged) a.emplace_back("--privileged");
  if (s.allow_privilege_escalation && !*s.allow_privilege_escalation)
    a.insert(a.end(), {"--security-opt", "no-new-privileges"});
  for (const auto& c : s.capabilities_drop) a.insert(a.end(), {"--cap-drop", c});
  for (const auto& c : s.capabilities_add) a.insert(a.end(), {"--cap-add", c});
  if (s.seccomp == "Unconfined") a.insert(a.end(), {"--security-opt", "seccomp=unconfined"});
  if ((l.cpu_limit || l.memory_limit) && !limits_) {
    if (!limits_noted_)
      log_.warn("this machine's cgroups lack the cpu or memory controller: container resource limits are not "
                "applied");
    limits_noted_ = true;
  } else {
    if (l.memory_limit) a.insert(a.end(), {"--memory", std::to_string(*l.memory_limit) + "b"});
    if (l.cpu_limit) {
      char cpus[32];
      std::snprintf(cpus, sizeof cpus, "%.3f", *l.cpu_limit);
      a.insert(a.end(), {"--cpus", cpus});
    }
  }
  for (const auto& m : l.mounts)
    a.insert(a.end(), {"--mount", "type=bind,source=" + m.host_path + ",destination=" + m.container_path +
                                      (m.read_only ? ",ro=true" : "")});
  if (!l.working_dir.empty()) a.insert(a.end(), {"--workdir", l.working_dir});
  if (!l.command.empty()) {
    bj::array ep;
    for (const auto& c : l.command) ep.emplace_back(c);
    a.insert(a.end(), {"--entrypoint", bj::serialize(ep)});
  }
  a.push_back(l.image);
  a.insert(a.end(), l.args.begin(), l.args.end());
  return a;
}

awaitable<result<std::unique_ptr<container_handle>, start_error>> podman_runtime::start_container(
    container_launch launch) {
  using failed = krt::unexpected<start_error>;
  start_error problem;
  if (!unusable_.empty()) {
    problem.reason = "RunContainerError";
    problem.message = unusable_;
    co_return failed(std::move(problem));
  }
  auto image = co_await inspect_image(launch.image);
  if (!image) {
    problem.reason = "ErrImageNeverPull";
    problem.message = "Container image \"" + launch.image +
                      "\" is not present in the local node's image storage, and the node never pulls: build the "
                      "project's images with scripts/build-images.sh (or load this one with podman load)";
    co_return failed(std::move(problem));
  }
  if (std::string why = non_root_problem(launch, image->user); !why.empty()) {
    problem.reason = "CreateContainerConfigError";
    problem.message = why;
    co_return failed(std::move(problem));
  }
  for (const auto& m : launch.mounts)
    if (m.host_path.find(',') != std::string::npos || m.container_path.find(',') != std::string::npos) {
      problem.reason = "CreateContainerConfigError";
      problem.message = "volume mount " + m.container_path + ": paths with a comma are not supported by the local node";
      co_return failed(std::move(problem));
    }
  std::string name = container_name(launch);
  // The environment goes through a root-only file (never a command line any
  // local user could read); values with a newline, which an env file cannot
  // hold, go through podman's own environment by name.
  fs::path env_file = opts_.work_dir / (name + ".env");
  std::vector<std::string> env_names, extra_env;
  {
    std::ofstream out(env_file, std::ios::trunc);
    std::error_code ec;
    fs::permissions(env_file, fs::perms::owner_read | fs::perms::owner_write, ec);
    for (const auto& [k, v] : launch.env) {
      if (v.find('\n') != std::string::npos || v.find('\r') != std::string::npos) {
        env_names.push_back(k);
        extra_env.push_back(k + "=" + v);
      } else {
        out << k << "=" << v << "\n";
      }
    }
  }
  std::vector<std::string> rm_args{"rm", "-f", "-t", "0", "--ignore", name};
  co_await run(std::move(rm_args));  // a leftover of the same name
  // From `podman create` on, a cancellation (the pod is deleted meanwhile)
  // must not leave the container behind: remove it before passing it on.
  // Synchronously: a cancelled coroutine cannot wait for podman any more.
  std::error_code ec;
  try {
    co_return co_await create_and_start(std::move(launch), name, env_file, std::move(env_names), std::move(extra_env));
  } catch (...) {
    remove_now(opts_.podman, opts_.global_args, name);
    fs::remove(env_file, ec);
    throw;
  }
}

awaitable<result<std::unique_ptr<container_handle>, start_error>> podman_runtime::create_and_start(
    container_launch launch, std::string name, fs::path env_file, std::vector<std::string> env_names,
    std::vector<std::string> extra_env) {
  using failed = krt::unexpected<start_error>;
  start_error problem;
  std::error_code ec;
  auto created = co_await run(create_args(launch, name, env_file.string(), env_names), std::move(extra_env));
  fs::remove(env_file, ec);
  if (created.code != 0) {
    problem.reason = "RunContainerError";
    problem.message = "podman create: " + last_line(created.err.empty() ? created.out : created.err);
    co_return failed(std::move(problem));
  }
  std::string id = last_line(created.out);
  std::vector<std::string> start_args{"start", name};
  auto started = co_await run(std::move(start_args));
  if (started.code != 0) {
    std::vector<std::string> cleanup{"rm", "-f", "-t", "0", "--ignore", name};
    co_await run(std::move(cleanup));
    problem.reason = "RunContainerError";
    problem.message = "podman start: " + last_line(started.err.empty() ? started.out : started.err);
    co_return failed(std::move(problem));
  }
  process_spec ws;
  ws.argv.push_back(opts_.podman);
  ws.argv.insert(ws.argv.end(), opts_.global_args.begin(), opts_.global_args.end());
  for (const char* x : {"wait", "--interval", "100ms"}) ws.argv.emplace_back(x);
  ws.argv.push_back(name);
  ws.env = our_environment();
  fs::path wait_log = opts_.work_dir / (name + ".wait");
  fs::remove(wait_log, ec);
  ws.log_path = wait_log.string();
  auto waiter = child_process::spawn(ex_, ws);
  if (!waiter) {
    std::vector<std::string> cleanup{"rm", "-f", "-t", "0", "--ignore", name};
    co_await run(std::move(cleanup));
    problem.reason = "RunContainerError";
    problem.message = "podman wait: " + waiter.error();
    co_return failed(std::move(problem));
  }
  co_return std::make_unique<podman_container>(*this, opts_.global_args, opts_.podman, name, id, std::move(*waiter),
                                               wait_log);
}

}  // namespace krt::local::node
