// Tests for local/apiserver/patch.cpp: the RFC 7386 and RFC 6902 appendix
// examples, and strategic merge patches as kubectl sends them.

#include "local/apiserver/patch.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

namespace krt::local::patch_test {
namespace {

bj::value j(std::string_view text) {
  boost::system::error_code ec;
  bj::value v = parse_json(text, ec, max_stored_json_depth);
  if (ec) throw boost::system::system_error(ec);
  return v;
}

// ---------------------------------------------------------------------------
// JSON merge patch (RFC 7386)

struct merge_case {
  const char* target;
  const char* patch;
  const char* expected;
};

void PrintTo(const merge_case& c, std::ostream* os) { *os << c.target << " + " << c.patch; }

class MergePatchAppendixA : public ::testing::TestWithParam<merge_case> {};

TEST_P(MergePatchAppendixA, Applies) {
  bj::value target = j(GetParam().target);
  apply_merge_patch(target, j(GetParam().patch));
  EXPECT_EQ(target, j(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc7386, MergePatchAppendixA,
    ::testing::Values(merge_case{R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
                      merge_case{R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
                      merge_case{R"({"a":"b"})", R"({"a":null})", R"({})"},
                      merge_case{R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
                      merge_case{R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
                      merge_case{R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
                      merge_case{R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
                      merge_case{R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
                      merge_case{R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
                      merge_case{R"({"a":"b"})", R"(["c"])", R"(["c"])"}, merge_case{R"({"a":"foo"})", "null", "null"},
                      merge_case{R"({"a":"foo"})", R"("bar")", R"("bar")"},
                      merge_case{R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
                      merge_case{R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
                      merge_case{R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"}));

TEST(MergePatch, Rfc7386Section3Example) {
  bj::value target = j(R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
                           "tags":["example","sample"],"content":"This will be unchanged"})");
  apply_merge_patch(target, j(R"({"title":"Hello!","phoneNumber":"+01-555-555-5555",
                                  "author":{"familyName":null},"tags":["example"]})"));
  EXPECT_EQ(target, j(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
                          "content":"This will be unchanged","phoneNumber":"+01-555-555-5555"})"));
}

TEST(MergePatch, DeletingKeepsTheOrderOfTheOtherMembers) {
  bj::value target = j(R"({"a":1,"b":2,"c":3,"d":4})");
  apply_merge_patch(target, j(R"({"b":null})"));
  EXPECT_EQ(bj::serialize(target), R"({"a":1,"c":3,"d":4})");
}

// ---------------------------------------------------------------------------
// JSON patch (RFC 6902)

struct json_patch_case {
  const char* name;
  const char* target;
  const char* patch;
  const char* expected;  // nullptr: the patch must fail
};

void PrintTo(const json_patch_case& c, std::ostream* os) { *os << c.name; }

class JsonPatchAppendixA : public ::testing::TestWithParam<json_patch_case> {};

TEST_P(JsonPatchAppendixA, Applies) {
  bj::value target = j(GetParam().target);
  auto applied = apply_json_patch(target, j(GetParam().patch));
  if (GetParam().expected == nullptr) {
    EXPECT_FALSE(applied) << "patched to " << target;
  } else {
    ASSERT_TRUE(applied) << applied.error();
    EXPECT_EQ(target, j(GetParam().expected));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc6902, JsonPatchAppendixA,
    ::testing::Values(
        json_patch_case{"A1AddObjectMember", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
                        R"({"baz":"qux","foo":"bar"})"},
        json_patch_case{"A2AddArrayElement", R"({"foo":["bar","baz"]})",
                        R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})"},
        json_patch_case{"A3RemoveObjectMember", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
                        R"({"foo":"bar"})"},
        json_patch_case{"A4RemoveArrayElement", R"({"foo":["bar","qux","baz"]})",
                        R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})"},
        json_patch_case{"A5ReplaceValue", R"({"baz":"qux","foo":"bar"})",
                        R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})"},
        json_patch_case{"A6MoveValue", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
                        R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
                        R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
        json_patch_case{"A7MoveArrayElement", R"({"foo":["all","grass","cows","eat"]})",
                        R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
                        R"({"foo":["all","cows","eat","grass"]})"},
        json_patch_case{"A8TestSuccess", R"({"baz":"qux","foo":["a",2,"c"]})",
                        R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
                        R"({"baz":"qux","foo":["a",2,"c"]})"},
        json_patch_case{"A9TestError", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])", nullptr},
        json_patch_case{"A10AddNestedMember", R"({"foo":"bar"})",
                        R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
                        R"({"foo":"bar","child":{"grandchild":{}}})"},
        json_patch_case{"A11IgnoreUnrecognizedMembers", R"({"foo":"bar"})",
                        R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})"},
        json_patch_case{"A12AddToNonexistentTarget", R"({"foo":"bar"})",
                        R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr},
        json_patch_case{"A14EscapeOrdering", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
                        R"({"/":9,"~1":10})"},
        json_patch_case{"A15StringIsNotNumber", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])",
                        nullptr},
        json_patch_case{"A16AddArrayValue", R"({"foo":["bar"]})",
                        R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])", R"({"foo":["bar",["abc","def"]]})"},
        // Beyond the appendix.
        json_patch_case{"SlashEscape", R"({"a/b":1})", R"([{"op":"replace","path":"/a~1b","value":2}])",
                        R"({"a/b":2})"},
        json_patch_case{"AddReplacesExistingMember", R"({"a":1})", R"([{"op":"add","path":"/a","value":2}])",
                        R"({"a":2})"},
        json_patch_case{"AddAtArrayEnd", R"({"a":[1]})", R"([{"op":"add","path":"/a/1","value":2}])", R"({"a":[1,2]})"},
        json_patch_case{"AddPastArrayEnd", R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":2}])", nullptr},
        json_patch_case{"LeadingZeroIndex", R"({"a":[1,2]})", R"([{"op":"remove","path":"/a/01"}])", nullptr},
        json_patch_case{"DashOnlyForAdd", R"({"a":[1,2]})", R"([{"op":"remove","path":"/a/-"}])", nullptr},
        json_patch_case{"AddReplacesWholeDocument", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])", "[1]"},
        json_patch_case{"ReplaceWholeDocument", R"({"a":1})", R"([{"op":"replace","path":"","value":{"b":2}}])",
                        R"({"b":2})"},
        json_patch_case{"ReplaceMissing", R"({"a":1})", R"([{"op":"replace","path":"/b","value":2}])", nullptr},
        json_patch_case{"RemoveMissing", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", nullptr},
        json_patch_case{"RemoveWholeDocument", R"({"a":1})", R"([{"op":"remove","path":""}])", nullptr},
        json_patch_case{"CopyValue", R"({"a":{"x":[1]}})", R"([{"op":"copy","from":"/a","path":"/b"}])",
                        R"({"a":{"x":[1]},"b":{"x":[1]}})"},
        json_patch_case{"CopyIntoOwnArray", R"({"a":[1,2]})", R"([{"op":"copy","from":"/a/0","path":"/a/-"}])",
                        R"({"a":[1,2,1]})"},
        json_patch_case{"MoveIntoOwnChild", R"({"a":{"b":{}}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])",
                        nullptr},
        json_patch_case{"MoveToSelf", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})"},
        json_patch_case{"MoveMissing", R"({"a":1})", R"([{"op":"move","from":"/x","path":"/y"}])", nullptr},
        json_patch_case{"TestObjectsIgnoreMemberOrder", R"({"a":{"x":1,"y":[true,null]}})",
                        R"([{"op":"test","path":"/a","value":{"y":[true,null],"x":1.0}}])",
                        R"({"a":{"x":1,"y":[true,null]}})"},
        json_patch_case{"TestArrayOrderMatters", R"({"a":[1,2]})", R"([{"op":"test","path":"/a","value":[2,1]}])",
                        nullptr},
        json_patch_case{"TestMissing", R"({"a":1})", R"([{"op":"test","path":"/b","value":null}])", nullptr},
        json_patch_case{"TestNullValue", R"({"a":null})", R"([{"op":"test","path":"/a","value":null}])",
                        R"({"a":null})"},
        json_patch_case{"UnknownOp", R"({})", R"([{"op":"frobnicate","path":"/a"}])", nullptr},
        json_patch_case{"MissingValue", R"({})", R"([{"op":"add","path":"/a"}])", nullptr},
        json_patch_case{"MissingFrom", R"({"a":1})", R"([{"op":"copy","path":"/b"}])", nullptr},
        json_patch_case{"MissingPath", R"({})", R"([{"op":"add","value":1}])", nullptr},
        json_patch_case{"BadPointer", R"({})", R"([{"op":"add","path":"a","value":1}])", nullptr},
        json_patch_case{"BadEscape", R"({"a~":1})", R"([{"op":"remove","path":"/a~"}])", nullptr},
        json_patch_case{"PathThroughScalar", R"({"a":1})", R"([{"op":"add","path":"/a/b","value":1}])", nullptr},
        json_patch_case{"NotAnArray", R"({})", R"({"op":"add","path":"/a","value":1})", nullptr},
        json_patch_case{"OperationNotAnObject", R"({})", R"([1])", nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JsonPatch, ErrorNamesTheOperation) {
  bj::value target = j(R"({"spec":{"a":1}})");
  auto applied =
      apply_json_patch(target, j(R"([{"op":"test","path":"/spec/a","value":1},{"op":"remove","path":"/spec/x"}])"));
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error(), "json patch operation 1 (remove /spec/x): no such path");
}

// The bounds of json.hpp: copies share one byte budget, no operation nests
// the document deeper than max_json_depth, and the walks that check it stop
// at the limit.
TEST(JsonPatch, CopiesThatDoubleTheDocumentStopAtTheCopyBudget) {
  bj::value target = j(R"({"x":["0123456789012345678901234567890123456789"]})");
  bj::array bomb;
  for (int i = 0; i < 40; ++i) bomb.push_back(j(R"({"op":"copy","from":"/x","path":"/x/-"})"));
  auto applied = apply_json_patch(target, bomb);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().find("would add more than 3145728 bytes"), std::string::npos) << applied.error();
  EXPECT_LT(measure_json(target, max_json_depth, static_cast<std::size_t>(-1)).bytes, 2 * max_json_patch_copy_bytes);
}

TEST(JsonPatch, NoOperationNestsDeeperThanTheLimit) {
  std::string deep = "1";
  for (std::size_t i = 0; i < max_json_depth - 1; ++i) deep = "[" + deep + "]";
  bj::value target = j(R"({"a":{}})");
  auto at_limit = apply_json_patch(target, j(R"([{"op":"add","path":"/b","value":)" + deep + "}]"));
  EXPECT_TRUE(at_limit) << at_limit.error();
  auto over = apply_json_patch(target, j(R"([{"op":"add","path":"/a/b","value":)" + deep + "}]"));
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().find("deeper than 256 levels"), std::string::npos) << over.error();
  auto moved = apply_json_patch(target, j(R"([{"op":"move","from":"/b","path":"/a/b"}])"));
  ASSERT_FALSE(moved);
  EXPECT_NE(moved.error().find("deeper than 256 levels"), std::string::npos) << moved.error();
  auto copied = apply_json_patch(target, j(R"([{"op":"copy","from":"/b","path":"/a/c"}])"));
  ASSERT_FALSE(copied);
  EXPECT_NE(copied.error().find("deeper than 256 levels"), std::string::npos) << copied.error();
}

TEST(JsonPatch, MoreThanTenThousandOperationsAreRefused) {
  bj::value target = j(R"({"a":1})");
  bj::array ops(max_json_patch_operations + 1, j(R"({"op":"test","path":"/a","value":1})"));
  auto applied = apply_json_patch(target, ops);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().find("maximum operations"), std::string::npos);
  ops.pop_back();
  EXPECT_TRUE(apply_json_patch(target, ops));
}

TEST(Json, MeasureStopsAtItsLimitsAndParseAcceptsTheDepthLimit) {
  std::string deep = "0";
  for (int i = 0; i < 300; ++i) deep = "[" + deep + "]";
  boost::system::error_code ec;
  bj::value v = parse_json(deep, ec, max_stored_json_depth);
  ASSERT_FALSE(ec) << ec.message();
  auto e = measure_json(v, max_json_depth, static_cast<std::size_t>(-1));
  EXPECT_FALSE(e.within);
  EXPECT_EQ(e.depth, max_json_depth + 1);  // stopped one level past the limit
  EXPECT_TRUE(measure_json(v, 300, static_cast<std::size_t>(-1)).within);
  parse_json(deep, ec);
  EXPECT_TRUE(ec);  // a request body 300 deep
  EXPECT_FALSE(measure_json(v, 1000, 100).within);
}

TEST(JsonPatch, AppliesOperationsInSequence) {
  bj::value target = j(R"({"metadata":{"labels":{"a":"1"}}})");
  auto applied = apply_json_patch(target, j(R"([
      {"op":"add","path":"/metadata/labels/b","value":"2"},
      {"op":"move","from":"/metadata/labels/a","path":"/metadata/labels/c"},
      {"op":"test","path":"/metadata/labels","value":{"b":"2","c":"1"}},
      {"op":"add","path":"/metadata/finalizers","value":[]},
      {"op":"add","path":"/metadata/finalizers/-","value":"x"},
      {"op":"add","path":"/metadata/finalizers/0","value":"w"}])"));
  ASSERT_TRUE(applied) << applied.error();
  EXPECT_EQ(target, j(R"({"metadata":{"labels":{"b":"2","c":"1"},"finalizers":["w","x"]}})"));
}

// ---------------------------------------------------------------------------
// Strategic merge patch

bj::value smp(std::string_view target, std::string_view patch, std::string_view kind = "Deployment") {
  bj::value doc = j(target);
  auto applied = apply_strategic_merge_patch(doc, j(patch), kind);
  EXPECT_TRUE(applied) << applied.error();
  return doc;
}

std::string smp_error(std::string_view target, std::string_view patch, std::string_view kind = "Deployment") {
  bj::value doc = j(target);
  auto applied = apply_strategic_merge_patch(doc, j(patch), kind);
  return applied ? std::string("(no error)") : applied.error();
}

const char* const deployment = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {
        "containers": [
          {"name": "nginx", "image": "nginx:1.14", "args": ["-g", "daemon off;"],
           "ports": [{"containerPort": 80, "protocol": "TCP"}],
           "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
           "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
          {"name": "sidecar", "image": "busybox", "command": ["sleep", "infinity"]}
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "k", "operator": "Exists"}]
      }
    }
  }
})";

// The patch `kubectl apply` computes when only the image changed.
TEST(StrategicMergePatch, KubectlApplyChangesAnImage) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
      "containers":[{"image":"nginx:1.16","name":"nginx"}]}}}})");
  const auto& containers = doc.at_pointer("/spec/template/spec/containers").as_array();
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0], j(R"({"name": "nginx", "image": "nginx:1.16", "args": ["-g", "daemon off;"],
           "ports": [{"containerPort": 80, "protocol": "TCP"}],
           "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
           "volumeMounts": [{"name": "data", "mountPath": "/data"}]})"));
  EXPECT_EQ(containers[1].at("name"), "sidecar");
  EXPECT_EQ(doc.at_pointer("/spec/replicas"), 2);
}

