#pragma once
// Artifacts on the filesystem store (SPEC.md §4 "Artifacts"): the staging
// directory's top-level entries become artifact refs under
// <root>/namespaces/<ns>/runs/<uid>/<name>.
//
// Affinity: none. collect_artifacts blocks (hashing, copying); call it off the shards.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/core/result.hpp"

namespace krt::runtimed {

inline constexpr std::size_t max_artifacts = 32;
inline constexpr std::size_t max_artifact_name_bytes = 255;

struct filesystem_store {
  std::string root = "/var/lib/kruntimes/artifacts";
  std::string volume_claim;
};

struct artifact_limits {
  std::uint64_t max_artifact_bytes = 1ull << 30;
  std::uint64_t max_total_bytes = 10ull << 30;
};

struct artifact_error {
  bool transient = false;  // false → ArtifactInvalid
  std::string message;
};

// Top-level entries of staging_dir sorted by name: regular files stored as
// type "file", directories as a deterministic tar.gz of type "directory". On
// any failure everything stored for the Run is deleted. A missing staging
// directory yields no artifacts.
//
// Run code owns staging_dir: no symbolic link is followed anywhere below
// `trusted_root` (runtimed's workspace directory; with an empty root, only
// staging_dir's last component is checked), and every entry is read through
// descriptors opened relative to its directory, so swapping a component for
// a link mid-collection cannot make runtimed read outside it.
krt::result<std::vector<api::artifact_ref>, artifact_error> collect_artifacts(
    const std::string& staging_dir, const filesystem_store& store, std::string_view ns,
    std::string_view uid, const artifact_limits& limits, const std::string& trusted_root = {});

void delete_run_artifacts(const filesystem_store& store, std::string_view ns, std::string_view uid);

// The absolute path of a stored artifact, or an error for an invalid name or
// a missing artifact.
krt::result<std::string, std::string> artifact_path(const filesystem_store& store, std::string_view ns,
                                                    std::string_view uid, std::string_view name);

// Whether `name` is a valid artifact name (UTF-8, ≤255 bytes, no / or \, not . or ..).
bool valid_artifact_name(std::string_view name);

// The store-relative location "namespaces/<ns>/runs/<uid>/<name>".
std::string artifact_relative_path(std::string_view ns, std::string_view uid, std::string_view name);

// Writes a byte-for-byte deterministic gzip-compressed ustar/pax archive of
// the directory `dir` (entries named relative to it, sorted, owner and times
// zeroed) to `out_path`. Symlinks and special files inside are errors.
krt::result<void, std::string> write_tar_gz(const std::string& dir, const std::string& out_path);

}  // namespace krt::runtimed
