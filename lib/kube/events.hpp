#pragma once
// Kubernetes Events (core/v1) for user-visible decisions: "no runtime pod
// fits", "retrying", "stale run failed". Best effort: a failed event write is
// returned to the caller, which logs it and goes on; it never blocks a Run.
//
// Affinity: per-shard (uses the shard's client).
#include <string>
#include <string_view>

#include "lib/kube/client.hpp"
#include "lib/kube/types.hpp"

namespace krt::kube {

struct object_reference {
  std::string api_version;  // "kruntimes.io/v1alpha1"
  std::string kind;         // "Run"
  std::string namespace_;
  std::string name;
  std::string uid;
};

inline object_reference reference_to(const object_meta& m, std::string api_version, std::string kind) {
  return object_reference{std::move(api_version), std::move(kind), m.namespace_, m.name, m.uid};
}

struct event_source {
  std::string component;  // "kruntimes-scheduler"
  std::string host;       // optional
};

// Body of a core/v1 Event (name "<object>.<unique hex>", count 1,
// firstTimestamp = lastTimestamp = eventTime = now). Exposed for tests.
std::string encode_event(const object_reference& about, std::string_view type, std::string_view reason,
                         std::string_view message, const event_source& source, wall_time now);

// Creates the Event in the object's namespace. type is "Normal" or "Warning".
awaitable<result<void>> record_event(client& c, const object_reference& about, std::string_view type,
                                     std::string_view reason, std::string_view message,
                                     const event_source& source);

}  // namespace krt::kube
