#pragma once
// Internals shared by runtimed's translation units (daemon.cpp: startup,
// watch, heartbeat, discovery; run.cpp: the life of one Run). Not a public
// interface.
//
// Affinity: active_run belongs to the daemon's shard; the job builders make
// closures for the blocking pool.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/core/time.hpp"
#include "sidecar/daemon.hpp"
#include "sidecar/prep/outputs.hpp"

namespace krt::runtimed {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace internal {

inline constexpr auto execute_timeout = 10s;  // SPEC §4: Execute's RPC deadline
inline constexpr auto rpc_timeout = 5s;       // Status, List, Cancel, Forget
inline constexpr auto poll_min = 5ms;         // Status polling without the push extension
inline constexpr auto poll_max = 250ms;

inline bool is_terminal_state(pb::ExecutionState s) {
  return s == pb::EXECUTION_STATE_SUCCEEDED || s == pb::EXECUTION_STATE_FAILED;
}

// resourceVersions are opaque, but every server we know uses integers: an
// event older than what we already hold must not replace it.
inline bool newer_or_same(const std::string& candidate, const std::string& held) {
  if (held.empty()) return true;
  char* end1 = nullptr;
  char* end2 = nullptr;
  unsigned long long c = std::strtoull(candidate.c_str(), &end1, 10);
  unsigned long long h = std::strtoull(held.c_str(), &end2, 10);
  if (*end1 != '\0' || *end2 != '\0' || candidate.empty()) return true;
  return c >= h;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

inline std::optional<std::chrono::nanoseconds> run_timeout(const api::run& r) {
  if (!r.spec.timeout) return std::nullopt;
  auto d = parse_go_duration(*r.spec.timeout);
  if (!d || d->count() <= 0) return std::nullopt;
  return d;
}

// The workspace paths of a Run that is already running (recovery): the same
// layout prepare_workspace creates, without touching the files.
inline workspace workspace_paths(const api::run& r, const workspace_options& o) {
  workspace ws;
  ws.run_dir = (std::filesystem::path(o.root) / r.metadata.uid).string();
  bool repo = r.spec.source && r.spec.source->repo_url;
  ws.working_dir = repo ? ws.run_dir + "/repo" : ws.run_dir;
  ws.outputs_path = ws.working_dir + "/outputs";
  if (o.artifacts) ws.artifacts_dir = ws.run_dir + "/artifacts";
  // What Execute needs when a recovered Run retries.
  if (r.spec.source && r.spec.source->inline_) {
    ws.entrypoint = "script";
  } else {
    std::string ep = r.spec.mode && r.spec.mode->task ? r.spec.mode->task->entrypoint : std::string();
    auto cleaned = clean_entrypoint(ep);
    ws.entrypoint = cleaned ? *cleaned : std::string("script");
    if (r.spec.mode && r.spec.mode->task) ws.args = r.spec.mode->task->args;
  }
  return ws;
}

// Blocking jobs for the pool, built outside coroutine bodies (GCC 12 and
// temporaries across co_await: see docs/development.md).
using prepare_fn = std::function<krt::result<workspace, std::string>()>;
inline prepare_fn prepare_job(api::run r, workspace_options o) {
  return [r = std::move(r), o = std::move(o)]() -> krt::result<workspace, std::string> {
    try {
      return prepare_workspace(r, o);
    } catch (const std::exception& e) {
      return unexpected(std::string(e.what()));
    }
  };
}

using outputs_result = krt::result<std::map<std::string, std::string>, outputs_error>;
using outputs_fn = std::function<outputs_result()>;
inline outputs_fn outputs_job(std::string path) {
  return [path = std::move(path)]() -> outputs_result {
    try {
      return read_outputs_file(path);
    } catch (const std::exception& e) {
      outputs_error err;
      err.reason = std::string(api::reason::outputs_invalid);
      err.message = e.what();
      return unexpected(std::move(err));
    }
  };
}

using artifacts_result = krt::result<std::vector<api::artifact_ref>, artifact_error>;
using artifacts_fn = std::function<artifacts_result()>;
// `root`: the workspace directory, below which no link is followed.
inline artifacts_fn artifacts_job(std::string dir, filesystem_store store, std::string ns, std::string uid,
                                  artifact_limits lim, std::string root) {
  return [dir = std::move(dir), store = std::move(store), ns = std::move(ns), uid = std::move(uid), lim,
          root = std::move(root)]() -> artifacts_result {
    try {
      return collect_artifacts(dir, store, ns, uid, lim, root);
    } catch (const std::exception& e) {
      artifact_error err;
      err.transient = true;
      err.message = e.what();
      return unexpected(std::move(err));
    }
  };
}

inline std::function<bool()> remove_job(workspace_options o, std::string uid) {
  return [o = std::move(o), uid = std::move(uid)]() {
    try {
      remove_workspace(o, uid);
    } catch (const std::exception&) {
    }
    return true;
  };
}

}  // namespace internal

struct daemon::active_run {
  explicit active_run(executor ex) : wake(std::move(ex)) {}
  std::string uid;
  std::shared_ptr<const api::run> latest;
  obs::logger log{"runtimed"};
  reactor::event wake;
  bool takes_slot = false;
  bool deleted = false;
  bool executing = false;   // an execution of the current attempt may exist on the server
  bool started = false;     // Execute returned OK for the current attempt
  bool verify = false;      // a re-opened watch did not list it: ask Status
  // On a retry (same id), a terminal event of the previous execution may
  // still be in flight: accept a terminal event only after an event of the
  // new execution (or trust Status once Execute returned).
  bool need_fresh = false;
  bool fresh_seen = false;
  std::optional<pb::StatusResponse> terminal_status;
  workspace ws;
  steady::time_point claimed_at{};
  run_timing timing;  // of the current attempt (GET /timings)
  std::string stdout_text, stderr_text;  // output of the last terminal status
};

}  // namespace krt::runtimed