TEST(StrategicMergePatch, SetElementOrderReordersTheList) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}})");
  const auto& containers = doc.at_pointer("/spec/template/spec/containers").as_array();
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0].at("name"), "sidecar");
  EXPECT_EQ(containers[1].at("name"), "nginx");
  EXPECT_EQ(containers[1].at("image"), "nginx:1.14");
}

TEST(StrategicMergePatch, SetElementOrderAddsInPlaceAndKeepsServerOnlyElements) {
  // "b" is not in the directive (another writer added it): it keeps its
  // position relative to the elements the server already had.
  bj::value doc = smp(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
                      R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"new"},{"name":"c"}],
                                  "containers":[{"name":"new","image":"n"},{"name":"c","image":"c2"}]}})",
                      "Pod");
  EXPECT_EQ(doc, j(R"({"spec":{"containers":[{"name":"a"},{"name":"new","image":"n"},{"name":"b"},
                                             {"name":"c","image":"c2"}]}})"));
}

TEST(StrategicMergePatch, SetElementOrderMustAgreeWithThePatchList) {
  EXPECT_NE(smp_error(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
                      R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
                                  "containers":[{"name":"b","image":"x"},{"name":"a","image":"y"}]}})",
                      "Pod")
                .find("$setElementOrder/containers"),
            std::string::npos);
}

