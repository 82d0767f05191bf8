#include "lib/kube/client.hpp"

#include <gtest/gtest.h>

#include "test/support/async.hpp"
#include "test/support/scripted_server.hpp"

namespace krt::kube {
namespace {

using testing::recorded_request;
using testing::run_on;
using testing::scripted_server;

rest_config config_for(const scripted_server& s, const std::string& token = "secret-token") {
  rest_config cfg;
  EXPECT_TRUE(parse_server_url(s.url(), cfg));
  cfg.token = token;
  cfg.source = "test";
  return cfg;
}

// A plain-HTTP client on the recording clock (retries and limits never wait).
std::unique_ptr<client> plain_client(executor ex, const scripted_server& s, testing::recording_clock& clk,
                                     client_options opts = {.qps = 0}) {
  auto cfg = config_for(s);
  http_transport_options t{.host = cfg.host, .port = cfg.port, .tls = false};
  return std::make_unique<client>(make_http_transport(ex, t), cfg, opts, clk);
}

awaitable<void> respond_json(net::response_writer& w, unsigned status, std::string body,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
  co_await w.respond(status, "application/json", std::move(body), headers);
}

// ------------------------------------------------------------ request shapes

awaitable<void> exercise_verbs(executor ex) {
  testing::recording_clock clk;
  scripted_server server(ex, [](net::http_request&, net::response_writer& w) {
    return respond_json(w, 200, R"({"kind":"Lease"})");
  });
  auto c = plain_client(ex, server, clk);
  EXPECT_TRUE(co_await c->get(resources::pods, "ns1", "p1"));
  EXPECT_TRUE(co_await c->get(resources::leases, "ns1", "l1", "status"));
  list_options lo;
  lo.label_selector = "app=web,tier in (a,b)";
  lo.field_selector = "metadata.name=x";
  lo.limit = 50;
  lo.continue_token = "tok/1";
  EXPECT_TRUE(co_await c->list(resources::leases, "", lo));
  // Options are named variables: GCC 12 mishandles non-trivial temporaries
  // inside co_await expressions.
  write_options wo{.dry_run = true, .field_validation = "Strict"};
  EXPECT_TRUE(co_await c->create(resources::leases, "ns1", R"({"a":1})", wo));
  EXPECT_TRUE(co_await c->update(resources::leases, "ns1", "l1", R"({"b":2})", "status"));
  EXPECT_TRUE(co_await c->patch(resources::leases, "ns1", "l1", patch_type::merge, R"({"c":3})"));
  EXPECT_TRUE(co_await c->patch(resources::leases, "ns1", "l1", patch_type::json, R"([{"op":"add"}])"));
  EXPECT_TRUE(co_await c->patch(resources::pods, "ns1", "p1", patch_type::strategic, R"({"d":4})", "status"));
  delete_options d;
  d.propagation_policy = "Foreground";
  d.precondition_uid = "uid-1";
  d.precondition_resource_version = "42";
  EXPECT_TRUE(co_await c->remove(resources::leases, "ns1", "l1", d));
  EXPECT_TRUE(co_await c->get(resources::namespaces, "", "kube-system"));

  const auto& r = server.requests;
  EXPECT_EQ(r.size(), 10U);
  if (r.size() == 10) {
    EXPECT_EQ(r[0].method, "GET");
    EXPECT_EQ(r[0].target, "/api/v1/namespaces/ns1/pods/p1");
    EXPECT_EQ(r[0].authorization, "Bearer secret-token");
    EXPECT_EQ(r[0].accept, "application/json");
    EXPECT_EQ(r[1].target, "/apis/coordination.k8s.io/v1/namespaces/ns1/leases/l1/status");
    EXPECT_EQ(r[2].path, "/apis/coordination.k8s.io/v1/leases");
    EXPECT_EQ(r[2].query,
              "labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&fieldSelector=metadata.name%3Dx&limit=50&continue=tok%2F1");
    EXPECT_EQ(r[3].method, "POST");
    EXPECT_EQ(r[3].target, "/apis/coordination.k8s.io/v1/namespaces/ns1/leases?dryRun=All&fieldValidation=Strict");
    EXPECT_EQ(r[3].content_type, "application/json");
    EXPECT_EQ(r[3].body, R"({"a":1})");
    EXPECT_EQ(r[4].method, "PUT");
    EXPECT_EQ(r[4].target, "/apis/coordination.k8s.io/v1/namespaces/ns1/leases/l1/status");
    EXPECT_EQ(r[5].method, "PATCH");
    EXPECT_EQ(r[5].content_type, "application/merge-patch+json");
    EXPECT_EQ(r[6].content_type, "application/json-patch+json");
    EXPECT_EQ(r[7].content_type, "application/strategic-merge-patch+json");
    EXPECT_EQ(r[7].target, "/api/v1/namespaces/ns1/pods/p1/status");
    EXPECT_EQ(r[8].method, "DELETE");
    EXPECT_EQ(r[8].body,
              R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"uid-1","resourceVersion":"42"}})");
    EXPECT_EQ(r[9].target, "/api/v1/namespaces/kube-system");
  }
  co_await server.stop();
}

