#include "tools/krt/bench/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

namespace krt::cli::bench {

namespace bj = boost::json;

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

summary summarize(std::vector<double> v) {
  summary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.p50 = percentile(v, 50);
  s.p90 = percentile(v, 90);
  s.p99 = percentile(v, 99);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return s;
}

std::size_t peak_overlap(std::vector<std::pair<double, double>> intervals) {
  // +1 at each start, -1 at each end; an end sorts before a start at the
  // same instant (half-open intervals).
  std::vector<std::pair<double, int>> edges;
  edges.reserve(intervals.size() * 2);
  for (const auto& [a, b] : intervals) {
    if (!(b > a)) continue;
    edges.emplace_back(a, 1);
    edges.emplace_back(b, -1);
  }
  std::sort(edges.begin(), edges.end());
  long open = 0, peak = 0;
  for (const auto& e : edges) {
    open += e.second;
    peak = std::max(peak, open);
  }
  return static_cast<std::size_t>(peak);
}

std::vector<double> rate_series(const std::vector<double>& times, double start, double end, double bucket) {
  std::vector<double> out;
  if (!(bucket > 0) || !(end > start)) return out;
  // The tolerance keeps a span of exactly k buckets from getting a k+1st
  // bucket of rounding-error length.
  auto n = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil((end - start) / bucket - 1e-9)));
  std::vector<std::size_t> counts(n, 0);
  for (double t : times) {
    if (t < start || t > end) continue;
    auto i = std::min(n - 1, static_cast<std::size_t>((t - start) / bucket));
    ++counts[i];
  }
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    double len = std::min(bucket, end - (start + static_cast<double>(i) * bucket));
    out.push_back(len > 0 ? static_cast<double>(counts[i]) / len : 0);
  }
  return out;
}

