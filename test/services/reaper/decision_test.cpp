// The reaper's decision core (services/reaper/decision.hpp): which Runs are
// watched, every SPEC §7 check and their order, threshold boundaries and
// re-check times, retry vs fail vs reschedule with the attempt arithmetic,
// the status written (and its patch body), the Events, and which pod updates
// deserve a look.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "lib/api/phase.hpp"
#include "lib/core/time.hpp"
#include "services/reaper/decision.hpp"

namespace krt::reaper::test_decision {

using namespace std::chrono_literals;

const wall_time t0{std::chrono::seconds{1'800'000'000}};
constexpr std::chrono::microseconds thr = 30s;

api::pod_view make_pod(wall_time heartbeat = t0, std::string uid = "pod-uid") {
  api::pod_view p;
  p.metadata.name = "pod-a";
  p.metadata.namespace_ = "ns";
  p.metadata.uid = std::move(uid);
  p.metadata.labels["runtime"] = "bash";
  p.phase = "Running";
  kube::condition ready;
  ready.type = "Ready";
  ready.status = "True";
  ready.last_transition_time = t0 - 1h;
  p.conditions.push_back(ready);
  kube::condition hb;
  hb.type = std::string(api::heartbeat_condition);
  hb.status = "True";
  hb.reason = "Heartbeat";
  hb.last_probe_time = heartbeat;
  hb.last_transition_time = t0 - 1h;
  p.conditions.push_back(hb);
  return p;
}

kube::condition* cond(api::pod_view& p, std::string_view type) {
  for (auto& c : p.conditions)
    if (c.type == type) return &c;
  return nullptr;
}

const kube::condition* cond(const api::run& r, std::string_view type) {
  return api::find_condition(r.status.conditions, type);
}

void set_not_ready(api::pod_view& p, std::optional<wall_time> since) {
  auto* c = cond(p, "Ready");
  c->status = "False";
  c->last_transition_time = since;
}

api::run make_run(std::string_view phase = "Running", std::int32_t attempt = 0) {
  api::run r;
  r.metadata.name = "run-1";
  r.metadata.namespace_ = "ns";
  r.metadata.uid = "run-uid";
  r.metadata.resource_version = "42";
  r.spec.runtime = "bash";
  r.status.phase_text = phase;
  r.status.assigned_pod = "pod-a";
  r.status.assigned_pod_uid = "pod-uid";
  r.status.attempt = attempt;
  r.status.message = "earlier message";
  kube::condition sched;
  sched.type = "Scheduled";
  sched.status = "True";
  sched.reason = "Assigned";
  sched.message = "assigned to runtime pod pod-a";
  sched.last_transition_time = t0 - 2h;
  r.status.conditions.push_back(sched);
  if (phase != "Scheduled") {
    r.status.start_time = t0 - 90min;
    kube::condition running;
    running.type = "Running";
    running.status = "True";
    running.reason = "Claimed";
    running.message = "claimed by runtimed";
    running.last_transition_time = t0 - 90min;
    r.status.conditions.push_back(running);
  }
  return r;
}

api::run with_policy(api::run r, std::int32_t max, std::vector<std::string> reasons = {}) {
  api::retry_policy p;
  p.max_attempts = max;
  p.backoff = "2s";
  p.retryable_reasons = std::move(reasons);
  r.spec.retry = p;
  return r;
}

// ------------------------------------------------------------ watched

TEST(Watched, AssignedPhasesWithAPodOnly) {
  for (const char* p : {"Scheduled", "Running", "Ready"}) EXPECT_TRUE(watched(make_run(p))) << p;
  for (const char* p : {"", "Pending", "Succeeded", "Failed", "Timeout", "Cancelled", "Bogus"})
    EXPECT_FALSE(watched(make_run(p))) << p;
  auto r = make_run();
  r.status.assigned_pod.clear();
  EXPECT_FALSE(watched(r));
  r = make_run();
  r.metadata.deletion_timestamp = t0;
  EXPECT_FALSE(watched(r)) << "a Run being deleted is left alone";
  EXPECT_EQ(pod_key(make_run()), "ns/pod-a");
}

// ------------------------------------------------------------ checks in order

TEST(CheckPod, MissingPodIsGone) {
  auto v = check_pod(make_run(), nullptr, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.reason, "PodGone");
  EXPECT_EQ(v.message, "assigned pod was deleted");
  EXPECT_FALSE(v.recheck_at);
}

TEST(CheckPod, ReplacedPodWinsOverTerminatingAndUnhealthy) {
  auto p = make_pod(t0 - 1h, "other-uid");
  p.metadata.deletion_timestamp = t0 - 1min;
  set_not_ready(p, t0 - 1h);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.reason, "PodGone");
  EXPECT_EQ(v.message, "assigned pod was replaced");
}

TEST(CheckPod, EmptyAssignedUidSkipsTheUidCheck) {
  auto r = make_run();
  r.status.assigned_pod_uid.clear();
  auto p = make_pod(t0, "whatever");
  EXPECT_FALSE(check_pod(r, &p, t0, thr).stale);
}

TEST(CheckPod, TerminatingWinsOverNotReady) {
  auto p = make_pod(t0 - 1h);
  p.metadata.deletion_timestamp = t0 - 5s;
  set_not_ready(p, t0 - 1h);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.reason, "PodTerminating");
  EXPECT_EQ(v.message, "assigned pod is terminating");
  EXPECT_EQ(v.stale_since, t0 - 5s);
}

TEST(CheckPod, TerminatingIsStaleAtOnce) {
  auto p = make_pod();
  p.metadata.deletion_timestamp = t0;
  EXPECT_EQ(check_pod(make_run(), &p, t0, thr).reason, "PodTerminating");
}

TEST(CheckPod, NotReadyWinsOverStaleHeartbeat) {
  auto p = make_pod(t0 - 1h);
  set_not_ready(p, t0 - 1h);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.reason, "PodUnhealthy");
  EXPECT_EQ(v.message, "assigned pod is not ready");
  EXPECT_EQ(v.stale_since, t0 - 1h + thr);
}

