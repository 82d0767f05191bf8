// Artifacts on the filesystem store: files, deterministic directory archives,
// names, kinds, limits and cleanup (SPEC.md §4 "Artifacts").
#include "sidecar/prep/artifacts.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "test/sidecar/prep/tempdir.hpp"

namespace krt::runtimed {
namespace {

namespace fs = std::filesystem;
using krt::test::file_mode;
using krt::test::read_text;
using krt::test::sh;
using krt::test::temp_dir;
using krt::test::write_text;

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xF];
  }
  return out;
}

struct fixture {
  temp_dir d;
  std::string staging = d / "staging";
  filesystem_store store{d / "store", "artifacts-pvc"};
  artifact_limits limits;
  fixture() { fs::create_directories(staging); }
  krt::result<std::vector<api::artifact_ref>, artifact_error> collect(std::string uid = "uid-1") {
    return collect_artifacts(staging, store, "ns1", uid, limits);
  }
  std::string run_dir(std::string uid = "uid-1") const { return store.root + "/namespaces/ns1/runs/" + uid; }
};

void make_tree(const std::string& root) {
  write_text(root + "/report/summary.txt", "all good\n");
  write_text(root + "/report/bin/tool", "#!/bin/sh\necho tool\n");
  fs::permissions(root + "/report/bin/tool", fs::perms::owner_all | fs::perms::group_read);
  write_text(root + "/report/" + std::string(120, 'n') + "/deep.txt", "long path\n");
  fs::create_directories(root + "/report/empty");
}

