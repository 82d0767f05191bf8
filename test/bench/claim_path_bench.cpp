// runtimed's claim path without the network (issue #6): what happens between
// the watch event that shows a Run Scheduled on this pod and the claim patch
// leaving for the API server.
//
// The steps, as sidecar/daemon.cpp and sidecar/run.cpp take them:
//   1. the informer decodes the watch line (kube::watch_decoder) and upserts
//      the object into its cache (kube::store);
//   2. daemon::on_run: note_waiting (is_ours, phase_of == Scheduled, into the
//      ordered set of waiting Runs), start_pending(), which begins the
//      waiting Runs that fit a worker slot (begin: an active_run with its
//      tagged logger);
//   3. daemon::claim → write_status: copy the Run, check it is still ours and
//      Scheduled, apply the claim edit (phase Running, startTime, Running=True
//      Claimed), encode the merge patch.
// The claim edit is a lambda inside the claim coroutine and is_ours /
// start_pending are private members of daemon, so this file repeats those
// few lines on the same lib/api and lib/kube calls. Keep it in step with
// sidecar/daemon.cpp (is_ours, on_run, note_waiting, start_pending, begin) and
// sidecar/run.cpp (claim, write_status).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "lib/api/phase.hpp"
#include "lib/api/types.hpp"
#include "lib/kube/store.hpp"
#include "lib/kube/watch.hpp"
#include "lib/obs/log.hpp"

// Named (not anonymous): unity builds put several bench files in one TU.
namespace claim_bench {

using namespace krt;

const std::string pod_namespace = "ci-pipelines";
const std::string pod_name = "runtime-python-7d9f8b6c5d-4xk2p";
const std::string pod_uid = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";

// A Run as the scheduler leaves it for runtimed (Scheduled on this pod), or a
// finished one still in runtimed's cache.
api::run make_run(int i, api::phase p) {
  api::run r;
  r.metadata.name = "run-" + std::to_string(i) + "-x7k2q9zb";
  r.metadata.namespace_ = pod_namespace;
  r.metadata.uid = "3f0c9a1e-5b7d-4c2a-9e8f-" + std::to_string(100000000000LL + i);
  r.metadata.resource_version = std::to_string(1000000 + i);
  r.metadata.generation = 1;
  r.metadata.creation_timestamp = wall_now() - std::chrono::seconds{600} + std::chrono::milliseconds{i};
  r.metadata.labels = {{"app.kubernetes.io/name", "pipeline"}, {"pipeline", "build-" + std::to_string(i % 50)}};
  r.spec.runtime = "python";
  r.spec.mode = api::run_mode{api::task_mode{"", {"python3", "-c", "print(sum(range(10**6)))"}}, {}};
  r.spec.env = std::vector<api::env_var>{{"PIPELINE_ID", std::string("p-") + std::to_string(i), ""},
                                         {"LOG_LEVEL", std::string("debug"), ""}};
  r.spec.timeout = "5m";
  r.spec.resource_requests = std::map<std::string, std::string>{{"runs", "1"}};
  r.status.phase_text = std::string(api::to_string(p));
  r.status.assigned_pod = pod_name;
  r.status.assigned_pod_uid = pod_uid;
  r.status.attempt = 1;
  auto now = wall_now();
  api::set_condition(r.status.conditions,
                     {"Scheduled", "True", "Assigned", "assigned to runtime pod " + pod_name, {}, {}, 0}, now);
  if (p != api::phase::scheduled) {
    r.status.start_time = now;
    api::set_condition(r.status.conditions, {"Running", "False", "Completed", "run completed", {}, {}, 0}, now);
    api::set_condition(r.status.conditions, {"Completed", "True", "Completed", "run completed", {}, {}, 0}, now);
  }
  return r;
}

std::string watch_line(const api::run& r) {
  std::string obj = api::encode(r);
  // Real objects carry managedFields, which the decoder skips.
  std::string managed =
      R"(,"managedFields":[{"manager":"krt","operation":"Update","apiVersion":"kruntimes.io/v1alpha1","time":"2026-11-22T04:53:43Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:mode":{".":{},"f:task":{".":{},"f:args":{}}},"f:runtime":{},"f:env":{}}}},{"manager":"kruntimes-scheduler","operation":"Update","apiVersion":"kruntimes.io/v1alpha1","time":"2026-11-22T04:53:44Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{".":{},"f:phase":{},"f:assignedPod":{},"f:conditions":{}}},"subresource":"status"}])";
  auto end = obj.find('}', obj.find("\"labels\""));
  obj.insert(end + 1, managed);
  return R"({"type":"ADDED","object":)" + obj + "}\n";
}

// daemon::is_ours.
bool is_ours(const api::run& r) {
  if (r.metadata.namespace_ != pod_namespace || r.status.assigned_pod != pod_name) return false;
  if (!pod_uid.empty() && !r.status.assigned_pod_uid.empty() && r.status.assigned_pod_uid != pod_uid) return false;
  return true;
}

// Step 1: one watch line to a decoded Run.
kube::watch_event decode_one(kube::watch_decoder& d, const std::string& line) {
  d.feed(line);
  auto ev = d.next();
  if (!ev || !*ev) return {};
  return std::move(**ev);
}

