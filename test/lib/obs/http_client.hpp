#pragma once
// A small coroutine HTTP/1.1 client for the endpoint and http_server tests:
// one connection (plain or TLS), requests written by hand or from parts, and
// every phase bounded by `timeout` so a broken server fails a test instead of
// hanging it. Beast's HTTP templates are instantiated only in http_client.cpp.
//
// Affinity: one io_context (the test's), like the server under test.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "lib/net/stream.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::test_http {

struct http_reply {
  error_code ec;  // transport or parse error; the fields below are then empty
  unsigned status = 0;
  unsigned version = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = false;
  bool chunked = false;

  // The value of header `name` (lower-case), or "".
  std::string header(std::string_view name) const;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

class http_client {
 public:
  explicit http_client(executor ex);
  // TLS, verifying the server's certificate for `verify_name` (a host name or IP).
  http_client(executor ex, boost::asio::ssl::context& tls, std::string verify_name);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Connects to 127.0.0.1:port (and completes the TLS handshake).
  awaitable<error_code> connect(std::uint16_t port);
  // Writes one request and reads its reply (HEAD replies are read without a body).
  awaitable<http_reply> request(std::string_view method, std::string_view target, std::string body = {},
                                const header_list& headers = {}, unsigned version = 11);
  // Writes bytes as they are (malformed or pipelined requests).
  awaitable<error_code> send_raw(std::string_view bytes);
  // Reads one reply; `head` when it answers a HEAD request.
  awaitable<http_reply> read_reply(bool head = false);
  void close();

  std::chrono::seconds timeout{5};

 private:
  net::tcp_stream& lowest();

  std::optional<net::any_stream> stream_;
  net::beast::flat_buffer buffer_;
  std::string verify_name_;
};

}  // namespace krt::test_http
