// What the maintainer deletes: its Runs, run directories without leaving the
// root, orphans past their grace, and the finalizer patch.
#include "services/maintainer/sweep.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>

#include "lib/api/store_hash.hpp"

namespace krt::maintainer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "maintainer-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

api::run decode(std::string text) {
  auto r = api::decode_run(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().describe());
  return r ? *r : api::run{};
}

constexpr const char* fs_store = R"({\"driver\":\"filesystem\",\"filesystem\":{\"volumeClaimName\":\"artifacts\"}})";

api::run run_with(std::string meta_extra, std::string status_extra) {
  return decode(R"({"apiVersion":"kruntimes.io/v1alpha1","kind":"Run",
    "metadata":{"name":"r","namespace":"ns","uid":"u1","resourceVersion":"42")" +
                meta_extra + R"(},"spec":{"runtime":"bash"},"status":{"phase":"Succeeded")" + status_extra + "}}");
}

const std::string deleting = R"(,"deletionTimestamp":"2026-11-29T10:00:00Z")";
const std::string with_fin = R"(,"finalizers":["a/b","kruntimes.io/artifact-cleanup","c/d"])";
const std::string store = std::string(R"(,"artifactStore":{"driver":"filesystem","filesystem":{"volumeClaimName":"artifacts"}})");
constexpr std::string_view hash = "8ec520a69bdef1d2";

TEST(Select, OnlyDeletingRunsWithTheFinalizerAndOurStore) {
  (void)fs_store;
  EXPECT_TRUE(should_clean(run_with(deleting + with_fin, store), hash));
  EXPECT_FALSE(should_clean(run_with(with_fin, store), hash));                // not being deleted
  EXPECT_FALSE(should_clean(run_with(deleting, store), hash));                // no finalizer
  EXPECT_FALSE(should_clean(run_with(deleting + with_fin, ""), hash));        // no snapshot
  EXPECT_FALSE(should_clean(run_with(deleting + with_fin, store), "0123456789abcdef"));  // another store
  auto other = std::string(R"(,"artifactStore":{"driver":"filesystem","filesystem":{"volumeClaimName":"other"}})");
  EXPECT_FALSE(should_clean(run_with(deleting + with_fin, other), hash));
}

TEST(Select, FinalizerPatchKeepsOthersAndCarriesResourceVersion) {
  auto r = run_with(deleting + with_fin, store);
  auto v = boost::json::parse(finalizer_removal_patch(r));
  EXPECT_EQ(v, boost::json::parse(R"({"metadata":{"resourceVersion":"42","finalizers":["a/b","c/d"]}})"));
  auto only = run_with(deleting + R"(,"finalizers":["kruntimes.io/artifact-cleanup"])", store);
  EXPECT_EQ(boost::json::parse(finalizer_removal_patch(only)),
            boost::json::parse(R"({"metadata":{"resourceVersion":"42","finalizers":[]}})"));
}

TEST(Paths, Segments) {
  EXPECT_TRUE(valid_segment("default"));
  EXPECT_TRUE(valid_segment("0b5f8a51-7c0e-4c39-9a43-2b8e5e2f0c11"));
  std::vector<std::string> bads{"", ".", "..", "a/b", "../x", "a\\b", std::string("a\0b", 3), std::string(254, 'a')};
  for (const auto& bad : bads)
    EXPECT_FALSE(valid_segment(bad)) << bad;
}

