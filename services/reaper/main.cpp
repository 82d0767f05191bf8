// kruntimes-reaper: finds Runs whose runtime pod died or went stale and sends
// them back to Pending (a retry, or a reschedule of a Run never claimed) or
// fails them (SPEC §7; docs/reaper.md). Parses flags, builds the app, runs it
// until SIGTERM.

#include <cstdlib>
#include <cxxopts.hpp>
#include <iostream>

#include "lib/core/time.hpp"
#include "lib/core/strings.hpp"
#include "lib/kube/config.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"
#include "services/reaper/app.hpp"

namespace {

constexpr const char* usage_hint = "\nRun 'kruntimes-reaper --help' for usage.\n";

krt::awaitable<int> run_app(krt::reactor::engine& e, krt::reaper::app_options opts) {
  krt::obs::logger log("reaper");
  krt::reaper::app a(e, std::move(opts));
  auto err = co_await a.start();
  if (err) {
    log.error("startup failed", {{"error", *err}});
    std::cerr << "Error: " << *err << "\n";
    co_await a.stop();
    co_return 1;
  }
  co_await e.shutdown_requested().wait();
  log.info("shutting down");
  co_await a.stop();
  log.info("stopped");
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options o("kruntimes-reaper",
                     "Finds kruntimes Runs whose runtime pod is gone, terminating, not ready or without a fresh "
                     "runtimed heartbeat, and retries, reschedules or fails them (SPEC §7, docs/reaper.md).");
  // clang-format off
  o.add_options()
    ("kubeconfig", "Path to a kubeconfig (default: KUBECONFIG, in-cluster, then ~/.kube/config)",
     cxxopts::value<std::string>()->default_value(""))
    ("namespace", "Only watch Runs and pods in this namespace (default: all namespaces)",
     cxxopts::value<std::string>()->default_value(""))
    ("metrics-bind-address", "Address of /metrics (':PORT' binds $POD_IP when set; 0 disables)",
     cxxopts::value<std::string>()->default_value(":8084"))
    ("health-probe-bind-address", "Address of /healthz and /readyz (':PORT' binds $POD_IP when set; 0 disables)",
     cxxopts::value<std::string>()->default_value(":8085"))
    ("leader-elect", "Elect a leader through the Lease kruntimes-reaper.kruntimes.com so only one replica writes",
     cxxopts::value<bool>()->default_value("true"))
    ("leader-election-namespace", "Namespace of the Lease (default: $POD_NAMESPACE, else kruntimes-system)",
     cxxopts::value<std::string>()->default_value(""))
    ("stale-threshold", "How long a pod may be not ready, or its runtimed heartbeat old, before its Runs are "
     "stale (Go duration, e.g. 30s, 1m30s)", cxxopts::value<std::string>()->default_value("30s"))
    ("log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))
    ("h,help", "Show this help");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = o.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << usage_hint;
    return 1;
  }
  if (args.count("help")) {
    std::cout << o.help() << "\n";
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front() << "\"" << usage_hint;
    return 1;
  }
  krt::obs::level lvl;
  if (!krt::obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error" << usage_hint;
    return 1;
  }
  std::string threshold_text = args["stale-threshold"].as<std::string>();
  auto threshold = krt::parse_go_duration(threshold_text);
  if (!threshold || *threshold < std::chrono::microseconds{1}) {
    std::cerr << "Error: --stale-threshold \"" << threshold_text
              << "\" must be a positive Go duration such as 30s or 1m30s" << usage_hint;
    return 1;
  }
  krt::obs::set_level(lvl);
  krt::obs::logger log("reaper");
  krt::obs::install_task_exception_logging(log);

  krt::kube::load_options lo;
  lo.kubeconfig = args["kubeconfig"].as<std::string>();
  auto cfg = krt::kube::load_config(lo);
  if (!cfg) {
    log.error("cannot load the Kubernetes configuration", {{"error", cfg.error()}});
    std::cerr << "Error: " << cfg.error() << "\n";
    return 1;
  }

  krt::reaper::app_options opts;
  opts.config = std::move(*cfg);
  opts.leader_elect = args["leader-elect"].as<bool>();
  opts.lease_namespace = args["leader-election-namespace"].as<std::string>();
  if (opts.lease_namespace.empty()) opts.lease_namespace = krt::env_or("POD_NAMESPACE", "kruntimes-system");
  opts.identity = krt::kube::candidate_identity("reaper");
  opts.metrics_address = args["metrics-bind-address"].as<std::string>();
  opts.probe_address = args["health-probe-bind-address"].as<std::string>();
  opts.reaper.namespace_ = args["namespace"].as<std::string>();
  opts.reaper.stale_threshold = std::chrono::duration_cast<std::chrono::microseconds>(*threshold);
  opts.reaper.host = krt::env_or("POD_NAME", opts.identity);

  krt::reactor::engine_options eo;
  eo.shards = 1;
  krt::reactor::engine e(eo);
  return e.run([&e, &opts]() { return run_app(e, std::move(opts)); });
}
