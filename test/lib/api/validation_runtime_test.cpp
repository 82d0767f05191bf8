// Tests for lib/api/validation.hpp (Runtime): the pod template CEL rules, the
// OpenAPI limits, artifact store driver/block rules, and DNS name helpers.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lib/api/validation.hpp"
#include "test/lib/api/api_test_util.hpp"

namespace krt::api {
namespace {

// ------------------------------------------------------------------ Runtime

runtime val_runtime_from(std::string json) {
  auto r = decode_runtime(json);
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : runtime{};
}

runtime val_valid_runtime() {
  return val_runtime_from(R"({"metadata": {"name": "python"}, "spec": {"template": {"spec": {
      "serviceAccountName": "runner", "restartPolicy": "Always",
      "containers": [{"name": "runtime", "image": "ghcr.io/example/python:3.12"}, {"name": "side", "image": "b"}]}}}})");
}

std::string val_template(const std::string& pod_spec) {
  return R"({"metadata": {"name": "rt"}, "spec": {"template": {"spec": )" + pod_spec + "}}}";
}

TEST(ApiValidateRuntime, ValidRuntime) {
  runtime r = val_valid_runtime();
  EXPECT_TRUE(validate_runtime(r).empty()) << test_util::describe(validate_runtime(r));
}

TEST(ApiValidateRuntime, TemplateRequired) {
  runtime r = val_valid_runtime();
  r.spec.pod_template.reset();
  test_util::expect_only(validate_runtime(r), "spec.template", "Required value");
}

TEST(ApiValidateRuntime, FirstContainerMustBeRuntime) {
  const std::string msg = "the first container must be named \"runtime\"";
  test_util::expect_only(
      validate_runtime(val_runtime_from(val_template(R"({"containers": [{"name": "main", "image": "i"}]})"))),
      "spec.template.spec.containers[0].name", msg);
  test_util::expect_only(
      validate_runtime(val_runtime_from(
          val_template(R"({"containers": [{"name": "side", "image": "i"}, {"name": "runtime", "image": "i"}]})"))),
      "spec.template.spec.containers[0].name", msg);
  test_util::expect_only(validate_runtime(val_runtime_from(val_template(R"({"containers": []})"))),
                         "spec.template.spec.containers[0].name", msg);
  test_util::expect_only(validate_runtime(val_runtime_from(val_template("{}"))),
                         "spec.template.spec.containers[0].name", msg);
}

TEST(ApiValidateRuntime, FirstImageRequiredAndBounded) {
  for (auto spec :
       {R"({"containers": [{"name": "runtime"}]})", R"({"containers": [{"name": "runtime", "image": null}]})",
        R"({"containers": [{"name": "runtime", "image": ""}]})"}) {
    SCOPED_TRACE(spec);
    test_util::expect_only(validate_runtime(val_runtime_from(val_template(spec))),
                           "spec.template.spec.containers[0].image", "Required value");
  }
  // Only the first container's image is checked.
  EXPECT_TRUE(validate_runtime(val_runtime_from(val_template(
                                   R"({"containers": [{"name": "runtime", "image": "i"}, {"name": "side"}]})")))
                  .empty());
  std::string long_image = std::string(2049, 'i');
  test_util::expect_only(validate_runtime(val_runtime_from(
                             val_template(R"({"containers": [{"name": "runtime", "image": ")" + long_image + "\"}]}"))),
                         "spec.template.spec.containers[0].image", "may not be longer than 2048 characters");
}

TEST(ApiValidateRuntime, RestartPolicyAlwaysWhenSet) {
  const std::string c = R"("containers": [{"name": "runtime", "image": "i"}])";
  EXPECT_TRUE(validate_runtime(val_runtime_from(val_template("{" + c + R"(, "restartPolicy": "Always"})"))).empty());
  for (auto p : {"Never", "OnFailure", "always"}) {
    SCOPED_TRACE(std::string("p = ") + p);
    test_util::expect_only(
        validate_runtime(val_runtime_from(val_template("{" + c + R"(, "restartPolicy": ")" + p + "\"}"))),
        "spec.template.spec.restartPolicy", "restartPolicy must be Always when set");
  }
}