TEST(Artifacts, MissingOrEmptyStagingGivesNone) {
  fixture f;
  auto none = collect_artifacts(f.d / "nope", f.store, "ns1", "uid-1", f.limits);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  auto empty = f.collect();
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(Artifacts, FilesAndDirectory) {
  fixture f;
  write_text(f.staging + "/b.txt", "hello\n");
  write_text(f.staging + "/a.json", "{}");
  make_tree(f.staging);
  auto refs = f.collect();
  ASSERT_TRUE(refs.has_value()) << refs.error().message;
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_EQ((*refs)[0].name, "a.json");
  EXPECT_EQ((*refs)[1].name, "b.txt");
  EXPECT_EQ((*refs)[2].name, "report");

  const auto& b = (*refs)[1];
  EXPECT_EQ(b.driver, "filesystem");
  EXPECT_EQ(b.type, "file");
  EXPECT_EQ(b.fs_path, "namespaces/ns1/runs/uid-1/b.txt");
  EXPECT_EQ(b.fs_volume_claim, "artifacts-pvc");
  EXPECT_EQ(b.size_bytes, 6);
  EXPECT_EQ(b.digest, sha256_hex("hello\n"));
  EXPECT_EQ(b.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(b.created_at.has_value());
  EXPECT_EQ(read_text(f.store.root + "/" + b.fs_path), "hello\n");
  EXPECT_EQ((*refs)[0].content_type, "application/json");

  const auto& dir = (*refs)[2];
  EXPECT_EQ(dir.type, "directory");
  EXPECT_EQ(dir.content_type, "application/gzip");
  const std::string archive = read_text(f.store.root + "/" + dir.fs_path);
  EXPECT_EQ(static_cast<std::int64_t>(archive.size()), dir.size_bytes);
  EXPECT_EQ(dir.digest, sha256_hex(archive));
  // gzip header: magic, deflate, no flags (no file name), mtime 0.
  ASSERT_GE(archive.size(), 10u);
  EXPECT_EQ(archive.substr(0, 3), std::string("\x1f\x8b\x08", 3));
  EXPECT_EQ(archive[3], '\0');
  EXPECT_EQ(archive.substr(4, 4), std::string(4, '\0'));

  // The system tar reads it back, including the long (pax) path.
  const std::string out = f.d / "extracted";
  fs::create_directories(out);
  ASSERT_EQ(sh("tar -xzf " + f.store.root + "/" + dir.fs_path + " -C " + out), 0);
  EXPECT_EQ(read_text(out + "/summary.txt"), "all good\n");
  EXPECT_EQ(read_text(out + "/" + std::string(120, 'n') + "/deep.txt"), "long path\n");
  EXPECT_TRUE(fs::is_directory(out + "/empty"));
  EXPECT_EQ(file_mode(out + "/bin/tool") & 0777, 0755u);
  // Owners and times are zeroed.
  const std::string listing = f.d / "listing";
  ASSERT_EQ(sh("tar --numeric-owner --full-time -tvzf " + f.store.root + "/" + dir.fs_path + " > " + listing),
            0);
  const std::string l = read_text(listing);
  EXPECT_NE(l.find("-rw-r--r-- 0/0"), std::string::npos) << l;
  EXPECT_NE(l.find("-rwxr-xr-x 0/0"), std::string::npos) << l;
  EXPECT_NE(l.find("1970-01-01"), std::string::npos) << l;
}

TEST(Artifacts, DirectoryArchiveIsDeterministic) {
  fixture f;
  make_tree(f.staging);
  auto first = f.collect("uid-a");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  // A second copy made later, with other times and a looser umask-derived mode.
  const std::string other = f.d / "other";
  make_tree(other);
  ASSERT_EQ(sh("touch -d '2001-02-03 04:05:06' " + other + "/report/summary.txt"), 0);
  fs::permissions(other + "/report/summary.txt", fs::perms::owner_read | fs::perms::owner_write);
  auto second = collect_artifacts(other, f.store, "ns1", "uid-b", f.limits);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  auto again = f.collect("uid-a");  // collecting the same Run twice
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ((*first)[0].digest, (*second)[0].digest);
  EXPECT_EQ((*first)[0].digest, (*again)[0].digest);
  EXPECT_EQ((*first)[0].size_bytes, (*second)[0].size_bytes);
  EXPECT_EQ(read_text(f.run_dir("uid-a") + "/report"), read_text(f.run_dir("uid-b") + "/report"));
}

TEST(Artifacts, ContentTypes) {
  fixture f;
  write_text(f.staging + "/page.HTML", "x");
  write_text(f.staging + "/notes", "plain words\n");
  write_text(f.staging + "/image", std::string("\x89PNG\r\n\x1a\n", 8) + "data");
  write_text(f.staging + "/blob", std::string("\x00\x01\x02\x03", 4));
  write_text(f.staging + "/doc", "<!DOCTYPE html><p>hi");
  write_text(f.staging + "/pic.png", "not really a png");
  write_text(f.staging + "/empty", "");
  auto refs = f.collect();
  ASSERT_TRUE(refs.has_value()) << refs.error().message;
  std::map<std::string, std::string> types;
  for (const auto& r : *refs) types[r.name] = r.content_type;
  EXPECT_EQ(types["page.HTML"], "text/html; charset=utf-8");
  EXPECT_EQ(types["notes"], "text/plain; charset=utf-8");
  EXPECT_EQ(types["image"], "image/png");
  EXPECT_EQ(types["blob"], "application/octet-stream");
  EXPECT_EQ(types["doc"], "text/html; charset=utf-8");
  EXPECT_EQ(types["pic.png"], "image/png");
  EXPECT_EQ(types["empty"], "application/octet-stream");
}

TEST(Artifacts, NameRules) {
  EXPECT_TRUE(valid_artifact_name("a"));
  EXPECT_TRUE(valid_artifact_name(std::string(255, 'x')));
  EXPECT_FALSE(valid_artifact_name(std::string(256, 'x')));
  EXPECT_FALSE(valid_artifact_name(""));
  EXPECT_FALSE(valid_artifact_name("."));
  EXPECT_FALSE(valid_artifact_name(".."));
  EXPECT_TRUE(valid_artifact_name("..."));
  EXPECT_FALSE(valid_artifact_name("a/b"));
  EXPECT_FALSE(valid_artifact_name("a\\b"));
  EXPECT_FALSE(valid_artifact_name("bad\xff"));
  EXPECT_TRUE(valid_artifact_name("caf\xc3\xa9"));
}

TEST(Artifacts, InvalidNamesOnDisk) {
  {
    fixture f;
    write_text(f.staging + "/back\\slash", "x");
    auto r = f.collect();
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().transient);
    EXPECT_NE(r.error().message.find("invalid artifact name"), std::string::npos) << r.error().message;
  }
  {
    fixture f;
    write_text(f.staging + "/bad\xff", "x");
    auto r = f.collect();
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().transient);
  }
  {
    fixture f;
    write_text(f.staging + "/" + std::string(255, 'x'), "x");
    auto r = f.collect();
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
}

TEST(Artifacts, SymlinksAndSpecialFilesRejected) {
  {
    fixture f;
    write_text(f.d / "target", "secret");
    fs::create_symlink(f.d / "target", f.staging + "/link");
    auto r = f.collect();
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().transient);
    EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos);
  }
  {
    fixture f;
    ASSERT_EQ(::mkfifo((f.staging + "/fifo").c_str(), 0644), 0);
    auto r = f.collect();
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().transient);
  }
  {
    fixture f;
    write_text(f.staging + "/dir/file", "x");
    fs::create_symlink("/etc/passwd", f.staging + "/dir/link");
    auto r = f.collect();
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().transient);
  }
}

