#pragma once
// The figures of one `krt bench` run and the three ways they are shown: the
// human table, the JSON document (-o json) and the SVG plot (--plot). Pure:
// no I/O, no clocks; cmd_bench.cpp measures and fills a `report`.
//
// Units: every latency is in milliseconds (double), every rate per second.
// Percentiles are nearest-rank over the samples (p50 of 1..100 is 50).
//
// Affinity: none (value types).

#include <boost/json.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace krt::cli::bench {

struct summary {
  std::size_t count = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
// Nearest-rank percentile of sorted samples (0 when empty).
double percentile(const std::vector<double>& sorted, double p);
summary summarize(std::vector<double> samples);

// The most intervals [start, end) open at one instant.
std::size_t peak_overlap(std::vector<std::pair<double, double>> intervals);
// Events per second in consecutive buckets of `bucket` seconds from `start`
// to `end` (the last bucket may be shorter and is scaled to its length).
std::vector<double> rate_series(const std::vector<double>& times, double start, double end, double bucket);

// One hop of the critical path (or one client-side API call).
struct hop {
  std::string key;      // JSON name: "schedule", "dispatch", ...
  std::string what;     // one line for the table's legend
  std::vector<double> samples;
  summary s;
  std::string floor_name;  // which floor it is compared with ("" = none)
  double floor_ms = 0;
};

struct target {
  std::string name;  // what the issue asks, in words
  double measured = 0;
  double limit = 0;
  std::string unit;  // "ms", "x", "%"
  bool met = false;
  bool known = true;  // false when a figure it needs is missing
};

struct report {
  // Parameters and environment, in order, as given (JSON strings or numbers).
  boost::json::object parameters;
  boost::json::object environment;

  std::vector<hop> hops;  // schedule, dispatch, claim-to-execute, execution, complete, completion
  std::vector<hop> api;   // client-side API calls: create (Run), create/patch (floor objects)
  std::vector<hop> breakdown;  // runtimed's steps from its per-Run timings

  // Floors (item 3): (a) API round trips, (b) direct spawn, (c) their sum.
  summary create_rtt, patch_rtt, patch_write, spawn;
  double spawn_rate = 0;      // direct spawns per second at the bench's concurrency
  double critical_floor = 0;  // DESIGN §5: create RTT + 2 patch RTTs + claim write + spawn (p50s)

  std::size_t measured = 0, succeeded = 0, failed = 0, warmup = 0;
  std::vector<std::string> failures;  // "name: phase: message", at most a few
  double window_s = 0;                // first measured create → last terminal seen
  double throughput = 0;              // terminal Runs per second over the window
  std::size_t peak_running = 0;
  std::vector<double> rate_over_time;  // Runs/s per bucket of the window
  double rate_bucket_s = 0;
  std::size_t timings_dropped = 0;     // runtimed records evicted before they were read
  std::vector<std::string> notes;      // caveats printed under the table

  std::vector<target> targets;
};

// Fills hop summaries, the critical-path floor and the targets from the
// samples already in `r`.
void finish(report& r);

std::string render_table(const report& r);
boost::json::value to_json(const report& r);
std::string render_svg(const report& r);

}  // namespace krt::cli::bench
