#pragma once
// A small coroutine HTTP/1.1 server over TCP or TLS (Boost.Beast): keep-alive,
// request size limits, per-phase deadlines, and streaming (chunked) responses
// for watches. Used by the observability endpoint, the local control plane and
// the tests' scripted API servers.
//
// Affinity: per-shard. One server object lives on one shard; its accept loop,
// connections and handler calls all run on that shard's executor.
// Lifetime: start() begins accepting; stop() closes the listener, cancels every
// connection and waits for their coroutines to finish.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/net/tls.hpp"
#include "lib/reactor/asio.hpp"
#include "lib/reactor/task_group.hpp"

namespace krt::net {

struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/api/v1/pods?watch=true"
  std::string path;    // decoded path part of target
  std::string query;   // raw query string (after '?'), not decoded
  std::multimap<std::string, std::string> headers;  // keys lower-case
  std::string body;
  std::string remote_address;
  bool tls = false;
  std::string client_cert_subject;  // verified client certificate's subject, if any

  // The first value of header `name` (lower-case), or "".
  std::string_view header(std::string_view name) const;
  // The decoded value of query parameter `name`, if present.
  std::optional<std::string> query_param(std::string_view name) const;
};

// Lets a handler answer once (respond) or stream a chunked body.
// Affinity: the server's shard; use only within the handler call.
class response_writer {
 public:
  virtual ~response_writer() = default;
  // A complete response. content_type may be empty for no body.
  virtual awaitable<error_code> respond(unsigned status, std::string_view content_type, std::string body,
                                        const std::vector<std::pair<std::string, std::string>>& extra_headers = {}) = 0;
  // Starts a chunked response; then write() chunks and finish().
  virtual awaitable<error_code> start_stream(unsigned status, std::string_view content_type,
                                             const std::vector<std::pair<std::string, std::string>>& extra_headers = {}) = 0;
  // Sends one chunk (flushed at once).
  virtual awaitable<error_code> write(std::string_view chunk) = 0;
  virtual awaitable<error_code> finish() = 0;
  // Drops the connection without finishing the response (tests: broken streams).
  virtual void abort() = 0;
  virtual bool started() const = 0;
};

using http_handler = std::function<awaitable<void>(http_request&, response_writer&)>;

struct http_server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (see port())
  ssl_context_ptr tls;     // null: plain HTTP
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::chrono::seconds read_timeout{30};   // per request, header and body
  std::chrono::seconds idle_timeout{120};  // between keep-alive requests
  std::chrono::seconds write_timeout{30};
  std::string server_name = "kruntimes";
  // The body of the errors the server answers by itself (413 for a body over
  // max_body_bytes, 400 for a malformed request): null sends text/plain; set,
  // it returns the JSON to send instead (an API server sends a Status).
  std::function<std::string(unsigned code, std::string_view message)> error_json;
};

class http_server {
 public:
  http_server(executor ex, http_server_options opts, http_handler handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and listens; returns an error message when the address is unusable.
  krt::result<void, std::string> listen();
  // Starts the accept loop (after listen()).
  void start();
  awaitable<void> stop();

  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_.size(); }
  const http_server_options& options() const { return opts_; }

 private:
  struct impl;
  awaitable<void> accept_loop();
  awaitable<void> serve_one(std::shared_ptr<void> conn);

  executor ex_;
  http_server_options opts_;
  http_handler handler_;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
  reactor::task_group connections_;
  reactor::task_group acceptor_tasks_;
};

// Standard reason phrase for a status code.
std::string_view status_text(unsigned status);

}  // namespace krt::net
