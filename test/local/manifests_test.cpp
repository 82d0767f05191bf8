// YAML manifests to JSON for the local control plane's startup apply.
#include "local/apiserver/manifests.hpp"

#include <gtest/gtest.h>

namespace krt::local {
namespace {

TEST(Manifests, ScalarsFollowTheCoreSchemaAndQuotedStaysString) {
  auto docs = parse_manifests(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: x}
spec:
  replicas: 3
  ratio: 0.5
  on: true
  off: False
  nothing: ~
  version: "1"
  octal: '0755'
  text: hello
)", "t.yaml");
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 1U);
  const auto& spec = (*docs)[0].at("spec").as_object();
  EXPECT_EQ(spec.at("replicas"), bj::value(3));
  EXPECT_EQ(spec.at("ratio"), bj::value(0.5));
  EXPECT_EQ(spec.at("on"), bj::value(true));
  EXPECT_EQ(spec.at("off"), bj::value(false));
  EXPECT_TRUE(spec.at("nothing").is_null());
  EXPECT_EQ(spec.at("version"), bj::value("1"));
  EXPECT_EQ(spec.at("octal"), bj::value("0755"));
  EXPECT_EQ(spec.at("text"), bj::value("hello"));
}

TEST(Manifests, MultipleDocumentsAndListsAreFlattened) {
  auto docs = parse_manifests(R"(---
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
)", "t.yaml");
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 3U);
  EXPECT_EQ((*docs)[2].at("metadata").at("name"), bj::value("c"));
}

TEST(Manifests, InvalidYamlNamesTheSourceAndLine) {
  auto docs = parse_manifests("a: b\nc: [unclosed\n", "dir/bad.yaml");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().find("dir/bad.yaml"), std::string::npos) << docs.error();
  EXPECT_NE(docs.error().find("line"), std::string::npos) << docs.error();
  auto scalar = parse_manifests("just a string\n", "s.yaml");
  ASSERT_FALSE(scalar);
  EXPECT_NE(scalar.error().find("not a mapping"), std::string::npos);
}

}  // namespace
}  // namespace krt::local
