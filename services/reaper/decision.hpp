#pragma once
// The stale Run reaper's decision core (SPEC §7 plus our deliberate
// difference: Scheduled Runs on a dead pod go back to Pending). Which Runs it
// watches, the checks on the assigned pod in SPEC order, what to do with a
// stale Run (retry, fail, reschedule), the status it writes and the Event it
// records. No I/O and no clocks: callers pass `now` and the pod they found.
//
// Affinity: none (pure functions on values).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "lib/api/pod.hpp"
#include "lib/api/types.hpp"

namespace krt::reaper {

// --stale-threshold default (SPEC §10, run-path.md "Heartbeat").
inline constexpr std::chrono::microseconds default_stale_threshold = std::chrono::seconds{30};

// The messages of SPEC §7, word for word (users and tests match on them).
namespace message {
inline constexpr std::string_view pod_deleted = "assigned pod was deleted";
inline constexpr std::string_view pod_replaced = "assigned pod was replaced";
inline constexpr std::string_view pod_terminating = "assigned pod is terminating";
inline constexpr std::string_view pod_not_ready = "assigned pod is not ready";
inline constexpr std::string_view heartbeat_stale = "assigned pod runtimed heartbeat is stale";
}  // namespace message

// The reaper looks after a Run in phase Scheduled, Running or Ready with
// status.assignedPod set that is not being deleted. Everything else
// (Pending, terminal, deleting) is left alone.
bool watched(const api::run& r);

// "namespace/assignedPod": the cache key of the Run's pod.
std::string pod_key(const api::run& r);

struct verdict {
  bool stale = false;
  std::string_view reason;   // stale: PodGone | PodTerminating | PodUnhealthy
  std::string_view message;  // stale: one of `message::*`
  // Healthy: the earliest moment the pod could become stale without any
  // change to it (a heartbeat or a not-ready period running out); re-check
  // then. Always later than `now`.
  std::optional<wall_time> recheck_at;
  // Stale: when the pod became stale, if the objects tell (the deletion
  // timestamp, or the moment a not-ready period or a heartbeat ran out).
  std::optional<wall_time> stale_since;
};

// SPEC §7 checks in order, for a watched Run and its pod as found (nullptr:
// not found):
//   1. no pod                                  → PodGone "assigned pod was deleted"
//   2. assignedPodUID set and ≠ the pod's UID  → PodGone "assigned pod was replaced"
//   3. deletionTimestamp set                   → PodTerminating
//   4. Ready ≠ True for longer than threshold  → PodUnhealthy "… is not ready"
//      (a missing lastTransitionTime counts as long ago)
//   5. Ready = True and RuntimedReady missing, not True, without
//      lastProbeTime or older than threshold   → PodUnhealthy "… heartbeat is stale"
//   6. otherwise (including no Ready condition at all) healthy.
// "Longer than" is strict: an age equal to the threshold is not stale, as in
// the scheduler's heartbeat filter. A PodGone verdict from a cache must be
// confirmed with a live read before acting (the cache may lag).
verdict check_pod(const api::run& r, const api::pod_view* pod, wall_time now, std::chrono::microseconds threshold);

enum class action {
  retried,      // Running/Ready → Pending, attempt+1 (retry policy allows)
  failed,       // Running/Ready → Failed (no retry left or not retryable)
  rescheduled,  // Scheduled → Pending, same attempt (nothing ran yet)
};
std::string_view to_string(action a);

// What to do with a stale watched Run: a Scheduled Run is always
// rescheduled (it never consumed a retry); otherwise api::should_retry on
// spec.retryPolicy and status.attempt decides.
action decide(const api::run& r, std::string_view reason);

// The Run with the status the reaper writes (metadata kept, so the
// resourceVersion precondition goes with it):
//   retried:     phase Pending, attempt = max(1, attempt) + 1, assignedPod and
//                assignedPodUID "", startTime removed, Running=False/reason/msg
//                with lastTransitionTime = now (the scheduler's retry backoff
//                counts from it); message unchanged.
//   failed:      SetTerminal(Failed, reason, msg) (message, completionTime,
//                Running=False and Completed=False), attempt = max(1, attempt).
//   rescheduled: phase Pending, attempt unchanged, assignment and startTime
//                cleared, Scheduled=False/reason/msg with lastTransitionTime =
//                now; message unchanged.
api::run with_stale(const api::run& r, action a, std::string_view reason, std::string_view message, wall_time now);

// The Event recorded on the Run (component "stale-reaper"): StaleRunRetrying
// and StaleRunFailed (Warning, as in Go) and StaleRunRescheduled (Normal).
// `before` is the Run as judged (its assigned pod names the culprit), `after`
// the Run as written.
struct event_text {
  std::string_view type;
  std::string_view reason;
  std::string message;
};
event_text stale_event(const api::run& before, const api::run& after, action a, std::string_view reason,
                       std::string_view message);

// Whether a pod update can make a healthy Run on it stale sooner than its
// re-check timer says, so the Runs on it deserve a look now: a new UID, a
// deletion timestamp, a change of the Ready condition, or a heartbeat that
// turned not-True, vanished or went back in time. A plain heartbeat (a later
// lastProbeTime) only makes the pod fresher and is ignored: that is every
// runtime pod every 5 s.
bool pod_change_matters(const api::pod_view& old_p, const api::pod_view& cur);

}  // namespace krt::reaper
