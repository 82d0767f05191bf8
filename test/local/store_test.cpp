// The local API server's object store on a real SQLite database in a
// temporary directory: read-committed visibility, group commit, watch
// history and expiry, and recovery after reopening.
#include "local/apiserver/store.hpp"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>

#include <filesystem>
#include <fstream>

#include "test/support/async.hpp"

namespace krt::local {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("krt-store-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  object_store& open(std::size_t history = 1000) {
    auto log = sqlite_log::open((dir_ / "state.db").string(), durability::process, history);
    EXPECT_TRUE(log) << (log ? "" : log.error());
    store_ = std::make_unique<object_store>(ctx_.get_executor(), std::move(*log), history, 100);
    auto r = store_->load();
    EXPECT_TRUE(r) << (r ? "" : r.error());
    store_->start();
    return *store_;
  }
  void close() {
    testing::run_on(ctx_, store_->stop());
    store_.reset();
  }
  static bj::object obj(std::string ns, std::string name, int v = 0) {
    return bj::object{{"kind", "ConfigMap"},
                      {"metadata", bj::object{{"namespace", ns}, {"name", name}}},
                      {"data", bj::object{{"v", std::to_string(v)}}}};
  }
  awaitable<object_ptr> put(std::string ns, std::string name, int v = 0, event_type t = event_type::added) {
    auto r = co_await store_->write(t, "/configmaps", obj(ns, name, v));
    EXPECT_TRUE(r);
    co_return r ? *r : nullptr;
  }

  asio::io_context ctx_{1};
  fs::path dir_;
  std::unique_ptr<object_store> store_;
};

TEST_F(StoreTest, WritesGetIncreasingVersionsAndListInKeyOrder) {
  auto& s = open();
  testing::run_on(ctx_, [&]() -> awaitable<void> {
    auto a = co_await put("b", "x");
    auto b = co_await put("a", "y");
    auto c = co_await put("a", "x");
    EXPECT_LT(a->rv, b->rv);
    EXPECT_LT(b->rv, c->rv);
    EXPECT_EQ(c->object.at("metadata").at("resourceVersion").as_string(), std::to_string(c->rv));
  }());
  std::vector<std::string> all, in_a;
  s.list("/configmaps", "", "", [&](const object_ptr& o) {
    all.push_back(o->ns + "/" + o->name);
    return true;
  });
  s.list("/configmaps", "a", "", [&](const object_ptr& o) {
    in_a.push_back(o->name);
    return true;
  });
  EXPECT_EQ(all, (std::vector<std::string>{"a/x", "a/y", "b/x"}));
  EXPECT_EQ(in_a, (std::vector<std::string>{"x", "y"}));
  std::vector<std::string> after;
  s.list("/configmaps", "", "a/x", [&](const object_ptr& o) {
    after.push_back(o->name);
    return true;
  });
  EXPECT_EQ(after, (std::vector<std::string>{"y", "x"}));
  EXPECT_EQ(s.count("/configmaps"), 3U);
  close();
}

