#include "lib/kube/workqueue.hpp"

#include <gtest/gtest.h>

#include "lib/kube/rate_limiter.hpp"
#include "test/support/async.hpp"

namespace krt::kube {
namespace {

using namespace std::chrono_literals;
using testing::pump;

awaitable<void> take(work_queue& q, std::vector<std::string>& out) {
  auto k = co_await q.get();
  out.push_back(k.value_or("<shutdown>"));
}

struct queue_fixture {
  asio::io_context ctx{1};
  reactor::manual_clock clk;
  work_queue q{ctx.get_executor(), clk, {.base_delay = 10ms, .max_delay = 1s}};
  reactor::task_group tasks{ctx.get_executor(), "queue-test"};
  std::vector<std::string> got;
  queue_fixture() { q.start(); }
  ~queue_fixture() {
    bool closed = false;
    asio::co_spawn(ctx, close_all(), [&](std::exception_ptr) { closed = true; });
    pump(ctx);
    EXPECT_TRUE(closed);
  }
  awaitable<void> close_all() {
    co_await q.stop();
    co_await tasks.close();
  }
  void get_one() {
    tasks.spawn(take(q, got), "get");
    pump(ctx);
  }
};

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  queue_fixture f;
  f.q.add("a");
  f.q.add("b");
  f.q.add("a");
  EXPECT_EQ(f.q.len(), 2U);
  f.get_one();
  f.get_one();
  EXPECT_EQ(f.got, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.q.len(), 0U);
}

TEST(WorkQueue, KeyAddedWhileProcessingIsRequeuedAfterDone) {
  queue_fixture f;
  f.q.add("a");
  f.get_one();
  ASSERT_EQ(f.got.size(), 1U);
  f.q.add("a");  // changes arrive while a worker holds "a"
  f.q.add("a");
  EXPECT_EQ(f.q.len(), 0U) << "never handed to a second worker concurrently";
  f.get_one();
  EXPECT_EQ(f.got.size(), 1U) << "get waits";
  f.q.done("a");
  pump(f.ctx);
  EXPECT_EQ(f.got, (std::vector<std::string>{"a", "a"}));
  f.q.done("a");
  EXPECT_EQ(f.q.len(), 0U);
}

TEST(WorkQueue, GetWaitsForWorkAndWakesOnAdd) {
  queue_fixture f;
  f.get_one();
  EXPECT_TRUE(f.got.empty());
  f.q.add("x");
  pump(f.ctx);
  EXPECT_EQ(f.got, (std::vector<std::string>{"x"}));
}

TEST(WorkQueue, AddAfterDeliversInDeadlineOrder) {
  queue_fixture f;
  f.q.add_after("late", 30s);
  f.q.add_after("early", 10s);
  f.q.add_after("now", 0s);
  pump(f.ctx);
  EXPECT_EQ(f.q.len(), 1U);
  EXPECT_EQ(f.q.delayed(), 2U);
  f.clk.advance(9s);
  pump(f.ctx);
  EXPECT_EQ(f.q.len(), 1U);
  f.clk.advance(1s);
  pump(f.ctx);
  EXPECT_EQ(f.q.len(), 2U);
  f.clk.advance(20s);
  pump(f.ctx);
  EXPECT_EQ(f.q.len(), 3U);
  f.get_one();
  f.get_one();
  f.get_one();
  EXPECT_EQ(f.got, (std::vector<std::string>{"now", "early", "late"}));
}

TEST(WorkQueue, RateLimitedBackoffGrowsUntilForget) {
  queue_fixture f;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 8; ++i) {
    auto start = f.clk.now();
    f.q.add_rate_limited("k");
    pump(f.ctx);
    while (f.q.len() == 0) {
      f.clk.advance(1ms);
      pump(f.ctx);
    }
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(f.clk.now() - start));
    f.get_one();
    f.q.done("k");
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms, 80ms, 160ms, 320ms, 640ms, 1000ms}));
  EXPECT_EQ(f.q.num_requeues("k"), 8);
  f.q.forget("k");
  EXPECT_EQ(f.q.num_requeues("k"), 0);
}

TEST(WorkQueue, ShutDownWakesWaitersWithNothing) {
  queue_fixture f;
  f.get_one();
  f.q.shut_down();
  pump(f.ctx);
  EXPECT_EQ(f.got, (std::vector<std::string>{"<shutdown>"}));
  f.q.add("ignored");
  EXPECT_EQ(f.q.len(), 0U);
}

awaitable<void> acquire_n(rate_limiter& rl, int n, int& done) {
  for (int i = 0; i < n; ++i) {
    co_await rl.acquire();
    ++done;
  }
}

TEST(RateLimiter, BurstThenSteadyQps) {
  asio::io_context ctx{1};
  reactor::manual_clock clk;
  rate_limiter rl(clk, 10, 5);  // 10 qps, burst 5
  reactor::task_group tasks(ctx.get_executor());
  int done = 0;
  tasks.spawn(acquire_n(rl, 15, done), "acquire");
  pump(ctx);
  EXPECT_EQ(done, 5) << "the burst goes through at once";
  clk.advance(std::chrono::milliseconds(100));
  pump(ctx);
  EXPECT_EQ(done, 6);
  clk.advance(std::chrono::milliseconds(450));
  pump(ctx);
  EXPECT_EQ(done, 10) << "by 550 ms: the burst of 5 plus 5.5 tokens earned";
  int steps = 0;
  while (done < 15 && steps < 100) {
    clk.advance(std::chrono::milliseconds(10));
    pump(ctx);
    ++steps;
  }
  EXPECT_EQ(done, 15);
  // 15 acquisitions at 10 qps with burst 5 take one second (450 ms after the
  // 550 ms mark; one extra step allowed for floating-point rounding).
  EXPECT_GE(steps, 45);
  EXPECT_LE(steps, 46);
  bool closed = false;
  asio::co_spawn(ctx, tasks.close(), [&](std::exception_ptr) { closed = true; });
  pump(ctx);
  EXPECT_TRUE(closed);
}

TEST(RateLimiter, TryAcquireAndDisabled) {
  reactor::manual_clock clk;
  rate_limiter rl(clk, 1, 2);
  EXPECT_TRUE(rl.try_acquire());
  EXPECT_TRUE(rl.try_acquire());
  EXPECT_FALSE(rl.try_acquire());
  clk.advance(std::chrono::seconds(1));
  EXPECT_TRUE(rl.try_acquire());
  rate_limiter off(clk, 0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.try_acquire());
}

}  // namespace
}  // namespace krt::kube
