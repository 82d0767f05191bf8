// lib/net/http_server over real sockets on 127.0.0.1 (tested here with its
// main user, lib/obs): request parsing, streaming (chunked) replies, limits,
// malformed input, keep-alive and pipelining, TLS and mutual TLS.
#include <gtest/gtest.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/net/http_server.hpp"
#include "lib/net/tls.hpp"
#include "lib/reactor/deadline.hpp"
#include "test/lib/obs/http_client.hpp"

namespace krt::net::test_http_server {

using namespace std::chrono_literals;
using test_http::http_client;
using test_http::http_reply;
namespace http = boost::beast::http;

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

std::string big_chunk() {
  std::string s(100 * 1024, 'x');
  for (std::size_t i = 0; i < s.size(); i += 97) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

awaitable<void> echo(http_request& req, response_writer& w) {
  std::vector<std::pair<std::string, std::string>> h = {
      {"X-Method", req.method},
      {"X-Target", req.target},
      {"X-Path", req.path},
      {"X-Query", req.query},
      {"X-A", req.query_param("a").value_or("<none>")},
      {"X-B", req.query_param("b").value_or("<none>")},
      {"X-Flag", req.query_param("flag") ? "present" : "absent"},
      {"X-Test-Header", std::string(req.header("x-test"))},
      {"X-Missing-Header", std::string(req.header("x-missing"))},
      {"X-Remote", req.remote_address},
      {"X-Tls", req.tls ? "1" : "0"},
      {"X-Subject", req.client_cert_subject},
  };
  co_await w.respond(200, "application/octet-stream", req.body, h);
}

awaitable<void> stream(response_writer& w) {
  EXPECT_EQ(co_await w.write("too early"), asio::error::operation_not_supported);
  // (A named vector: GCC 12 rejects a braced list of string literals in a coroutine.)
  const std::vector<std::pair<std::string, std::string>> extra = {{"X-Stream", "yes"}};
  EXPECT_FALSE(co_await w.start_stream(200, "application/x-ndjson", extra));
  EXPECT_TRUE(w.started());
  EXPECT_EQ(co_await w.respond(200, "text/plain", "no"), asio::error::already_started);
  EXPECT_FALSE(co_await w.write("{\"n\":1}\n"));
  EXPECT_FALSE(co_await w.write(""));  // must not end the body
  EXPECT_FALSE(co_await w.write("{\"n\":2}\n"));
  EXPECT_FALSE(co_await w.write(big_chunk()));
  EXPECT_FALSE(co_await w.finish());
  EXPECT_FALSE(co_await w.finish()) << "finish is idempotent";
  EXPECT_EQ(co_await w.write("late"), asio::error::operation_not_supported);
}

awaitable<void> handler(http_request& req, response_writer& w) {
  if (req.path == "/stream") {
    co_await stream(w);
  } else if (req.path == "/unfinished") {
    co_await w.start_stream(200, "text/plain");
    co_await w.write("partial");
  } else if (req.path == "/abort") {
    co_await w.start_stream(200, "text/plain");
    co_await w.write("partial");
    w.abort();
  } else if (req.path == "/none") {
    co_return;
  } else if (req.path == "/twice") {
    EXPECT_FALSE(co_await w.respond(201, "text/plain", "first"));
    EXPECT_EQ(co_await w.respond(202, "text/plain", "second"), asio::error::already_started);
  } else if (req.path == "/fixed") {
    co_await w.respond(200, "text/plain", "fixed body");
  } else if (req.path == "/throw") {
    throw std::runtime_error("handler blew up");
  } else if (req.path == "/no-content") {
    co_await w.respond(204, "", "");
  } else {
    co_await echo(req, w);
  }
}

struct server_fixture {
  explicit server_fixture(executor ex, http_server_options opts = {})
      : server(std::move(ex), std::move(opts), [](http_request& req, response_writer& w) { return handler(req, w); }) {}
  bool start() {
    auto l = server.listen();
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error());
    if (!l) return false;
    server.start();
    return true;
  }
  http_server server;
};

awaitable<http_reply> fetch(std::uint16_t port, std::string_view method, std::string_view target,
                            std::string body = {}, const test_http::header_list& headers = {}) {
  http_client c(co_await asio::this_coro::executor);
  auto ec = co_await c.connect(port);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) co_return http_reply{ec};
  co_return co_await c.request(method, target, std::move(body), headers);
}

