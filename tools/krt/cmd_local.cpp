// krt local: the embedded control plane (DESIGN §6). `up` starts
// `krt local serve` in the background and waits until it is ready; `down`
// stops it; `status`, `kubeconfig` and `logs` inspect it.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "common.hpp"
#include "krt_build_info.hpp"
#include "lib/reactor/engine.hpp"
#include "local/apiserver/manifests.hpp"
#include "local/apiserver/server.hpp"
#include "local/node/controllers.hpp"
#include "local/node/kubelet.hpp"
#include "local/node/podman_runtime.hpp"
#include "tools/krt/embed/embedded_manifests.hpp"

namespace krt::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::uint16_t default_port = 16443;

std::string default_state_dir() {
  if (const char* d = std::getenv("KRT_LOCAL_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x != '\0')
    return (fs::path(x) / "kruntimes" / "local").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home != nullptr && *home != '\0' ? home : "/tmp") / ".local" / "state" / "kruntimes" / "local")
      .string();
}

}  // namespace

std::string local_kubeconfig_fallback() { return (fs::path(default_state_dir()) / "kubeconfig").string(); }

namespace {

void add_state_dir(cxxopts::Options& o) {
  o.add_options()("state-dir",
                  "Directory holding the control plane's database, certificates, kubeconfig and logs "
                  "(env KRT_LOCAL_DIR; default ~/.local/state/kruntimes/local)",
                  cxxopts::value<std::string>()->default_value(default_state_dir()))("h,help", "Show this help");
}

// Parses argv (no positional arguments); returns false (and sets rc) when the
// command should exit now.
bool parse(cxxopts::Options& o, int argc, char** argv, cxxopts::ParseResult& args, int& rc) {
  std::vector<std::string> none;
  return parse_args(o, argc, argv, args, rc, none, 0, 0, "");
}

struct instance {
  pid_t pid = 0;
  std::string url;
  std::string node_runtime;  // "process" or "podman"
  bool alive = false;
};

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0) return false;
  // A zombie child of ours counts as gone.
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(st, s);
  auto close = s.rfind(')');
  return !(close != std::string::npos && close + 2 < s.size() && s[close + 2] == 'Z');
}

bool is_our_server(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmd.find(std::string("local\0serve", 11)) != std::string::npos;
}

// The ready file: "pid url node-runtime\n", written by `serve` once it
// listens (files of older versions lack the runtime: process).
instance read_instance(const fs::path& dir) {
  instance i;
  std::ifstream in(dir / "apiserver.ready");
  if (!(in >> i.pid >> i.url)) return {};
  if (!(in >> i.node_runtime)) i.node_runtime = "process";
  i.alive = process_alive(i.pid) && is_our_server(i.pid);
  return i;
}

