#pragma once
// What the local API server serves: the built-in resources and, the moment a
// CustomResourceDefinition is established, its custom resources. Discovery
// (legacy and aggregated), the OpenAPI v3 documents kubectl's validation
// probe needs, and Table columns all come from this registry.
//
// Affinity: per-shard (the server's shard); resource_info values are
// immutable once published and shared by pointer.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "local/apiserver/json.hpp"
#include "local/apiserver/schema.hpp"

namespace krt::local {

struct printer_column {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string format;
  std::string description;
  int priority = 0;
  std::string json_path;  // ".status.phase"; empty: computed by the server (built-ins)
};

struct resource_info {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string list_kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
  bool status_subresource = false;
  bool scale_subresource = false;
  bool custom = false;         // served from a CRD
  std::string storage_key;     // "<group>/<plural>": the same for every version of a CRD
  std::vector<printer_column> columns;  // after Name; Age included where the kind shows it
  schema_ptr schema;                    // custom resources only
  std::vector<std::string> selectable_fields;  // field selector paths beyond metadata.name/namespace
  std::string scale_spec_path, scale_status_path, scale_selector_path;  // custom scale subresource

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
};
using resource_ptr = std::shared_ptr<const resource_info>;

class resource_registry {
 public:
  resource_registry();

  // The resource served at /api(s)/<group>/<version>/.../<plural>, or null.
  resource_ptr find(std::string_view group, std::string_view version, std::string_view plural) const;
  // Any served version of a storage key (for garbage collection and RBAC).
  resource_ptr find_storage(std::string_view storage_key) const;
  resource_ptr find_kind(std::string_view api_version, std::string_view kind) const;
  const std::vector<resource_ptr>& all() const { return resources_; }

  // Recomputes the custom resources from the CRDs (JSON objects). Returns a
  // message per CRD whose schema does not compile (the CRD is then not served).
  void set_custom(const std::vector<resource_ptr>& custom);
  std::uint64_t generation() const { return generation_; }

  // Discovery documents.
  bj::object legacy_core_versions() const;                  // /api
  bj::object legacy_groups() const;                         // /apis
  bj::value legacy_group(std::string_view group) const;     // /apis/<g>, null if unknown
  bj::value resource_list(std::string_view group, std::string_view version) const;  // null if unknown
  bj::object aggregated(bool core) const;                   // /api or /apis, apidiscovery.k8s.io/v2
  // OpenAPI v3: the index and one document per group-version.
  bj::object openapi_index() const;
  bj::value openapi_document(std::string_view group_version) const;

 private:
  void rebuild();
  std::vector<resource_ptr> builtin_;
  std::vector<resource_ptr> custom_;
  std::vector<resource_ptr> resources_;
  std::map<std::string, resource_ptr, std::less<>> by_path_;  // "<g>/<v>/<plural>"
  std::uint64_t generation_ = 1;
};

// Builds the served resources of a CRD (one per served version). Errors are
// 422 causes (for a CRD create/update to reject).
krt::result<std::vector<resource_ptr>, std::vector<field_cause>> resources_from_crd(const bj::object& crd);

}  // namespace krt::local
