#include "lib/net/http_server.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/system/system_error.hpp>
#include <algorithm>
#include <array>
#include <set>

#include "lib/core/strings.hpp"
#include "lib/net/stream.hpp"

namespace krt::net {
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view http_request::header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

std::optional<std::string> http_request::query_param(std::string_view name) const {
  for (auto part : split(query, '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = url_unescape(part.substr(0, eq));
    if (!key || *key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    auto val = url_unescape(part.substr(eq + 1));
    return val ? *val : std::string();
  }
  return std::nullopt;
}

std::string_view status_text(unsigned status) {
  return http::obsolete_reason(static_cast<http::status>(status));
}

struct http_server::impl {
  explicit impl(executor ex) : acceptor(std::move(ex)) {}
  tcp::acceptor acceptor;
  std::set<any_stream*> live;  // open connections, closed at stop()
};

namespace {

struct connection {
  explicit connection(tcp::socket s, const ssl_context_ptr& tls)
      : stream(tls ? any_stream(std::in_place_type<tls_stream>, std::move(s), *tls)
                   : any_stream(std::in_place_type<tcp_stream>, std::move(s))) {}
  any_stream stream;
  beast::flat_buffer buffer;
};

template <typename Msg>
awaitable<std::tuple<error_code, std::size_t>> write_message(any_stream& s, Msg& msg) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await http::async_write(*t, msg, use_nothrow);
  co_return co_await http::async_write(std::get<tls_stream>(s), msg, use_nothrow);
}

template <typename Buffers>
awaitable<std::tuple<error_code, std::size_t>> write_buffers(any_stream& s, const Buffers& b) {
  if (auto* t = std::get_if<tcp_stream>(&s)) co_return co_await asio::async_write(*t, b, use_nothrow);
  co_return co_await asio::async_write(std::get<tls_stream>(s), b, use_nothrow);
}

class writer_impl final : public response_writer {
 public:
  writer_impl(any_stream& s, unsigned version, bool keep_alive, const http_server_options& opts, bool head = false)
      : s_(s), version_(version), keep_alive_(keep_alive), opts_(opts), head_(head) {}

  awaitable<error_code> respond(unsigned status, std::string_view content_type, std::string body,
                                const std::vector<std::pair<std::string, std::string>>& extra = {}) override {
    if (started_) co_return asio::error::already_started;
    started_ = true;
    if (head_) {
      // HEAD: the headers a GET would get, Content-Length included, no body.
      http::response<http::empty_body> head{static_cast<http::status>(status), version_};
      head.set(http::field::server, opts_.server_name);
      if (!content_type.empty()) head.set(http::field::content_type, content_type);
      for (const auto& [k, v] : extra) head.set(k, v);
      head.keep_alive(keep_alive_);
      head.content_length(body.size());
      lowest_layer(s_).expires_after(opts_.write_timeout);
      auto [hec, hn] = co_await write_message(s_, head);
      lowest_layer(s_).expires_never();
      if (hec) failed_ = true;
      co_return hec;
    }
    http::response<http::string_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, opts_.server_name);
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : extra) res.set(k, v);
    res.body() = std::move(body);
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    lowest_layer(s_).expires_after(opts_.write_timeout);
    auto [ec, n] = co_await write_message(s_, res);
    lowest_layer(s_).expires_never();
    if (ec) failed_ = true;
    co_return ec;
  }

  awaitable<error_code> start_stream(unsigned status, std::string_view content_type,
                                     const std::vector<std::pair<std::string, std::string>>& extra = {}) override {
    if (started_) co_return asio::error::already_started;
    started_ = true;
    streaming_ = true;
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, opts_.server_name);
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : extra) res.set(k, v);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    lowest_layer(s_).expires_after(opts_.write_timeout);
    error_code ec;
    if (auto* t = std::get_if<tcp_stream>(&s_)) {
      std::tie(ec, std::ignore) = co_await http::async_write_header(*t, sr, use_nothrow);
    } else {
      std::tie(ec, std::ignore) = co_await http::async_write_header(std::get<tls_stream>(s_), sr, use_nothrow);
    }
    lowest_layer(s_).expires_never();
    if (ec) failed_ = true;
    co_return ec;
  }

  awaitable<error_code> write(std::string_view chunk) override {
    if (!streaming_ || finished_) co_return asio::error::operation_not_supported;
    if (chunk.empty()) co_return error_code{};  // an empty chunk would end the body
    lowest_layer(s_).expires_after(opts_.write_timeout);
    auto [ec, n] = co_await write_buffers(s_, http::make_chunk(asio::const_buffer(chunk.data(), chunk.size())));
    lowest_layer(s_).expires_never();
    if (ec) failed_ = true;
    co_return ec;
  }

  awaitable<error_code> finish() override {
    if (!streaming_ || finished_) co_return error_code{};
    finished_ = true;
    lowest_layer(s_).expires_after(opts_.write_timeout);
    auto [ec, n] = co_await write_buffers(s_, http::make_chunk_last());
    lowest_layer(s_).expires_never();
    if (ec) failed_ = true;
    co_return ec;
  }

  void abort() override {
    aborted_ = true;
    hard_close(s_);
  }
  bool started() const override { return started_; }

  // Whether the connection can serve another request.
  bool reusable() const { return keep_alive_ && !aborted_ && !failed_ && (!streaming_ || finished_); }

 private:
  any_stream& s_;
  unsigned version_;
  bool keep_alive_;
  const http_server_options& opts_;
  bool head_ = false;
  bool started_ = false, streaming_ = false, finished_ = false, aborted_ = false, failed_ = false;
};