bool tcp_reachable(const std::string& url) {
  // url: https://127.0.0.1:PORT
  auto colon = url.rfind(':');
  auto host_start = url.find("://");
  if (colon == std::string::npos || host_start == std::string::npos) return false;
  std::string host = url.substr(host_start + 3, colon - host_start - 3);
  int port = std::atoi(url.c_str() + colon + 1);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &sa.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::string tail_file(const fs::path& p, std::size_t lines) {
  std::ifstream in(p);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out;
}

int cmd_serve(int argc, char** argv) {
  cxxopts::Options o("krt local serve",
                     "Run the local control plane in the foreground (what `krt local up` starts in the background).");
  add_state_dir(o);
  o.add_options()("address", "Address to listen on (loopback only is recommended)",
                  cxxopts::value<std::string>()->default_value("127.0.0.1"))(
      "port", "Port to listen on (0: any free port)", cxxopts::value<int>()->default_value(std::to_string(default_port)))(
      "durability", "process: survive a crash or kill -9 of the server; fsync: also survive power loss",
      cxxopts::value<std::string>()->default_value("process"))(
      "insecure-http", "Serve plain HTTP instead of HTTPS (tests only: kubectl sends no token over HTTP)")(
      "history", "Watch events kept for resuming watches", cxxopts::value<std::size_t>()->default_value("100000"))(
      "image", "Map a container image to a local executable, IMAGE=PATH (repeatable)",
      cxxopts::value<std::vector<std::string>>())("no-node", "Serve the API only: no controllers, pods do not run")(
      "bookmark-interval", "Seconds of silence after which a watch that allows bookmarks gets one",
      cxxopts::value<double>()->default_value("30"))(
      "apply", "Apply the manifests in this directory at startup: the resources of its kustomization.yaml, else every YAML/JSON file (create or replace; repeatable)",
      cxxopts::value<std::vector<std::string>>())(
      "audit-log", "Append one JSON line per request of a service account (user, verb, resource, answer) to this file",
      cxxopts::value<std::string>()->default_value(""))(
      "node-runtime", "How the node runs containers: process (host processes, images mapped to executables) or "
      "podman (real containers from podman's local image storage)",
      cxxopts::value<std::string>()->default_value("process"));
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  std::string node_runtime = args["node-runtime"].as<std::string>();
  if (node_runtime != "process" && node_runtime != "podman") {
    std::cerr << "Error: --node-runtime must be process or podman, not \"" << node_runtime << "\"\n";
    return 1;
  }
  local::server_options so;
  so.audit_log = args["audit-log"].as<std::string>();
  so.state_dir = args["state-dir"].as<std::string>();
  so.address = args["address"].as<std::string>();
  int port = args["port"].as<int>();
  if (port < 0 || port > 65535) {
    std::cerr << "Error: --port must be between 0 and 65535\n";
    return 1;
  }
  so.port = static_cast<std::uint16_t>(port);
  std::string d = args["durability"].as<std::string>();
  if (d == "fsync") {
    so.mode = local::durability::fsync;
  } else if (d != "process") {
    std::cerr << "Error: --durability must be process or fsync, not \"" << d << "\"\n";
    return 1;
  }
  so.tls = args.count("insecure-http") == 0;
  so.history_limit = std::max<std::size_t>(16, args["history"].as<std::size_t>());
  so.bookmark_interval = std::chrono::milliseconds(
      static_cast<std::int64_t>(std::max(0.05, args["bookmark-interval"].as<double>()) * 1000));
  bool node = args.count("no-node") == 0;
  // Thousands of watchers are thousands of sockets: lift the soft fd limit.
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  so.graceful_pod_deletion = node;
  local::node::node_options no;
  no.state_dir = so.state_dir;
  no.runtime = node_runtime;
  if (args.count("image"))
    for (const auto& m : args["image"].as<std::vector<std::string>>()) {
      auto eq = m.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
        std::cerr << "Error: --image wants IMAGE=PATH, got \"" << m << "\"\n";
        return 1;
      }
      no.images[m.substr(0, eq)] = fs::absolute(m.substr(eq + 1)).string();
    }
  if (const char* env = std::getenv("PATH"); env != nullptr && *env != '\0') no.default_path = env;
  reactor::engine_options eo;
  eo.shards = 1;
  reactor::engine eng(eo);
  return eng.run([&]() -> awaitable<int> {
    local::api_server server(eng.get_executor(0), so);
    auto started = co_await server.start();
    if (!started) {
      std::cerr << "Error: " << started.error() << "\n";
      co_await server.stop();
      co_return 1;
    }
    if (args.count("apply"))
      for (const auto& dir : args["apply"].as<std::vector<std::string>>()) {
        auto applied = co_await local::apply_manifests(server, dir);
        if (!applied) {
          std::cerr << "Error: applying manifests: " << applied.error() << "\n";
          co_await server.stop();
          co_return 1;
        }
        for (const auto& line : *applied) std::cout << line << "\n";
      }
    std::unique_ptr<local::node::workload_controllers> controllers;
    std::unique_ptr<local::node::kubelet> kubelet;
    if (node) {
      controllers = std::make_unique<local::node::workload_controllers>(eng.get_executor(0), server);
      controllers->start();
      kubelet = std::make_unique<local::node::kubelet>(eng.get_executor(0), server, no);
      kubelet->start();
    }
    fs::path ready = fs::path(so.state_dir) / "apiserver.ready";
    {
      std::ofstream out(fs::path(so.state_dir) / "apiserver.ready.tmp");
      out << ::getpid() << " " << server.url() << " " << node_runtime << "\n";
    }
    fs::rename(fs::path(so.state_dir) / "apiserver.ready.tmp", ready);
    std::cout << "serving " << server.url() << " (kubeconfig " << server.kubeconfig_path() << ")" << std::endl;
    co_await eng.shutdown_requested().wait();
    std::error_code ec;
    fs::remove(ready, ec);
    // Reverse order of start: pods' processes first, then the controllers.
    if (kubelet) co_await kubelet->stop();
    if (controllers) co_await controllers->stop();
    co_await server.stop();
    co_return 0;
  });
}

