#pragma once
// What the artifact maintainer deletes (SPEC §8), kept free of networking so
// it is tested on its own: which Runs are ours to clean, the run directory
// <root>/namespaces/<ns>/runs/<uid> and how to delete it without leaving the
// root, the orphan directories no Run owns, and the patch that drops our
// finalizer.
//
// Affinity: none. The filesystem functions block; the maintainer has nothing
// else to do on its one shard while they run.

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/core/result.hpp"

namespace krt::maintainer {

// A single path component we accept from the API (namespace, uid): not
// empty, not "." or "..", no '/', '\\' or NUL, at most 253 bytes.
bool valid_segment(std::string_view s);

// <root>/namespaces/<ns>/runs
std::filesystem::path runs_dir(const std::string& root, std::string_view ns);

// A Run is ours when it is being deleted, carries
// kruntimes.io/artifact-cleanup and its status.artifactStore hashes to
// `store_hash`.
bool should_clean(const api::run& r, std::string_view store_hash);

// Deletes <root>/namespaces/<ns>/runs/<uid> and everything below it. Refuses
// invalid segments and any symlink among namespaces/, <ns>/ and runs/ (so the
// deletion cannot leave the root); a symlink at <uid> itself is removed, not
// followed (nor are symlinks inside). Returns whether anything was there.
krt::result<bool, std::string> remove_run_dir(const std::string& root, std::string_view ns, std::string_view uid);

// Entries of runs_dir(root, ns) whose name is not in `live` and whose
// modification time (of the entry itself, not a symlink's target) is older
// than now - grace. Sorted by name; an absent directory yields none.
std::vector<std::string> find_orphans(const std::string& root, std::string_view ns, const std::set<std::string>& live,
                                      std::chrono::system_clock::time_point now, std::chrono::seconds grace);

// JSON merge patch that removes kruntimes.io/artifact-cleanup and keeps the
// other finalizers, conditional on the Run's resourceVersion.
std::string finalizer_removal_patch(const api::run& r);

}  // namespace krt::maintainer
