#pragma once
// The scheduler's placement core (SPEC §3): what to do with a Run, the pods
// of one pool ((namespace, runtime)) with their capacity and usage, the
// filters, LeastLoaded scoring and the deterministic tie-break, and the
// status edits the scheduler writes. No I/O and no clocks: callers pass `now`.
//
// A placement decision costs O(pods in the pool); it never looks at other
// Runs (usage is kept incrementally from assigned Runs and reservations).
//
// Affinity: none (value types; a pool belongs to the shard that owns it).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/pod.hpp"
#include "lib/api/types.hpp"

namespace krt::scheduler {

using resource_map = std::map<std::string, std::int64_t>;

// Heartbeats older than this make a pod unavailable (SPEC §3, hard-coded in Go).
inline constexpr std::chrono::microseconds heartbeat_stale_after = std::chrono::seconds{15};

// ------------------------------------------------------------ reconcile step

enum class action_kind { skip, cancel, invalid, hold, place };

struct action {
  action_kind kind = action_kind::skip;
  std::string message;          // invalid: the InvalidResources message
  wall_time hold_until{};       // hold: when the retry backoff is over
  resource_map requests;        // place: effective requests
};

// SPEC §3 steps 1–4 for one Run at `now`.
action decide(const api::run& r, wall_time now);

// ------------------------------------------------------------ filters

enum class rejection { pod_not_running, pod_terminating, pod_not_ready, heartbeat_stale, unknown_resource,
                       insufficient_capacity };
std::string_view to_string(rejection r);

// ------------------------------------------------------------ pool

struct placement {
  std::optional<std::string> pod;  // the chosen pod's name
  std::string pod_uid;
  std::map<rejection, int> rejections;  // per filtered-out pod
  std::size_t candidates = 0;
};

class pool {
 public:
  // Adds or replaces a pod. Returns true when the change may let a waiting
  // Run fit: the pod is new and available, became available, or its
  // capacity changed.
  bool upsert_pod(const api::pod_view& p, wall_time now);
  // Removes a pod (usage recorded against its name stays until its Runs go).
  void remove_pod(const std::string& name);

  // A Run the informer shows holding capacity (Scheduled/Running/Ready with
  // assignedPod). Replaces the Run's reservation, if any.
  void set_assigned(const std::string& uid, const std::string& pod, const resource_map& req);
  // The Run no longer holds capacity. Returns true if it did.
  bool clear_assigned(const std::string& uid);
  bool is_assigned(const std::string& uid) const { return assigned_.contains(uid); }

  // In-flight assignment: capacity held until the informer shows the Run
  // assigned (set_assigned) or the write fails (release).
  void reserve(const std::string& uid, const std::string& pod, const resource_map& req);
  bool release(const std::string& uid);
  bool is_reserved(const std::string& uid) const { return reserved_.contains(uid); }

  // Filters and scores every pod of the pool for `req`; O(pods).
  placement place(const resource_map& req, wall_time now) const;

  // The earliest future moment at which a currently fresh heartbeat goes
  // stale (availability changes without an event), if any.
  std::optional<wall_time> next_heartbeat_expiry(wall_time now) const;

  std::size_t pod_count() const { return pods_.size(); }
  std::size_t available_pods(wall_time now) const;
  resource_map usage_of(const std::string& pod) const;
  resource_map capacity_of(const std::string& pod) const;
  // How many pods place() has examined since construction (tests).
  std::uint64_t pods_examined() const { return examined_; }

 private:
  struct pod_entry {
    api::pod_view pod;
    resource_map capacity;
  };
  struct holding {
    std::string pod;
    resource_map req;
  };
  void add_usage(const holding& h, std::int64_t sign);

  std::map<std::string, pod_entry> pods_;  // by name (ordered: tie-break)
  std::map<std::string, holding> assigned_;  // by Run UID
  std::map<std::string, holding> reserved_;  // by Run UID
  std::map<std::string, resource_map> usage_;  // by pod name
  mutable std::uint64_t examined_ = 0;
};

// Whether `req` fits a pod with `capacity` and `usage`; the rejection if not.
std::optional<rejection> check_fit(const resource_map& req, const resource_map& capacity, const resource_map& usage);

// True when `a` asks for at least as much of every resource `b` asks for.
// Within one pass over a pool usage only grows, so a request that dominates
// one that found no pod finds none either (the pass skips the filter).
bool dominates(const resource_map& a, const resource_map& b);

// LeastLoaded (SPEC §3 step 8) over already-filtered candidates: ratio per
// advertised resource = (usage+request)/capacity; rank by (max ratio, sum of
// ratios); tied groups share the score (n−1−groupStart)·100/(n−1); one
// candidate scores 100.
struct candidate {
  std::string name;
  resource_map capacity;
  resource_map usage;
};
std::vector<std::int64_t> least_loaded_scores(const std::vector<candidate>& cands, const resource_map& req);
// Index of the winner: highest score, ties to the smallest name. -1 if empty.
int pick(const std::vector<candidate>& cands, const std::vector<std::int64_t>& scores);

// ------------------------------------------------------------ status edits

std::string waiting_message(std::string_view runtime);
// The Run with the status the scheduler writes (metadata kept, so the
// resourceVersion precondition goes with it).
api::run with_assignment(const api::run& r, const std::string& pod, const std::string& pod_uid, wall_time now);
api::run with_cancelled(const api::run& r, wall_time now);
api::run with_invalid(const api::run& r, const std::string& message, wall_time now);
api::run with_message(const api::run& r, const std::string& message);

// The pool a Run or pod belongs to: "namespace/runtime".
std::string pool_key(std::string_view ns, std::string_view runtime);

}  // namespace krt::scheduler
