// Tests for lib/api/codec.cpp (Run): decoding a realistic Run with every
// field, encode → decode round trips, and the status merge-patch shape.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "lib/api/types.hpp"
#include "lib/json/decode.hpp"
#include "lib/kube/codec.hpp"
#include "test/lib/api/api_test_util.hpp"

namespace krt::api {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// Every spec and status field the Go project writes, as the API server returns
// it (with fields we ignore, such as managedFields).
const std::string codec_run_json = R"({
  "apiVersion": "kruntimes.io/v1alpha1",
  "kind": "Run",
  "metadata": {
    "name": "hello-7x2k9",
    "generateName": "hello-",
    "namespace": "team-a",
    "uid": "0f2b6a4e-3c1d-4b8a-9e57-1a2b3c4d5e6f",
    "resourceVersion": "48213",
    "generation": 2,
    "creationTimestamp": "2026-11-22T04:53:43Z",
    "labels": {"app": "hello", "kruntimes.io/workflow": "wf-1"},
    "annotations": {"note": "caf\u00e9 \"quoted\""},
    "finalizers": ["kruntimes.io/artifact-cleanup"],
    "ownerReferences": [{"apiVersion": "kruntimes.io/v1alpha1", "kind": "WorkflowRun", "name": "wf-1",
                         "uid": "7c6d5e4f", "controller": true, "blockOwnerDeletion": true}],
    "managedFields": [{"manager": "krt", "operation": "Update", "apiVersion": "kruntimes.io/v1alpha1",
                       "time": "2026-11-22T04:53:43Z", "fieldsType": "FieldsV1",
                       "fieldsV1": {"f:spec": {".": {}, "f:runtime": {}}}}]
  },
  "spec": {
    "runtime": "python-3.12",
    "source": {"repoURL": "https://github.com/example/jobs.git",
               "commitSHA": "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
    "mode": {"task": {"entrypoint": "jobs/main.py", "args": ["--n", "3", "h\u00e9llo \"w\""]}},
    "env": [
      {"name": "A", "value": "1"},
      {"name": "EMPTY", "value": ""},
      {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
    ],
    "resources": {"requests": {"runs": 1, "gpu": "2", "memory": "1Ki"}},
    "timeout": "1h30m",
    "cancelRequested": true,
    "retryPolicy": {"maxAttempts": 3, "backoff": "10s", "retryableReasons": ["PodGone", "Timeout"]},
    "ttlSecondsAfterFinished": 3600,
    "futureField": {"ignored": [1, 2, 3]}
  },
  "status": {
    "phase": "Succeeded",
    "assignedPod": "python-3.12-5d8f9-abcde",
    "assignedPodUID": "9e8d7c6b-0000-4000-8000-000000000001",
    "message": "execution completed",
    "startTime": "2026-11-22T04:53:44.123456Z",
    "completionTime": "2026-11-22T04:53:45.654321Z",
    "outputs": {"result": "42", "json": "{\"a\":1}"},
    "artifactRefs": [
      {"name": "report", "driver": "filesystem", "type": "file",
       "location": {"filesystem": {"path": "runs/hello/report.txt", "volumeClaimName": "artifacts"}},
       "sizeBytes": 1234, "digest": "sha256:abc123", "contentType": "text/plain",
       "createdAt": "2026-11-22T04:53:45.000001Z"},
      {"name": "bundle", "driver": "s3", "type": "archive",
       "location": {"s3": {"bucket": "kr-artifacts", "key": "runs/hello/bundle.tgz"}},
       "sizeBytes": 9876543210}
    ],
    "artifactStore": {"driver": "s3", "s3": {"bucket": "kr-artifacts"}},
    "attempt": 2,
    "conditions": [
      {"type": "Scheduled", "status": "True", "reason": "Assigned",
       "message": "assigned to runtime pod python-3.12-5d8f9-abcde",
       "lastTransitionTime": "2026-11-22T04:53:43.500000Z"},
      {"type": "Running", "status": "False", "reason": "Completed", "message": "",
       "lastTransitionTime": "2026-11-22T04:53:45.654321Z"},
      {"type": "Completed", "status": "True", "reason": "RunCompleted", "message": "Completed successfully",
       "lastTransitionTime": "2026-11-22T04:53:45.654321Z", "observedGeneration": 2}
    ]
  }
})";

const std::string codec_inline_run_json = R"({
  "apiVersion": "kruntimes.io/v1alpha1", "kind": "Run",
  "metadata": {"name": "inline", "namespace": "default"},
  "spec": {"runtime": "sh", "source": {"inline": "echo hi\nexit 0\n", "inlinePath": "run.sh"},
           "mode": {"task": {"entrypoint": "/bin/sh"}}}
})";