namespace {

const hop* find_hop(const report& r, std::string_view key) {
  for (const auto& h : r.hops)
    if (h.key == key) return &h;
  return nullptr;
}

std::string ms(double v) {
  char buf[32];
  if (v >= 100)
    std::snprintf(buf, sizeof buf, "%.0f ms", v);
  else if (v >= 10)
    std::snprintf(buf, sizeof buf, "%.1f ms", v);
  else if (v >= 1)
    std::snprintf(buf, sizeof buf, "%.2f ms", v);
  else
    std::snprintf(buf, sizeof buf, "%.0f µs", v * 1000);
  return buf;
}

std::string num(double v, const char* fmt) {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// Display columns of UTF-8 text ("µ" is two bytes, one column).
std::size_t cols(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, std::size_t w, bool right = false) {
  std::size_t n = cols(s);
  std::string fill(n < w ? w - n : 0, ' ');
  return right ? fill + s : s + fill;
}

bj::object summary_json(const summary& s) {
  bj::object o;
  o["count"] = s.count;
  o["minMs"] = s.min;
  o["p50Ms"] = s.p50;
  o["p90Ms"] = s.p90;
  o["p99Ms"] = s.p99;
  o["maxMs"] = s.max;
  o["meanMs"] = s.mean;
  return o;
}

bj::array numbers(const std::vector<double>& v) {
  bj::array a;
  a.reserve(v.size());
  for (double x : v) a.emplace_back(x);
  return a;
}

}  // namespace

void finish(report& r) {
  for (auto& h : r.hops) h.s = summarize(h.samples);
  for (auto& h : r.api) h.s = summarize(h.samples);
  for (auto& h : r.breakdown) h.s = summarize(h.samples);
  r.critical_floor = r.create_rtt.p50 + 2 * r.patch_rtt.p50 + r.patch_write.p50 + r.spawn.p50;
  for (auto& h : r.hops) {
    if (h.floor_name == "create") h.floor_ms = r.create_rtt.p50;
    else if (h.floor_name == "create+patch") h.floor_ms = r.create_rtt.p50 + r.patch_rtt.p50;
    else if (h.floor_name == "spawn") h.floor_ms = r.spawn.p50;
    else if (h.floor_name == "critical path") h.floor_ms = r.critical_floor;
  }
  r.targets.clear();
  const hop* complete = find_hop(r, "complete");
  const hop* c2e = find_hop(r, "claimToExecute");
  auto add = [&](std::string name, double measured, double limit, std::string unit, bool known) {
    target t;
    t.name = std::move(name);
    t.measured = measured;
    t.limit = limit;
    t.unit = std::move(unit);
    t.known = known;
    t.met = known && measured <= limit;
    r.targets.push_back(std::move(t));
  };
  bool have_floor = r.critical_floor > 0;
  add("complete p50 <= 2x critical-path floor", complete ? complete->s.p50 : 0, 2 * r.critical_floor, "ms",
      complete && complete->s.count > 0 && have_floor);
  add("complete p99 <= 5x critical-path floor", complete ? complete->s.p99 : 0, 5 * r.critical_floor, "ms",
      complete && complete->s.count > 0 && have_floor);
  add("claim-to-execute p50 <= direct spawn p50 + 0.1 ms", c2e ? c2e->s.p50 : 0, r.spawn.p50 + 0.1, "ms",
      c2e && c2e->s.count > 0 && r.spawn.count > 0);
  // Stated as "at least": measured is the shortfall (limit - throughput).
  target t;
  t.name = "throughput >= 50% of the direct spawn rate";
  t.unit = "Runs/s";
  t.measured = r.throughput;
  t.limit = r.spawn_rate * 0.5;
  t.known = r.spawn_rate > 0 && r.measured > 0;
  t.met = t.known && r.throughput >= t.limit;
  r.targets.push_back(std::move(t));
}

std::string render_table(const report& r) {
  std::ostringstream out;
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"HOP", "N", "P50", "P90", "P99", "MAX", "FLOOR", "P50/FLOOR", "P99/FLOOR"});
  auto add_rows = [&](const std::vector<hop>& hs) {
    for (const auto& h : hs) {
      std::vector<std::string> row{h.key, std::to_string(h.s.count)};
      if (h.s.count == 0) {
        for (int i = 0; i < 7; ++i) row.push_back("-");
      } else {
        for (double v : {h.s.p50, h.s.p90, h.s.p99, h.s.max}) row.push_back(ms(v));
        if (h.floor_ms > 0) {
          row.push_back(ms(h.floor_ms) + " (" + h.floor_name + ")");
          row.push_back(num(h.s.p50 / h.floor_ms, "%.2fx"));
          row.push_back(num(h.s.p99 / h.floor_ms, "%.2fx"));
        } else {
          row.insert(row.end(), {"-", "-", "-"});
        }
      }
      rows.push_back(std::move(row));
    }
  };
  add_rows(r.hops);
  if (!r.breakdown.empty()) {
    rows.push_back({});
    add_rows(r.breakdown);
  }
  rows.push_back({});
  add_rows(r.api);
  std::vector<std::size_t> w(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], cols(row[i]));
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      bool right = i >= 1 && i <= 5;
      line += pad(row[i], w[i], right);
      if (i + 1 < row.size()) line += "   ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out << "\n";
  out << "Runs: " << r.measured << " measured (" << r.succeeded << " succeeded, " << r.failed << " not), " << r.warmup
      << " warm-up\n";
  out << "Throughput: " << num(r.throughput, "%.1f") << " Runs/s over " << num(r.window_s, "%.2f")
      << " s (direct spawn: " << num(r.spawn_rate, "%.1f") << "/s, ratio "
      << (r.spawn_rate > 0 ? num(r.throughput / r.spawn_rate, "%.2f") : std::string("-")) << ")\n";
  out << "Peak concurrent Running: " << r.peak_running << "\n";
  out << "Floors: API create->watch p50 " << ms(r.create_rtt.p50) << ", patch->watch p50 " << ms(r.patch_rtt.p50)
      << ", patch write p50 " << ms(r.patch_write.p50) << ", direct spawn p50 " << ms(r.spawn.p50)
      << "; critical path (DESIGN §5: 4 writes + 3 watch hops + spawn) " << ms(r.critical_floor) << "\n";
  out << "\nTargets (reported, not asserted):\n";
  for (const auto& t : r.targets) {
    std::string verdict = !t.known ? "unknown" : t.met ? "met" : "missed";
    std::string m = t.unit == "ms" ? ms(t.measured) : num(t.measured, "%.1f") + " " + t.unit;
    std::string l = t.unit == "ms" ? ms(t.limit) : num(t.limit, "%.1f") + " " + t.unit;
    out << "  " << pad(verdict, 8) << t.name << ": " << m << " vs " << l << "\n";
  }
  for (const auto& f : r.failures) out << "Failed: " << f << "\n";
  for (const auto& n : r.notes) out << "Note: " << n << "\n";
  return out.str();
}

