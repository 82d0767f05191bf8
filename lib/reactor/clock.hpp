#pragma once
// Time as a seam (STYLE rule 10): code with backoff, requeue, leases or
// heartbeats takes a clock& so tests run it in simulated time.
//
// steady_clock_source: real time; sleeps are Asio timers on the caller's executor.
// manual_clock: simulated time for tests; advance() wakes sleepers whose
// deadline has passed (in deadline order). Affinity: one shard (the test's).
// Cancellation: sleep_until honours the caller's cancellation slot and then
// throws system_error(operation_aborted).

#include <chrono>
#include <map>
#include <memory>

#include "lib/core/time.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::reactor {

class clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~clock() = default;
  virtual time_point now() const = 0;
  virtual wall_time wall() const = 0;
  virtual awaitable<void> sleep_until(time_point deadline) = 0;
  awaitable<void> sleep_for(duration d) { return sleep_until(now() + d); }
};

class steady_clock_source final : public clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  wall_time wall() const override { return wall_now(); }
  awaitable<void> sleep_until(time_point deadline) override;
};

// The process-wide real clock (stateless, safe from any shard).
clock& real_clock();

class manual_clock final : public clock {
 public:
  explicit manual_clock(wall_time wall_start = wall_time{std::chrono::seconds{1'700'000'000}});
  time_point now() const override { return now_; }
  wall_time wall() const override;
  awaitable<void> sleep_until(time_point deadline) override;

  // Moves time forward and wakes due sleepers. Woken coroutines run when the
  // executor next runs (e.g. io_context::poll()).
  void advance(duration d);
  // The earliest pending deadline, or time_point::max() if nobody sleeps.
  time_point next_deadline() const;
  std::size_t sleepers() const { return sleepers_.size(); }

 private:
  struct sleeper {
    explicit sleeper(executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool woken = false;
  };
  time_point now_{};
  wall_time wall_start_;
  std::multimap<time_point, sleeper*> sleepers_;
};

}  // namespace krt::reactor
