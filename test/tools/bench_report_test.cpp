// Unit tests of krt bench's pure parts (tools/krt/bench): the statistics,
// finish() (floors, per-hop floors, targets), the three renderings, and the
// direct-spawn floor with real processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/krt/bench/report.hpp"
#include "tools/krt/bench/spawn.hpp"

namespace bench = krt::cli::bench;
namespace bj = boost::json;

namespace {

std::vector<double> one_to(int n) {
  std::vector<double> v;
  for (int i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}

bench::hop make_hop(std::string key, std::string floor, std::vector<double> samples) {
  bench::hop h;
  h.key = std::move(key);
  h.what = "what " + h.key;
  h.floor_name = std::move(floor);
  h.samples = std::move(samples);
  return h;
}

// A report as cmd_bench.cpp fills it before finish(): every hop with
// samples, the floors measured.
bench::report sample_report() {
  bench::report r;
  r.parameters["runs"] = 4;
  r.parameters["concurrency"] = 2;
  r.environment["cores"] = 2;
  r.hops.push_back(make_hop("schedule", "create", {1, 2, 3, 4}));
  r.hops.push_back(make_hop("dispatch", "create+patch", {2, 3, 4, 5}));
  r.hops.push_back(make_hop("claimToExecute", "spawn", {1.0, 1.1, 1.2, 1.3}));
  r.hops.push_back(make_hop("execution", "spawn", {0.5, 0.6, 0.7, 0.8}));
  r.hops.push_back(make_hop("complete", "critical path", {6, 7, 8, 9}));
  r.api.push_back(make_hop("createRun", "", {0.3, 0.4}));
  r.breakdown.push_back(make_hop("rt.claimWrite", "", {0.2}));
  r.create_rtt = bench::summarize({0.5, 0.5});
  r.patch_rtt = bench::summarize({0.25, 0.25});
  r.patch_write = bench::summarize({0.2, 0.2});
  r.spawn = bench::summarize({1.0, 1.0});
  r.spawn_rate = 100;
  r.measured = 4;
  r.succeeded = 4;
  r.throughput = 60;
  r.window_s = 4.0 / 60;
  r.rate_over_time = {60};
  r.rate_bucket_s = 0.05;
  return r;
}

// sample_report() with floors that every target meets: critical path 3.75;
// complete p50 7 <= 7.5, p99 9 <= 18.75; claim-to-execute p50 1.1 <= 1.05 +
// 0.1; throughput 60 >= 100 / 2.
bench::report met_report() {
  auto r = sample_report();
  r.spawn = bench::summarize({1.05});
  r.create_rtt = bench::summarize({2.0});
  return r;
}

const bench::target& target_named(const bench::report& r, const std::string& prefix) {
  for (const auto& t : r.targets)
    if (t.name.rfind(prefix, 0) == 0) return t;
  ADD_FAILURE() << "no target starting with " << prefix;
  static bench::target none;
  return none;
}

}  // namespace

// ------------------------------------------------------------------ statistics

TEST(BenchPercentile, NearestRank) {
  auto v = one_to(100);
  EXPECT_EQ(bench::percentile(v, 50), 50);
  EXPECT_EQ(bench::percentile(v, 90), 90);
  EXPECT_EQ(bench::percentile(v, 99), 99);
  EXPECT_EQ(bench::percentile(v, 100), 100);
  EXPECT_EQ(bench::percentile(v, 0), 1);  // clamped to the first rank
  auto ten = one_to(10);
  EXPECT_EQ(bench::percentile(ten, 50), 5);
  EXPECT_EQ(bench::percentile(ten, 99), 10);  // rank ceil(9.9) = 10
  EXPECT_EQ(bench::percentile(ten, 91), 10);
  EXPECT_EQ(bench::percentile(ten, 90), 9);
}

TEST(BenchPercentile, OneSampleAndEmpty) {
  std::vector<double> one{7.5};
  for (double p : {0.0, 1.0, 50.0, 99.0, 100.0}) EXPECT_EQ(bench::percentile(one, p), 7.5) << p;
  EXPECT_EQ(bench::percentile({}, 50), 0);
  EXPECT_EQ(bench::percentile({}, 99), 0);
}

TEST(BenchSummarize, UnsortedInput) {
  std::vector<double> v = one_to(100);
  std::reverse(v.begin(), v.end());
  auto s = bench::summarize(v);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.p50, 50);
  EXPECT_EQ(s.p90, 90);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
}

