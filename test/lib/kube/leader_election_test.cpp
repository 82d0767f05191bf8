#include "lib/kube/leader_election.hpp"

#include <gtest/gtest.h>

#include <map>

#include "lib/json/writer.hpp"
#include "test/support/async.hpp"

namespace krt::kube {
namespace {

using namespace std::chrono_literals;
using testing::pump;

// An in-memory Lease endpoint behind the transport seam, with optimistic
// concurrency exactly as the API server does it.
class lease_transport final : public transport {
 public:
  struct stored {
    lease l;
    std::int64_t rv;
  };
  std::map<std::string, stored>& leases;
  std::int64_t& rv;
  std::vector<std::string>& log;
  std::string who;

  lease_transport(std::map<std::string, stored>& l, std::int64_t& r, std::vector<std::string>& lg, std::string w)
      : leases(l), rv(r), log(lg), who(std::move(w)) {}

  static std::string to_json(const stored& s) {
    lease copy = s.l;
    copy.metadata.resource_version = std::to_string(s.rv);
    json::writer w;
    encode(w, copy);
    return w.take();
  }

  awaitable<result<http_response>> round_trip(http_request req) override {
    co_await reactor::yield();
    log.push_back(who + " " + req.method);
    const std::string prefix = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
    http_response res;
    res.content_type = "application/json";
    std::string name = req.target.size() > prefix.size() + 1 ? req.target.substr(prefix.size() + 1) : "";
    if (req.method == "GET") {
      auto it = leases.find(name);
      if (it == leases.end()) {
        res.status = 404;
        res.body = R"({"kind":"Status","reason":"NotFound","code":404,"message":"not found"})";
      } else {
        res.status = 200;
        res.body = to_json(it->second);
      }
      co_return res;
    }
    auto decoded = decode_object(codec_of<lease>(), req.body);
    EXPECT_TRUE(decoded);
    auto incoming = *object_as<lease>(*decoded);
    if (req.method == "POST") {
      if (leases.count(incoming.metadata.name)) {
        res.status = 409;
        res.body = R"({"kind":"Status","reason":"AlreadyExists","code":409,"message":"exists"})";
        co_return res;
      }
      leases[incoming.metadata.name] = {incoming, ++rv};
      res.status = 201;
      res.body = to_json(leases[incoming.metadata.name]);
      co_return res;
    }
    // PUT
    auto it = leases.find(name);
    if (it == leases.end() || incoming.metadata.resource_version != std::to_string(it->second.rv)) {
      res.status = 409;
      res.body = R"({"kind":"Status","reason":"Conflict","code":409,"message":"the object has been modified"})";
      co_return res;
    }
    it->second = {incoming, ++rv};
    res.status = 200;
    res.body = to_json(it->second);
    co_return res;
  }
  awaitable<result<stream_response>> open_stream(http_request) override {
    co_return fail(errc::method_not_allowed, "no watches here");
  }
};

struct election {
  asio::io_context ctx{1};
  reactor::manual_clock clk;
  std::map<std::string, lease_transport::stored> leases;
  std::int64_t rv = 1;
  std::vector<std::string> log;
  std::vector<std::string> events;

  struct candidate {
    std::unique_ptr<client> c;
    std::unique_ptr<leader_elector> e;
    asio::cancellation_signal stop;
    bool running = false;
  };
  std::map<std::string, candidate> cands;

