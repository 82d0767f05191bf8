// The scheduler's placement core (services/scheduler/placement.hpp): the
// reconcile steps, the filters, capacity fit, LeastLoaded ranking with ties
// and multi-resource ratios, the tie-break, wake-up signals, and that a
// decision only looks at the pool's pods.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "lib/api/phase.hpp"
#include "services/scheduler/placement.hpp"

namespace krt::scheduler::test_placement {

using namespace std::chrono_literals;

const wall_time t0{std::chrono::seconds{1'800'000'000}};

api::pod_view make_pod(const std::string& name, std::map<std::string, std::string> capacity = {},
                       wall_time heartbeat = t0) {
  api::pod_view p;
  p.metadata.name = name;
  p.metadata.namespace_ = "ns";
  p.metadata.uid = "uid-" + name;
  p.metadata.labels["runtime"] = "bash";
  for (auto& [k, v] : capacity) p.metadata.annotations["kruntimes.io/capacity." + k] = v;
  p.phase = "Running";
  kube::condition ready;
  ready.type = "Ready";
  ready.status = "True";
  p.conditions.push_back(ready);
  kube::condition hb;
  hb.type = std::string(api::heartbeat_condition);
  hb.status = "True";
  hb.reason = "Heartbeat";
  hb.last_probe_time = heartbeat;
  p.conditions.push_back(hb);
  return p;
}

api::run make_run(const std::string& name, std::map<std::string, std::string> requests = {}) {
  api::run r;
  r.metadata.name = name;
  r.metadata.namespace_ = "ns";
  r.metadata.uid = "uid-" + name;
  r.metadata.resource_version = "7";
  r.spec.runtime = "bash";
  if (!requests.empty()) r.spec.resource_requests = std::move(requests);
  return r;
}

resource_map runs(std::int64_t n) { return resource_map{{"runs", n}}; }

// ------------------------------------------------------------ decide

TEST(Decide, SkipsNonPendingAndEmptyRuntime) {
  auto r = make_run("a");
  r.status.phase_text = "Scheduled";
  EXPECT_EQ(decide(r, t0).kind, action_kind::skip);
  r.status.phase_text = "Succeeded";
  EXPECT_EQ(decide(r, t0).kind, action_kind::skip);
  auto e = make_run("b");
  e.spec.runtime.clear();
  EXPECT_EQ(decide(e, t0).kind, action_kind::skip);
  auto p = make_run("c");
  EXPECT_EQ(decide(p, t0).kind, action_kind::place);  // "" is Pending
  p.status.phase_text = "Pending";
  EXPECT_EQ(decide(p, t0).kind, action_kind::place);
}

TEST(Decide, CancelBeforeValidation) {
  auto r = make_run("a", {{"runs", "-1"}});
  r.spec.cancel_requested = true;
  EXPECT_EQ(decide(r, t0).kind, action_kind::cancel);
  auto out = with_cancelled(r, t0);
  EXPECT_EQ(out.status.phase_text, "Cancelled");
  EXPECT_EQ(out.status.message, "cancelled by user");
  EXPECT_EQ(out.status.attempt, 0);
  ASSERT_TRUE(out.status.completion_time);
  const auto* c = api::find_condition(out.status.conditions, "Completed");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "Cancelled");
}

TEST(Decide, InvalidResources) {
  for (const char* bad : {"-1", "1.5", "500m", "abc"}) {
    auto r = make_run("a", {{"gpu", bad}});
    auto a = decide(r, t0);
    ASSERT_EQ(a.kind, action_kind::invalid) << bad;
    EXPECT_EQ(a.message, "resource request \"gpu\" must be a non-negative integer");
    auto out = with_invalid(r, a.message, t0);
    EXPECT_EQ(out.status.phase_text, "Failed");
    const auto* c = api::find_condition(out.status.conditions, "Running");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->reason, "InvalidResources");
  }
}

TEST(Decide, EffectiveRequests) {
  auto a = decide(make_run("a"), t0);
  EXPECT_EQ(a.requests, runs(1));
  a = decide(make_run("b", {{"runs", "0"}, {"gpu", "0"}, {"mem", "3"}}), t0);
  EXPECT_EQ(a.requests, (resource_map{{"mem", 3}, {"runs", 1}}));
}

TEST(Decide, RetryBackoffHold) {
  auto r = make_run("a");
  r.spec.retry = api::retry_policy{};
  r.spec.retry->backoff = "4s";
  r.status.phase_text = "Pending";
  r.status.attempt = 3;  // backoff·2^(3−2) = 8 s
  kube::condition running;
  running.type = "Running";
  running.status = "False";
  running.reason = "PodGone";
  running.last_transition_time = t0;
  r.status.conditions.push_back(running);
  auto a = decide(r, t0 + 3s);
  ASSERT_EQ(a.kind, action_kind::hold);
  EXPECT_EQ(a.hold_until, t0 + 8s);
  EXPECT_EQ(decide(r, t0 + 8s).kind, action_kind::place);
  // First attempt after a failure (attempt 1) and Running=True never wait.
  r.status.attempt = 1;
  EXPECT_EQ(decide(r, t0).kind, action_kind::place);
  r.status.attempt = 3;
  r.status.conditions[0].status = "True";
  EXPECT_EQ(decide(r, t0).kind, action_kind::place);
}

// ------------------------------------------------------------ filters

TEST(Filters, Availability) {
  pool p;
  auto not_running = make_pod("a");
  not_running.phase = "Pending";
  auto terminating = make_pod("b");
  terminating.metadata.deletion_timestamp = t0;
  auto not_ready = make_pod("c");
  not_ready.conditions[0].status = "False";
  auto stale = make_pod("d", {}, t0 - 16s);
  auto no_heartbeat = make_pod("e");
  no_heartbeat.conditions.pop_back();
  for (auto* pod : {&not_running, &terminating, &not_ready, &stale, &no_heartbeat}) p.upsert_pod(*pod, t0);
  auto pl = p.place(runs(1), t0);
  EXPECT_FALSE(pl.pod);
  EXPECT_EQ(pl.rejections[rejection::pod_not_running], 1);
  EXPECT_EQ(pl.rejections[rejection::pod_terminating], 1);
  EXPECT_EQ(pl.rejections[rejection::pod_not_ready], 1);
  EXPECT_EQ(pl.rejections[rejection::heartbeat_stale], 2);
}

TEST(Filters, StaleHeartbeatBoundaryAndExpiry) {
  pool p;
  p.upsert_pod(make_pod("a", {}, t0), t0);
  EXPECT_TRUE(p.place(runs(1), t0 + 15s).pod);  // exactly 15 s is still fresh
  EXPECT_FALSE(p.place(runs(1), t0 + 15s + 1us).pod);
  auto exp = p.next_heartbeat_expiry(t0);
  ASSERT_TRUE(exp);
  EXPECT_EQ(*exp, t0 + 15s + 1us);
  EXPECT_FALSE(p.next_heartbeat_expiry(t0 + 16s));
}

TEST(Filters, CapacityFit) {
  EXPECT_FALSE(check_fit(runs(1), runs(2), runs(1)));
  EXPECT_EQ(check_fit(runs(1), runs(2), runs(2)), rejection::insufficient_capacity);
  EXPECT_EQ(check_fit(resource_map{{"gpu", 1}, {"runs", 1}}, runs(2), {}), rejection::unknown_resource);
  EXPECT_FALSE(check_fit(resource_map{{"gpu", 2}, {"runs", 1}}, resource_map{{"gpu", 2}, {"runs", 2}}, {}));
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(check_fit(runs(max), runs(max), runs(1)), rejection::insufficient_capacity);  // no overflow
}

TEST(Filters, DefaultCapacityIsTwoRuns) {
  pool p;
  p.upsert_pod(make_pod("a"), t0);
  EXPECT_EQ(p.capacity_of("a"), runs(2));
  p.set_assigned("r1", "a", runs(1));
  p.set_assigned("r2", "a", runs(1));
  auto pl = p.place(runs(1), t0);
  EXPECT_FALSE(pl.pod);
  EXPECT_EQ(pl.rejections[rejection::insufficient_capacity], 1);
}

// ------------------------------------------------------------ scoring

TEST(LeastLoaded, RanksByMaxRatioThenSum) {
  std::vector<candidate> c{
      {"a", {{"runs", 4}, {"mem", 10}}, {{"runs", 1}}},
      {"b", {{"runs", 4}, {"mem", 10}}, {{"mem", 5}}},
      {"c", {{"runs", 4}, {"mem", 10}}, {{"runs", 2}}},
  };
  auto s = least_loaded_scores(c, resource_map{{"runs", 1}, {"mem", 1}});
  // a: runs .5, mem .1 → (.5,.6); b: runs .25, mem .6 → (.6,.85); c: runs .75, mem .1 → (.75,.85)
  EXPECT_EQ(s, (std::vector<std::int64_t>{100, 50, 0}));
  EXPECT_EQ(pick(c, s), 0);
}

TEST(LeastLoaded, TiesShareTheScoreAndSmallestNameWins) {
  std::vector<candidate> c{
      {"pod-c", runs(2), {}},
      {"pod-a", runs(2), {}},
      {"pod-b", runs(2), runs(1)},
  };
  auto s = least_loaded_scores(c, runs(1));
  EXPECT_EQ(s, (std::vector<std::int64_t>{100, 100, 0}));
  EXPECT_EQ(c[static_cast<std::size_t>(pick(c, s))].name, "pod-a");
  std::vector<candidate> one{{"x", runs(2), runs(1)}};
  EXPECT_EQ(least_loaded_scores(one, runs(1)), (std::vector<std::int64_t>{100}));
  EXPECT_EQ(pick({}, {}), -1);
}

TEST(LeastLoaded, RatioNotAbsoluteUsage) {
  // big: 3/10 used; small: 1/2 used. Ratios after the request: .4 vs 1.0.
  pool p;
  p.upsert_pod(make_pod("small", {{"runs", "2"}}), t0);
  p.upsert_pod(make_pod("big", {{"runs", "10"}}), t0);
  for (int i = 0; i < 3; ++i) p.set_assigned("b" + std::to_string(i), "big", runs(1));
  p.set_assigned("s0", "small", runs(1));
  EXPECT_EQ(p.place(runs(1), t0).pod, "big");
}

TEST(Pool, SpreadsRunsAndCountsReservations) {
  pool p;
  p.upsert_pod(make_pod("p1"), t0);
  p.upsert_pod(make_pod("p2"), t0);
  std::vector<std::string> chosen;
  for (int i = 0; i < 4; ++i) {
    auto pl = p.place(runs(1), t0);
    ASSERT_TRUE(pl.pod);
    EXPECT_EQ(pl.pod_uid, "uid-" + *pl.pod);
    p.reserve("r" + std::to_string(i), *pl.pod, runs(1));
    chosen.push_back(*pl.pod);
  }
  EXPECT_EQ(chosen, (std::vector<std::string>{"p1", "p2", "p1", "p2"}));
  EXPECT_FALSE(p.place(runs(1), t0).pod);
  // The informer confirms r0: the reservation becomes usage, not double.
  p.set_assigned("r0", "p1", runs(1));
  EXPECT_FALSE(p.is_reserved("r0"));
  EXPECT_EQ(p.usage_of("p1"), runs(2));
  // A failed write releases; the run leaving frees.
  EXPECT_TRUE(p.release("r1"));
  EXPECT_EQ(p.usage_of("p2"), runs(1));
  EXPECT_TRUE(p.clear_assigned("r0"));
  EXPECT_FALSE(p.clear_assigned("r0"));
  EXPECT_EQ(p.usage_of("p1"), runs(1));
}

// ------------------------------------------------------------ wake-ups

TEST(WakeUps, PodSignals) {
  pool p;
  auto pod = make_pod("a");
  pod.conditions[0].status = "False";
  EXPECT_FALSE(p.upsert_pod(pod, t0));  // new but not ready
  pod.conditions[0].status = "True";
  EXPECT_TRUE(p.upsert_pod(pod, t0));   // became available
  pod.conditions[1].last_probe_time = t0 + 5s;
  EXPECT_FALSE(p.upsert_pod(pod, t0 + 5s));  // a plain heartbeat
  pod.metadata.annotations["kruntimes.io/capacity.runs"] = "5";
  EXPECT_TRUE(p.upsert_pod(pod, t0 + 5s));  // capacity changed
  auto stale = pod;
  stale.conditions[1].last_probe_time = t0 - 20s;
  EXPECT_FALSE(p.upsert_pod(stale, t0 + 5s));
  EXPECT_TRUE(p.upsert_pod(pod, t0 + 5s));  // fresh again
  pod.metadata.deletion_timestamp = t0;
  EXPECT_FALSE(p.upsert_pod(pod, t0 + 5s));  // terminating
}

TEST(WakeUps, CapacityRelease) {
  pool p;
  p.upsert_pod(make_pod("a", {{"runs", "1"}}), t0);
  p.set_assigned("r1", "a", runs(1));
  EXPECT_FALSE(p.place(runs(1), t0).pod);
  EXPECT_TRUE(p.clear_assigned("r1"));
  EXPECT_EQ(p.place(runs(1), t0).pod, "a");
}

// A decision examines exactly the pool's pods, however many Runs are
// assigned or waiting: usage is kept incrementally.
TEST(Cost, DecisionTouchesOnlyThePoolsPods) {
  pool p;
  for (int i = 0; i < 5; ++i) p.upsert_pod(make_pod("p" + std::to_string(i), {{"runs", "100000"}}), t0);
  for (int i = 0; i < 10000; ++i) p.set_assigned("assigned-" + std::to_string(i), "p" + std::to_string(i % 5), runs(1));
  auto before = p.pods_examined();
  auto pl = p.place(runs(1), t0);
  EXPECT_TRUE(pl.pod);
  EXPECT_EQ(p.pods_examined() - before, 5u);
  for (int i = 0; i < 1000; ++i) {
    auto d = p.place(runs(1), t0);
    p.reserve("r" + std::to_string(i), *d.pod, runs(1));
  }
  EXPECT_EQ(p.pods_examined() - before, 5u * 1001u);
}

// A pass over a pool skips the filter for requests that dominate one that
// already found no pod (usage only grows within a pass).
TEST(Cost, Dominance) {
  EXPECT_TRUE(dominates(runs(1), runs(1)));
  EXPECT_TRUE(dominates(resource_map{{"runs", 2}, {"gpu", 1}}, runs(1)));
  EXPECT_FALSE(dominates(runs(1), resource_map{{"runs", 1}, {"gpu", 1}}));
  EXPECT_FALSE(dominates(resource_map{{"gpu", 5}, {"runs", 1}}, runs(2)));
}

// ------------------------------------------------------------ status edits

TEST(Status, Assignment) {
  auto r = make_run("a");
  auto out = with_assignment(r, "pod-1", "uid-pod-1", t0 + 123456us);
  EXPECT_EQ(out.status.phase_text, "Scheduled");
  EXPECT_EQ(out.status.assigned_pod, "pod-1");
  EXPECT_EQ(out.status.assigned_pod_uid, "uid-pod-1");
  const auto* c = api::find_condition(out.status.conditions, "Scheduled");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "True");
  EXPECT_EQ(c->reason, "Assigned");
  EXPECT_EQ(c->message, "assigned to runtime pod pod-1");
  EXPECT_EQ(c->last_transition_time, t0 + 123456us);
  EXPECT_EQ(out.metadata.resource_version, "7");  // the precondition
  auto body = api::encode_status_patch(out);
  EXPECT_NE(body.find(R"("resourceVersion":"7")"), std::string::npos) << body;
  EXPECT_NE(body.find(".123456Z"), std::string::npos) << body;
}

TEST(Status, WaitingMessage) {
  EXPECT_EQ(waiting_message("bash"), "waiting for available runtime pods for runtime \"bash\"");
  auto out = with_message(make_run("a"), waiting_message("bash"));
  EXPECT_EQ(out.status.phase_text, "Pending");
}

}  // namespace krt::scheduler::test_placement