bj::value to_json(const report& r) {
  bj::object o;
  o["apiVersion"] = "kruntimes.io/v1alpha1";
  o["kind"] = "BenchResult";
  o["parameters"] = r.parameters;
  o["environment"] = r.environment;
  bj::object runs;
  runs["measured"] = r.measured;
  runs["succeeded"] = r.succeeded;
  runs["failed"] = r.failed;
  runs["warmup"] = r.warmup;
  bj::array failures;
  for (const auto& f : r.failures) failures.emplace_back(f);
  runs["failures"] = std::move(failures);
  o["runs"] = std::move(runs);
  auto hops_json = [](const std::vector<hop>& hs) {
    bj::object out;
    for (const auto& h : hs) {
      bj::object x = summary_json(h.s);
      x["description"] = h.what;
      if (h.floor_ms > 0 && h.s.count > 0) {
        x["floor"] = h.floor_name;
        x["floorMs"] = h.floor_ms;
        x["p50Ratio"] = h.s.p50 / h.floor_ms;
        x["p99Ratio"] = h.s.p99 / h.floor_ms;
      }
      x["samplesMs"] = numbers(h.samples);
      out[h.key] = std::move(x);
    }
    return out;
  };
  o["hops"] = hops_json(r.hops);
  o["api"] = hops_json(r.api);
  o["runtimedBreakdown"] = hops_json(r.breakdown);
  bj::object floors;
  floors["apiCreateWatch"] = summary_json(r.create_rtt);
  floors["apiPatchWatch"] = summary_json(r.patch_rtt);
  floors["apiPatchWrite"] = summary_json(r.patch_write);
  floors["directSpawn"] = summary_json(r.spawn);
  floors["directSpawnPerSecond"] = r.spawn_rate;
  floors["criticalPathMs"] = r.critical_floor;
  o["floors"] = std::move(floors);
  bj::object tp;
  tp["runsPerSecond"] = r.throughput;
  tp["windowSeconds"] = r.window_s;
  tp["ratioToDirectSpawn"] = r.spawn_rate > 0 ? r.throughput / r.spawn_rate : 0.0;
  tp["bucketSeconds"] = r.rate_bucket_s;
  tp["overTime"] = numbers(r.rate_over_time);
  o["throughput"] = std::move(tp);
  o["peakConcurrentRunning"] = r.peak_running;
  o["timingsDropped"] = r.timings_dropped;
  bj::array targets;
  for (const auto& t : r.targets) {
    bj::object x;
    x["name"] = t.name;
    x["measured"] = t.measured;
    x["limit"] = t.limit;
    x["unit"] = t.unit;
    x["known"] = t.known;
    x["met"] = t.met;
    targets.push_back(std::move(x));
  }
  o["targets"] = std::move(targets);
  bj::array notes;
  for (const auto& n : r.notes) notes.emplace_back(n);
  o["notes"] = std::move(notes);
  return o;
}