TEST(KubeClient, RequestShapesForEveryVerb) {
  asio::io_context ctx{1};
  run_on(ctx, exercise_verbs(ctx.get_executor()));
}

// ------------------------------------------------------------ errors and retries

awaitable<void> serve_sequence(std::vector<std::tuple<unsigned, std::string, std::string>>& script, std::size_t& i,
                               net::response_writer& w) {
  auto [status, body, retry_after] = script.at(std::min(i, script.size() - 1));
  ++i;
  std::vector<std::pair<std::string, std::string>> h;
  if (!retry_after.empty()) h.emplace_back("Retry-After", retry_after);
  co_await w.respond(status, "application/json", body, h);
}

struct scripted_case {
  std::vector<std::tuple<unsigned, std::string, std::string>> script;
  std::string method;  // GET | POST | PUT
  bool expect_ok;
  errc expect_code;
  std::size_t expect_requests;
  std::vector<std::chrono::seconds> expect_sleeps;  // exact sleeps (Retry-After); empty: not checked
};

awaitable<void> run_case(executor ex, scripted_case sc) {
  std::size_t i = 0;
  testing::recording_clock clk;
  scripted_server server(ex, [&](net::http_request&, net::response_writer& w) { return serve_sequence(sc.script, i, w); });
  auto c = plain_client(ex, server, clk, {.qps = 0, .max_retries = 3});
  result<std::string> r = std::string();
  if (sc.method == "GET") r = co_await c->get(resources::leases, "ns", "x");
  else if (sc.method == "POST") r = co_await c->create(resources::leases, "ns", "{}");
  else r = co_await c->update(resources::leases, "ns", "x", "{}");
  EXPECT_EQ(r.has_value(), sc.expect_ok) << (r ? *r : r.error().describe());
  if (!r) {
    EXPECT_EQ(r.error().code, sc.expect_code) << r.error().describe();
  }
  EXPECT_EQ(server.requests.size(), sc.expect_requests);
  if (!sc.expect_sleeps.empty()) {
    EXPECT_EQ(clk.sleeps.size(), sc.expect_sleeps.size());
    for (std::size_t k = 0; k < std::min(clk.sleeps.size(), sc.expect_sleeps.size()); ++k)
      EXPECT_EQ(std::chrono::round<std::chrono::seconds>(clk.sleeps[k]), sc.expect_sleeps[k]);
  }
  co_await server.stop();
}

std::string status(int code, const std::string& reason) { return testing::status_body(code, reason, "m"); }

TEST(KubeClient, ConflictIsTypedAndNotRetried) {
  asio::io_context ctx{1};
  run_on(ctx, run_case(ctx.get_executor(), {{{409, status(409, "Conflict"), ""}}, "PUT", false, errc::conflict, 1, {}}));
}