TEST(BenchSummarize, EmptyAndSingle) {
  auto e = bench::summarize({});
  EXPECT_EQ(e.count, 0u);
  EXPECT_EQ(e.min, 0);
  EXPECT_EQ(e.p50, 0);
  EXPECT_EQ(e.max, 0);
  EXPECT_EQ(e.mean, 0);
  auto s = bench::summarize({3.25});
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.min, 3.25);
  EXPECT_EQ(s.p50, 3.25);
  EXPECT_EQ(s.p99, 3.25);
  EXPECT_EQ(s.max, 3.25);
  EXPECT_EQ(s.mean, 3.25);
}

TEST(BenchPeakOverlap, TouchingIntervalsDoNotOverlap) {
  EXPECT_EQ(bench::peak_overlap({{0, 1}, {1, 2}, {2, 3}}), 1u);
  // Given out of order.
  EXPECT_EQ(bench::peak_overlap({{2, 3}, {0, 1}, {1, 2}}), 1u);
}

TEST(BenchPeakOverlap, NestedAndPartial) {
  EXPECT_EQ(bench::peak_overlap({{0, 10}, {1, 9}, {2, 8}}), 3u);
  EXPECT_EQ(bench::peak_overlap({{0, 10}, {1, 2}, {3, 4}, {5, 6}}), 2u);
  EXPECT_EQ(bench::peak_overlap({{0, 2}, {1, 3}, {2.5, 4}}), 2u);
  // Identical intervals all overlap.
  EXPECT_EQ(bench::peak_overlap({{1, 2}, {1, 2}, {1, 2}, {1, 2}}), 4u);
}

TEST(BenchPeakOverlap, EmptyAndDegenerate) {
  EXPECT_EQ(bench::peak_overlap({}), 0u);
  // Zero-length and reversed intervals are ignored.
  EXPECT_EQ(bench::peak_overlap({{1, 1}, {3, 2}}), 0u);
  EXPECT_EQ(bench::peak_overlap({{1, 1}, {0, 5}}), 1u);
}

TEST(BenchRateSeries, CountsPerBucketScaledToSeconds) {
  // Buckets of 0.5 s over [0, 2): 2, 1, 0, 3 events.
  std::vector<double> t{0.1, 0.2, 0.7, 1.5, 1.6, 1.9};
  auto r = bench::rate_series(t, 0, 2, 0.5);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_DOUBLE_EQ(r[0], 4);
  EXPECT_DOUBLE_EQ(r[1], 2);
  EXPECT_DOUBLE_EQ(r[2], 0);
  EXPECT_DOUBLE_EQ(r[3], 6);
}

TEST(BenchRateSeries, LastShortBucketScaledToItsLength) {
  // [0, 2.5) in buckets of 1 s: the last one is 0.5 s long.
  std::vector<double> t{0.5, 1.5, 2.1, 2.4};
  auto r = bench::rate_series(t, 0, 2.5, 1);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_DOUBLE_EQ(r[0], 1);
  EXPECT_DOUBLE_EQ(r[1], 1);
  EXPECT_DOUBLE_EQ(r[2], 4);  // 2 events in 0.5 s
  // An event exactly at the end counts in the last bucket; outside ones do not.
  auto e = bench::rate_series({2.5, -1, 3}, 0, 2.5, 1);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_DOUBLE_EQ(e[2], 2);
  EXPECT_DOUBLE_EQ(e[0] + e[1], 0);
}

TEST(BenchRateSeries, OneBucketLongerThanTheWindow) {
  // cmd_bench uses buckets of at least 50 ms: a 40 ms window is one bucket
  // whose rate is the mean rate.
  auto r = bench::rate_series({0.01, 0.02, 0.04}, 0, 0.04, 0.05);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NEAR(r[0], 3 / 0.04, 1e-9);
}

