// Tests for lib/api/validation.hpp (Run): one failing case per CRD rule (with
// the CRD's own messages where it has them), and the update rules
// (immutability, cancelRequested).

#include "lib/api/validation.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lib/api/phase.hpp"
#include "test/lib/api/api_test_util.hpp"

namespace krt::api {
namespace {

run val_valid_run() {
  run r;
  r.metadata.name = "r1";
  r.metadata.namespace_ = "default";
  r.spec.runtime = "python";
  r.spec.mode.emplace();
  r.spec.mode->task.emplace();
  r.spec.mode->task->entrypoint = "main.py";
  return r;
}

const std::string entrypoint_msg = "mode.task.entrypoint must be a relative path that does not contain '..'";

// ------------------------------------------------------------------ valid

TEST(ApiValidateRun, MinimalRunIsValid) { EXPECT_TRUE(validate_run(val_valid_run()).empty()); }

TEST(ApiValidateRun, FullRunIsValid) {
  run r = val_valid_run();
  r.spec.source = run_source{std::nullopt, std::nullopt, "https://example/repo.git", "abc123"};
  r.spec.mode->task->args = {"a", "b"};
  r.spec.env = std::vector<env_var>{{"A", "1", ""}, {"B", std::nullopt, R"({"secretKeyRef":{}})"}};
  r.spec.resource_requests = std::map<std::string, std::string>{{"runs", "1"}, {"gpu", "2"}};
  r.spec.timeout = "10m";
  r.spec.cancel_requested = true;
  r.spec.retry = retry_policy{3, "5s", {"PodGone"}};
  r.spec.ttl_seconds_after_finished = 0;
  r.status.phase_text = "Succeeded";
  r.status.message = "execution completed";
  set_succeeded(r.status, wall_now());
  EXPECT_TRUE(validate_run(r).empty()) << test_util::describe(validate_run(r));
}

TEST(ApiValidateRun, EveryPhaseNameIsValid) {
  for (auto name : {"", "Pending", "Scheduled", "Running", "Ready", "Succeeded", "Failed", "Timeout", "Cancelled"}) {
    run r = val_valid_run();
    r.status.phase_text = name;
    EXPECT_TRUE(validate_run(r).empty()) << name;
  }
}

// ------------------------------------------------------------------ spec.runtime

TEST(ApiValidateRun, RuntimeRequired) {
  run r = val_valid_run();
  r.spec.runtime = "";
  test_util::expect_only(validate_run(r), "spec.runtime", "Required value");
}

TEST(ApiValidateRun, RuntimeLength) {
  run r = val_valid_run();
  r.spec.runtime = std::string(63, 'a');
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.runtime = std::string(64, 'a');
  test_util::expect_only(validate_run(r), "spec.runtime", "may not be longer than 63 characters");
}

TEST(ApiValidateRun, RuntimePattern) {
  for (auto ok : {"a", "A", "9", "ab", "a.b_c-d", "Python-3.12", "a--b", "a..b"}) {
    run r = val_valid_run();
    r.spec.runtime = ok;
    EXPECT_TRUE(validate_run(r).empty()) << ok;
  }
  for (auto bad : {"-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "a:b", "é", "a\n"}) {
    SCOPED_TRACE(std::string("bad = ") + bad);
    run r = val_valid_run();
    r.spec.runtime = bad;
    test_util::expect_only(validate_run(r), "spec.runtime", "must match ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$");
  }
}

// ------------------------------------------------------------------ spec.source

TEST(ApiValidateRun, SourceLengthLimits) {
  {
    run r = val_valid_run();
    r.spec.source.emplace().inline_ = std::string(262144, 'x');
    EXPECT_TRUE(validate_run(r).empty());
    r.spec.source->inline_ = std::string(262145, 'x');
    test_util::expect_only(validate_run(r), "spec.source.inline", "may not be longer than 262144 characters");
  }
  {
    run r = val_valid_run();
    r.spec.source.emplace().repo_url = std::string(2049, 'u');
    test_util::expect_only(validate_run(r), "spec.source.repoURL", "may not be longer than 2048 characters");
  }
  {
    run r = val_valid_run();
    r.spec.source.emplace();
    r.spec.source->repo_url = "https://x";
    r.spec.source->commit_sha = std::string(257, 'c');
    test_util::expect_only(validate_run(r), "spec.source.commitSHA", "may not be longer than 256 characters");
  }
}

TEST(ApiValidateRun, InlineAndRepoUrlAreMutuallyExclusive) {
  run r = val_valid_run();
  r.spec.source.emplace();
  r.spec.source->inline_ = "echo hi";
  r.spec.source->repo_url = "https://example/repo.git";
  test_util::expect_only(validate_run(r), "spec.source", "inline and repoURL are mutually exclusive");
}

TEST(ApiValidateRun, CommitShaRequiresRepoUrl) {
  run r = val_valid_run();
  r.spec.source.emplace().commit_sha = "abc";
  test_util::expect_only(validate_run(r), "spec.source", "commitSHA requires repoURL");
}

TEST(ApiValidateRun, InlinePathRules) {
  // Only for function mode with inline source.
  {
    run r = val_valid_run();
    r.spec.source.emplace();
    r.spec.source->inline_ = "code";
    r.spec.source->inline_path = "main.py";
    test_util::expect_only(validate_run(r), "spec.source.inlinePath",
                           "inlinePath is only valid for function mode with inline source");
  }
  run f = val_valid_run();
  f.spec.mode->task.reset();
  f.spec.mode->function.emplace().handler = "main.handle";
  f.spec.source.emplace().inline_ = "code";
  // Function mode with inline source requires it.
  test_util::expect_only(validate_run(f), "spec.source.inlinePath",
                         "function mode with inline source requires inlinePath");
  f.spec.source->inline_path = "pkg/main.py";
  EXPECT_TRUE(validate_run(f).empty()) << test_util::describe(validate_run(f));
  for (auto bad : {"/abs.py", "../x.py", "a/../b.py", "a//b.py", "./a.py", "a/./b", "a/"}) {
    SCOPED_TRACE(std::string("bad = ") + bad);
    f.spec.source->inline_path = bad;
    test_util::expect_only(validate_run(f), "spec.source.inlinePath",
                           "inlinePath must be a relative path without empty, '.' or '..' segments");
  }
  f.spec.source->inline_path = "";
  auto errs = validate_run(f);
  EXPECT_TRUE(test_util::has(errs, "spec.source.inlinePath", "must be at least 1 characters"))
      << test_util::describe(errs);
  f.spec.source->inline_path = std::string(4097, 'p');
  test_util::expect_only(validate_run(f), "spec.source.inlinePath", "may not be longer than 4096 characters");
}

// ------------------------------------------------------------------ spec.mode

TEST(ApiValidateRun, ModeRequired) {
  run r = val_valid_run();
  r.spec.mode.reset();
  test_util::expect_only(validate_run(r), "spec.mode", "Required value");
}

TEST(ApiValidateRun, ExactlyOneOfTaskOrFunction) {
  run neither = val_valid_run();
  neither.spec.mode->task.reset();
  test_util::expect_only(validate_run(neither), "spec.mode", "exactly one of task or function must be set");
  run both = val_valid_run();
  both.spec.mode->function.emplace().handler = "h";
  test_util::expect_only(validate_run(both), "spec.mode", "exactly one of task or function must be set");
}

TEST(ApiValidateRun, EntrypointMustBeRelativeWithoutDotDot) {
  for (auto bad : {"/usr/bin/python", "/", "..", "../main.py", "a/../b.py", "a/..", "a/b/../../c"}) {
    SCOPED_TRACE(std::string("bad = ") + bad);
    run r = val_valid_run();
    r.spec.mode->task->entrypoint = bad;
    test_util::expect_only(validate_run(r), "spec.mode.task.entrypoint", entrypoint_msg);
  }
  for (auto ok : {"", "main.py", "a/b/c.py", "a..b", "..a/b", "a/b..", "./main.py", "a//b"}) {
    run r = val_valid_run();
    r.spec.mode->task->entrypoint = ok;
    EXPECT_TRUE(validate_run(r).empty()) << ok << "\n" << test_util::describe(validate_run(r));
  }
}

TEST(ApiValidateRun, EntrypointRuleSkippedWithInlineSource) {
  for (auto ep : {"/bin/sh", "../x", "a/../b"}) {
    run r = val_valid_run();
    r.spec.source.emplace().inline_ = "echo hi";
    r.spec.mode->task->entrypoint = ep;
    EXPECT_TRUE(validate_run(r).empty()) << ep;
  }
  // A repoURL source does not lift the rule.
  run r = val_valid_run();
  r.spec.source.emplace().repo_url = "https://x";
  r.spec.mode->task->entrypoint = "/bin/sh";
  test_util::expect_only(validate_run(r), "spec.mode.task.entrypoint", entrypoint_msg);
}

TEST(ApiValidateRun, EntrypointLength) {
  run r = val_valid_run();
  r.spec.mode->task->entrypoint = std::string(4096, 'e');
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.mode->task->entrypoint = std::string(4097, 'e');
  test_util::expect_only(validate_run(r), "spec.mode.task.entrypoint", "may not be longer than 4096 characters");
}

TEST(ApiValidateRun, ArgsLimits) {
  run r = val_valid_run();
  r.spec.mode->task->args.assign(256, "x");
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.mode->task->args.assign(257, "x");
  test_util::expect_only(validate_run(r), "spec.mode.task.args", "must have at most 256 items");
  r.spec.mode->task->args = {"ok", std::string(8192, 'a'), std::string(8193, 'a')};
  test_util::expect_only(validate_run(r), "spec.mode.task.args[2]", "may not be longer than 8192 characters");
}

TEST(ApiValidateRun, FunctionModeLimits) {
  run r = val_valid_run();
  r.spec.mode->task.reset();
  r.spec.mode->function.emplace().handler = std::string(513, 'h');
  test_util::expect_only(validate_run(r), "spec.mode.function.handler", "may not be longer than 512 characters");
  r.spec.mode->function->handler = "h";
  r.spec.mode->function->idle_timeout_seconds = 0;
  test_util::expect_only(validate_run(r), "spec.mode.function.idleTimeoutSeconds",
                         "must be greater than or equal to 1");
  r.spec.mode->function->idle_timeout_seconds = 1;
  EXPECT_TRUE(validate_run(r).empty());
}

// ------------------------------------------------------------------ env, resources, retry, ttl

TEST(ApiValidateRun, EnvNameRequired) {
  run r = val_valid_run();
  r.spec.env = std::vector<env_var>{{"A", "1", ""}, {"", "2", ""}};
  test_util::expect_only(validate_run(r), "spec.env[1].name", "Required value");
}

TEST(ApiValidateRun, EnvCount) {
  run r = val_valid_run();
  r.spec.env = std::vector<env_var>(256, env_var{"A", "1", ""});
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.env->push_back(env_var{"B", "2", ""});
  test_util::expect_only(validate_run(r), "spec.env", "must have at most 256 items");
}

TEST(ApiValidateRun, ResourceQuantitiesMustParse) {
  run r = val_valid_run();
  r.spec.resource_requests = std::map<std::string, std::string>{{"gpu", "lots"}, {"runs", "1"}};
  test_util::expect_only(validate_run(r), "spec.resources.requests[gpu]",
                         "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  // Negative and fractional quantities are the scheduler's concern, not the CRD's.
  r.spec.resource_requests = std::map<std::string, std::string>{{"gpu", "-1"}, {"cpu", "500m"}};
  EXPECT_TRUE(validate_run(r).empty());
}

TEST(ApiValidateRun, RetryMaxAttemptsRange) {
  for (int ok : {1, 50, 100}) {
    run r = val_valid_run();
    r.spec.retry.emplace().max_attempts = ok;
    EXPECT_TRUE(validate_run(r).empty()) << ok;
  }
  for (int bad : {0, -1, 101}) {
    run r = val_valid_run();
    r.spec.retry.emplace().max_attempts = bad;
    test_util::expect_only(validate_run(r), "spec.retryPolicy.maxAttempts", "must be between 1 and 100");
  }
}

TEST(ApiValidateRun, RetryableReasonsLimits) {
  run r = val_valid_run();
  r.spec.retry.emplace().retryable_reasons.assign(32, "PodGone");
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.retry->retryable_reasons.assign(33, "PodGone");
  test_util::expect_only(validate_run(r), "spec.retryPolicy.retryableReasons", "must have at most 32 items");
  r.spec.retry->retryable_reasons = {"PodGone", std::string(129, 'r')};
  test_util::expect_only(validate_run(r), "spec.retryPolicy.retryableReasons[1]",
                         "may not be longer than 128 characters");
}

TEST(ApiValidateRun, TtlNonNegative) {
  run r = val_valid_run();
  r.spec.ttl_seconds_after_finished = 0;
  EXPECT_TRUE(validate_run(r).empty());
  r.spec.ttl_seconds_after_finished = -1;
  test_util::expect_only(validate_run(r), "spec.ttlSecondsAfterFinished", "must be greater than or equal to 0");
}

// ------------------------------------------------------------------ status

TEST(ApiValidateRun, StatusPhaseEnum) {
  run r = val_valid_run();
  r.status.phase_text = "Bogus";
  test_util::expect_only(validate_run(r), "status.phase", "Unsupported value: \"Bogus\"");
  r.status.phase_text = "pending";
  EXPECT_EQ(validate_run(r).size(), 1U);
}

TEST(ApiValidateRun, StatusLimits) {
  {
    run r = val_valid_run();
    r.status.message = std::string(4097, 'm');
    test_util::expect_only(validate_run(r), "status.message", "may not be longer than 4096 characters");
  }
  {
    run r = val_valid_run();
    r.status.assigned_pod_uid = std::string(254, 'u');
    test_util::expect_only(validate_run(r), "status.assignedPodUID", "may not be longer than 253 characters");
  }
  {
    run r = val_valid_run();
    for (int i = 0; i < 64; ++i) r.status.outputs["k" + std::to_string(i)] = "v";
    EXPECT_TRUE(validate_run(r).empty());
    r.status.outputs["k64"] = "v";
    test_util::expect_only(validate_run(r), "status.outputs", "must have at most 64 properties");
  }
  {
    run r = val_valid_run();
    r.status.artifact_refs.resize(33);
    test_util::expect_only(validate_run(r), "status.artifactRefs", "must have at most 32 items");
  }
  {
    run r = val_valid_run();
    r.status.conditions.resize(17);
    test_util::expect_only(validate_run(r), "status.conditions", "must have at most 16 items");
  }
}

TEST(ApiValidateRun, ErrorsAccumulate) {
  run r = val_valid_run();
  r.spec.runtime = "-bad-";
  r.spec.mode->task->entrypoint = "/abs";
  r.spec.ttl_seconds_after_finished = -5;
  r.status.phase_text = "Nope";
  EXPECT_EQ(validate_run(r).size(), 4U) << test_util::describe(validate_run(r));
}

// ------------------------------------------------------------------ updates

TEST(ApiValidateRunUpdate, UnchangedIsValid) {
  run r = val_valid_run();
  r.spec.env = std::vector<env_var>{{"A", "1", ""}};
  EXPECT_TRUE(validate_run_update(r, r).empty());
}

TEST(ApiValidateRunUpdate, ImmutableFields) {
  const run base = [] {
    run r = val_valid_run();
    r.spec.source.emplace().repo_url = "https://example/repo.git";
    r.spec.env = std::vector<env_var>{{"A", "1", ""}};
    r.spec.timeout = "10m";
    r.spec.retry = retry_policy{3, "5s", {}};
    r.spec.resource_requests = std::map<std::string, std::string>{{"runs", "1"}};
    r.spec.workspace = R"({"name":"ws"})";
    r.spec.affinity = R"({"runAffinity":{}})";
    return r;
  }();
  struct mutation {
    const char* what;
    void (*apply)(run&);
  };
  const mutation mutations[] = {
      {"runtime changed", [](run& r) { r.spec.runtime = "other"; }},
      {"source changed", [](run& r) { r.spec.source->repo_url = "https://example/other.git"; }},
      {"source removed", [](run& r) { r.spec.source.reset(); }},
      {"source field added", [](run& r) { r.spec.source->commit_sha = "abc"; }},
      {"mode entrypoint changed", [](run& r) { r.spec.mode->task->entrypoint = "other.py"; }},
      {"mode args added", [](run& r) { r.spec.mode->task->args = {"x"}; }},
      {"env value changed", [](run& r) { (*r.spec.env)[0].value = "2"; }},
      {"env added",
       [](run& r) {
         r.spec.env->push_back({"B", "2", ""});
       }},
      {"env removed", [](run& r) { r.spec.env.reset(); }},
      {"env emptied", [](run& r) { r.spec.env->clear(); }},
      {"env valueFrom added", [](run& r) { (*r.spec.env)[0].value_from = "{}"; }},
      {"timeout changed", [](run& r) { r.spec.timeout = "20m"; }},
      {"timeout removed", [](run& r) { r.spec.timeout.reset(); }},
      {"retry changed", [](run& r) { r.spec.retry->max_attempts = 4; }},
      {"retry removed", [](run& r) { r.spec.retry.reset(); }},
      {"retry reasons added", [](run& r) { r.spec.retry->retryable_reasons = {"PodGone"}; }},
      {"resources changed", [](run& r) { (*r.spec.resource_requests)["runs"] = "2"; }},
      {"resources added", [](run& r) { (*r.spec.resource_requests)["gpu"] = "1"; }},
      {"resources removed", [](run& r) { r.spec.resource_requests.reset(); }},
      {"workspace changed", [](run& r) { r.spec.workspace = R"({"name":"ws2"})"; }},
      {"affinity removed", [](run& r) { r.spec.affinity.reset(); }},
  };
  for (const auto& m : mutations) {
    run updated = base;
    m.apply(updated);
    SCOPED_TRACE(m.what);
    test_util::expect_only(validate_run_update(base, updated), "spec", std::string(immutable_message));
  }
}

TEST(ApiValidateRunUpdate, AddingOptionalBlocksIsImmutableToo) {
  const run base = val_valid_run();
  struct mutation {
    const char* what;
    void (*apply)(run&);
  };
  const mutation mutations[] = {
      {"source added", [](run& r) { r.spec.source.emplace().repo_url = "https://x"; }},
      {"empty env added", [](run& r) { r.spec.env.emplace(); }},
      {"timeout added", [](run& r) { r.spec.timeout = "1m"; }},
      {"retry added", [](run& r) { r.spec.retry.emplace(); }},
      {"empty resources added", [](run& r) { r.spec.resource_requests.emplace(); }},
  };
  for (const auto& m : mutations) {
    run updated = base;
    m.apply(updated);
    auto errs = validate_run_update(base, updated);
    EXPECT_TRUE(test_util::has(errs, "spec", std::string(immutable_message))) << m.what << "\n"
                                                                              << test_util::describe(errs);
  }
}

TEST(ApiValidateRunUpdate, ImmutableMessageIsTheCrds) {
  EXPECT_EQ(immutable_message,
            "runtime, source, mode, env, timeout, retryPolicy, and resources are immutable after Run creation");
}

TEST(ApiValidateRunUpdate, CancelRequestedMayNotBeWithdrawn) {
  run before = val_valid_run();
  before.spec.cancel_requested = true;
  run after = before;
  after.spec.cancel_requested = false;
  test_util::expect_only(validate_run_update(before, after), "spec.cancelRequested",
                         "cancelRequested may not transition from true to false");
  // false → true and true → true are fine.
  EXPECT_TRUE(validate_run_update(after, before).empty());
  EXPECT_TRUE(validate_run_update(before, before).empty());
}

TEST(ApiValidateRunUpdate, TtlAndStatusAreMutable) {
  run before = val_valid_run();
  run after = before;
  after.spec.ttl_seconds_after_finished = 60;
  EXPECT_TRUE(validate_run_update(before, after).empty());
  before.spec.ttl_seconds_after_finished = 60;
  after.spec.ttl_seconds_after_finished = 0;
  EXPECT_TRUE(validate_run_update(before, after).empty());
  after.spec.ttl_seconds_after_finished.reset();
  EXPECT_TRUE(validate_run_update(before, after).empty());
  after.status.phase_text = "Running";
  after.status.assigned_pod = "p";
  after.metadata.labels["x"] = "y";
  EXPECT_TRUE(validate_run_update(before, after).empty());
}

TEST(ApiValidateRunUpdate, AlsoValidatesTheNewObject) {
  run before = val_valid_run();
  run after = before;
  after.spec.ttl_seconds_after_finished = -1;
  test_util::expect_only(validate_run_update(before, after), "spec.ttlSecondsAfterFinished",
                         "must be greater than or equal to 0");
}

}  // namespace
}  // namespace krt::api