std::string peer_subject(any_stream& s) {
  auto* t = std::get_if<tls_stream>(&s);
  if (t == nullptr) return {};
  X509* cert = SSL_get1_peer_certificate(t->native_handle());
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

}  // namespace

http_server::http_server(executor ex, http_server_options opts, http_handler handler)
    : ex_(ex),
      opts_(std::move(opts)),
      handler_(std::move(handler)),
      impl_(std::make_unique<impl>(ex)),
      connections_(ex, "http-connections"),
      acceptor_tasks_(ex, "http-accept") {}

http_server::~http_server() = default;

krt::result<void, std::string> http_server::listen() {
  error_code ec;
  auto addr = asio::ip::make_address(opts_.address, ec);
  if (ec) return unexpected("invalid listen address \"" + opts_.address + "\": " + ec.message());
  tcp::endpoint ep(addr, opts_.port);
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return unexpected("cannot listen on " + opts_.address + ":" + std::to_string(opts_.port) + ": " +
                      ec.message());
  }
  port_ = acc.local_endpoint().port();
  return {};
}

void http_server::start() { acceptor_tasks_.spawn(accept_loop(), "accept loop"); }

awaitable<void> http_server::stop() {
  error_code ignored;
  impl_->acceptor.close(ignored);
  co_await acceptor_tasks_.close();
  for (any_stream* s : impl_->live) hard_close(*s);
  co_await connections_.close();
}

awaitable<void> http_server::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await impl_->acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted || !impl_->acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or a connection reset before accept: back off briefly.
      asio::steady_timer t(ex_, std::chrono::milliseconds(50));
      co_await t.async_wait(use_nothrow);
      continue;
    }
    error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    auto conn = std::make_shared<connection>(std::move(sock), opts_.tls);
    connections_.spawn(serve_one(std::move(conn)), "connection");
  }
}