// cmd_bench.cpp asks for window / N buckets when the window is long enough.
// (end - start) / bucket then rounds to just above 60 for some windows, and
// ceil() makes a 61st bucket about 1e-15 s long: the last Run lands in it
// and its "rate" is ~1e15/s (or the bucket is 0 s long and the Run is lost).
// Disabled until rate_series is fixed (see the krt bench test report).
TEST(BenchRateSeries, SixtyBucketsOfAWindowAreSixty) {
  const double window = 7.827378817379646;
  std::vector<double> t{0.5, 3.0, window};
  auto r = bench::rate_series(t, 0, window, window / 60);
  EXPECT_EQ(r.size(), 60u);
  double events = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    double len = std::min(window / 60, window - static_cast<double>(i) * (window / 60));
    EXPECT_LE(r[i], 3 / (window / 60) + 1e-6) << "bucket " << i;
    events += r[i] * len;
  }
  EXPECT_NEAR(events, 3, 1e-6);
}

TEST(BenchRateSeries, EmptyWindowOrBucket) {
  EXPECT_TRUE(bench::rate_series({1}, 0, 0, 1).empty());
  EXPECT_TRUE(bench::rate_series({1}, 2, 1, 1).empty());
  EXPECT_TRUE(bench::rate_series({1}, 0, 2, 0).empty());
  auto none = bench::rate_series({}, 0, 2, 1);
  ASSERT_EQ(none.size(), 2u);
  EXPECT_EQ(none[0] + none[1], 0);
}

// ------------------------------------------------------------------ finish()

TEST(BenchFinish, FloorsAndSummaries) {
  auto r = sample_report();
  bench::finish(r);
  // create RTT + 2 patch RTTs + patch write + spawn = 0.5 + 0.5 + 0.2 + 1.
  EXPECT_DOUBLE_EQ(r.critical_floor, 2.2);
  for (const auto& h : r.hops) EXPECT_EQ(h.s.count, h.samples.size()) << h.key;
  EXPECT_EQ(r.api[0].s.count, 2u);
  EXPECT_EQ(r.breakdown[0].s.count, 1u);
  EXPECT_DOUBLE_EQ(r.hops[0].floor_ms, 0.5);   // schedule: create
  EXPECT_DOUBLE_EQ(r.hops[1].floor_ms, 0.75);  // dispatch: create + patch
  EXPECT_DOUBLE_EQ(r.hops[2].floor_ms, 1.0);   // claimToExecute: spawn
  EXPECT_DOUBLE_EQ(r.hops[3].floor_ms, 1.0);   // execution: spawn
  EXPECT_DOUBLE_EQ(r.hops[4].floor_ms, 2.2);   // complete: critical path
  EXPECT_EQ(r.api[0].floor_ms, 0);             // no floor
  EXPECT_EQ(r.hops[4].s.p50, 7);
  EXPECT_EQ(r.hops[4].s.p99, 9);
}

TEST(BenchFinish, TargetsMet) {
  auto r = met_report();
  bench::finish(r);
  ASSERT_EQ(r.targets.size(), 4u);
  for (const auto& t : r.targets) {
    EXPECT_TRUE(t.known) << t.name;
    EXPECT_TRUE(t.met) << t.name << ": " << t.measured << " vs " << t.limit;
  }
  EXPECT_DOUBLE_EQ(target_named(r, "complete p50").limit, 2 * r.critical_floor);
  EXPECT_DOUBLE_EQ(target_named(r, "complete p99").limit, 5 * r.critical_floor);
  EXPECT_DOUBLE_EQ(target_named(r, "claim-to-execute").measured, 1.1);
  EXPECT_DOUBLE_EQ(target_named(r, "throughput").limit, 50);
  EXPECT_DOUBLE_EQ(target_named(r, "throughput").measured, 60);
}

TEST(BenchFinish, TargetsMissed) {
  auto r = sample_report();
  r.hops[4].samples = {100, 200, 300, 400};
  r.hops[2].samples = {5, 5, 5};
  r.throughput = 10;
  bench::finish(r);
  ASSERT_EQ(r.targets.size(), 4u);
  for (const auto& t : r.targets) {
    EXPECT_TRUE(t.known) << t.name;
    EXPECT_FALSE(t.met) << t.name;
  }
}

