#include "services/controller/app.hpp"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "lib/core/strings.hpp"
#include "lib/kube/config.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/endpoint.hpp"
#include "lib/obs/log.hpp"

namespace krt::controller {

namespace {

awaitable<std::string> render(obs::registry* r) { co_return r->render(); }

awaitable<std::optional<std::string>> healthy() { co_return std::nullopt; }

awaitable<std::optional<std::string>> controller_ready(const runtime_controller* c, const run_reconciler* r,
                                                       const bool* leading) {
  // A standby replica is ready: it serves probes and waits for the lease.
  if (!*leading || (c->synced() && r->synced())) co_return std::nullopt;
  co_return std::string("informers have not synced yet");
}

}  // namespace

krt::result<std::optional<bind_address>, std::string> parse_bind_address(const std::string& flag,
                                                                          const std::string& value,
                                                                          const std::string& pod_ip) {
  if (value == "0") return std::optional<bind_address>{};
  auto colon = value.rfind(':');
  if (colon == std::string::npos)
    return krt::unexpected("--" + flag + " wants host:port or :port (\"0\" disables it), not \"" + value + "\"");
  bind_address b;
  b.host = value.substr(0, colon);
  if (b.host.size() >= 2 && b.host.front() == '[' && b.host.back() == ']') b.host = b.host.substr(1, b.host.size() - 2);
  if (b.host.empty()) b.host = pod_ip.empty() ? "0.0.0.0" : pod_ip;
  std::string port = value.substr(colon + 1);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || p > 65535)
    return krt::unexpected("--" + flag + ": \"" + port + "\" is not a port number (0-65535)");
  b.port = static_cast<std::uint16_t>(p);
  return std::optional<bind_address>{b};
}

awaitable<int> run_app(reactor::engine& eng, app_options o) {
  obs::logger log("controller");
  obs::install_task_exception_logging(log);
  executor ex = eng.get_executor(0);

  std::string pod_ip = krt::env_or("POD_IP", "");
  auto metrics_addr = parse_bind_address("metrics-bind-address", o.metrics_bind_address, pod_ip);
  auto health_addr = parse_bind_address("health-probe-bind-address", o.health_probe_bind_address, pod_ip);
  if (!metrics_addr || !health_addr) {
    std::cerr << "Error: " << (!metrics_addr ? metrics_addr.error() : health_addr.error()) << "\n";
    co_return 2;
  }

  kube::load_options lo;
  lo.kubeconfig = o.kubeconfig;
  auto cfg = kube::load_config(lo);
  if (!cfg) {
    std::cerr << "Error: " << cfg.error() << "\n";
    co_return 1;
  }
  kube::client_options co;
  co.user_agent = "kruntimes-controller";
  auto client = kube::client::connect(ex, *cfg, co);
  if (!client) {
    std::cerr << "Error: " << client.error() << "\n";
    co_return 1;
  }

  obs::registry metrics;
  auto controller = std::make_unique<runtime_controller>(ex, **client, o.controller, metrics);
  run_reconciler_options ro;
  ro.namespace_ = o.controller.namespace_;
  ro.workers = o.controller.workers;
  ro.maintainer = o.maintainer;
  auto runs = std::make_unique<run_reconciler>(ex, **client, std::move(ro), *controller, metrics);
  bool leading = false;
  const runtime_controller* ctl_ptr = controller.get();
  const run_reconciler* runs_ptr = runs.get();
  const bool* leading_ptr = &leading;

  std::vector<std::unique_ptr<obs::endpoint>> endpoints;
  std::vector<bind_address> listeners;
  if (*metrics_addr) listeners.push_back(**metrics_addr);
  if (*health_addr) listeners.push_back(**health_addr);
  for (const auto& a : listeners) {
    net::http_server_options so;
    so.address = a.host;
    so.port = a.port;
    obs::registry* reg = &metrics;
    auto ep = std::make_unique<obs::endpoint>(ex, so, [reg] { return render(reg); });
    ep->add_liveness_check("ping", [] { return healthy(); });
    ep->add_readiness_check("controller", [ctl_ptr, runs_ptr, leading_ptr] {
      return controller_ready(ctl_ptr, runs_ptr, leading_ptr);
    });
    if (auto l = ep->listen(); !l) {
      std::cerr << "Error: cannot listen on " << so.address << ":" << so.port << ": " << l.error() << "\n";
      co_return 1;
    }
    ep->start();
    log.info("serving", {{"address", so.address}, {"port", static_cast<std::uint64_t>(ep->port())}});
    endpoints.push_back(std::move(ep));
  }

  reactor::task_group tasks(ex, "controller-app");
  runtime_controller* ctl = controller.get();
  run_reconciler* rr = runs.get();
  std::unique_ptr<kube::leader_elector> elector;
  bool lost_lease = false;
  if (o.leader_elect) {
    kube::leader_election_options le;
    le.lease_namespace = o.leader_election_namespace;
    if (le.lease_namespace.empty()) le.lease_namespace = krt::env_or("POD_NAMESPACE", o.controller.namespace_);
    if (le.lease_namespace.empty()) le.lease_namespace = cfg->namespace_;
    le.lease_name = o.leader_election_id;
    le.identity = kube::candidate_identity("kruntimes-controller");
    kube::leader_callbacks cb;
    cb.on_started_leading = [ctl, rr, &leading, &log] {
      log.info("became the leader; starting the Runtime and Run reconcilers");
      leading = true;
      ctl->start();
      rr->start();
    };
    cb.on_stopped_leading = [&eng, &leading, &lost_lease, &log] {
      if (!leading) return;
      log.error("lost the leader lease; exiting so a fresh process can compete again");
      lost_lease = true;
      eng.request_shutdown();
    };
    log.info("waiting for the leader lease",
             {{"namespace", le.lease_namespace}, {"lease", le.lease_name}, {"identity", le.identity}});
    elector = std::make_unique<kube::leader_elector>(**client, le, cb);
    tasks.spawn(elector->run(), "leader election");
  } else {
    leading = true;
    ctl->start();
    rr->start();
  }

  co_await eng.shutdown_requested().wait();
  log.info("shutting down");
  for (auto& ep : endpoints) ep->set_not_ready("shutting down");
  bool was_leading = leading;
  leading = false;
  if (was_leading) {
    co_await runs->stop();
    co_await controller->stop();
  }
  co_await tasks.close();  // releases the lease
  for (auto& ep : endpoints) co_await ep->stop();
  co_return lost_lease ? 1 : 0;
}

}  // namespace krt::controller