TEST(CheckPod, NotReadyThresholdBoundary) {
  auto p = make_pod();
  // Not ready for exactly the threshold: not yet stale; re-check just after.
  set_not_ready(p, t0 - thr);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_FALSE(v.stale);
  ASSERT_TRUE(v.recheck_at);
  EXPECT_EQ(*v.recheck_at, t0 + 1us);
  // One microsecond more: stale.
  v = check_pod(make_run(), &p, t0 + 1us, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.message, "assigned pod is not ready");
  // Recently not ready: the re-check is when the threshold runs out.
  set_not_ready(p, t0 - 10s);
  v = check_pod(make_run(), &p, t0, thr);
  EXPECT_FALSE(v.stale);
  EXPECT_EQ(*v.recheck_at, t0 + 20s + 1us);
}

TEST(CheckPod, NotReadyWithoutTransitionTimeIsStale) {
  auto p = make_pod();
  set_not_ready(p, std::nullopt);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.message, "assigned pod is not ready");
  EXPECT_FALSE(v.stale_since);
  // "Unknown" is not True either.
  p = make_pod();
  cond(p, "Ready")->status = "Unknown";
  EXPECT_TRUE(check_pod(make_run(), &p, t0 + 1h, thr).stale);
}

TEST(CheckPod, HeartbeatMissingNotTrueOrWithoutProbeTime) {
  auto p = make_pod();
  p.conditions.pop_back();  // no RuntimedReady at all
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.reason, "PodUnhealthy");
  EXPECT_EQ(v.message, "assigned pod runtimed heartbeat is stale");

  p = make_pod();
  cond(p, api::heartbeat_condition)->status = "False";
  EXPECT_EQ(check_pod(make_run(), &p, t0, thr).message, "assigned pod runtimed heartbeat is stale");

  p = make_pod();
  cond(p, api::heartbeat_condition)->last_probe_time.reset();
  EXPECT_EQ(check_pod(make_run(), &p, t0, thr).message, "assigned pod runtimed heartbeat is stale");
}

