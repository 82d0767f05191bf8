// The real transport: HTTP/1.1 with a keep-alive pool per shard, over TCP or
// TLS (certificate and host name verified unless the config says otherwise).
// All Beast composed operations of the client live in this one file.

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <vector>

#include "lib/kube/transport.hpp"
#include "lib/net/stream.hpp"

namespace krt::kube {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using net::any_stream;
using net::tcp_stream;
using net::tls_stream;

struct connection {
  explicit connection(any_stream s) : stream(std::move(s)) {}
  any_stream stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;
};
using conn_ptr = std::unique_ptr<connection>;

bool is_cancelled(const error_code& ec) { return ec == asio::error::operation_aborted; }

error transport_error(const error_code& ec, std::string_view during) {
  error e;
  if (ec == beast::error::timeout) {
    e.code = errc::timeout;
    e.message = std::string(during) + ": timed out";
  } else if (is_cancelled(ec)) {
    e.code = errc::cancelled;
    e.message = std::string(during) + ": cancelled";
  } else {
    e.code = errc::transport;
    e.message = std::string(during) + ": " + ec.message();
  }
  return e;
}

// Errors that mean "the server closed this idle connection before reading
// our request": safe to resend on a fresh connection.
bool stale_connection_error(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated || ec == http::error::partial_message;
}

template <typename Msg>
awaitable<std::tuple<error_code, std::size_t>> write_msg(any_stream& s, Msg& m) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await http::async_write(*t, m, use_nothrow);
  co_return co_await http::async_write(std::get<tls_stream>(s), m, use_nothrow);
}

template <typename Parser>
awaitable<std::tuple<error_code, std::size_t>> read_msg(any_stream& s, beast::flat_buffer& b, Parser& p) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await http::async_read(*t, b, p, use_nothrow);
  co_return co_await http::async_read(std::get<tls_stream>(s), b, p, use_nothrow);
}

template <typename Parser>
awaitable<std::tuple<error_code, std::size_t>> read_header(any_stream& s, beast::flat_buffer& b, Parser& p) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await http::async_read_header(*t, b, p, use_nothrow);
  co_return co_await http::async_read_header(std::get<tls_stream>(s), b, p, use_nothrow);
}

template <typename Parser>
awaitable<std::tuple<error_code, std::size_t>> read_body_some(any_stream& s, beast::flat_buffer& b, Parser& p) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await http::async_read_some(*t, b, p, use_nothrow);
  co_return co_await http::async_read_some(std::get<tls_stream>(s), b, p, use_nothrow);
}

class http_transport;

class http_body_stream final : public body_stream {
 public:
  http_body_stream(conn_ptr c, std::unique_ptr<http::response_parser<http::buffer_body>> p)
      : conn_(std::move(c)), parser_(std::move(p)) {}
  ~http_body_stream() override { close(); }

  awaitable<result<std::size_t>> read_some(char* buf, std::size_t n, std::chrono::milliseconds idle) override {
    if (!conn_) co_return fail(errc::transport, "stream is closed");
    for (;;) {
      if (parser_->is_done()) co_return std::size_t{0};
      auto& body = parser_->get().body();
      body.data = buf;
      body.size = n;
      net::lowest_layer(conn_->stream).expires_after(idle);
      auto [ec, ignored] = co_await read_body_some(conn_->stream, conn_->buffer, *parser_);
      if (conn_) net::lowest_layer(conn_->stream).expires_never();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == http::error::partial_message)
          co_return fail(errc::transport, "the server closed the stream in the middle of the response body");
        co_return unexpected(transport_error(ec, "reading stream"));
      }
      std::size_t got = n - parser_->get().body().size;
      if (got > 0) co_return got;
    }
  }

  void close() override {
    if (conn_) net::hard_close(conn_->stream);
  }

 private:
  conn_ptr conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
};

class http_transport final : public transport {
 public:
  http_transport(executor ex, http_transport_options opts) : ex_(std::move(ex)), opts_(std::move(opts)) {
    if (opts_.verify_name.empty()) opts_.verify_name = opts_.host;
  }

