#pragma once
// The Run phase machine (SPEC §2) as code: names, terminal phases, the legal
// transitions and who may make them, and the status edits every writer shares
// (conditions with meta.SetStatusCondition semantics, SetTerminal).
//
// Affinity: none (pure functions on values).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"

namespace krt::api {

std::string_view to_string(phase p);
// "" is Pending (every Go controller reads it so); unknown text → nullopt.
std::optional<phase> parse_phase(std::string_view s);
phase phase_of(const run_status& s);  // unknown text reads as Pending
bool is_terminal(phase p);
bool is_assigned_phase(phase p);  // Scheduled, Running, Ready: holds pod capacity

// Whether a Run may move from one phase to another (SPEC §2, plus our
// deliberate differences: the reaper also recovers Scheduled Runs).
bool is_legal_transition(phase from, phase to);

// Condition types and reasons (SPEC §1).
namespace condition_type {
inline constexpr std::string_view scheduled = "Scheduled";
inline constexpr std::string_view running = "Running";
inline constexpr std::string_view completed = "Completed";
inline constexpr std::string_view ready = "Ready";
}  // namespace condition_type

namespace reason {
inline constexpr std::string_view assigned = "Assigned";
inline constexpr std::string_view claimed = "Claimed";
inline constexpr std::string_view retrying = "Retrying";
inline constexpr std::string_view completed = "Completed";
inline constexpr std::string_view run_completed = "RunCompleted";
inline constexpr std::string_view timeout = "Timeout";
inline constexpr std::string_view prepare_source = "PrepareSource";
inline constexpr std::string_view runtime_execute = "RuntimeExecute";
inline constexpr std::string_view runtime_error = "RuntimeError";
inline constexpr std::string_view execution_lost = "ExecutionLost";
inline constexpr std::string_view cancelled = "Cancelled";
inline constexpr std::string_view pod_gone = "PodGone";
inline constexpr std::string_view pod_terminating = "PodTerminating";
inline constexpr std::string_view pod_unhealthy = "PodUnhealthy";
inline constexpr std::string_view outputs_invalid = "OutputsInvalid";
inline constexpr std::string_view outputs_too_large = "OutputsTooLarge";
inline constexpr std::string_view artifact_invalid = "ArtifactInvalid";
inline constexpr std::string_view invalid_resources = "InvalidResources";
}  // namespace reason

// The failure reasons of SPEC §1 (what retryableReasons may name).
const std::vector<std::string_view>& failure_reasons();
// Timeout → phase Timeout; Cancelled → Cancelled; every other reason → Failed.
phase phase_for_failure(std::string_view reason);

const kube::condition* find_condition(const std::vector<kube::condition>& conds, std::string_view type);
// meta.SetStatusCondition: lastTransitionTime changes only when status does;
// reason, message and observedGeneration are always updated. Returns true if
// anything changed.
bool set_condition(std::vector<kube::condition>& conds, kube::condition c, wall_time now);

// SPEC §2 SetTerminal: phase, message, completionTime=now,
// Running=False(reason,msg), Completed=False(reason,msg).
void set_terminal(run_status& s, phase p, std::string_view reason, std::string_view message, wall_time now);
// The success terminal of SPEC §2 (Running → Succeeded).
void set_succeeded(run_status& s, wall_time now);

}  // namespace krt::api