wall_time codec_at(int h, int m, int s, int us) {
  return sys_days{year{2026} / November / 22} + hours{h} + minutes{m} + seconds{s} + microseconds{us};
}

run codec_decode_run(std::string text) {
  auto r = decode_run(text);
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : run{};
}

void codec_expect_same_run(const run& a, const run& b) {
  // metadata fields that encode() writes (server-owned ones are not sent).
  EXPECT_EQ(a.metadata.name, b.metadata.name);
  EXPECT_EQ(a.metadata.generate_name, b.metadata.generate_name);
  EXPECT_EQ(a.metadata.namespace_, b.metadata.namespace_);
  EXPECT_EQ(a.metadata.uid, b.metadata.uid);
  EXPECT_EQ(a.metadata.resource_version, b.metadata.resource_version);
  EXPECT_EQ(a.metadata.labels, b.metadata.labels);
  EXPECT_EQ(a.metadata.annotations, b.metadata.annotations);
  EXPECT_EQ(a.metadata.finalizers, b.metadata.finalizers);
  EXPECT_EQ(a.metadata.owner_references, b.metadata.owner_references);
  const auto &s = a.spec, &t = b.spec;
  EXPECT_EQ(s.runtime, t.runtime);
  EXPECT_EQ(s.source, t.source);
  EXPECT_EQ(s.mode, t.mode);
  EXPECT_EQ(s.workspace, t.workspace);
  EXPECT_EQ(s.affinity, t.affinity);
  EXPECT_EQ(s.resource_requests, t.resource_requests);
  EXPECT_EQ(s.env, t.env);
  EXPECT_EQ(s.timeout, t.timeout);
  EXPECT_EQ(s.cancel_requested, t.cancel_requested);
  EXPECT_EQ(s.retry, t.retry);
  EXPECT_EQ(s.ttl_seconds_after_finished, t.ttl_seconds_after_finished);
  const auto &x = a.status, &y = b.status;
  EXPECT_EQ(x.phase_text, y.phase_text);
  EXPECT_EQ(x.assigned_pod, y.assigned_pod);
  EXPECT_EQ(x.assigned_pod_uid, y.assigned_pod_uid);
  EXPECT_EQ(x.message, y.message);
  EXPECT_EQ(x.start_time, y.start_time);
  EXPECT_EQ(x.completion_time, y.completion_time);
  EXPECT_EQ(x.outputs, y.outputs);
  EXPECT_EQ(x.artifact_refs, y.artifact_refs);
  EXPECT_EQ(x.artifact_store, y.artifact_store);
  EXPECT_EQ(x.attempt, y.attempt);
  EXPECT_EQ(x.conditions, y.conditions);
}

// ------------------------------------------------------------------ decode Run

