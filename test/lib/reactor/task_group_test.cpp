#include "lib/reactor/task_group.hpp"

#include <gtest/gtest.h>

#include <boost/system/system_error.hpp>
#include <stdexcept>

#include "lib/reactor/clock.hpp"
#include "lib/reactor/deadline.hpp"
#include "lib/reactor/engine.hpp"

namespace krt::reactor {
namespace {

using namespace std::chrono_literals;

awaitable<void> sleep_forever(int& cancelled) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(24));
  try {
    co_await t.async_wait(asio::use_awaitable);
  } catch (const boost::system::system_error&) {
    ++cancelled;
    throw;
  }
}

awaitable<void> finish_quickly(int& done) {
  co_await yield();
  ++done;
}

awaitable<void> fail_loudly() {
  co_await yield();
  throw std::runtime_error("escaped");
}

// Ignores the first cancellation and takes 20 ms more to stop.
awaitable<void> slow_to_stop(bool& stopped) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(24));
  try {
    co_await t.async_wait(asio::use_awaitable);
  } catch (const boost::system::system_error&) {
  }
  co_await asio::this_coro::reset_cancellation_state();
  t.expires_after(20ms);
  co_await t.async_wait(asio::use_awaitable);
  stopped = true;
}

// Closes a group of its own, recording whether its task had stopped by the
// time close() returned and whether close() reported a cancellation.
awaitable<void> close_own_group(bool& stopped, bool& stopped_at_return, bool& aborted) {
  task_group inner(co_await asio::this_coro::executor, "inner");
  inner.spawn(slow_to_stop(stopped), "slow");
  co_await yield();
  try {
    co_await inner.close();
  } catch (const boost::system::system_error& e) {
    aborted = e.code() == asio::error::operation_aborted;
  }
  stopped_at_return = stopped;
}

// Runs one coroutine to completion on a private io_context.
template <typename F>
void run_local(F f) {
  asio::io_context ctx{1};
  bool finished = false;
  asio::co_spawn(ctx, f(ctx.get_executor()), [&](std::exception_ptr e) {
    finished = true;
    if (e) std::rethrow_exception(e);
  });
  ctx.run();
  ASSERT_TRUE(finished);
}

TEST(TaskGroup, CloseCancelsRunningTasksAndWaits) {
  int cancelled = 0, done = 0;
  run_local([&](executor ex) -> awaitable<void> {
    task_group g(ex, "test");
    EXPECT_TRUE(g.spawn(sleep_forever(cancelled), "sleeper 1"));
    EXPECT_TRUE(g.spawn(sleep_forever(cancelled), "sleeper 2"));
    EXPECT_TRUE(g.spawn(finish_quickly(done), "quick"));
    co_await yield();
    co_await yield();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(g.size(), 2U);
    co_await g.close();
    EXPECT_EQ(cancelled, 2);
    EXPECT_EQ(g.size(), 0U);
    EXPECT_FALSE(g.spawn(finish_quickly(done), "late")) << "a closed group refuses work";
    co_await g.close();  // idempotent
  });
}

TEST(TaskGroup, CloseWaitsForItsTasksEvenWhenTheCallerIsCancelled) {
  // The caller of close() is itself a task of a group being closed: close()
  // must still wait for its own tasks (else the group would be destroyed
  // with a task running), then report the caller's cancellation.
  bool stopped = false, stopped_at_return = false, aborted = false;
  run_local([&](executor ex) -> awaitable<void> {
    task_group outer(ex, "outer");
    outer.spawn(close_own_group(stopped, stopped_at_return, aborted), "closer");
    co_await yield();
    co_await yield();
    co_await outer.close();
  });
  EXPECT_TRUE(stopped_at_return);
  EXPECT_TRUE(aborted);
}