// The project's own images (k8s/ names them; docs/run-path.md) and where
// their binaries are: in a build tree (relative to the build root: krt is
// build/tools/krt/krt) or an installed bin/ directory beside krt.
struct known_image {
  const char* image;
  const char* build_path;
  const char* installed;
};
constexpr known_image known_images[] = {
    {"kruntimes/runtimed", "sidecar/runtimed", "runtimed"},
    {"kruntimes/bash-runtime", "servers/bash-runtime", "bash-runtime"},
    {"kruntimes/python-runtime", "servers/python-runtime", "python-runtime"},
    {"kruntimes/scheduler", "services/scheduler/kruntimes-scheduler", "kruntimes-scheduler"},
    {"kruntimes/controller", "services/controller/kruntimes-controller", "kruntimes-controller"},
    {"kruntimes/reaper", "services/reaper/kruntimes-reaper", "kruntimes-reaper"},
    {"kruntimes/maintainer", "services/maintainer/kruntimes-maintainer", "kruntimes-maintainer"},
};

bool user_mapped(const std::vector<std::string>& user, const char* image) {
  for (const auto& u : user)
    if (u.starts_with(std::string(image) + "=") || u.starts_with(std::string(image) + ":")) return true;
  return false;
}

// The project's images mapped to the binaries next to krt. Images the user
// mapped with --image are left alone; `missing` gets the binaries not found.
std::vector<std::string> default_images(const fs::path& exe_dir, const std::vector<std::string>& user,
                                        std::vector<std::string>& missing) {
  std::vector<std::string> out;
  for (const auto& k : known_images) {
    if (user_mapped(user, k.image)) continue;
    bool found = false;
    for (const fs::path& c : {exe_dir / ".." / ".." / k.build_path, exe_dir / k.installed}) {
      std::error_code ec;
      if (fs::is_regular_file(c, ec) && ::access(c.c_str(), X_OK) == 0) {
        out.push_back(std::string(k.image) + "=" + fs::weakly_canonical(c).string());
        found = true;
        break;
      }
    }
    if (!found) missing.push_back(k.installed);
  }
  return out;
}

// Writes the manifests compiled into krt under `dest` (replacing what an
// older krt wrote there).
bool extract_embedded(const fs::path& dest, std::string& error) {
  std::error_code ec;
  fs::remove_all(dest, ec);
  for (std::size_t i = 0; i < embedded_manifests_count; ++i) {
    const auto& f = embedded_manifests[i];
    fs::path p = dest / std::string(f.path);
    fs::create_directories(p.parent_path(), ec);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
    if (!out) {
      error = "cannot write " + p.string();
      return false;
    }
  }
  return true;
}