namespace {

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

// Two panels: on the left the CDF of every hop on a log-scale time axis (so
// 50 µs and 500 ms fit), with the critical-path floor as a dashed line; on
// the right completed Runs per second over the measured window.
std::string render_svg(const report& r) {
  const double W = 1100, H = 460, L = 70, T = 50, PW = 560, PH = 340, R0 = 720, RW = 340;
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"};
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::string title = "krt bench";
  if (auto it = r.parameters.find("runs"); it != r.parameters.end())
    title += ": " + bj::serialize(it->value()) + " Runs";
  if (auto it = r.parameters.find("concurrency"); it != r.parameters.end())
    title += ", concurrency " + bj::serialize(it->value());
  if (auto it = r.parameters.find("command"); it != r.parameters.end())
    title += ", command " + bj::serialize(it->value());
  s << "<text x=\"" << L << "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" << esc(title) << "</text>\n";

  // Left panel: CDFs.
  double lo = 1e9, hi = 0;
  for (const auto& h : r.hops)
    for (double v : h.samples)
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (r.critical_floor > 0) {
    lo = std::min(lo, r.critical_floor);
    hi = std::max(hi, r.critical_floor);
  }
  if (hi <= 0) {
    lo = 0.01;
    hi = 1;
  }
  lo = std::max(lo, 0.01);  // shorter samples sit at the left edge (10 µs)
  hi = std::max(hi, lo);
  double dlo = std::floor(std::log10(lo)), dhi = std::ceil(std::log10(hi));
  if (dhi <= dlo) dhi = dlo + 1;
  auto xof = [&](double v) { return L + (std::log10(std::max(v, std::pow(10.0, dlo))) - dlo) / (dhi - dlo) * PW; };
  auto yof = [&](double q) { return T + PH - q * PH; };
  s << "<text x=\"" << L << "\" y=\"" << T - 8 << "\" font-weight=\"bold\">Latency CDF per hop (log scale)</text>\n";
  s << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << PW << "\" height=\"" << PH
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double d = dlo; d <= dhi; d += 1) {
    double x = xof(std::pow(10.0, d));
    s << "<line x1=\"" << x << "\" y1=\"" << T << "\" x2=\"" << x << "\" y2=\"" << T + PH
      << "\" stroke=\"#ddd\"/>\n";
    double v = std::pow(10.0, d);
    std::string label = v >= 1 ? num(v, "%g") + " ms" : num(v * 1000, "%g") + " µs";
    s << "<text x=\"" << x << "\" y=\"" << T + PH + 16 << "\" text-anchor=\"middle\">" << label << "</text>\n";
  }
  for (double q : {0.0, 0.5, 0.9, 0.99}) {
    double y = yof(q);
    s << "<line x1=\"" << L << "\" y1=\"" << y << "\" x2=\"" << L + PW << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << num(q * 100, "%g") << "%</text>\n";
  }
  if (r.critical_floor > 0) {
    double x = xof(r.critical_floor);
    s << "<line x1=\"" << x << "\" y1=\"" << T << "\" x2=\"" << x << "\" y2=\"" << T + PH
      << "\" stroke=\"#000\" stroke-dasharray=\"5,4\"/>\n";
    s << "<text x=\"" << x + 4 << "\" y=\"" << T + 14 << "\">floor " << esc(ms(r.critical_floor)) << "</text>\n";
  }
  std::size_t ci = 0;
  for (const auto& h : r.hops) {
    const char* color = colors[ci++ % (sizeof colors / sizeof *colors)];
    if (h.samples.empty()) continue;
    std::vector<double> v = h.samples;
    std::sort(v.begin(), v.end());
    s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << color << "\" points=\"";
    double n = static_cast<double>(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      double x = xof(v[i]);
      s << x << "," << yof(static_cast<double>(i) / n) << " " << x << "," << yof(static_cast<double>(i + 1) / n)
        << " ";
    }
    s << "\"/>\n";
    double ly = T + PH + 36 + static_cast<double>((ci - 1) / 3) * 16;
    double lx = L + static_cast<double>((ci - 1) % 3) * 190;
    s << "<line x1=\"" << lx << "\" y1=\"" << ly - 4 << "\" x2=\"" << lx + 18 << "\" y2=\"" << ly - 4
      << "\" stroke-width=\"3\" stroke=\"" << color << "\"/>\n";
    s << "<text x=\"" << lx + 22 << "\" y=\"" << ly << "\">" << esc(h.key) << " p50 " << esc(ms(h.s.p50))
      << "</text>\n";
  }

  // Right panel: throughput over time.
  s << "<text x=\"" << R0 << "\" y=\"" << T - 8 << "\" font-weight=\"bold\">Completed Runs per second</text>\n";
  s << "<rect x=\"" << R0 << "\" y=\"" << T << "\" width=\"" << RW << "\" height=\"" << PH
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  double peak = 1;
  for (double v : r.rate_over_time) peak = std::max(peak, v);
  peak = std::max(peak, r.throughput);
  // The smallest of 1, 2, 5 × 10^k at or above the peak.
  double ytop = std::pow(10.0, std::floor(std::log10(peak)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (ytop * m >= peak) {
      ytop *= m;
      break;
    }
  for (int i = 0; i <= 4; ++i) {
    double v = ytop * i / 4;
    double y = T + PH - v / ytop * PH;
    s << "<line x1=\"" << R0 << "\" y1=\"" << y << "\" x2=\"" << R0 + RW << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << R0 - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << num(v, "%g") << "</text>\n";
  }
  if (!r.rate_over_time.empty()) {
    double n = static_cast<double>(r.rate_over_time.size());
    s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"#1f77b4\" points=\"";
    for (std::size_t i = 0; i < r.rate_over_time.size(); ++i) {
      double y = T + PH - r.rate_over_time[i] / ytop * PH;
      s << R0 + static_cast<double>(i) / n * RW << "," << y << " " << R0 + static_cast<double>(i + 1) / n * RW << ","
        << y << " ";
    }
    s << "\"/>\n";
    double ya = T + PH - r.throughput / ytop * PH;
    s << "<line x1=\"" << R0 << "\" y1=\"" << ya << "\" x2=\"" << R0 + RW << "\" y2=\"" << ya
      << "\" stroke=\"#d62728\" stroke-dasharray=\"5,4\"/>\n";
    s << "<text x=\"" << R0 + RW << "\" y=\"" << ya - 5 << "\" text-anchor=\"end\" fill=\"#d62728\">mean "
      << num(r.throughput, "%.1f") << "/s</text>\n";
  }
  s << "<text x=\"" << R0 + RW / 2 << "\" y=\"" << T + PH + 16 << "\" text-anchor=\"middle\">0 – "
    << num(r.window_s, "%.2f") << " s (buckets of " << num(r.rate_bucket_s, "%g") << " s)</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace krt::cli::bench