TEST(KubeClient, AlreadyExistsAndNotFound) {
  asio::io_context ctx{1};
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{409, status(409, "AlreadyExists"), ""}}, "POST", false, errc::already_exists, 1, {}}));
  run_on(ctx, run_case(ctx.get_executor(), {{{404, status(404, "NotFound"), ""}}, "GET", false, errc::not_found, 1, {}}));
}

TEST(KubeClient, TooManyRequestsHonoursRetryAfter) {
  asio::io_context ctx{1};
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{429, status(429, "TooManyRequests"), "2"}, {429, status(429, "TooManyRequests"), "1"}, {200, "{}", ""}},
                        "POST", true, errc::other, 3, {std::chrono::seconds(2), std::chrono::seconds(1)}}));
}

TEST(KubeClient, TooManyRequestsGivesUpAfterBoundedRetries) {
  asio::io_context ctx{1};
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{429, status(429, "TooManyRequests"), "1"}}, "GET", false, errc::too_many_requests, 4, {}}));
}

TEST(KubeClient, ServerErrorsRetriedOnlyWhenSafe) {
  asio::io_context ctx{1};
  // GET: retried (bounded), then succeeds.
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{500, status(500, "InternalError"), ""}, {503, status(503, "ServiceUnavailable"), ""}, {200, "{}", ""}},
                        "GET", true, errc::other, 3, {}}));
  // POST without Retry-After: may have been processed; not retried.
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{500, status(500, "InternalError"), ""}}, "POST", false, errc::server_error, 1, {}}));
  // POST with Retry-After: the server asked for it.
  run_on(ctx, run_case(ctx.get_executor(),
                       {{{503, status(503, "ServiceUnavailable"), "1"}, {201, "{}", ""}}, "POST", true, errc::other, 2,
                        {std::chrono::seconds(1)}}));
}

awaitable<void> refused(executor ex, error& out, std::size_t& sleeps) {
  testing::recording_clock clk;
  // Find a free port, then close it so nothing listens there.
  std::uint16_t port;
  {
    scripted_server tmp(ex, [](net::http_request&, net::response_writer& w) { return respond_json(w, 200, "{}"); });
    port = tmp.port();
    co_await tmp.stop();
  }
  rest_config cfg;
  EXPECT_TRUE(parse_server_url("http://127.0.0.1:" + std::to_string(port), cfg));
  client c(make_http_transport(ex, {.host = "127.0.0.1", .port = port, .tls = false}), cfg, {.qps = 0, .max_retries = 2}, clk);
  auto r = co_await c.get(resources::pods, "ns", "p");
  EXPECT_FALSE(r);
  if (!r) out = r.error();
  sleeps = clk.sleeps.size();
}

TEST(KubeClient, ConnectionRefusedIsATransportErrorAfterRetries) {
  asio::io_context ctx{1};
  error e;
  std::size_t sleeps = 0;
  run_on(ctx, refused(ctx.get_executor(), e, sleeps));
  EXPECT_EQ(e.code, errc::transport);
  EXPECT_NE(e.message.find("connecting to 127.0.0.1"), std::string::npos) << e.message;
  EXPECT_EQ(sleeps, 2U);
}

awaitable<void> never_answer(reactor::event& release, net::response_writer& w) {
  co_await release.wait();
  co_await w.respond(200, "application/json", "{}");
}

awaitable<void> deadline_case(executor ex, error& out) {
  testing::recording_clock clk;
  reactor::event release(ex);
  scripted_server server(ex, [&](net::http_request&, net::response_writer& w) { return never_answer(release, w); });
  auto cfg = config_for(server);
  client c(make_http_transport(ex, {.host = cfg.host, .port = cfg.port, .tls = false}), cfg,
           {.qps = 0, .max_retries = 0, .request_timeout = std::chrono::milliseconds(150)}, clk);
  auto r = co_await c.get(resources::pods, "ns", "p");
  EXPECT_FALSE(r);
  if (!r) out = r.error();
  release.set();
  co_await server.stop();
}

