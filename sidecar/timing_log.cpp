#include "sidecar/timing_log.hpp"

#include "lib/json/writer.hpp"

namespace krt::runtimed {
namespace {

void time_field(json::writer& w, std::string_view k, const std::optional<wall_time>& t) {
  if (t) w.field(k, format_rfc3339_micro(*t));
}

}  // namespace

std::string timing_log::render_after(std::uint64_t after) const {
  json::writer w;
  std::uint64_t first = entries_.empty() ? last_ + 1 : entries_.front().seq;
  std::uint64_t dropped = first > after + 1 ? first - after - 1 : 0;
  w.begin_object().field("next", last_).field("dropped", dropped).key("runs").begin_array();
  for (const auto& e : entries_) {
    if (e.seq <= after) continue;
    const run_timing& t = e.t;
    w.begin_object()
        .field("seq", e.seq)
        .field("uid", t.uid)
        .field("name", t.name)
        .field("namespace", t.namespace_)
        .field("attempt", t.attempt)
        .field("phase", t.phase);
    time_field(w, "claim", t.claim);
    time_field(w, "claimed", t.claimed);
    time_field(w, "prepared", t.prepared);
    time_field(w, "execStarted", t.exec_started);
    time_field(w, "exited", t.exited);
    time_field(w, "completion", t.completion);
    time_field(w, "completed", t.completed);
    w.end_object();
  }
  w.end_array().end_object();
  return w.take();
}

}  // namespace krt::runtimed
