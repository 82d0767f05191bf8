#include "local/apiserver/resources.hpp"

#include <algorithm>
#include <functional>
#include <set>

namespace krt::local {

namespace {

const printer_column age_column{"Age", "date", "", "", 0, ".metadata.creationTimestamp"};

struct builtin_spec {
  const char* group;
  const char* version;
  const char* kind;
  const char* plural;
  bool namespaced;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool status;
  bool scale;
  std::vector<printer_column> columns;
};

resource_ptr make_builtin(const builtin_spec& s) {
  auto r = std::make_shared<resource_info>();
  r->group = s.group;
  r->version = s.version;
  r->kind = s.kind;
  r->list_kind = std::string(s.kind) + "List";
  r->plural = s.plural;
  std::string singular = s.kind;
  std::transform(singular.begin(), singular.end(), singular.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  r->singular = singular;
  r->namespaced = s.namespaced;
  r->short_names = s.short_names;
  r->categories = s.categories;
  r->status_subresource = s.status;
  r->scale_subresource = s.scale;
  r->storage_key = std::string(s.group) + "/" + s.plural;
  r->columns = s.columns;
  r->columns.push_back(age_column);
  if (r->plural == "pods") r->selectable_fields = {"spec.nodeName", "status.phase"};
  if (r->plural == "events") r->selectable_fields = {"involvedObject.name", "involvedObject.namespace",
                                                     "involvedObject.kind", "involvedObject.uid", "reason", "type"};
  if (r->plural == "secrets") r->selectable_fields = {"type"};
  return r;
}

std::vector<resource_ptr> builtins() {
  // Computed columns (json_path starting with '#') are formatted by table.cpp.
  const std::vector<builtin_spec> specs = {
      {"", "v1", "Namespace", "namespaces", false, {"ns"}, {}, true, false,
       {{"Status", "string", "", "The phase of the namespace", 0, ".status.phase"}}},
      {"", "v1", "Pod", "pods", true, {"po"}, {"all"}, true, false,
       {{"Ready", "string", "", "Ready containers / all containers", 0, "#pod-ready"},
        {"Status", "string", "", "The pod's phase or the reason it is not running", 0, "#pod-status"},
        {"Restarts", "string", "", "Container restarts", 0, "#pod-restarts"},
        {"IP", "string", "", "The pod's IP address", 1, ".status.podIP"},
        {"Node", "string", "", "The node running the pod", 1, ".spec.nodeName"}}},
      {"", "v1", "Service", "services", true, {"svc"}, {"all"}, true, false,
       {{"Type", "string", "", "", 0, ".spec.type"},
        {"Cluster-IP", "string", "", "", 0, ".spec.clusterIP"},
        {"Ports", "string", "", "", 0, "#service-ports"}}},
      {"", "v1", "ServiceAccount", "serviceaccounts", true, {"sa"}, {}, false, false, {}},
      {"", "v1", "ConfigMap", "configmaps", true, {"cm"}, {}, false, false,
       {{"Data", "integer", "", "Number of keys", 0, "#data-count"}}},
      {"", "v1", "Secret", "secrets", true, {}, {}, false, false,
       {{"Type", "string", "", "", 0, ".type"}, {"Data", "integer", "", "Number of keys", 0, "#data-count"}}},
      {"", "v1", "Event", "events", true, {"ev"}, {}, false, false,
       {{"Type", "string", "", "", 0, ".type"},
        {"Reason", "string", "", "", 0, ".reason"},
        {"Object", "string", "", "", 0, "#event-object"},
        {"Message", "string", "", "", 0, ".message"}}},
      {"events.k8s.io", "v1", "Event", "events", true, {"ev"}, {}, false, false,
       {{"Type", "string", "", "", 0, ".type"}, {"Reason", "string", "", "", 0, ".reason"},
        {"Note", "string", "", "", 0, ".note"}}},
      {"apps", "v1", "Deployment", "deployments", true, {"deploy"}, {"all"}, true, true,
       {{"Ready", "string", "", "Ready replicas / desired", 0, "#deploy-ready"},
        {"Up-to-date", "integer", "", "", 0, ".status.updatedReplicas"},
        {"Available", "integer", "", "", 0, ".status.availableReplicas"}}},
      {"apps", "v1", "ReplicaSet", "replicasets", true, {"rs"}, {"all"}, true, true,
       {{"Desired", "integer", "", "", 0, ".spec.replicas"},
        {"Current", "integer", "", "", 0, ".status.replicas"},
        {"Ready", "integer", "", "", 0, ".status.readyReplicas"}}},
      {"coordination.k8s.io", "v1", "Lease", "leases", true, {}, {}, false, false,
       {{"Holder", "string", "", "", 0, ".spec.holderIdentity"}}},
      {"rbac.authorization.k8s.io", "v1", "Role", "roles", true, {}, {}, false, false, {}},
      {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, {}, {}, false, false,
       {{"Role", "string", "", "", 0, "#binding-role"}}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, {}, {}, false, false, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, {}, {}, false, false,
       {{"Role", "string", "", "", 0, "#binding-role"}}},
      {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, {"netpol"}, {}, false, false,
       {{"Pod-Selector", "string", "", "", 0, "#netpol-selector"}}},
      {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, {"pdb"}, {}, true, false,
       {{"Min Available", "string", "", "", 0, ".spec.minAvailable"},
        {"Max Unavailable", "string", "", "", 0, ".spec.maxUnavailable"},
        {"Allowed Disruptions", "integer", "", "", 0, ".status.disruptionsAllowed"}}},
      {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false,
       {"crd", "crds"}, {"api-extensions"}, true, false, {}},
  };
  std::vector<resource_ptr> out;
  for (const auto& s : specs) out.push_back(make_builtin(s));
  return out;
}

bj::array strings(const std::vector<std::string>& v) {
  bj::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::vector<std::string> subresources_of(const resource_info& r) {
  std::vector<std::string> subs;
  if (r.status_subresource) subs.push_back("status");
  if (r.scale_subresource) subs.push_back("scale");
  if (r.plural == "pods" && r.group.empty()) subs.insert(subs.end(), {"log", "proxy"});
  if (r.plural == "serviceaccounts") subs.push_back("token");
  if (r.plural == "namespaces") subs.push_back("finalize");
  return subs;
}

bj::array subresource_verbs(std::string_view sub) {
  if (sub == "log") return bj::array{"get"};
  if (sub == "proxy") return bj::array{"create", "delete", "get", "patch", "update"};
  if (sub == "token") return bj::array{"create"};
  if (sub == "finalize") return bj::array{"update"};
  return bj::array{"get", "patch", "update"};
}

bj::object response_kind(const resource_info& r, std::string_view sub) {
  bj::object k;
  if (sub == "scale") {
    k["group"] = "autoscaling";
    k["version"] = "v1";
    k["kind"] = "Scale";
  } else if (sub == "token") {
    k["group"] = "authentication.k8s.io";
    k["version"] = "v1";
    k["kind"] = "TokenRequest";
  } else {
    k["group"] = r.group;
    k["version"] = r.version;
    k["kind"] = r.kind;
  }
  return k;
}

std::string str(const bj::value* v) {
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

resource_registry::resource_registry() : builtin_(builtins()) { rebuild(); }

void resource_registry::rebuild() {
  resources_ = builtin_;
  resources_.insert(resources_.end(), custom_.begin(), custom_.end());
  by_path_.clear();
  for (const auto& r : resources_) by_path_[r->group + "/" + r->version + "/" + r->plural] = r;
  ++generation_;
}

void resource_registry::set_custom(const std::vector<resource_ptr>& custom) {
  custom_ = custom;
  rebuild();
}

resource_ptr resource_registry::find(std::string_view group, std::string_view version, std::string_view plural) const {
  std::string key;
  key.append(group).append("/").append(version).append("/").append(plural);
  auto it = by_path_.find(key);
  return it == by_path_.end() ? nullptr : it->second;
}

resource_ptr resource_registry::find_storage(std::string_view storage_key) const {
  for (const auto& r : resources_)
    if (r->storage_key == storage_key) return r;
  return nullptr;
}

resource_ptr resource_registry::find_kind(std::string_view api_version, std::string_view kind) const {
  for (const auto& r : resources_)
    if (r->kind == kind && r->group_version() == api_version) return r;
  return nullptr;
}

bj::object resource_registry::legacy_core_versions() const {
  return bj::object{{"kind", "APIVersions"},
                    {"versions", bj::array{"v1"}},
                    {"serverAddressByClientCIDRs",
                     bj::array{bj::object{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}}}};
}

namespace {

// Group → versions in registry order (the first is preferred).
std::vector<std::pair<std::string, std::vector<std::string>>> group_versions(const std::vector<resource_ptr>& all) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& r : all) {
    if (r->group.empty()) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == r->group; });
    if (it == out.end()) {
      out.emplace_back(r->group, std::vector<std::string>{});
      it = std::prev(out.end());
    }
    if (std::find(it->second.begin(), it->second.end(), r->version) == it->second.end())
      it->second.push_back(r->version);
  }
  return out;
}

bj::object api_group(const std::string& name, const std::vector<std::string>& versions) {
  bj::array vs;
  for (const auto& v : versions) vs.push_back(bj::object{{"groupVersion", name + "/" + v}, {"version", v}});
  bj::object preferred{{"groupVersion", name + "/" + versions.front()}, {"version", versions.front()}};
  return bj::object{{"name", name}, {"versions", std::move(vs)}, {"preferredVersion", std::move(preferred)}};
}

}  // namespace

bj::object resource_registry::legacy_groups() const {
  bj::array groups;
  for (const auto& [name, versions] : group_versions(resources_)) groups.push_back(api_group(name, versions));
  return bj::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

bj::value resource_registry::legacy_group(std::string_view group) const {
  for (const auto& [name, versions] : group_versions(resources_)) {
    if (name != group) continue;
    bj::object g = api_group(name, versions);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return g;
  }
  return nullptr;
}

bj::value resource_registry::resource_list(std::string_view group, std::string_view version) const {
  bj::array list;
  bool found = false;
  for (const auto& r : resources_) {
    if (r->group != group || r->version != version) continue;
    found = true;
    bj::object e{{"name", r->plural},        {"singularName", r->singular},       {"namespaced", r->namespaced},
                 {"kind", r->kind},          {"verbs", strings(r->verbs)}};
    if (!r->short_names.empty()) e["shortNames"] = strings(r->short_names);
    if (!r->categories.empty()) e["categories"] = strings(r->categories);
    list.push_back(std::move(e));
    for (const auto& sub : subresources_of(*r)) {
      bj::object k = response_kind(*r, sub);
      bj::object s{{"name", r->plural + "/" + sub}, {"singularName", ""},
                   {"namespaced", r->namespaced},   {"kind", k["kind"]},
                   {"verbs", subresource_verbs(sub)}};
      if (sub == "scale" || sub == "token") {
        s["group"] = k["group"];
        s["version"] = k["version"];
      }
      list.push_back(std::move(s));
    }
  }
  if (!found) return nullptr;
  std::string gv = group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return bj::object{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", list}};
}

bj::object resource_registry::aggregated(bool core) const {
  bj::array items;
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  if (core)
    groups.emplace_back("", std::vector<std::string>{"v1"});
  else
    groups = group_versions(resources_);
  for (const auto& [name, versions] : groups) {
    bj::array vs;
    for (const auto& v : versions) {
      bj::array res;
      for (const auto& r : resources_) {
        if (r->group != name || r->version != v) continue;
        bj::object e{{"resource", r->plural},
                     {"responseKind", response_kind(*r, "")},
                     {"scope", r->namespaced ? "Namespaced" : "Cluster"},
                     {"singularResource", r->singular},
                     {"verbs", strings(r->verbs)}};
        if (!r->short_names.empty()) e["shortNames"] = strings(r->short_names);
        if (!r->categories.empty()) e["categories"] = strings(r->categories);
        bj::array subs;
        for (const auto& sub : subresources_of(*r))
          subs.push_back(bj::object{
              {"subresource", sub}, {"responseKind", response_kind(*r, sub)}, {"verbs", subresource_verbs(sub)}});
        if (!subs.empty()) e["subresources"] = std::move(subs);
        res.push_back(std::move(e));
      }
      vs.push_back(bj::object{{"version", v}, {"resources", std::move(res)}, {"freshness", "Current"}});
    }
    items.push_back(bj::object{{"metadata", bj::object{{"name", name}}}, {"versions", std::move(vs)}});
  }
  return bj::object{{"kind", "APIGroupDiscoveryList"},
                    {"apiVersion", "apidiscovery.k8s.io/v2"},
                    {"metadata", bj::object{}},
                    {"items", std::move(items)}};
}

bj::object resource_registry::openapi_index() const {
  bj::object paths;
  std::string hash = "g" + std::to_string(generation_);
  paths["api/v1"] = bj::object{{"serverRelativeURL", "/openapi/v3/api/v1?hash=" + hash}};
  for (const auto& [name, versions] : group_versions(resources_))
    for (const auto& v : versions) {
      std::string p = "apis/" + name + "/" + v;
      paths[p] = bj::object{{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + hash}};
    }
  return bj::object{{"paths", std::move(paths)}};
}

bj::value resource_registry::openapi_document(std::string_view group_version) const {
  // Just enough for kubectl's server-side validation probe: a PATCH operation
  // per kind carrying its GVK and the fieldValidation parameter.
  bj::object paths;
  bool found = false;
  for (const auto& r : resources_) {
    std::string prefix = r->group.empty() ? "api/" + r->version : "apis/" + r->group + "/" + r->version;
    if (prefix != group_version) continue;
    found = true;
    std::string path = "/" + prefix + (r->namespaced ? "/namespaces/{namespace}/" : "/") + r->plural + "/{name}";
    bj::object gvk{{"group", r->group}, {"version", r->version}, {"kind", r->kind}};
    bj::array params{bj::object{{"name", "fieldValidation"}, {"in", "query"}, {"schema", bj::object{{"type", "string"}}}},
                     bj::object{{"name", "dryRun"}, {"in", "query"}, {"schema", bj::object{{"type", "string"}}}}};
    paths[path] = bj::object{
        {"patch", bj::object{{"operationId", "patch" + r->kind}, {"x-kubernetes-group-version-kind", gvk},
                             {"x-kubernetes-action", "patch"}, {"parameters", params}}},
        {"put", bj::object{{"operationId", "replace" + r->kind}, {"x-kubernetes-group-version-kind", gvk},
                           {"x-kubernetes-action", "put"}, {"parameters", params}}}};
  }
  if (!found) return nullptr;
  return bj::object{{"openapi", "3.0.0"},
                    {"info", bj::object{{"title", "kruntimes local control plane"}, {"version", "v1.32.0"}}},
                    {"paths", std::move(paths)}};
}

krt::result<std::vector<resource_ptr>, std::vector<field_cause>> resources_from_crd(const bj::object& crd) {
  std::vector<field_cause> causes;
  auto require = [&](const std::string& v, const char* field) {
    if (v.empty()) causes.push_back({"FieldValueRequired", "Required value", field});
  };
  const bj::value* spec_v = crd.if_contains("spec");
  if (spec_v == nullptr || !spec_v->is_object())
    return krt::unexpected(std::vector<field_cause>{{"FieldValueRequired", "Required value", "spec"}});
  const bj::object& spec = spec_v->as_object();
  std::string group = str(spec.if_contains("group"));
  require(group, "spec.group");
  if (!group.empty() && group.find('.') == std::string::npos)
    causes.push_back({"FieldValueInvalid", "Invalid value: \"" + group + "\": should be a domain with at least one dot",
                      "spec.group"});
  const bj::value* names_v = spec.if_contains("names");
  bj::object names = names_v != nullptr && names_v->is_object() ? names_v->as_object() : bj::object{};
  std::string plural = str(names.if_contains("plural"));
  std::string kind = str(names.if_contains("kind"));
  std::string singular = str(names.if_contains("singular"));
  std::string list_kind = str(names.if_contains("listKind"));
  require(plural, "spec.names.plural");
  require(kind, "spec.names.kind");
  if (singular.empty()) {
    singular = kind;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  if (list_kind.empty()) list_kind = kind + "List";
  std::string scope = str(spec.if_contains("scope"));
  if (scope != "Namespaced" && scope != "Cluster")
    causes.push_back({"FieldValueNotSupported",
                      "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\"",
                      "spec.scope"});
  std::string meta_name;
  if (const auto* m = crd.if_contains("metadata"); m != nullptr && m->is_object())
    meta_name = str(m->as_object().if_contains("name"));
  if (!plural.empty() && !group.empty() && meta_name != plural + "." + group)
    causes.push_back({"FieldValueInvalid",
                      "Invalid value: \"" + meta_name + "\": must be spec.names.plural+\".\"+spec.group", "metadata.name"});
  auto string_list = [](const bj::value* v) {
    std::vector<std::string> out;
    if (v != nullptr && v->is_array())
      for (const auto& e : v->as_array())
        if (e.is_string()) out.emplace_back(e.as_string());
    return out;
  };
  const bj::value* versions_v = spec.if_contains("versions");
  if (versions_v == nullptr || !versions_v->is_array() || versions_v->as_array().empty()) {
    causes.push_back({"FieldValueRequired", "Required value: must have exactly one version marked as storage version",
                      "spec.versions"});
    return krt::unexpected(causes);
  }
  int storage = 0;
  std::vector<resource_ptr> out;
  std::size_t index = 0;
  for (const auto& vv : versions_v->as_array()) {
    std::string at = "spec.versions[" + std::to_string(index++) + "]";
    if (!vv.is_object()) continue;
    const auto& v = vv.as_object();
    if (const auto* s = v.if_contains("storage"); s != nullptr && s->is_bool() && s->as_bool()) ++storage;
    const auto* served = v.if_contains("served");
    auto r = std::make_shared<resource_info>();
    r->group = group;
    r->version = str(v.if_contains("name"));
    require(r->version, (at + ".name").c_str());
    r->kind = kind;
    r->list_kind = list_kind;
    r->plural = plural;
    r->singular = singular;
    r->namespaced = scope != "Cluster";
    r->short_names = string_list(names.if_contains("shortNames"));
    r->categories = string_list(names.if_contains("categories"));
    r->custom = true;
    r->storage_key = group + "/" + plural;
    if (const auto* sub = v.if_contains("subresources"); sub != nullptr && sub->is_object()) {
      r->status_subresource = sub->as_object().contains("status");
      if (const auto* sc = sub->as_object().if_contains("scale"); sc != nullptr && sc->is_object()) {
        r->scale_subresource = true;
        r->scale_spec_path = str(sc->as_object().if_contains("specReplicasPath"));
        r->scale_status_path = str(sc->as_object().if_contains("statusReplicasPath"));
        r->scale_selector_path = str(sc->as_object().if_contains("labelSelectorPath"));
      }
    }
    const bj::value* schema = nullptr;
    if (const auto* s = v.if_contains("schema"); s != nullptr && s->is_object())
      schema = s->as_object().if_contains("openAPIV3Schema");
    if (schema == nullptr) {
      causes.push_back({"FieldValueRequired", "Required value: schemas are required", at + ".schema.openAPIV3Schema"});
    } else {
      auto compiled = compile_schema(*schema, at + ".schema.openAPIV3Schema");
      if (!compiled)
        causes.insert(causes.end(), compiled.error().begin(), compiled.error().end());
      else
        r->schema = *compiled;
    }
    bool has_columns = false;
    if (const auto* cols = v.if_contains("additionalPrinterColumns"); cols != nullptr && cols->is_array()) {
      for (const auto& c : cols->as_array()) {
        if (!c.is_object()) continue;
        const auto& co = c.as_object();
        printer_column pc;
        pc.name = str(co.if_contains("name"));
        pc.type = str(co.if_contains("type"));
        pc.format = str(co.if_contains("format"));
        pc.description = str(co.if_contains("description"));
        pc.json_path = str(co.if_contains("jsonPath"));
        if (const auto* p = co.if_contains("priority"); p != nullptr && p->is_int64())
          pc.priority = static_cast<int>(p->as_int64());
        r->columns.push_back(std::move(pc));
        has_columns = true;
      }
    }
    if (!has_columns) r->columns.push_back(age_column);
    if (const auto* sf = v.if_contains("selectableFields"); sf != nullptr && sf->is_array())
      for (const auto& f : sf->as_array())
        if (f.is_object()) {
          std::string p = str(f.as_object().if_contains("jsonPath"));
          if (!p.empty() && p.front() == '.') p.erase(0, 1);
          if (!p.empty()) r->selectable_fields.push_back(p);
        }
    if (served == nullptr || !served->is_bool() || served->as_bool()) out.push_back(std::move(r));
  }
  if (storage != 1)
    causes.push_back({"FieldValueInvalid", "Invalid value: must have exactly one version marked as storage version",
                      "spec.versions"});
  if (!causes.empty()) return krt::unexpected(causes);
  return out;
}

}  // namespace krt::local