TEST(StrategicMergePatch, DeletesAContainer) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "containers":[{"name":"sidecar","$patch":"delete"}]}}}})");
  const auto& containers = doc.at_pointer("/spec/template/spec/containers").as_array();
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(containers[0].at("name"), "nginx");
  EXPECT_EQ(containers[0].at("image"), "nginx:1.14");
}

TEST(StrategicMergePatch, KubectlApplyDeletesAContainerWithElementOrder) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"nginx"}],
      "containers":[{"$patch":"delete","name":"sidecar"}]}}}})");
  const auto& containers = doc.at_pointer("/spec/template/spec/containers").as_array();
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(containers[0].at("name"), "nginx");
}

TEST(StrategicMergePatch, MergesEnvByName) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{"containers":[
      {"name":"nginx","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}]}]}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/0/env"),
            j(R"([{"name":"A","value":"1"},{"name":"B","value":"3"},{"name":"C","value":"4"}])"));
  // The container's other fields are untouched.
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/0/image"), "nginx:1.14");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/1/name"), "sidecar");
}

TEST(StrategicMergePatch, NewElementWithoutOrderGoesFirstAsInKubernetes) {
  bj::value doc = smp(R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}})",
                      R"({"spec":{"containers":[{"name":"c","env":[{"name":"Z","value":"9"}]}]}})", "Pod");
  EXPECT_EQ(doc.at_pointer("/spec/containers/0/env"), j(R"([{"name":"Z","value":"9"},{"name":"A","value":"1"}])"));
}

