// The observability endpoint over a real socket on 127.0.0.1: /metrics,
// /healthz and /readyz with Kubernetes-style check output, method handling,
// keep-alive and a clean stop with a request in flight.
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include "lib/obs/endpoint.hpp"
#include "lib/reactor/deadline.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/submit.hpp"
#include "test/lib/obs/http_client.hpp"

namespace krt::obs::test_endpoint {

using namespace std::chrono_literals;
using test_http::http_client;
using test_http::http_reply;

// Runs `task` on `ctx` until it and everything it started have finished.
void run(asio::io_context& ctx, awaitable<void> task) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(task), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  ctx.run_for(20s);
  ASSERT_TRUE(done) << "test coroutine did not finish within 20s";
  EXPECT_TRUE(ctx.stopped()) << "work left behind after the test coroutine finished";
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "test coroutine threw: " << e.what();
    }
  }
}

awaitable<std::optional<std::string>> healthy() { co_return std::nullopt; }
awaitable<std::optional<std::string>> failing(std::string reason) { co_return reason; }
awaitable<std::optional<std::string>> throwing(std::string what) {
  co_await reactor::yield();
  throw std::runtime_error(what);
}
awaitable<std::optional<std::string>> counting(int* calls) {
  ++*calls;
  co_return std::nullopt;
}
awaitable<std::optional<std::string>> blocking(reactor::event* entered, reactor::event* release) {
  entered->set();
  co_await release->wait();
  co_return std::nullopt;
}
awaitable<std::string> render_registry(const registry* r) { co_return r->render(); }

bool start(endpoint& ep) {
  auto l = ep.listen();
  EXPECT_TRUE(l.has_value()) << (l ? "" : l.error());
  if (!l) return false;
  EXPECT_NE(ep.port(), 0);
  ep.start();
  return true;
}

// One request on a fresh connection.
awaitable<http_reply> fetch(std::uint16_t port, std::string_view method, std::string_view target) {
  http_client c(co_await asio::this_coro::executor);
  auto ec = co_await c.connect(port);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) co_return http_reply{ec};
  co_return co_await c.request(method, target);
}

awaitable<http_reply> get(std::uint16_t port, std::string_view target) { return fetch(port, "GET", target); }

class EndpointTest : public ::testing::Test {
 protected:
  asio::io_context ctx_{1};
  executor ex_ = ctx_.get_executor();
};

awaitable<void> serves_metrics(executor ex) {
  registry reg;
  reg.get_counter("krt_test_requests_total", "Requests.", {{"code", "200"}}).inc(3);
  reg.get_histogram("krt_test_seconds", "Latency.").observe(0.002);
  endpoint ep(ex, {}, [r = &reg] { return render_registry(r); });
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/metrics");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.header("content-type").rfind("text/plain; version=0.0.4", 0), 0U) << r.header("content-type");
  EXPECT_EQ(r.body, reg.render());
  EXPECT_NE(r.body.find("krt_test_requests_total{code=\"200\"} 3\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("# TYPE krt_test_seconds histogram\n"), std::string::npos) << r.body;

  reg.get_counter("krt_test_requests_total", "Requests.", {{"code", "200"}}).inc();
  r = co_await get(ep.port(), "/metrics?name[]=x");
  EXPECT_NE(r.body.find("krt_test_requests_total{code=\"200\"} 4\n"), std::string::npos) << "rendered per scrape";
  co_await ep.stop();
}
// Regression: endpoint::handle once put co_await inside ?:, which GCC 12
// miscompiles (the body string was destroyed twice and the process aborted).
TEST_F(EndpointTest, MetricsServesTheTextFormat) {
  run(ctx_, serves_metrics(ex_));
}

awaitable<void> metrics_without_source(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/metrics");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.body, "");
  co_await ep.stop();
}
// Regression: as MetricsServesTheTextFormat (the empty branch freed a bad pointer).
TEST_F(EndpointTest, MetricsWithoutSourceIsEmpty) {
  run(ctx_, metrics_without_source(ex_));
}

awaitable<void> healthz(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto r = co_await get(ep.port(), path);
    EXPECT_EQ(r.status, 200U) << path;
    EXPECT_EQ(r.body, "ok") << path;
    EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0U) << path;
  }
  co_await ep.stop();
}
TEST_F(EndpointTest, HealthzWithoutChecksIsOk) { run(ctx_, healthz(ex_)); }

