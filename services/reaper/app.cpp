#include "services/reaper/app.hpp"

#include <cstdlib>

#include "services/scheduler/bind_address.hpp"

namespace krt::reaper {

namespace {

awaitable<std::string> render(const obs::registry* m) { co_return m->render(); }
awaitable<std::optional<std::string>> always_ok() { co_return std::nullopt; }
awaitable<std::optional<std::string>> informers_synced(const reaper* r) { co_return r->not_ready_reason(); }

// Not a coroutine: client::connect's defaulted options must not be built in a
// coroutine frame (GCC 12).
std::optional<std::string> connect_client(executor ex, const kube::rest_config& cfg,
                                          std::unique_ptr<kube::client>& out) {
  kube::client_options co;
  co.user_agent = "kruntimes-reaper";
  auto c = kube::client::connect(std::move(ex), cfg, co);
  if (!c) return "cannot build the Kubernetes client: " + c.error();
  out = std::move(*c);
  return std::nullopt;
}

}  // namespace

app::app(reactor::engine& e, app_options opts)
    : engine_(e), opts_(std::move(opts)), log_("reaper"), tasks_(e.get_executor(0), "reaper-app") {}

app::~app() = default;

std::optional<std::string> app::start_endpoints() {
  const char* pod_ip_env = std::getenv("POD_IP");
  std::string pod_ip = pod_ip_env == nullptr ? "" : pod_ip_env;
  std::string err;
  auto metrics_addr = scheduler::parse_bind_address(opts_.metrics_address, pod_ip, err);
  if (!err.empty()) return "--metrics-bind-address: " + err;
  auto probe_addr = scheduler::parse_bind_address(opts_.probe_address, pod_ip, err);
  if (!err.empty()) return "--health-probe-bind-address: " + err;
  const obs::registry* reg = &metrics_;
  const reaper* r = reaper_.get();
  auto make = [&](const scheduler::bind_address& a) {
    net::http_server_options o;
    o.address = a.host;
    o.port = a.port;
    auto ep = std::make_unique<obs::endpoint>(engine_.get_executor(0), o, [reg] { return render(reg); });
    ep->add_liveness_check("ping", [] { return always_ok(); });
    // A standby is ready too: it serves probes and keeps its caches warm.
    ep->add_readiness_check("informers", [r] { return informers_synced(r); });
    return ep;
  };
  if (metrics_addr) {
    metrics_ep_ = make(*metrics_addr);
    if (auto l = metrics_ep_->listen(); !l)
      return "--metrics-bind-address: cannot listen on " + metrics_addr->host + ":" +
             std::to_string(metrics_addr->port) + ": " + l.error();
    metrics_ep_->start();
    log_.info("serving metrics",
              {{"address", metrics_addr->host}, {"port", static_cast<unsigned>(metrics_ep_->port())}});
  }
  if (probe_addr) {
    probe_ep_ = make(*probe_addr);
    if (auto l = probe_ep_->listen(); !l)
      return "--health-probe-bind-address: cannot listen on " + probe_addr->host + ":" +
             std::to_string(probe_addr->port) + ": " + l.error();
    probe_ep_->start();
    log_.info("serving probes", {{"address", probe_addr->host}, {"port", static_cast<unsigned>(probe_ep_->port())}});
  }
  return std::nullopt;
}

awaitable<void> app::log_when_synced() {
  co_await reaper_->wait_synced();
  log_.info("informers synced");
}

awaitable<std::optional<std::string>> app::start() {
  executor ex = engine_.get_executor(0);
  if (auto err = connect_client(ex, opts_.config, client_)) co_return *err;
  reaper_ = std::make_unique<reaper>(ex, *client_, opts_.reaper, metrics_);
  if (auto err = start_endpoints()) co_return *err;
  reaper_->start();
  tasks_.spawn(log_when_synced(), "informer sync");

  if (opts_.leader_elect) {
    kube::leader_election_options lo;
    lo.lease_namespace = opts_.lease_namespace;
    lo.lease_name = opts_.lease_name;
    lo.identity = opts_.identity;
    kube::leader_callbacks cb;
    reaper* r = reaper_.get();
    cb.on_started_leading = [this, r] {
      log_.info("became leader", {{"identity", opts_.identity}});
      r->set_leader(true);
    };
    cb.on_stopped_leading = [this, r] {
      log_.warn("lost leadership; no longer writing", {{"identity", opts_.identity}});
      r->set_leader(false);
    };
    cb.on_new_leader = [this](const std::string& who) { log_.info("leader observed", {{"leader", who}}); };
    elector_ = std::make_unique<kube::leader_elector>(*client_, lo, cb);
    tasks_.spawn(elector_->run(), "leader election");
  } else {
    reaper_->set_leader(true);
  }
  const auto threshold = std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.reaper.stale_threshold);
  log_.info("reaper started", {{"namespace", opts_.reaper.namespace_.empty() ? "(all)" : opts_.reaper.namespace_},
                               {"stale_threshold", format_go_duration(threshold)},
                               {"leader_elect", opts_.leader_elect}});
  co_return std::nullopt;
}

awaitable<void> app::stop() {
  if (probe_ep_) probe_ep_->set_not_ready("shutting down");
  if (metrics_ep_) metrics_ep_->set_not_ready("shutting down");
  // The reaper first (checks in flight finish their writes), then the
  // elector, which releases the lease so a standby takes over at once.
  if (reaper_) co_await reaper_->stop();
  co_await tasks_.close();
  if (probe_ep_) co_await probe_ep_->stop();
  if (metrics_ep_) co_await metrics_ep_->stop();
}

}  // namespace krt::reaper
