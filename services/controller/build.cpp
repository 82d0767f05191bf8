#include "services/controller/build.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

#include "lib/api/validation.hpp"

namespace krt::controller {

namespace {

std::string str_of(const bj::value* v) {
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->as_string());
}

std::string name_of(const bj::value& v) {
  if (!v.is_object()) return {};
  return str_of(v.as_object().if_contains("name"));
}

// A present, non-null object member, or nullptr.
bj::object* object_member(bj::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_object()) return nullptr;
  return &v->as_object();
}

bj::array* array_member(bj::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return nullptr;
  return &v->as_array();
}

bj::object field_env(std::string_view name, std::string_view path) {
  return bj::object{{"name", name}, {"valueFrom", bj::object{{"fieldRef", bj::object{{"fieldPath", path}}}}}};
}

// The downward-API env both containers get, first in their env so the user's
// values and args can refer to them as $(POD_IP) and so on.
bj::array pod_env() {
  bj::array env;
  env.push_back(field_env("POD_NAME", "metadata.name"));
  env.push_back(field_env("HOSTNAME", "metadata.name"));
  env.push_back(field_env("POD_NAMESPACE", "metadata.namespace"));
  env.push_back(field_env("POD_UID", "metadata.uid"));
  env.push_back(field_env("POD_IP", "status.podIP"));
  return env;
}

constexpr std::string_view socket_value = "unix-abstract:kruntimes-$(POD_UID)";

// Injected entries first, then the user's, minus any the injection defines
// (two entries with one name would leave which one wins to the kubelet).
bj::array merge_env(bj::array injected, const bj::array* user) {
  if (user == nullptr) return injected;
  std::vector<std::string> names;
  for (const auto& e : injected) names.push_back(name_of(e));
  for (const auto& e : *user)
    if (std::find(names.begin(), names.end(), name_of(e)) == names.end()) injected.push_back(e);
  return injected;
}

bj::object default_security_context() {
  return bj::object{
      {"allowPrivilegeEscalation", false},
      {"readOnlyRootFilesystem", true},
      {"runAsNonRoot", true},
      {"capabilities", bj::object{{"drop", bj::array{"ALL"}}}},
      {"seccompProfile", bj::object{{"type", "RuntimeDefault"}}},
  };
}

bj::object resources(std::string_view req_cpu, std::string_view req_mem, std::string_view lim_cpu,
                     std::string_view lim_mem) {
  return bj::object{
      {"requests", bj::object{{"cpu", req_cpu}, {"memory", req_mem}}},
      {"limits", bj::object{{"cpu", lim_cpu}, {"memory", lim_mem}}},
  };
}

bool resources_unset(bj::object& c) {
  auto* r = object_member(c, "resources");
  if (r == nullptr) return true;
  auto empty = [&](std::string_view k) {
    auto* m = object_member(*r, k);
    return m == nullptr || m->empty();
  };
  return empty("requests") && empty("limits") && r->if_contains("claims") == nullptr;
}

bool member_unset(bj::object& c, std::string_view key) {
  auto* v = c.if_contains(key);
  return v == nullptr || v->is_null();
}

void remove_named(bj::array& a, std::string_view name) {
  a.erase(std::remove_if(a.begin(), a.end(), [&](const bj::value& v) { return name_of(v) == name; }), a.end());
}

// Drops `artifact-store` mounts from a user container (only runtimed mounts it).
void strip_artifact_mount(bj::value& container) {
  if (!container.is_object()) return;
  if (auto* mounts = array_member(container.as_object(), "volumeMounts")) remove_named(*mounts, artifact_volume);
}

// The Runtime Server's probes ask runtimed, which calls its Health over the
// pod-local socket (or the TCP endpoint of a third-party server): the
// built-in servers have no TCP listener to probe (issue #14 item 6), and a
// TCP connect says less than Health anyway. The port is a number: a probe's
// named port resolves in its own container, and `health` is runtimed's.
bj::object runtime_probe(std::int64_t delay, std::int64_t period, std::int64_t failures) {
  return bj::object{{"httpGet", bj::object{{"path", "/runtimez"}, {"port", runtimed_health_port}}},
                    {"initialDelaySeconds", delay},
                    {"periodSeconds", period},
                    {"failureThreshold", failures}};
}

bj::object http_probe(std::string_view path, std::int64_t delay, std::int64_t period) {
  return bj::object{{"httpGet", bj::object{{"path", path}, {"port", "health"}}},
                    {"initialDelaySeconds", delay},
                    {"periodSeconds", period}};
}