TEST(Paths, RemovesTheRunDirectoryOnly) {
  TempDir t;
  auto root = t.path().string();
  touch(t.path() / "namespaces/ns/runs/u1/out.txt");
  touch(t.path() / "namespaces/ns/runs/u1/dir/deep/file");
  touch(t.path() / "namespaces/ns/runs/u2/keep.txt");
  touch(t.path() / "namespaces/other/runs/u1/keep.txt");
  auto r = remove_run_dir(root, "ns", "u1");
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(*r);
  EXPECT_FALSE(fs::exists(t.path() / "namespaces/ns/runs/u1"));
  EXPECT_TRUE(fs::exists(t.path() / "namespaces/ns/runs/u2/keep.txt"));
  EXPECT_TRUE(fs::exists(t.path() / "namespaces/other/runs/u1/keep.txt"));
  auto again = remove_run_dir(root, "ns", "u1");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);  // nothing there
  auto none = remove_run_dir(root, "absent", "u1");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(Paths, RefusesTraversal) {
  TempDir t;
  touch(t.path() / "outside/precious");
  touch(t.path() / "root/namespaces/ns/runs/u1/f");
  auto root = (t.path() / "root").string();
  EXPECT_FALSE(remove_run_dir(root, "ns", ".."));
  EXPECT_FALSE(remove_run_dir(root, "..", "u1"));
  EXPECT_FALSE(remove_run_dir(root, "ns", "../../../outside"));
  EXPECT_FALSE(remove_run_dir(root, "ns/runs", "u1"));
  EXPECT_TRUE(fs::exists(t.path() / "outside/precious"));
  EXPECT_TRUE(fs::exists(t.path() / "root/namespaces/ns/runs/u1/f"));
}

TEST(Paths, NeverFollowsSymlinks) {
  TempDir t;
  touch(t.path() / "outside/precious");
  touch(t.path() / "outside/runs/u1/precious");
  fs::create_directories(t.path() / "root/namespaces/ns/runs");
  auto root = (t.path() / "root").string();
  // A run directory that is a link: the link goes, the target stays.
  fs::create_directory_symlink(t.path() / "outside", t.path() / "root/namespaces/ns/runs/u1");
  auto r = remove_run_dir(root, "ns", "u1");
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(fs::exists(fs::symlink_status(t.path() / "root/namespaces/ns/runs/u1")));
  EXPECT_TRUE(fs::exists(t.path() / "outside/precious"));
  // A link inside a run directory is removed, not descended.
  fs::create_directories(t.path() / "root/namespaces/ns/runs/u2");
  fs::create_directory_symlink(t.path() / "outside", t.path() / "root/namespaces/ns/runs/u2/link");
  ASSERT_TRUE(remove_run_dir(root, "ns", "u2"));
  EXPECT_TRUE(fs::exists(t.path() / "outside/precious"));
  // A linked namespace directory: refused.
  fs::create_directories(t.path() / "root/namespaces");
  fs::create_directory_symlink(t.path() / "outside", t.path() / "root/namespaces/evil");
  auto refused = remove_run_dir(root, "evil", "u1");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("symbolic link"), std::string::npos);
  EXPECT_TRUE(fs::exists(t.path() / "outside/runs/u1/precious"));
}

void set_age(const fs::path& p, std::chrono::seconds age) {
  auto when = std::chrono::system_clock::now() - age;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
  struct timespec ts[2] = {{secs, 0}, {secs, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
}

TEST(Orphans, OldUnownedDirectoriesOnly) {
  TempDir t;
  auto root = t.path().string();
  auto runs = t.path() / "namespaces/ns/runs";
  touch(runs / "live-old/f");
  touch(runs / "orphan-old/f");
  touch(runs / "orphan-new/f");
  set_age(runs / "live-old", 3600s);
  set_age(runs / "orphan-old", 3600s);
  fs::create_directory_symlink(t.path() / "elsewhere", runs / "orphan-link");
  set_age(runs / "orphan-link", 3600s);
  auto now = std::chrono::system_clock::now();
  auto got = find_orphans(root, "ns", {"live-old"}, now, 600s);
  EXPECT_EQ(got, (std::vector<std::string>{"orphan-link", "orphan-old"}));
  EXPECT_TRUE(find_orphans(root, "ns", {"live-old"}, now, 7200s).empty());
  EXPECT_TRUE(find_orphans(root, "absent", {}, now, 0s).empty());
  EXPECT_TRUE(find_orphans(root, "..", {}, now, 0s).empty());
}

}  // namespace
}  // namespace krt::maintainer
