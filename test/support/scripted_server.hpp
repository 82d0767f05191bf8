#pragma once
// An in-process HTTP(S) server for client tests: real sockets on 127.0.0.1,
// a handler written by the test, and a log of every request received.
// TLS material is generated at test time (no checked-in keys).
//
// Affinity: the test's io_context (one thread).

#include <functional>
#include <string>
#include <vector>

#include "lib/net/http_server.hpp"
#include "lib/net/tls.hpp"

namespace krt::testing {

struct recorded_request {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  std::string body;
  std::string content_type;
  std::string authorization;
  std::string accept;
  std::string client_cert_subject;
};

// A CA plus a server certificate for 127.0.0.1/localhost, and a client
// certificate, all issued at test time.
struct test_pki {
  net::key_pair_pem ca;
  net::key_pair_pem server;
  net::key_pair_pem client;
  static test_pki make(const std::string& ca_name = "kruntimes-test-ca",
                       std::vector<std::string> server_ips = {"127.0.0.1"});
};

class scripted_server {
 public:
  using handler = std::function<awaitable<void>(net::http_request&, net::response_writer&)>;

  // tls: null for plain HTTP.
  scripted_server(executor ex, handler h, net::ssl_context_ptr tls = nullptr);
  ~scripted_server();

  std::uint16_t port() const { return server_.port(); }
  std::string url() const;
  awaitable<void> stop() { return server_.stop(); }

  std::vector<recorded_request> requests;

 private:
  awaitable<void> dispatch(net::http_request& req, net::response_writer& w);
  handler handler_;
  bool tls_;
  net::http_server server_;
};

// A Status body as the API server writes it.
std::string status_body(int code, const std::string& reason, const std::string& message);

}  // namespace krt::testing
