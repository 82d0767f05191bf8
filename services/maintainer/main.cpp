// kruntimes-maintainer: deletes the filesystem artifacts of deleted Runs and
// then their kruntimes.io/artifact-cleanup finalizer (SPEC §8; flags SPEC
// §10). The controller runs one Deployment of it per namespace and store.
// See docs/maintainer.md.
#include <cxxopts.hpp>
#include <cstdlib>
#include <iostream>

#include "lib/core/time.hpp"
#include "lib/obs/log.hpp"
#include "services/maintainer/maintainer.hpp"
#include "services/maintainer/sweep.hpp"

using namespace krt;

namespace {

bool parse_positive_duration(const std::string& flag, const std::string& text, std::chrono::nanoseconds& out) {
  auto d = parse_go_duration(text);
  if (!d || d->count() <= 0) {
    std::cerr << "Error: --" << flag << " wants a positive duration such as 10s or 5m, not \"" << text << "\"\n";
    return false;
  }
  out = *d;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options opts("kruntimes-maintainer",
                        "Deletes the stored artifacts of deleted Runs in one namespace, then removes their "
                        "kruntimes.io/artifact-cleanup finalizer; also deletes run directories no Run owns "
                        "(docs/maintainer.md).");
  maintainer::options o;
  opts.add_options()("run-namespace", "Namespace whose Runs are cleaned (default $POD_NAMESPACE)",
                     cxxopts::value<std::string>()->default_value(""))(
      "run-uid", "Clean only the Run with this uid, once, and exit", cxxopts::value<std::string>()->default_value(""))(
      "driver", "Artifact store driver: filesystem (s3 is not supported yet)",
      cxxopts::value<std::string>()->default_value(o.driver))(
      "filesystem-root", "Where the store's volume is mounted",
      cxxopts::value<std::string>()->default_value(o.filesystem_root))(
      "filesystem-volume-claim", "The store's PersistentVolumeClaim (for logs and Events)",
      cxxopts::value<std::string>()->default_value(""))(
      "store-hash", "Clean Runs whose status.artifactStore has this hash (required unless --run-uid)",
      cxxopts::value<std::string>()->default_value(""))(
      "interval", "Time between passes", cxxopts::value<std::string>()->default_value("10s"))(
      "orphan-grace", "Run directories no Run owns are deleted once older than this",
      cxxopts::value<std::string>()->default_value("10m"))(
      "kubeconfig", "Path to a kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
      cxxopts::value<std::string>()->default_value(""))(
      "log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
      "h,help", "Show this help");
  cxxopts::ParseResult args;
  try {
    args = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun kruntimes-maintainer --help for the flags.\n";
    return 2;
  }
  if (args.count("help")) {
    std::cout << opts.help() << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front()
              << "\"\nRun kruntimes-maintainer --help for the flags.\n";
    return 2;
  }
  obs::level lvl;
  if (!obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  obs::set_level(lvl);
  o.run_namespace = args["run-namespace"].as<std::string>();
  if (o.run_namespace.empty())
    if (const char* ns = std::getenv("POD_NAMESPACE"); ns != nullptr) o.run_namespace = ns;
  o.run_uid = args["run-uid"].as<std::string>();
  o.driver = args["driver"].as<std::string>();
  o.filesystem_root = args["filesystem-root"].as<std::string>();
  o.filesystem_volume_claim = args["filesystem-volume-claim"].as<std::string>();
  o.store_hash = args["store-hash"].as<std::string>();
  o.kubeconfig = args["kubeconfig"].as<std::string>();
  if (!parse_positive_duration("interval", args["interval"].as<std::string>(), o.interval) ||
      !parse_positive_duration("orphan-grace", args["orphan-grace"].as<std::string>(), o.orphan_grace))
    return 2;
  if (o.driver == "s3") {
    std::cerr << "Error: the s3 artifact store driver is not supported yet (runtimed stores artifacts on the "
                 "filesystem driver only); remove the kruntimes.io/artifact-cleanup finalizer of such Runs by hand\n";
    return 1;
  }
  if (o.driver != "filesystem") {
    std::cerr << "Error: --driver must be filesystem (s3 is not supported yet), not \"" << o.driver << "\"\n";
    return 2;
  }
  if (o.run_namespace.empty()) {
    std::cerr << "Error: --run-namespace is required (or set $POD_NAMESPACE)\n";
    return 2;
  }
  if (!maintainer::valid_segment(o.run_namespace)) {
    std::cerr << "Error: --run-namespace \"" << o.run_namespace << "\" is not a namespace name\n";
    return 2;
  }
  if (!o.run_uid.empty() && !maintainer::valid_segment(o.run_uid)) {
    std::cerr << "Error: --run-uid \"" << o.run_uid << "\" is not a uid\n";
    return 2;
  }
  if (o.run_uid.empty() && o.store_hash.empty()) {
    std::cerr << "Error: --store-hash is required (the controller passes it); or clean one Run with --run-uid\n";
    return 2;
  }
  if (o.filesystem_root.empty()) {
    std::cerr << "Error: --filesystem-root must not be empty\n";
    return 2;
  }

  reactor::engine_options eo;
  eo.shards = 1;
  reactor::engine eng(eo);
  return eng.run([&eng, &o] { return maintainer::run(eng, o); });
}