void prepare_runtime_container(bj::object& c, const api::runtime& rt) {
  // Port `grpc` = spec.port/TCP, replacing a port of that name.
  bj::array ports;
  if (auto* p = array_member(c, "ports")) ports = *p;
  bj::object grpc{{"name", "grpc"}, {"containerPort", rt.spec.port}, {"protocol", "TCP"}};
  bool found = false;
  for (auto& p : ports)
    if (name_of(p) == "grpc") {
      p = grpc;
      found = true;
    }
  if (!found) ports.push_back(grpc);
  c["ports"] = std::move(ports);

  // Liveness tolerates a minute without an answer: runtimed restarting must
  // not restart the Runtime Server and its Runs with it.
  if (member_unset(c, "livenessProbe")) c["livenessProbe"] = runtime_probe(5, 10, 6);
  if (member_unset(c, "readinessProbe")) c["readinessProbe"] = runtime_probe(1, 5, 3);

  bj::array injected = pod_env();
  injected.push_back(bj::object{{"name", "KRUNTIMES_RUNTIME_SOCKET"}, {"value", socket_value}});
  c["env"] = merge_env(std::move(injected), array_member(c, "env"));

  bj::array mounts;
  if (auto* m = array_member(c, "volumeMounts")) mounts = *m;
  remove_named(mounts, workspace_volume);
  mounts.push_back(bj::object{{"name", workspace_volume}, {"mountPath", workspace_path}});
  c["volumeMounts"] = std::move(mounts);

  if (member_unset(c, "securityContext")) c["securityContext"] = default_security_context();
  if (resources_unset(c)) c["resources"] = resources("250m", "256Mi", "2", "2Gi");
}

bj::object runtimed_container(const api::runtime& rt, const build_options& o, bool api_volume) {
  bj::array args;
  for (auto& a : runtimed_args(rt)) args.emplace_back(a);
  bj::array mounts{bj::object{{"name", workspace_volume}, {"mountPath", workspace_path}}};
  if (api_volume)
    mounts.push_back(bj::object{{"name", api_access_volume}, {"mountPath", api_access_path}, {"readOnly", true}});
  const auto& store = rt.spec.artifact_store;
  if (store && store->driver == "filesystem")
    mounts.push_back(bj::object{{"name", artifact_volume}, {"mountPath", artifact_root}});
  bj::object c{
      {"name", runtimed_container_name},
      {"image", daemon_image_for(rt, o)},
      {"imagePullPolicy", "IfNotPresent"},
      {"args", std::move(args)},
      {"env", pod_env()},
      {"ports", bj::array{bj::object{{"name", "health"}, {"containerPort", runtimed_health_port}, {"protocol", "TCP"}}}},
      {"livenessProbe", http_probe("/healthz", 5, 10)},
      {"readinessProbe", http_probe("/readyz", 1, 5)},
      {"volumeMounts", std::move(mounts)},
      {"securityContext", default_security_context()},
      {"resources", resources("100m", "128Mi", "500m", "256Mi")},
  };
  if (store && store->driver == "s3" && store->s3 && !store->s3->credentials_secret_name.empty())
    c["envFrom"] = bj::array{bj::object{{"secretRef", bj::object{{"name", store->s3->credentials_secret_name}}}}};
  return c;
}

