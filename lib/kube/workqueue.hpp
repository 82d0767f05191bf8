#pragma once
// A deduplicating, rate-limited work queue (after client-go's workqueue):
// a key is queued at most once; a key being processed that is added again is
// re-queued when done() is called, so one key is never processed by two
// workers at once. add_rate_limited() delays per key with exponential backoff
// (base·2^failures, capped) until forget(). add_after() delays by a duration.
//
// Affinity: per-shard. Construct, use and stop on one shard's executor.
// Lifetime: start() runs the delay timer; shut_down() wakes every get() with
// nullopt; stop() also waits for the timer coroutine.

#include <chrono>
#include <deque>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "lib/reactor/clock.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"

namespace krt::kube {

struct work_queue_options {
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{60000};
};

class work_queue {
 public:
  work_queue(executor ex, reactor::clock& clk, work_queue_options opts = {});

  void start();
  awaitable<void> stop();

  void add(const std::string& key);
  void add_after(const std::string& key, reactor::clock::duration delay);
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key) { failures_.erase(key); }
  int num_requeues(const std::string& key) const;

  // The next key to process (call done(key) after); nullopt once shut down.
  awaitable<std::optional<std::string>> get();
  void done(const std::string& key);

  void shut_down();
  bool shutting_down() const { return shut_down_; }
  std::size_t len() const { return queue_.size(); }
  std::size_t delayed() const { return delayed_.size(); }

 private:
  awaitable<void> delay_loop();

  struct delayed_item {
    reactor::clock::time_point when;
    std::string key;
    bool operator>(const delayed_item& o) const { return when > o.when; }
  };

  executor ex_;
  reactor::clock& clock_;
  work_queue_options opts_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // queued (or to be re-queued)
  std::unordered_set<std::string> processing_;
  std::unordered_map<std::string, int> failures_;
  std::priority_queue<delayed_item, std::vector<delayed_item>, std::greater<>> delayed_;
  reactor::event ready_;          // pulsed when an item is queued
  reactor::event delay_changed_;  // pulsed when an earlier deadline arrives
  reactor::task_group tasks_;
  bool shut_down_ = false;
};

}  // namespace krt::kube
