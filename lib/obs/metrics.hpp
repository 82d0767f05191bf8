#pragma once
// Prometheus metrics (text exposition format 0.0.4): counters, gauges and
// histograms with labels. Each shard owns its own registry and updates it with
// plain arithmetic (no atomics on hot paths); a scrape collects a snapshot
// from every shard and merges series by name and labels.
//
// Affinity: a registry is per-shard (or single-threaded). References returned
// by counter()/gauge()/histogram() stay valid for the registry's lifetime.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace krt::obs {

using labels = std::vector<std::pair<std::string, std::string>>;

class counter {
 public:
  void inc(double v = 1) { value_ += v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class gauge {
 public:
  void set(double v) { value_ = v; }
  void add(double v) { value_ += v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double v);
  void observe(std::chrono::nanoseconds d) { observe(static_cast<double>(d.count()) / 1e9); }
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }  // per bucket, not cumulative
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // bounds_.size() + 1 (last is +Inf)
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Latency buckets in seconds from 10 µs to 60 s: fine below a millisecond,
// where the hops of the Run critical path live.
const std::vector<double>& latency_buckets();

enum class metric_type { counter, gauge, histogram };

// A registry's values at one instant: what a shard hands to the scraper.
struct series_snapshot {
  std::string labels;  // rendered: {a="x",b="y"} or ""
  double value = 0;
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;
};
struct family_snapshot {
  std::string name;
  std::string help;
  metric_type type = metric_type::counter;
  std::vector<series_snapshot> series;
};
using snapshot = std::vector<family_snapshot>;

class registry {
 public:
  counter& get_counter(std::string_view name, std::string_view help, const labels& l = {});
  gauge& get_gauge(std::string_view name, std::string_view help, const labels& l = {});
  histogram& get_histogram(std::string_view name, std::string_view help, const labels& l = {},
                           const std::vector<double>& bounds = latency_buckets());

  snapshot collect() const;
  std::string render() const;

 private:
  struct family {
    std::string help;
    metric_type type;
    std::map<std::string, std::unique_ptr<counter>> counters;
    std::map<std::string, std::unique_ptr<gauge>> gauges;
    std::map<std::string, std::unique_ptr<histogram>> histograms;
  };
  family& get_family(std::string_view name, std::string_view help, metric_type type);
  std::map<std::string, family, std::less<>> families_;
};

// Merges shard snapshots (sums every series) and renders the text format.
std::string render(const std::vector<snapshot>& shards);

// {a="x",b="y"} with Prometheus escaping, keys in the given order.
std::string render_labels(const labels& l);

}  // namespace krt::obs
