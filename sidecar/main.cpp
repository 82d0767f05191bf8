// runtimed: the sidecar of every Runtime Pod (docs/runtimed.md). Parses
// flags, builds the daemon on shard 0, runs it until SIGTERM.
#include <cstdlib>
#include <iostream>
#include <string>

#include <cxxopts.hpp>

#include "lib/core/strings.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/config.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"
#include "sidecar/daemon.hpp"

using namespace krt;

namespace {

// "host:port" or ":port"; host "" means every address.
bool parse_bind(const std::string& s, std::string& host, std::uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  try {
    int p = std::stoi(s.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

awaitable<int> serve(reactor::engine& eng, runtimed::options opts, kube::load_options lo,
                     kube::client_options co) {
  obs::logger log("runtimed");
  auto cfg = kube::load_config(lo);
  if (!cfg) {
    std::cerr << "Error: " << cfg.error() << "\n";
    co_return 1;
  }
  auto kc = kube::client::connect(eng.get_executor(0), *cfg, co);
  if (!kc) {
    std::cerr << "Error: " << kc.error() << "\n";
    co_return 1;
  }
  runtimed::daemon d(eng.get_executor(0), **kc, opts);
  auto started = d.start();
  if (!started) {
    std::cerr << "Error: " << started.error() << "\n";
    co_await d.stop();
    co_return 1;
  }
  log.info("runtimed started", {{"pod", opts.pod_name},
                                {"namespace", opts.pod_namespace},
                                {"runtime", opts.runtime_name},
                                {"workers", opts.workers},
                                {"http_port", static_cast<unsigned>(d.http_port())}});
  co_await eng.shutdown_requested().wait();
  log.info("shutting down");
  co_await d.stop();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string pod_ip = krt::env_or("POD_IP", "");
  cxxopts::Options o("runtimed",
                     "The kruntimes sidecar of a Runtime Pod: claims the Runs assigned to this pod, executes them on "
                     "the local Runtime Server and reports their status.\n"
                     "Env: POD_NAME or HOSTNAME (this pod), POD_NAMESPACE (default \"default\"), POD_UID, POD_IP, "
                     "KRUNTIMES_RUNTIME_SOCKET.");
  o.add_options()("runtime-endpoint", "Runtime Server TCP address (default $POD_IP:9091, else 127.0.0.1:9091)",
                  cxxopts::value<std::string>()->default_value((pod_ip.empty() ? "127.0.0.1" : pod_ip) + ":9091"))(
      "runtime-socket", "Runtime Server gRPC target tried first, e.g. unix-abstract:kruntimes-<pod uid> "
                        "(default $KRUNTIMES_RUNTIME_SOCKET)",
      cxxopts::value<std::string>()->default_value(krt::env_or("KRUNTIMES_RUNTIME_SOCKET", "")))(
      "health-probe-bind-address", "HTTP address for /healthz, /readyz, /metrics, logs and artifacts "
                                   "(default $POD_IP:9094, else :9094)",
      cxxopts::value<std::string>()->default_value(pod_ip.empty() ? ":9094" : pod_ip + ":9094"))(
      "metrics-bind-address", "Accepted for compatibility; metrics are served on the health port",
      cxxopts::value<std::string>()->default_value(""))(
      "status-addr", "Accepted for compatibility and ignored (logs and artifacts are on the health port)",
      cxxopts::value<std::string>()->default_value(""))(
      "runtime-name", "Name of the Runtime this pod belongs to", cxxopts::value<std::string>()->default_value(""))(
      "workers", "Runs executed at once (the pod's capacity)", cxxopts::value<int>()->default_value("2"))(
      "workspace-dir", "The workspace volume shared with the Runtime Server",
      cxxopts::value<std::string>()->default_value("/workspace"))(
      "artifact-store-driver", "\"\" (none) or filesystem", cxxopts::value<std::string>()->default_value(""))(
      "artifact-store-root", "Root of the filesystem artifact store",
      cxxopts::value<std::string>()->default_value("/var/lib/kruntimes/artifacts"))(
      "artifact-volume-claim", "PVC name of the filesystem store (recorded in artifact refs)",
      cxxopts::value<std::string>()->default_value(""))(
      "max-artifact-bytes", "Largest single artifact", cxxopts::value<std::uint64_t>()->default_value("1073741824"))(
      "max-artifacts-bytes", "Largest total of a Run's artifacts",
      cxxopts::value<std::uint64_t>()->default_value("10737418240"))(
      "kubeconfig", "Path to a kubeconfig (default $KUBECONFIG, else in-cluster)",
      cxxopts::value<std::string>()->default_value(""))(
      "kube-api-qps", "Client-side limit of API requests per second (0: no limit)",
      cxxopts::value<double>()->default_value("1000"))(
      "kube-api-burst", "Requests allowed at once above --kube-api-qps", cxxopts::value<int>()->default_value("2000"))(
      "smp", "Shards (threads); runtimed's state lives on shard 0", cxxopts::value<unsigned>()->default_value("1"))(
      "log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
      "h,help", "Show this help");
  cxxopts::ParseResult args;
  try {
    args = o.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun 'runtimed --help' for usage.\n";
    return 1;
  }
  if (args.count("help")) {
    std::cout << o.help() << "\n";
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front() << "\"\nRun 'runtimed --help' for usage.\n";
    return 1;
  }
  obs::level lvl{};
  if (!obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error\n";
    return 1;
  }
  obs::set_level(lvl);

  runtimed::options opts;
  opts.runtime_endpoint = args["runtime-endpoint"].as<std::string>();
  opts.runtime_socket = args["runtime-socket"].as<std::string>();
  if (!parse_bind(args["health-probe-bind-address"].as<std::string>(), opts.http_address, opts.http_port)) {
    std::cerr << "Error: --health-probe-bind-address wants host:port or :port\n";
    return 1;
  }
  const auto metrics_addr = args["metrics-bind-address"].as<std::string>();
  if (!metrics_addr.empty() && metrics_addr != args["health-probe-bind-address"].as<std::string>() &&
      metrics_addr != "0")
    obs::logger("runtimed").info("--metrics-bind-address is ignored; /metrics is served on the health port",
                                 {{"metrics_bind_address", metrics_addr}});
  opts.runtime_name = args["runtime-name"].as<std::string>();
  opts.workers = args["workers"].as<int>();
  if (opts.workers < 1) {
    std::cerr << "Error: --workers must be at least 1\n";
    return 1;
  }
  opts.workspace_dir = args["workspace-dir"].as<std::string>();
  opts.artifact_driver = args["artifact-store-driver"].as<std::string>();
  if (opts.artifact_driver == "s3") {
    std::cerr << "Error: --artifact-store-driver=s3 is not supported yet; use filesystem or leave it empty\n";
    return 1;
  }
  if (!opts.artifact_driver.empty() && opts.artifact_driver != "filesystem") {
    std::cerr << "Error: --artifact-store-driver must be empty or filesystem, not \"" << opts.artifact_driver << "\"\n";
    return 1;
  }
  if (opts.artifact_driver == "filesystem" && opts.runtime_name.empty()) {
    std::cerr << "Error: --runtime-name is required when an artifact store is configured\n";
    return 1;
  }
  opts.artifact_root = args["artifact-store-root"].as<std::string>();
  opts.artifact_volume_claim = args["artifact-volume-claim"].as<std::string>();
  opts.max_artifact_bytes = args["max-artifact-bytes"].as<std::uint64_t>();
  opts.max_artifacts_bytes = args["max-artifacts-bytes"].as<std::uint64_t>();
  opts.pod_name = krt::env_or("POD_NAME", krt::env_or("HOSTNAME", ""));
  opts.pod_namespace = krt::env_or("POD_NAMESPACE", "default");
  opts.pod_uid = krt::env_or("POD_UID", "");
  if (opts.pod_name.empty()) {
    std::cerr << "Error: set POD_NAME or HOSTNAME to this pod's name (the downward API's metadata.name)\n";
    return 1;
  }
  if (const char* hb = std::getenv("KRUNTIMES_HEARTBEAT_INTERVAL_MS"); hb != nullptr && *hb != '\0')
    opts.heartbeat_interval = std::chrono::milliseconds(std::max(50L, std::atol(hb)));

  kube::load_options lo;
  lo.kubeconfig = args["kubeconfig"].as<std::string>();
  kube::client_options co;
  co.qps = args["kube-api-qps"].as<double>();
  co.burst = args["kube-api-burst"].as<int>();
  if (co.qps < 0 || co.burst < 1) {
    std::cerr << "Error: --kube-api-qps must be >= 0 and --kube-api-burst >= 1\n";
    return 1;
  }

  reactor::engine_options eo;
  eo.shards = std::max(1u, args["smp"].as<unsigned>());
  reactor::engine eng(eo);
  obs::install_task_exception_logging(obs::logger("runtimed"));
  return eng.run([&]() { return serve(eng, opts, lo, co); });
}