TEST(StrategicMergePatch, NullDeletesAnEnvValueInsideAMergedElement) {
  bj::value doc = smp(R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}})",
                      R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","value":null,
                          "valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}})",
                      "Pod");
  EXPECT_EQ(doc.at_pointer("/spec/containers/0/env"),
            j(R"([{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}])"));
}

TEST(StrategicMergePatch, FinalizersMergeAsASet) {
  bj::value doc = smp(deployment, R"({"metadata":{"finalizers":["b","c"]}})");
  EXPECT_EQ(doc.at_pointer("/metadata/finalizers"), j(R"(["a","b","c"])"));
  doc = smp(deployment, R"({"metadata":{"finalizers":["a"]}})");
  EXPECT_EQ(doc.at_pointer("/metadata/finalizers"), j(R"(["a","b"])"));
}

TEST(StrategicMergePatch, DeleteFromPrimitiveList) {
  bj::value doc = smp(deployment, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","zzz"]}})");
  EXPECT_EQ(doc.at_pointer("/metadata/finalizers"), j(R"(["b"])"));
}

TEST(StrategicMergePatch, KubectlApplyPrimitiveListWithOrderAndDeletion) {
  bj::value doc = smp(R"({"metadata":{"finalizers":["a","b"]}})", R"({"metadata":{
      "$setElementOrder/finalizers":["c","a"],
      "$deleteFromPrimitiveList/finalizers":["b"],
      "finalizers":["c"]}})");
  EXPECT_EQ(doc.at_pointer("/metadata/finalizers"), j(R"(["c","a"])"));
}

