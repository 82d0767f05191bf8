// Prometheus text exposition 0.0.4: exact rendering of counters, gauges and
// histograms, label escaping, merging of shard snapshots, and sharded_metrics
// over a real engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/obs/endpoint.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/engine.hpp"
#include "lib/reactor/submit.hpp"

namespace krt::obs::test_metrics {

using namespace std::chrono_literals;

TEST(Metrics, CounterRendersHelpTypeAndValue) {
  registry r;
  auto& c = r.get_counter("krt_runs_created_total", "Runs created.", {{"runtime", "bash"}});
  c.inc();
  c.inc(2);
  EXPECT_EQ(c.value(), 3);
  EXPECT_EQ(r.render(),
            "# HELP krt_runs_created_total Runs created.\n"
            "# TYPE krt_runs_created_total counter\n"
            "krt_runs_created_total{runtime=\"bash\"} 3\n");
}

TEST(Metrics, SameNameAndLabelsIsTheSameSeries) {
  registry r;
  auto& a = r.get_counter("x_total", "h", {{"k", "v"}});
  auto& b = r.get_counter("x_total", "h", {{"k", "v"}});
  auto& other = r.get_counter("x_total", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  a.inc(1.5);
  b.inc(1);
  other.inc(7);
  EXPECT_EQ(r.render(),
            "# HELP x_total h\n"
            "# TYPE x_total counter\n"
            "x_total{k=\"v\"} 2.5\n"
            "x_total{k=\"w\"} 7\n");
}

TEST(Metrics, ReferencesStayValidAsTheRegistryGrows) {
  registry r;
  auto& first = r.get_counter("a_total", "h");
  for (int i = 0; i < 200; ++i) r.get_counter("b_total", "h", {{"i", std::to_string(i)}}).inc();
  for (int i = 0; i < 50; ++i) r.get_gauge("g" + std::to_string(i), "h").set(i);
  first.inc(5);
  EXPECT_EQ(r.get_counter("a_total", "h").value(), 5);
}

TEST(Metrics, GaugeWithoutLabelsAndFamiliesSortedByName) {
  registry r;
  auto& g = r.get_gauge("krt_queue_depth", "Keys waiting.");
  g.set(10);
  g.add(-11.5);
  r.get_counter("aaa_total", "First.").inc();
  EXPECT_EQ(r.render(),
            "# HELP aaa_total First.\n"
            "# TYPE aaa_total counter\n"
            "aaa_total 1\n"
            "# HELP krt_queue_depth Keys waiting.\n"
            "# TYPE krt_queue_depth gauge\n"
            "krt_queue_depth -1.5\n");
}

TEST(Metrics, SpecialAndLargeValues) {
  registry r;
  r.get_gauge("g", "h", {{"v", "inf"}}).set(std::numeric_limits<double>::infinity());
  r.get_gauge("g", "h", {{"v", "minf"}}).set(-std::numeric_limits<double>::infinity());
  r.get_gauge("g", "h", {{"v", "nan"}}).set(std::numeric_limits<double>::quiet_NaN());
  r.get_gauge("g", "h", {{"v", "big"}}).set(1e20);
  r.get_gauge("g", "h", {{"v", "int"}}).set(123456789012.0);
  r.get_gauge("g", "h", {{"v", "small"}}).set(0.000123);
  auto text = r.render();
  EXPECT_NE(text.find("g{v=\"inf\"} +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"minf\"} -Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"nan\"} NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"big\"} 1e+20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"int\"} 123456789012\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"small\"} 0.000123\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(render_labels({}), "");
  EXPECT_EQ(render_labels({{"a", "x"}, {"b", "y"}}), "{a=\"x\",b=\"y\"}");
  EXPECT_EQ(render_labels({{"b", "y"}, {"a", "x"}}), "{b=\"y\",a=\"x\"}") << "keys keep the given order";
  EXPECT_EQ(render_labels({{"path", "C:\\dir"}, {"q", "say \"hi\""}, {"nl", "a\nb"}}),
            "{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",nl=\"a\\nb\"}");
  registry r;
  r.get_counter("e_total", "h", {{"v", "\\\"\n"}}).inc();
  EXPECT_NE(r.render().find("e_total{v=\"\\\\\\\"\\n\"} 1\n"), std::string::npos) << r.render();
}

// The text format requires backslash and line feed in HELP to be escaped as
// \\ and \n; otherwise a multi-line help string ends the HELP line early and the
// rest is parsed as a bogus sample.
TEST(Metrics, HelpTextIsEscaped) {
  registry r;
  r.get_counter("h_total", "line one\nline two \\ done").inc();
  EXPECT_EQ(r.render(),
            "# HELP h_total line one\\nline two \\\\ done\n"
            "# TYPE h_total counter\n"
            "h_total 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  registry r;
  auto& h = r.get_histogram("krt_hop_seconds", "Hop latency.", {{"hop", "dispatch"}}, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 100.0}) h.observe(v);
  EXPECT_EQ(h.count(), 5U);
  EXPECT_EQ(h.counts(), (std::vector<std::uint64_t>{2, 1, 1, 1})) << "per bucket, le inclusive, last is +Inf";
  EXPECT_EQ(r.render(),
            "# HELP krt_hop_seconds Hop latency.\n"
            "# TYPE krt_hop_seconds histogram\n"
            "krt_hop_seconds_bucket{hop=\"dispatch\",le=\"0.1\"} 2\n"
            "krt_hop_seconds_bucket{hop=\"dispatch\",le=\"1\"} 3\n"
            "krt_hop_seconds_bucket{hop=\"dispatch\",le=\"10\"} 4\n"
            "krt_hop_seconds_bucket{hop=\"dispatch\",le=\"+Inf\"} 5\n"
            "krt_hop_seconds_sum{hop=\"dispatch\"} 105.65\n"
            "krt_hop_seconds_count{hop=\"dispatch\"} 5\n");
}

TEST(Metrics, HistogramWithoutLabelsAndEmpty) {
  registry r;
  r.get_histogram("empty_seconds", "h", {}, {1, 2});
  EXPECT_EQ(r.render(),
            "# HELP empty_seconds h\n"
            "# TYPE empty_seconds histogram\n"
            "empty_seconds_bucket{le=\"1\"} 0\n"
            "empty_seconds_bucket{le=\"2\"} 0\n"
            "empty_seconds_bucket{le=\"+Inf\"} 0\n"
            "empty_seconds_sum 0\n"
            "empty_seconds_count 0\n");
}

TEST(Metrics, HistogramObservesDurationsInSeconds) {
  histogram h({0.001, 0.5, 1});
  h.observe(std::chrono::nanoseconds(250ms));
  h.observe(std::chrono::nanoseconds(2s));
  h.observe(std::chrono::nanoseconds(999us));
  EXPECT_EQ(h.counts(), (std::vector<std::uint64_t>{1, 1, 0, 1}));
  EXPECT_DOUBLE_EQ(h.sum(), 2.250999);
}

TEST(Metrics, HistogramRejectsUnsortedBounds) {
  EXPECT_THROW(histogram({1, 0.5}), std::invalid_argument);
  registry r;
  EXPECT_THROW(r.get_histogram("bad", "h", {}, {3, 2, 1}), std::invalid_argument);
}

TEST(Metrics, LatencyBucketsSpanTenMicrosecondsToAMinute) {
  const auto& b = latency_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 1e-05);
  EXPECT_DOUBLE_EQ(b.back(), 60);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_EQ(std::adjacent_find(b.begin(), b.end()), b.end()) << "bounds must be distinct";
  EXPECT_GE(std::count_if(b.begin(), b.end(), [](double x) { return x < 1e-3; }), 5)
      << "fine resolution below a millisecond";

  registry r;
  r.get_histogram("lat_seconds", "h").observe(3e-5);
  auto text = r.render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1e-05\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"5e-05\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"60\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, OneNameCannotHaveTwoTypes) {
  registry r;
  r.get_counter("dup", "h");
  EXPECT_THROW(r.get_gauge("dup", "h"), std::logic_error);
  EXPECT_THROW(r.get_histogram("dup", "h"), std::logic_error);
  r.get_histogram("hist", "h");
  EXPECT_THROW(r.get_counter("hist", "h"), std::logic_error);
  EXPECT_NO_THROW(r.get_counter("dup", "h", {{"other", "labels"}}));
  EXPECT_EQ(r.collect().size(), 2U) << "a rejected registration adds nothing";
}

TEST(Metrics, CollectSnapshotsEveryFamily) {
  registry r;
  r.get_counter("c_total", "ch", {{"a", "1"}}).inc(4);
  r.get_gauge("g", "gh").set(2);
  r.get_histogram("h", "hh", {}, {1}).observe(0.5);
  snapshot s = r.collect();
  ASSERT_EQ(s.size(), 3U);
  EXPECT_EQ(s[0].name, "c_total");
  EXPECT_EQ(s[0].help, "ch");
  EXPECT_EQ(s[0].type, metric_type::counter);
  ASSERT_EQ(s[0].series.size(), 1U);
  EXPECT_EQ(s[0].series[0].labels, "{a=\"1\"}");
  EXPECT_EQ(s[0].series[0].value, 4);
  EXPECT_EQ(s[1].type, metric_type::gauge);
  EXPECT_EQ(s[2].type, metric_type::histogram);
  ASSERT_EQ(s[2].series.size(), 1U);
  EXPECT_EQ(s[2].series[0].counts, (std::vector<std::uint64_t>{1, 0}));
  EXPECT_EQ(s[2].series[0].count, 1U);
}

TEST(Metrics, RenderSumsShardsPerLabelSet) {
  std::vector<snapshot> shards;
  for (int i = 0; i < 3; ++i) {
    registry r;
    r.get_counter("req_total", "Requests.", {{"code", "200"}}).inc(i + 1);
    if (i == 2) r.get_counter("req_total", "Requests.", {{"code", "500"}}).inc(7);
    r.get_gauge("inflight", "In flight.").set(10 * (i + 1));
    auto& h = r.get_histogram("lat_seconds", "Latency.", {{"op", "get"}}, {1, 2});
    h.observe(0.5 + i);  // 0.5, 1.5, 2.5: one per bucket
    if (i == 1) r.get_gauge("only_on_one", "Shard 1 only.").set(3);
    shards.push_back(r.collect());
  }
  EXPECT_EQ(render(shards),
            "# HELP inflight In flight.\n"
            "# TYPE inflight gauge\n"
            "inflight 60\n"
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"get\",le=\"1\"} 1\n"
            "lat_seconds_bucket{op=\"get\",le=\"2\"} 2\n"
            "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 3\n"
            "lat_seconds_sum{op=\"get\"} 4.5\n"
            "lat_seconds_count{op=\"get\"} 3\n"
            "# HELP only_on_one Shard 1 only.\n"
            "# TYPE only_on_one gauge\n"
            "only_on_one 3\n"
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{code=\"200\"} 6\n"
            "req_total{code=\"500\"} 7\n");
  EXPECT_EQ(render({}), "");
  EXPECT_EQ(render({snapshot{}, snapshot{}}), "");
}

// ------------------------------------------------ sharded_metrics on an engine

void bump_local(sharded_metrics* m, unsigned shard) {
  auto& r = m->local();
  r.get_counter("krt_shard_work_total", "Work items.", {{"kind", "run"}}).inc(shard + 1);
  r.get_gauge("krt_shard_up", "Shards up.").set(1);
  r.get_histogram("krt_shard_seconds", "Per shard.", {}, {0.5}).observe(0.25 * shard);
}

// A named callable, not a lambda: a lambda inside a coroutine has no linkage,
// which GCC rejects (-Wsubobject-linkage) when the file is part of a unity batch.
struct bump_on {
  sharded_metrics* m;
  unsigned shard;
  unsigned operator()() const {
    bump_local(m, shard);
    return reactor::this_shard_id();
  }
};

awaitable<int> sharded_scrape_main(reactor::engine* e, sharded_metrics* m, std::string* out) {
  for (unsigned i = 0; i < e->size(); ++i) {
    unsigned where = co_await reactor::submit_to(*e, i, bump_on{m, i});
    EXPECT_EQ(where, i);
  }
  *out = co_await m->scrape();
  EXPECT_EQ(reactor::this_shard_id(), 0U) << "scrape resumes on the caller's shard";
  co_return 0;
}

TEST(ShardedMetrics, ScrapeSumsEveryShard) {
  reactor::engine e({.shards = 3, .stop_signals = {}});
  sharded_metrics m(e);
  std::string text;
  int rc = e.run([&] { return sharded_scrape_main(&e, &m, &text); });
  ASSERT_EQ(rc, 0);
  EXPECT_NE(text.find("krt_shard_work_total{kind=\"run\"} 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("krt_shard_up 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("krt_shard_seconds_bucket{le=\"0.5\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("krt_shard_seconds_count 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("krt_shard_seconds_sum 0.75\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE krt_shard_up gauge\n"), text.rfind("# TYPE krt_shard_up gauge\n"))
      << "one family block, not one per shard";
  for (unsigned i = 0; i < 3; ++i)
    EXPECT_EQ(m.on(i).get_counter("krt_shard_work_total", "Work items.", {{"kind", "run"}}).value(), i + 1.0);
}

TEST(ShardedMetrics, LocalOffShardThrows) {
  reactor::engine e({.shards = 2, .stop_signals = {}});
  sharded_metrics m(e);
  EXPECT_THROW(m.local(), std::logic_error);
}

}  // namespace krt::obs::test_metrics