TEST(BenchFinish, TargetsUnknownWithoutTheirFigures) {
  bench::report r;  // nothing measured at all
  r.hops.push_back(make_hop("claimToExecute", "spawn", {}));
  r.hops.push_back(make_hop("complete", "critical path", {}));
  bench::finish(r);
  ASSERT_EQ(r.targets.size(), 4u);
  for (const auto& t : r.targets) {
    EXPECT_FALSE(t.known) << t.name;
    EXPECT_FALSE(t.met) << t.name;
  }
  // Samples but no floors: still unknown, never met.
  auto s = sample_report();
  s.create_rtt = s.patch_rtt = s.patch_write = s.spawn = bench::summary{};
  s.spawn_rate = 0;
  bench::finish(s);
  EXPECT_EQ(s.critical_floor, 0);
  for (const auto& t : s.targets) {
    EXPECT_FALSE(t.known) << t.name;
    EXPECT_FALSE(t.met) << t.name;
  }
  for (const auto& h : s.hops) EXPECT_EQ(h.floor_ms, 0) << h.key;
}

TEST(BenchFinish, RunsAgainDoesNotDuplicateTargets) {
  auto r = sample_report();
  bench::finish(r);
  bench::finish(r);
  EXPECT_EQ(r.targets.size(), 4u);
}

// ------------------------------------------------------------------ renderings

TEST(BenchJson, EveryTopLevelKey) {
  auto r = sample_report();
  r.failures.push_back("x: Failed: boom");
  r.notes.push_back("a note");
  bench::finish(r);
  auto v = bench::to_json(r);
  ASSERT_TRUE(v.is_object());
  const auto& o = v.as_object();
  for (const char* k : {"apiVersion", "kind", "parameters", "environment", "runs", "hops", "api",
                        "runtimedBreakdown", "floors", "throughput", "peakConcurrentRunning", "timingsDropped",
                        "targets", "notes"})
    EXPECT_TRUE(o.contains(k)) << k;
  EXPECT_EQ(o.at("kind").as_string(), "BenchResult");
  EXPECT_EQ(o.at("runs").as_object().at("measured").to_number<int>(), 4);
  EXPECT_EQ(o.at("runs").as_object().at("failures").as_array().size(), 1u);
  EXPECT_EQ(o.at("targets").as_array().size(), 4u);
  EXPECT_EQ(o.at("notes").as_array().size(), 1u);
  for (const char* k : {"schedule", "dispatch", "claimToExecute", "execution", "complete"}) {
    const auto& h = o.at("hops").as_object().at(k).as_object();
    EXPECT_EQ(h.at("samplesMs").as_array().size(), h.at("count").to_number<std::size_t>()) << k;
    EXPECT_TRUE(h.contains("floorMs")) << k;
    EXPECT_NEAR(h.at("p50Ratio").to_number<double>(),
                h.at("p50Ms").to_number<double>() / h.at("floorMs").to_number<double>(), 1e-12)
        << k;
  }
  EXPECT_FALSE(o.at("api").as_object().at("createRun").as_object().contains("floorMs"));
  const auto& f = o.at("floors").as_object();
  for (const char* k : {"apiCreateWatch", "apiPatchWatch", "apiPatchWrite", "directSpawn",
                        "directSpawnPerSecond", "criticalPathMs"})
    EXPECT_TRUE(f.contains(k)) << k;
  EXPECT_DOUBLE_EQ(f.at("criticalPathMs").to_number<double>(), 2.2);
  EXPECT_DOUBLE_EQ(o.at("throughput").as_object().at("ratioToDirectSpawn").to_number<double>(), 0.6);
  // It is valid JSON with the same keys.
  auto back = bj::parse(bj::serialize(v));
  EXPECT_EQ(back.as_object().size(), o.size());
}

TEST(BenchTable, EveryHopAndTheTargets) {
  auto r = met_report();
  r.hops.push_back(make_hop("emptyHop", "", {}));
  r.notes.push_back("note text");
  r.failures.push_back("run-1: Failed: exit 1");
  bench::finish(r);
  auto t = bench::render_table(r);
  for (const auto* hs : {&r.hops, &r.api, &r.breakdown})
    for (const auto& h : *hs) {
      EXPECT_NE(t.find("\n" + h.key + " "), std::string::npos) << h.key << "\n" << t;
    }
  EXPECT_EQ(t.rfind("HOP", 0), 0u);
  EXPECT_NE(t.find("Targets (reported, not asserted):"), std::string::npos);
  EXPECT_EQ(count_of(t, "  met     "), 4u) << t;
  EXPECT_NE(t.find("Note: note text"), std::string::npos);
  EXPECT_NE(t.find("Failed: run-1: Failed: exit 1"), std::string::npos);
  EXPECT_NE(t.find("Peak concurrent Running: "), std::string::npos);
}

