// Watch-event decode throughput on realistic Run objects: the cost every
// service pays per Run per watch hop (DESIGN §5).
#include <benchmark/benchmark.h>

#include "lib/api/phase.hpp"
#include "lib/api/types.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/watch.hpp"

namespace {

using namespace krt;

// A Run as the API server sends it mid-life: metadata with managedFields,
// a spec with env and retry policy, and a status with three conditions.
std::string realistic_run(int i) {
  api::run r;
  r.metadata.name = "run-" + std::to_string(i) + "-x7k2q9zb";
  r.metadata.namespace_ = "ci-pipelines";
  r.metadata.uid = "3f0c9a1e-5b7d-4c2a-9e8f-" + std::to_string(100000000000LL + i);
  r.metadata.resource_version = std::to_string(1000000 + i);
  r.metadata.generation = 1;
  r.metadata.creation_timestamp = wall_now();
  r.metadata.labels = {{"app.kubernetes.io/name", "pipeline"}, {"pipeline", "build-" + std::to_string(i % 50)},
                       {"step", "unit-tests"}};
  r.metadata.annotations = {{"kruntimes.io/submitted-by", "ci-bot@example.com"}};
  r.spec.runtime = "python";
  r.spec.mode = api::run_mode{api::task_mode{"", {"python3", "-c", "import sys; print(sum(range(10**6)))"}}, {}};
  r.spec.env = std::vector<api::env_var>{{"PIPELINE_ID", std::string("p-") + std::to_string(i), ""},
                                         {"GIT_SHA", std::string("9b1e0c2f4d6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c"), ""},
                                         {"LOG_LEVEL", std::string("debug"), ""}};
  r.spec.timeout = "5m";
  r.spec.retry = api::retry_policy{3, "2s", {"PodGone", "ExecutionLost"}};
  r.spec.resource_requests = std::map<std::string, std::string>{{"runs", "1"}};
  r.status.phase_text = "Running";
  r.status.assigned_pod = "runtime-python-7d9f8b6c5d-4xk2p";
  r.status.assigned_pod_uid = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
  r.status.start_time = wall_now();
  r.status.attempt = 1;
  auto now = wall_now();
  api::set_condition(r.status.conditions, {"Scheduled", "True", "Assigned", "assigned to runtime pod runtime-python-7d9f8b6c5d-4xk2p", {}, {}, 0}, now);
  api::set_condition(r.status.conditions, {"Running", "True", "Claimed", "claimed by runtimed", {}, {}, 0}, now);
  api::set_condition(r.status.conditions, {"Completed", "False", "Pending", "", {}, {}, 0}, now);
  std::string obj = api::encode(r);
  // Real objects also carry managedFields, which decoders must skip.
  std::string managed =
      R"(,"managedFields":[{"manager":"krt","operation":"Update","apiVersion":"kruntimes.io/v1alpha1","time":"2026-11-22T04:53:43Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:mode":{".":{},"f:task":{".":{},"f:args":{}}},"f:runtime":{},"f:env":{}}}},{"manager":"runtimed","operation":"Update","apiVersion":"kruntimes.io/v1alpha1","time":"2026-11-22T04:53:44Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{".":{},"f:phase":{},"f:startTime":{},"f:conditions":{}}},"subresource":"status"}])";
  auto pos = obj.find("\"metadata\":{") + 12;
  auto end = obj.find('}', obj.find("\"annotations\""));
  (void)pos;
  obj.insert(end + 1, managed);
  return R"({"type":"MODIFIED","object":)" + obj + "}\n";
}

void BM_WatchDecodeRuns(benchmark::State& state) {
  const int events = 1000;
  std::string stream;
  for (int i = 0; i < events; ++i) stream += realistic_run(i);
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  std::int64_t decoded = 0;
  for (auto _ : state) {
    kube::watch_decoder d(kube::codec_of<api::run>());
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      d.feed(std::string_view(stream).substr(off, chunk));
      for (;;) {
        auto ev = d.next();
        if (!ev || !*ev) break;
        benchmark::DoNotOptimize((*ev)->object.meta);
        ++decoded;
      }
    }
  }
  if (decoded != events * static_cast<std::int64_t>(state.iterations())) state.SkipWithError("lost events");
  state.SetBytesProcessed(static_cast<std::int64_t>(stream.size()) * state.iterations());
  state.SetItemsProcessed(decoded);
  state.counters["event_bytes"] = static_cast<double>(stream.size()) / events;
}
BENCHMARK(BM_WatchDecodeRuns)->Arg(4096)->Arg(65536);

void BM_DecodeOneRunObject(benchmark::State& state) {
  std::string line = realistic_run(7);
  std::string obj = line.substr(line.find("\"object\":") + 9);
  obj.resize(obj.size() - 2);  // drop "}\n"
  for (auto _ : state) {
    std::string copy = obj;
    auto r = api::decode_run(copy);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(obj.size()) * state.iterations());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeOneRunObject);

void BM_EncodeStatusPatch(benchmark::State& state) {
  std::string line = realistic_run(7);
  std::string obj = line.substr(line.find("\"object\":") + 9);
  obj.resize(obj.size() - 2);
  auto r = api::decode_run(obj);
  for (auto _ : state) {
    auto patch = api::encode_status_patch(*r);
    benchmark::DoNotOptimize(patch);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeStatusPatch);

}  // namespace