int cmd_up(int argc, char** argv) {
  cxxopts::Options o("krt local up",
                     "Start the local control plane in the background (idempotent) and wait until it is ready.\n"
                     "It applies the kruntimes CRDs and the local overlay (scheduler, controller, reaper, the "
                     "built-in bash and python Runtimes), compiled into krt, unless --manifests or --bare says "
                     "otherwise.");
  add_state_dir(o);
  o.add_options()("port", "Port to listen on", cxxopts::value<int>()->default_value(std::to_string(default_port)))(
      "durability", "process or fsync (see krt local serve --help)", cxxopts::value<std::string>()->default_value("process"))(
      "timeout", "How long to wait for readiness, in seconds", cxxopts::value<int>()->default_value("60"))(
      "node-runtime", "How the node runs pods: process (host processes running the binaries beside krt) or podman "
      "(real containers from the images scripts/build-images.sh builds)",
      cxxopts::value<std::string>()->default_value("process"))(
      "bare", "Start the API server and node only: apply neither the CRDs nor kruntimes (install them with kubectl "
      "apply -k, as on a cluster)")(
      "manifests", "A kruntimes k8s/ directory to apply (crds/ and overlays/local) instead of the manifests compiled "
      "into krt", cxxopts::value<std::string>())(
      "image", "Map a container image to a local executable, IMAGE=PATH (repeatable; process runtime)",
      cxxopts::value<std::vector<std::string>>());
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  std::string node_runtime = args["node-runtime"].as<std::string>();
  if (node_runtime != "process" && node_runtime != "podman") {
    std::cerr << "Error: --node-runtime must be process or podman, not \"" << node_runtime << "\"\n";
    return 1;
  }
  bool bare = args.count("bare") != 0;
  fs::path dir = args["state-dir"].as<std::string>();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "Error: cannot create the state directory " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  instance cur = read_instance(dir);
  if (cur.alive && tcp_reachable(cur.url)) {
    if (args.count("node-runtime") != 0 && cur.node_runtime != node_runtime) {
      std::cerr << "Error: the local control plane is already running with node runtime " << cur.node_runtime
                << " (pid " << cur.pid << "); stop it first with: krt local down\n";
      return 1;
    }
    std::cout << "The local control plane is already running at " << cur.url << " (pid " << cur.pid
              << ", node runtime " << cur.node_runtime << ").\n"
              << "Kubeconfig: " << (dir / "kubeconfig").string() << "\n";
    return 0;
  }
  if (cur.pid != 0 && !cur.alive) {
    std::cerr << "Removing a stale ready file (pid " << cur.pid << " is not running).\n";
    fs::remove(dir / "apiserver.ready", ec);
  }
  fs::path log = dir / "apiserver.log";
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::cerr << "Error: cannot find the krt executable (/proc/self/exe)\n";
    return 1;
  }
  self[n] = '\0';
  fs::path exe_dir = fs::path(self).parent_path();
  std::string port = std::to_string(args["port"].as<int>());
  std::string durability = args["durability"].as<std::string>();
  std::string state = dir.string();
  std::vector<std::string> images;
  if (args.count("image")) images = args["image"].as<std::vector<std::string>>();
  // What the pods need, checked now: one clear error beats pods that wait.
  if (node_runtime == "podman") {
    auto version = local::node::podman_version("podman");
    if (!version) {
      std::cerr << "Error: --node-runtime podman: " << version.error() << "\n";
      return 1;
    }
    if (!bare) {
      std::vector<std::string> missing;
      for (const auto& k : known_images) {
        std::string image = std::string(k.image) + ":" + KRT_VERSION;
        if (local::node::run_quietly({"podman", "image", "exists", image}) != 0) missing.push_back(image);
      }
      if (!missing.empty()) {
        std::cerr << "Error: --node-runtime podman runs the kruntimes images, and these are not in podman's local "
                     "image storage:\n";
        for (const auto& m : missing) std::cerr << "  " << m << "\n";
        std::cerr << "Build them with scripts/build-images.sh (from a clone of the repository), or load them with "
                     "podman load.\n";
        return 1;
      }
    }
  } else {
    std::vector<std::string> missing;
    for (const auto& m : default_images(exe_dir, images, missing)) images.push_back(m);
    if (!bare && !missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      std::cerr << "Error: the kruntimes binaries the local plane runs are not next to krt (" << exe_dir.string()
                << "): " << list
                << " not found.\nBuild them (scripts/build.sh) or install krt with them (scripts/install.sh), map "
                   "each image with --image IMAGE=PATH, run the images instead with --node-runtime podman, or start "
                   "an empty plane with --bare.\n";
      return 1;
    }
  }
  fs::path manifests;
  if (args.count("manifests")) {
    manifests = fs::absolute(args["manifests"].as<std::string>());
    if (!fs::is_directory(manifests / "crds")) {
      std::cerr << "Error: --manifests " << manifests.string() << " is not a kruntimes k8s/ directory (no crds/ in it)\n";
      return 1;
    }
  } else if (!bare) {
    manifests = dir / "manifests";
    std::string error;
    if (!extract_embedded(manifests, error)) {
      std::cerr << "Error: " << error << "\n";
      return 1;
    }
  }
  std::vector<std::string> child_args = {self,   "local",        "serve",      "--state-dir",   state, "--port",
                                         port,   "--durability", durability, "--node-runtime", node_runtime};
  fs::path overlay;
  if (!bare) {
    child_args.push_back("--apply");
    child_args.push_back((manifests / "crds").string());
    // The local overlay (scheduler, controller, built-in Runtimes) is applied
    // in-process too, so kubectl is not needed to get a working plane.
    overlay = manifests / "overlays" / "local";
    if (fs::exists(overlay / "kustomization.yaml")) {
      child_args.push_back("--apply");
      child_args.push_back(overlay.string());
    } else {
      overlay.clear();
    }
  }
  if (node_runtime == "process")
    for (const auto& m : images) {
      child_args.push_back("--image");
      child_args.push_back(m);
    }
  std::vector<char*> child_argv;
  for (auto& a : child_args) child_argv.push_back(a.data());
  child_argv.push_back(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "Error: fork failed\n";
    return 1;
  }
  if (pid == 0) {
    ::setsid();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execv(self, child_argv.data());
    _exit(127);
  }
  std::cerr << "Starting the local control plane (state in " << state << ", node runtime " << node_runtime << ")";
  auto deadline = t0 + std::chrono::seconds(args["timeout"].as<int>());
  int dots = 0;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::cerr << "\nError: the control plane exited during startup (exit status "
                << (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) << "). Last lines of "
                << log.string() << ":\n"
                << tail_file(log, 8);
      return 1;
    }
    instance i = read_instance(dir);
    if (i.pid == pid && tcp_reachable(i.url)) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      std::cerr << " ready in " << ms << " ms.\n";
      if (bare)
        std::cerr << "Applied nothing (--bare).\n";
      else
        std::cerr << "Applied the CRDs" << (overlay.empty() ? "" : " and the local overlay") << " ("
                  << (args.count("manifests") ? manifests.string() : std::string("compiled into krt")) << ").\n";
      std::cout << "The local control plane is running at " << i.url << " (pid " << pid << ", node runtime "
                << node_runtime << ").\n\n"
                << "Kubeconfig: " << (dir / "kubeconfig").string()
                << " (krt uses it when nothing else is configured)\n\nNext steps:\n"
                << "  krt run -- echo hello   # a Run on the built-in bash Runtime\n"
                << "  krt run -r python -- -c 'print(42)'\n"
                << "  export KUBECONFIG=" << (dir / "kubeconfig").string() << "   # for kubectl\n"
                << "  kubectl get runs,runtimes,pods -A\n"
                << "  krt local status        # is it running?\n"
                << "  krt local down          # stop it (state is kept in " << state << ")\n";
      return 0;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << "\nError: the control plane did not become ready within " << args["timeout"].as<int>()
                << " s; it keeps running as pid " << pid << ". Check " << log.string() << ":\n"
                << tail_file(log, 8);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (++dots % 10 == 0) std::cerr << "." << std::flush;
  }
}

