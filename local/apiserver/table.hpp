#pragma once
// Table output (meta.k8s.io/v1 Table) for `kubectl get`: printer columns,
// server-formatted ages, PartialObjectMetadata rows; and the JSONPath subset
// that CRD printer columns use.
//
// Affinity: none (pure functions).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/core/time.hpp"
#include "local/apiserver/json.hpp"
#include "local/apiserver/resources.hpp"

namespace krt::local {

// Evaluates a printer-column JSONPath: ".a.b", ".a[0].b", ".a[*].b",
// ".a[?(@.type=="Ready")].status", optionally wrapped in "{...}". Returns the
// matched values (empty: no match).
std::vector<const bj::value*> eval_json_path(const bj::value& root, std::string_view path);
// Whether `path` is in the supported subset (CRDs with others are rejected).
krt::result<void, std::string> check_json_path(std::string_view path);

enum class include_object { none, metadata, object };

// The column definitions of `r` (Name first).
bj::array table_columns(const resource_info& r);
// One row for `object`.
bj::object table_row(const resource_info& r, const bj::object& object, include_object inc, wall_time now);
// A whole Table around rows; resource_version and continue token as for lists.
bj::object make_table(const resource_info& r, bj::array rows, bool with_columns, std::string_view resource_version,
                      std::string_view continue_token);

}  // namespace krt::local