// The token volume Kubernetes would automount, for runtimed only.
bj::object api_access_volume_spec() {
  bj::array sources{
      bj::object{{"serviceAccountToken", bj::object{{"path", "token"}, {"expirationSeconds", 3607}}}},
      bj::object{{"configMap", bj::object{{"name", "kube-root-ca.crt"},
                                          {"items", bj::array{bj::object{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
      bj::object{{"downwardAPI",
                  bj::object{{"items", bj::array{bj::object{
                                           {"path", "namespace"},
                                           {"fieldRef", bj::object{{"apiVersion", "v1"},
                                                                   {"fieldPath", "metadata.namespace"}}}}}}}}},
  };
  return bj::object{{"name", api_access_volume},
                    {"projected", bj::object{{"sources", std::move(sources)}, {"defaultMode", 420}}}};
}

bj::array build_volumes(const api::runtime& rt, bj::object& pod_spec, bool api_volume) {
  bj::array volumes;
  if (auto* v = array_member(pod_spec, "volumes")) volumes = *v;
  remove_named(volumes, workspace_volume);
  remove_named(volumes, artifact_volume);
  remove_named(volumes, api_access_volume);
  bj::object ws;
  if (rt.spec.workspace) {
    boost::system::error_code ec;
    auto parsed = bj::parse(*rt.spec.workspace, ec);
    if (!ec && parsed.is_object()) ws = parsed.as_object();
  }
  if (ws.empty()) ws["emptyDir"] = bj::object{};
  ws["name"] = workspace_volume;
  volumes.push_back(std::move(ws));
  const auto& store = rt.spec.artifact_store;
  if (store && store->driver == "filesystem")
    volumes.push_back(bj::object{
        {"name", artifact_volume},
        {"persistentVolumeClaim", bj::object{{"claimName", store->fs_volume_claim.value_or("")}}}});
  if (api_volume) volumes.push_back(api_access_volume_spec());
  return volumes;
}

bj::object string_map(const bj::object* o) {
  bj::object out;
  if (o == nullptr) return out;
  for (const auto& [k, v] : *o)
    if (v.is_string()) out[k] = v;
  return out;
}

}  // namespace

std::string deployment_name(const api::runtime& rt) { return "runtime-" + rt.metadata.name; }

bj::object selector_labels(const api::runtime& rt) {
  return bj::object{{"runtime", rt.metadata.name}, {"app", "kruntimes-" + rt.metadata.name}};
}

std::string service_account_for(const api::runtime& rt, const build_options& o) {
  if (!rt.spec.template_facts.service_account_name.empty()) return rt.spec.template_facts.service_account_name;
  if (!o.runtimed_service_account_name.empty()) return o.runtimed_service_account_name;
  return std::string(fallback_service_account);
}

std::string daemon_image_for(const api::runtime& rt, const build_options& o) {
  if (!rt.spec.daemon_image.empty()) return rt.spec.daemon_image;
  if (!o.default_daemon_image.empty()) return o.default_daemon_image;
  return std::string(fallback_daemon_image);
}

std::string role_binding_name(std::string_view sa) {
  std::string name = std::string(runtimed_role_name) + "-" + std::string(sa);
  if (name.size() <= 63) return name;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(sa.data()), sa.size(), digest);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  std::string suffix = "-" + std::string(hex, 10);
  name.resize(63 - suffix.size());
  // A name may not end in '-' or '.' before the suffix joins it.
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
  return name + suffix;
}

bj::object owner_reference_for(const api::runtime& rt) {
  return bj::object{{"apiVersion", api::api_version}, {"kind", "Runtime"},        {"name", rt.metadata.name},
                    {"uid", rt.metadata.uid},         {"controller", true},       {"blockOwnerDeletion", true}};
}

std::vector<std::string> runtimed_args(const api::runtime& rt) {
  std::vector<std::string> a{
      "--runtime-endpoint=$(POD_IP):" + std::to_string(rt.spec.port),
      "--runtime-socket=" + std::string(socket_value),
      "--health-probe-bind-address=$(POD_IP):" + std::to_string(runtimed_health_port),
      "--runtime-name=" + rt.metadata.name,
      "--workspace-dir=" + std::string(workspace_path),
  };
  if (auto it = rt.spec.capacity.find(std::string(api::runs_resource_name)); it != rt.spec.capacity.end())
    if (auto n = api::parse_quantity(it->second); n && *n >= 1)
      a.push_back("--workers=" + std::to_string(static_cast<std::int64_t>(*n)));
  if (!rt.spec.artifact_store) return a;
  const auto& st = *rt.spec.artifact_store;
  if (st.driver == "filesystem") {
    a.push_back("--artifact-store-driver=filesystem");
    a.push_back("--artifact-store-root=" + std::string(artifact_root));
    a.push_back("--artifact-volume-claim=" + st.fs_volume_claim.value_or(""));
  } else if (st.driver == "s3" && st.s3) {
    const auto& s3 = *st.s3;
    a.push_back("--artifact-store-driver=s3");
    a.push_back("--artifact-s3-bucket=" + s3.bucket);
    if (!s3.prefix.empty()) a.push_back("--artifact-s3-prefix=" + s3.prefix);
    if (!s3.region.empty()) a.push_back("--artifact-s3-region=" + s3.region);
    if (!s3.endpoint.empty()) a.push_back("--artifact-s3-endpoint=" + s3.endpoint);
    if (s3.force_path_style) a.push_back("--artifact-s3-force-path-style=true");
    if (s3.upload_part_size) a.push_back("--artifact-s3-upload-part-size=" + std::to_string(*s3.upload_part_size));
    if (s3.upload_concurrency)
      a.push_back("--artifact-s3-upload-concurrency=" + std::to_string(*s3.upload_concurrency));
    if (!s3.credentials_secret_name.empty())
      a.push_back("--artifact-s3-credentials-secret-name=" + s3.credentials_secret_name);
  }
  return a;
}

krt::result<bj::object, std::string> build_deployment(const api::runtime& rt, const build_options& o) {
  if (!rt.spec.pod_template) return krt::unexpected<std::string>("spec.template is missing");
  boost::system::error_code ec;
  bj::value parsed = bj::parse(*rt.spec.pod_template, ec);
  if (ec || !parsed.is_object()) return krt::unexpected<std::string>("spec.template is not a JSON object");
  bj::object& tmpl = parsed.as_object();
  bj::object* tmeta = object_member(tmpl, "metadata");
  bj::object pod_spec;
  if (auto* s = object_member(tmpl, "spec")) pod_spec = *s;

  // Pod metadata: template labels under the selector labels, template
  // annotations plus one capacity annotation per positive capacity.
  bj::object labels = string_map(tmeta != nullptr ? object_member(*tmeta, "labels") : nullptr);
  for (const auto& [k, v] : selector_labels(rt)) labels[k] = v;
  bj::object annotations = string_map(tmeta != nullptr ? object_member(*tmeta, "annotations") : nullptr);
  for (const auto& [res, q] : rt.spec.capacity)
    if (auto n = api::parse_quantity(q); n && *n > 0)
      annotations[std::string(api::capacity_annotation_prefix) + res] = q;

  // Containers: runtime, the user's others (no `runtimed`), injected runtimed.
  bj::array containers;
  bj::array others;
  if (auto* cs = array_member(pod_spec, "containers"))
    for (auto& c : *cs) {
      if (!c.is_object()) continue;
      std::string name = name_of(c);
      if (name == runtimed_container_name) continue;
      bj::value copy = c;
      strip_artifact_mount(copy);
      if (name == runtime_container_name && containers.empty()) {
        prepare_runtime_container(copy.as_object(), rt);
        containers.push_back(std::move(copy));
      } else {
        others.push_back(std::move(copy));
      }
    }
  for (auto& c : others) containers.push_back(std::move(c));
  // A template that asks for the token in every container
  // (automountServiceAccountToken: true) keeps that; otherwise only runtimed
  // gets one.
  const auto* automount = pod_spec.if_contains("automountServiceAccountToken");
  bool api_volume = !(automount != nullptr && automount->is_bool() && automount->as_bool());
  if (api_volume) pod_spec["automountServiceAccountToken"] = false;
  containers.push_back(runtimed_container(rt, o, api_volume));
  pod_spec["containers"] = std::move(containers);
  if (auto* inits = array_member(pod_spec, "initContainers"))
    for (auto& c : *inits) strip_artifact_mount(c);

  pod_spec["volumes"] = build_volumes(rt, pod_spec, api_volume);
  pod_spec["serviceAccountName"] = service_account_for(rt, o);
  const auto& store = rt.spec.artifact_store;
  if (store && store->driver == "filesystem") {
    bj::object psc;
    if (auto* s = object_member(pod_spec, "securityContext")) psc = *s;
    psc["fsGroup"] = artifact_fs_group;
    psc["fsGroupChangePolicy"] = "OnRootMismatch";
    pod_spec["securityContext"] = std::move(psc);
  }

  bj::object pod_meta{{"labels", labels}};
  if (!annotations.empty()) pod_meta["annotations"] = std::move(annotations);
  std::int64_t replicas = rt.spec.replicas < 1 ? 1 : rt.spec.replicas;
  return bj::object{
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       bj::object{{"name", deployment_name(rt)},
                  {"namespace", rt.metadata.namespace_},
                  {"labels", selector_labels(rt)},
                  {"ownerReferences", bj::array{owner_reference_for(rt)}}}},
      {"spec",
       bj::object{{"replicas", replicas},
                  {"selector", bj::object{{"matchLabels", selector_labels(rt)}}},
                  {"template", bj::object{{"metadata", std::move(pod_meta)}, {"spec", std::move(pod_spec)}}}}},
  };
}

bj::object build_service_account(std::string_view ns, std::string_view name) {
  return bj::object{
      {"apiVersion", "v1"},
      {"kind", "ServiceAccount"},
      {"metadata", bj::object{{"name", name},
                              {"namespace", ns},
                              {"labels", bj::object{{"app.kubernetes.io/name", "kruntimes"},
                                                    {"app.kubernetes.io/component", "runtimed"},
                                                    {"app", "kruntimes-runtimed"}}}}},
  };
}

namespace {
bj::object rule(std::string_view group, bj::array resources, bj::array verbs) {
  return bj::object{{"apiGroups", bj::array{group}}, {"resources", std::move(resources)}, {"verbs", std::move(verbs)}};
}
}  // namespace

bj::object build_role(std::string_view ns) {
  bj::array rules;
  // Exactly what sidecar/ calls (test/e2e/fault_test.py compares it with
  // the audit log). runs: the informer lists and watches its own Runs (field
  // selector status.assignedPod); a merge patch adds the artifact-cleanup
  // finalizer; get re-reads a Run after a conflicting write.
  rules.push_back(rule("kruntimes.io", bj::array{"runs"}, bj::array{"get", "list", "watch", "patch"}));
  // runs/status: the claim (Scheduled → Running), outputs, artifact refs and
  // the terminal phase, each a merge patch with a resourceVersion precondition.
  rules.push_back(rule("kruntimes.io", bj::array{"runs/status"}, bj::array{"patch"}));
  // pods: runtimed reads its own Pod (uid, IP) at start.
  rules.push_back(rule("", bj::array{"pods"}, bj::array{"get"}));
  // pods/status: the kruntimes.io/RuntimedReady heartbeat condition (a
  // strategic merge patch every 5 s).
  rules.push_back(rule("", bj::array{"pods/status"}, bj::array{"patch"}));
  // events: user-visible Events about Runs (retries, failures).
  rules.push_back(rule("", bj::array{"events"}, bj::array{"create"}));
  return bj::object{
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "Role"},
      {"metadata", bj::object{{"name", runtimed_role_name},
                              {"namespace", ns},
                              {"labels", bj::object{{"app.kubernetes.io/name", "kruntimes"},
                                                    {"app.kubernetes.io/component", "runtimed"}}}}},
      {"rules", std::move(rules)},
  };
}

bj::object build_role_binding(std::string_view ns, std::string_view sa) {
  return bj::object{
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", bj::object{{"name", role_binding_name(sa)},
                              {"namespace", ns},
                              {"labels", bj::object{{"app.kubernetes.io/name", "kruntimes"},
                                                    {"app.kubernetes.io/component", "runtimed"}}}}},
      {"roleRef", bj::object{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", runtimed_role_name}}},
      {"subjects", bj::array{bj::object{{"kind", "ServiceAccount"}, {"name", sa}, {"namespace", ns}}}},
  };
}

bj::object build_network_policy(const api::runtime& rt) {
  return bj::object{
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", bj::object{{"name", deployment_name(rt)},
                              {"namespace", rt.metadata.namespace_},
                              {"labels", selector_labels(rt)},
                              {"ownerReferences", bj::array{owner_reference_for(rt)}}}},
      {"spec", bj::object{{"podSelector", bj::object{{"matchLabels", selector_labels(rt)}}},
                          {"policyTypes", bj::array{"Ingress"}}}},
  };
}

