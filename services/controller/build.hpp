#pragma once
// The pure half of the Runtime controller (SPEC §6, docs/run-path.md): from a
// Runtime to the objects it owns — Deployment (with the injected runtimed
// container), ServiceAccount, Role, RoleBinding and NetworkPolicy — as
// Boost.JSON documents, and the comparison that decides whether an existing
// object needs an update.
//
// Affinity: none (pure functions).

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/core/result.hpp"

namespace krt::controller {

namespace bj = boost::json;

// Values from the command line that shape what is built (SPEC §10).
struct build_options {
  std::string default_daemon_image;           // --default-daemon-image
  std::string runtimed_service_account_name;  // --runtimed-service-account-name
};

inline constexpr std::string_view fallback_daemon_image = "kruntimes/runtimed:0.1.0";
inline constexpr std::string_view fallback_service_account = "kruntimes-runtimed";
inline constexpr std::string_view runtimed_role_name = "kruntimes-runtimed";
inline constexpr std::string_view runtimed_container_name = "runtimed";
inline constexpr std::string_view runtime_container_name = "runtime";
inline constexpr std::string_view workspace_volume = "workspace";
inline constexpr std::string_view workspace_path = "/workspace";
inline constexpr std::string_view artifact_volume = "artifact-store";
inline constexpr std::string_view artifact_root = "/var/lib/kruntimes/artifacts";
// Only runtimed gets API credentials: the pod does not automount the service
// account token, and this projected volume (token, CA, namespace) is mounted
// into runtimed alone, so code in a Run cannot use runtimed's rights.
inline constexpr std::string_view api_access_volume = "kruntimes-api-access";
inline constexpr std::string_view api_access_path = "/var/run/secrets/kubernetes.io/serviceaccount";
inline constexpr std::int64_t runtimed_health_port = 9094;
inline constexpr std::int64_t artifact_fs_group = 65532;

// "runtime-<name>": the Deployment and the NetworkPolicy.
std::string deployment_name(const api::runtime& rt);
// runtime=<name>, app=kruntimes-<name>.
bj::object selector_labels(const api::runtime& rt);
// The template's serviceAccountName, else the flag, else kruntimes-runtimed.
std::string service_account_for(const api::runtime& rt, const build_options& o);
// spec.daemonImage, else the flag, else kruntimes/runtimed:0.1.0.
std::string daemon_image_for(const api::runtime& rt, const build_options& o);
// "kruntimes-runtimed-<sa>", cut to 63 characters with a hash suffix when longer.
std::string role_binding_name(std::string_view service_account);
// The Runtime as a controlling owner (controller=true, blockOwnerDeletion=true).
bj::object owner_reference_for(const api::runtime& rt);

// runtimed's command line (docs/run-path.md: addresses from $(POD_IP) and
// the pod UID, not SPEC's 127.0.0.1).
std::vector<std::string> runtimed_args(const api::runtime& rt);

// The Deployment; an error when the template is missing or is not a JSON
// object (validation normally catches that first).
krt::result<bj::object, std::string> build_deployment(const api::runtime& rt, const build_options& o);
bj::object build_service_account(std::string_view ns, std::string_view name);
bj::object build_role(std::string_view ns);
bj::object build_role_binding(std::string_view ns, std::string_view service_account);
bj::object build_network_policy(const api::runtime& rt);

// True when every field set in `desired` has the same value in `current`:
// objects compare key by key (extra keys in `current` are server defaults and
// are ignored), arrays element by element with equal lengths, scalars by
// value (numbers by value). This is how we avoid update loops on fields the
// API server fills in.
bool covers(const bj::value& desired, const bj::value& current);

// Whether `current` must be updated to match `desired` (built above): our
// labels, our owner reference when `owner_uid` is set, and every top-level
// field other than apiVersion/kind/metadata/status (covers()); a
// Deployment's pod labels and annotations compare exactly, so removing one
// from the template rolls the pods too.
bool needs_update(const bj::object& desired, const bj::object& current, std::string_view owner_uid);
// `current` with our labels merged in, our owner reference (others kept) and
// every top-level field of `desired` replaced; resourceVersion kept, so the
// update is conditional.
bj::object merged_for_update(const bj::object& desired, const bj::object& current, std::string_view owner_uid);
// The uid of another object that controls `current`, or "" (none, or us).
std::string foreign_controller(const bj::object& current, std::string_view owner_uid);

}  // namespace krt::controller