TEST(CheckPod, HeartbeatThresholdBoundary) {
  auto p = make_pod(t0 - thr);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_FALSE(v.stale) << "a heartbeat exactly threshold old is still fresh";
  EXPECT_EQ(*v.recheck_at, t0 + 1us);
  v = check_pod(make_run(), &p, t0 + 1us, thr);
  EXPECT_TRUE(v.stale);
  EXPECT_EQ(v.message, "assigned pod runtimed heartbeat is stale");
  EXPECT_EQ(v.stale_since, t0);
}

TEST(CheckPod, HealthyPodIsRecheckedWhenItsHeartbeatCouldExpire) {
  auto p = make_pod(t0 - 5s);
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_FALSE(v.stale);
  EXPECT_EQ(*v.recheck_at, t0 + 25s + 1us);
  // A smaller threshold moves the re-check accordingly.
  v = check_pod(make_run(), &p, t0, 10s);
  EXPECT_EQ(*v.recheck_at, t0 + 5s + 1us);
}

TEST(CheckPod, NoReadyConditionIsStartingNotStale) {
  auto p = make_pod(t0 - 1h);  // even with an old heartbeat
  p.conditions.erase(p.conditions.begin());
  auto v = check_pod(make_run(), &p, t0, thr);
  EXPECT_FALSE(v.stale);
  EXPECT_EQ(*v.recheck_at, t0 + thr);
}

TEST(CheckPod, SameChecksForScheduledAndReadyRuns) {
  for (const char* phase : {"Scheduled", "Ready"}) {
    EXPECT_EQ(check_pod(make_run(phase), nullptr, t0, thr).reason, "PodGone") << phase;
    auto p = make_pod(t0 - 1h);
    EXPECT_EQ(check_pod(make_run(phase), &p, t0, thr).message, "assigned pod runtimed heartbeat is stale") << phase;
  }
}

// ------------------------------------------------------------ decide

TEST(Decide, ScheduledIsAlwaysRescheduled) {
  EXPECT_EQ(decide(make_run("Scheduled"), "PodGone"), action::rescheduled);
  EXPECT_EQ(decide(with_policy(make_run("Scheduled", 3), 3), "PodUnhealthy"), action::rescheduled);
  EXPECT_EQ(decide(with_policy(make_run("Scheduled"), 5, {"Timeout"}), "PodGone"), action::rescheduled);
}

TEST(Decide, WithoutPolicyAStaleRunFails) {
  EXPECT_EQ(decide(make_run("Running"), "PodGone"), action::failed);
  EXPECT_EQ(decide(make_run("Ready"), "PodTerminating"), action::failed);
}

TEST(Decide, AttemptArithmetic) {
  // maxAttempts 2: attempt 0 reads as 1 → retry; 1 → retry; 2 → no more.
  EXPECT_EQ(decide(with_policy(make_run("Running", 0), 2), "PodGone"), action::retried);
  EXPECT_EQ(decide(with_policy(make_run("Running", 1), 2), "PodGone"), action::retried);
  EXPECT_EQ(decide(with_policy(make_run("Running", 2), 2), "PodGone"), action::failed);
  EXPECT_EQ(decide(with_policy(make_run("Ready", 2), 3), "PodUnhealthy"), action::retried);
  EXPECT_EQ(decide(with_policy(make_run("Running", 0), 1), "PodGone"), action::failed);
}

TEST(Decide, RetryableReasonsRestrictRetries) {
  auto r = with_policy(make_run("Running", 1), 3, {"PodGone"});
  EXPECT_EQ(decide(r, "PodGone"), action::retried);
  EXPECT_EQ(decide(r, "PodUnhealthy"), action::failed);
  EXPECT_EQ(decide(r, "PodTerminating"), action::failed);
}

// ------------------------------------------------------------ the status written