// Sends raw bytes on a fresh connection and reads one reply.
awaitable<http_reply> raw_exchange(std::uint16_t port, std::string bytes) {
  http_client c(co_await asio::this_coro::executor);
  auto ec = co_await c.connect(port);
  if (!ec) ec = co_await c.send_raw(bytes);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) co_return http_reply{ec};
  co_return co_await c.read_reply();
}

class HttpServerTest : public ::testing::Test {
 protected:
  asio::io_context ctx_{1};
  executor ex_ = ctx_.get_executor();
};

// ------------------------------------------------------------- request parsing

awaitable<void> parses_requests(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  const test_http::header_list headers = {{"X-Test", "header value"}};
  auto r = co_await fetch(f.server.port(), "PUT", "/api/v1/hello%20world?a=1%262&b=x+y&flag&c=",
                          std::string("payload\0bytes", 13), headers);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.header("x-method"), "PUT");
  EXPECT_EQ(r.header("x-target"), "/api/v1/hello%20world?a=1%262&b=x+y&flag&c=");
  EXPECT_EQ(r.header("x-path"), "/api/v1/hello world");
  EXPECT_EQ(r.header("x-query"), "a=1%262&b=x+y&flag&c=");
  EXPECT_EQ(r.header("x-a"), "1&2");
  EXPECT_EQ(r.header("x-b"), "x y");
  EXPECT_EQ(r.header("x-flag"), "present");
  EXPECT_EQ(r.header("x-test-header"), "header value") << "header names are matched lower-case";
  EXPECT_EQ(r.header("x-missing-header"), "");
  EXPECT_EQ(r.header("x-remote"), "127.0.0.1");
  EXPECT_EQ(r.header("x-tls"), "0");
  EXPECT_EQ(r.header("server"), "kruntimes");
  EXPECT_EQ(r.body, std::string("payload\0bytes", 13));

  r = co_await fetch(f.server.port(), "GET", "/plain");
  EXPECT_EQ(r.header("x-query"), "");
  EXPECT_EQ(r.header("x-a"), "<none>");
  EXPECT_EQ(r.header("x-flag"), "absent");
  co_await f.server.stop();
}
TEST_F(HttpServerTest, ParsesMethodPathQueryHeadersAndBody) { run(ctx_, parses_requests(ex_)); }

// ------------------------------------------------------------------ streaming

awaitable<void> streams_chunks(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(f.server.port()));
  auto r = co_await c.request("GET", "/stream");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.header("content-type"), "application/x-ndjson");
  EXPECT_EQ(r.header("x-stream"), "yes");
  EXPECT_EQ(r.body, "{\"n\":1}\n{\"n\":2}\n" + big_chunk());
  auto again = co_await c.request("GET", "/echo");
  EXPECT_FALSE(again.ec) << "a finished stream leaves the connection usable: " << again.ec.message();
  EXPECT_EQ(again.status, 200U);
  EXPECT_EQ(f.server.connections(), 1U);
  co_await f.server.stop();
}
TEST_F(HttpServerTest, ChunkedStreamArrivesIntact) { run(ctx_, streams_chunks(ex_)); }

awaitable<void> unfinished_stream(executor ex, std::string path) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  auto r = co_await fetch(f.server.port(), "GET", path);
  EXPECT_EQ(r.ec, http::error::partial_message) << "the client must see a truncated body: " << r.ec.message();
  co_await f.server.stop();
}
TEST_F(HttpServerTest, UnfinishedStreamClosesTheConnection) { run(ctx_, unfinished_stream(ex_, "/unfinished")); }
TEST_F(HttpServerTest, AbortedStreamClosesTheConnection) { run(ctx_, unfinished_stream(ex_, "/abort")); }

