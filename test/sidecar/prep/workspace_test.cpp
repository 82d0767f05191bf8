// Workspace preparation: inline scripts, entrypoints, outputs and artifacts
// directories, and real git clones of a repository made in the test.
#include "sidecar/prep/workspace.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "test/sidecar/prep/tempdir.hpp"

namespace krt::runtimed {
namespace {

namespace fs = std::filesystem;
using krt::test::file_mode;
using krt::test::read_text;
using krt::test::sh;
using krt::test::temp_dir;
using krt::test::write_text;

api::run task_run(std::string uid, std::string entrypoint = "", std::vector<std::string> args = {}) {
  api::run r;
  r.metadata.uid = std::move(uid);
  r.metadata.name = "r1";
  r.metadata.namespace_ = "default";
  api::run_mode m;
  api::task_mode t;
  t.entrypoint = std::move(entrypoint);
  t.args = std::move(args);
  m.task = std::move(t);
  r.spec.mode = std::move(m);
  return r;
}

workspace_options opts(const temp_dir& d) {
  workspace_options o;
  o.root = d / "ws";
  return o;
}

TEST(Workspace, InlineWritesScript0644) {
  temp_dir d;
  auto r = task_run("uid-1", "ignored.sh", {"a"});
  r.spec.source = api::run_source{};
  r.spec.source->inline_ = "echo hi\n";
  auto ws = prepare_workspace(r, opts(d));
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_EQ(ws->run_dir, d / "ws/uid-1");
  EXPECT_EQ(ws->working_dir, ws->run_dir);
  EXPECT_EQ(ws->entrypoint, "script");
  EXPECT_TRUE(ws->args.empty());
  EXPECT_EQ(read_text(ws->run_dir + "/script"), "echo hi\n");
  EXPECT_EQ(file_mode(ws->run_dir + "/script"), 0644u);
  EXPECT_EQ(file_mode(ws->run_dir), 0755u);
  EXPECT_EQ(ws->outputs_path, ws->run_dir + "/outputs");
  EXPECT_EQ(ws->artifacts_dir, "");
}

TEST(Workspace, InlineSkipsEntrypointValidation) {
  temp_dir d;
  auto r = task_run("uid-1", "/abs/../x");
  r.spec.source = api::run_source{};
  r.spec.source->inline_ = "true";
  auto ws = prepare_workspace(r, opts(d));
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_EQ(ws->entrypoint, "script");
}

TEST(Workspace, NoSourceUsesRunDirAndCleanedEntrypoint) {
  temp_dir d;
  auto ws = prepare_workspace(task_run("uid-2", "./bin//run.sh", {"x", "y"}), opts(d));
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_EQ(ws->working_dir, d / "ws/uid-2");
  EXPECT_EQ(ws->entrypoint, "bin/run.sh");
  EXPECT_EQ(ws->args, (std::vector<std::string>{"x", "y"}));
  auto dflt = prepare_workspace(task_run("uid-3"), opts(d));
  ASSERT_TRUE(dflt.has_value()) << dflt.error();
  EXPECT_EQ(dflt->entrypoint, "script");
}

TEST(Workspace, EntrypointValidation) {
  temp_dir d;
  for (const char* bad : {"/bin/sh", "..", "../x", "a/../../x", "a/../.."}) {
    auto ws = prepare_workspace(task_run("uid-4", bad), opts(d));
    ASSERT_FALSE(ws.has_value()) << bad;
    EXPECT_NE(ws.error().find("entrypoint"), std::string::npos) << ws.error();
  }
  auto inside = clean_entrypoint("a/../b.sh");
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(*inside, "b.sh");
}

TEST(Workspace, OutputsFileRemovedAndArtifactsRecreated) {
  temp_dir d;
  auto o = opts(d);
  o.artifacts = true;
  write_text(d / "ws/uid-5/outputs", "stale=1\n");
  write_text(d / "ws/uid-5/artifacts/old.txt", "old");
  write_text(d / "ws/uid-5/keep.txt", "kept");  // files persist between attempts
  auto ws = prepare_workspace(task_run("uid-5"), o);
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_FALSE(fs::exists(ws->outputs_path));
  EXPECT_EQ(ws->artifacts_dir, d / "ws/uid-5/artifacts");
  EXPECT_TRUE(fs::is_directory(ws->artifacts_dir));
  EXPECT_TRUE(fs::is_empty(ws->artifacts_dir));
  EXPECT_EQ(file_mode(ws->artifacts_dir), 0750u);
  EXPECT_EQ(read_text(d / "ws/uid-5/keep.txt"), "kept");
}

TEST(Workspace, InvalidUidAndMkdirFailure) {
  temp_dir d;
  auto bad = prepare_workspace(task_run("../x"), opts(d));
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().starts_with("mkdir:")) << bad.error();
  write_text(d / "file", "");
  workspace_options o;
  o.root = d / "file";  // a file where the root should be
  auto r = prepare_workspace(task_run("uid"), o);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().starts_with("mkdir:")) << r.error();
}