void codec_check_full_run(const run& r) {
  const auto& m = r.metadata;
  EXPECT_EQ(m.name, "hello-7x2k9");
  EXPECT_EQ(m.generate_name, "hello-");
  EXPECT_EQ(m.namespace_, "team-a");
  EXPECT_EQ(m.uid, "0f2b6a4e-3c1d-4b8a-9e57-1a2b3c4d5e6f");
  EXPECT_EQ(m.resource_version, "48213");
  EXPECT_EQ(m.generation, 2);
  EXPECT_EQ(m.creation_timestamp, codec_at(4, 53, 43, 0));
  EXPECT_EQ(m.labels.at("app"), "hello");
  EXPECT_EQ(m.annotations.at("note"), "caf\xC3\xA9 \"quoted\"");
  EXPECT_EQ(m.finalizers, std::vector<std::string>{"kruntimes.io/artifact-cleanup"});
  ASSERT_EQ(m.owner_references.size(), 1U);
  EXPECT_EQ(m.owner_references[0].kind, "WorkflowRun");
  EXPECT_TRUE(m.owner_references[0].controller);
  EXPECT_TRUE(m.owner_references[0].block_owner_deletion);

  const auto& s = r.spec;
  EXPECT_EQ(s.runtime, "python-3.12");
  ASSERT_TRUE(s.source);
  EXPECT_FALSE(s.source->inline_);
  EXPECT_FALSE(s.source->inline_path);
  EXPECT_EQ(s.source->repo_url, "https://github.com/example/jobs.git");
  EXPECT_EQ(s.source->commit_sha, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
  ASSERT_TRUE(s.mode);
  ASSERT_TRUE(s.mode->task);
  EXPECT_FALSE(s.mode->function);
  EXPECT_EQ(s.mode->task->entrypoint, "jobs/main.py");
  EXPECT_EQ(s.mode->task->args, (std::vector<std::string>{"--n", "3", "h\xC3\xA9llo \"w\""}));
  ASSERT_TRUE(s.env);
  ASSERT_EQ(s.env->size(), 3U);
  EXPECT_EQ((*s.env)[0], (env_var{"A", "1", ""}));
  EXPECT_EQ((*s.env)[1], (env_var{"EMPTY", "", ""}));  // present but empty
  EXPECT_EQ((*s.env)[2].name, "SECRET");
  EXPECT_FALSE((*s.env)[2].value);
  EXPECT_EQ((*s.env)[2].value_from, R"({"secretKeyRef": {"name": "creds", "key": "token"}})");
  ASSERT_TRUE(s.resource_requests);
  EXPECT_EQ(*s.resource_requests, (std::map<std::string, std::string>{{"runs", "1"}, {"gpu", "2"}, {"memory", "1Ki"}}));
  EXPECT_EQ(s.timeout, "1h30m");
  EXPECT_TRUE(s.cancel_requested);
  ASSERT_TRUE(s.retry);
  EXPECT_EQ(s.retry->max_attempts, 3);
  EXPECT_EQ(s.retry->backoff, "10s");
  EXPECT_EQ(s.retry->retryable_reasons, (std::vector<std::string>{"PodGone", "Timeout"}));
  EXPECT_EQ(s.ttl_seconds_after_finished, 3600);
  EXPECT_FALSE(s.workspace);
  EXPECT_FALSE(s.affinity);

  const auto& st = r.status;
  EXPECT_EQ(st.phase_text, "Succeeded");
  EXPECT_EQ(st.assigned_pod, "python-3.12-5d8f9-abcde");
  EXPECT_EQ(st.assigned_pod_uid, "9e8d7c6b-0000-4000-8000-000000000001");
  EXPECT_EQ(st.message, "execution completed");
  EXPECT_EQ(st.start_time, codec_at(4, 53, 44, 123456));
  EXPECT_EQ(st.completion_time, codec_at(4, 53, 45, 654321));
  EXPECT_EQ(st.outputs, (std::map<std::string, std::string>{{"result", "42"}, {"json", "{\"a\":1}"}}));
  ASSERT_EQ(st.artifact_refs.size(), 2U);
  const auto& fs = st.artifact_refs[0];
  EXPECT_EQ(fs.name, "report");
  EXPECT_EQ(fs.driver, "filesystem");
  EXPECT_EQ(fs.type, "file");
  EXPECT_EQ(fs.fs_path, "runs/hello/report.txt");
  EXPECT_EQ(fs.fs_volume_claim, "artifacts");
  EXPECT_EQ(fs.size_bytes, 1234);
  EXPECT_EQ(fs.digest, "sha256:abc123");
  EXPECT_EQ(fs.content_type, "text/plain");
  EXPECT_EQ(fs.created_at, codec_at(4, 53, 45, 1));
  const auto& s3 = st.artifact_refs[1];
  EXPECT_EQ(s3.driver, "s3");
  EXPECT_EQ(s3.type, "archive");
  EXPECT_EQ(s3.s3_bucket, "kr-artifacts");
  EXPECT_EQ(s3.s3_key, "runs/hello/bundle.tgz");
  EXPECT_EQ(s3.size_bytes, 9876543210);
  EXPECT_TRUE(s3.fs_path.empty());
  EXPECT_FALSE(s3.created_at);
  EXPECT_EQ(st.artifact_store, R"({"driver": "s3", "s3": {"bucket": "kr-artifacts"}})");
  EXPECT_EQ(st.attempt, 2);
  ASSERT_EQ(st.conditions.size(), 3U);
  EXPECT_EQ(st.conditions[0].type, "Scheduled");
  EXPECT_EQ(st.conditions[0].status, "True");
  EXPECT_EQ(st.conditions[0].reason, "Assigned");
  EXPECT_EQ(st.conditions[0].last_transition_time, codec_at(4, 53, 43, 500000));
  EXPECT_EQ(st.conditions[1].reason, "Completed");
  EXPECT_EQ(st.conditions[1].message, "");
  EXPECT_EQ(st.conditions[2].observed_generation, 2);
}

TEST(ApiCodecRun, DecodesEveryFieldThroughTheTypeCodec) {
  std::string body = codec_run_json;
  auto d = kube::decode_object(kube::codec_of<run>(), body);
  ASSERT_TRUE(d) << d.error().describe();
  ASSERT_TRUE(*d);
  auto r = kube::object_as<run>(*d);
  ASSERT_TRUE(r);
  EXPECT_EQ(d->meta, &r->metadata);
  EXPECT_EQ(kube::codec_of<run>().res, &runs);
  codec_check_full_run(*r);
}

TEST(ApiCodecRun, DecodesEveryFieldThroughDecodeRun) {
  std::string body = codec_run_json;
  auto r = decode_run(body);
  ASSERT_TRUE(r) << r.error().describe();
  codec_check_full_run(*r);
}

TEST(ApiCodecRun, DecodesInlineSource) {
  run r = codec_decode_run(codec_inline_run_json);
  ASSERT_TRUE(r.spec.source);
  EXPECT_EQ(r.spec.source->inline_, "echo hi\nexit 0\n");
  EXPECT_EQ(r.spec.source->inline_path, "run.sh");
  EXPECT_FALSE(r.spec.source->repo_url);
  EXPECT_FALSE(r.spec.source->commit_sha);
  EXPECT_EQ(r.spec.mode->task->entrypoint, "/bin/sh");
  EXPECT_TRUE(r.spec.mode->task->args.empty());
  EXPECT_FALSE(r.spec.env);
  EXPECT_FALSE(r.spec.resource_requests);
  EXPECT_FALSE(r.spec.retry);
  EXPECT_FALSE(r.spec.cancel_requested);
  EXPECT_EQ(r.status.phase_text, "");
}

TEST(ApiCodecRun, NullsMeanAbsent) {
  run r = codec_decode_run(R"({"spec": {"runtime": "x", "source": null, "mode": {"task": null, "function": null},
      "env": null, "resources": {"requests": null}, "timeout": null, "retryPolicy": null,
      "ttlSecondsAfterFinished": null, "workspace": null, "affinity": null},
      "status": {"startTime": null, "conditions": null, "artifactRefs": null, "outputs": null}})");
  EXPECT_FALSE(r.spec.source);
  ASSERT_TRUE(r.spec.mode);
  EXPECT_FALSE(r.spec.mode->task);
  EXPECT_FALSE(r.spec.mode->function);
  EXPECT_FALSE(r.spec.env);
  EXPECT_FALSE(r.spec.resource_requests);
  EXPECT_FALSE(r.spec.timeout);
  EXPECT_FALSE(r.spec.retry);
  EXPECT_FALSE(r.spec.ttl_seconds_after_finished);
  EXPECT_FALSE(r.spec.workspace);
  EXPECT_FALSE(r.spec.affinity);
  EXPECT_FALSE(r.status.start_time);
  EXPECT_TRUE(r.status.conditions.empty());
}

