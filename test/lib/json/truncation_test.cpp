// Network input can end anywhere: a realistic Kubernetes object cut at every
// byte offset must decode to an error value, never to success and never to a
// crash, whether the decoder reads every value or skips most of them.

#include <gtest/gtest.h>

#include <string>

#include "lib/json/decode.hpp"

namespace krt::json {
namespace {

// A Pod as the API server returns it (trimmed), with the kinds of values a
// decoder meets: nested objects, arrays, escapes, non-ASCII, numbers, booleans,
// nulls and managedFields it skips. It ends at its closing brace.
const std::string pod_json = R"({
  "kind": "Pod",
  "apiVersion": "v1",
  "metadata": {
    "name": "python-7d9f8b6c5-x2k9q",
    "generateName": "python-7d9f8b6c5-",
    "namespace": "team-a",
    "uid": "0f2b6a4e-3c1d-4b8a-9e57-1a2b3c4d5e6f",
    "resourceVersion": "48213",
    "creationTimestamp": "2026-11-22T04:53:43Z",
    "labels": {"runtime": "python", "pod-template-hash": "7d9f8b6c5"},
    "annotations": {"kruntimes.io/capacity.runs": "4", "note": "caf\u00e9 \"quoted\" \\ back"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "python-7d9f8b6c5",
                         "uid": "9a8b7c6d", "controller": true, "blockOwnerDeletion": true}],
    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                       "time": "2026-11-22T04:53:43Z", "fieldsType": "FieldsV1",
                       "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:runtime": {}}}}}]
  },
  "spec": {
    "containers": [{"name": "runtime", "image": "ghcr.io/example/python:3.12",
                    "ports": [{"containerPort": 9091, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    "env": [{"name": "A", "value": "x=1"}, {"name": "B", "value": ""}]}],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "activeDeadlineSeconds": null,
    "priority": -1,
    "overhead": 1.5e3,
    "enableServiceLinks": false
  },
  "status": {
    "phase": "Running",
    "conditions": [
      {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T04:53:50Z"},
      {"type": "kruntimes.io/RuntimedReady", "status": "True", "lastProbeTime": "2026-11-22T04:54:01.123456Z"}
    ],
    "podIP": "10.0.0.12",
    "startTime": "2026-11-22T04:53:43Z"
  }
})";

// Reads every value in the document.
result<void> walk_all(od::value v, int& scalars) {
  od::json_type t;
  if (auto e = v.type().get(t)) return unexpected(from_simdjson(e));
  if (t == od::json_type::object) {
    return for_each_field(v, [&](std::string_view, od::value f) -> result<void> { return walk_all(f, scalars); });
  }
  if (t == od::json_type::array) {
    return for_each_element(v, [&](od::value e) -> result<void> { return walk_all(e, scalars); });
  }
  ++scalars;
  std::string raw;
  return read_raw(v, raw);
}

// Reads a few fields, as a typed decoder does, and skips everything else.
struct pod_facts {
  std::string name;
  std::string phase;
  std::string first_image;
};

result<void> read_sparse(od::value root, pod_facts& out) {
  return for_each_field(root, [&](std::string_view k, od::value v) -> result<void> {
    if (k == "metadata") {
      return for_each_field(v, [&](std::string_view mk, od::value mv) -> result<void> {
        if (mk == "name") return read(mv, out.name);
        return {};
      });
    }
    if (k == "status") {
      return for_each_field(v, [&](std::string_view sk, od::value sv) -> result<void> {
        if (sk == "phase") return read(sv, out.phase);
        return {};
      });
    }
    if (k == "spec") {
      return for_each_field(v, [&](std::string_view sk, od::value sv) -> result<void> {
        if (sk != "containers") return {};
        return for_each_element(sv, [&](od::value c) -> result<void> {
          return for_each_field(c, [&](std::string_view ck, od::value cv) -> result<void> {
            if (ck == "image" && out.first_image.empty()) return read(cv, out.first_image);
            return {};
          });
        });
      });
    }
    return {};
  });
}

TEST(JsonTruncation, WholeDocumentDecodes) {
  std::string text = pod_json;
  int scalars = 0;
  auto r = parse(text, [&](od::value root) { return walk_all(root, scalars); });
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_GT(scalars, 40);

  std::string text2 = pod_json;
  pod_facts facts;
  auto r2 = parse(text2, [&](od::value root) { return read_sparse(root, facts); });
  ASSERT_TRUE(r2) << r2.error().describe();
  EXPECT_EQ(facts.name, "python-7d9f8b6c5-x2k9q");
  EXPECT_EQ(facts.phase, "Running");
  EXPECT_EQ(facts.first_image, "ghcr.io/example/python:3.12");
}

TEST(JsonTruncation, EveryPrefixFailsWhenReadingEverything) {
  ASSERT_EQ(pod_json.back(), '}');
  for (std::size_t n = 0; n < pod_json.size(); ++n) {
    std::string text = pod_json.substr(0, n);
    int scalars = 0;
    auto r = parse(text, [&](od::value root) { return walk_all(root, scalars); });
    EXPECT_FALSE(r) << "a prefix of " << n << " bytes decoded: ..." << pod_json.substr(n > 40 ? n - 40 : 0, 40);
  }
}

TEST(JsonTruncation, EveryPrefixFailsWhenSkipping) {
  for (std::size_t n = 0; n < pod_json.size(); ++n) {
    std::string text = pod_json.substr(0, n);
    pod_facts facts;
    auto r = parse(text, [&](od::value root) { return read_sparse(root, facts); });
    EXPECT_FALSE(r) << "a prefix of " << n << " bytes decoded: ..." << pod_json.substr(n > 40 ? n - 40 : 0, 40);
  }
}

TEST(JsonTruncation, EveryPrefixFailsInAFreshExactSizeBuffer) {
  // No spare capacity: parse() must add the padding itself.
  for (std::size_t n = 0; n < pod_json.size(); ++n) {
    std::string text(pod_json.data(), n);
    text.shrink_to_fit();
    pod_facts facts;
    auto r = parse(text, [&](od::value root) { return read_sparse(root, facts); });
    EXPECT_FALSE(r) << n;
  }
}

TEST(JsonTruncation, ErrorsCarryAClassification) {
  // Cut inside a string, inside a number, between fields, after a key.
  for (std::string text : {R"({"a": "unterminated)", R"({"a": 12)", R"({"a": 1,)", R"({"a":)", R"({"a")",
                           R"([1, 2)", R"({"a": [1, {"b": )"}) {
    int scalars = 0;
    auto r = parse(text, [&](od::value root) { return walk_all(root, scalars); });
    ASSERT_FALSE(r) << text;
    EXPECT_TRUE(r.error().code == errc::truncated || r.error().code == errc::malformed ||
                r.error().code == errc::type_mismatch)
        << text << " -> " << r.error().describe();
    EXPECT_FALSE(r.error().describe().empty());
  }
}

}  // namespace
}  // namespace krt::json
