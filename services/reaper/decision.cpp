#include "services/reaper/decision.hpp"

#include <algorithm>

#include "lib/api/phase.hpp"
#include "lib/api/retry.hpp"
#include "lib/core/time.hpp"

namespace krt::reaper {

namespace {

constexpr std::chrono::microseconds tick{1};

verdict stale(std::string_view reason, std::string_view msg, std::optional<wall_time> since = std::nullopt) {
  verdict v;
  v.stale = true;
  v.reason = reason;
  v.message = msg;
  v.stale_since = since;
  return v;
}

verdict healthy_until(wall_time recheck) {
  verdict v;
  v.recheck_at = recheck;
  return v;
}

// Sets a condition with lastTransitionTime = now whatever it was before: the
// reaper's write is a new transition even when the status was already False
// (e.g. runtimed had scheduled an in-pod retry when the pod died).
void set_condition_now(std::vector<kube::condition>& conds, std::string_view type, std::string_view reason,
                       std::string_view msg, wall_time now) {
  kube::condition c;
  c.type = type;
  c.status = "False";
  c.reason = reason;
  c.message = msg;
  c.last_transition_time = now;
  api::set_condition(conds, c, now);
  for (auto& existing : conds)
    if (existing.type == type) existing.last_transition_time = now;
}

std::int32_t max_attempts(const std::optional<api::retry_policy>& p) {
  return p && p->max_attempts && *p->max_attempts > 0 ? *p->max_attempts : 1;
}

}  // namespace

bool watched(const api::run& r) {
  if (r.metadata.deletion_timestamp || r.status.assigned_pod.empty()) return false;
  auto p = api::parse_phase(r.status.phase_text);
  return p && api::is_assigned_phase(*p);
}

std::string pod_key(const api::run& r) { return r.metadata.namespace_ + "/" + r.status.assigned_pod; }

verdict check_pod(const api::run& r, const api::pod_view* pod, wall_time now, std::chrono::microseconds threshold) {
  if (pod == nullptr) return stale(api::reason::pod_gone, message::pod_deleted);
  if (!r.status.assigned_pod_uid.empty() && r.status.assigned_pod_uid != pod->metadata.uid)
    return stale(api::reason::pod_gone, message::pod_replaced);
  if (pod->metadata.deletion_timestamp)
    return stale(api::reason::pod_terminating, message::pod_terminating, pod->metadata.deletion_timestamp);
  const kube::condition* ready = api::pod_condition(*pod, "Ready");
  // No Ready condition yet: the pod is still starting (SPEC §7 step 6).
  if (ready == nullptr) return healthy_until(now + threshold);
  if (ready->status != "True") {
    if (!ready->last_transition_time) return stale(api::reason::pod_unhealthy, message::pod_not_ready);
    wall_time until = *ready->last_transition_time + threshold;
    if (now > until) return stale(api::reason::pod_unhealthy, message::pod_not_ready, until);
    return healthy_until(until + tick);
  }
  if (!api::heartbeat_fresh(*pod, now, threshold)) {
    const kube::condition* hb = api::pod_condition(*pod, api::heartbeat_condition);
    std::optional<wall_time> since;
    if (hb != nullptr && hb->status == "True" && hb->last_probe_time) since = *hb->last_probe_time + threshold;
    return stale(api::reason::pod_unhealthy, message::heartbeat_stale, since);
  }
  // Fresh: it goes stale once the latest heartbeat is older than threshold.
  const kube::condition* hb = api::pod_condition(*pod, api::heartbeat_condition);
  return healthy_until(*hb->last_probe_time + threshold + tick);
}

std::string_view to_string(action a) {
  switch (a) {
    case action::retried: return "retried";
    case action::failed: return "failed";
    case action::rescheduled: return "rescheduled";
  }
  return "failed";
}

action decide(const api::run& r, std::string_view reason) {
  if (api::phase_of(r.status) == api::phase::scheduled) return action::rescheduled;
  return api::should_retry(r.spec.retry, r.status.attempt, reason) ? action::retried : action::failed;
}

api::run with_stale(const api::run& r, action a, std::string_view reason, std::string_view msg, wall_time now) {
  api::run out = r;
  api::run_status& s = out.status;
  switch (a) {
    case action::retried:
      s.phase_text = api::to_string(api::phase::pending);
      s.attempt = std::max(1, s.attempt) + 1;
      s.assigned_pod.clear();
      s.assigned_pod_uid.clear();
      s.start_time.reset();
      set_condition_now(s.conditions, api::condition_type::running, reason, msg, now);
      break;
    case action::failed:
      s.attempt = std::max(1, s.attempt);
      api::set_terminal(s, api::phase::failed, reason, msg, now);
      break;
    case action::rescheduled:
      s.phase_text = api::to_string(api::phase::pending);
      s.assigned_pod.clear();
      s.assigned_pod_uid.clear();
      s.start_time.reset();
      set_condition_now(s.conditions, api::condition_type::scheduled, reason, msg, now);
      break;
  }
  return out;
}

event_text stale_event(const api::run& before, const api::run& after, action a, std::string_view reason,
                       std::string_view msg) {
  std::string what = "runtime pod " + before.status.assigned_pod + " is stale (" + std::string(reason) + ": " +
                     std::string(msg) + ")";
  switch (a) {
    case action::retried: {
      auto backoff = api::retry_backoff(after.spec.retry, after.status.attempt);
      return {"Warning", "StaleRunRetrying",
              what + "; retrying as attempt " + std::to_string(after.status.attempt) + " of " +
                  std::to_string(max_attempts(after.spec.retry)) + " after a " + format_go_duration(backoff) +
                  " backoff"};
    }
    case action::failed:
      return {"Warning", "StaleRunFailed", what + "; the Run failed without another attempt"};
    case action::rescheduled:
      return {"Normal", "StaleRunRescheduled",
              what + " before the Run was claimed; back to Pending for another pod (attempt unchanged)"};
  }
  return {"Warning", "StaleRunFailed", what};
}

bool pod_change_matters(const api::pod_view& old_p, const api::pod_view& cur) {
  if (old_p.metadata.uid != cur.metadata.uid) return true;
  if (old_p.metadata.deletion_timestamp != cur.metadata.deletion_timestamp) return true;
  const kube::condition* r0 = api::pod_condition(old_p, "Ready");
  const kube::condition* r1 = api::pod_condition(cur, "Ready");
  if ((r0 == nullptr) != (r1 == nullptr)) return true;
  if (r0 != nullptr && (r0->status != r1->status || r0->last_transition_time != r1->last_transition_time))
    return true;
  const kube::condition* h0 = api::pod_condition(old_p, api::heartbeat_condition);
  const kube::condition* h1 = api::pod_condition(cur, api::heartbeat_condition);
  if (h1 == nullptr) return h0 != nullptr;
  if (h0 == nullptr) return false;  // a first heartbeat only helps
  if (h0->status != h1->status) return true;
  if (!h1->last_probe_time) return h0->last_probe_time.has_value();
  return h0->last_probe_time && *h1->last_probe_time < *h0->last_probe_time;
}

}  // namespace krt::reaper