TEST(ApiValidateRuntime, NoEphemeralContainers) {
  const std::string c = R"("containers": [{"name": "runtime", "image": "i"}])";
  test_util::expect_only(
      validate_runtime(val_runtime_from(val_template("{" + c + R"(, "ephemeralContainers": [{"name": "dbg"}]})"))),
      "spec.template.spec.ephemeralContainers", "ephemeral containers are not allowed");
  EXPECT_TRUE(validate_runtime(val_runtime_from(val_template("{" + c + R"(, "ephemeralContainers": null})"))).empty());
}

TEST(ApiValidateRuntime, ServiceAccountNameIsADnsSubdomain) {
  const std::string c = R"("containers": [{"name": "runtime", "image": "i"}])";
  for (auto ok : {"runner", "a.b-c", "x1"}) {
    SCOPED_TRACE(std::string("ok = ") + ok);
    EXPECT_TRUE(
        validate_runtime(val_runtime_from(val_template("{" + c + R"(, "serviceAccountName": ")" + ok + "\"}"))).empty())
        << ok;
  }
  for (auto bad : {"Runner", "a_b", "-a", "a.", "a..b"}) {
    SCOPED_TRACE(std::string("bad = ") + bad);
    test_util::expect_only(
        validate_runtime(val_runtime_from(val_template("{" + c + R"(, "serviceAccountName": ")" + bad + "\"}"))),
        "spec.template.spec.serviceAccountName", "must be a DNS subdomain");
  }
}

TEST(ApiValidateRuntime, PortReplicasDaemonImageCapacity) {
  {
    runtime r = val_valid_runtime();
    r.spec.port = 0;
    test_util::expect_only(validate_runtime(r), "spec.port", "must be greater than or equal to 1");
  }
  {
    runtime r = val_valid_runtime();
    r.spec.replicas = 0;
    test_util::expect_only(validate_runtime(r), "spec.replicas", "must be greater than or equal to 1");
  }
  {
    runtime r = val_valid_runtime();
    r.spec.daemon_image = std::string(2049, 'd');
    test_util::expect_only(validate_runtime(r), "spec.daemonImage", "may not be longer than 2048 characters");
  }
  {
    runtime r = val_valid_runtime();
    r.spec.capacity = {{"runs", "4"}, {"gpu", "x1"}};
    test_util::expect_only(validate_runtime(r), "spec.capacity.resources[gpu]", "not a valid quantity: \"x1\"");
  }
}

s3_store val_s3(std::string bucket) {
  s3_store s;
  s.bucket = std::move(bucket);
  return s;
}

// A valid s3 block ("b") with one field changed.
template <typename F>
s3_store val_s3_with(F change) {
  s3_store s = val_s3("b");
  change(s);
  return s;
}

runtime val_with_store(artifact_store_spec st) {
  runtime r = val_valid_runtime();
  r.spec.artifact_store = std::move(st);
  return r;
}

// Errors of a runtime whose s3 store is valid but for one change.
template <typename F>
std::vector<field_error> val_s3_errors(F change) {
  return validate_runtime(val_with_store({"s3", std::nullopt, val_s3_with(change)}));
}

TEST(ApiValidateRuntime, ArtifactStoreDriver) {
  EXPECT_TRUE(validate_runtime(val_with_store({"filesystem", "pvc", std::nullopt})).empty());
  EXPECT_TRUE(validate_runtime(val_with_store({"s3", std::nullopt, val_s3("b")})).empty());
  auto errs = validate_runtime(val_with_store({"gcs", std::nullopt, std::nullopt}));
  test_util::expect_only(errs, "spec.artifactStore.driver",
                         "Unsupported value: \"gcs\": supported values: \"filesystem\", \"s3\"");
}

