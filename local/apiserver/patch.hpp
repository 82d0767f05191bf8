#pragma once
// The three patch formats the Kubernetes API accepts on PATCH:
//   - JSON merge patch (RFC 7386), application/merge-patch+json
//   - JSON patch (RFC 6902), application/json-patch+json
//   - strategic merge patch, application/strategic-merge-patch+json, for the
//     built-in kinds only (lists merge by their patch merge keys).
// Each edits `target` in place and on failure leaves it in an unspecified
// state (callers patch a copy). Error strings are sentences for a 400/422
// Status message, e.g. "json patch operation 2 (remove /spec/x): no such path".

#include <string>
#include <string_view>

#include "lib/core/result.hpp"
#include "local/apiserver/json.hpp"

namespace krt::local {

// RFC 7386. A non-object patch replaces the target (as the RFC says); callers
// that need an object (the API server) check the patch type first.
void apply_merge_patch(bj::value& target, const bj::value& patch);

// RFC 6902: add, remove, replace, move, copy, test. `patch` must be an array
// of at most max_json_patch_operations; no operation may nest the document
// deeper than max_json_depth, and all its copies together may add at most
// max_json_patch_copy_bytes (json.hpp).
krt::result<void, std::string> apply_json_patch(bj::value& target, const bj::value& patch);

// Kubernetes strategic merge patch for built-in kinds. `kind` is the object's
// kind ("Deployment", "Pod", ...). Lists with a patch merge key (containers by
// name, env by name, volumes by name, volumeMounts by mountPath, container
// ports by containerPort, service ports by port, conditions by type,
// ownerReferences by uid, ...) merge element-wise; lists with the "merge"
// strategy of primitives (finalizers) merge as sets; other lists replace.
// Directives: $patch (replace|merge|delete) on maps and list elements,
// $setElementOrder/<field>, $retainKeys, $deleteFromPrimitiveList/<field>.
krt::result<void, std::string> apply_strategic_merge_patch(bj::value& target, const bj::value& patch,
                                                           std::string_view kind);

}  // namespace krt::local
