#include "lib/api/phase.hpp"

namespace krt::api {

std::string_view to_string(phase p) {
  switch (p) {
    case phase::pending: return "Pending";
    case phase::scheduled: return "Scheduled";
    case phase::running: return "Running";
    case phase::ready: return "Ready";
    case phase::succeeded: return "Succeeded";
    case phase::failed: return "Failed";
    case phase::timeout: return "Timeout";
    case phase::cancelled: return "Cancelled";
  }
  return "Pending";
}

std::optional<phase> parse_phase(std::string_view s) {
  if (s.empty() || s == "Pending") return phase::pending;
  if (s == "Scheduled") return phase::scheduled;
  if (s == "Running") return phase::running;
  if (s == "Ready") return phase::ready;
  if (s == "Succeeded") return phase::succeeded;
  if (s == "Failed") return phase::failed;
  if (s == "Timeout") return phase::timeout;
  if (s == "Cancelled") return phase::cancelled;
  return std::nullopt;
}

phase phase_of(const run_status& s) { return parse_phase(s.phase_text).value_or(phase::pending); }

bool is_terminal(phase p) {
  return p == phase::succeeded || p == phase::failed || p == phase::timeout || p == phase::cancelled;
}

bool is_assigned_phase(phase p) { return p == phase::scheduled || p == phase::running || p == phase::ready; }

bool is_legal_transition(phase from, phase to) {
  if (is_terminal(from)) return false;  // terminal phases are final
  switch (from) {
    case phase::pending:
      // wait message (Pending→Pending), assignment, cancel, invalid resources
      return to == phase::pending || to == phase::scheduled || to == phase::cancelled || to == phase::failed;
    case phase::scheduled:
      // claim, cancel before claim, reaper retry/fail (ours), prepare failure
      return to == phase::running || to == phase::ready || to == phase::cancelled || to == phase::pending ||
             to == phase::failed;
    case phase::running:
      // in-pod retry keeps Running; terminals; reaper retry back to Pending
      return to == phase::running || to == phase::succeeded || to == phase::failed || to == phase::timeout ||
             to == phase::cancelled || to == phase::pending;
    case phase::ready:
      return to == phase::ready || to == phase::succeeded || to == phase::failed || to == phase::timeout ||
             to == phase::cancelled || to == phase::pending;
    default:
      return false;
  }
}

const std::vector<std::string_view>& failure_reasons() {
  static const std::vector<std::string_view> r = {
      reason::timeout,         reason::prepare_source,  reason::runtime_execute,  reason::runtime_error,
      reason::execution_lost,  reason::cancelled,       reason::pod_gone,         reason::pod_terminating,
      reason::pod_unhealthy,   reason::outputs_invalid, reason::outputs_too_large, reason::artifact_invalid,
      reason::invalid_resources};
  return r;
}

phase phase_for_failure(std::string_view r) {
  if (r == reason::timeout) return phase::timeout;
  if (r == reason::cancelled) return phase::cancelled;
  return phase::failed;
}

const kube::condition* find_condition(const std::vector<kube::condition>& conds, std::string_view type) {
  for (const auto& c : conds)
    if (c.type == type) return &c;
  return nullptr;
}

bool set_condition(std::vector<kube::condition>& conds, kube::condition c, wall_time now) {
  for (auto& existing : conds) {
    if (existing.type != c.type) continue;
    bool changed = false;
    if (existing.status != c.status) {
      existing.status = c.status;
      existing.last_transition_time = c.last_transition_time ? c.last_transition_time : now;
      changed = true;
    }
    if (existing.reason != c.reason) {
      existing.reason = std::move(c.reason);
      changed = true;
    }
    if (existing.message != c.message) {
      existing.message = std::move(c.message);
      changed = true;
    }
    if (existing.observed_generation != c.observed_generation) {
      existing.observed_generation = c.observed_generation;
      changed = true;
    }
    return changed;
  }
  if (!c.last_transition_time) c.last_transition_time = now;
  conds.push_back(std::move(c));
  return true;
}

namespace {
kube::condition make(std::string_view type, std::string_view status, std::string_view reason, std::string_view msg) {
  kube::condition c;
  c.type = type;
  c.status = status;
  c.reason = reason;
  c.message = msg;
  return c;
}
}  // namespace

void set_terminal(run_status& s, phase p, std::string_view why, std::string_view message, wall_time now) {
  s.phase_text = to_string(p);
  s.message = message;
  s.completion_time = now;
  set_condition(s.conditions, make(condition_type::running, "False", why, message), now);
  set_condition(s.conditions, make(condition_type::completed, "False", why, message), now);
}

void set_succeeded(run_status& s, wall_time now) {
  s.phase_text = to_string(phase::succeeded);
  s.message = "execution completed";
  s.completion_time = now;
  s.attempt = std::max(1, s.attempt);
  set_condition(s.conditions, make(condition_type::running, "False", reason::completed, ""), now);
  set_condition(s.conditions, make(condition_type::completed, "True", reason::run_completed, "Completed successfully"), now);
}

}  // namespace krt::api
