#pragma once
// The manifests `krt local up` applies (k8s/crds and k8s/overlays/local with
// what it includes), compiled into krt so that a krt copied or installed
// anywhere starts a complete plane. Generated at build time from k8s/.
//
// Affinity: immutable.

#include <cstddef>
#include <string_view>

namespace krt::cli {

struct embedded_file {
  std::string_view path;     // relative to k8s/, e.g. "crds/runs.yaml"
  std::string_view content;
};

extern const embedded_file embedded_manifests[];
extern const std::size_t embedded_manifests_count;

}  // namespace krt::cli
