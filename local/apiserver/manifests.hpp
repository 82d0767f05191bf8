#pragma once
// Manifests applied by the local control plane at startup (`krt local serve
// --manifests DIR`): multi-document YAML turned into JSON objects, and a
// create-or-replace "apply" through the server's in-process path.
//
// Affinity: parse_manifests is pure; apply_manifests runs on the server's shard.

#include <string>
#include <vector>

#include "lib/core/result.hpp"
#include "local/apiserver/json.hpp"
#include "local/apiserver/server.hpp"

namespace krt::local {

// Every non-empty document of a YAML stream, as JSON objects (a `List` kind's
// items are flattened). Plain scalars become booleans, null, integers or
// floats as YAML 1.2's core schema says; quoted scalars stay strings. Errors
// name the source and line.
krt::result<std::vector<bj::object>, std::string> parse_manifests(const std::string& yaml_text,
                                                                  const std::string& source);

// The manifest files of `dir`, in apply order (see apply_manifests), or an
// error naming the kustomization and what it cannot do.
krt::result<std::vector<std::string>, std::string> manifest_files(const std::string& dir);

// Applies the manifests of `dir`: when it has a kustomization.yaml, the files
// its `resources` list (in order, following directories with their own
// kustomization; other kustomize features are refused with a hint to use
// kubectl apply -k); otherwise every *.yaml/*.yml/*.json file, sorted by name
// (not recursive). Creates what is missing and replaces what exists (keeping
// its resourceVersion, so status and metadata the server owns are kept).
// Returns one line per object ("created customresourcedefinition/x") or the
// first error.
awaitable<krt::result<std::vector<std::string>, std::string>> apply_manifests(api_server& server, std::string dir);

}  // namespace krt::local
