#pragma once
// Kubernetes API machinery types we decode and encode ourselves: ObjectMeta,
// ListMeta, Condition, Status, Lease, and the resource descriptor that turns
// (group, version, plural, namespace, name) into a URL path.
//
// Affinity: none (value types).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/time.hpp"

namespace krt::json {
class writer;
}

namespace krt::kube {

struct owner_reference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;
  bool operator==(const owner_reference&) const = default;
};

struct object_meta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  std::optional<wall_time> creation_timestamp;
  std::optional<wall_time> deletion_timestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::vector<owner_reference> owner_references;
  bool operator==(const object_meta&) const = default;
};

// "namespace/name", or "name" for cluster-scoped objects: the cache key.
std::string key_of(const object_meta& m);

struct list_meta {
  std::string resource_version;
  std::string continue_token;
  std::optional<std::int64_t> remaining_item_count;
};

// metav1.Condition (and the pod-condition shape, which adds lastProbeTime).
struct condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::optional<wall_time> last_transition_time;
  std::optional<wall_time> last_probe_time;
  std::int64_t observed_generation = 0;
  bool operator==(const condition&) const = default;
};

struct status_cause {
  std::string reason;
  std::string message;
  std::string field;
};

// metav1.Status, as returned in error bodies and watch ERROR events.
struct status {
  std::string status;  // "Success" | "Failure"
  std::string message;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, Expired, Gone, ...
  std::int32_t code = 0;
  std::string details_name;
  std::string details_kind;
  std::vector<status_cause> causes;
  std::int32_t retry_after_seconds = 0;
};

// coordination.k8s.io/v1 Lease (leader election, per-partition ownership).
struct lease {
  object_meta metadata;
  std::string holder_identity;
  std::int32_t lease_duration_seconds = 0;
  std::optional<wall_time> acquire_time;
  std::optional<wall_time> renew_time;
  std::int32_t lease_transitions = 0;
};

// A resource type as the API serves it.
struct resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // "runs"
  std::string kind;     // "Run"
  bool namespaced = true;

  std::string api_version() const;  // "v1" or "group/version"
  // Collection or object path: /api/v1/namespaces/ns/pods[/name[/sub]].
  // An empty namespace on a namespaced resource addresses all namespaces.
  std::string path(std::string_view ns, std::string_view name = {},
                   std::string_view subresource = {}) const;
};

namespace resources {
extern const resource pods;
extern const resource events;
extern const resource leases;
extern const resource namespaces;
}  // namespace resources

// Encoders (used for creates, updates and patches).
void encode(json::writer& w, const object_meta& m);
void encode(json::writer& w, const condition& c);
void encode(json::writer& w, const lease& l);

}  // namespace krt::kube
