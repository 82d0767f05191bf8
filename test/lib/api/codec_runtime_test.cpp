// Tests for lib/api/codec.cpp (Runtime): pod template facts, artifact store,
// round trips; and the resource descriptors.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "lib/api/types.hpp"
#include "lib/kube/codec.hpp"
#include "test/lib/api/api_test_util.hpp"

namespace krt::api {
namespace {

// ------------------------------------------------------------------ Runtime

const std::string codec_runtime_json = R"({
  "apiVersion": "kruntimes.io/v1alpha1", "kind": "Runtime",
  "metadata": {"name": "python", "namespace": "team-a", "resourceVersion": "77"},
  "spec": {
    "template": {"metadata": {"labels": {"runtime": "python"}},
                 "spec": {"serviceAccountName": "runner", "restartPolicy": "Always",
                          "containers": [{"name": "runtime", "image": "ghcr.io/example/python:3.12",
                                          "ports": [{"containerPort": 9091}]},
                                         {"name": "sidecar", "image": "busybox:1.36"}],
                          "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}},
    "port": 9092,
    "replicas": 3,
    "daemonImage": "ghcr.io/example/runtimed:1.0",
    "capacity": {"resources": {"runs": 4, "gpu": "1"}},
    "artifactStore": {"driver": "s3", "s3": {"bucket": "kr", "prefix": "p/", "region": "eu-west-1",
                      "endpoint": "https://s3.example", "forcePathStyle": true,
                      "credentialsSecretName": "s3-creds", "uploadPartSize": 5242880,
                      "uploadConcurrency": 4}},
    "workspace": {"emptyDir": {}}
  },
  "status": {"readyReplicas": 2,
             "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                             "message": "", "lastTransitionTime": "2026-11-22T04:53:43Z"}]}
})";

TEST(ApiCodecRuntime, DecodesTemplateFactsAndStore) {
  std::string body = codec_runtime_json;
  auto d = kube::decode_object(kube::codec_of<runtime>(), body);
  ASSERT_TRUE(d) << d.error().describe();
  auto rt = kube::object_as<runtime>(*d);
  EXPECT_EQ(kube::codec_of<runtime>().res, &runtimes);
  EXPECT_EQ(rt->metadata.name, "python");
  const auto& s = rt->spec;
  ASSERT_TRUE(s.pod_template);
  EXPECT_EQ(s.pod_template->substr(0, 14), R"({"metadata": {)");
  EXPECT_EQ(s.pod_template->back(), '}');
  const auto& f = s.template_facts;
  EXPECT_EQ(f.container_names, (std::vector<std::string>{"runtime", "sidecar"}));
  EXPECT_EQ(f.first_image, "ghcr.io/example/python:3.12");
  EXPECT_TRUE(f.first_has_image);
  EXPECT_EQ(f.restart_policy, "Always");
  EXPECT_TRUE(f.has_ephemeral_containers);
  EXPECT_EQ(f.service_account_name, "runner");
  EXPECT_EQ(s.port, 9092);
  EXPECT_EQ(s.replicas, 3);
  EXPECT_EQ(s.daemon_image, "ghcr.io/example/runtimed:1.0");
  EXPECT_EQ(s.capacity, (std::map<std::string, std::string>{{"runs", "4"}, {"gpu", "1"}}));
  ASSERT_TRUE(s.artifact_store);
  EXPECT_EQ(s.artifact_store->driver, "s3");
  EXPECT_FALSE(s.artifact_store->fs_volume_claim);
  ASSERT_TRUE(s.artifact_store->s3);
  const auto& s3 = *s.artifact_store->s3;
  EXPECT_EQ(s3.bucket, "kr");
  EXPECT_EQ(s3.prefix, "p/");
  EXPECT_EQ(s3.region, "eu-west-1");
  EXPECT_EQ(s3.endpoint, "https://s3.example");
  EXPECT_TRUE(s3.force_path_style);
  EXPECT_EQ(s3.credentials_secret_name, "s3-creds");
  EXPECT_EQ(s3.upload_part_size, 5242880);
  EXPECT_EQ(s3.upload_concurrency, 4);
  EXPECT_EQ(s.workspace, R"({"emptyDir": {}})");
  EXPECT_EQ(rt->status.ready_replicas, 2);
  ASSERT_EQ(rt->status.conditions.size(), 1U);
  EXPECT_EQ(rt->status.conditions[0].reason, "MinimumReplicasAvailable");
}

TEST(ApiCodecRuntime, DefaultsAndFilesystemStore) {
  std::string body = R"({"metadata": {"name": "sh"}, "spec": {
      "template": {"spec": {"containers": [{"name": "runtime", "image": null}]}},
      "artifactStore": {"driver": "filesystem", "filesystem": {"volumeClaimName": "pvc"}}}})";
  auto r = decode_runtime(body);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->spec.port, 9091);
  EXPECT_EQ(r->spec.replicas, 1);
  EXPECT_FALSE(r->spec.template_facts.first_has_image);
  EXPECT_FALSE(r->spec.template_facts.has_ephemeral_containers);
  EXPECT_TRUE(r->spec.template_facts.restart_policy.empty());
  ASSERT_TRUE(r->spec.artifact_store);
  EXPECT_EQ(r->spec.artifact_store->fs_volume_claim, "pvc");
  EXPECT_FALSE(r->spec.artifact_store->s3);
}