// Run code owns its workspace directory: a component of the staging path
// swapped for a link (to runtimed's token, say) must not be followed. The old
// check looked at the last component only, then read through the path.
TEST(Artifacts, NoLinkIsFollowedBelowTheWorkspace) {
  temp_dir d;
  const std::string workspace = d / "workspace";
  write_text(d / "secrets/artifacts/token", "runtimed's token");
  fs::create_directories(workspace);
  // <workspace>/<uid> replaced by a link to a directory holding "artifacts".
  fs::create_symlink(d / "secrets", workspace + "/uid-1");
  filesystem_store store{d / "store", "artifacts-pvc"};
  artifact_limits limits;
  const std::string staging = workspace + "/uid-1/artifacts";
  auto r = collect_artifacts(staging, store, "ns1", "uid-1", limits, workspace);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(r.error().transient);
  EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(d / "store/namespaces/ns1/runs/uid-1/token"));
  // The same tree without the link is collected, through a root with a
  // trailing slash too.
  fs::remove(workspace + "/uid-1");
  write_text(staging + "/report.txt", "ok\n");
  auto ok = collect_artifacts(staging, store, "ns1", "uid-1", limits, workspace + "/");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].name, "report.txt");
  EXPECT_EQ((*ok)[0].content_type, "text/plain; charset=utf-8");
  // A staging path outside the root is refused.
  auto outside = collect_artifacts(d / "secrets/artifacts", store, "ns1", "uid-2", limits, workspace);
  ASSERT_FALSE(outside.has_value());
}

TEST(Artifacts, EntryCountLimit) {
  fixture f;
  for (int i = 0; i < 32; ++i) write_text(f.staging + "/f" + std::to_string(i), "x");
  auto ok = f.collect();
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->size(), 32u);
  write_text(f.staging + "/f32", "x");
  auto over = f.collect();
  ASSERT_FALSE(over.has_value());
  EXPECT_FALSE(over.error().transient);
  EXPECT_FALSE(fs::exists(f.run_dir()));  // the earlier collection is gone too
}

TEST(Artifacts, SizeLimits) {
  fixture f;
  f.limits.max_artifact_bytes = 10;
  f.limits.max_total_bytes = 15;
  write_text(f.staging + "/a", std::string(10, 'a'));  // exactly at the per-artifact limit
  auto one = f.collect();
  ASSERT_TRUE(one.has_value()) << one.error().message;
  write_text(f.staging + "/b", std::string(5, 'b'));  // total exactly 15
  auto two = f.collect();
  ASSERT_TRUE(two.has_value()) << two.error().message;
  write_text(f.staging + "/c", "c");  // total 16
  auto three = f.collect();
  ASSERT_FALSE(three.has_value());
  EXPECT_FALSE(three.error().transient);
  fs::remove(f.staging + "/c");
  write_text(f.staging + "/a", std::string(11, 'a'));  // one over per artifact
  auto big = f.collect();
  ASSERT_FALSE(big.has_value());
  EXPECT_FALSE(big.error().transient);
}

