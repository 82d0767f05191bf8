// kruntimes-scheduler: assigns Pending Runs to ready runtime pods with free
// capacity (SPEC §3). Parses flags, builds the app, runs it until SIGTERM.

#include <cstdlib>
#include <cxxopts.hpp>
#include <iostream>

#include "lib/core/strings.hpp"
#include "lib/kube/config.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"
#include "lib/reactor/task_group.hpp"
#include "services/scheduler/app.hpp"

namespace {

krt::awaitable<int> run_app(krt::reactor::engine& e, krt::scheduler::app_options opts) {
  krt::obs::logger log("scheduler");
  krt::scheduler::app a(e, std::move(opts));
  auto err = co_await a.start();
  if (err) {
    log.error("startup failed", {{"error", *err}});
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
  cxxopts::Options o("kruntimes-scheduler",
                     "Assigns Pending kruntimes Runs to ready runtime pods with free capacity (SPEC §3).");
  // clang-format off
  o.add_options()
    ("kubeconfig", "Path to a kubeconfig (default: KUBECONFIG, in-cluster, then ~/.kube/config)",
     cxxopts::value<std::string>()->default_value(""))
    ("namespace", "Only schedule Runs in this namespace (default: all namespaces)",
     cxxopts::value<std::string>()->default_value(""))
    ("metrics-bind-address", "Address of /metrics (':PORT' binds $POD_IP when set; 0 disables)",
     cxxopts::value<std::string>()->default_value(":8080"))
    ("health-probe-bind-address", "Address of /healthz and /readyz (':PORT' binds $POD_IP when set; 0 disables)",
     cxxopts::value<std::string>()->default_value(":8081"))
    ("leader-elect", "Elect a leader through a Lease so only one replica writes",
     cxxopts::value<bool>()->default_value("true"))
    ("partitions", "Share the work between replicas: spread the pools over N partitions, each with its own Lease (1: one leader; every replica needs the same value)",
     cxxopts::value<unsigned>()->default_value("1"))
    ("leader-election-namespace", "Namespace of the Lease (default: $POD_NAMESPACE, else kruntimes-system)",
     cxxopts::value<std::string>()->default_value(""))
    ("kube-api-qps", "Client-side limit of API requests per second, per shard (0: no limit)",
     cxxopts::value<double>()->default_value("1000"))
    ("kube-api-burst", "Requests allowed at once above --kube-api-qps", cxxopts::value<int>()->default_value("2000"))
    ("smp", "Number of shards (threads); pools are spread over shards by (namespace, runtime)",
     cxxopts::value<unsigned>()->default_value("1"))
    ("log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))
    ("h,help", "Show this help");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = o.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun 'kruntimes-scheduler --help' for usage.\n";
    return 1;
  }
  if (args.count("help")) {
    std::cout << o.help() << "\n";
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front()
              << "\"\nRun 'kruntimes-scheduler --help' for usage.\n";
    return 1;
  }
  unsigned partitions = args["partitions"].as<unsigned>();
  if (partitions == 0 || partitions > 256) {
    std::cerr << "Error: --partitions must be between 1 and 256\n";
    return 1;
  }
  if (partitions > 1 && !args["leader-elect"].as<bool>()) {
    std::cerr << "Error: --partitions needs --leader-elect=true (the partitions are held through Leases)\n";
    return 1;
  }

  krt::obs::level lvl;
  if (!krt::obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error\n";
    return 1;
  }
  krt::obs::set_level(lvl);
  krt::obs::logger log("scheduler");
  krt::obs::install_task_exception_logging(log);

  krt::kube::load_options lo;
  lo.kubeconfig = args["kubeconfig"].as<std::string>();
  auto cfg = krt::kube::load_config(lo);
  if (!cfg) {
    log.error("cannot load the Kubernetes configuration", {{"error", cfg.error()}});
    std::cerr << "Error: " << cfg.error() << "\n";
    return 1;
  }
  unsigned smp = args["smp"].as<unsigned>();
  if (smp == 0) {
    std::cerr << "Error: --smp must be at least 1\n";
    return 1;
  }

  krt::scheduler::app_options opts;
  opts.partitions = partitions;
  opts.config = std::move(*cfg);
  opts.namespace_ = args["namespace"].as<std::string>();
  opts.client.qps = args["kube-api-qps"].as<double>();
  opts.client.burst = args["kube-api-burst"].as<int>();
  if (opts.client.qps < 0 || opts.client.burst < 1) {
    std::cerr << "Error: --kube-api-qps must be >= 0 and --kube-api-burst >= 1\n";
    return 1;
  }
  opts.leader_elect = args["leader-elect"].as<bool>();
  opts.lease_namespace = args["leader-election-namespace"].as<std::string>();
  if (opts.lease_namespace.empty()) opts.lease_namespace = krt::env_or("POD_NAMESPACE", "kruntimes-system");
  opts.identity = krt::kube::candidate_identity("scheduler");
  opts.metrics_address = args["metrics-bind-address"].as<std::string>();
  opts.probe_address = args["health-probe-bind-address"].as<std::string>();

  krt::reactor::engine_options eo;
  eo.shards = smp;
  krt::reactor::engine e(eo);
  return e.run([&e, &opts]() { return run_app(e, std::move(opts)); });
}
