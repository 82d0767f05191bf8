#include "lib/obs/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace krt::obs {
namespace {

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(v));
    out.append(buf, r.ptr);
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

std::string_view type_name(metric_type t) {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline (exposition format 0.0.4).
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void escape_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

// Adds a le="…" label to a rendered label set.
std::string with_le(const std::string& rendered, std::string_view le) {
  std::string out;
  if (rendered.empty()) {
    out = "{le=\"";
  } else {
    out = rendered.substr(0, rendered.size() - 1) + ",le=\"";
  }
  out += le;
  out += "\"}";
  return out;
}

}  // namespace

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) throw std::invalid_argument("histogram bounds must be sorted");
}

void histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = {1e-5,  2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
                                        2.5e-2, 5e-2,  0.1,  0.25, 0.5,    1,    2.5,  5,      10,   30, 60};
  return b;
}

std::string render_labels(const labels& l) {
  if (l.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : l) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    escape_label_value(out, v);
    out += '"';
  }
  out += '}';
  return out;
}

registry::family& registry::get_family(std::string_view name, std::string_view help, metric_type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), family{std::string(help), type, {}, {}, {}}).first;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + std::string(name) + " registered with two types");
  }
  return it->second;
}

counter& registry::get_counter(std::string_view name, std::string_view help, const labels& l) {
  auto& fam = get_family(name, help, metric_type::counter);
  auto& slot = fam.counters[render_labels(l)];
  if (!slot) slot = std::make_unique<counter>();
  return *slot;
}

gauge& registry::get_gauge(std::string_view name, std::string_view help, const labels& l) {
  auto& fam = get_family(name, help, metric_type::gauge);
  auto& slot = fam.gauges[render_labels(l)];
  if (!slot) slot = std::make_unique<gauge>();
  return *slot;
}

histogram& registry::get_histogram(std::string_view name, std::string_view help, const labels& l,
                                   const std::vector<double>& bounds) {
  auto& fam = get_family(name, help, metric_type::histogram);
  auto& slot = fam.histograms[render_labels(l)];
  if (!slot) slot = std::make_unique<histogram>(bounds);
  return *slot;
}

snapshot registry::collect() const {
  snapshot out;
  out.reserve(families_.size());
  for (const auto& [name, fam] : families_) {
    family_snapshot fs{name, fam.help, fam.type, {}};
    for (const auto& [l, c] : fam.counters) fs.series.push_back({l, c->value(), {}, {}, 0, 0});
    for (const auto& [l, g] : fam.gauges) fs.series.push_back({l, g->value(), {}, {}, 0, 0});
    for (const auto& [l, h] : fam.histograms) fs.series.push_back({l, 0, h->bounds(), h->counts(), h->sum(), h->count()});
    out.push_back(std::move(fs));
  }
  return out;
}

std::string registry::render() const { return obs::render({collect()}); }

std::string render(const std::vector<snapshot>& shards) {
  // Merge: family name -> (meta, label set -> summed series).
  struct merged {
    std::string help;
    metric_type type;
    std::map<std::string, series_snapshot> series;
  };
  std::map<std::string, merged> all;
  for (const auto& shard : shards) {
    for (const auto& fam : shard) {
      auto [it, inserted] = all.try_emplace(fam.name, merged{fam.help, fam.type, {}});
      for (const auto& s : fam.series) {
        auto [sit, fresh] = it->second.series.try_emplace(s.labels, s);
        if (fresh) continue;
        auto& acc = sit->second;
        acc.value += s.value;
        acc.sum += s.sum;
        acc.count += s.count;
        if (acc.counts.size() == s.counts.size())
          for (std::size_t i = 0; i < s.counts.size(); ++i) acc.counts[i] += s.counts[i];
      }
    }
  }
  std::string out;
  for (const auto& [name, fam] : all) {
    out += "# HELP " + name + " " + escape_help(fam.help) + "\n";
    out += "# TYPE " + name + " ";
    out += type_name(fam.type);
    out += '\n';
    for (const auto& [l, s] : fam.series) {
      if (fam.type != metric_type::histogram) {
        out += name + l + " ";
        append_number(out, s.value);
        out += '\n';
        continue;
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < s.counts.size(); ++i) {
        cumulative += s.counts[i];
        std::string le;
        if (i < s.bounds.size()) {
          append_number(le, s.bounds[i]);
        } else {
          le = "+Inf";
        }
        out += name + "_bucket" + with_le(l, le) + " " + std::to_string(cumulative) + "\n";
      }
      out += name + "_sum" + l + " ";
      append_number(out, s.sum);
      out += "\n" + name + "_count" + l + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace krt::obs
