#pragma once
// Test helpers for coroutines: run one to completion on a private io_context
// with a real-time limit (a hung test fails instead of hanging CI), and
// clocks that do not make tests wait.

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <vector>

#include "lib/reactor/clock.hpp"
#include "lib/reactor/event.hpp"

namespace krt::testing {

// Runs `task` on `ctx` until it completes; fails the test if it has not
// finished within `limit`. Exceptions escaping the task fail the test.
inline void run_on(asio::io_context& ctx, awaitable<void> task, std::chrono::seconds limit = std::chrono::seconds(60)) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(task), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(100));
  }
  if (!done) ADD_FAILURE() << "test coroutine did not finish within " << limit.count() << "s";
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "test coroutine threw: " << e.what();
    }
  }
}

// Runs ready handlers until none are left (simulated-time tests).
inline void pump(asio::io_context& ctx) {
  ctx.restart();
  ctx.poll();
}

// Real time for now(), but sleeps return at once and are recorded: lets a
// test check a backoff or Retry-After without waiting for it.
class recording_clock final : public reactor::clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now() + skew_; }
  wall_time wall() const override { return wall_now(); }
  awaitable<void> sleep_until(time_point deadline) override {
    auto d = deadline - now();
    sleeps.push_back(d);
    if (d > duration::zero()) skew_ += d;  // time "passes" as if we had slept
    co_await reactor::yield();
  }
  std::vector<duration> sleeps;

 private:
  duration skew_{};
};

// Waits until pred() holds, re-checking whenever `ev` is pulsed; false if
// `limit` passes first. Producers call ev.notify_all() after each change.
template <typename Pred>
awaitable<bool> wait_for(reactor::event& ev, Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  using namespace asio::experimental::awaitable_operators;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) co_return false;
    asio::steady_timer t(co_await asio::this_coro::executor, left);
    co_await (ev.wait() || t.async_wait(use_nothrow));
  }
  co_return true;
}

}  // namespace krt::testing
