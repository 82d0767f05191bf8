#pragma once
// The pure half of TTL deletion and artifact cleanup (SPEC §8): when a
// finished Run is due for deletion, and the objects of the runtime
// maintainer that cleans a namespace's filesystem artifact store —
// ServiceAccount, Role, RoleBinding and Deployment `runtime-maintainer-<hash>`.
//
// Affinity: none (pure functions).

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"

namespace krt::controller {

namespace bj = boost::json;

inline constexpr std::string_view maintainer_name = "kruntimes-runtime-maintainer";  // SA, Role, RoleBinding
inline constexpr std::string_view maintainer_deployment_prefix = "runtime-maintainer-";
inline constexpr std::string_view maintainer_container = "cleaner";
inline constexpr std::string_view fallback_maintainer_image = "kruntimes/maintainer:0.1.0";
inline constexpr std::string_view store_hash_label = "kruntimes.io/artifact-store-hash";

// Values from the command line (SPEC §10).
struct maintainer_options {
  std::string image;                     // --runtime-maintainer-image ("" → fallback)
  std::vector<std::string> pull_secrets;  // --runtime-maintainer-image-pull-secrets
};

// When a Run is due for TTL deletion: completionTime + ttlSecondsAfterFinished
// for a Run in Succeeded/Failed/Timeout/Cancelled that is not being deleted
// and has a completionTime and a ttl > 0; nullopt otherwise (never).
std::optional<wall_time> ttl_due(const api::run& r);
// Time left until ttl_due at `now` (zero or negative: delete now); nullopt: never.
std::optional<std::chrono::microseconds> ttl_remaining(const api::run& r, wall_time now);

bool has_cleanup_finalizer(const api::run& r);

// "a,b, c" → {"a","b","c"} (empty items dropped).
std::vector<std::string> split_list(std::string_view flag_value);

std::string maintainer_deployment_name(std::string_view store_hash);
bj::object build_maintainer_service_account(std::string_view ns);
// Exactly what kruntimes-maintainer does in its namespace: list Runs and
// patch away their finalizer; record Events.
bj::object build_maintainer_role(std::string_view ns);
bj::object build_maintainer_role_binding(std::string_view ns);
// The Deployment for a filesystem store; empty object for any other driver
// (the maintainer cleans only filesystem stores so far).
bj::object build_maintainer_deployment(std::string_view ns, const api::artifact_store_spec& store,
                                       const maintainer_options& o);
// The maintainer's command line for a filesystem store.
std::vector<std::string> maintainer_args(std::string_view ns, std::string_view store_hash,
                                         std::string_view volume_claim);

}  // namespace krt::controller