TEST_F(StoreTest, PendingWritesAreVisibleToWritersButNotReaders) {
  auto& s = open();
  bool done = false;
  asio::co_spawn(ctx_, [&]() -> awaitable<void> {
    co_await put("ns", "pending");
    done = true;
  }, asio::detached);
  // Run only until the write is queued (the commit completes on the writer thread).
  ctx_.poll();
  if (!done) {
    EXPECT_EQ(s.get("/configmaps", "ns", "pending"), nullptr);
    EXPECT_NE(s.latest("/configmaps", "ns", "pending"), nullptr);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ctx_.restart();
    ctx_.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(done);
  EXPECT_NE(s.get("/configmaps", "ns", "pending"), nullptr);
  close();
}

TEST_F(StoreTest, ConcurrentWritesAreGroupCommitted) {
  auto& s = open();
  constexpr int n = 300;
  int finished = 0;
  for (int i = 0; i < n; ++i)
    asio::co_spawn(ctx_, [&, i]() -> awaitable<void> {
      co_await put("ns", "o" + std::to_string(i));
      ++finished;
    }, asio::detached);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (finished < n && std::chrono::steady_clock::now() < deadline) {
    ctx_.restart();
    ctx_.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(finished, n);
  EXPECT_EQ(s.count("/configmaps"), static_cast<std::size_t>(n));
  EXPECT_LT(s.batches(), static_cast<std::uint64_t>(n)) << "every write committed alone: no group commit";
  EXPECT_EQ(s.committed_rv(), static_cast<std::uint64_t>(n));
  close();
}

TEST_F(StoreTest, WatchReplaysHistoryAfterVersionThenLiveEvents) {
  auto& s = open();
  testing::run_on(ctx_, [&]() -> awaitable<void> {
    auto a = co_await put("ns", "a");
    co_await put("ns", "b");
    co_await put("other", "c");
    auto w = s.watch("/configmaps", "ns", a->rv);
    EXPECT_NE(w, nullptr);
    if (!w) co_return;
    EXPECT_EQ(w->queue.size(), 1U);
    EXPECT_EQ(w->queue.front().object->name, "b");
    w->queue.clear();
    co_await put("ns", "b", 2, event_type::modified);
    bj::object gone = obj("ns", "a");
    auto removed = co_await s.write(event_type::deleted, "/configmaps", gone);
    EXPECT_TRUE(removed);
    EXPECT_EQ(w->queue.size(), 2U);
    if (w->queue.size() == 2) {
      EXPECT_EQ(w->queue[0].type, event_type::modified);
      EXPECT_EQ(w->queue[1].type, event_type::deleted);
      EXPECT_EQ(w->queue[1].object->name, "a");
    }
    EXPECT_EQ(s.get("/configmaps", "ns", "a"), nullptr);
    s.unwatch(w);
    EXPECT_EQ(s.watchers(), 0U);
  }());
  close();
}

TEST_F(StoreTest, ThousandsOfWatchersEachGetEveryEvent) {
  auto& s = open();
  std::vector<watcher_ptr> ws;
  for (int i = 0; i < 5000; ++i) ws.push_back(s.watch("/configmaps", i % 2 == 0 ? "ns" : "", 0));
  testing::run_on(ctx_, [&]() -> awaitable<void> {
    co_await put("ns", "a");
    co_await put("other", "b");
  }());
  for (std::size_t i = 0; i < ws.size(); ++i) {
    EXPECT_EQ(ws[i]->queue.size(), i % 2 == 0 ? 1U : 2U) << "watcher " << i;
    EXPECT_TRUE(ws[i]->wake.is_set());
  }
  for (auto& w : ws) s.unwatch(w);
  EXPECT_EQ(s.watchers(), 0U);
  close();
}

TEST_F(StoreTest, WatchOlderThanHistoryExpires) {
  auto& s = open(8);
  testing::run_on(ctx_, [&]() -> awaitable<void> {
    for (int i = 0; i < 20; ++i) co_await put("ns", "o" + std::to_string(i));
  }());
  EXPECT_EQ(s.watch("/configmaps", "", 2), nullptr);
  auto recent = s.watch("/configmaps", "", s.committed_rv() - 3);
  ASSERT_NE(recent, nullptr);
  EXPECT_EQ(recent->queue.size(), 3U);
  s.unwatch(recent);
  close();
}

TEST_F(StoreTest, ReopeningRestoresObjectsHistoryAndVersions) {
  std::uint64_t last = 0;
  {
    open();
    testing::run_on(ctx_, [&]() -> awaitable<void> {
      co_await put("ns", "keep", 1);
      co_await put("ns", "drop");
      auto removed = co_await store_->write(event_type::deleted, "/configmaps", obj("ns", "drop"));
      EXPECT_TRUE(removed);
      auto k = co_await put("ns", "keep", 2, event_type::modified);
      last = k->rv;
    }());
    close();
  }
  auto& s = open();
  auto keep = s.get("/configmaps", "ns", "keep");
  ASSERT_NE(keep, nullptr);
  EXPECT_EQ(keep->object.at("data").at("v").as_string(), "2");
  EXPECT_EQ(keep->rv, last);
  EXPECT_EQ(s.get("/configmaps", "ns", "drop"), nullptr);
  EXPECT_EQ(s.committed_rv(), last);
  auto w = s.watch("/configmaps", "", 1);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->queue.size(), 3U) << "history survives a restart";
  s.unwatch(w);
  testing::run_on(ctx_, [&]() -> awaitable<void> {
    auto next = co_await put("ns", "new");
    EXPECT_GT(next->rv, last);
  }());
  close();
}

TEST_F(StoreTest, GarbageDatabaseIsAClearError) {
  {
    std::ofstream f(dir_ / "state.db");
    for (int i = 0; i < 200; ++i) f << "definitely not sqlite ";
  }
  auto log = sqlite_log::open((dir_ / "state.db").string(), durability::process, 10);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().find("state.db"), std::string::npos) << log.error();
  EXPECT_NE(log.error().find("move it away"), std::string::npos) << log.error();
}

}  // namespace
}  // namespace krt::local