  awaitable<result<http_response>> round_trip(http_request req) override {
    auto msg = build(req);
    std::unique_ptr<http::response_parser<http::string_body>> parser;
    auto c = co_await exchange(req, msg, parser, opts_.max_response_bytes, false);
    if (!c) co_return unexpected(std::move(c).error());
    auto& res = parser->get();
    http_response out;
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.retry_after = std::string(res[http::field::retry_after]);
    bool keep = res.keep_alive();
    out.body = std::move(res.body());
    if (keep) release(std::move(*c));
    co_return out;
  }

  awaitable<result<stream_response>> open_stream(http_request req) override {
    auto msg = build(req);
    std::unique_ptr<http::response_parser<http::buffer_body>> parser;
    // A watch has no size bound.
    auto c = co_await exchange(req, msg, parser, boost::none, true);
    if (!c) co_return unexpected(std::move(c).error());
    conn_ptr conn = std::move(*c);
    stream_response out;
    auto& head = parser->get();
    out.status = head.result_int();
    out.content_type = std::string(head[http::field::content_type]);
    out.retry_after = std::string(head[http::field::retry_after]);
    if (out.status >= 200 && out.status < 300) {
      out.body = std::make_unique<http_body_stream>(std::move(conn), std::move(parser));
      co_return out;
    }
    // An error status: read its (small) body for the Status object.
    http_body_stream body(std::move(conn), std::move(parser));
    char buf[8192];
    while (out.error_body.size() < 1024 * 1024) {
      auto n = co_await body.read_some(buf, sizeof(buf), req.timeout);
      if (!n || *n == 0) break;
      out.error_body.append(buf, *n);
    }
    co_return out;
  }

  const transport_stats& stats() const { return stats_; }

 private:
  // Sends `msg` on a pooled (or new) connection and reads the response, or
  // only its header, into a fresh *parser. A pooled connection the server had
  // already closed is replaced once, transparently.
  template <typename Parser>
  awaitable<result<conn_ptr>> exchange(const http_request& req, http::request<http::string_body>& msg,
                                       std::unique_ptr<Parser>& parser, boost::optional<std::uint64_t> body_limit,
                                       bool header_only) {
    for (int attempt = 0;; ++attempt) {
      auto c = co_await acquire();
      if (!c) co_return unexpected(std::move(c).error());
      conn_ptr conn = std::move(*c);
      auto& lowest = net::lowest_layer(conn->stream);
      lowest.expires_after(req.timeout);
      auto [ec, written] = co_await write_msg(conn->stream, msg);
      parser = std::make_unique<Parser>();
      parser->body_limit(body_limit);
      // Not `cond ? co_await a : co_await b`: GCC 12 miscompiles co_await in ?:.
      if (!ec && header_only) {
        std::tie(ec, std::ignore) = co_await read_header(conn->stream, conn->buffer, *parser);
      } else if (!ec) {
        std::tie(ec, std::ignore) = co_await read_msg(conn->stream, conn->buffer, *parser);
      }
      lowest.expires_never();
      if (!ec) co_return conn;
      bool nothing_received = !parser->got_some();
      net::hard_close(conn->stream);
      if (conn->reused && attempt == 0 && nothing_received && stale_connection_error(ec)) {
        ++stats_.stale_retries;
        continue;  // the pool handed us a connection the server had closed
      }
      co_return unexpected(transport_error(ec, req.method + " " + req.target));
    }
  }

