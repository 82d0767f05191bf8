#include "lib/kube/informer.hpp"

#include <gtest/gtest.h>

#include <map>

#include "test/support/async.hpp"
#include "test/support/fake_api.hpp"

namespace krt::kube {
namespace {

using testing::fake_api;
using testing::run_on;
using testing::wait_for;

// What handlers saw, in order: "add ns/name@rv", "update ns/name@old->new", "delete ns/name".
struct recorder {
  std::vector<std::string> log;
  reactor::event* changed = nullptr;
  informer_handlers handlers() {
    return {
        [this](const decoded_object& o) {
          log.push_back("add " + key_of(*o.meta) + "@" + o.meta->resource_version);
          changed->notify_all();
        },
        [this](const decoded_object& a, const decoded_object& b) {
          log.push_back("update " + key_of(*b.meta) + "@" + a.meta->resource_version + "->" + b.meta->resource_version);
          changed->notify_all();
        },
        [this](const decoded_object& o) {
          log.push_back("delete " + key_of(*o.meta));
          changed->notify_all();
        },
    };
  }
};

std::map<std::string, std::string> cache_state(const informer_base& inf) {
  std::map<std::string, std::string> out;
  for (const auto& o : inf.cache().list()) out[key_of(*o.meta)] = o.meta->resource_version;
  return out;
}

struct fixture {
  explicit fixture(executor ex)
      : api(ex), changed(ex), tasks(ex, "informer-test") {
    rest_config cfg;
    EXPECT_TRUE(parse_server_url(api.url(), cfg));
    auto c = client::connect(ex, cfg, {.qps = 0});
    EXPECT_TRUE(c);
    cl = std::move(*c);
    informer_options o;
    o.backoff_initial = std::chrono::milliseconds(1);
    o.backoff_max = std::chrono::milliseconds(20);
    inf = std::make_unique<informer_base>(*cl, codec_of<lease>(), o);
    rec.changed = &changed;
    api.observer = &changed;
    inf->add_handlers(rec.handlers());
    inf->add_index("holder", [](const decoded_object& o) {
      return std::vector<std::string>{object_as<lease>(o)->holder_identity};
    });
  }
  awaitable<bool> converged() {
    co_return co_await wait_for(changed, [&] { return cache_state(*inf) == api.state(); });
  }
  awaitable<void> shutdown() {
    co_await tasks.close();
    co_await api.stop();
  }
  fake_api api;
  reactor::event changed;
  reactor::task_group tasks;
  std::unique_ptr<client> cl;
  std::unique_ptr<informer_base> inf;
  recorder rec;
};

awaitable<void> list_then_watch(executor ex) {
  fixture f(ex);
  for (int i = 1; i <= 5; ++i) f.api.put("ns", "lease-" + std::to_string(i), i % 2 ? "odd" : "even");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  EXPECT_EQ(cache_state(*f.inf), f.api.state());
  EXPECT_EQ(f.rec.log.size(), 5U);
  EXPECT_GE(f.api.lists, 3U) << "page_size 2 means three pages for five objects";
  EXPECT_EQ(f.inf->cache().by_index("holder", "odd").size(), 3U);

  f.api.put("ns", "lease-1", "even");
  f.api.put("ns", "lease-6", "odd");
  f.api.remove("ns", "lease-2");
  f.api.bookmark();
  EXPECT_TRUE(co_await f.converged());
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.rec.log.size() == 8; }));
  EXPECT_EQ(f.rec.log[5], "update ns/lease-1@101->106");
  EXPECT_EQ(f.rec.log[6], "add ns/lease-6@107");
  EXPECT_EQ(f.rec.log[7], "delete ns/lease-2");
  EXPECT_EQ(f.inf->cache().by_index("holder", "odd").size(), 3U);
  EXPECT_EQ(f.inf->cache().by_index("holder", "even").size(), 2U);
  EXPECT_EQ(f.inf->stats().relists_gone, 0U);
  co_await f.shutdown();
}

// One object that does not decode (labels: {"x": 5}) in a list or a watch
// must not stop the informer: it is left out and reported once, and every
// other object still arrives.
awaitable<void> skips_undecodable_objects(executor ex) {
  fixture f(ex);
  std::vector<std::string> reported;
  obs::registry metrics;
  informer_options o;
  o.backoff_initial = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(20);
  o.page_size = 2;
  o.metrics = &metrics;
  o.on_undecodable = [&](const undecodable_object& u) {
    reported.push_back(u.namespace_ + "/" + u.name + "@" + u.resource_version);
    EXPECT_FALSE(u.error.empty());
  };
  f.inf = std::make_unique<informer_base>(*f.cl, codec_of<lease>(), o);
  f.inf->add_handlers(f.rec.handlers());
  f.api.put("ns", "good-1", "a");
  f.api.put_malformed("ns", "bad-1");
  f.api.put("ns", "good-2", "b");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  EXPECT_EQ(cache_state(*f.inf), (std::map<std::string, std::string>{{"ns/good-1", "101"}, {"ns/good-2", "103"}}));
  EXPECT_EQ(reported, std::vector<std::string>{"ns/bad-1@102"});

  // In the watch: a bad object, then a good one that must still arrive.
  f.api.put_malformed("ns", "bad-2");
  f.api.put("ns", "good-3", "c");
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return static_cast<bool>(f.inf->cache().get("ns/good-3")); }));
  EXPECT_EQ(reported, (std::vector<std::string>{"ns/bad-1@102", "ns/bad-2@104"}));
  // A good object turned bad keeps its last good version; deleting it removes it.
  f.api.put_malformed("ns", "good-1");
  f.api.remove("ns", "good-1");
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return !f.inf->cache().get("ns/good-1"); }));
  EXPECT_EQ(reported.size(), 3U);
  EXPECT_EQ(f.inf->stats().undecodable, 3U);
  EXPECT_NE(metrics.render().find("kruntimes_informer_undecodable_objects_total{resource=\"leases\"} 3"),
            std::string::npos)
      << metrics.render();
  // A relist reports nothing it already reported.
  f.api.send_gone();
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.inf->stats().relists_gone >= 1; }));
  f.api.put("ns", "good-4", "d");
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return static_cast<bool>(f.inf->cache().get("ns/good-4")); }));
  EXPECT_EQ(f.inf->stats().undecodable, 3U);
  EXPECT_EQ(f.inf->stats().failures, 0U);
  co_await f.shutdown();
}

