#include "lib/obs/endpoint.hpp"

#include "lib/reactor/submit.hpp"

namespace krt::obs {

sharded_metrics::sharded_metrics(reactor::engine& e) : engine_(e) {
  for (unsigned i = 0; i < e.size(); ++i) per_shard_.push_back(std::make_unique<registry>());
}

registry& sharded_metrics::local() {
  unsigned id = reactor::this_shard_id();
  if (id >= per_shard_.size()) throw std::logic_error("sharded_metrics::local() called off-shard");
  return *per_shard_[id];
}

awaitable<std::string> sharded_metrics::scrape() {
  std::vector<snapshot> all;
  all.reserve(per_shard_.size());
  for (unsigned i = 0; i < per_shard_.size(); ++i) {
    registry* reg = per_shard_[i].get();
    all.push_back(co_await reactor::submit_to(engine_, i, [reg] { return reg->collect(); }));
  }
  co_return render(all);
}

endpoint::endpoint(executor ex, net::http_server_options opts, std::function<awaitable<std::string>()> metrics)
    : metrics_(std::move(metrics)),
      server_(ex, std::move(opts), [this](net::http_request& req, net::response_writer& w) { return handle(req, w); }) {}

void endpoint::add_liveness_check(std::string name, health_check check) {
  liveness_.emplace_back(std::move(name), std::move(check));
}

void endpoint::add_readiness_check(std::string name, health_check check) {
  readiness_.emplace_back(std::move(name), std::move(check));
}

awaitable<void> endpoint::run_checks(const std::vector<std::pair<std::string, health_check>>& checks,
                                     std::string_view what, net::http_request& req, net::response_writer& w) {
  bool verbose = req.query_param("verbose").has_value();
  bool ok = true;
  std::string body;
  if (what == "readyz" && not_ready_) {
    ok = false;
    body += "[-]ready failed: " + *not_ready_ + "\n";
  }
  for (const auto& [name, check] : checks) {
    std::optional<std::string> failure;
    try {
      failure = co_await check();
    } catch (const std::exception& e) {
      failure = std::string("check threw: ") + e.what();
    }
    if (failure) {
      ok = false;
      body += "[-]" + name + " failed: " + *failure + "\n";
    } else {
      body += "[+]" + name + " ok\n";
    }
  }
  if (ok && !verbose) {
    co_await w.respond(200, "text/plain; charset=utf-8", "ok");
    co_return;
  }
  body += std::string(what) + (ok ? " check passed\n" : " check failed\n");
  co_await w.respond(ok ? 200 : 503, "text/plain; charset=utf-8", std::move(body));
}

awaitable<void> endpoint::handle(net::http_request& req, net::response_writer& w) {
  if (req.method != "GET" && req.method != "HEAD") {
    // (A named vector: GCC 12 rejects a braced list of string literals here.)
    const std::vector<std::pair<std::string, std::string>> allow = {{"Allow", "GET, HEAD"}};
    co_await w.respond(405, "text/plain", "method not allowed\n", allow);
    co_return;
  }
  if (req.path == "/metrics") {
    // Not `cond ? co_await x : y`: GCC 12 miscompiles co_await inside ?:.
    std::string text;
    if (metrics_) text = co_await metrics_();
    co_await w.respond(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text));
  } else if (req.path == "/healthz" || req.path == "/livez") {
    co_await run_checks(liveness_, "healthz", req, w);
  } else if (req.path == "/readyz") {
    co_await run_checks(readiness_, "readyz", req, w);
  } else {
    co_await w.respond(404, "text/plain", "not found: try /metrics, /healthz or /readyz\n");
  }
}

}  // namespace krt::obs