// Step 3: write_status's first attempt with the claim edit; the patch body.
std::string claim_patch(const api::run& latest) {
  api::run cur = latest;
  if (!is_ours(cur) || api::phase_of(cur.status) != api::phase::scheduled) return {};
  api::run next = cur;
  auto now = wall_now();
  if (next.spec.cancel_requested) return {};
  next.status.phase_text = std::string(api::to_string(api::phase::running));
  next.status.start_time = now;
  kube::condition c;
  c.type = std::string(api::condition_type::running);
  c.status = "True";
  c.reason = std::string(api::reason::claimed);
  c.message = "claimed by runtimed";
  api::set_condition(next.status.conditions, c, now);
  return api::encode_status_patch(next);
}

struct active_model {
  std::string uid;
  std::shared_ptr<const api::run> latest;
  obs::logger log{"runtimed"};
};

// Step 2: on_run → note_waiting → start_pending → begin. runtimed keeps its
// waiting Scheduled Runs in an ordered set (daemon::waiting_), so the cost no
// longer depends on the Runs in the informer cache (it listed and sorted the
// whole cache before; see docs/benchmarks.md).
using wait_key = std::tuple<wall_time, std::string, std::string>;
struct waiting_model {
  std::set<wait_key> order;
  std::map<std::string, std::pair<wait_key, std::shared_ptr<const api::run>>> by_uid;
  void drop(const std::string& uid) {
    auto it = by_uid.find(uid);
    if (it == by_uid.end()) return;
    order.erase(it->second.first);
    by_uid.erase(it);
  }
};

// Returns the Run begun (nullptr if none).
std::shared_ptr<const api::run> on_run(waiting_model& waiting, const std::shared_ptr<const api::run>& r,
                                       std::map<std::string, std::shared_ptr<active_model>>& active, int workers) {
  if (active.count(r->metadata.uid)) return nullptr;
  waiting.drop(r->metadata.uid);
  if (!is_ours(*r) || api::phase_of(r->status) != api::phase::scheduled) return nullptr;
  wait_key k{r->metadata.creation_timestamp.value_or(wall_time{}), r->metadata.name, r->metadata.uid};
  waiting.order.insert(k);
  waiting.by_uid.emplace(r->metadata.uid, std::make_pair(k, r));
  std::shared_ptr<const api::run> begun;
  int slots_used = static_cast<int>(active.size());
  for (auto it = waiting.order.begin(); it != waiting.order.end();) {
    auto w = waiting.by_uid.find(std::get<2>(*it));
    ++it;
    if (w == waiting.by_uid.end() || slots_used >= workers) continue;
    std::shared_ptr<const api::run> x = w->second.second;
    waiting.drop(x->metadata.uid);
    auto a = std::make_shared<active_model>();
    a->uid = x->metadata.uid;
    a->latest = x;
    a->log = a->log.with("run_uid", x->metadata.uid)
                 .with("run_name", x->metadata.name)
                 .with("namespace", x->metadata.namespace_)
                 .with("runtime", x->spec.runtime);
    active[a->uid] = a;
    ++slots_used;
    begun = x;
  }
  return begun;
}

// Step 1 alone: decode the watch event of a Scheduled Run.
void BM_ClaimDecodeEvent(benchmark::State& state) {
  const std::string line = watch_line(make_run(1, api::phase::scheduled));
  kube::watch_decoder d(kube::codec_of<api::run>());
  for (auto _ : state) {
    auto ev = decode_one(d, line);
    if (!ev.object) {
      state.SkipWithError("the event did not decode");
      break;
    }
    benchmark::DoNotOptimize(ev.object.meta);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(line.size() * state.iterations()));
}
BENCHMARK(BM_ClaimDecodeEvent);

// Step 3 alone: the claim edit on a copy of the Run and its patch body.
void BM_ClaimEditAndEncode(benchmark::State& state) {
  const api::run r = make_run(1, api::phase::scheduled);
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string body = claim_patch(r);
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  if (bytes == 0) state.SkipWithError("no claim patch");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["patch_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ClaimEditAndEncode);

// Steps 1–3 with `cached` other Runs (finished, still listed) in runtimed's
// informer cache: the per-claim CPU time of runtimed before the network.
void BM_RuntimedClaimPath(benchmark::State& state) {
  const int cached = static_cast<int>(state.range(0));
  kube::store cache;
  {
    kube::watch_decoder d(kube::codec_of<api::run>());
    for (int i = 0; i < cached; ++i) {
      auto ev = decode_one(d, watch_line(make_run(100 + i, api::phase::succeeded)));
      cache.upsert(ev.object);
    }
  }
  const std::string line = watch_line(make_run(1, api::phase::scheduled));
  kube::watch_decoder d(kube::codec_of<api::run>());
  std::map<std::string, std::shared_ptr<active_model>> active;
  waiting_model waiting;
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto ev = decode_one(d, line);
    cache.upsert(ev.object);  // informer_base::apply, then its handlers
    auto begun = on_run(waiting, kube::object_as<api::run>(ev.object), active, 4);
    if (!begun) {
      state.SkipWithError("the Run was not begun");
      break;
    }
    std::string body = claim_patch(*begun);
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
    active.clear();  // run_one's end (the Run leaves the active set)
  }
  if (bytes == 0) state.SkipWithError("no claim patch");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["cached_runs"] = cached;
}
BENCHMARK(BM_RuntimedClaimPath)->Arg(0)->Arg(100)->Arg(1000);

}  // namespace claim_bench