TEST(KubeClient, RequestDeadline) {
  asio::io_context ctx{1};
  error e;
  run_on(ctx, deadline_case(ctx.get_executor(), e));
  EXPECT_EQ(e.code, errc::timeout) << e.describe();
}

// ------------------------------------------------------------ connection pool

awaitable<void> respond_then_maybe_drop(std::size_t& n, bool drop_first, net::response_writer& w) {
  ++n;
  co_await w.respond(200, "application/json", "{\"n\":" + std::to_string(n) + "}");
  // Close the kept-alive connection right after answering, as a server
  // whose idle timeout fired would.
  if (drop_first && n == 1) w.abort();
}

awaitable<void> pool_case(executor ex, bool drop_first, std::chrono::seconds idle_ttl, transport_stats& stats,
                          std::vector<std::string>& bodies) {
  std::size_t n = 0;
  testing::recording_clock clk;
  scripted_server server(ex, [&](net::http_request&, net::response_writer& w) {
    return respond_then_maybe_drop(n, drop_first, w);
  });
  auto cfg = config_for(server);
  client c(make_http_transport(ex, {.host = cfg.host, .port = cfg.port, .tls = false, .idle_ttl = idle_ttl}), cfg,
           {.qps = 0, .max_retries = 0}, clk);
  for (int i = 0; i < 3; ++i) {
    auto r = co_await c.get(resources::pods, "ns", "p");
    EXPECT_TRUE(r) << (r ? "" : r.error().describe());
    if (r) bodies.push_back(*r);
    // Let the server's abort reach our socket before the next request.
    co_await reactor::yield();
  }
  stats = stats_of(c.get_transport());
  co_await server.stop();
}

TEST(KubeClient, KeepAlivePoolReusesConnections) {
  asio::io_context ctx{1};
  transport_stats st;
  std::vector<std::string> bodies;
  run_on(ctx, pool_case(ctx.get_executor(), false, std::chrono::seconds(90), st, bodies));
  EXPECT_EQ(st.connects, 1U);
  EXPECT_EQ(st.reuses, 2U);
  EXPECT_EQ(bodies.size(), 3U);
}

TEST(KubeClient, ExpiredPooledConnectionIsReplacedTransparently) {
  asio::io_context ctx{1};
  transport_stats st;
  std::vector<std::string> bodies;
  run_on(ctx, pool_case(ctx.get_executor(), true, std::chrono::seconds(90), st, bodies));
  EXPECT_EQ(bodies, (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"}))
      << "no request may be lost or repeated";
  EXPECT_EQ(st.connects, 2U);
  EXPECT_EQ(st.stale_retries, 1U);
}

TEST(KubeClient, IdleConnectionsOlderThanTheTtlAreNotReused) {
  asio::io_context ctx{1};
  transport_stats st;
  std::vector<std::string> bodies;
  run_on(ctx, pool_case(ctx.get_executor(), false, std::chrono::seconds(0), st, bodies));
  EXPECT_EQ(st.connects, 3U);
  EXPECT_EQ(st.reuses, 0U);
}

// ------------------------------------------------------------ TLS

struct tls_outcome {
  bool ok = false;
  error err;
  std::string client_subject;
};

awaitable<void> tls_case(executor ex, net::ssl_context_ptr server_ctx, rest_config cfg_template, tls_outcome& out) {
  scripted_server server(ex, [](net::http_request&, net::response_writer& w) { return respond_json(w, 200, "{}"); },
                         server_ctx);
  rest_config cfg = cfg_template;
  EXPECT_TRUE(parse_server_url(server.url(), cfg));
  auto c = client::connect(ex, cfg, {.qps = 0, .max_retries = 0});
  EXPECT_TRUE(c) << (c ? "" : c.error());
  if (c) {
    auto r = co_await (*c)->get(resources::pods, "ns", "p");
    out.ok = r.has_value();
    if (!r) out.err = r.error();
    if (!server.requests.empty()) out.client_subject = server.requests[0].client_cert_subject;
  }
  co_await server.stop();
}

class KubeClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::test_pki(testing::test_pki::make());
    other_ = new testing::test_pki(testing::test_pki::make("some-other-ca"));
    wrong_ip_ = new testing::test_pki(testing::test_pki::make("wrong-ip-ca", {"127.0.0.2"}));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete other_;
    delete wrong_ip_;
  }
  static net::ssl_context_ptr server_ctx(const testing::test_pki& p, bool want_client_certs = false) {
    auto ctx = net::make_server_context({p.server.cert_pem, p.server.key_pem, want_client_certs ? p.ca.cert_pem : ""});
    EXPECT_TRUE(ctx);
    return *ctx;
  }
  tls_outcome run(net::ssl_context_ptr sctx, rest_config cfg) {
    asio::io_context ctx{1};
    tls_outcome out;
    run_on(ctx, tls_case(ctx.get_executor(), std::move(sctx), std::move(cfg), out));
    return out;
  }
  static inline testing::test_pki* pki_ = nullptr;
  static inline testing::test_pki* other_ = nullptr;
  static inline testing::test_pki* wrong_ip_ = nullptr;
};

