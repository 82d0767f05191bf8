#pragma once
// Where the time of each Run went inside runtimed, for `krt bench` and for
// anyone asking why one Run was slow: a bounded ring of per-attempt records
// with wall-clock microsecond timestamps, served as JSON by
// GET /timings?after=<seq> (docs/runtimed.md). Each record gets a sequence
// number, so a reader that polls with the last number it saw gets every
// record once; the oldest records go first when the ring is full.
//
// Affinity: single shard (runtimed's).

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "lib/core/time.hpp"

namespace krt::runtimed {

struct run_timing {
  std::string uid, name, namespace_;
  int attempt = 0;
  std::string phase;  // the terminal phase written (or "" when the write failed)
  // Each is unset when that step did not happen in this attempt.
  std::optional<wall_time> claim;         // status.startTime: the claim was decided (write 3 sent)
  std::optional<wall_time> claimed;       // the claim write was acknowledged
  std::optional<wall_time> prepared;      // workspace ready
  std::optional<wall_time> exec_started;  // Execute returned: the process was spawned
  std::optional<wall_time> exited;        // runtimed saw the terminal state
  std::optional<wall_time> completion;    // status.completionTime (write 4 sent)
  std::optional<wall_time> completed;     // the terminal write was acknowledged
};

class timing_log {
 public:
  explicit timing_log(std::size_t max_entries) : max_(max_entries) {}

  void put(run_timing t) {
    entries_.push_back({++last_, std::move(t)});
    while (entries_.size() > max_) entries_.pop_front();
  }
  // {"next":N,"dropped":D,"runs":[...]} with the records numbered > after.
  // `dropped` counts records the reader missed because they were evicted.
  std::string render_after(std::uint64_t after) const;
  std::uint64_t last() const { return last_; }
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::uint64_t seq;
    run_timing t;
  };
  std::size_t max_;
  std::uint64_t last_ = 0;
  std::deque<entry> entries_;
};

}  // namespace krt::runtimed
