#include "local/node/controllers.hpp"

#include <algorithm>
#include <cstdio>

#include "local/apiserver/selectors.hpp"
#include "local/node/object_util.hpp"

namespace krt::local::node {

namespace {

const std::string deployments_key = "apps/deployments";
const std::string replicasets_key = "apps/replicasets";

std::int64_t int_at(const bj::object& o, std::initializer_list<std::string_view> keys, std::int64_t dflt) {
  return int_of(field_at(o, keys), dflt);
}

// The uid of the object's controller owner reference, if any.
std::string controller_uid(const bj::object& o) {
  const auto* refs = field_at(o, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->is_array()) return {};
  for (const auto& r : refs->as_array()) {
    if (!r.is_object()) continue;
    const auto* c = r.as_object().if_contains("controller");
    if (c != nullptr && c->is_bool() && c->as_bool()) {
      const auto* u = r.as_object().if_contains("uid");
      if (u != nullptr && u->is_string()) return std::string(u->as_string());
    }
  }
  return {};
}

std::pair<std::string, std::string> controller_ref(const bj::object& o) {
  const auto* refs = field_at(o, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->is_array()) return {};
  for (const auto& r : refs->as_array()) {
    if (!r.is_object()) continue;
    const auto* c = r.as_object().if_contains("controller");
    if (c != nullptr && c->is_bool() && c->as_bool()) {
      const auto* k = r.as_object().if_contains("kind");
      const auto* n = r.as_object().if_contains("name");
      if (k != nullptr && n != nullptr && k->is_string() && n->is_string())
        return {std::string(k->as_string()), std::string(n->as_string())};
    }
  }
  return {};
}

bj::object owner_ref(const char* api_version, const char* kind, const bj::object& owner) {
  return bj::object{{"apiVersion", api_version},   {"kind", kind},       {"name", meta_string(owner, "name")},
                    {"uid", meta_string(owner, "uid")}, {"controller", true}, {"blockOwnerDeletion", true}};
}

bool pod_ready(const bj::object& pod) {
  const auto* conds = field_at(pod, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return false;
  for (const auto& c : conds->as_array())
    if (c.is_object() && c.as_object().contains("type") && c.as_object().at("type") == "Ready")
      return c.as_object().contains("status") && c.as_object().at("status") == "True";
  return false;
}

bool deleting(const bj::object& o) { return !meta_string(o, "deletionTimestamp").empty(); }

std::string ns_path(const char* prefix, const std::string& ns, const char* plural) {
  return std::string(prefix) + "/namespaces/" + ns + "/" + plural;
}

}  // namespace

std::string template_hash(const bj::value& pod_template) {
  // FNV-1a over the template's JSON; object member order is the stored order,
  // which is stable for a given template.
  std::string text = bj::serialize(pod_template);
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  // Kubernetes' alphabet for generated names (no vowels, no confusables).
  static constexpr char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 10; ++i) {
    out.push_back(alphabet[h % 27]);
    h = h / 27 + (h % 7) * 1000003u;
  }
  return out;
}

workload_controllers::workload_controllers(executor ex, api_server& api)
    : ex_(ex), api_(api), wake_(ex), tasks_(ex, "workload controllers") {}

void workload_controllers::start() {
  api_.store().on_commit([this](const store_event& ev) { on_event(ev); });
  api_.store().list("/namespaces", "", "", [&](const object_ptr& o) {
    enqueue(kind::service_account, o->name, "default");
    return true;
  });
  for (const auto& sk : {deployments_key, replicasets_key})
    api_.store().list(sk, "", "", [&](const object_ptr& o) {
      enqueue(sk == deployments_key ? kind::deployment : kind::replicaset, o->ns, o->name);
      return true;
    });
  tasks_.spawn(loop(), "sync loop");
  tasks_.spawn(resync_loop(), "resync");
}

awaitable<void> workload_controllers::stop() { co_await tasks_.close(); }

void workload_controllers::enqueue(kind k, const std::string& ns, const std::string& name) {
  if (tasks_.closed()) return;
  dirty_.emplace(k, ns, name);
  wake_.set();
}

void workload_controllers::on_event(const store_event& ev) {
  const auto& o = *ev.object;
  if (o.storage_key == deployments_key) {
    enqueue(kind::deployment, o.ns, o.name);
  } else if (o.storage_key == replicasets_key) {
    enqueue(kind::replicaset, o.ns, o.name);
    auto [k, n] = controller_ref(o.object);
    if (k == "Deployment") enqueue(kind::deployment, o.ns, n);
  } else if (o.storage_key == pods_key) {
    auto [k, n] = controller_ref(o.object);
    if (k == "ReplicaSet") enqueue(kind::replicaset, o.ns, n);
  } else if (o.storage_key == "/namespaces" && ev.type == event_type::added) {
    enqueue(kind::service_account, o.name, "default");
  }
}

awaitable<void> workload_controllers::loop() {
  for (;;) {
    co_await wake_.wait();
    wake_.reset();
    while (!dirty_.empty()) {
      key k = *dirty_.begin();
      dirty_.erase(dirty_.begin());
      auto [what, ns, name] = k;
      try {
        if (what == kind::deployment)
          co_await sync_deployment(ns, name);
        else if (what == kind::replicaset)
          co_await sync_replicaset(ns, name);
        else
          co_await ensure_service_account(ns, name);
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        log_.warn("sync failed", {{"namespace", ns}, {"name", name}, {"error", e.what()}});
      }
    }
  }
}

awaitable<void> workload_controllers::resync_loop() {
  for (;;) {
    asio::steady_timer t(ex_, std::chrono::seconds(5));
    co_await t.async_wait(asio::use_awaitable);
    for (const auto& sk : {deployments_key, replicasets_key})
      api_.store().list(sk, "", "", [&](const object_ptr& o) {
        enqueue(sk == deployments_key ? kind::deployment : kind::replicaset, o->ns, o->name);
        return true;
      });
  }
}

awaitable<void> workload_controllers::ensure_service_account(std::string ns, std::string name) {
  // Every namespace gets a "default" ServiceAccount, as Kubernetes' service
  // account controller creates one.
  object_ptr nsobj = api_.store().get("/namespaces", "", ns);
  if (!nsobj || deleting(nsobj->object) || api_.store().get("/serviceaccounts", ns, name)) co_return;
  std::string body = R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":")" + name + R"("}})";
  co_await api_.call("POST", ns_path("/api/v1", ns, "serviceaccounts"), body, "application/json");
}

awaitable<void> workload_controllers::sync_replicaset(std::string ns, std::string name) {
  object_ptr rs = api_.store().get(replicasets_key, ns, name);
  if (!rs || deleting(rs->object)) co_return;
  const bj::object& obj = rs->object;
  std::string uid = meta_string(obj, "uid");
  std::int64_t desired = int_at(obj, {"spec", "replicas"}, 1);
  std::vector<object_ptr> pods;
  std::int64_t ready = 0;
  api_.store().list(pods_key, ns, "", [&](const object_ptr& p) {
    if (controller_uid(p->object) == uid && !deleting(p->object)) {
      pods.push_back(p);
      if (pod_ready(p->object)) ++ready;
    }
    return true;
  });
  auto count = static_cast<std::int64_t>(pods.size());
  if (count < desired) {
    const bj::value* tmpl = field_at(obj, {"spec", "template"});
    for (std::int64_t i = count; i < desired && tmpl != nullptr && tmpl->is_object(); ++i) {
      bj::object pod;
      pod["apiVersion"] = "v1";
      pod["kind"] = "Pod";
      bj::object meta;
      if (const auto* m = tmpl->as_object().if_contains("metadata"); m != nullptr && m->is_object()) meta = m->as_object();
      meta["generateName"] = name + "-";
      meta["namespace"] = ns;
      meta.erase("name");
      meta["ownerReferences"] = bj::array{owner_ref("apps/v1", "ReplicaSet", obj)};
      pod["metadata"] = std::move(meta);
      if (const auto* s = tmpl->as_object().if_contains("spec")) pod["spec"] = *s;
      auto r = co_await api_.call("POST", ns_path("/api/v1", ns, "pods"), bj::serialize(pod), "application/json");
      if (r.code >= 300) {
        log_.warn("creating a pod failed", {{"replicaset", ns + "/" + name}, {"code", r.code},
                                             {"error", r.body.is_object() ? bj::serialize(r.body) : std::string()}});
        break;
      }
    }
  } else if (count > desired) {
    // Remove not-ready pods first, then the newest.
    std::sort(pods.begin(), pods.end(), [](const object_ptr& a, const object_ptr& b) {
      bool ra = pod_ready(a->object), rb = pod_ready(b->object);
      if (ra != rb) return !ra;
      return meta_string(a->object, "creationTimestamp") > meta_string(b->object, "creationTimestamp");
    });
    for (std::int64_t i = 0; i < count - desired; ++i)
      co_await api_.call("DELETE", ns_path("/api/v1", ns, "pods") + "/" + pods[static_cast<std::size_t>(i)]->name);
  }
  // Status from what exists now (the next event brings the rest).
  bj::object status{{"replicas", count},
                    {"fullyLabeledReplicas", count},
                    {"readyReplicas", ready},
                    {"availableReplicas", ready},
                    {"observedGeneration", int_at(obj, {"metadata", "generation"}, 1)}};
  const auto* old = obj.if_contains("status");
  if (old == nullptr || !old->is_object() || bj::value(status) != *old) {
    bj::object patch{{"status", std::move(status)}};
    co_await api_.call("PATCH", ns_path("/apis/apps/v1", ns, "replicasets") + "/" + name + "/status",
                       bj::serialize(patch), "application/merge-patch+json");
  }
}

awaitable<void> workload_controllers::sync_deployment(std::string ns, std::string name) {
  object_ptr d = api_.store().get(deployments_key, ns, name);
  if (!d || deleting(d->object)) co_return;
  const bj::object& obj = d->object;
  std::string uid = meta_string(obj, "uid");
  std::int64_t desired = int_at(obj, {"spec", "replicas"}, 1);
  const bj::value* tmpl = field_at(obj, {"spec", "template"});
  if (tmpl == nullptr || !tmpl->is_object()) co_return;
  std::string hash = template_hash(*tmpl);
  std::string rs_name = name + "-" + hash;
  std::vector<object_ptr> owned;
  object_ptr current;
  std::int64_t max_revision = 0;
  api_.store().list(replicasets_key, ns, "", [&](const object_ptr& rs) {
    if (controller_uid(rs->object) != uid) return true;
    owned.push_back(rs);
    if (rs->name == rs_name) current = rs;
    const auto* rev = field_at(rs->object, {"metadata", "annotations", "deployment.kubernetes.io/revision"});
    if (rev != nullptr && rev->is_string()) max_revision = std::max(max_revision, std::atol(rev->as_string().c_str()));
    return true;
  });
  std::string rs_path = ns_path("/apis/apps/v1", ns, "replicasets");
  if (!current) {
    bj::object t = tmpl->as_object();
    bj::value& tmeta = t["metadata"];
    if (!tmeta.is_object()) tmeta = bj::object{};
    bj::value& tlabels = tmeta.as_object()["labels"];
    if (!tlabels.is_object()) tlabels = bj::object{};
    tlabels.as_object()["pod-template-hash"] = hash;
    bj::object selector;
    if (const auto* s = field_at(obj, {"spec", "selector"}); s != nullptr && s->is_object()) selector = s->as_object();
    bj::value& ml = selector["matchLabels"];
    if (!ml.is_object()) ml = bj::object{};
    ml.as_object()["pod-template-hash"] = hash;
    bj::object rs_meta{{"name", rs_name},
                       {"namespace", ns},
                       {"labels", tlabels},
                       {"annotations", bj::object{{"deployment.kubernetes.io/revision", std::to_string(max_revision + 1)},
                                                  {"deployment.kubernetes.io/desired-replicas", std::to_string(desired)}}},
                       {"ownerReferences", bj::array{owner_ref("apps/v1", "Deployment", obj)}}};
    bj::object rs{{"apiVersion", "apps/v1"},
                  {"kind", "ReplicaSet"},
                  {"metadata", std::move(rs_meta)},
                  {"spec", bj::object{{"replicas", desired}, {"selector", std::move(selector)}, {"template", std::move(t)}}}};
    auto r = co_await api_.call("POST", rs_path, bj::serialize(rs), "application/json");
    if (r.code >= 300 && r.code != 409)
      log_.warn("creating a replicaset failed", {{"deployment", ns + "/" + name}, {"code", r.code}});
    co_return;  // the new ReplicaSet's event brings us back
  }
  auto replicas_of = [](const object_ptr& rs) { return int_at(rs->object, {"spec", "replicas"}, 1); };
  if (replicas_of(current) != desired) {
    bj::object patch{{"spec", bj::object{{"replicas", desired}}}};
    co_await api_.call("PATCH", rs_path + "/" + rs_name, bj::serialize(patch), "application/merge-patch+json");
  }
  std::int64_t new_available = int_at(current->object, {"status", "availableReplicas"}, 0);
  std::string strategy;
  if (const auto* s = field_at(obj, {"spec", "strategy", "type"}); s != nullptr && s->is_string()) strategy = s->as_string();
  bool old_may_go = strategy == "Recreate" || new_available >= desired;
  std::int64_t total = 0, ready = 0, available = 0, old_replicas = 0;
  std::vector<object_ptr> old_idle;
  for (const auto& rs : owned) {
    total += int_at(rs->object, {"status", "replicas"}, 0);
    ready += int_at(rs->object, {"status", "readyReplicas"}, 0);
    available += int_at(rs->object, {"status", "availableReplicas"}, 0);
    if (rs == current) continue;
    old_replicas += int_at(rs->object, {"status", "replicas"}, 0);
    if (replicas_of(rs) > 0 && old_may_go) {
      bj::object patch{{"spec", bj::object{{"replicas", 0}}}};
      co_await api_.call("PATCH", rs_path + "/" + rs->name, bj::serialize(patch), "application/merge-patch+json");
    } else if (replicas_of(rs) == 0) {
      old_idle.push_back(rs);
    }
  }
  // Keep revisionHistoryLimit old ReplicaSets, oldest removed first.
  std::int64_t keep = int_at(obj, {"spec", "revisionHistoryLimit"}, 10);
  std::sort(old_idle.begin(), old_idle.end(), [](const object_ptr& a, const object_ptr& b) { return a->rv < b->rv; });
  for (std::size_t i = 0; static_cast<std::int64_t>(old_idle.size() - i) > keep; ++i)
    co_await api_.call("DELETE", rs_path + "/" + old_idle[i]->name);

  std::int64_t updated = int_at(current->object, {"status", "replicas"}, 0);
  bool complete = updated == desired && new_available == desired && old_replicas == 0;
  auto condition = [](const char* type, bool ok, const char* reason, const std::string& message) {
    return bj::object{{"type", type}, {"status", ok ? "True" : "False"}, {"reason", reason}, {"message", message}};
  };
  bj::array conditions;
  conditions.push_back(condition("Available", available >= desired,
                                 available >= desired ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                                 available >= desired ? "Deployment has minimum availability."
                                                      : "Deployment does not have minimum availability."));
  conditions.push_back(condition("Progressing", true, complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                                 "ReplicaSet \"" + rs_name + (complete ? "\" has successfully progressed."
                                                                       : "\" is progressing.")));
  bj::object status{{"observedGeneration", int_at(obj, {"metadata", "generation"}, 1)},
                    {"replicas", total},
                    {"updatedReplicas", updated},
                    {"readyReplicas", ready},
                    {"availableReplicas", available},
                    {"conditions", std::move(conditions)}};
  if (desired - available > 0) status["unavailableReplicas"] = desired - available;
  // No timestamps are written, so an unchanged status is not a write.
  const auto* old = obj.if_contains("status");
  if (old == nullptr || !old->is_object() || bj::value(status) != *old) {
    if (!status.contains("unavailableReplicas")) status["unavailableReplicas"] = nullptr;  // merge patch: remove
    bj::object patch{{"status", std::move(status)}};
    co_await api_.call("PATCH", ns_path("/apis/apps/v1", ns, "deployments") + "/" + name + "/status",
                       bj::serialize(patch), "application/merge-patch+json");
  }
}

}  // namespace krt::local::node