TEST(WithStale, RetriedGoesBackToPendingWithTheNextAttempt) {
  const wall_time now = t0 + 7s;
  for (auto [before, after] : {std::pair{0, 2}, std::pair{1, 2}, std::pair{2, 3}}) {
    auto r = with_policy(make_run("Running", before), 5);
    auto out = with_stale(r, action::retried, "PodGone", "assigned pod was deleted", now);
    EXPECT_EQ(out.status.phase_text, "Pending");
    EXPECT_EQ(out.status.attempt, after) << before;
    EXPECT_EQ(out.status.assigned_pod, "");
    EXPECT_EQ(out.status.assigned_pod_uid, "");
    EXPECT_FALSE(out.status.start_time);
    EXPECT_FALSE(out.status.completion_time);
    EXPECT_EQ(out.status.message, "earlier message") << "message unchanged";
    const auto* running = cond(out, "Running");
    ASSERT_NE(running, nullptr);
    EXPECT_EQ(running->status, "False");
    EXPECT_EQ(running->reason, "PodGone");
    EXPECT_EQ(running->message, "assigned pod was deleted");
    EXPECT_EQ(running->last_transition_time, now);
    EXPECT_EQ(*cond(out, "Scheduled"), *cond(r, "Scheduled")) << "Scheduled untouched";
    EXPECT_EQ(cond(out, "Completed"), nullptr);
    EXPECT_EQ(out.metadata.resource_version, "42") << "the precondition goes with the write";
  }
}

TEST(WithStale, RetriedForcesANewTransitionTime) {
  // runtimed had already set Running=False for an in-pod retry: the reaper's
  // write is still the moment the scheduler's backoff counts from.
  auto r = with_policy(make_run("Running", 2), 5);
  for (auto& c : r.status.conditions)
    if (c.type == "Running") {
      c.status = "False";
      c.reason = "RuntimeError";
      c.last_transition_time = t0 - 1h;
    }
  auto out = with_stale(r, action::retried, "PodUnhealthy", "assigned pod is not ready", t0);
  EXPECT_EQ(cond(out, "Running")->last_transition_time, t0);
  EXPECT_EQ(cond(out, "Running")->reason, "PodUnhealthy");
}

TEST(WithStale, FailedIsTerminal) {
  for (auto [before, after] : {std::pair{0, 1}, std::pair{1, 1}, std::pair{3, 3}}) {
    auto r = make_run("Running", before);
    auto out = with_stale(r, action::failed, "PodTerminating", "assigned pod is terminating", t0);
    EXPECT_EQ(out.status.phase_text, "Failed");
    EXPECT_EQ(out.status.attempt, after) << "the current attempt (0 reads as 1), never incremented";
    EXPECT_EQ(out.status.message, "assigned pod is terminating");
    EXPECT_EQ(out.status.completion_time, t0);
    EXPECT_EQ(out.status.assigned_pod, "pod-a") << "the assignment stays for the record";
    for (const char* type : {"Running", "Completed"}) {
      const auto* c = cond(out, type);
      ASSERT_NE(c, nullptr) << type;
      EXPECT_EQ(c->status, "False");
      EXPECT_EQ(c->reason, "PodTerminating");
      EXPECT_EQ(c->message, "assigned pod is terminating");
      EXPECT_EQ(c->last_transition_time, t0);
    }
  }
}

TEST(WithStale, RescheduledKeepsTheAttempt) {
  for (int attempt : {0, 2}) {
    auto r = make_run("Scheduled", attempt);
    auto out = with_stale(r, action::rescheduled, "PodGone", "assigned pod was replaced", t0);
    EXPECT_EQ(out.status.phase_text, "Pending");
    EXPECT_EQ(out.status.attempt, attempt);
    EXPECT_EQ(out.status.assigned_pod, "");
    EXPECT_EQ(out.status.assigned_pod_uid, "");
    EXPECT_EQ(out.status.message, "earlier message");
    const auto* s = cond(out, "Scheduled");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->status, "False");
    EXPECT_EQ(s->reason, "PodGone");
    EXPECT_EQ(s->message, "assigned pod was replaced");
    EXPECT_EQ(s->last_transition_time, t0);
    EXPECT_EQ(cond(out, "Running"), nullptr);
    EXPECT_FALSE(out.status.completion_time);
  }
}

