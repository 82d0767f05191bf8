#include "lib/json/writer.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::kube {

using json::od::value;

std::string key_of(const object_meta& m) {
  if (m.namespace_.empty()) return m.name;
  std::string k;
  k.reserve(m.namespace_.size() + 1 + m.name.size());
  k += m.namespace_;
  k += '/';
  k += m.name;
  return k;
}

std::string resource::api_version() const { return group.empty() ? version : group + "/" + version; }

std::string resource::path(std::string_view ns, std::string_view name, std::string_view subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += ns;
  }
  p += '/';
  p += plural;
  if (!name.empty()) {
    p += '/';
    p += name;
    if (!subresource.empty()) {
      p += '/';
      p += subresource;
    }
  }
  return p;
}

namespace resources {
const resource pods{"", "v1", "pods", "Pod", true};
const resource events{"", "v1", "events", "Event", true};
const resource leases{"coordination.k8s.io", "v1", "leases", "Lease", true};
const resource namespaces{"", "v1", "namespaces", "Namespace", false};
}  // namespace resources

json::result<void> read_time(value v, std::optional<wall_time>& out) {
  std::string s;
  auto r = json::read(v, s);
  if (!r) return r;
  if (s.empty()) return {};
  auto t = parse_rfc3339(s);
  if (!t) return json::fail(json::errc::invalid_value, "not an RFC 3339 time: " + s);
  out = *t;
  return {};
}

json::result<void> decode(value v, owner_reference& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "apiVersion") return json::read(f, out.api_version);
    if (k == "kind") return json::read(f, out.kind);
    if (k == "name") return json::read(f, out.name);
    if (k == "uid") return json::read(f, out.uid);
    if (k == "controller") return json::read(f, out.controller);
    if (k == "blockOwnerDeletion") return json::read(f, out.block_owner_deletion);
    return {};
  });
}

json::result<void> decode(value v, object_meta& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "name") return json::read(f, out.name);
    if (k == "namespace") return json::read(f, out.namespace_);
    if (k == "uid") return json::read(f, out.uid);
    if (k == "resourceVersion") return json::read(f, out.resource_version);
    if (k == "generation") return json::read(f, out.generation);
    if (k == "generateName") return json::read(f, out.generate_name);
    if (k == "creationTimestamp") return read_time(f, out.creation_timestamp);
    if (k == "deletionTimestamp") return read_time(f, out.deletion_timestamp);
    if (k == "labels") return json::read(f, out.labels);
    if (k == "annotations") return json::read(f, out.annotations);
    if (k == "finalizers") return json::read(f, out.finalizers);
    if (k == "ownerReferences") {
      out.owner_references.clear();
      return json::for_each_element(f, [&](value e) -> json::result<void> {
        owner_reference ref;
        auto r = decode(e, ref);
        if (r) out.owner_references.push_back(std::move(ref));
        return r;
      });
    }
    return {};  // managedFields and the rest are not kept
  });
}

json::result<void> decode(value v, list_meta& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "resourceVersion") return json::read(f, out.resource_version);
    if (k == "continue") return json::read(f, out.continue_token);
    if (k == "remainingItemCount") return json::read(f, out.remaining_item_count);
    return {};
  });
}

json::result<void> decode(value v, condition& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "type") return json::read(f, out.type);
    if (k == "status") return json::read(f, out.status);
    if (k == "reason") return json::read(f, out.reason);
    if (k == "message") return json::read(f, out.message);
    if (k == "lastTransitionTime") return read_time(f, out.last_transition_time);
    if (k == "lastProbeTime") return read_time(f, out.last_probe_time);
    if (k == "observedGeneration") return json::read(f, out.observed_generation);
    return {};
  });
}

json::result<void> read_conditions(value v, std::vector<condition>& out) {
  out.clear();
  return json::for_each_element(v, [&](value e) -> json::result<void> {
    condition c;
    auto r = decode(e, c);
    if (r) out.push_back(std::move(c));
    return r;
  });
}