TEST(ApiCodecRuntime, TemplateErrorsAreReported) {
  std::string not_object = R"({"spec": {"template": "pod"}})";
  EXPECT_FALSE(decode_runtime(not_object));
  std::string bad_name = R"({"spec": {"template": {"spec": {"containers": [{"name": 7}]}}}})";
  EXPECT_FALSE(decode_runtime(bad_name));
}

TEST(ApiCodecRuntime, EncodeDecodeRoundTrip) {
  std::string body = codec_runtime_json;
  auto a = decode_runtime(body);
  ASSERT_TRUE(a) << a.error().describe();
  std::string text = encode(*a);
  auto b = decode_runtime(text);
  ASSERT_TRUE(b) << b.error().describe() << "\n" << text;
  EXPECT_EQ(a->metadata.name, b->metadata.name);
  EXPECT_EQ(a->spec.pod_template, b->spec.pod_template);
  EXPECT_EQ(a->spec.template_facts.container_names, b->spec.template_facts.container_names);
  EXPECT_EQ(a->spec.port, b->spec.port);
  EXPECT_EQ(a->spec.replicas, b->spec.replicas);
  EXPECT_EQ(a->spec.daemon_image, b->spec.daemon_image);
  EXPECT_EQ(a->spec.capacity, b->spec.capacity);
  EXPECT_EQ(a->spec.artifact_store, b->spec.artifact_store);
  EXPECT_EQ(a->spec.workspace, b->spec.workspace);
  auto f = test_util::flatten(text);
  EXPECT_EQ(f[".kind"], R"("Runtime")");
  EXPECT_EQ(f[".spec.template.spec.containers[0].name"], R"("runtime")");
  EXPECT_EQ(f[".spec.artifactStore.s3.forcePathStyle"], "true");
}

TEST(ApiCodecRuntime, TruncatedAtEveryOffsetIsAnError) {
  ASSERT_EQ(codec_runtime_json.back(), '}');
  for (std::size_t n = 0; n < codec_runtime_json.size(); ++n) {
    std::string body = codec_runtime_json.substr(0, n);
    EXPECT_FALSE(kube::decode_object(kube::codec_of<runtime>(), body)) << n;
  }
}

TEST(ApiResources, Descriptors) {
  EXPECT_EQ(runs.api_version(), "kruntimes.io/v1alpha1");
  EXPECT_EQ(runs.path("team-a", "r1", "status"), "/apis/kruntimes.io/v1alpha1/namespaces/team-a/runs/r1/status");
  EXPECT_EQ(runtimes.path(""), "/apis/kruntimes.io/v1alpha1/runtimes");
  EXPECT_EQ(runs.kind, "Run");
  EXPECT_EQ(runtimes.kind, "Runtime");
  EXPECT_TRUE(runs.namespaced);
}

}  // namespace
}  // namespace krt::api
