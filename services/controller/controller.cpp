#include "services/controller/controller.hpp"

#include <algorithm>
#include <exception>

#include "lib/api/validation.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/events.hpp"

namespace krt::controller {

namespace bj = boost::json;

namespace {

std::int64_t int_at(const bj::object& o, std::string_view a, std::string_view b) {
  const auto* x = o.if_contains(a);
  if (x == nullptr || !x->is_object()) return 0;
  const auto* y = x->as_object().if_contains(b);
  if (y == nullptr || !y->is_number()) return 0;
  boost::system::error_code ec;
  auto v = y->to_number<std::int64_t>(ec);
  return ec ? 0 : v;
}

std::string name_in(const bj::object& o) {
  const auto* m = o.if_contains("metadata");
  if (m == nullptr || !m->is_object()) return {};
  const auto* n = m->as_object().if_contains("name");
  return n != nullptr && n->is_string() ? std::string(n->as_string()) : std::string();
}

kube::result<bj::object> parse_object(const std::string& text) {
  boost::system::error_code ec;
  auto v = bj::parse(text, ec);
  if (ec || !v.is_object()) return kube::fail(kube::errc::decode, "the API server returned an object that is not JSON");
  return std::move(v.as_object());
}

std::string join_errors(const std::vector<api::field_error>& errors) {
  std::string msg;
  for (const auto& e : errors) {
    if (!msg.empty()) msg += "; ";
    msg += e.field + ": " + e.message;
  }
  // The CRD caps condition messages at 32768 characters.
  if (msg.size() > 32000) msg = msg.substr(0, 32000) + " ...";
  return msg;
}

const kube::condition* find_condition(const std::vector<kube::condition>& list, std::string_view type) {
  for (const auto& c : list)
    if (c.type == type) return &c;
  return nullptr;
}

}  // namespace

deployment_state deployment_state_of(const bj::object& d) {
  deployment_state s;
  s.exists = !d.empty();
  s.generation = int_at(d, "metadata", "generation");
  s.replicas = int_at(d, "spec", "replicas");
  s.observed_generation = int_at(d, "status", "observedGeneration");
  s.status_replicas = int_at(d, "status", "replicas");
  s.updated_replicas = int_at(d, "status", "updatedReplicas");
  s.ready_replicas = int_at(d, "status", "readyReplicas");
  return s;
}

void set_condition(std::vector<kube::condition>& list, kube::condition c, wall_time now) {
  for (auto& old : list) {
    if (old.type != c.type) continue;
    c.last_transition_time = old.status == c.status && old.last_transition_time ? old.last_transition_time : now;
    old = std::move(c);
    return;
  }
  c.last_transition_time = now;
  list.push_back(std::move(c));
}

api::runtime_status desired_status(const api::runtime& rt, const deployment_state& d,
                                   const std::optional<std::string>& invalid, wall_time now) {
  api::runtime_status s;
  s.ready_replicas = static_cast<std::int32_t>(std::clamp<std::int64_t>(d.ready_replicas, 0, INT32_MAX));
  s.conditions = rt.status.conditions;
  auto cond = [&](std::string_view type, bool status, std::string_view reason, std::string message) {
    kube::condition c;
    c.type = type;
    c.status = status ? "True" : "False";
    c.reason = reason;
    c.message = std::move(message);
    c.observed_generation = rt.metadata.generation;
    set_condition(s.conditions, std::move(c), now);
  };
  if (invalid) {
    cond("Ready", false, reason_invalid, *invalid);
    cond("Progressing", false, reason_invalid, "the Runtime is invalid; no Deployment is made for it");
    return s;
  }
  std::int64_t want = std::max<std::int32_t>(1, rt.spec.replicas);
  std::string dep = deployment_name(rt);
  bool ready = d.exists && d.ready_replicas >= want;
  cond("Ready", ready, ready ? reason_ready : reason_not_ready,
       std::to_string(d.ready_replicas) + " of " + std::to_string(want) + " replicas of Deployment " + dep +
           " are ready");
  bool rolling = !d.exists || d.observed_generation < d.generation || d.updated_replicas < d.replicas ||
                 d.status_replicas > d.updated_replicas;
  cond("Progressing", rolling, rolling ? reason_rolling : reason_rolled,
       rolling ? "Deployment " + dep + " is rolling out" : "Deployment " + dep + " is up to date");
  return s;
}

bool same_status(const api::runtime_status& a, const api::runtime_status& b) {
  if (a.ready_replicas != b.ready_replicas || a.conditions.size() != b.conditions.size()) return false;
  for (std::size_t i = 0; i < a.conditions.size(); ++i) {
    const auto& x = a.conditions[i];
    const auto& y = b.conditions[i];
    if (x.type != y.type || x.status != y.status || x.reason != y.reason || x.message != y.message ||
        x.observed_generation != y.observed_generation)
      return false;
  }
  return true;
}

// ------------------------------------------------------------------ controller

runtime_controller::runtime_controller(executor ex, kube::client& c, controller_options o, obs::registry& metrics)
    : ex_(ex),
      client_(c),
      opts_(std::move(o)),
      log_("controller"),
      runtimes_(c, kube::informer_options{.namespace_ = opts_.namespace_, .metrics = &metrics}),
      queue_(ex, c.get_clock()),
      tasks_(ex, "controller"),
      reconciles_ok_(metrics.get_counter("kruntimes_controller_reconcile_total", "Runtime reconciles by result",
                                         {{"result", "success"}})),
      reconciles_error_(metrics.get_counter("kruntimes_controller_reconcile_total", "Runtime reconciles by result",
                                            {{"result", "error"}})),
      reconcile_seconds_(metrics.get_histogram("kruntimes_controller_reconcile_duration_seconds",
                                               "Time to reconcile one Runtime")) {
  auto enqueue = [this](const kube::decoded_object& o) { queue_.add(kube::key_of(*o.meta)); };
  runtimes_.base().add_handlers({enqueue, [enqueue](const auto&, const auto& n) { enqueue(n); }, enqueue});

  const kube::resource* kinds[] = {&resources::deployments, &resources::service_accounts, &resources::roles,
                                   &resources::role_bindings, &resources::network_policies};
  for (const auto* res : kinds) {
    kube::informer_options io;
    io.namespace_ = opts_.namespace_;
    io.metrics = &metrics;
    auto inf = std::make_unique<kube::informer_base>(c, raw_codec(*res), io);
    bool by_owner = res == &resources::deployments || res == &resources::network_policies;
    auto handle = [this, by_owner](const kube::decoded_object& o) {
      const auto& obj = *kube::object_as<raw_object>(o);
      if (by_owner)
        enqueue_owner(obj);
      else
        enqueue_namespace(obj.metadata.namespace_);
    };
    inf->add_handlers({handle, [handle](const auto&, const auto& n) { handle(n); }, handle});
    owned_.emplace_back(res, std::move(inf));
  }
}

runtime_controller::~runtime_controller() = default;

void runtime_controller::enqueue_owner(const raw_object& o) {
  for (const auto& ref : o.metadata.owner_references)
    if (ref.kind == "Runtime" && ref.api_version.starts_with(std::string(api::group) + "/"))
      queue_.add(o.metadata.namespace_ + "/" + ref.name);
}

void runtime_controller::enqueue_namespace(const std::string& ns) {
  for (const auto& rt : runtimes_.list())
    if (rt->metadata.namespace_ == ns) queue_.add(kube::key_of(rt->metadata));
}

bool runtime_controller::synced() const {
  if (!runtimes_.has_synced()) return false;
  for (const auto& [res, inf] : owned_)
    if (!inf->has_synced()) return false;
  return true;
}

void runtime_controller::start() {
  queue_.start();
  tasks_.spawn(runtimes_.run(), "runtimes informer");
  for (auto& [res, inf] : owned_) tasks_.spawn(inf->run(), res->plural + " informer");
  for (int i = 0; i < std::max(1, opts_.workers); ++i) tasks_.spawn(worker_loop(), "reconcile worker");
}

awaitable<void> runtime_controller::stop() {
  queue_.shut_down();
  co_await tasks_.close();
  co_await queue_.stop();
}

awaitable<void> runtime_controller::wait_synced() {
  co_await runtimes_.wait_synced();
  for (auto& entry : owned_) co_await entry.second->wait_synced();
}

awaitable<void> runtime_controller::worker_loop() {
  co_await wait_synced();
  for (;;) {
    auto key = co_await queue_.get();
    if (!key) co_return;
    auto started = std::chrono::steady_clock::now();
    kube::result<void> r = kube::fail(kube::errc::other, "reconcile did not run");
    std::string what;
    try {
      r = co_await reconcile(*key);
    } catch (const std::exception& e) {
      what = e.what();
    }
    if (!what.empty()) r = kube::fail(kube::errc::other, "unexpected: " + what);
    reconcile_seconds_.observe(std::chrono::steady_clock::now() - started);
    if (r) {
      reconciles_ok_.inc();
      queue_.forget(*key);
    } else {
      reconciles_error_.inc();
      if (r.error().code == kube::errc::conflict) {
        // Our cache was behind a write (often our own status write); the
        // watch event that follows brings the newer object.
        log_.debug("reconcile raced a newer version; retrying", {{"runtime", *key}, {"error", r.error().describe()}});
        queue_.add_rate_limited(*key);
      } else if (r.error().code != kube::errc::cancelled) {
        log_.warn("reconcile failed; retrying", {{"runtime", *key}, {"error", r.error().describe()}});
        queue_.add_rate_limited(*key);
      }
    }
    queue_.done(*key);
  }
}

std::shared_ptr<const raw_object> runtime_controller::cached(const kube::resource& res, const std::string& key) const {
  for (const auto& [r, inf] : owned_)
    if (r == &res) return kube::object_as<raw_object>(inf->cache().get(key));
  return nullptr;
}

awaitable<kube::result<void>> runtime_controller::reconcile(std::string key) {
  auto rt = runtimes_.get(key);
  if (!rt || rt->metadata.deletion_timestamp) co_return kube::result<void>{};
  const std::string& ns = rt->metadata.namespace_;

  auto errors = api::validate_runtime(*rt);
  if (!errors.empty()) {
    std::optional<std::string> msg = join_errors(errors);
    bj::object dep;
    if (auto cur = cached(resources::deployments, ns + "/" + deployment_name(*rt))) dep = to_json(*cur);
    auto st = desired_status(*rt, deployment_state_of(dep), msg, wall_now());
    if (same_status(rt->status, st)) co_return kube::result<void>{};
    const auto* before = find_condition(rt->status.conditions, "Ready");
    bool news = before == nullptr || before->reason != reason_invalid || before->message != *msg;
    auto w = co_await write_status(*rt, std::move(st));
    if (!w) co_return w;
    log_.warn("invalid Runtime", {{"runtime", key}, {"reason", *msg}});
    if (news) co_await warn_event(*rt, std::string(reason_invalid), *msg);
    co_return kube::result<void>{};
  }

  // SPEC §6 order: ServiceAccount → Role → RoleBinding → Deployment →
  // NetworkPolicy → status.
  std::string sa = service_account_for(*rt, opts_.build);
  auto a = co_await ensure(*rt, resources::service_accounts, build_service_account(ns, sa), false);
  if (!a) co_return krt::unexpected(std::move(a).error());
  auto b = co_await ensure(*rt, resources::roles, build_role(ns), false);
  if (!b) co_return krt::unexpected(std::move(b).error());
  auto c = co_await ensure(*rt, resources::role_bindings, build_role_binding(ns, sa), false);
  if (!c) co_return krt::unexpected(std::move(c).error());
  auto built = build_deployment(*rt, opts_.build);
  if (!built) co_return kube::fail(kube::errc::invalid, built.error());
  auto d = co_await ensure(*rt, resources::deployments, std::move(*built), true);
  if (!d) co_return krt::unexpected(std::move(d).error());
  auto n = co_await ensure(*rt, resources::network_policies, build_network_policy(*rt), true);
  if (!n) co_return krt::unexpected(std::move(n).error());

  auto st = desired_status(*rt, deployment_state_of(*d), std::nullopt, wall_now());
  if (same_status(rt->status, st)) co_return kube::result<void>{};
  auto w = co_await write_status(*rt, std::move(st));
  co_return w;
}

awaitable<kube::result<bj::object>> runtime_controller::ensure(const api::runtime& rt, const kube::resource& res,
                                                               bj::object desired, bool owned) {
  std::string owner_uid = owned ? rt.metadata.uid : std::string();
  co_return co_await apply_object(res, rt.metadata.namespace_, std::move(desired), std::move(owner_uid),
                                  "runtime " + rt.metadata.name);
}

awaitable<kube::result<bj::object>> runtime_controller::apply_object(const kube::resource& res, std::string ns,
                                                                     bj::object desired, std::string owner_uid,
                                                                     std::string why) {
  std::string name = name_in(desired);
  bj::object current;
  if (auto cur = cached(res, ns + "/" + name)) {
    current = to_json(*cur);
  } else {
    auto created = co_await client_.create(res, ns, bj::serialize(desired));
    if (created) {
      log_.info("created", {{"for", why}, {"kind", res.kind}, {"name", name}, {"namespace", ns}});
      co_return parse_object(*created);
    }
    if (created.error().code != kube::errc::already_exists) co_return krt::unexpected(std::move(created).error());
    // There, but not yet in our cache: read it.
    auto got = co_await client_.get(res, ns, name);
    if (!got) co_return krt::unexpected(std::move(got).error());
    auto parsed = parse_object(*got);
    if (!parsed) co_return parsed;
    current = std::move(*parsed);
  }
  if (!owner_uid.empty()) {
    if (auto other = foreign_controller(current, owner_uid); !other.empty())
      co_return kube::fail(kube::errc::conflict, res.kind + " " + ns + "/" + name +
                                                     " exists and is controlled by another object (uid " + other +
                                                     "); delete it or rename the Runtime");
  }
  if (!needs_update(desired, current, owner_uid)) co_return current;
  auto body = bj::serialize(merged_for_update(desired, current, owner_uid));
  auto updated = co_await client_.update(res, ns, name, std::move(body));
  if (!updated) co_return krt::unexpected(std::move(updated).error());
  log_.info("updated", {{"for", why}, {"kind", res.kind}, {"name", name}, {"namespace", ns}});
  co_return parse_object(*updated);
}

awaitable<kube::result<void>> runtime_controller::write_status(const api::runtime& rt, api::runtime_status st) {
  json::writer w;
  w.begin_object();
  w.key("metadata").begin_object().field("resourceVersion", rt.metadata.resource_version).end_object();
  w.key("status").begin_object().field("readyReplicas", st.ready_replicas);
  w.key("conditions").begin_array();
  for (const auto& c : st.conditions) kube::encode(w, c);
  w.end_array().end_object();
  w.end_object();
  auto r = co_await client_.patch(api::runtimes, rt.metadata.namespace_, rt.metadata.name, kube::patch_type::merge,
                                  w.take(), "status");
  if (!r) co_return krt::unexpected(std::move(r).error());
  co_return kube::result<void>{};
}

awaitable<void> runtime_controller::warn_event(const api::runtime& rt, std::string reason, std::string message) {
  auto about = kube::reference_to(rt.metadata, std::string(api::api_version), "Runtime");
  kube::event_source source;
  source.component = "kruntimes-controller";
  auto r = co_await kube::record_event(client_, about, "Warning", reason, message, source);
  if (!r) log_.warn("could not record an event", {{"runtime", rt.metadata.name}, {"error", r.error().describe()}});
}

}  // namespace krt::controller