TEST(ApiCodecRun, PresentButEmptyIsKept) {
  run r = codec_decode_run(R"({"spec": {"runtime": "x", "source": {}, "mode": {"task": {}}, "env": [],
      "resources": {"requests": {}}, "retryPolicy": {}}})");
  EXPECT_TRUE(r.spec.source);
  ASSERT_TRUE(r.spec.mode && r.spec.mode->task);
  EXPECT_TRUE(r.spec.env && r.spec.env->empty());
  EXPECT_TRUE(r.spec.resource_requests && r.spec.resource_requests->empty());
  EXPECT_TRUE(r.spec.retry);
}

TEST(ApiCodecRun, DecodesFunctionModeAndPassThroughBlocks) {
  run r = codec_decode_run(R"({"spec": {"runtime": "x",
      "mode": {"function": {"handler": "main.handle", "idleTimeoutSeconds": 30}},
      "workspace": {"name": "ws", "kind": "PersistentWorkspace"},
      "affinity": {"runAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}}}})");
  ASSERT_TRUE(r.spec.mode && r.spec.mode->function);
  EXPECT_EQ(r.spec.mode->function->handler, "main.handle");
  EXPECT_EQ(r.spec.mode->function->idle_timeout_seconds, 30);
  EXPECT_EQ(r.spec.workspace, R"({"name": "ws", "kind": "PersistentWorkspace"})");
  EXPECT_EQ(r.spec.affinity, R"({"runAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}})");
}