TEST(ApiValidateRuntime, ArtifactStoreBlocksMustMatchDriver) {
  const std::string fs_msg = "driver filesystem requires the filesystem block and no s3 block";
  const std::string s3_msg = "driver s3 requires the s3 block and no filesystem block";
  test_util::expect_only(validate_runtime(val_with_store({"filesystem", std::nullopt, std::nullopt})),
                         "spec.artifactStore", fs_msg);
  test_util::expect_only(validate_runtime(val_with_store({"filesystem", "pvc", val_s3("b")})), "spec.artifactStore",
                         fs_msg);
  test_util::expect_only(validate_runtime(val_with_store({"s3", std::nullopt, std::nullopt})), "spec.artifactStore",
                         s3_msg);
  test_util::expect_only(validate_runtime(val_with_store({"s3", "pvc", val_s3("b")})), "spec.artifactStore", s3_msg);
}

TEST(ApiValidateRuntime, ArtifactStoreFieldRules) {
  test_util::expect_only(validate_runtime(val_with_store({"filesystem", "", std::nullopt})),
                         "spec.artifactStore.filesystem.volumeClaimName", "must be at least 1 character");
  for (auto bucket : {"", "a/b", "/"}) {
    SCOPED_TRACE(std::string("bucket = ") + bucket);
    test_util::expect_only(validate_runtime(val_with_store({"s3", std::nullopt, val_s3(bucket)})),
                           "spec.artifactStore.s3.bucket", "must match ^[^/]+$");
  }
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.prefix = std::string(1025, 'p'); }),
                         "spec.artifactStore.s3.prefix", "may not be longer than 1024 characters");
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.region = std::string(129, 'r'); }),
                         "spec.artifactStore.s3.region", "may not be longer than 128 characters");
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.endpoint = std::string(2049, 'e'); }),
                         "spec.artifactStore.s3.endpoint", "may not be longer than 2048 characters");
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.credentials_secret_name = std::string(254, 'c'); }),
                         "spec.artifactStore.s3.credentialsSecretName", "may not be longer than 253 characters");
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.upload_part_size = 5242879; }),
                         "spec.artifactStore.s3.uploadPartSize", "must be greater than or equal to 5242880");
  EXPECT_TRUE(val_s3_errors([](s3_store& s) { s.upload_part_size = 5242880; }).empty());
  test_util::expect_only(val_s3_errors([](s3_store& s) { s.upload_concurrency = 0; }),
                         "spec.artifactStore.s3.uploadConcurrency", "must be greater than or equal to 1");
  EXPECT_TRUE(val_s3_errors([](s3_store& s) {
                s.credentials_secret_name = std::string(253, 'c');
                s.force_path_style = true;
                s.upload_concurrency = 1;
              }).empty());
}

// ------------------------------------------------------------------ DNS names

TEST(ApiDnsNames, Labels) {
  for (auto ok : {"a", "a1", "1a", "a-b"}) EXPECT_TRUE(is_dns_label(ok)) << ok;
  EXPECT_TRUE(is_dns_label(std::string(63, 'a')));
  for (auto bad : {"", "A", "-a", "a-", "a.b", "a_b", "é"}) EXPECT_FALSE(is_dns_label(bad)) << bad;
  EXPECT_FALSE(is_dns_label(std::string(64, 'a')));
}

TEST(ApiDnsNames, Subdomains) {
  for (auto ok : {"a", "a.b", "a-1.b-2.c"}) EXPECT_TRUE(is_dns_subdomain(ok)) << ok;
  for (auto bad : {"", ".a", "a.", "a..b", "A.b", "a_b.c"}) EXPECT_FALSE(is_dns_subdomain(bad)) << bad;
  std::string long_ok;
  while (long_ok.size() + 64 <= 253) long_ok += std::string(63, 'a') + ".";
  long_ok += "b";
  EXPECT_LE(long_ok.size(), 253U);
  EXPECT_TRUE(is_dns_subdomain(long_ok));
  EXPECT_FALSE(is_dns_subdomain(std::string(254, 'a')));
}

}  // namespace
}  // namespace krt::api