json::result<void> decode(value v, status& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "status") return json::read(f, out.status);
    if (k == "message") return json::read(f, out.message);
    if (k == "reason") return json::read(f, out.reason);
    if (k == "code") return json::read(f, out.code);
    if (k == "details") {
      return json::for_each_field(f, [&](std::string_view dk, value df) -> json::result<void> {
        if (dk == "name") return json::read(df, out.details_name);
        if (dk == "kind") return json::read(df, out.details_kind);
        if (dk == "retryAfterSeconds") return json::read(df, out.retry_after_seconds);
        if (dk == "causes") {
          return json::for_each_element(df, [&](value ce) -> json::result<void> {
            status_cause c;
            auto r = json::for_each_field(ce, [&](std::string_view ck, value cf) -> json::result<void> {
              if (ck == "reason") return json::read(cf, c.reason);
              if (ck == "message") return json::read(cf, c.message);
              if (ck == "field") return json::read(cf, c.field);
              return {};
            });
            if (r) out.causes.push_back(std::move(c));
            return r;
          });
        }
        return {};
      });
    }
    return {};
  });
}

json::result<void> decode(value v, lease& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "metadata") return decode(f, out.metadata);
    if (k == "spec") {
      return json::for_each_field(f, [&](std::string_view sk, value sf) -> json::result<void> {
        if (sk == "holderIdentity") return json::read(sf, out.holder_identity);
        if (sk == "leaseDurationSeconds") return json::read(sf, out.lease_duration_seconds);
        if (sk == "acquireTime") return read_time(sf, out.acquire_time);
        if (sk == "renewTime") return read_time(sf, out.renew_time);
        if (sk == "leaseTransitions") return json::read(sf, out.lease_transitions);
        return {};
      });
    }
    return {};
  });
}

void encode(json::writer& w, const object_meta& m) {
  w.begin_object();
  if (!m.name.empty()) w.field("name", m.name);
  if (!m.generate_name.empty()) w.field("generateName", m.generate_name);
  if (!m.namespace_.empty()) w.field("namespace", m.namespace_);
  if (!m.uid.empty()) w.field("uid", m.uid);
  if (!m.resource_version.empty()) w.field("resourceVersion", m.resource_version);
  if (!m.labels.empty()) {
    w.key("labels").begin_object();
    for (const auto& [k, v] : m.labels) w.field(k, v);
    w.end_object();
  }
  if (!m.annotations.empty()) {
    w.key("annotations").begin_object();
    for (const auto& [k, v] : m.annotations) w.field(k, v);
    w.end_object();
  }
  if (!m.finalizers.empty()) {
    w.key("finalizers").begin_array();
    for (const auto& f : m.finalizers) w.value(f);
    w.end_array();
  }
  if (!m.owner_references.empty()) {
    w.key("ownerReferences").begin_array();
    for (const auto& o : m.owner_references) {
      w.begin_object();
      w.field("apiVersion", o.api_version).field("kind", o.kind).field("name", o.name).field("uid", o.uid);
      if (o.controller) w.field("controller", true);
      if (o.block_owner_deletion) w.field("blockOwnerDeletion", true);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
}

void encode(json::writer& w, const condition& c) {
  w.begin_object();
  w.field("type", c.type).field("status", c.status);
  if (c.observed_generation != 0) w.field("observedGeneration", c.observed_generation);
  if (c.last_transition_time) w.field("lastTransitionTime", format_rfc3339_micro(*c.last_transition_time));
  if (c.last_probe_time) w.field("lastProbeTime", format_rfc3339_micro(*c.last_probe_time));
  w.field("reason", c.reason).field("message", c.message);
  w.end_object();
}

void encode(json::writer& w, const lease& l) {
  w.begin_object();
  w.field("apiVersion", "coordination.k8s.io/v1").field("kind", "Lease");
  w.key("metadata");
  encode(w, l.metadata);
  w.key("spec").begin_object();
  if (!l.holder_identity.empty()) w.field("holderIdentity", l.holder_identity);
  if (l.lease_duration_seconds > 0) w.field("leaseDurationSeconds", l.lease_duration_seconds);
  if (l.acquire_time) w.field("acquireTime", format_rfc3339_micro(*l.acquire_time));
  if (l.renew_time) w.field("renewTime", format_rfc3339_micro(*l.renew_time));
  w.field("leaseTransitions", l.lease_transitions);
  w.end_object();
  w.end_object();
}

}  // namespace krt::kube