  http::request<http::string_body> build(const http_request& req) const {
    http::request<http::string_body> msg{http::string_to_verb(req.method), req.target, 11};
    msg.set(http::field::host, host_header());
    msg.set(http::field::user_agent, opts_.user_agent);
    msg.set(http::field::accept, req.accept);
    if (!req.authorization.empty()) msg.set(http::field::authorization, req.authorization);
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      if (!req.content_type.empty()) msg.set(http::field::content_type, req.content_type);
      msg.body() = req.body;
    }
    msg.keep_alive(true);
    msg.prepare_payload();
    return msg;
  }

  std::string host_header() const {
    std::string h = opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host;
    bool default_port = (opts_.tls && opts_.port == 443) || (!opts_.tls && opts_.port == 80);
    return default_port ? h : h + ":" + std::to_string(opts_.port);
  }

  awaitable<result<conn_ptr>> acquire() {
    auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
      conn_ptr c = std::move(idle_.back());
      idle_.pop_back();
      if (now - c->idle_since < opts_.idle_ttl && net::lowest_layer(c->stream).socket().is_open()) {
        c->reused = true;
        ++stats_.reuses;
        co_return c;
      }
      net::hard_close(c->stream);
    }
    co_return co_await connect();
  }

  void release(conn_ptr c) {
    c->idle_since = std::chrono::steady_clock::now();
    c->reused = false;
    if (idle_.size() >= opts_.max_idle) {
      net::hard_close(idle_.front()->stream);
      idle_.erase(idle_.begin());
    }
    idle_.push_back(std::move(c));
  }

  awaitable<result<conn_ptr>> connect() {
    std::string where = opts_.host + ":" + std::to_string(opts_.port);
    tcp::resolver resolver(ex_);
    auto [rec, endpoints] = co_await resolver.async_resolve(opts_.host, std::to_string(opts_.port), use_nothrow);
    if (rec) co_return unexpected(transport_error(rec, "resolving " + opts_.host));
    tcp_stream tcp(ex_);
    tcp.expires_after(opts_.connect_timeout);
    auto [cec, ep] = co_await tcp.async_connect(endpoints, use_nothrow);
    if (cec) {
      auto e = transport_error(cec, "connecting to " + where);
      co_return unexpected(std::move(e));
    }
    error_code ignored;
    tcp.socket().set_option(tcp::no_delay(true), ignored);
    ++stats_.connects;
    if (!opts_.tls) {
      tcp.expires_never();
      co_return std::make_unique<connection>(any_stream(std::move(tcp)));
    }
    if (!opts_.ssl) co_return fail(errc::config, "TLS requested without a TLS context");
    auto c = std::make_unique<connection>(any_stream(std::in_place_type<tls_stream>, std::move(tcp), *opts_.ssl));
    auto& tls = std::get<tls_stream>(c->stream);
    // SNI for names; IP addresses are verified against IP SANs.
    error_code addr_ec;
    (void)asio::ip::make_address(opts_.verify_name, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(tls.native_handle(), opts_.verify_name.c_str());
    if (opts_.ssl->native_handle() && SSL_CTX_get_verify_mode(opts_.ssl->native_handle()) != SSL_VERIFY_NONE)
      tls.set_verify_callback(asio::ssl::host_name_verification(opts_.verify_name));
    auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_nothrow);
    beast::get_lowest_layer(tls).expires_never();
    if (hec) {
      error e = transport_error(hec, "TLS handshake with " + where);
      if (hec.category() == asio::error::get_ssl_category()) {
        long verify = SSL_get_verify_result(tls.native_handle());
        if (verify != X509_V_OK) {
          e.message = "TLS handshake with " + where + ": certificate verification failed: " +
                      X509_verify_cert_error_string(verify) +
                      " (check certificate-authority in the kubeconfig)";
        }
      }
      co_return unexpected(std::move(e));
    }
    co_return c;
  }

  executor ex_;
  http_transport_options opts_;
  std::vector<conn_ptr> idle_;  // most recently used at the back
  transport_stats stats_;
};

}  // namespace

std::unique_ptr<transport> make_http_transport(executor ex, http_transport_options opts) {
  return std::make_unique<http_transport>(std::move(ex), std::move(opts));
}

const transport_stats& stats_of(const transport& t) {
  static const transport_stats none;
  if (auto* h = dynamic_cast<const http_transport*>(&t)) return h->stats();
  return none;
}

}  // namespace krt::kube
