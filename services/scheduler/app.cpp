#include "services/scheduler/app.hpp"

#include "lib/reactor/submit.hpp"

namespace krt::scheduler {

namespace {

awaitable<pool_shard*> address_of(pool_shard& s) { co_return &s; }
awaitable<std::string> scrape(obs::sharded_metrics* m) { co_return co_await m->scrape(); }
awaitable<std::optional<std::string>> always_ok() { co_return std::nullopt; }
awaitable<std::optional<std::string>> informers_synced(const kube::informer<api::run>* runs,
                                                       const kube::informer<api::pod_view>* pods) {
  if (!runs->has_synced()) co_return "Runs informer not synced: " + runs->base().last_error();
  if (!pods->has_synced()) co_return "Pods informer not synced: " + pods->base().last_error();
  co_return std::nullopt;
}

}  // namespace

app::app(reactor::engine& e, app_options opts)
    : engine_(e),
      opts_(std::move(opts)),
      log_("scheduler"),
      metrics_(e),
      shards_(e),
      tasks_(e.get_executor(0), "scheduler-app") {}

app::~app() = default;

unsigned app::shard_of(const std::string& ns, const std::string& runtime) const {
  return reactor::shard_for(pool_key(ns, runtime), engine_.size());
}

void app::route_run(std::shared_ptr<const api::run> old_r, std::shared_ptr<const api::run> cur) {
  const api::run& any = cur ? *cur : *old_r;
  if (any.spec.runtime.empty()) return;
  unsigned s = shard_of(any.metadata.namespace_, any.spec.runtime);
  pool_shard* t = targets_[s];
  asio::post(engine_.get_executor(s), [t, old_r = std::move(old_r), cur = std::move(cur)]() mutable {
    t->on_run(std::move(old_r), std::move(cur));
  });
}

void app::route_pod(std::shared_ptr<const api::pod_view> old_p, std::shared_ptr<const api::pod_view> cur) {
  auto label_of = [](const api::pod_view& p) -> std::string {
    auto it = p.metadata.labels.find(std::string(api::runtime_label));
    return it == p.metadata.labels.end() ? std::string() : it->second;
  };
  auto post = [this](unsigned s, std::shared_ptr<const api::pod_view> o, std::shared_ptr<const api::pod_view> c) {
    pool_shard* t = targets_[s];
    asio::post(engine_.get_executor(s), [t, o = std::move(o), c = std::move(c)]() mutable {
      t->on_pod(std::move(o), std::move(c));
    });
  };
  if (old_p && cur && label_of(*old_p) != label_of(*cur)) {
    // The pod moved to another pool: the old pool's shard forgets it.
    unsigned from = shard_of(old_p->metadata.namespace_, label_of(*old_p));
    unsigned to = shard_of(cur->metadata.namespace_, label_of(*cur));
    if (from != to) {
      post(from, old_p, nullptr);
      post(to, nullptr, std::move(cur));
      return;
    }
  }
  const api::pod_view& any = cur ? *cur : *old_p;
  post(shard_of(any.metadata.namespace_, label_of(any)), std::move(old_p), std::move(cur));
}

void app::broadcast_leader(bool leader) {
  for (unsigned s = 0; s < targets_.size(); ++s) {
    pool_shard* t = targets_[s];
    asio::post(engine_.get_executor(s), [t, leader] { t->set_leader(leader); });
  }
}

void app::broadcast_owned(unsigned partition, bool owned) {
  unsigned n = opts_.partitions;
  for (unsigned s = 0; s < targets_.size(); ++s) {
    pool_shard* t = targets_[s];
    asio::post(engine_.get_executor(s), [t, partition, n, owned] { t->set_owned(partition, n, owned); });
  }
  if (partitions_) {
    metrics_.local()
        .get_gauge("kruntimes_scheduler_partitions_owned", "Scheduler partitions this replica holds.")
        .set(partitions_->owned_count());
  }
}

awaitable<void> app::sync_then_release() {
  co_await runs_->wait_synced();
  co_await pods_->wait_synced();
  log_.info("informers synced", {{"runs", static_cast<std::uint64_t>(runs_->size())},
                                 {"pods", static_cast<std::uint64_t>(pods_->size())}});
  // Posted after every listed object, so each shard has its full state first.
  for (unsigned s = 0; s < targets_.size(); ++s) {
    pool_shard* t = targets_[s];
    asio::post(engine_.get_executor(s), [t] { t->set_synced(); });
  }
}

awaitable<std::optional<std::string>> app::start_endpoints() {
  const char* pod_ip_env = std::getenv("POD_IP");
  std::string pod_ip = pod_ip_env == nullptr ? "" : pod_ip_env;
  std::string err;
  auto metrics_addr = parse_bind_address(opts_.metrics_address, pod_ip, err);
  if (!err.empty()) co_return "--metrics-bind-address: " + err;
  auto probe_addr = parse_bind_address(opts_.probe_address, pod_ip, err);
  if (!err.empty()) co_return "--health-probe-bind-address: " + err;
  std::function<awaitable<std::string>()> render = [m = &metrics_] { return scrape(m); };
  auto make = [&](const bind_address& a) {
    net::http_server_options o;
    o.address = a.host;
    o.port = a.port;
    auto ep = std::make_unique<obs::endpoint>(engine_.get_executor(0), o, render);
    ep->add_liveness_check("ping", [] { return always_ok(); });
    ep->add_readiness_check("informers",
                            [r = runs_.get(), p = pods_.get()] { return informers_synced(r, p); });
    return ep;
  };
  if (metrics_addr) {
    metrics_ep_ = make(*metrics_addr);
    if (auto l = metrics_ep_->listen(); !l) co_return "--metrics-bind-address: " + l.error();
    metrics_ep_->start();
    log_.info("serving metrics", {{"address", metrics_addr->host}, {"port", static_cast<unsigned>(metrics_ep_->port())}});
  }
  if (probe_addr) {
    probe_ep_ = make(*probe_addr);
    if (auto l = probe_ep_->listen(); !l) co_return "--health-probe-bind-address: " + l.error();
    probe_ep_->start();
    log_.info("serving probes", {{"address", probe_addr->host}, {"port", static_cast<unsigned>(probe_ep_->port())}});
  }
  co_return std::nullopt;
}

awaitable<std::optional<std::string>> app::start() {
  if (auto err = connect_client(engine_.get_executor(0), opts_.config, client_, opts_.client)) co_return *err;

  // Each shard builds its own client and uses its own metrics registry. Only
  // pointers cross (GCC 12 mishandles class-type packs captured by the
  // start lambda); the shards copy what they point to while constructing.
  const kube::rest_config* cfg = &opts_.config;
  const std::string* identity = &opts_.identity;
  const kube::client_options* co = &opts_.client;
  co_await shards_.start(cfg, co, &metrics_, identity);
  shards_started_ = true;
  targets_ = co_await shards_.map([](pool_shard& s) { return address_of(s); });

  // The informers run here, on shard 0, and count into its registry.
  kube::informer_options ro;
  ro.namespace_ = opts_.namespace_;
  ro.metrics = &metrics_.local();
  runs_ = std::make_unique<kube::informer<api::run>>(*client_, ro);
  kube::informer_options po;
  po.namespace_ = opts_.namespace_;
  po.metrics = &metrics_.local();
  po.label_selector = std::string(api::runtime_label);
  pods_ = std::make_unique<kube::informer<api::pod_view>>(*client_, po);

  kube::informer_handlers rh;
  rh.on_add = [this](const kube::decoded_object& o) { route_run(nullptr, kube::object_as<api::run>(o)); };
  rh.on_update = [this](const kube::decoded_object& a, const kube::decoded_object& b) {
    route_run(kube::object_as<api::run>(a), kube::object_as<api::run>(b));
  };
  rh.on_delete = [this](const kube::decoded_object& o) { route_run(kube::object_as<api::run>(o), nullptr); };
  runs_->base().add_handlers(std::move(rh));
  kube::informer_handlers ph;
  ph.on_add = [this](const kube::decoded_object& o) { route_pod(nullptr, kube::object_as<api::pod_view>(o)); };
  ph.on_update = [this](const kube::decoded_object& a, const kube::decoded_object& b) {
    route_pod(kube::object_as<api::pod_view>(a), kube::object_as<api::pod_view>(b));
  };
  ph.on_delete = [this](const kube::decoded_object& o) { route_pod(kube::object_as<api::pod_view>(o), nullptr); };
  pods_->base().add_handlers(std::move(ph));

  if (auto err = co_await start_endpoints()) co_return err;

  tasks_.spawn(runs_->run(), "runs informer");
  tasks_.spawn(pods_->run(), "pods informer");
  tasks_.spawn(sync_then_release(), "informer sync");

  if (opts_.leader_elect && opts_.partitions > 1) {
    partition_options po2;
    po2.lease_namespace = opts_.lease_namespace;
    po2.lease_prefix = opts_.lease_name;
    po2.identity = opts_.identity;
    po2.partitions = opts_.partitions;
    std::function<void(unsigned, bool)> changed = [this](unsigned p, bool owned) {
      log_.info(owned ? "took partition" : "gave up partition", {{"partition", p}});
      broadcast_owned(p, owned);
    };
    partitions_ = std::make_unique<partition_manager>(engine_.get_executor(0), *client_, po2, std::move(changed));
    tasks_.spawn(partitions_->run(), "partitions");
  } else if (opts_.leader_elect) {
    kube::leader_election_options lo;
    lo.lease_namespace = opts_.lease_namespace;
    lo.lease_name = opts_.lease_name;
    lo.identity = opts_.identity;
    kube::leader_callbacks cb;
    cb.on_started_leading = [this] {
      log_.info("became leader", {{"identity", opts_.identity}});
      broadcast_leader(true);
    };
    cb.on_stopped_leading = [this] {
      log_.warn("lost leadership; no longer writing", {{"identity", opts_.identity}});
      broadcast_leader(false);
    };
    cb.on_new_leader = [this](const std::string& who) { log_.info("leader observed", {{"leader", who}}); };
    elector_ = std::make_unique<kube::leader_elector>(*client_, lo, cb);
    tasks_.spawn(elector_->run(), "leader election");
  } else {
    broadcast_leader(true);
  }
  log_.info("scheduler started", {{"shards", engine_.size()},
                                  {"namespace", opts_.namespace_.empty() ? "(all)" : opts_.namespace_},
                                  {"leader_elect", opts_.leader_elect},
                                  {"partitions", opts_.partitions}});
  co_return std::nullopt;
}

awaitable<void> app::stop() {
  if (probe_ep_) probe_ep_->set_not_ready("shutting down");
  if (metrics_ep_) metrics_ep_->set_not_ready("shutting down");
  // Informers and the elector first (a leader releases its lease), then the
  // shards, whose in-flight writes finish or are cancelled.
  co_await tasks_.close();
  if (partitions_) co_await partitions_->stop();
  if (shards_started_) {
    // Flush what the informers already posted before the shards go away.
    for (unsigned s = 0; s < engine_.size(); ++s) co_await reactor::submit_to(engine_, s, [] {});
    co_await shards_.stop();
  }
  if (probe_ep_) co_await probe_ep_->stop();
  if (metrics_ep_) co_await metrics_ep_->stop();
}

}  // namespace krt::scheduler