TEST(ApiCodecRun, ErrorsNameTheField) {
  struct bad_case {
    const char* json;
    const char* path;
  };
  const bad_case cases[] = {
      {R"({"spec": {"runtime": 5}})", ".spec.runtime"},
      {R"({"spec": {"mode": {"task": {"args": ["a", 1]}}}})", ".spec.mode.task.args[1]"},
      {R"({"spec": {"env": [{"name": "A"}, {"name": 2}]}})", ".spec.env[1].name"},
      {R"({"spec": {"retryPolicy": {"maxAttempts": 4294967296}}})", ".spec.retryPolicy.maxAttempts"},
      {R"({"spec": {"resources": {"requests": {"cpu": true}}}})", ".spec.resources.requests.cpu"},
      {R"({"spec": {"cancelRequested": "yes"}})", ".spec.cancelRequested"},
      {R"({"status": {"startTime": "yesterday"}})", ".status.startTime"},
      {R"({"status": {"attempt": "2"}})", ".status.attempt"},
      {R"({"status": {"artifactRefs": [{}, {"sizeBytes": "1"}]}})", ".status.artifactRefs[1].sizeBytes"},
      {R"({"status": {"conditions": [{"type": "A", "lastTransitionTime": "bad"}]}})",
       ".status.conditions[0].lastTransitionTime"},
      {R"({"metadata": {"labels": {"a": 1}}})", ".metadata.labels.a"},
  };
  for (const auto& c : cases) {
    std::string body = c.json;
    auto r = decode_run(body);
    ASSERT_FALSE(r) << c.json;
    EXPECT_EQ(r.error().path, c.path) << c.json << " -> " << r.error().describe();
  }
}