awaitable<void> liveness_failure(executor ex) {
  endpoint ep(ex, {}, nullptr);
  ep.add_liveness_check("reactor", [] { return failing("shard 1 stalled"); });
  ep.add_readiness_check("informers", [] { return healthy(); });
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/healthz");
  EXPECT_EQ(r.status, 503U);
  EXPECT_NE(r.body.find("[-]reactor failed: shard 1 stalled\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("healthz check failed"), std::string::npos) << r.body;
  r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.status, 200U) << "liveness checks do not affect readiness";
  co_await ep.stop();
}
TEST_F(EndpointTest, FailingLivenessCheckIs503) { run(ctx_, liveness_failure(ex_)); }

awaitable<void> readiness_failure(executor ex) {
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("informers", [] { return failing("pods not synced"); });
  ep.add_readiness_check("leader", [] { return healthy(); });
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.status, 503U);
  EXPECT_EQ(r.body, "[-]informers failed: pods not synced\n[+]leader ok\nreadyz check failed\n");
  r = co_await get(ep.port(), "/healthz");
  EXPECT_EQ(r.status, 200U) << "readiness checks do not affect liveness";
  EXPECT_EQ(r.body, "ok");
  co_await ep.stop();
}
TEST_F(EndpointTest, FailingReadinessCheckIs503WithReason) { run(ctx_, readiness_failure(ex_)); }

awaitable<void> readiness_verbose(executor ex) {
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("informers", [] { return healthy(); });
  ep.add_readiness_check("leader", [] { return healthy(); });
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/readyz?verbose");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.body, "[+]informers ok\n[+]leader ok\nreadyz check passed\n");
  r = co_await get(ep.port(), "/readyz?exclude=x&verbose=1");
  EXPECT_EQ(r.body, "[+]informers ok\n[+]leader ok\nreadyz check passed\n");
  r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.body, "ok") << "terse unless ?verbose";
  r = co_await get(ep.port(), "/healthz?verbose");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.body, "healthz check passed\n");
  co_await ep.stop();
}
TEST_F(EndpointTest, VerboseListsEveryCheck) { run(ctx_, readiness_verbose(ex_)); }

awaitable<void> not_ready(executor ex) {
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("informers", [] { return healthy(); });
  if (!start(ep)) co_return;
  ep.set_not_ready("shutting down");
  auto r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.status, 503U);
  EXPECT_NE(r.body.find("[-]ready failed: shutting down\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("[+]informers ok\n"), std::string::npos) << r.body;
  r = co_await get(ep.port(), "/healthz");
  EXPECT_EQ(r.status, 200U) << "draining is not death";
  ep.set_not_ready(std::nullopt);
  r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.body, "ok");
  co_await ep.stop();
}
TEST_F(EndpointTest, NotReadyReasonFailsReadiness) { run(ctx_, not_ready(ex_)); }

awaitable<void> check_throws(executor ex) {
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("store", [] { return throwing("sqlite locked"); });
  ep.add_readiness_check("after", [] { return healthy(); });
  if (!start(ep)) co_return;
  auto r = co_await get(ep.port(), "/readyz");
  EXPECT_EQ(r.status, 503U);
  EXPECT_NE(r.body.find("[-]store failed: check threw: sqlite locked\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("[+]after ok\n"), std::string::npos) << "later checks still run: " << r.body;
  co_await ep.stop();
}
TEST_F(EndpointTest, ThrowingCheckIs503) { run(ctx_, check_throws(ex_)); }

awaitable<void> checks_run_per_request(executor ex) {
  int calls = 0;
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("counted", [&calls] { return counting(&calls); });
  if (!start(ep)) co_return;
  for (int i = 0; i < 3; ++i) (void)co_await get(ep.port(), "/readyz");
  (void)co_await get(ep.port(), "/healthz");
  EXPECT_EQ(calls, 3) << "readiness checks run on every /readyz and only there";
  co_await ep.stop();
}
TEST_F(EndpointTest, ChecksRunOnEveryRequest) { run(ctx_, checks_run_per_request(ex_)); }

awaitable<void> unknown_path(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  for (const char* path : {"/", "/metricsx", "/healthz/extra", "/debug/pprof"}) {
    auto r = co_await get(ep.port(), path);
    EXPECT_EQ(r.status, 404U) << path;
    EXPECT_NE(r.body.find("/metrics"), std::string::npos) << r.body;
  }
  co_await ep.stop();
}
TEST_F(EndpointTest, UnknownPathIs404) { run(ctx_, unknown_path(ex_)); }

awaitable<void> wrong_method(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    auto r = co_await fetch(ep.port(), method, "/metrics");
    EXPECT_EQ(r.status, 405U) << method;
    EXPECT_EQ(r.header("allow"), "GET, HEAD") << method;
  }
  co_await ep.stop();
}
TEST_F(EndpointTest, OtherMethodsAre405WithAllow) { run(ctx_, wrong_method(ex_)); }

awaitable<void> keep_alive(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  http_client c(ex);
  auto ec = co_await c.connect(ep.port());
  EXPECT_FALSE(ec) << ec.message();
  auto a = co_await c.request("GET", "/healthz");
  EXPECT_FALSE(a.ec) << a.ec.message();
  EXPECT_EQ(a.status, 200U);
  EXPECT_TRUE(a.keep_alive);
  auto b = co_await c.request("GET", "/livez");  // (not /metrics: see MetricsServesTheTextFormat)
  EXPECT_FALSE(b.ec) << "second request on the same connection: " << b.ec.message();
  EXPECT_EQ(b.status, 200U);
  auto d = co_await c.request("POST", "/readyz");
  EXPECT_EQ(d.status, 405U) << "an error status keeps the connection too";
  auto e = co_await c.request("GET", "/readyz");
  EXPECT_EQ(e.status, 200U);
  co_await ep.stop();
}
TEST_F(EndpointTest, KeepAliveServesSeveralRequestsOnOneConnection) { run(ctx_, keep_alive(ex_)); }

awaitable<void> head_then_get(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(ep.port()));
  auto h = co_await c.request("HEAD", "/healthz");
  EXPECT_FALSE(h.ec) << h.ec.message();
  EXPECT_EQ(h.status, 200U);
  auto g = co_await c.request("GET", "/healthz");
  EXPECT_FALSE(g.ec) << "the HEAD reply must not carry a body: " << g.ec.message();
  EXPECT_EQ(g.status, 200U);
  EXPECT_EQ(g.body, "ok");
  co_await ep.stop();
}
// RFC 9110 §9.3.2: a reply to HEAD has no content. The endpoint allows HEAD but
// answers it like GET, so on a kept-alive connection the unsent-by-protocol
// body is read as the start of the next response.
TEST_F(EndpointTest, HeadReplyHasNoBody) {
  run(ctx_, head_then_get(ex_));
}