awaitable<void> respond_rules(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  auto r = co_await fetch(f.server.port(), "GET", "/none");
  EXPECT_EQ(r.status, 500U);
  EXPECT_NE(r.body.find("no response"), std::string::npos) << r.body;
  r = co_await fetch(f.server.port(), "GET", "/twice");
  EXPECT_EQ(r.status, 201U);
  EXPECT_EQ(r.body, "first");
  r = co_await fetch(f.server.port(), "GET", "/no-content");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 204U);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("content-type"), "");
  co_await f.server.stop();
}
TEST_F(HttpServerTest, HandlerWithoutReplyGets500AndSecondReplyIsRefused) { run(ctx_, respond_rules(ex_)); }

awaitable<void> head_then_get(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(f.server.port()));
  auto h = co_await c.request("HEAD", "/fixed");
  EXPECT_EQ(h.status, 200U) << h.ec.message();
  EXPECT_EQ(h.header("content-length"), "10") << "HEAD may announce the GET length";
  auto g = co_await c.request("GET", "/echo?a=after-head");
  EXPECT_FALSE(g.ec) << "bytes of a HEAD reply body were read as the next reply: " << g.ec.message();
  EXPECT_EQ(g.header("x-a"), "after-head");
  co_await f.server.stop();
}
// RFC 9110 §9.3.2: a reply to HEAD has no content. response_writer does not
// know the request method, so respond() sends the body for HEAD as for GET; on
// a kept-alive connection the client then parses it as the next status line.
// The fix belongs in http_server (suppress the body, keep Content-Length).
TEST_F(HttpServerTest, HeadReplyCarriesNoBody) {
  run(ctx_, head_then_get(ex_));
}

awaitable<void> handler_throws(executor ex, std::vector<std::string>* reported) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  auto r = co_await fetch(f.server.port(), "GET", "/throw");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 500U) << "a throwing handler gets a 500, not a dropped connection";
  auto ok = co_await fetch(f.server.port(), "GET", "/echo");
  EXPECT_EQ(ok.status, 200U) << "the server keeps serving";
  co_await f.server.stop();
  EXPECT_EQ(*reported, std::vector<std::string>{"http-server/GET /throw: handler blew up"});
}
TEST_F(HttpServerTest, HandlerExceptionIsReportedNotLost) {
  std::vector<std::string> reported;
  reactor::set_unhandled_exception_hook([&reported](std::string_view group, std::string_view task,
                                                    std::exception_ptr e) {
    std::string what = "?";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    }
    reported.push_back(std::string(group) + "/" + std::string(task) + ": " + what);
  });
  run(ctx_, handler_throws(ex_, &reported));
  reactor::set_unhandled_exception_hook(nullptr);
}

// --------------------------------------------------------------------- limits

