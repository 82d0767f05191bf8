#pragma once
// The seam between the Kubernetes client and the network (STYLE rule 10):
// bytes in, bytes out. http_transport is the real one (HTTP/1.1 keep-alive
// pool over TCP or TLS, one per shard); tests may put their own behind client.
//
// Affinity: per-shard. A transport and its streams are used on one shard.
// Cancellation: every operation honours the awaiting coroutine's cancellation
// slot; a cancelled operation returns errc::cancelled.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "lib/kube/errors.hpp"
#include "lib/net/tls.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::kube {

struct http_request {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string target;  // path and query, already escaped
  std::string body;
  std::string content_type;
  std::string accept = "application/json";
  std::string authorization;  // Authorization header value, if any
  std::chrono::milliseconds timeout{30000};  // whole exchange; for streams, until headers
};

struct http_response {
  unsigned status = 0;
  std::string content_type;
  std::string retry_after;  // raw Retry-After header
  std::string body;
};

// The body of a streaming response (a watch), read incrementally.
class body_stream {
 public:
  virtual ~body_stream() = default;
  // Reads at least one byte into buf, or returns 0 at the clean end of the
  // body. idle_timeout bounds the wait for the next bytes.
  virtual awaitable<result<std::size_t>> read_some(char* buf, std::size_t n,
                                                   std::chrono::milliseconds idle_timeout) = 0;
  // Closes the connection; a pending read_some completes with an error.
  virtual void close() = 0;
};

struct stream_response {
  unsigned status = 0;
  std::string content_type;
  // Set on 2xx; for other statuses the whole (bounded) body is in error_body.
  std::unique_ptr<body_stream> body;
  std::string retry_after;
  std::string error_body;
};

class transport {
 public:
  virtual ~transport() = default;
  virtual awaitable<result<http_response>> round_trip(http_request req) = 0;
  virtual awaitable<result<stream_response>> open_stream(http_request req) = 0;
};

struct http_transport_options {
  std::string host;
  std::uint16_t port = 443;
  bool tls = true;
  net::ssl_context_ptr ssl;        // required when tls
  std::string verify_name;          // certificate name to verify (default: host)
  std::string user_agent = "kruntimes";
  // Idle keep-alive connections kept. Above the Runs one runtimed or
  // scheduler shard has in flight, so bursts reuse connections instead of
  // paying a TLS handshake each (krt bench at -c 50 measured 32 too few).
  std::size_t max_idle = 64;
  std::chrono::seconds idle_ttl{90};  // idle connections older than this are closed
  std::chrono::milliseconds connect_timeout{10000};
  std::size_t max_response_bytes = 512 * 1024 * 1024;
};

// Builds the per-shard transport. Authorization comes from the caller's header.
std::unique_ptr<transport> make_http_transport(executor ex, http_transport_options opts);

// Counters a test (or /metrics) can read: connections opened and reused.
struct transport_stats {
  std::uint64_t connects = 0;
  std::uint64_t reuses = 0;
  std::uint64_t stale_retries = 0;
};
const transport_stats& stats_of(const transport& t);

}  // namespace krt::kube