TEST(WithStale, PatchBodyClearsTheAssignmentAndStartTime) {
  auto r = with_policy(make_run("Running", 1), 3);
  auto body = api::encode_status_patch(with_stale(r, action::retried, "PodGone", "assigned pod was deleted", t0));
  EXPECT_NE(body.find(R"("metadata":{"resourceVersion":"42"})"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("phase":"Pending")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("assignedPod":"")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("assignedPodUID":"")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("startTime":null)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("attempt":2)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("lastTransitionTime":")" + format_rfc3339_micro(t0) + "\""), std::string::npos)
      << body;
}

// ------------------------------------------------------------ events

TEST(StaleEvent, RetryingFailedRescheduled) {
  auto r = with_policy(make_run("Running", 1), 3);
  auto out = with_stale(r, action::retried, "PodGone", "assigned pod was deleted", t0);
  auto e = stale_event(r, out, action::retried, "PodGone", "assigned pod was deleted");
  EXPECT_EQ(e.type, "Warning");
  EXPECT_EQ(e.reason, "StaleRunRetrying");
  EXPECT_NE(e.message.find("pod-a"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("attempt 2 of 3"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("2s backoff"), std::string::npos) << e.message;

  auto f = stale_event(r, r, action::failed, "PodUnhealthy", "assigned pod is not ready");
  EXPECT_EQ(f.type, "Warning");
  EXPECT_EQ(f.reason, "StaleRunFailed");
  EXPECT_NE(f.message.find("PodUnhealthy: assigned pod is not ready"), std::string::npos) << f.message;

  auto s = stale_event(make_run("Scheduled"), make_run("Scheduled"), action::rescheduled, "PodGone",
                       "assigned pod was deleted");
  EXPECT_EQ(s.type, "Normal");
  EXPECT_EQ(s.reason, "StaleRunRescheduled");
}

TEST(Action, Names) {
  EXPECT_EQ(to_string(action::retried), "retried");
  EXPECT_EQ(to_string(action::failed), "failed");
  EXPECT_EQ(to_string(action::rescheduled), "rescheduled");
}

// ------------------------------------------------------------ pod updates

TEST(PodChangeMatters, PlainHeartbeatDoesNot) {
  auto a = make_pod(t0);
  auto b = make_pod(t0 + 5s);
  EXPECT_FALSE(pod_change_matters(a, b));
  b.metadata.labels["x"] = "y";
  b.metadata.annotations["kruntimes.io/capacity.runs"] = "3";
  EXPECT_FALSE(pod_change_matters(a, b));
}

TEST(PodChangeMatters, WhatCanMakeItStale) {
  auto a = make_pod(t0);
  auto b = make_pod(t0, "new-uid");
  EXPECT_TRUE(pod_change_matters(a, b)) << "new UID";
  b = make_pod(t0);
  b.metadata.deletion_timestamp = t0;
  EXPECT_TRUE(pod_change_matters(a, b)) << "deleting";
  b = make_pod(t0);
  set_not_ready(b, t0);
  EXPECT_TRUE(pod_change_matters(a, b)) << "not ready";
  b = make_pod(t0);
  b.conditions.erase(b.conditions.begin());
  EXPECT_TRUE(pod_change_matters(a, b)) << "Ready vanished";
  b = make_pod(t0);
  cond(b, api::heartbeat_condition)->status = "False";
  EXPECT_TRUE(pod_change_matters(a, b)) << "heartbeat not True";
  b = make_pod(t0);
  b.conditions.pop_back();
  EXPECT_TRUE(pod_change_matters(a, b)) << "heartbeat vanished";
  b = make_pod(t0 - 1min);
  EXPECT_TRUE(pod_change_matters(a, b)) << "heartbeat went back in time";
  b = make_pod(t0);
  cond(b, api::heartbeat_condition)->last_probe_time.reset();
  EXPECT_TRUE(pod_change_matters(a, b)) << "probe time vanished";
  // A first heartbeat only makes a pod fresher.
  a.conditions.pop_back();
  EXPECT_FALSE(pod_change_matters(a, make_pod(t0)));
}

}  // namespace krt::reaper::test_decision