  void add(const std::string& id, bool release_on_cancel = false) {
    auto& cand = cands[id];
    rest_config cfg;
    cfg.host = "fake";
    cand.c = std::make_unique<client>(std::make_unique<lease_transport>(leases, rv, log, id), cfg,
                                      client_options{.qps = 0}, clk);
    leader_election_options o{"ns", "kruntimes-scheduler", id, 15s, 10s, 2s, release_on_cancel};
    cand.e = std::make_unique<leader_elector>(
        *cand.c, o,
        leader_callbacks{[this, id] { events.push_back(id + " started"); },
                         [this, id] { events.push_back(id + " stopped"); },
                         [this, id](const std::string& l) { events.push_back(id + " sees " + l); }});
  }
  void start(const std::string& id) {
    auto& cand = cands[id];
    cand.running = true;
    asio::co_spawn(ctx, cand.e->run(),
                   asio::bind_cancellation_slot(cand.stop.slot(), [&cand](std::exception_ptr) { cand.running = false; }));
    pump(ctx);
  }
  void stop(const std::string& id) {
    cands[id].stop.emit(asio::cancellation_type::terminal);
    pump(ctx);
  }
  // Advances simulated time in small steps so every timer fires in order.
  void advance(std::chrono::milliseconds total) {
    for (auto t = 0ms; t < total; t += 100ms) {
      clk.advance(100ms);
      pump(ctx);
    }
  }
  std::string holder() { return leases.count("kruntimes-scheduler") ? leases["kruntimes-scheduler"].l.holder_identity : ""; }
  ~election() {
    for (auto& [id, c] : cands)
      if (c.running) stop(id);
    pump(ctx);
  }
};

TEST(LeaderElection, OneLeaderAmongTwoCandidates) {
  election el;
  el.add("a");
  el.add("b");
  el.start("a");
  el.start("b");
  EXPECT_TRUE(el.cands["a"].e->is_leader());
  EXPECT_FALSE(el.cands["b"].e->is_leader());
  EXPECT_EQ(el.holder(), "a");
  el.advance(60s);
  EXPECT_TRUE(el.cands["a"].e->is_leader()) << "a keeps renewing";
  EXPECT_FALSE(el.cands["b"].e->is_leader());
  EXPECT_EQ(el.cands["b"].e->leader(), "a");
  EXPECT_EQ(el.leases["kruntimes-scheduler"].l.lease_transitions, 0);
  EXPECT_EQ(std::count(el.events.begin(), el.events.end(), "a started"), 1);
  EXPECT_EQ(std::count(el.events.begin(), el.events.end(), "b started"), 0);
}

TEST(LeaderElection, TakeoverAfterTheLeaderStopsRenewing) {
  election el;
  el.add("a");  // does not release: as if its process froze or died
  el.add("b");
  el.start("a");
  el.start("b");
  el.advance(10s);
  ASSERT_TRUE(el.cands["a"].e->is_leader());
  auto renew_before = el.leases["kruntimes-scheduler"].l.renew_time;
  el.stop("a");
  EXPECT_EQ(el.holder(), "a") << "a crashed leader leaves the lease as it was";
  EXPECT_EQ(el.leases["kruntimes-scheduler"].l.renew_time, renew_before);

  el.advance(12s);
  EXPECT_FALSE(el.cands["b"].e->is_leader()) << "not before lease_duration has passed since b last saw a change";
  el.advance(8s);
  EXPECT_TRUE(el.cands["b"].e->is_leader());
  EXPECT_EQ(el.holder(), "b");
  EXPECT_EQ(el.leases["kruntimes-scheduler"].l.lease_transitions, 1);
  EXPECT_NE(std::find(el.events.begin(), el.events.end(), "b started"), el.events.end());
}

TEST(LeaderElection, ReleaseOnCancelLetsTheSuccessorInAtOnce) {
  election el;
  el.add("a", true);
  el.add("b");
  el.start("a");
  el.start("b");
  el.advance(4s);
  el.stop("a");
  EXPECT_EQ(el.holder(), "") << "released";
  EXPECT_NE(std::find(el.events.begin(), el.events.end(), "a stopped"), el.events.end());
  el.advance(3s);
  EXPECT_TRUE(el.cands["b"].e->is_leader()) << "no need to wait out the lease";
}

TEST(LeaderElection, LeaderThatCannotRenewStepsDown) {
  election el;
  el.add("a");
  el.add("b");
  el.start("a");
  el.advance(4s);
  ASSERT_TRUE(el.cands["a"].e->is_leader());
  // Someone else overwrites the lease (e.g. a's renewals were lost).
  el.leases["kruntimes-scheduler"].l.holder_identity = "b";
  ++el.leases["kruntimes-scheduler"].rv;
  el.advance(3s);
  EXPECT_FALSE(el.cands["a"].e->is_leader());
  EXPECT_NE(std::find(el.events.begin(), el.events.end(), "a stopped"), el.events.end());
}

}  // namespace
}  // namespace krt::kube
