#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <set>
#include <stdexcept>
#include <thread>

#include "lib/reactor/engine.hpp"
#include "lib/reactor/sharded.hpp"
#include "lib/reactor/submit.hpp"

namespace krt::reactor {
namespace {

using namespace std::chrono_literals;

TEST(Engine, RunsMainOnShardZeroAndReturnsItsCode) {
  engine e({.shards = 3, .stop_signals = {}});
  EXPECT_EQ(e.size(), 3U);
  int rc = e.run([]() -> awaitable<int> {
    EXPECT_EQ(this_shard_id(), 0U);
    co_return 7;
  });
  EXPECT_EQ(rc, 7);
  EXPECT_EQ(this_shard_id(), no_shard);
}

TEST(Engine, MainThatThrowsExitsWithOne) {
  engine e({.shards = 2, .stop_signals = {}});
  int rc = e.run([]() -> awaitable<int> {
    throw std::runtime_error("boom");
    co_return 0;
  });
  EXPECT_EQ(rc, 1);
}

awaitable<unsigned> shard_id_async() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return this_shard_id();
}

TEST(SubmitTo, RunsOnTargetShardAndResumesOnCaller) {
  engine e({.shards = 4, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    std::set<std::thread::id> threads;
    for (unsigned s = 0; s < e.size(); ++s) {
      auto [id, tid] = co_await submit_to(s, [] { return std::pair{this_shard_id(), std::this_thread::get_id()}; });
      EXPECT_EQ(id, s);
      EXPECT_EQ(this_shard_id(), 0U) << "caller must resume on its own shard";
      threads.insert(tid);
      unsigned via_coroutine = co_await submit_to(s, [] { return shard_id_async(); });
      EXPECT_EQ(via_coroutine, s);
    }
    EXPECT_EQ(threads.size(), e.size()) << "each shard is its own thread";
    co_await submit_to(2, [] {});  // void result
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(SubmitTo, PropagatesExceptionsToCaller) {
  engine e({.shards = 2, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    try {
      co_await submit_to(1, []() -> int { throw std::invalid_argument("bad"); });
      co_return 1;
    } catch (const std::invalid_argument& ex) {
      EXPECT_STREQ(ex.what(), "bad");
    }
    EXPECT_EQ(this_shard_id(), 0U);
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(SubmitTo, ChainsAcrossShardsWithoutCycles) {
  engine e({.shards = 3, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    // 0 -> 1 -> 2 and back, each hop returning by value.
    int v = co_await submit_to(1, [&e] {
      return submit_to(e, 2, [] { return static_cast<int>(this_shard_id()) * 10; });
    });
    EXPECT_EQ(v, 20);
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ShardFor, IsStableAndSpreads) {
  EXPECT_EQ(shard_for("default/bash", 4), shard_for("default/bash", 4));
  std::set<unsigned> seen;
  for (int i = 0; i < 64; ++i) seen.insert(shard_for("ns" + std::to_string(i) + "/rt", 4));
  EXPECT_EQ(seen.size(), 4U);
  EXPECT_EQ(shard_for("x", 1), 0U);
}

TEST(Engine, StopSignalRequestsShutdownAndMainReturns) {
  engine e({.shards = 2});
  int rc = e.run([&]() -> awaitable<int> {
    // Deliver SIGTERM to ourselves once the loop is running.
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    std::raise(SIGTERM);
    co_await e.shutdown_requested().wait();
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Engine, RequestShutdownFromAnotherShard) {
  engine e({.shards = 2, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    co_await submit_to(1, [&e] { e.request_shutdown(); });
    co_await e.shutdown_requested().wait();
    co_return 5;
  });
  EXPECT_EQ(rc, 5);
}

// A per-shard service that records where it was built, used and stopped.
struct counter_service {
  explicit counter_service(int base) : base_(base), home_(this_shard_id()) {}
  awaitable<void> start() {
    started_ = true;
    co_return;
  }
  awaitable<void> stop() {
    EXPECT_EQ(this_shard_id(), home_) << "stop must run on the home shard";
    stopped_count().fetch_add(1);
    co_return;
  }
  int bump() {
    EXPECT_EQ(this_shard_id(), home_);
    return base_ + static_cast<int>(++hits_);
  }
  static std::atomic<int>& stopped_count() {
    static std::atomic<int> n{0};
    return n;
  }
  int base_;
  unsigned home_;
  unsigned hits_ = 0;
  bool started_ = false;
};

TEST(Sharded, StartInvokeMapStop) {
  counter_service::stopped_count() = 0;
  engine e({.shards = 3, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    sharded<counter_service> svc(e);
    co_await svc.start(100);
    EXPECT_TRUE(svc.local().started_);
    EXPECT_EQ(svc.local().home_, 0U);
    int v = co_await svc.invoke_on(2, [](counter_service& s) { return s.bump(); });
    EXPECT_EQ(v, 101);
    co_await svc.invoke_on_all([](counter_service& s) { s.bump(); });
    auto homes = co_await svc.map([](counter_service& s) { return s.home_ * 1000 + s.hits_; });
    EXPECT_EQ(homes, (std::vector<unsigned>{1, 1001, 2002}));
    co_await svc.stop();
    EXPECT_THROW(svc.local(), std::logic_error);
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(counter_service::stopped_count().load(), 3);
}

TEST(Sharded, InvokeOnAllRethrows) {
  engine e({.shards = 2, .stop_signals = {}});
  int rc = e.run([&]() -> awaitable<int> {
    sharded<counter_service> svc(e);
    co_await svc.start(0);
    bool threw = false;
    try {
      co_await svc.invoke_on_all([](counter_service& s) {
        if (s.home_ == 1) throw std::runtime_error("shard 1 failed");
      });
    } catch (const std::runtime_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    co_await svc.stop();
    co_return 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace krt::reactor

namespace krt::reactor {
namespace {

awaitable<int> spin_main(engine& e) {
  int sum = 0;
  for (int i = 0; i < 1000; ++i) sum += co_await submit_to(e, static_cast<unsigned>(i % 3), [] { return 1; });
  EXPECT_EQ(sum, 1000);
  co_await submit_to(e, 2, [&e] { e.request_shutdown(); });
  co_await e.shutdown_requested().wait();
  co_return 3;
}

TEST(Engine, IdleSpinModeServesWorkAndStops) {
  engine e({.shards = 3, .idle_spin = std::chrono::microseconds(500), .stop_signals = {}});
  EXPECT_EQ(e.run([&e] { return spin_main(e); }), 3);
}

}  // namespace
}  // namespace krt::reactor