TEST_F(KubeClientTls, VerifiesAgainstTheConfiguredCa) {
  rest_config cfg;
  cfg.ca_pem = pki_->ca.cert_pem;
  auto out = run(server_ctx(*pki_), cfg);
  EXPECT_TRUE(out.ok) << out.err.describe();
}

TEST_F(KubeClientTls, RejectsACertificateFromAnotherCa) {
  rest_config cfg;
  cfg.ca_pem = other_->ca.cert_pem;
  auto out = run(server_ctx(*pki_), cfg);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.err.code, errc::transport);
  EXPECT_NE(out.err.message.find("certificate verification failed"), std::string::npos) << out.err.message;
}

TEST_F(KubeClientTls, RejectsACertificateForAnotherAddress) {
  rest_config cfg;
  cfg.ca_pem = wrong_ip_->ca.cert_pem;
  auto out = run(server_ctx(*wrong_ip_), cfg);
  EXPECT_FALSE(out.ok) << "a certificate for 127.0.0.2 must not be accepted for 127.0.0.1";
  EXPECT_EQ(out.err.code, errc::transport);
}

TEST_F(KubeClientTls, TlsServerNameOverridesTheVerifiedName) {
  rest_config cfg;
  cfg.ca_pem = wrong_ip_->ca.cert_pem;
  cfg.tls_server_name = "localhost";
  auto out = run(server_ctx(*wrong_ip_), cfg);
  EXPECT_TRUE(out.ok) << out.err.describe();
}

TEST_F(KubeClientTls, InsecureSkipVerifyAcceptsAnyCertificate) {
  rest_config cfg;
  cfg.insecure_skip_tls_verify = true;
  auto out = run(server_ctx(*other_), cfg);
  EXPECT_TRUE(out.ok) << out.err.describe();
}

TEST_F(KubeClientTls, ClientCertificateIsPresented) {
  rest_config cfg;
  cfg.ca_pem = pki_->ca.cert_pem;
  cfg.client_cert_pem = pki_->client.cert_pem;
  cfg.client_key_pem = pki_->client.key_pem;
  auto out = run(server_ctx(*pki_, true), cfg);
  EXPECT_TRUE(out.ok) << out.err.describe();
  EXPECT_NE(out.client_subject.find("CN=test-user"), std::string::npos) << out.client_subject;
}

TEST_F(KubeClientTls, MismatchedClientKeyIsAConfigurationError) {
  rest_config cfg;
  EXPECT_TRUE(parse_server_url("https://127.0.0.1:1", cfg));
  cfg.client_cert_pem = pki_->client.cert_pem;
  cfg.client_key_pem = other_->client.key_pem;
  asio::io_context ctx{1};
  auto c = client::connect(ctx.get_executor(), cfg);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("does not match"), std::string::npos) << c.error();
}

}  // namespace
}  // namespace krt::kube
