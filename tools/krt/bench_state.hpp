#pragma once
// krt bench's internals shared by cmd_bench.cpp (flags, setup, the Runs,
// cleanup) and bench_measure.cpp (floors, environment, runtimed timings,
// the per-Run hops). Not a public interface.
//
// Affinity: the session's io_context (single-threaded).

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "lib/api/types.hpp"
#include "lib/core/time.hpp"
#include "lib/kube/watch.hpp"
#include "lib/reactor/event.hpp"
#include "tools/krt/bench/report.hpp"

namespace krt::cli::benchrun {

struct bench_options {
  int runs = 100;
  int concurrency = 10;
  int warmup = 10;
  std::string runtime = "bash";
  std::string image;
  int replicas = 1;
  int capacity = 0;  // 0: enough for the concurrency
  double sleep_s = 0;
  std::vector<std::string> command;
  std::string script;  // -f: spec.source.inline
  std::string script_path;
  int floor_samples = 100;
  std::chrono::seconds run_timeout{120};
  std::chrono::seconds setup_timeout{180};
  bool keep = false;
  bool own_namespace = true;
  std::string ns;
  std::string plot;
  bool json = false;
};

struct tracked {
  int index = 0;
  bool measured = false;
  wall_time sent{}, returned{};
  bool created = false;
  std::string create_error;
  std::optional<wall_time> terminal_seen;
  std::shared_ptr<const api::run> last;
  reactor::event* done = nullptr;
  std::chrono::steady_clock::time_point deadline{};
  bool timed_out = false;
};

struct bench_state {
  session* s = nullptr;
  bench_options o;
  std::string tag, prefix;
  std::map<std::string, tracked> runs;
  bool stopping = false;
  bool interrupted = false;  // SIGINT/SIGTERM: stop, clean up, exit 130
  bool created_runtime = false;
  // Lease floor: the watch reports (name, type) pairs here.
  std::string lease_want;
  kube::event_type lease_want_type = kube::event_type::added;
  std::optional<wall_time> lease_seen;
  reactor::event* lease_event = nullptr;
};

double ms_between(wall_time a, wall_time b);
std::string random_suffix();  // 5 of [a-z0-9]
// What the Run executes: spec.mode.task.args (cmd_bench.cpp).
std::vector<std::string> run_args(const bench_options& o);

// Floor (a): Lease create → ADDED and patch → MODIFIED round trips. An error
// sentence, or nullopt.
awaitable<std::optional<std::string>> measure_api_floor(bench_state& st, bench::report& rep);
// Floor (b): the Run's command spawned directly (blocking).
std::optional<std::string> measure_spawn_floor(const bench_options& o, bench::report& rep);
// Versions, cores, CPU, kernel, the server and its kind, into rep.environment.
awaitable<void> collect_environment(session& s, bench::report& rep);
bool loopback_server(const std::string& url);
// runtimed's per-Run records (GET /timings on every pod of the Runtime), by
// Run UID, read until each UID in `want` has one (3 s at most).
awaitable<std::map<std::string, boost::json::object>> fetch_timings(session& s, const bench_options& o,
                                                                    bench::report& rep, std::set<std::string> want);
// The hops, runtimed's steps, the create latency, throughput and peak
// concurrency of the measured Runs.
void build_hops(const bench_state& st, const std::map<std::string, boost::json::object>& timings,
                bench::report& rep);

}  // namespace krt::cli::benchrun