int cmd_down(int argc, char** argv) {
  cxxopts::Options o("krt local down", "Stop the local control plane and every process it started (state is kept).");
  add_state_dir(o);
  o.add_options()("timeout", "Seconds to wait for a graceful stop before SIGKILL",
                  cxxopts::value<int>()->default_value("15"));
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  fs::path dir = args["state-dir"].as<std::string>();
  instance i = read_instance(dir);
  std::error_code ec;
  if (!i.alive) {
    fs::remove(dir / "apiserver.ready", ec);
    std::cout << "The local control plane is not running.\n";
    return 0;
  }
  ::kill(i.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args["timeout"].as<int>());
  while (process_alive(i.pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (process_alive(i.pid)) {
    std::cerr << "The control plane did not stop within the timeout; killing it.\n";
    ::kill(-i.pid, SIGKILL);
    ::kill(i.pid, SIGKILL);
  }
  fs::remove(dir / "apiserver.ready", ec);
  std::cout << "Stopped the local control plane (pid " << i.pid << ").\n";
  return 0;
}

int cmd_status(int argc, char** argv) {
  cxxopts::Options o("krt local status", "Say whether the local control plane is running, and where.");
  add_state_dir(o);
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  fs::path dir = args["state-dir"].as<std::string>();
  instance i = read_instance(dir);
  if (!i.alive) {
    std::cout << "The local control plane is not running (state directory " << dir.string()
              << "). Start it with: krt local up\n";
    return 1;
  }
  bool reachable = tcp_reachable(i.url);
  std::cout << "Running: pid " << i.pid << ", " << i.url << (reachable ? "" : " (NOT answering)") << "\n"
            << "Node runtime: " << i.node_runtime << "\n"
            << "State directory: " << dir.string() << "\nKubeconfig: " << (dir / "kubeconfig").string()
            << "\nLog: " << (dir / "apiserver.log").string() << "\n";
  return reachable ? 0 : 1;
}

int cmd_kubeconfig(int argc, char** argv) {
  cxxopts::Options o("krt local kubeconfig",
                     "Print the path of the local control plane's kubeconfig (export KUBECONFIG=$(krt local kubeconfig)).");
  add_state_dir(o);
  o.add_options()("raw", "Print the kubeconfig's contents instead of its path");
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  fs::path kc = fs::path(args["state-dir"].as<std::string>()) / "kubeconfig";
  if (!fs::exists(kc)) {
    std::cerr << "Error: no kubeconfig at " << kc.string() << "; start the control plane with: krt local up\n";
    return 1;
  }
  if (args.count("raw")) {
    std::ifstream in(kc);
    std::cout << in.rdbuf();
  } else {
    std::cout << kc.string() << "\n";
  }
  return 0;
}

int cmd_logs(int argc, char** argv) {
  cxxopts::Options o("krt local logs", "Print the local control plane's log (JSON lines).");
  add_state_dir(o);
  o.add_options()("f,follow", "Keep printing new lines until interrupted")(
      "tail", "Lines from the end to print (-1: all)", cxxopts::value<int>()->default_value("-1"));
  cxxopts::ParseResult args;
  int rc = 0;
  if (!parse(o, argc, argv, args, rc)) return rc;
  fs::path log = fs::path(args["state-dir"].as<std::string>()) / "apiserver.log";
  std::ifstream in(log);
  if (!in) {
    std::cerr << "Error: no log at " << log.string() << "; start the control plane with: krt local up\n";
    return 1;
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  int tail = args["tail"].as<int>();
  std::size_t from = tail < 0 || static_cast<std::size_t>(tail) >= lines.size() ? 0 : lines.size() - static_cast<std::size_t>(tail);
  for (std::size_t i = from; i < lines.size(); ++i) std::cout << lines[i] << "\n";
  std::cout.flush();
  if (!args.count("follow")) return 0;
  in.clear();
  for (;;) {
    std::string l;
    if (std::getline(in, l)) {
      std::cout << l << "\n" << std::flush;
    } else {
      in.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

struct subcommand {
  std::string_view name;
  std::string_view summary;
  int (*run)(int, char**);
};

constexpr subcommand subcommands[] = {
    {"up", "Start the local control plane in the background and wait until it is ready", cmd_up},
    {"down", "Stop the local control plane", cmd_down},
    {"status", "Show whether the local control plane is running", cmd_status},
    {"kubeconfig", "Print the path of the local kubeconfig", cmd_kubeconfig},
    {"logs", "Print the local control plane's log", cmd_logs},
    {"serve", "Run the local control plane in the foreground", cmd_serve},
};

void local_usage(std::ostream& out) {
  out << "The embedded local control plane: a Kubernetes-compatible API server on SQLite, for running kruntimes "
         "with no cluster.\n\nUsage:\n  krt local <command> [flags]\n\nCommands:\n";
  for (const auto& c : subcommands)
    out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nRun 'krt local <command> --help' for the flags of a command.\n";
}

}  // namespace

int cmd_local(int argc, char** argv) {
  if (argc < 2) {
    local_usage(std::cerr);
    return 1;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    local_usage(std::cout);
    return 0;
  }
  for (const auto& c : subcommands)
    if (c.name == name) return c.run(argc - 1, argv + 1);
  std::cerr << "Error: unknown command \"" << name << "\" for \"krt local\"\n\n";
  local_usage(std::cerr);
  return 1;
}

}  // namespace krt::cli