TEST(StrategicMergePatch, ListsWithoutAMergeKeyAreReplaced) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "tolerations":[{"key":"other","operator":"Exists"}],
      "containers":[{"name":"nginx","args":["-v"]}]}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/tolerations"), j(R"([{"key":"other","operator":"Exists"}])"));
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/0/args"), j(R"(["-v"])"));
}

TEST(StrategicMergePatch, ContainerPortsMergeByContainerPort) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{"containers":[
      {"name":"nginx","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}]}]}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/0/ports"),
            j(R"([{"containerPort":80,"protocol":"TCP","name":"http"},{"containerPort":443}])"));
}

TEST(StrategicMergePatch, ServicePortsMergeByPort) {
  const char* service = R"({"kind":"Service","spec":{"selector":{"app":"web"},
      "ports":[{"port":80,"targetPort":8080,"protocol":"TCP"},{"port":443,"targetPort":8443}]}})";
  bj::value doc = smp(service, R"({"spec":{"ports":[{"port":443,"targetPort":9443}]}})", "Service");
  EXPECT_EQ(doc.at_pointer("/spec/ports"),
            j(R"([{"port":80,"targetPort":8080,"protocol":"TCP"},{"port":443,"targetPort":9443}])"));
}

TEST(StrategicMergePatch, PortsElsewhereAreReplaced) {
  const char* policy = R"({"kind":"NetworkPolicy","spec":{"ingress":[{"ports":[{"port":80},{"port":443}]}]}})";
  bj::value doc = smp(policy, R"({"spec":{"ingress":[{"ports":[{"port":8080}]}]}})", "NetworkPolicy");
  EXPECT_EQ(doc.at_pointer("/spec/ingress"), j(R"([{"ports":[{"port":8080}]}])"));
  // A Service-shaped "spec.ports" on another kind is not a Service's list.
  doc = smp(R"({"spec":{"ports":[{"port":80}]}})", R"({"spec":{"ports":[{"port":81}]}})", "Deployment");
  EXPECT_EQ(doc.at_pointer("/spec/ports"), j(R"([{"port":81}])"));
}