TEST(ApiCodecRun, TruncatedAtEveryOffsetIsAnError) {
  ASSERT_EQ(codec_run_json.back(), '}');
  for (std::size_t n = 0; n < codec_run_json.size(); ++n) {
    std::string body = codec_run_json.substr(0, n);
    auto d = kube::decode_object(kube::codec_of<run>(), body);
    EXPECT_FALSE(d) << "prefix of " << n << " bytes decoded";
    std::string body2 = codec_run_json.substr(0, n);
    EXPECT_FALSE(decode_run(body2)) << "prefix of " << n << " bytes decoded";
  }
}

TEST(ApiCodecRun, RejectsTrailingContentAndNonObjects) {
  std::string trailing = codec_inline_run_json + " {}";
  EXPECT_FALSE(decode_run(trailing));
  std::string array = "[]";
  EXPECT_FALSE(decode_run(array));
  std::string str = R"("run")";
  EXPECT_FALSE(decode_run(str));
}

// ------------------------------------------------------------------ encode Run

TEST(ApiCodecRun, EncodeDecodeRoundTrip) {
  run original = codec_decode_run(codec_run_json);
  std::string text = encode(original);
  run again = codec_decode_run(text);
  codec_expect_same_run(original, again);
  // And the encoding is stable.
  EXPECT_EQ(encode(again), text);
}

TEST(ApiCodecRun, EncodeDecodeRoundTripInlineAndFunction) {
  for (const std::string& json :
       {codec_inline_run_json, std::string(R"({"metadata": {"name": "f"}, "spec": {"runtime": "x",
            "mode": {"function": {"handler": "h", "idleTimeoutSeconds": 5}},
            "workspace": {"name": "ws"}, "affinity": {"runAntiAffinity": {}}, "env": [],
            "resources": {"requests": {}}, "retryPolicy": {"maxAttempts": 1},
            "ttlSecondsAfterFinished": 0}})")}) {
    run original = codec_decode_run(json);
    run again = codec_decode_run(encode(original));
    codec_expect_same_run(original, again);
  }
}

TEST(ApiCodecRun, EncodeShape) {
  run r = codec_decode_run(codec_run_json);
  auto f = test_util::flatten(encode(r));
  EXPECT_EQ(f[".apiVersion"], R"("kruntimes.io/v1alpha1")");
  EXPECT_EQ(f[".kind"], R"("Run")");
  EXPECT_EQ(f[".metadata.name"], R"("hello-7x2k9")");
  EXPECT_EQ(f[".spec.runtime"], R"("python-3.12")");
  EXPECT_EQ(f[".spec.mode.task.args[2]"], "\"h\xC3\xA9llo \\\"w\\\"\"");
  EXPECT_EQ(f[".spec.env[2].valueFrom.secretKeyRef.key"], R"("token")");
  EXPECT_EQ(f.count(".spec.env[2].value"), 0U);
  EXPECT_EQ(f[".spec.env[1].value"], R"("")");
  EXPECT_EQ(f[".spec.resources.requests.runs"], R"("1")");
  EXPECT_EQ(f[".spec.cancelRequested"], "true");
  EXPECT_EQ(f[".spec.ttlSecondsAfterFinished"], "3600");
  EXPECT_EQ(f[".status.startTime"], R"("2026-11-22T04:53:44.123456Z")");
  EXPECT_EQ(f[".status.artifactRefs[1].location.s3.bucket"], R"("kr-artifacts")");
  EXPECT_EQ(f.count(".status.artifactRefs[1].location.filesystem.path"), 0U);
  EXPECT_EQ(f[".status.artifactRefs[1].sizeBytes"], "9876543210");
  EXPECT_EQ(f[".status.conditions[0].lastTransitionTime"], R"("2026-11-22T04:53:43.500000Z")");
  EXPECT_EQ(f.count(".spec.futureField.ignored[0]"), 0U);
}

