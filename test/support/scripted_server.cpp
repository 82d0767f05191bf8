#include "test/support/scripted_server.hpp"

#include <stdexcept>

#include "lib/json/writer.hpp"

namespace krt::testing {

test_pki test_pki::make(const std::string& ca_name, std::vector<std::string> server_ips) {
  test_pki p;
  auto ca = net::generate_ca(ca_name);
  if (!ca) throw std::runtime_error(ca.error());
  p.ca = *ca;
  net::certificate_request server;
  server.common_name = "kruntimes-test-server";
  server.dns_names = {"localhost"};
  server.ip_addresses = std::move(server_ips);
  auto s = net::issue_certificate(p.ca, server);
  if (!s) throw std::runtime_error(s.error());
  p.server = *s;
  net::certificate_request client;
  client.common_name = "test-user";
  client.organizations = {"system:masters"};
  client.server_auth = false;
  client.client_auth = true;
  auto c = net::issue_certificate(p.ca, client);
  if (!c) throw std::runtime_error(c.error());
  p.client = *c;
  return p;
}

scripted_server::scripted_server(executor ex, handler h, net::ssl_context_ptr tls)
    : handler_(std::move(h)),
      tls_(tls != nullptr),
      server_(ex, net::http_server_options{.tls = std::move(tls)},
              [this](net::http_request& req, net::response_writer& w) { return dispatch(req, w); }) {
  auto r = server_.listen();
  if (!r) throw std::runtime_error(r.error());
  server_.start();
}

scripted_server::~scripted_server() = default;

std::string scripted_server::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

awaitable<void> scripted_server::dispatch(net::http_request& req, net::response_writer& w) {
  requests.push_back({req.method, req.target, req.path, req.query, req.body, std::string(req.header("content-type")),
                      std::string(req.header("authorization")), std::string(req.header("accept")),
                      req.client_cert_subject});
  co_await handler_(req, w);
}

std::string status_body(int code, const std::string& reason, const std::string& message) {
  json::writer w;
  w.begin_object()
      .field("kind", "Status")
      .field("apiVersion", "v1")
      .key("metadata")
      .begin_object()
      .end_object()
      .field("status", "Failure")
      .field("message", message)
      .field("reason", reason)
      .field("code", code)
      .end_object();
  return w.take();
}

}  // namespace krt::testing