// After an early answer (a 413 sent before the body was read), reads and
// discards what the client is still sending, for at most `limit` bytes and
// five seconds, so that a client that writes its whole body before reading
// gets the answer instead of a reset connection.
namespace {
awaitable<void> drain(any_stream& s, std::size_t limit) {
  std::array<char, 16 * 1024> scratch;
  lowest_layer(s).expires_after(std::chrono::seconds(5));
  while (limit > 0) {
    error_code ec;
    std::size_t n = 0;
    if (auto* t = std::get_if<tcp_stream>(&s)) {
      std::tie(ec, n) = co_await t->async_read_some(asio::buffer(scratch), use_nothrow);
    } else {
      std::tie(ec, n) = co_await std::get<tls_stream>(s).async_read_some(asio::buffer(scratch), use_nothrow);
    }
    if (ec) break;
    limit -= std::min(limit, n);
  }
  lowest_layer(s).expires_never();
}
}  // namespace

awaitable<void> http_server::serve_one(std::shared_ptr<void> erased) {
  auto conn = std::static_pointer_cast<connection>(erased);
  any_stream& s = conn->stream;
  impl_->live.insert(&s);
  struct unregister {
    std::set<any_stream*>& live;
    any_stream* s;
    ~unregister() { live.erase(s); }
  } guard{impl_->live, &s};

  std::string remote;
  {
    error_code ec;
    auto ep = lowest_layer(s).socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
  }
  if (auto* t = std::get_if<tls_stream>(&s)) {
    lowest_layer(s).expires_after(opts_.read_timeout);
    auto [ec] = co_await t->async_handshake(asio::ssl::stream_base::server, use_nothrow);
    if (ec) {
      hard_close(s);
      co_return;
    }
  }
  std::string subject = peer_subject(s);

  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(opts_.max_body_bytes);
    parser.header_limit(64 * 1024);
    lowest_layer(s).expires_after(first ? opts_.read_timeout : opts_.idle_timeout);
    error_code ec;
    if (auto* t = std::get_if<tcp_stream>(&s)) {
      std::tie(ec, std::ignore) = co_await http::async_read(*t, conn->buffer, parser, use_nothrow);
    } else {
      std::tie(ec, std::ignore) =
          co_await http::async_read(std::get<tls_stream>(s), conn->buffer, parser, use_nothrow);
    }
    lowest_layer(s).expires_never();
    if (ec) {
      auto reply = [&](unsigned code, std::string message) -> awaitable<void> {
        writer_impl w(s, 11, false, opts_);
        if (opts_.error_json) co_await w.respond(code, "application/json", opts_.error_json(code, message));
        else co_await w.respond(code, "text/plain", message + "\n");
      };
      if (ec == http::error::body_limit) {
        co_await reply(413, "Request entity too large: limit is " + std::to_string(opts_.max_body_bytes));
        co_await drain(s, 2 * opts_.max_body_bytes);
      } else if (ec != http::error::end_of_stream && ec != asio::error::eof &&
                 ec != beast::error::timeout && ec != asio::error::operation_aborted &&
                 ec != asio::error::connection_reset && ec != asio::ssl::error::stream_truncated) {
        co_await reply(400, "malformed HTTP request: " + ec.message());
      }
      break;
    }
    auto& msg = parser.get();
    http_request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    auto raw_path = std::string_view(req.target).substr(0, q);
    auto decoded = url_unescape(raw_path, false);
    req.path = decoded ? *decoded : std::string(raw_path);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& f : msg) req.headers.emplace(to_lower(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    req.remote_address = remote;
    req.tls = std::holds_alternative<tls_stream>(s);
    req.client_cert_subject = subject;

    writer_impl w(s, msg.version(), msg.keep_alive(), opts_, req.method == "HEAD");
    std::exception_ptr failure;
    try {
      co_await handler_(req, w);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;  // the server is stopping
      failure = std::current_exception();
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) reactor::report_unhandled_exception("http-server", req.method + " " + req.path, failure);
    if (!w.started()) co_await w.respond(500, "text/plain", failure ? "internal error\n" : "handler produced no response\n");
    if (!w.reusable()) break;
  }
  hard_close(s);
}

}  // namespace krt::net