TEST(ApiCodecRun, EncodeOmitsUnsetFields) {
  run r;
  r.metadata.name = "min";
  r.spec.runtime = "rt";
  auto f = test_util::flatten(encode(r));
  EXPECT_EQ(f, (std::map<std::string, std::string>{{".apiVersion", R"("kruntimes.io/v1alpha1")"},
                                                   {".kind", R"("Run")"},
                                                   {".metadata.name", R"("min")"},
                                                   {".spec.runtime", R"("rt")"}}));
}

// ------------------------------------------------------------------ status patch

TEST(ApiCodecRun, StatusPatchClearsWhatIsUnset) {
  run r;
  r.metadata.resource_version = "123";
  r.status.phase_text = "Pending";
  r.status.attempt = 2;
  auto f = test_util::flatten(encode_status_patch(r));
  EXPECT_EQ(f, (std::map<std::string, std::string>{
                   {".metadata.resourceVersion", R"("123")"},
                   {".status.phase", R"("Pending")"},
                   {".status.assignedPod", R"("")"},
                   {".status.assignedPodUID", R"("")"},
                   {".status.message", R"("")"},
                   {".status.startTime", "null"},
                   {".status.completionTime", "null"},
                   {".status.attempt", "2"},
                   {".status.conditions", "[]"},
               }));
}

TEST(ApiCodecRun, StatusPatchWritesEmptyPhaseAsPending) {
  run r;
  auto f = test_util::flatten(encode_status_patch(r));
  EXPECT_EQ(f[".status.phase"], R"("Pending")");
  EXPECT_EQ(f.count(".metadata.resourceVersion"), 0U);  // no precondition without a version
  EXPECT_EQ(f[".status.attempt"], "0");
}

TEST(ApiCodecRun, StatusPatchOfAFullStatus) {
  run r = codec_decode_run(codec_run_json);
  auto f = test_util::flatten(encode_status_patch(r));
  EXPECT_EQ(f[".metadata.resourceVersion"], R"("48213")");
  EXPECT_EQ(f.count(".metadata.name"), 0U);
  EXPECT_EQ(f.count(".spec.runtime"), 0U);
  EXPECT_EQ(f[".status.phase"], R"("Succeeded")");
  EXPECT_EQ(f[".status.assignedPod"], R"("python-3.12-5d8f9-abcde")");
  EXPECT_EQ(f[".status.startTime"], R"("2026-11-22T04:53:44.123456Z")");
  EXPECT_EQ(f[".status.completionTime"], R"("2026-11-22T04:53:45.654321Z")");
  EXPECT_EQ(f[".status.outputs.result"], R"("42")");
  EXPECT_EQ(f[".status.artifactRefs[0].location.filesystem.volumeClaimName"], R"("artifacts")");
  EXPECT_EQ(f[".status.artifactStore.s3.bucket"], R"("kr-artifacts")");
  EXPECT_EQ(f[".status.conditions[2].type"], R"("Completed")");
  EXPECT_EQ(f[".status.conditions[2].observedGeneration"], "2");

  // The patch's status decodes back to the same status.
  run back = codec_decode_run(encode_status_patch(r));
  EXPECT_EQ(back.status.phase_text, r.status.phase_text);
  EXPECT_EQ(back.status.start_time, r.status.start_time);
  EXPECT_EQ(back.status.artifact_refs, r.status.artifact_refs);
  EXPECT_EQ(back.status.conditions, r.status.conditions);
  EXPECT_EQ(back.status.outputs, r.status.outputs);
}

TEST(ApiCodecRun, StatusTimestampsKeepMicroseconds) {
  run r;
  r.status.phase_text = "Running";
  r.status.start_time = codec_at(1, 2, 3, 4);
  auto f = test_util::flatten(encode_status_patch(r));
  EXPECT_EQ(f[".status.startTime"], R"("2026-11-22T01:02:03.000004Z")");
  run back = codec_decode_run(encode(r));
  EXPECT_EQ(back.status.start_time, codec_at(1, 2, 3, 4));
}

}  // namespace
}  // namespace krt::api
