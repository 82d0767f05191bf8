#pragma once
// The gRPC face of a built-in Runtime Server: executor.v1.Runtime (SPEC §5)
// and the push extension kruntimes.executor.v1.ExecutionEvents
// (proto/executor/v1/events.proto), both on gRPC's callback API. gRPC's own
// threads only receive calls and post them onto the engine's executor; every
// call is answered from there, so the engine needs no locks and no thread
// waits per call.
//
// Watch: one stream per client. It gets the snapshot of retained executions,
// a snapshot_done marker, then every state change. Each stream has a bounded
// queue (max_watch_queue events); a client that falls that far behind gets
// RESOURCE_EXHAUSTED and is expected to watch again.
//
// Affinity: start() and stop() on the engine's executor; the engine must
// outlive the server. stop() must complete before destruction.
#include <memory>
#include <string>

#include "lib/core/result.hpp"
#include "lib/reactor/asio.hpp"
#include "servers/engine/engine.hpp"

namespace grpc {
class Server;
}

namespace krt::servers {

struct listen_options {
  std::string socket;     // a gRPC address (unix:/path, unix-abstract:name); "" for none
  std::string host;       // TCP host; used when port > 0 (port -1: pick a free port)
  int port = 0;           // 0 disables TCP
  std::size_t max_watch_queue = 4096;
};

class runtime_server {
 public:
  runtime_server(exec_engine& engine, executor ex);
  ~runtime_server();
  runtime_server(const runtime_server&) = delete;
  runtime_server& operator=(const runtime_server&) = delete;

  // Binds and starts serving. Errors: the addresses that could not be bound.
  result<void, std::string> start(const listen_options& opts);
  // The bound TCP port (useful with port -1), 0 without TCP.
  int tcp_port() const { return tcp_port_; }

  // Ends every Watch stream (UNAVAILABLE), stops accepting calls and waits
  // for the calls in flight. Health reports unhealthy from here on.
  awaitable<void> stop();

  struct services;

 private:
  exec_engine& engine_;
  executor ex_;
  std::unique_ptr<services> services_;
  std::unique_ptr<grpc::Server> server_;
  int tcp_port_ = 0;
};

}  // namespace krt::servers