TEST(StrategicMergePatch, MergeKeysCompareNumbersByValue) {
  bj::value doc = smp(R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":80}]}]}})",
                      R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":80.0,"name":"h"}]}]}})", "Pod");
  EXPECT_EQ(doc.at_pointer("/spec/containers/0/ports").as_array().size(), 1u);
}

TEST(StrategicMergePatch, VolumesAndMountsMergeByTheirKeys) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "volumes":[{"name":"cache","emptyDir":{"medium":"Memory"}}],
      "containers":[{"name":"nginx","volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/volumes"),
            j(R"([{"name":"cache","emptyDir":{"medium":"Memory"}},{"name":"data","emptyDir":{}}])"));
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers/0/volumeMounts"),
            j(R"([{"name":"data","mountPath":"/data","readOnly":true}])"));
}

TEST(StrategicMergePatch, OwnerReferencesAndConditions) {
  bj::value doc = smp(R"({"metadata":{"ownerReferences":[{"uid":"u1","name":"a"},{"uid":"u2","name":"b"}]},
                          "status":{"conditions":[{"type":"Ready","status":"False"},
                                                  {"type":"Scheduled","status":"True"}]}})",
                      R"({"metadata":{"ownerReferences":[{"uid":"u2","controller":true}]},
                          "status":{"conditions":[{"type":"Ready","status":"True"}]}})",
                      "Pod");
  EXPECT_EQ(doc.at_pointer("/metadata/ownerReferences"),
            j(R"([{"uid":"u1","name":"a"},{"uid":"u2","name":"b","controller":true}])"));
  EXPECT_EQ(doc.at_pointer("/status/conditions"),
            j(R"([{"type":"Ready","status":"True"},{"type":"Scheduled","status":"True"}])"));
}

TEST(StrategicMergePatch, NullDeletesAKey) {
  bj::value doc = smp(deployment, R"({"metadata":{"labels":{"app":null,"tier":"front"}},"spec":{"strategy":null}})");
  EXPECT_EQ(doc.at_pointer("/metadata/labels"), j(R"({"tier":"front"})"));
  EXPECT_FALSE(doc.at("spec").as_object().contains("strategy"));
}

TEST(StrategicMergePatch, NullForAnAbsentKeyIsDropped) {
  bj::value doc = smp(R"({"a":1})", R"({"b":null})");
  EXPECT_EQ(doc, j(R"({"a":1})"));
}

TEST(StrategicMergePatch, RetainKeysClearsTheOtherFields) {
  bj::value doc = smp(deployment, R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})");
  EXPECT_EQ(doc.at_pointer("/spec/strategy"), j(R"({"type":"Recreate"})"));
}

TEST(StrategicMergePatch, RetainKeysMustListThePatchedFields) {
  EXPECT_NE(smp_error(deployment, R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":2}}}})")
                .find("$retainKeys"),
            std::string::npos);
  EXPECT_NE(smp_error(deployment, R"({"spec":{"strategy":{"$retainKeys":"type"}}})").find("$retainKeys"),
            std::string::npos);
}