TEST(BenchSvg, OnePolylinePerNonEmptyHop) {
  auto r = sample_report();
  r.hops.push_back(make_hop("emptyHop", "", {}));
  bench::finish(r);
  auto svg = bench::render_svg(r);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // Five hops with samples, plus the throughput line.
  EXPECT_EQ(count_of(svg, "<polyline"), 5u + 1u);
  for (const auto& h : r.hops) {
    if (!h.samples.empty()) {
      EXPECT_NE(svg.find(">" + h.key + " p50 "), std::string::npos) << h.key;
    }
  }
  EXPECT_EQ(svg.find("emptyHop"), std::string::npos);
  // No rate series: no throughput line.
  r.rate_over_time.clear();
  EXPECT_EQ(count_of(bench::render_svg(r), "<polyline"), 5u);
  // An empty report still renders a document.
  bench::report e;
  bench::finish(e);
  auto empty = bench::render_svg(e);
  EXPECT_EQ(count_of(empty, "<polyline"), 0u);
  EXPECT_NE(empty.find("</svg>"), std::string::npos);
}

TEST(BenchSvg, EscapesText) {
  auto r = sample_report();
  r.parameters["command"] = "a<b & c>d";
  bench::finish(r);
  auto svg = bench::render_svg(r);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_NE(svg.find("&lt;b &amp; c&gt;d"), std::string::npos);
}

// ------------------------------------------------------------------ spawn floor

class BenchSpawn : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("krt-bench-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(BenchSpawn, TrueSucceeds) {
  std::vector<std::string> argv{"true"};
  auto r = bench::measure_spawn(argv, dir_.string(), 5, 12, 3);
  EXPECT_EQ(r.latencies_ms.size(), 5u);
  for (double v : r.latencies_ms) EXPECT_GT(v, 0);
  EXPECT_GT(r.rate, 0);
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.error, "");
}

TEST_F(BenchSpawn, RunsInTheDirectory) {
  // The spawn happens in `dir`: a relative path there works.
  std::vector<std::string> argv{"bash", "-c", "test \"$PWD\" = \"$1\" && touch here", "x", dir_.string()};
  auto r = bench::measure_spawn(argv, dir_.string(), 1, 0, 1);
  EXPECT_EQ(r.failures, 0) << r.error;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "here"));
  EXPECT_EQ(r.rate, 0);  // no concurrent part asked for
}

TEST_F(BenchSpawn, FalseCountsFailures) {
  std::vector<std::string> argv{"false"};
  auto r = bench::measure_spawn(argv, dir_.string(), 3, 4, 2);
  EXPECT_TRUE(r.latencies_ms.empty());
  EXPECT_EQ(r.failures, 3 + 4);
  EXPECT_NE(r.error.find("exited with code 1"), std::string::npos) << r.error;
}

TEST_F(BenchSpawn, MissingBinaryCannotStart) {
  std::vector<std::string> argv{"krt-bench-no-such-binary-here"};
  auto r = bench::measure_spawn(argv, dir_.string(), 2, 0, 1);
  EXPECT_TRUE(r.latencies_ms.empty());
  EXPECT_EQ(r.failures, 2);
  EXPECT_NE(r.error.find("cannot start"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("krt-bench-no-such-binary-here"), std::string::npos) << r.error;
}

TEST_F(BenchSpawn, KilledBySignal) {
  std::vector<std::string> argv{"bash", "-c", "kill -TERM $$"};
  auto r = bench::measure_spawn(argv, dir_.string(), 1, 0, 1);
  EXPECT_EQ(r.failures, 1);
  EXPECT_NE(r.error.find("killed by signal 15"), std::string::npos) << r.error;
}

TEST(BenchSpawnArgs, EmptyCommand) {
  auto r = bench::measure_spawn({}, "/", 3, 3, 1);
  EXPECT_EQ(r.error, "no command");
  EXPECT_TRUE(r.latencies_ms.empty());
}