TEST(Informer, LeavesOutObjectsThatDoNotDecodeAndGoesOn) {
  asio::io_context ctx{1};
  run_on(ctx, skips_undecodable_objects(ctx.get_executor()));
}

TEST(Informer, ListsInPagesThenFollowsTheWatch) {
  asio::io_context ctx{1};
  run_on(ctx, list_then_watch(ctx.get_executor()));
}

// The watch breaks, changes happen while it is down, and the server has
// compacted its history: resuming gets 410, the informer relists, and the
// cache converges with exactly one event per real change.
awaitable<void> gone_mid_watch(executor ex) {
  fixture f(ex);
  for (int i = 1; i <= 6; ++i) f.api.put("ns", "l" + std::to_string(i), "h");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.open_watches() == 1; }));
  std::size_t before = f.rec.log.size();

  f.api.break_watches();
  f.api.put("ns", "l3", "changed");
  f.api.remove("ns", "l4");
  f.api.put("ns", "l7", "new");
  f.api.compact();

  EXPECT_TRUE(co_await f.converged());
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.rec.log.size() >= before + 3; }));
  std::vector<std::string> after(f.rec.log.begin() + static_cast<long>(before), f.rec.log.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, (std::vector<std::string>{"add ns/l7@109", "delete ns/l4", "update ns/l3@103->107"}))
      << "no lost and no duplicated events";
  EXPECT_GE(f.api.gone_replies, 1U);
  EXPECT_GE(f.inf->stats().relists_gone, 1U);

  // And it keeps following the watch afterwards.
  f.api.put("ns", "l8", "later");
  EXPECT_TRUE(co_await f.converged());
  co_await f.shutdown();
}

TEST(Informer, RelistsOn410WithNoLostOrDuplicatedEvents) {
  asio::io_context ctx{1};
  run_on(ctx, gone_mid_watch(ctx.get_executor()));
}

awaitable<void> error_event(executor ex) {
  fixture f(ex);
  f.api.put("ns", "a", "h");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.open_watches() == 1; }));
  auto lists_before = f.api.lists;
  f.api.send_gone();
  f.api.put("ns", "b", "h");
  EXPECT_TRUE(co_await f.converged());
  // The relist is followed by a new watch, which pulses the observer.
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.lists > lists_before && f.api.open_watches() == 1; }));
  EXPECT_GT(f.api.lists, lists_before) << "an ERROR 410 event forces a relist";
  EXPECT_GE(f.inf->stats().relists_gone, 1U);
  co_await f.shutdown();
}

TEST(Informer, WatchErrorEventWith410Relists) {
  asio::io_context ctx{1};
  run_on(ctx, error_event(ctx.get_executor()));
}

awaitable<void> rewound_server(executor ex) {
  fixture f(ex);
  f.api.put("ns", "a", "h");
  f.api.put("ns", "b", "h");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.open_watches() == 1; }));
  auto lists_before = f.api.lists;
  f.api.rewind(10);  // the informer's resourceVersion is now in the server's future
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.lists > lists_before && f.api.open_watches() == 1; }))
      << "a 504 ResourceVersionTooLarge must lead to a relist, not a retry loop";
  f.api.put("ns", "c", "h");
  EXPECT_TRUE(co_await f.converged());
  co_await f.shutdown();
}

TEST(Informer, ResourceVersionTooLargeRelists) {
  asio::io_context ctx{1};
  run_on(ctx, rewound_server(ctx.get_executor()));
}

awaitable<void> broken_stream_resumes(executor ex) {
  fixture f(ex);
  f.api.put("ns", "a", "h");
  f.tasks.spawn(f.inf->run(), "informer");
  co_await f.inf->wait_synced();
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.api.open_watches() == 1; }));
    f.api.break_watches();
    f.api.put("ns", "r" + std::to_string(round), "h");
    EXPECT_TRUE(co_await f.converged());
  }
  EXPECT_TRUE(co_await wait_for(f.changed, [&] { return f.inf->stats().watches >= 4 && f.api.open_watches() == 1; }));
  EXPECT_EQ(f.inf->stats().lists, 1U) << "a broken connection resumes the watch; no relist needed";
  EXPECT_GE(f.inf->stats().watches, 4U);
  co_await f.shutdown();
}

TEST(Informer, BrokenConnectionsResumeFromTheLastResourceVersion) {
  asio::io_context ctx{1};
  run_on(ctx, broken_stream_resumes(ctx.get_executor()));
}

}  // namespace
}  // namespace krt::kube
