#pragma once
// A Runtime Pod as the scheduler, runtimed and the reaper see it: the facts
// of a core/v1 Pod that decide whether it may take Runs (SPEC §3 step 6,
// §7). The rest of the Pod is not decoded.
//
// Affinity: none (value types).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/time.hpp"
#include "lib/kube/codec.hpp"
#include "lib/kube/types.hpp"

namespace krt::api {

struct pod_view {
  kube::object_meta metadata;
  std::string node_name;
  std::string phase;   // status.phase: Pending | Running | Succeeded | Failed | Unknown
  std::string pod_ip;  // status.podIP
  std::vector<kube::condition> conditions;  // status.conditions
};

// Condition lookups on status.conditions.
const kube::condition* pod_condition(const pod_view& p, std::string_view type);
bool pod_ready(const pod_view& p);  // PodReady ("Ready") is True

// The heartbeat is fresh: kruntimes.io/RuntimedReady is True and its
// lastProbeTime is no older than stale_after at `now` (SPEC §3: 15 s).
bool heartbeat_fresh(const pod_view& p, wall_time now, std::chrono::microseconds stale_after);

// SPEC §3 RuntimePodAvailability, without the capacity fit: phase Running,
// not deleting, PodReady True, heartbeat fresh.
bool pod_available(const pod_view& p, wall_time now, std::chrono::microseconds stale_after);

}  // namespace krt::api

namespace krt::kube {
template <>
const type_codec& codec_of<api::pod_view>();
}  // namespace krt::kube
