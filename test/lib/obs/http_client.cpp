#include "test/lib/obs/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http.hpp>

#include "lib/core/strings.hpp"

namespace krt::test_http {
namespace http = net::beast::http;
using tcp = asio::ip::tcp;

std::string http_reply::header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

http_client::http_client(executor ex) : stream_(std::in_place, std::in_place_type<net::tcp_stream>, ex) {}

http_client::http_client(executor ex, boost::asio::ssl::context& tls, std::string verify_name)
    : stream_(std::in_place, std::in_place_type<net::tls_stream>, net::tcp_stream(ex), tls),
      verify_name_(std::move(verify_name)) {}

http_client::~http_client() { close(); }

net::tcp_stream& http_client::lowest() { return net::lowest_layer(*stream_); }

void http_client::close() {
  if (stream_) net::hard_close(*stream_);
}

awaitable<error_code> http_client::connect(std::uint16_t port) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  lowest().expires_after(timeout);
  auto [ec] = co_await lowest().async_connect(ep, use_nothrow);
  if (ec) co_return ec;
  if (auto* t = std::get_if<net::tls_stream>(&*stream_)) {
    t->set_verify_callback(asio::ssl::host_name_verification(verify_name_));
    lowest().expires_after(timeout);
    auto [hec] = co_await t->async_handshake(asio::ssl::stream_base::client, use_nothrow);
    ec = hec;
  }
  lowest().expires_never();
  co_return ec;
}

awaitable<error_code> http_client::send_raw(std::string_view bytes) {
  lowest().expires_after(timeout);
  error_code ec;
  auto buf = asio::buffer(bytes.data(), bytes.size());
  if (auto* t = std::get_if<net::tcp_stream>(&*stream_)) {
    std::tie(ec, std::ignore) = co_await asio::async_write(*t, buf, use_nothrow);
  } else {
    std::tie(ec, std::ignore) = co_await asio::async_write(std::get<net::tls_stream>(*stream_), buf, use_nothrow);
  }
  lowest().expires_never();
  co_return ec;
}

awaitable<http_reply> http_client::request(std::string_view method, std::string_view target, std::string body,
                                           const header_list& headers, unsigned version) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(version);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  bool has_body = !body.empty();
  req.body() = std::move(body);
  if (has_body || method == "POST" || method == "PUT") req.prepare_payload();

  http_reply failed;
  lowest().expires_after(timeout);
  if (auto* t = std::get_if<net::tcp_stream>(&*stream_)) {
    std::tie(failed.ec, std::ignore) = co_await http::async_write(*t, req, use_nothrow);
  } else {
    std::tie(failed.ec, std::ignore) =
        co_await http::async_write(std::get<net::tls_stream>(*stream_), req, use_nothrow);
  }
  lowest().expires_never();
  if (failed.ec) co_return failed;
  co_return co_await read_reply(method == "HEAD");
}

awaitable<http_reply> http_client::read_reply(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (head) parser.skip(true);
  http_reply out;
  lowest().expires_after(timeout);
  if (auto* t = std::get_if<net::tcp_stream>(&*stream_)) {
    std::tie(out.ec, std::ignore) = co_await http::async_read(*t, buffer_, parser, use_nothrow);
  } else {
    std::tie(out.ec, std::ignore) =
        co_await http::async_read(std::get<net::tls_stream>(*stream_), buffer_, parser, use_nothrow);
  }
  lowest().expires_never();
  if (out.ec) co_return out;
  auto& msg = parser.get();
  out.status = msg.result_int();
  out.version = msg.version();
  out.keep_alive = msg.keep_alive();
  out.chunked = msg.chunked();
  for (const auto& f : msg) out.headers[to_lower(f.name_string())] = std::string(f.value());
  out.body = std::move(msg.body());
  co_return out;
}

}  // namespace krt::test_http