TEST(StrategicMergePatch, PatchReplaceOnAMap) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"metadata":{"labels":{"$patch":"replace","v":"2"}}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/metadata/labels"), j(R"({"v":"2"})"));
}

TEST(StrategicMergePatch, PatchDeleteOnAMap) {
  bj::value doc = smp(deployment, R"({"spec":{"strategy":{"$patch":"delete"}}})");
  EXPECT_EQ(doc.at_pointer("/spec/strategy"), j("{}"));
}

TEST(StrategicMergePatch, PatchMergeOnAMapIsTheDefault) {
  bj::value doc = smp(deployment, R"({"metadata":{"labels":{"$patch":"merge","x":"y"}}})");
  EXPECT_EQ(doc.at_pointer("/metadata/labels"), j(R"({"app":"web","x":"y"})"));
}

TEST(StrategicMergePatch, PatchReplaceOnAList) {
  bj::value doc = smp(deployment, R"({"spec":{"template":{"spec":{
      "containers":[{"$patch":"replace"},{"name":"only","image":"i"}]}}}})");
  EXPECT_EQ(doc.at_pointer("/spec/template/spec/containers"), j(R"([{"name":"only","image":"i"}])"));
  doc = smp(deployment, R"({"metadata":{"finalizers":[{"$patch":"replace"},"z"]}})");
  EXPECT_EQ(doc.at_pointer("/metadata/finalizers"), j(R"(["z"])"));
}

TEST(StrategicMergePatch, DirectivesNeverReachTheObject) {
  bj::value doc = smp(R"({"spec":{}})", R"({"spec":{
      "volumes":[{"name":"v","emptyDir":{}},{"name":"w","$patch":"delete"}],
      "securityContext":{"$patch":"replace","runAsUser":1},
      "$setElementOrder/volumes":[{"name":"v"}]}})",
                      "Pod");
  EXPECT_EQ(doc, j(R"({"spec":{"volumes":[{"name":"v","emptyDir":{}}],"securityContext":{"runAsUser":1}}})"));
}

TEST(StrategicMergePatch, NullDeletesAListThatAlsoHasAnOrder) {
  bj::value doc = smp(R"({"metadata":{"finalizers":["a"],"name":"x"}})",
                      R"({"metadata":{"$setElementOrder/finalizers":[],"finalizers":null}})");
  EXPECT_EQ(doc, j(R"({"metadata":{"name":"x"}})"));
}

TEST(StrategicMergePatch, TypeChangeReplaces) {
  bj::value doc = smp(R"({"a":"x","b":{"c":1},"d":[1]})", R"({"a":{"k":"v"},"b":"y","d":{"e":2}})");
  EXPECT_EQ(doc, j(R"({"a":{"k":"v"},"b":"y","d":{"e":2}})"));
}

TEST(StrategicMergePatch, Errors) {
  // A merge list element without its merge key.
  EXPECT_NE(smp_error(deployment, R"({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}})")
                .find("merge key \"name\""),
            std::string::npos);
  EXPECT_NE(smp_error(deployment, R"({"spec":{"$patch":"explode"}})").find("$patch"), std::string::npos);
  EXPECT_NE(smp_error(deployment, R"({"spec":{"template":{"spec":{"containers":[{"name":"nginx","$patch":"nope"}]}}}})")
                .find("$patch"),
            std::string::npos);
  EXPECT_NE(smp_error(deployment, R"({"metadata":{"finalizers":[{"x":1}]}})").find("not identical"), std::string::npos);
  EXPECT_NE(smp_error(deployment, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})"), "(no error)");
  EXPECT_EQ(smp_error(deployment, "[]"), "a strategic merge patch must be a JSON object");
}

TEST(StrategicMergePatch, RootPatchReplace) {
  bj::value doc = smp(R"({"a":1,"b":2})", R"({"$patch":"replace","c":3})");
  EXPECT_EQ(doc, j(R"({"c":3})"));
}

}  // namespace
}  // namespace krt::local::patch_test
