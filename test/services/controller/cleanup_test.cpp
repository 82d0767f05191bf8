// TTL due times, the artifact store hash (SPEC §8) and the maintainer's
// objects built by the controller.
#include "services/controller/cleanup_build.hpp"

#include <gtest/gtest.h>

#include "lib/api/store_hash.hpp"
#include "lib/api/types.hpp"
#include "services/controller/build.hpp"

namespace krt::controller {
namespace cleanup_test {  // named: this file shares a unity build with build_test.cpp

using namespace std::chrono_literals;

api::run decode(std::string text) {
  auto r = api::decode_run(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().describe());
  return r ? *r : api::run{};
}

// A Run in `phase`, completed at 10:00:00.5Z, with `extra` spliced into spec.
api::run finished(std::string phase, std::string ttl_field, std::string meta_extra = "") {
  return decode(R"({"apiVersion":"kruntimes.io/v1alpha1","kind":"Run",
    "metadata":{"name":"r","namespace":"ns","uid":"u1","resourceVersion":"7")" +
                meta_extra + R"(},
    "spec":{"runtime":"bash")" + ttl_field + R"(},
    "status":{"phase":")" + phase + R"(","completionTime":"2026-11-29T10:00:00.500000Z"}})");
}

wall_time at(std::string_view s) { return *parse_rfc3339(s); }

TEST(Ttl, DueAtCompletionPlusTtl) {
  auto r = finished("Succeeded", R"(,"ttlSecondsAfterFinished":30)");
  auto due = ttl_due(r);
  ASSERT_TRUE(due);
  EXPECT_EQ(*due, at("2026-11-29T10:00:30.500000Z"));
  EXPECT_EQ(*ttl_remaining(r, at("2026-11-29T10:00:10.500000Z")), 20s);
  EXPECT_EQ(*ttl_remaining(r, at("2026-11-29T10:00:30.400000Z")), 100ms);
  EXPECT_EQ(ttl_remaining(r, at("2026-11-29T10:00:30.500000Z"))->count(), 0);
  EXPECT_LT(ttl_remaining(r, at("2026-11-29T11:00:00Z"))->count(), 0);
}

TEST(Ttl, EveryTerminalPhase) {
  for (std::string p : {"Succeeded", "Failed", "Timeout", "Cancelled"})
    EXPECT_TRUE(ttl_due(finished(p, R"(,"ttlSecondsAfterFinished":1)"))) << p;
  for (std::string p : {"", "Pending", "Scheduled", "Running", "Ready"})
    EXPECT_FALSE(ttl_due(finished(p, R"(,"ttlSecondsAfterFinished":1)"))) << p;
}

TEST(Ttl, ZeroUnsetNegativeDeletingOrNoCompletionMeansNever) {
  EXPECT_FALSE(ttl_due(finished("Succeeded", "")));
  EXPECT_FALSE(ttl_due(finished("Succeeded", R"(,"ttlSecondsAfterFinished":0)")));
  EXPECT_FALSE(ttl_due(finished("Succeeded", R"(,"ttlSecondsAfterFinished":-5)")));
  EXPECT_FALSE(ttl_due(finished("Succeeded", R"(,"ttlSecondsAfterFinished":5)",
                                R"(,"deletionTimestamp":"2026-11-29T10:00:01Z")")));
  auto r = finished("Succeeded", R"(,"ttlSecondsAfterFinished":5)");
  r.status.completion_time.reset();
  EXPECT_FALSE(ttl_due(r));
  EXPECT_FALSE(ttl_remaining(r, at("2030-01-01T00:00:00Z")));
}

// Expected values computed independently with Python:
//   t = json.dumps(d, separators=(',', ':'))  (then <, >, & as \u003c, \u003e, \u0026 like Go)
//   hashlib.sha256(t.encode()).hexdigest()[:16]
TEST(StoreHash, MatchesIndependentVectors) {
  api::artifact_store_spec fs;
  fs.driver = "filesystem";
  fs.fs_volume_claim = "artifacts";
  EXPECT_EQ(api::store_spec_json(fs), R"({"driver":"filesystem","filesystem":{"volumeClaimName":"artifacts"}})");
  EXPECT_EQ(api::store_hash(fs), "8ec520a69bdef1d2");

  api::artifact_store_spec s3;
  s3.driver = "s3";
  s3.s3.emplace();
  s3.s3->bucket = "b";
  s3.s3->prefix = "p/x";
  s3.s3->region = "eu-west-1";
  s3.s3->endpoint = "http://minio:9000";
  s3.s3->force_path_style = true;
  s3.s3->credentials_secret_name = "creds";
  s3.s3->upload_part_size = 8388608;
  s3.s3->upload_concurrency = 4;
  EXPECT_EQ(api::store_spec_json(s3),
            R"({"driver":"s3","s3":{"bucket":"b","prefix":"p/x","region":"eu-west-1","endpoint":"http://minio:9000",)"
            R"("forcePathStyle":true,"credentialsSecretName":"creds","uploadPartSize":8388608,"uploadConcurrency":4}})");
  EXPECT_EQ(api::store_hash(s3), "c529cefd7420257e");

  api::artifact_store_spec bare;
  bare.driver = "s3";
  bare.s3.emplace();
  bare.s3->bucket = "b";
  bare.s3->upload_part_size = 0;  // zero is "empty" in Go's omitempty
  EXPECT_EQ(api::store_hash(bare), "83e8e383b483ba45");

  api::artifact_store_spec html;
  html.driver = "filesystem";
  html.fs_volume_claim = "a<b>&c";
  EXPECT_EQ(api::store_hash(html), "4aa5265ea5f0e4a7");
}

TEST(StoreHash, SnapshotRoundTripsInAnyFieldOrder) {
  // runtimed writes this snapshot; another writer may order fields differently.
  auto a = api::parse_store_snapshot(R"({"filesystem":{"volumeClaimName":"artifacts"},"driver":"filesystem"})");
  ASSERT_TRUE(a);
  EXPECT_EQ(api::store_hash(*a), "8ec520a69bdef1d2");
  auto b = api::parse_store_snapshot(
      R"({"s3":{"uploadConcurrency":4,"bucket":"b","forcePathStyle":true,"region":"eu-west-1","prefix":"p/x",)"
      R"("endpoint":"http://minio:9000","uploadPartSize":8388608,"credentialsSecretName":"creds"},"driver":"s3"})");
  ASSERT_TRUE(b);
  EXPECT_EQ(api::store_hash(*b), "c529cefd7420257e");
  EXPECT_FALSE(api::parse_store_snapshot("[1]"));
  EXPECT_FALSE(api::parse_store_snapshot("{"));
  EXPECT_TRUE(api::store_snapshot_empty(std::nullopt));
  EXPECT_TRUE(api::store_snapshot_empty(std::string("{}")));
  EXPECT_TRUE(api::store_snapshot_empty(std::string("null")));
  EXPECT_FALSE(api::store_snapshot_empty(std::string(R"({"driver":"filesystem"})")));
}

TEST(Finalizer, Detected) {
  EXPECT_FALSE(has_cleanup_finalizer(finished("Succeeded", "")));
  EXPECT_TRUE(has_cleanup_finalizer(
      finished("Succeeded", "", R"(,"finalizers":["other/x","kruntimes.io/artifact-cleanup"])")));
}

TEST(Flags, SplitList) {
  EXPECT_EQ(split_list(""), std::vector<std::string>{});
  EXPECT_EQ(split_list("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(split_list(" a, b ,,c,"), (std::vector<std::string>{"a", "b", "c"}));
}

const bj::object& obj(const bj::object& o, std::string_view k) { return o.at(k).as_object(); }
const bj::array& arr(const bj::object& o, std::string_view k) { return o.at(k).as_array(); }

TEST(Maintainer, Deployment) {
  api::artifact_store_spec fs;
  fs.driver = "filesystem";
  fs.fs_volume_claim = "artifacts";
  maintainer_options o;
  o.pull_secrets = {"reg1", "reg2"};
  auto d = build_maintainer_deployment("team", fs, o);
  EXPECT_EQ(d.at("kind"), "Deployment");
  const auto& meta = obj(d, "metadata");
  EXPECT_EQ(meta.at("name"), "runtime-maintainer-8ec520a69bdef1d2");
  EXPECT_EQ(meta.at("namespace"), "team");
  EXPECT_EQ(meta.if_contains("ownerReferences"), nullptr);
  bj::object labels{{"app.kubernetes.io/name", "kruntimes"},
                    {"app.kubernetes.io/component", "runtime-maintainer"},
                    {"kruntimes.io/artifact-store-hash", "8ec520a69bdef1d2"}};
  EXPECT_EQ(obj(meta, "labels"), labels);
  const auto& spec = obj(d, "spec");
  EXPECT_EQ(spec.at("replicas"), 1);
  EXPECT_EQ(obj(obj(spec, "selector"), "matchLabels"), labels);
  const auto& tmpl = obj(spec, "template");
  EXPECT_EQ(obj(obj(tmpl, "metadata"), "labels"), labels);
  const auto& pod = obj(tmpl, "spec");
  EXPECT_EQ(pod.at("serviceAccountName"), "kruntimes-runtime-maintainer");
  EXPECT_EQ(obj(pod, "securityContext").at("fsGroup"), 65532);
  EXPECT_EQ(arr(pod, "imagePullSecrets"), (bj::array{bj::object{{"name", "reg1"}}, bj::object{{"name", "reg2"}}}));
  ASSERT_EQ(arr(pod, "containers").size(), 1u);
  const auto& c = arr(pod, "containers")[0].as_object();
  EXPECT_EQ(c.at("name"), "cleaner");
  EXPECT_EQ(c.at("image"), "kruntimes/maintainer:0.1.0");
  EXPECT_EQ(c.if_contains("command"), nullptr);  // the image's entrypoint (and the local node's mapping)
  EXPECT_EQ(arr(c, "args"), (bj::array{"--run-namespace=team", "--store-hash=8ec520a69bdef1d2", "--driver=filesystem",
                                       "--filesystem-root=/var/lib/kruntimes/artifacts",
                                       "--filesystem-volume-claim=artifacts"}));
  EXPECT_EQ(arr(c, "volumeMounts"),
            (bj::array{bj::object{{"name", "artifact-store"}, {"mountPath", "/var/lib/kruntimes/artifacts"}}}));
  EXPECT_EQ(obj(c, "resources"), (bj::object{{"requests", bj::object{{"cpu", "25m"}, {"memory", "32Mi"}}},
                                             {"limits", bj::object{{"cpu", "250m"}, {"memory", "128Mi"}}}}));
  EXPECT_EQ(obj(c, "securityContext").at("runAsNonRoot"), true);
  EXPECT_EQ(arr(pod, "volumes"),
            (bj::array{bj::object{{"name", "artifact-store"},
                                  {"persistentVolumeClaim", bj::object{{"claimName", "artifacts"}}}}}));

  o.image = "registry/maint:1";
  o.pull_secrets.clear();
  auto d2 = build_maintainer_deployment("team", fs, o);
  const auto& pod2 = obj(obj(obj(d2, "spec"), "template"), "spec");
  EXPECT_EQ(arr(pod2, "containers")[0].as_object().at("image"), "registry/maint:1");
  EXPECT_EQ(pod2.if_contains("imagePullSecrets"), nullptr);

  api::artifact_store_spec s3;
  s3.driver = "s3";
  s3.s3.emplace();
  s3.s3->bucket = "b";
  EXPECT_TRUE(build_maintainer_deployment("team", s3, o).empty());  // not supported yet
}

TEST(Maintainer, RbacIsExactlyWhatTheMaintainerUses) {
  auto role = build_maintainer_role("team");
  EXPECT_EQ(obj(role, "metadata").at("name"), "kruntimes-runtime-maintainer");
  EXPECT_EQ(arr(role, "rules"),
            (bj::array{bj::object{{"apiGroups", bj::array{"kruntimes.io"}},
                                  {"resources", bj::array{"runs"}},
                                  {"verbs", bj::array{"list", "patch"}}},
                       bj::object{{"apiGroups", bj::array{""}},
                                  {"resources", bj::array{"events"}},
                                  {"verbs", bj::array{"create"}}}}));
  auto rb = build_maintainer_role_binding("team");
  EXPECT_EQ(obj(rb, "metadata").at("name"), "kruntimes-runtime-maintainer");
  EXPECT_EQ(obj(rb, "roleRef").at("name"), "kruntimes-runtime-maintainer");
  EXPECT_EQ(arr(rb, "subjects"), (bj::array{bj::object{{"kind", "ServiceAccount"},
                                                       {"name", "kruntimes-runtime-maintainer"},
                                                       {"namespace", "team"}}}));
  auto sa = build_maintainer_service_account("team");
  EXPECT_EQ(obj(sa, "metadata").at("name"), "kruntimes-runtime-maintainer");
  // What we build is what an update compares against: no update loop.
  EXPECT_FALSE(needs_update(role, role, ""));
}

}  // namespace cleanup_test
}  // namespace krt::controller