awaitable<void> body_limit(executor ex) {
  http_server_options opts;
  opts.max_body_bytes = 16;
  server_fixture f(ex, opts);
  if (!f.start()) co_return;
  auto ok = co_await fetch(f.server.port(), "POST", "/echo", std::string(16, 'a'));
  EXPECT_EQ(ok.status, 200U) << "exactly the limit is allowed";
  EXPECT_EQ(ok.body, std::string(16, 'a'));

  auto big = co_await fetch(f.server.port(), "POST", "/echo", std::string(100, 'b'));
  EXPECT_FALSE(big.ec) << big.ec.message();
  EXPECT_EQ(big.status, 413U);
  EXPECT_FALSE(big.keep_alive);

  // Announced but never sent: refused from the header alone.
  auto announced = co_await raw_exchange(
      f.server.port(), "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n");
  EXPECT_EQ(announced.status, 413U) << announced.ec.message();

  auto chunked = co_await raw_exchange(f.server.port(),
                                       "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "20\r\n" + std::string(32, 'c') + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 413U) << chunked.ec.message();
  co_await f.server.stop();
}
TEST_F(HttpServerTest, BodyOverTheLimitIs413) { run(ctx_, body_limit(ex_)); }

awaitable<void> malformed(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  for (const char* bad : {"NOT A VALID REQUEST\r\n\r\n", "GET /x HTTP/9.Z\r\n\r\n",
                          "GET /x HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
                          "POST /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n"}) {
    http_client c(ex);
    EXPECT_FALSE(co_await c.connect(f.server.port()));
    EXPECT_FALSE(co_await c.send_raw(bad));
    auto r = co_await c.read_reply();
    EXPECT_FALSE(r.ec) << bad << ": " << r.ec.message();
    EXPECT_EQ(r.status, 400U) << bad;
    EXPECT_EQ(r.body.rfind("malformed HTTP request", 0), 0U) << r.body;
    auto after = co_await c.read_reply();
    EXPECT_EQ(after.ec, http::error::end_of_stream) << "the connection is closed after a 400";
  }
  co_await f.server.stop();
}
TEST_F(HttpServerTest, MalformedRequestIs400) { run(ctx_, malformed(ex_)); }

awaitable<void> read_deadline(executor ex) {
  http_server_options opts;
  opts.read_timeout = 1s;
  server_fixture f(ex, opts);
  if (!f.start()) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(f.server.port()));
  EXPECT_FALSE(co_await c.send_raw("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"));  // never finished
  auto started = std::chrono::steady_clock::now();
  auto r = co_await c.read_reply();
  EXPECT_TRUE(r.ec) << "the server must hang up on a stalled request, got " << r.status;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  co_await f.server.stop();
}
TEST_F(HttpServerTest, StalledRequestHitsTheReadDeadline) { run(ctx_, read_deadline(ex_)); }

// ----------------------------------------------------- connection management