TEST(TaskGroup, EscapedExceptionsReachTheHook) {
  std::vector<std::string> reports;
  set_unhandled_exception_hook([&](std::string_view group, std::string_view task, std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      reports.push_back(std::string(group) + "/" + std::string(task) + ": " + ex.what());
    }
  });
  run_local([&](executor ex) -> awaitable<void> {
    task_group g(ex, "grp");
    g.spawn(fail_loudly(), "loud");
    co_await g.drain();
    co_await g.close();
  });
  set_unhandled_exception_hook(nullptr);
  ASSERT_EQ(reports.size(), 1U);
  EXPECT_EQ(reports[0], "grp/loud: escaped");
}

TEST(Deadline, TimesOutAndCancelsTheOperation) {
  run_local([&](executor) -> awaitable<void> {
    int cancelled = 0;
    bool ok = co_await with_timeout(sleep_forever(cancelled), 5ms);
    EXPECT_FALSE(ok);
    EXPECT_EQ(cancelled, 1);
    int done = 0;
    ok = co_await with_timeout(finish_quickly(done), 10s);
    EXPECT_TRUE(ok);
    EXPECT_EQ(done, 1);
  });
}

awaitable<int> value_after_yield() {
  co_await yield();
  co_return 42;
}

TEST(Deadline, ReturnsValueWhenInTime) {
  run_local([&](executor) -> awaitable<void> {
    auto v = co_await with_timeout(value_after_yield(), 10s);
    EXPECT_TRUE(v.has_value());
    EXPECT_EQ(v.value_or(0), 42);
  });
}

awaitable<void> sleep_and_record(manual_clock& clk, clock::duration d, std::vector<int>& order, int id) {
  co_await clk.sleep_for(d);
  order.push_back(id);
}

// Runs everything ready now; restart() because an io_context that ran out of
// work stays stopped.
void pump(asio::io_context& ctx) {
  ctx.restart();
  ctx.poll();
}

TEST(ManualClock, WakesSleepersInDeadlineOrder) {
  asio::io_context ctx{1};
  manual_clock clk;
  std::vector<int> order;
  task_group g(ctx.get_executor());
  g.spawn(sleep_and_record(clk, 30s, order, 3), "c");
  g.spawn(sleep_and_record(clk, 10s, order, 1), "a");
  g.spawn(sleep_and_record(clk, 20s, order, 2), "b");
  pump(ctx);
  EXPECT_EQ(clk.sleepers(), 3U);
  EXPECT_EQ(clk.next_deadline(), clk.now() + 10s);
  clk.advance(15s);
  pump(ctx);
  EXPECT_EQ(order, (std::vector<int>{1}));
  clk.advance(15s);
  pump(ctx);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  auto wall0 = clk.wall();
  clk.advance(2s);
  EXPECT_EQ(clk.wall() - wall0, std::chrono::microseconds(2'000'000));
  // A cancelled sleeper leaves the queue.
  g.spawn(sleep_and_record(clk, 1h, order, 4), "d");
  pump(ctx);
  EXPECT_EQ(clk.sleepers(), 1U);
  bool closed = false;
  asio::co_spawn(ctx, g.close(), [&](std::exception_ptr) { closed = true; });
  pump(ctx);
  EXPECT_TRUE(closed);
  EXPECT_EQ(clk.sleepers(), 0U);
  EXPECT_EQ(order.size(), 3U);
}

TEST(Event, PulseWakesWaitersWithoutLatching) {
  run_local([&](executor ex) -> awaitable<void> {
    event ev(ex);
    int woke = 0;
    task_group g(ex);
    auto waiter = [](event& e, int& n) -> awaitable<void> {
      co_await e.wait();
      ++n;
    };
    g.spawn(waiter(ev, woke), "w1");
    g.spawn(waiter(ev, woke), "w2");
    co_await yield();
    ev.notify_all();
    co_await g.drain();
    EXPECT_EQ(woke, 2);
    EXPECT_FALSE(ev.is_set());
    ev.set();
    co_await ev.wait();  // latched: returns at once
    co_await g.close();
  });
}

}  // namespace
}  // namespace krt::reactor
