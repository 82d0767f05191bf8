// YAML manifests to JSON for the local control plane's startup apply.
#include "local/apiserver/manifests.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

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

// A scratch directory tree for kustomization tests.
class ManifestFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/krt-manifests-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string path(const std::string& rel) { return (root_ / rel).lexically_normal().string(); }
  std::filesystem::path root_;
};

TEST_F(ManifestFiles, KustomizationResourcesInOrderFollowingDirectories) {
  write("crds/kustomization.yaml", "resources: [b.yaml, a.yaml]\n");
  write("crds/a.yaml", "");
  write("crds/b.yaml", "");
  write("base/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                   "resources:\n- ns.yaml\n");
  write("base/ns.yaml", "");
  write("base/ignored.yaml", "");
  write("overlays/local/kustomization.yaml", "resources:\n- ../../crds\n- ../../base\n- extra.yaml\n");
  write("overlays/local/extra.yaml", "");
  auto files = manifest_files(path("overlays/local"));
  ASSERT_TRUE(files) << files.error();
  std::vector<std::string> want = {path("crds/b.yaml"), path("crds/a.yaml"), path("base/ns.yaml"),
                                   path("overlays/local/extra.yaml")};
  EXPECT_EQ(*files, want);
}

TEST_F(ManifestFiles, WithoutKustomizationEveryManifestSorted) {
  write("d/b.yml", "");
  write("d/a.json", "");
  write("d/notes.txt", "");
  auto files = manifest_files(path("d"));
  ASSERT_TRUE(files) << files.error();
  std::vector<std::string> want = {path("d/a.json"), path("d/b.yml")};
  EXPECT_EQ(*files, want);
}

TEST_F(ManifestFiles, UnsupportedKustomizeFeaturesAndMissingResourcesAreRefused) {
  write("p/kustomization.yaml", "resources: [x.yaml]\npatches:\n- path: p.yaml\n");
  auto r = manifest_files(path("p"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("\"patches\""), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("kubectl apply -k"), std::string::npos) << r.error();
  write("m/kustomization.yaml", "resources: [missing.yaml]\n");
  r = manifest_files(path("m"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("missing.yaml does not exist"), std::string::npos) << r.error();
  write("c/kustomization.yaml", "resources: [../c]\n");
  r = manifest_files(path("c"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cycle"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace krt::local
