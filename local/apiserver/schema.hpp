#pragma once
// CustomResourceDefinition schemas: a version's structural openAPIV3Schema
// compiled once when the CRD is created or updated, then used on every write
// of its custom resources to default, prune and validate them the way the
// Kubernetes API server does, including the x-kubernetes-validations rules in
// the CEL subset that cel.hpp documents.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "local/apiserver/json.hpp"

namespace krt::local {

// One cause of a 422 Invalid Status (metav1.StatusCause). `reason` is the
// CauseType ("FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
// "FieldValueTypeInvalid", "FieldValueTooLong", "FieldValueTooMany",
// "FieldValueDuplicate", "FieldValueForbidden"); `field` is the path in
// Kubernetes form ("spec.retryPolicy.maxAttempts", "spec.env[2].name",
// "metadata.labels[app]"); `message` is what kubectl prints after the field,
// e.g. `Unsupported value: "X": supported values: "A", "B"`.
struct field_cause {
  std::string reason;
  std::string message;
  std::string field;
};

class structural_schema;
using schema_ptr = std::shared_ptr<const structural_schema>;

// Compiles `schema` (the value of spec.versions[i].schema.openAPIV3Schema).
// Rejects what the real API server rejects for a structural schema (a missing
// type where one is required, unknown keywords it forbids) and every
// x-kubernetes-validations rule outside the supported CEL subset, with causes
// whose field is `field_prefix` + the schema path (for a CRD:
// "spec.versions[0].schema.openAPIV3Schema").
krt::result<schema_ptr, std::vector<field_cause>> compile_schema(const bj::value& schema,
                                                                 std::string_view field_prefix);

struct admission_result {
  std::vector<field_cause> errors;          // empty: the object is valid
  std::vector<std::string> unknown_fields;  // pruned paths, ".spec.foo" form (for fieldValidation Strict/Warn)
};

// On create (old_object == nullptr) and update: applies defaults, prunes
// unknown fields (the root's apiVersion, kind and metadata are always kept and
// metadata is not descended into), then validates types, formats, enums,
// limits, required fields, list-map keys and x-kubernetes-validations rules
// (transition rules — those that use oldSelf — run only on update, where the
// old value exists).
admission_result admit(const structural_schema& schema, bj::value& object, const bj::value* old_object);

}  // namespace krt::local