TEST(Artifacts, DirectoryOverLimitCleansUp) {
  fixture f;
  f.limits.max_artifact_bytes = 200;
  write_text(f.staging + "/a.txt", "first");
  std::string noise;
  for (int i = 0; i < 4000; ++i) noise += static_cast<char>((i * 7919) % 251);
  write_text(f.staging + "/dir/noise.bin", noise);
  auto r = f.collect();
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(r.error().transient);
  EXPECT_FALSE(fs::exists(f.run_dir()));
}

TEST(Artifacts, DirectoryArchiveOverLimit) {
  fixture f;
  f.limits.max_artifact_bytes = 200;
  write_text(f.staging + "/a.txt", "first");
  // 190 bytes of noise pass the content check but not once archived.
  std::string noise;
  std::uint32_t x = 12345;
  for (int i = 0; i < 190; ++i) {
    x = x * 1103515245u + 12345u;
    noise += static_cast<char>(x >> 24);
  }
  write_text(f.staging + "/dir/noise.bin", noise);
  auto r = f.collect();
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(r.error().transient);
  EXPECT_NE(r.error().message.find("larger than the limit"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(f.run_dir()));
}

TEST(Artifacts, FailurePartwayDeletesEverything) {
  fixture f;
  write_text(f.staging + "/a.txt", "first");
  write_text(f.staging + "/z/ok.txt", "fine");
  ASSERT_EQ(::mkfifo((f.staging + "/z/fifo").c_str(), 0644), 0);
  auto r = f.collect();
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(r.error().transient);
  EXPECT_FALSE(fs::exists(f.run_dir()));
}

TEST(Artifacts, StoreErrorIsTransient) {
  fixture f;
  write_text(f.staging + "/a.txt", "x");
  write_text(f.d / "file-root", "");
  f.store.root = f.d / "file-root";  // cannot hold directories
  auto r = f.collect();
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().transient);
}

TEST(Artifacts, PathAndDelete) {
  fixture f;
  write_text(f.staging + "/a.txt", "x");
  ASSERT_TRUE(f.collect().has_value());
  auto p = artifact_path(f.store, "ns1", "uid-1", "a.txt");
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(read_text(*p), "x");
  EXPECT_FALSE(artifact_path(f.store, "ns1", "uid-1", "missing").has_value());
  EXPECT_FALSE(artifact_path(f.store, "ns1", "uid-1", "../uid-1/a.txt").has_value());
  EXPECT_FALSE(artifact_path(f.store, "ns1", "..", "a.txt").has_value());
  EXPECT_FALSE(artifact_path(f.store, "..", "uid-1", "a.txt").has_value());
  delete_run_artifacts(f.store, "ns1", "..");
  EXPECT_TRUE(fs::exists(*p));
  delete_run_artifacts(f.store, "ns1", "uid-1");
  EXPECT_FALSE(fs::exists(f.run_dir()));
  EXPECT_FALSE(artifact_path(f.store, "ns1", "uid-1", "a.txt").has_value());
}

TEST(Artifacts, WriteTarGzStandalone) {
  temp_dir d;
  write_text(d / "src/x.txt", "x");
  ASSERT_TRUE(write_tar_gz(d / "src", d / "a.tgz").has_value());
  ASSERT_TRUE(write_tar_gz(d / "src", d / "b.tgz").has_value());
  EXPECT_EQ(read_text(d / "a.tgz"), read_text(d / "b.tgz"));
  EXPECT_FALSE(write_tar_gz(d / "missing", d / "c.tgz").has_value());
}

}  // namespace
}  // namespace krt::runtimed