awaitable<void> connection_reuse(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  http_client c(ex);
  EXPECT_FALSE(co_await c.connect(f.server.port()));
  // Two pipelined requests in one write: answered in order.
  EXPECT_FALSE(co_await c.send_raw("GET /p?a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p?a=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto one = co_await c.read_reply();
  auto two = co_await c.read_reply();
  EXPECT_EQ(one.header("x-a"), "1") << one.ec.message();
  EXPECT_EQ(two.header("x-a"), "2") << two.ec.message();
  auto three = co_await c.request("GET", "/p?a=3");
  EXPECT_EQ(three.header("x-a"), "3");
  EXPECT_EQ(f.server.connections(), 1U);

  const test_http::header_list close = {{"Connection", "close"}};
  auto closing = co_await c.request("GET", "/p?a=4", {}, close);
  EXPECT_EQ(closing.status, 200U);
  EXPECT_FALSE(closing.keep_alive);
  auto after = co_await c.read_reply();
  EXPECT_EQ(after.ec, http::error::end_of_stream) << after.ec.message();

  http_client old(ex);
  EXPECT_FALSE(co_await old.connect(f.server.port()));
  auto r10 = co_await old.request("GET", "/p?a=5", {}, {}, 10);
  EXPECT_EQ(r10.status, 200U);
  EXPECT_EQ(r10.header("x-a"), "5");
  EXPECT_FALSE(r10.keep_alive) << "HTTP/1.0 closes by default";
  EXPECT_EQ((co_await old.read_reply()).ec, http::error::end_of_stream);
  co_await f.server.stop();
}
TEST_F(HttpServerTest, KeepAlivePipeliningAndClose) { run(ctx_, connection_reuse(ex_)); }

awaitable<void> stop_with_idle_connections(executor ex) {
  server_fixture f(ex);
  if (!f.start()) co_return;
  http_client a(ex);
  http_client b(ex);
  EXPECT_FALSE(co_await a.connect(f.server.port()));
  EXPECT_FALSE(co_await b.connect(f.server.port()));
  EXPECT_EQ((co_await a.request("GET", "/x")).status, 200U);
  EXPECT_EQ((co_await b.request("GET", "/x")).status, 200U);
  EXPECT_EQ(f.server.connections(), 2U);
  EXPECT_TRUE(co_await reactor::with_timeout(f.server.stop(), 5s)) << "stop() must not wait for idle clients";
  EXPECT_EQ(f.server.connections(), 0U);
  EXPECT_TRUE((co_await a.read_reply()).ec);
}
TEST_F(HttpServerTest, StopClosesIdleKeepAliveConnections) { run(ctx_, stop_with_idle_connections(ex_)); }

TEST_F(HttpServerTest, ListenOnAPortInUseFails) {
  server_fixture first(ex_);
  ASSERT_TRUE(first.server.listen().has_value());
  http_server_options opts;
  opts.port = first.server.port();
  server_fixture second(ex_, opts);
  auto l = second.server.listen();
  ASSERT_FALSE(l.has_value());
  EXPECT_NE(l.error().find("cannot listen on 127.0.0.1:" + std::to_string(opts.port)), std::string::npos)
      << l.error();
}

TEST(HttpServer, StatusText) {
  EXPECT_EQ(status_text(200), "OK");
  EXPECT_EQ(status_text(404), "Not Found");
  EXPECT_EQ(status_text(503), "Service Unavailable");
}

// ------------------------------------------------------------------------ TLS

struct pki {
  pki() {
    auto c = generate_ca("kruntimes-test-ca");
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
    if (c) ca = *c;
    certificate_request req;
    req.common_name = "obs-endpoint";
    req.ip_addresses = {"127.0.0.1"};
    auto l = issue_certificate(ca, req);
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error());
    if (l) leaf = *l;
  }
  key_pair_pem ca;
  key_pair_pem leaf;
};

ssl_context_ptr server_ctx(const pki& p, std::string client_ca = {}) {
  auto s = make_server_context({p.leaf.cert_pem, p.leaf.key_pem, std::move(client_ca)});
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
  return s ? *s : nullptr;
}

ssl_context_ptr client_ctx(client_tls_options opts) {
  auto c = make_client_context(opts);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
  return c ? *c : nullptr;
}

awaitable<void> tls_round_trip(executor ex, pki p) {
  http_server_options opts;
  opts.tls = server_ctx(p);
  server_fixture f(ex, opts);
  if (!opts.tls || !f.start()) co_return;
  auto trusting = client_ctx({.ca_pem = p.ca.cert_pem});
  http_client c(ex, *trusting, "127.0.0.1");
  auto ec = co_await c.connect(f.server.port());
  EXPECT_FALSE(ec) << ec.message();
  auto r = co_await c.request("POST", "/echo?a=tls", "over tls");
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.header("x-tls"), "1");
  EXPECT_EQ(r.header("x-a"), "tls");
  EXPECT_EQ(r.header("x-subject"), "") << "no client certificate was sent";
  EXPECT_EQ(r.body, "over tls");
  auto s = co_await c.request("GET", "/stream");
  EXPECT_EQ(s.body, "{\"n\":1}\n{\"n\":2}\n" + big_chunk()) << s.ec.message();
  co_await f.server.stop();
}
TEST_F(HttpServerTest, TlsWithTheIssuingCa) { run(ctx_, tls_round_trip(ex_, pki())); }