bool covers(const bj::value& desired, const bj::value& current) {
  if (desired.is_object()) {
    if (!current.is_object()) return desired.as_object().empty() && current.is_null();
    const auto& cur = current.as_object();
    for (const auto& [k, v] : desired.as_object()) {
      const auto* c = cur.if_contains(k);
      if (c == nullptr) {
        // An empty object or array we set may be dropped by the server.
        if ((v.is_object() && v.as_object().empty()) || (v.is_array() && v.as_array().empty())) continue;
        return false;
      }
      if (!covers(v, *c)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!current.is_array()) return desired.as_array().empty() && current.is_null();
    const auto& d = desired.as_array();
    const auto& c = current.as_array();
    if (d.size() != c.size()) return false;
    for (std::size_t i = 0; i < d.size(); ++i)
      if (!covers(d[i], c[i])) return false;
    return true;
  }
  if (desired.is_number() && current.is_number()) {
    boost::system::error_code e1, e2;
    double a = desired.to_number<double>(e1), b = current.to_number<double>(e2);
    return !e1 && !e2 && a == b;
  }
  return desired == current;
}

}  // namespace krt::controller

namespace krt::controller {

namespace {

const bj::object* obj_at(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

const bj::object& empty_object() {
  static const bj::object e;
  return e;
}

const bj::object& labels_of(const bj::object& obj, std::string_view which) {
  const auto* m = obj_at(obj, "metadata");
  const auto* l = m != nullptr ? obj_at(*m, which) : nullptr;
  return l != nullptr ? *l : empty_object();
}

bool top_level_ours(std::string_view k) { return k != "apiVersion" && k != "kind" && k != "metadata" && k != "status"; }

bool has_owner(const bj::object& current, std::string_view uid) {
  const auto* m = obj_at(current, "metadata");
  const auto* refs = m != nullptr ? m->if_contains("ownerReferences") : nullptr;
  if (refs == nullptr || !refs->is_array()) return false;
  for (const auto& r : refs->as_array()) {
    if (!r.is_object()) continue;
    const auto& o = r.as_object();
    const auto* c = o.if_contains("controller");
    if (str_of(o.if_contains("uid")) == uid && c != nullptr && c->is_bool() && c->as_bool()) return true;
  }
  return false;
}

// spec.template.metadata.<which> of a Deployment, or {}.
const bj::object& template_map(const bj::object& obj, std::string_view which) {
  const auto* spec = obj_at(obj, "spec");
  const auto* tmpl = spec != nullptr ? obj_at(*spec, "template") : nullptr;
  const auto* meta = tmpl != nullptr ? obj_at(*tmpl, "metadata") : nullptr;
  const auto* m = meta != nullptr ? obj_at(*meta, which) : nullptr;
  return m != nullptr ? *m : empty_object();
}

}  // namespace

std::string foreign_controller(const bj::object& current, std::string_view owner_uid) {
  const auto* m = obj_at(current, "metadata");
  const auto* refs = m != nullptr ? m->if_contains("ownerReferences") : nullptr;
  if (refs == nullptr || !refs->is_array()) return {};
  for (const auto& r : refs->as_array()) {
    if (!r.is_object()) continue;
    const auto& o = r.as_object();
    const auto* c = o.if_contains("controller");
    std::string uid = str_of(o.if_contains("uid"));
    if (c != nullptr && c->is_bool() && c->as_bool() && uid != owner_uid) return uid;
  }
  return {};
}

bool needs_update(const bj::object& desired, const bj::object& current, std::string_view owner_uid) {
  if (!covers(labels_of(desired, "labels"), labels_of(current, "labels"))) return true;
  if (!owner_uid.empty() && !has_owner(current, owner_uid)) return true;
  for (const auto& [k, v] : desired) {
    if (!top_level_ours(k)) continue;
    const auto* c = current.if_contains(k);
    if (c == nullptr || !covers(v, *c)) return true;
  }
  if (str_of(desired.if_contains("kind")) == "Deployment")
    for (std::string_view which : {"labels", "annotations"})
      if (template_map(desired, which) != template_map(current, which)) return true;
  return false;
}

bj::object merged_for_update(const bj::object& desired, const bj::object& current, std::string_view owner_uid) {
  bj::object out = current;
  out.erase("status");
  bj::object meta;
  if (const auto* m = obj_at(current, "metadata")) meta = *m;
  bj::object labels = labels_of(current, "labels");
  for (const auto& [k, v] : labels_of(desired, "labels")) labels[k] = v;
  meta["labels"] = std::move(labels);
  if (!owner_uid.empty()) {
    bj::array refs;
    if (const auto* r = meta.if_contains("ownerReferences"); r != nullptr && r->is_array())
      for (const auto& ref : r->as_array())
        if (ref.is_object() && str_of(ref.as_object().if_contains("uid")) != owner_uid) refs.push_back(ref);
    if (const auto* dm = obj_at(desired, "metadata"))
      if (const auto* dr = dm->if_contains("ownerReferences"); dr != nullptr && dr->is_array())
        for (const auto& ref : dr->as_array()) refs.push_back(ref);
    meta["ownerReferences"] = std::move(refs);
  }
  meta.erase("managedFields");
  out["metadata"] = std::move(meta);
  for (const auto& [k, v] : desired)
    if (top_level_ours(k)) out[k] = v;
  return out;
}

}  // namespace krt::controller
