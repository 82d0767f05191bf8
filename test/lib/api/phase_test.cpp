// Tests for lib/api/phase.hpp: phase names, the transition table of SPEC §2,
// meta.SetStatusCondition semantics, SetTerminal and the success terminal.

#include "lib/api/phase.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

namespace krt::api {
namespace {

using namespace std::chrono_literals;

const phase phase_all[] = {phase::pending,   phase::scheduled, phase::running, phase::ready,
                           phase::succeeded, phase::failed,    phase::timeout, phase::cancelled};

wall_time phase_t0() { return wall_time{} + std::chrono::hours{24 * 365 * 56}; }

TEST(ApiPhase, NamesRoundTrip) {
  const std::pair<phase, const char*> names[] = {
      {phase::pending, "Pending"}, {phase::scheduled, "Scheduled"}, {phase::running, "Running"},
      {phase::ready, "Ready"},     {phase::succeeded, "Succeeded"}, {phase::failed, "Failed"},
      {phase::timeout, "Timeout"}, {phase::cancelled, "Cancelled"},
  };
  for (auto [p, name] : names) {
    EXPECT_EQ(to_string(p), name);
    EXPECT_EQ(parse_phase(name), p) << name;
  }
}

TEST(ApiPhase, EmptyIsPendingAndUnknownIsNothing) {
  EXPECT_EQ(parse_phase(""), phase::pending);
  for (auto s : {"pending", "PENDING", "Bogus", " Pending", "Pending ", "Complete"}) EXPECT_FALSE(parse_phase(s)) << s;
  run_status st;
  EXPECT_EQ(phase_of(st), phase::pending);
  st.phase_text = "Running";
  EXPECT_EQ(phase_of(st), phase::running);
  st.phase_text = "Bogus";
  EXPECT_EQ(phase_of(st), phase::pending);
}

TEST(ApiPhase, TerminalAndAssigned) {
  std::set<phase> terminal, assigned;
  for (auto p : phase_all) {
    if (is_terminal(p)) terminal.insert(p);
    if (is_assigned_phase(p)) assigned.insert(p);
  }
  EXPECT_EQ(terminal, (std::set<phase>{phase::succeeded, phase::failed, phase::timeout, phase::cancelled}));
  EXPECT_EQ(assigned, (std::set<phase>{phase::scheduled, phase::running, phase::ready}));
}

// SPEC §2, row by row, plus the deliberate difference that the reaper also
// recovers Scheduled Runs (→ Pending when retryable, → Failed otherwise).
// Ready is function mode (out of scope): the implementation treats it like
// Running, and the table records that.
TEST(ApiPhase, TransitionTableMatchesSpec) {
  using P = phase;
  const std::set<std::pair<P, P>> legal = {
      // scheduler: wait message, assignment, cancel, invalid resources / planning error
      {P::pending, P::pending},
      {P::pending, P::scheduled},
      {P::pending, P::cancelled},
      {P::pending, P::failed},
      // runtimed: cancel before claim, claim (task → Running, function → Ready)
      {P::scheduled, P::cancelled},
      {P::scheduled, P::running},
      {P::scheduled, P::ready},
      // reaper on Scheduled Runs (ours)
      {P::scheduled, P::pending},
      {P::scheduled, P::failed},
      // runtimed: in-pod retry, terminals; reaper: retryable → Pending
      {P::running, P::running},
      {P::running, P::succeeded},
      {P::running, P::failed},
      {P::running, P::timeout},
      {P::running, P::cancelled},
      {P::running, P::pending},
      {P::ready, P::ready},
      {P::ready, P::succeeded},
      {P::ready, P::failed},
      {P::ready, P::timeout},
      {P::ready, P::cancelled},
      {P::ready, P::pending},
  };
  for (auto from : phase_all) {
    for (auto to : phase_all) {
      bool want = legal.count({from, to}) > 0;
      EXPECT_EQ(is_legal_transition(from, to), want) << to_string(from) << " -> " << to_string(to);
    }
  }
}

TEST(ApiPhase, TerminalPhasesAreFinal) {
  for (auto from : phase_all) {
    if (!is_terminal(from)) continue;
    for (auto to : phase_all) EXPECT_FALSE(is_legal_transition(from, to)) << to_string(from) << " -> " << to_string(to);
  }
}

TEST(ApiPhase, NothingSkipsScheduling) {
  for (auto to : {phase::running, phase::ready, phase::succeeded, phase::timeout})
    EXPECT_FALSE(is_legal_transition(phase::pending, to)) << to_string(to);
  EXPECT_FALSE(is_legal_transition(phase::scheduled, phase::succeeded));
  EXPECT_FALSE(is_legal_transition(phase::running, phase::scheduled));
}

TEST(ApiPhase, FailureReasons) {
  const auto& reasons = failure_reasons();
  std::set<std::string_view> got(reasons.begin(), reasons.end());
  EXPECT_EQ(got.size(), reasons.size());  // no duplicates
  EXPECT_EQ(got, (std::set<std::string_view>{"Timeout", "PrepareSource", "RuntimeExecute", "RuntimeError",
                                             "ExecutionLost", "Cancelled", "PodGone", "PodTerminating",
                                             "PodUnhealthy", "OutputsInvalid", "OutputsTooLarge", "ArtifactInvalid",
                                             "InvalidResources"}));
}

TEST(ApiPhase, PhaseForFailure) {
  EXPECT_EQ(phase_for_failure("Timeout"), phase::timeout);
  EXPECT_EQ(phase_for_failure("Cancelled"), phase::cancelled);
  for (auto r : failure_reasons()) {
    if (r == "Timeout" || r == "Cancelled") continue;
    EXPECT_EQ(phase_for_failure(r), phase::failed) << r;
  }
  EXPECT_EQ(phase_for_failure("SomethingNew"), phase::failed);
  EXPECT_EQ(phase_for_failure(""), phase::failed);
}

// ------------------------------------------------------------------ conditions

kube::condition phase_cond(std::string type, std::string status, std::string reason, std::string message) {
  kube::condition c;
  c.type = std::move(type);
  c.status = std::move(status);
  c.reason = std::move(reason);
  c.message = std::move(message);
  return c;
}

TEST(ApiCondition, AddsNewConditionWithNow) {
  std::vector<kube::condition> conds;
  EXPECT_TRUE(set_condition(conds, phase_cond("Scheduled", "True", "Assigned", "assigned to runtime pod p"), phase_t0()));
  ASSERT_EQ(conds.size(), 1U);
  EXPECT_EQ(conds[0].type, "Scheduled");
  EXPECT_EQ(conds[0].last_transition_time, phase_t0());
  const auto* found = find_condition(conds, "Scheduled");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->reason, "Assigned");
  EXPECT_EQ(find_condition(conds, "Running"), nullptr);
}

TEST(ApiCondition, NewConditionKeepsAnExplicitTransitionTime) {
  std::vector<kube::condition> conds;
  auto c = phase_cond("Scheduled", "True", "Assigned", "");
  c.last_transition_time = phase_t0() - 5s;
  set_condition(conds, c, phase_t0());
  EXPECT_EQ(conds[0].last_transition_time, phase_t0() - 5s);
}

TEST(ApiCondition, SameStatusKeepsTransitionTimeButUpdatesReasonAndMessage) {
  std::vector<kube::condition> conds;
  set_condition(conds, phase_cond("Running", "True", "Claimed", "claimed by runtimed"), phase_t0());
  EXPECT_TRUE(set_condition(conds, phase_cond("Running", "True", "Retrying", "Retry after failure"), phase_t0() + 10s));
  ASSERT_EQ(conds.size(), 1U);
  EXPECT_EQ(conds[0].reason, "Retrying");
  EXPECT_EQ(conds[0].message, "Retry after failure");
  EXPECT_EQ(conds[0].last_transition_time, phase_t0());
  // Even an explicit new LTT is ignored when the status does not change.
  auto c = phase_cond("Running", "True", "Retrying", "Retry after failure");
  c.last_transition_time = phase_t0() + 20s;
  EXPECT_FALSE(set_condition(conds, c, phase_t0() + 20s));
  EXPECT_EQ(conds[0].last_transition_time, phase_t0());
}

TEST(ApiCondition, StatusChangeMovesTransitionTime) {
  std::vector<kube::condition> conds;
  set_condition(conds, phase_cond("Running", "True", "Claimed", "claimed by runtimed"), phase_t0());
  EXPECT_TRUE(set_condition(conds, phase_cond("Running", "False", "PodGone", "pod vanished"), phase_t0() + 7s));
  EXPECT_EQ(conds[0].status, "False");
  EXPECT_EQ(conds[0].reason, "PodGone");
  EXPECT_EQ(conds[0].message, "pod vanished");
  EXPECT_EQ(conds[0].last_transition_time, phase_t0() + 7s);
  // With an explicit LTT, that one is used.
  auto c = phase_cond("Running", "True", "Retrying", "");
  c.last_transition_time = phase_t0() + 8s;
  EXPECT_TRUE(set_condition(conds, c, phase_t0() + 9s));
  EXPECT_EQ(conds[0].last_transition_time, phase_t0() + 8s);
}

TEST(ApiCondition, IdenticalIsNoChange) {
  std::vector<kube::condition> conds;
  set_condition(conds, phase_cond("Completed", "True", "RunCompleted", "Completed successfully"), phase_t0());
  auto before = conds;
  EXPECT_FALSE(set_condition(conds, phase_cond("Completed", "True", "RunCompleted", "Completed successfully"),
                             phase_t0() + 1s));
  EXPECT_EQ(conds, before);
}

TEST(ApiCondition, ObservedGenerationIsUpdated) {
  std::vector<kube::condition> conds;
  set_condition(conds, phase_cond("Scheduled", "True", "Assigned", ""), phase_t0());
  auto c = phase_cond("Scheduled", "True", "Assigned", "");
  c.observed_generation = 3;
  EXPECT_TRUE(set_condition(conds, c, phase_t0() + 1s));
  EXPECT_EQ(conds[0].observed_generation, 3);
  EXPECT_EQ(conds[0].last_transition_time, phase_t0());
}

TEST(ApiCondition, OtherTypesAreUntouchedAndOrderKept) {
  std::vector<kube::condition> conds;
  set_condition(conds, phase_cond("Scheduled", "True", "Assigned", "a"), phase_t0());
  set_condition(conds, phase_cond("Running", "True", "Claimed", "b"), phase_t0() + 1s);
  set_condition(conds, phase_cond("Scheduled", "False", "X", "c"), phase_t0() + 2s);
  ASSERT_EQ(conds.size(), 2U);
  EXPECT_EQ(conds[0].type, "Scheduled");
  EXPECT_EQ(conds[0].status, "False");
  EXPECT_EQ(conds[1].type, "Running");
  EXPECT_EQ(conds[1].message, "b");
  EXPECT_EQ(conds[1].last_transition_time, phase_t0() + 1s);
}

// ------------------------------------------------------------------ terminals

run_status phase_running_status() {
  run_status s;
  s.phase_text = "Running";
  s.assigned_pod = "pod-a";
  s.assigned_pod_uid = "uid-a";
  s.start_time = phase_t0();
  s.attempt = 1;
  set_condition(s.conditions, phase_cond("Scheduled", "True", "Assigned", "assigned to runtime pod pod-a"), phase_t0() - 1s);
  set_condition(s.conditions, phase_cond("Running", "True", "Claimed", "claimed by runtimed"), phase_t0());
  return s;
}

TEST(ApiTerminal, SetTerminalWritesPhaseMessageTimeAndConditions) {
  run_status s = phase_running_status();
  auto now = phase_t0() + 30s;
  set_terminal(s, phase::timeout, "Timeout", "execution exceeded 30s", now);
  EXPECT_EQ(s.phase_text, "Timeout");
  EXPECT_EQ(s.message, "execution exceeded 30s");
  EXPECT_EQ(s.completion_time, now);
  const auto* running = find_condition(s.conditions, "Running");
  ASSERT_NE(running, nullptr);
  EXPECT_EQ(running->status, "False");
  EXPECT_EQ(running->reason, "Timeout");
  EXPECT_EQ(running->message, "execution exceeded 30s");
  EXPECT_EQ(running->last_transition_time, now);  // True → False
  const auto* completed = find_condition(s.conditions, "Completed");
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(completed->status, "False");
  EXPECT_EQ(completed->reason, "Timeout");
  EXPECT_EQ(completed->message, "execution exceeded 30s");
  EXPECT_EQ(completed->last_transition_time, now);
  // Untouched: assignment, start, attempt, Scheduled.
  EXPECT_EQ(s.assigned_pod, "pod-a");
  EXPECT_EQ(s.start_time, phase_t0());
  EXPECT_EQ(s.attempt, 1);
  EXPECT_EQ(find_condition(s.conditions, "Scheduled")->status, "True");
}

TEST(ApiTerminal, SchedulerCancelFromPending) {
  run_status s;  // "" phase, no conditions
  set_terminal(s, phase::cancelled, "Cancelled", "cancelled by user", phase_t0());
  EXPECT_EQ(s.phase_text, "Cancelled");
  EXPECT_EQ(s.message, "cancelled by user");
  EXPECT_EQ(s.completion_time, phase_t0());
  EXPECT_EQ(s.attempt, 0);  // SPEC: attempt is left at 0
  ASSERT_EQ(s.conditions.size(), 2U);
  EXPECT_EQ(s.conditions[0].type, "Running");
  EXPECT_EQ(s.conditions[1].type, "Completed");
  for (const auto& c : s.conditions) {
    EXPECT_EQ(c.status, "False");
    EXPECT_EQ(c.reason, "Cancelled");
    EXPECT_EQ(c.last_transition_time, phase_t0());
  }
}

TEST(ApiTerminal, InvalidResourcesFailure) {
  run_status s;
  set_terminal(s, phase::failed, reason::invalid_resources, R"(resource request "gpu" must be a non-negative integer)",
               phase_t0());
  EXPECT_EQ(s.phase_text, "Failed");
  EXPECT_EQ(find_condition(s.conditions, "Completed")->reason, "InvalidResources");
}

TEST(ApiTerminal, SetSucceeded) {
  run_status s = phase_running_status();
  s.attempt = 0;
  s.message = "running";
  auto now = phase_t0() + 2s;
  set_succeeded(s, now);
  EXPECT_EQ(s.phase_text, "Succeeded");
  EXPECT_EQ(s.message, "execution completed");
  EXPECT_EQ(s.completion_time, now);
  EXPECT_EQ(s.attempt, 1);  // max(1, attempt)
  const auto* running = find_condition(s.conditions, "Running");
  ASSERT_NE(running, nullptr);
  EXPECT_EQ(running->status, "False");
  EXPECT_EQ(running->reason, "Completed");
  EXPECT_EQ(running->message, "");
  EXPECT_EQ(running->last_transition_time, now);
  const auto* completed = find_condition(s.conditions, "Completed");
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(completed->status, "True");
  EXPECT_EQ(completed->reason, "RunCompleted");
  EXPECT_EQ(completed->message, "Completed successfully");
  EXPECT_EQ(completed->last_transition_time, now);
}

TEST(ApiTerminal, SetSucceededKeepsHigherAttempt) {
  run_status s = phase_running_status();
  s.attempt = 3;
  set_succeeded(s, phase_t0());
  EXPECT_EQ(s.attempt, 3);
}

}  // namespace
}  // namespace krt::api