awaitable<void> stop_in_flight(executor ex) {
  reactor::event entered(ex);
  reactor::event release(ex);
  endpoint ep(ex, {}, nullptr);
  ep.add_readiness_check("slow", [&entered, &release] { return blocking(&entered, &release); });
  if (!start(ep)) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(ep.port()));
  EXPECT_FALSE(co_await c.send_raw("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_TRUE(co_await reactor::with_timeout(entered.wait(), 5s)) << "the check never started";
  EXPECT_TRUE(co_await reactor::with_timeout(ep.stop(), 5s)) << "stop() must cancel the in-flight check";
  auto r = co_await c.read_reply();
  EXPECT_TRUE(r.ec) << "no reply after stop, got status " << r.status;
  EXPECT_FALSE(release.is_set());
}
TEST_F(EndpointTest, StopCancelsAnInFlightCheck) { run(ctx_, stop_in_flight(ex_)); }

awaitable<void> refuses_after_stop(executor ex) {
  endpoint ep(ex, {}, nullptr);
  if (!start(ep)) co_return;
  auto port = ep.port();
  co_await ep.stop();
  http_client c(ex);
  auto ec = co_await c.connect(port);
  EXPECT_EQ(ec, asio::error::connection_refused) << ec.message();
}
TEST_F(EndpointTest, StoppedEndpointRefusesConnections) { run(ctx_, refuses_after_stop(ex_)); }

TEST_F(EndpointTest, ListenOnABadAddressFails) {
  net::http_server_options opts;
  opts.address = "not-an-address";
  endpoint ep(ex_, opts, nullptr);
  auto l = ep.listen();
  ASSERT_FALSE(l.has_value());
  EXPECT_NE(l.error().find("not-an-address"), std::string::npos) << l.error();
}

// ------------------------------------------------ on an engine, shard metrics

void bump(sharded_metrics* m, unsigned shard) {
  m->local().get_counter("krt_engine_runs_total", "Runs.", {{"shard_parity", shard % 2 ? "odd" : "even"}}).inc(10);
}

// Named, not a lambda: see bump_on in metrics_test.cpp (unity builds).
struct bump_shard {
  sharded_metrics* m;
  unsigned shard;
  void operator()() const { bump(m, shard); }
};

awaitable<int> engine_endpoint_main(reactor::engine* e, sharded_metrics* m) {
  for (unsigned i = 0; i < e->size(); ++i) co_await reactor::submit_to(*e, i, bump_shard{m, i});
  endpoint ep(e->get_executor(0), {}, [m] { return m->scrape(); });
  if (!start(ep)) co_return 1;
  auto r = co_await get(ep.port(), "/metrics");
  EXPECT_EQ(r.status, 200U);
  EXPECT_NE(r.body.find("krt_engine_runs_total{shard_parity=\"even\"} 20\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("krt_engine_runs_total{shard_parity=\"odd\"} 10\n"), std::string::npos) << r.body;
  co_await ep.stop();
  co_return 0;
}

// Regression: as MetricsServesTheTextFormat.
TEST(EndpointOnEngine, MetricsScrapeEveryShard) {
  reactor::engine e({.shards = 3, .stop_signals = {}});
  sharded_metrics m(e);
  EXPECT_EQ(e.run([&] { return engine_endpoint_main(&e, &m); }), 0);
}

}  // namespace krt::obs::test_endpoint