TEST(Workspace, RemoveStaysInsideRoot) {
  temp_dir d;
  write_text(d / "ws/uid-6/x", "x");
  write_text(d / "outside/y", "y");
  auto o = opts(d);
  remove_workspace(o, "..");
  remove_workspace(o, "../outside");
  remove_workspace(o, "");
  EXPECT_TRUE(fs::exists(d / "outside/y"));
  EXPECT_TRUE(fs::exists(d / "ws/uid-6/x"));
  remove_workspace(o, "uid-6");
  EXPECT_FALSE(fs::exists(d / "ws/uid-6"));
  EXPECT_TRUE(fs::exists(d / "ws"));
}

// ------------------------------------------------------------------ git

// A repository with two commits; returns the first commit's SHA.
std::string make_repo(const temp_dir& d) {
  const std::string repo = d / "origin";
  const std::string g = "git -C " + repo + " -c user.name=t -c user.email=t@example.com ";
  EXPECT_EQ(sh("git init -q " + repo), 0);
  write_text(repo + "/run.sh", "echo one\n");
  EXPECT_EQ(sh(g + "add run.sh && " + g + "commit -q -m one"), 0);
  const std::string sha_file = d / "sha";
  EXPECT_EQ(sh("git -C " + repo + " rev-parse HEAD > " + sha_file), 0);
  write_text(repo + "/run.sh", "echo two\n");
  EXPECT_EQ(sh(g + "commit -q -am two"), 0);
  std::string sha = read_text(sha_file);
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

api::run git_run(std::string uid, std::string url, std::optional<std::string> sha = {}) {
  auto r = task_run(std::move(uid), "run.sh");
  r.spec.source = api::run_source{};
  r.spec.source->repo_url = std::move(url);
  r.spec.source->commit_sha = std::move(sha);
  return r;
}

TEST(WorkspaceGit, FileUrlRefusedByDefault) {
  temp_dir d;
  auto ws = prepare_workspace(git_run("g0", "file://" + (d / "origin")), opts(d));
  ASSERT_FALSE(ws.has_value());
  EXPECT_TRUE(ws.error().starts_with("git clone:")) << ws.error();
  EXPECT_NE(ws.error().find("https://"), std::string::npos);
  for (const char* bad : {"http://example.com/x.git", "/tmp/x", "-uhack", "git@host", "ext::sh -c x"}) {
    auto r = prepare_workspace(git_run("g0", bad), opts(d));
    EXPECT_FALSE(r.has_value()) << bad;
  }
}

TEST(WorkspaceGit, ShallowCloneOfHead) {
  temp_dir d;
  make_repo(d);
  auto o = opts(d);
  o.allow_file_urls = true;
  auto ws = prepare_workspace(git_run("g1", "file://" + (d / "origin")), o);
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_EQ(ws->working_dir, d / "ws/g1/repo");
  EXPECT_EQ(ws->outputs_path, d / "ws/g1/repo/outputs");
  EXPECT_EQ(ws->entrypoint, "run.sh");
  EXPECT_EQ(read_text(ws->working_dir + "/run.sh"), "echo two\n");
  EXPECT_TRUE(fs::exists(ws->working_dir + "/.git/shallow"));
  // Preparing again (same workspace) clones afresh.
  write_text(ws->working_dir + "/outputs", "x=1");
  auto again = prepare_workspace(git_run("g1", "file://" + (d / "origin")), o);
  ASSERT_TRUE(again.has_value()) << again.error();
  EXPECT_FALSE(fs::exists(again->outputs_path));
}

TEST(WorkspaceGit, CheckoutCommit) {
  temp_dir d;
  const std::string sha = make_repo(d);
  auto o = opts(d);
  o.allow_file_urls = true;
  auto ws = prepare_workspace(git_run("g2", "file://" + (d / "origin"), sha), o);
  ASSERT_TRUE(ws.has_value()) << ws.error();
  EXPECT_EQ(read_text(ws->working_dir + "/run.sh"), "echo one\n");
  EXPECT_FALSE(fs::exists(ws->working_dir + "/.git/shallow"));

  auto bad = prepare_workspace(git_run("g3", "file://" + (d / "origin"), "0123456789abcdef"), o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().starts_with("git checkout:")) << bad.error();
  auto opt = prepare_workspace(git_run("g3", "file://" + (d / "origin"), "--force"), o);
  ASSERT_FALSE(opt.has_value());
  EXPECT_TRUE(opt.error().starts_with("git checkout:")) << opt.error();
}

TEST(WorkspaceGit, CloneFailureCarriesGitOutput) {
  temp_dir d;
  auto o = opts(d);
  o.allow_file_urls = true;
  auto ws = prepare_workspace(git_run("g4", "file://" + (d / "missing")), o);
  ASSERT_FALSE(ws.has_value());
  EXPECT_TRUE(ws.error().starts_with("git clone: exit status 128: ")) << ws.error();
  EXPECT_FALSE(fs::exists(d / "ws/g4/repo"));
}

TEST(WorkspaceGit, RepositorySizeLimit) {
  temp_dir d;
  make_repo(d);
  auto o = opts(d);
  o.allow_file_urls = true;
  o.max_repo_bytes = 16;
  auto ws = prepare_workspace(git_run("g5", "file://" + (d / "origin")), o);
  ASSERT_FALSE(ws.has_value());
  EXPECT_TRUE(ws.error().starts_with("git clone: repository is larger")) << ws.error();
  EXPECT_FALSE(fs::exists(d / "ws/g5/repo"));
}

// Whether process `pid` is gone or a zombie within a generous grace period.
bool dead_soon(const std::string& pid) {
  for (int i = 0; i < 1000; ++i) {
    const std::string stat = read_text("/proc/" + pid + "/stat");
    const std::size_t paren = stat.rfind(')');
    if (stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z')) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(WorkspaceGit, CloneTimeoutKillsGit) {
  temp_dir d;
  // A fake git that records its pid and hangs (with a child, as git's helpers would).
  const std::string fake = d / "fake-git";
  write_text(
      fake, "#!/bin/sh\necho $$ > " + (d / "pid") + "\nsleep 300 &\necho $! > " + (d / "child") + "\nwait\n");
  fs::permissions(fake, fs::perms::owner_all);
  auto o = opts(d);
  o.git = fake;
  o.clone_timeout = std::chrono::seconds(1);
  auto ws = prepare_workspace(git_run("g6", "https://example.invalid/repo.git"), o);
  ASSERT_FALSE(ws.has_value());
  EXPECT_EQ(ws.error(), "git clone: timed out after 1s");
  for (const char* f : {"pid", "child"}) {
    const std::string pid = read_text(d / f);
    ASSERT_FALSE(pid.empty());
    // Both the script and its child die with the process group (the orphaned
    // child may linger as a zombie until init reaps it).
    EXPECT_TRUE(dead_soon(pid.substr(0, pid.find('\n')))) << f;
  }
}

TEST(WorkspaceGit, TerminalPromptDisabled) {
  temp_dir d;
  const std::string fake = d / "fake-git";
  write_text(fake, "#!/bin/sh\necho \"prompt=$GIT_TERMINAL_PROMPT\"\nexit 2\n");
  fs::permissions(fake, fs::perms::owner_all);
  auto o = opts(d);
  o.git = fake;
  auto ws = prepare_workspace(git_run("g7", "git@example.com:org/repo.git"), o);
  ASSERT_FALSE(ws.has_value());
  EXPECT_EQ(ws.error(), "git clone: exit status 2: prompt=0");
}

TEST(WorkspaceGit, CommandOutputCapped) {
  temp_dir d;
  const std::string fake = d / "fake-git";
  write_text(fake, "#!/bin/sh\nyes aaaaaaaa | head -c 200000\necho END\nexit 1\n");
  fs::permissions(fake, fs::perms::owner_all);
  auto o = opts(d);
  o.git = fake;
  o.max_command_output = 1000;
  auto ws = prepare_workspace(git_run("g8", "ssh://example.com/repo.git"), o);
  ASSERT_FALSE(ws.has_value());
  EXPECT_LE(ws.error().size(), 1000u + 60u);
  EXPECT_TRUE(ws.error().starts_with("git clone: exit status 1: aaaaaaaa")) << ws.error().substr(0, 80);
  EXPECT_TRUE(ws.error().ends_with("\n[git output truncated]")) << ws.error();
}

}  // namespace
}  // namespace krt::runtimed
