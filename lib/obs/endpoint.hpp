#pragma once
// The observability endpoint every service exposes (DESIGN §9): /metrics
// (Prometheus text), /healthz (liveness) and /readyz (readiness), with
// Kubernetes-style check output ("[+]informers ok"; "?verbose" lists all).
//
// Affinity: an endpoint lives on one shard (normally 0) and its checks run
// there; sharded_metrics gathers every shard's registry through submit_to.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/net/http_server.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/reactor/engine.hpp"

namespace krt::obs {

// One metrics registry per shard of an engine.
class sharded_metrics {
 public:
  explicit sharded_metrics(reactor::engine& e);
  // The calling shard's registry (throws off-shard).
  registry& local();
  registry& on(unsigned shard) { return *per_shard_.at(shard); }
  // Collects every shard's snapshot and renders the merged text.
  awaitable<std::string> scrape();

 private:
  reactor::engine& engine_;
  std::vector<std::unique_ptr<registry>> per_shard_;  // slot i touched only on shard i
};

// A check returns nullopt when healthy, or the reason it is not.
using health_check = std::function<awaitable<std::optional<std::string>>()>;

class endpoint {
 public:
  endpoint(executor ex, net::http_server_options opts, std::function<awaitable<std::string>()> metrics);
  void add_liveness_check(std::string name, health_check check);
  void add_readiness_check(std::string name, health_check check);
  // Readiness also fails while not_ready_reason is set (e.g. "shutting down").
  void set_not_ready(std::optional<std::string> reason) { not_ready_ = std::move(reason); }

  krt::result<void, std::string> listen() { return server_.listen(); }
  void start() { server_.start(); }
  awaitable<void> stop() { return server_.stop(); }
  std::uint16_t port() const { return server_.port(); }

 private:
  awaitable<void> handle(net::http_request& req, net::response_writer& w);
  awaitable<void> run_checks(const std::vector<std::pair<std::string, health_check>>& checks,
                             std::string_view what, net::http_request& req, net::response_writer& w);

  std::function<awaitable<std::string>()> metrics_;
  std::vector<std::pair<std::string, health_check>> liveness_;
  std::vector<std::pair<std::string, health_check>> readiness_;
  std::optional<std::string> not_ready_;
  net::http_server server_;
};

}  // namespace krt::obs
