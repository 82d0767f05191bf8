#pragma once
// The Kubernetes API client (DESIGN §4): get, paged list, create, update,
// merge/JSON/strategic patch, delete with preconditions and propagation, the
// status subresource, and watch streams. Bodies are JSON text in and out;
// typed helpers decode through a type_codec.
//
// Every request passes the client-side rate limit, carries a deadline
// (client_options::request_timeout) and is retried with backoff when retrying
// is safe: 429 (honouring Retry-After), 5xx with Retry-After or on reads,
// transport failures before the request could have been processed, and
// stale pooled connections.
//
// Affinity: per-shard. Build one client per shard (the transport's pool is
// shard-local); all calls on that shard.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/kube/codec.hpp"
#include "lib/kube/config.hpp"
#include "lib/kube/errors.hpp"
#include "lib/kube/rate_limiter.hpp"
#include "lib/kube/transport.hpp"
#include "lib/reactor/clock.hpp"

namespace krt::kube {

struct client_options {
  double qps = 100;   // per client (per shard); 0 disables the limit
  int burst = 200;
  int max_retries = 3;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds retry_base{100};
  std::chrono::seconds max_retry_after{30};
  std::string user_agent = "kruntimes";
};

struct list_options {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 0;
  std::string continue_token;
  std::string resource_version;
  std::string resource_version_match;  // "NotOlderThan" | "Exact"
  // watch only
  bool allow_watch_bookmarks = false;
  std::int64_t timeout_seconds = 0;
};

enum class patch_type { merge, json, strategic };
std::string_view content_type_of(patch_type t);

struct write_options {
  bool dry_run = false;
  std::string field_validation;  // "Strict" | "Warn" | "Ignore"
  std::string field_manager;
};

struct delete_options {
  std::string propagation_policy;  // "Background" | "Foreground" | "Orphan"
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::optional<std::int64_t> grace_period_seconds;
  bool dry_run = false;
};
std::string encode_delete_options(const delete_options& o);

class client {
 public:
  client(std::unique_ptr<transport> t, rest_config cfg, client_options opts,
         reactor::clock& clk = reactor::real_clock());

  // Builds the real HTTP(S) transport for `cfg` on executor `ex`.
  static krt::result<std::unique_ptr<client>, std::string> connect(executor ex, const rest_config& cfg,
                                                                   client_options opts = {});

  // Option structs are passed by value and never defaulted in place: GCC 12
  // miscompiles aggregate temporaries that live across a co_await (double
  // destruction), so callers inside coroutines must never need one. The
  // overloads without options build the defaults outside any coroutine.
  awaitable<result<std::string>> get(const resource& r, std::string_view ns, std::string_view name,
                                     std::string_view subresource = {});
  // One page; follow list_meta.continue_token for the next.
  awaitable<result<std::string>> list(const resource& r, std::string_view ns, list_options o);
  awaitable<result<std::string>> list(const resource& r, std::string_view ns) { return list(r, ns, list_options{}); }
  awaitable<result<std::string>> create(const resource& r, std::string_view ns, std::string body, write_options o);
  awaitable<result<std::string>> create(const resource& r, std::string_view ns, std::string body) {
    return create(r, ns, std::move(body), write_options{});
  }
  awaitable<result<std::string>> update(const resource& r, std::string_view ns, std::string_view name,
                                        std::string body, std::string_view subresource, write_options o);
  awaitable<result<std::string>> update(const resource& r, std::string_view ns, std::string_view name,
                                        std::string body, std::string_view subresource = {}) {
    return update(r, ns, name, std::move(body), subresource, write_options{});
  }
  awaitable<result<std::string>> patch(const resource& r, std::string_view ns, std::string_view name,
                                       patch_type type, std::string body, std::string_view subresource,
                                       write_options o);
  awaitable<result<std::string>> patch(const resource& r, std::string_view ns, std::string_view name,
                                       patch_type type, std::string body, std::string_view subresource = {}) {
    return patch(r, ns, name, type, std::move(body), subresource, write_options{});
  }
  awaitable<result<std::string>> remove(const resource& r, std::string_view ns, std::string_view name,
                                        delete_options o);
  awaitable<result<std::string>> remove(const resource& r, std::string_view ns, std::string_view name) {
    return remove(r, ns, name, delete_options{});
  }
  // Opens a watch; the stream yields newline-delimited events.
  awaitable<result<std::unique_ptr<body_stream>>> watch(const resource& r, std::string_view ns, list_options o);

  // Any request, with rate limit, retries and error mapping (2xx → body).
  awaitable<result<std::string>> request(http_request req);

  const rest_config& config() const { return cfg_; }
  const client_options& options() const { return opts_; }
  transport& get_transport() { return *transport_; }
  reactor::clock& get_clock() { return clock_; }

 private:
  http_request make(std::string method, std::string target) ;
  std::chrono::milliseconds backoff(int attempt, const error& e) const;

  std::unique_ptr<transport> transport_;
  rest_config cfg_;
  client_options opts_;
  reactor::clock& clock_;
  credentials creds_;
  rate_limiter limiter_;
};

// Builds a query string ("?a=1&b=x") from list options.
std::string list_query(const list_options& o, bool watch);

// Typed helpers.
template <typename T>
awaitable<result<std::shared_ptr<const T>>> get_as(client& c, std::string_view ns, std::string_view name) {
  const auto& codec = codec_of<T>();
  auto body = co_await c.get(*codec.res, ns, name);
  if (!body) co_return unexpected(std::move(body).error());
  auto d = decode_object(codec, *body);
  if (!d) co_return fail(errc::decode, d.error().describe());
  co_return object_as<T>(*d);
}

}  // namespace krt::kube
