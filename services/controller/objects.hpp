#pragma once
// The kinds the Runtime controller owns, as the informers cache them: the
// decoded ObjectMeta plus every other top-level field kept as JSON text, so
// the reconciler can compare what it wants with what is there without a
// typed model of Deployments, RBAC or NetworkPolicies.
//
// Affinity: none (value types; codecs are immutable).

#include <boost/json.hpp>
#include <map>
#include <string>

#include "lib/kube/codec.hpp"
#include "lib/kube/types.hpp"

namespace krt::controller {

struct raw_object {
  kube::object_meta metadata;
  std::map<std::string, std::string> fields;  // top-level key → JSON text ("spec", "status", ...)
};

// The object as a Boost.JSON document (metadata included); unparsable
// fields are left out.
boost::json::object to_json(const raw_object& o);

namespace resources {
extern const kube::resource deployments;
extern const kube::resource service_accounts;
extern const kube::resource roles;
extern const kube::resource role_bindings;
extern const kube::resource network_policies;
}  // namespace resources

// A codec for raw_object that lists and watches `res`.
const kube::type_codec& raw_codec(const kube::resource& res);

}  // namespace krt::controller
