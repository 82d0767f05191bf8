// kruntimes-controller: reconciles Runtimes into their Deployments, RBAC and
// NetworkPolicies (SPEC §6), deletes finished Runs after their TTL and starts
// artifact maintainers for deleted Runs (SPEC §8; flags SPEC §10). See
// docs/controller.md.
#include <cxxopts.hpp>
#include <iostream>

#include "lib/obs/log.hpp"
#include "services/controller/app.hpp"

using namespace krt;

int main(int argc, char** argv) {
  cxxopts::Options opts("kruntimes-controller",
                        "Reconciles kruntimes.io Runtimes into a Deployment with the runtimed sidecar, its "
                        "ServiceAccount, Role and RoleBinding, and a NetworkPolicy; deletes finished Runs after "
                        "spec.ttlSecondsAfterFinished; starts artifact maintainers for deleted Runs "
                        "(docs/controller.md).");
  controller::app_options o;
  opts.add_options()("metrics-bind-address", "Address for /metrics (\":port\" binds $POD_IP when set; \"0\" disables)",
                     cxxopts::value<std::string>()->default_value(o.metrics_bind_address))(
      "health-probe-bind-address", "Address for /healthz and /readyz (\":port\" binds $POD_IP when set; \"0\" disables)",
      cxxopts::value<std::string>()->default_value(o.health_probe_bind_address))(
      "leader-elect", "Take the Lease " + o.leader_election_id + " before reconciling (--leader-elect=false to disable)",
      cxxopts::value<bool>()->default_value("true")->implicit_value("true"))(
      "leader-election-namespace", "Namespace of the Lease (default: $POD_NAMESPACE, --namespace, the kubeconfig's)",
      cxxopts::value<std::string>()->default_value(""))(
      "default-daemon-image", "runtimed image for Runtimes without spec.daemonImage (default kruntimes/runtimed:0.1.0)",
      cxxopts::value<std::string>()->default_value(""))(
      "runtimed-service-account-name",
      "ServiceAccount for Runtime pods whose template names none (default kruntimes-runtimed)",
      cxxopts::value<std::string>()->default_value(""))(
      "runtime-maintainer-image", "Image of the artifact maintainer Deployments (default kruntimes/maintainer:0.1.0)",
      cxxopts::value<std::string>()->default_value(""))(
      "runtime-maintainer-image-pull-secrets", "Comma-separated image pull Secrets for the maintainer pods",
      cxxopts::value<std::string>()->default_value(""))(
      "kubeconfig", "Path to a kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
      cxxopts::value<std::string>()->default_value(""))(
      "namespace", "Watch Runtimes in this namespace only (default: every namespace)",
      cxxopts::value<std::string>()->default_value(""))(
      "workers", "Runtimes reconciled at once", cxxopts::value<int>()->default_value("2"))(
      "log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
      "h,help", "Show this help");
  cxxopts::ParseResult args;
  try {
    args = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun kruntimes-controller --help for the flags.\n";
    return 2;
  }
  if (args.count("help")) {
    std::cout << opts.help() << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front()
              << "\"\nRun kruntimes-controller --help for the flags.\n";
    return 2;
  }
  obs::level lvl;
  if (!obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  obs::set_level(lvl);
  o.metrics_bind_address = args["metrics-bind-address"].as<std::string>();
  o.health_probe_bind_address = args["health-probe-bind-address"].as<std::string>();
  o.leader_elect = args["leader-elect"].as<bool>();
  o.leader_election_namespace = args["leader-election-namespace"].as<std::string>();
  o.kubeconfig = args["kubeconfig"].as<std::string>();
  o.controller.namespace_ = args["namespace"].as<std::string>();
  o.controller.workers = args["workers"].as<int>();
  o.controller.build.default_daemon_image = args["default-daemon-image"].as<std::string>();
  o.controller.build.runtimed_service_account_name = args["runtimed-service-account-name"].as<std::string>();
  o.maintainer.image = args["runtime-maintainer-image"].as<std::string>();
  o.maintainer.pull_secrets = controller::split_list(args["runtime-maintainer-image-pull-secrets"].as<std::string>());
  if (o.controller.workers < 1) {
    std::cerr << "Error: --workers must be at least 1\n";
    return 2;
  }

  reactor::engine_options eo;
  eo.shards = 1;
  reactor::engine eng(eo);
  return eng.run([&eng, &o] { return controller::run_app(eng, o); });
}