awaitable<void> tls_rejected(executor ex, pki p) {
  http_server_options opts;
  opts.tls = server_ctx(p);
  server_fixture f(ex, opts);
  if (!opts.tls || !f.start()) co_return;

  pki other;
  auto wrong_ca = client_ctx({.ca_pem = other.ca.cert_pem});
  http_client stranger(ex, *wrong_ca, "127.0.0.1");
  auto ec = co_await stranger.connect(f.server.port());
  EXPECT_TRUE(ec) << "a server certificate from an unknown CA must fail the handshake";
  EXPECT_TRUE(ec.category() == asio::error::get_ssl_category()) << ec.message();

  auto right_ca = client_ctx({.ca_pem = p.ca.cert_pem});
  http_client misnamed(ex, *right_ca, "kruntimes.invalid");
  ec = co_await misnamed.connect(f.server.port());
  EXPECT_TRUE(ec) << "the certificate names only IP 127.0.0.1";

  http_client plain(ex);
  EXPECT_FALSE(co_await plain.connect(f.server.port()));
  auto r = co_await plain.request("GET", "/echo");
  EXPECT_TRUE(r.ec) << "plain HTTP to a TLS port gets no reply, got " << r.status;

  auto good = client_ctx({.ca_pem = p.ca.cert_pem});
  http_client fine(ex, *good, "127.0.0.1");
  EXPECT_FALSE(co_await fine.connect(f.server.port())) << "failed handshakes do not break the server";
  EXPECT_EQ((co_await fine.request("GET", "/echo")).status, 200U);
  co_await f.server.stop();
}
TEST_F(HttpServerTest, TlsRejectsUnknownCaWrongNameAndPlainHttp) { run(ctx_, tls_rejected(ex_, pki())); }

awaitable<void> mutual_tls(executor ex, pki p) {
  http_server_options opts;
  opts.tls = server_ctx(p, p.ca.cert_pem);
  server_fixture f(ex, opts);
  if (!opts.tls || !f.start()) co_return;

  certificate_request who;
  who.common_name = "alice";
  who.organizations = {"system:masters"};
  who.server_auth = false;
  who.client_auth = true;
  auto alice = issue_certificate(p.ca, who);
  EXPECT_TRUE(alice.has_value());
  if (!alice) co_return;
  auto with_cert = client_ctx({.ca_pem = p.ca.cert_pem, .client_cert_pem = alice->cert_pem,
                               .client_key_pem = alice->key_pem});
  http_client c(ex, *with_cert, "127.0.0.1");
  EXPECT_FALSE(co_await c.connect(f.server.port()));
  auto r = co_await c.request("GET", "/echo");
  EXPECT_EQ(r.status, 200U) << r.ec.message();
  EXPECT_NE(r.header("x-subject").find("CN=alice"), std::string::npos) << r.header("x-subject");
  EXPECT_NE(r.header("x-subject").find("O=system:masters"), std::string::npos) << r.header("x-subject");

  auto without = client_ctx({.ca_pem = p.ca.cert_pem});
  http_client anon(ex, *without, "127.0.0.1");
  EXPECT_FALSE(co_await anon.connect(f.server.port())) << "bearer-token clients connect without a certificate";
  auto a = co_await anon.request("GET", "/echo");
  EXPECT_EQ(a.status, 200U) << a.ec.message();
  EXPECT_EQ(a.header("x-subject"), "");

  pki other;
  auto forged = issue_certificate(other.ca, who);
  EXPECT_TRUE(forged.has_value());
  if (!forged) co_return;
  auto forged_ctx = client_ctx({.ca_pem = p.ca.cert_pem, .client_cert_pem = forged->cert_pem,
                                .client_key_pem = forged->key_pem});
  http_client mallory(ex, *forged_ctx, "127.0.0.1");
  auto ec = co_await mallory.connect(f.server.port());
  // With TLS 1.3 the client may finish its handshake before the server
  // rejects the certificate; the rejection then shows on the first read.
  http_reply m;
  if (!ec) m = co_await mallory.request("GET", "/echo");
  EXPECT_TRUE(ec || m.ec) << "a client certificate from another CA must be rejected, got " << m.status;
  co_await f.server.stop();
}
TEST_F(HttpServerTest, MutualTlsExposesTheVerifiedSubject) { run(ctx_, mutual_tls(ex_, pki())); }

}  // namespace krt::net::test_http_server
