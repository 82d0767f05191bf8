#include "lib/kube/client.hpp"

#include <random>

#include "lib/core/strings.hpp"
#include "lib/json/writer.hpp"

namespace krt::kube {

std::string_view content_type_of(patch_type t) {
  switch (t) {
    case patch_type::merge: return "application/merge-patch+json";
    case patch_type::json: return "application/json-patch+json";
    case patch_type::strategic: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

std::string encode_delete_options(const delete_options& o) {
  json::writer w;
  w.begin_object();
  w.field("kind", "DeleteOptions").field("apiVersion", "v1");
  if (!o.propagation_policy.empty()) w.field("propagationPolicy", o.propagation_policy);
  if (o.grace_period_seconds) w.field("gracePeriodSeconds", *o.grace_period_seconds);
  if (o.precondition_uid || o.precondition_resource_version) {
    w.key("preconditions").begin_object();
    if (o.precondition_uid) w.field("uid", *o.precondition_uid);
    if (o.precondition_resource_version) w.field("resourceVersion", *o.precondition_resource_version);
    w.end_object();
  }
  if (o.dry_run) w.key("dryRun").begin_array().value("All").end_array();
  w.end_object();
  return w.take();
}

namespace {
// Appends k=v to a query string, starting it with '?'.
void add_param(std::string& q, std::string_view k, std::string_view v) {
  q += q.empty() ? '?' : '&';
  q += k;
  q += '=';
  q += url_escape(v);
}
}  // namespace

std::string list_query(const list_options& o, bool watch) {
  std::string q;
  auto add = [&q](std::string_view k, std::string_view v) { add_param(q, k, v); };
  if (watch) add("watch", "true");
  if (!o.label_selector.empty()) add("labelSelector", o.label_selector);
  if (!o.field_selector.empty()) add("fieldSelector", o.field_selector);
  if (o.limit > 0) add("limit", std::to_string(o.limit));
  if (!o.continue_token.empty()) add("continue", o.continue_token);
  if (!o.resource_version.empty()) add("resourceVersion", o.resource_version);
  if (!o.resource_version_match.empty()) add("resourceVersionMatch", o.resource_version_match);
  if (watch && o.allow_watch_bookmarks) add("allowWatchBookmarks", "true");
  if (o.timeout_seconds > 0) add("timeoutSeconds", std::to_string(o.timeout_seconds));
  return q;
}

namespace {

std::string write_query(const write_options& o) {
  std::string q;
  auto add = [&q](std::string_view k, std::string_view v) { add_param(q, k, v); };
  if (o.dry_run) add("dryRun", "All");
  if (!o.field_validation.empty()) add("fieldValidation", o.field_validation);
  if (!o.field_manager.empty()) add("fieldManager", o.field_manager);
  return q;
}

bool idempotent(std::string_view method) { return method == "GET" || method == "PUT" || method == "DELETE"; }

}  // namespace

client::client(std::unique_ptr<transport> t, rest_config cfg, client_options opts, reactor::clock& clk)
    : transport_(std::move(t)),
      cfg_(std::move(cfg)),
      opts_(std::move(opts)),
      clock_(clk),
      creds_(cfg_),
      limiter_(clk, opts_.qps, opts_.burst) {}

krt::result<std::unique_ptr<client>, std::string> client::connect(executor ex, const rest_config& cfg,
                                                                  client_options opts) {
  http_transport_options t;
  t.host = cfg.host;
  t.port = cfg.port;
  t.tls = cfg.tls;
  t.verify_name = cfg.tls_server_name;
  t.user_agent = opts.user_agent;
  if (cfg.tls) {
    net::client_tls_options tls;
    tls.ca_pem = cfg.ca_pem;
    tls.client_cert_pem = cfg.client_cert_pem;
    tls.client_key_pem = cfg.client_key_pem;
    tls.insecure_skip_verify = cfg.insecure_skip_tls_verify;
    auto ctx = net::make_client_context(tls);
    if (!ctx) return unexpected("TLS configuration from " + cfg.source + ": " + ctx.error());
    t.ssl = std::move(*ctx);
  }
  return std::make_unique<client>(make_http_transport(std::move(ex), std::move(t)), cfg, std::move(opts));
}

http_request client::make(std::string method, std::string target) {
  http_request req;
  req.method = std::move(method);
  req.target = cfg_.base_path + target;
  req.timeout = opts_.request_timeout;
  req.authorization = creds_.authorization();
  return req;
}

std::chrono::milliseconds client::backoff(int attempt, const error& e) const {
  if (e.retry_after) {
    auto ra = std::min<std::chrono::seconds>(*e.retry_after, opts_.max_retry_after);
    return std::chrono::duration_cast<std::chrono::milliseconds>(ra);
  }
  thread_local std::mt19937 gen{std::random_device{}()};
  auto base = opts_.retry_base * (1 << std::min(attempt, 10));
  std::uniform_int_distribution<long> jitter(0, base.count() / 2);
  return base + std::chrono::milliseconds(jitter(gen));
}

awaitable<result<std::string>> client::request(http_request req) {
  for (int attempt = 0;; ++attempt) {
    co_await limiter_.acquire();
    auto r = co_await transport_->round_trip(req);
    error err;
    if (r) {
      auto& res = *r;
      if (res.status >= 200 && res.status < 300) co_return std::move(res.body);
      err = error_from_response(res.status, res.body, res.retry_after);
      bool retry = err.code == errc::too_many_requests ||
                   (err.code == errc::server_error && (err.retry_after || req.method == "GET")) ||
                   (err.code == errc::timeout && req.method == "GET");
      if (!retry || attempt >= opts_.max_retries) co_return unexpected(std::move(err));
    } else {
      err = std::move(r).error();
      // A transport failure may hide a processed write: only resend what is
      // safe to repeat.
      bool retry = (err.code == errc::transport || err.code == errc::timeout) && idempotent(req.method);
      if (!retry || attempt >= opts_.max_retries) co_return unexpected(std::move(err));
    }
    co_await clock_.sleep_for(backoff(attempt, err));
  }
}

awaitable<result<std::string>> client::get(const resource& r, std::string_view ns, std::string_view name,
                                           std::string_view subresource) {
  return request(make("GET", r.path(ns, url_escape(name), subresource)));
}

awaitable<result<std::string>> client::list(const resource& r, std::string_view ns, list_options o) {
  return request(make("GET", r.path(ns) + list_query(o, false)));
}

awaitable<result<std::string>> client::create(const resource& r, std::string_view ns, std::string body,
                                              write_options o) {
  auto req = make("POST", r.path(ns) + write_query(o));
  req.body = std::move(body);
  req.content_type = "application/json";
  return request(std::move(req));
}

awaitable<result<std::string>> client::update(const resource& r, std::string_view ns, std::string_view name,
                                              std::string body, std::string_view subresource, write_options o) {
  auto req = make("PUT", r.path(ns, url_escape(name), subresource) + write_query(o));
  req.body = std::move(body);
  req.content_type = "application/json";
  return request(std::move(req));
}

awaitable<result<std::string>> client::patch(const resource& r, std::string_view ns, std::string_view name,
                                             patch_type type, std::string body, std::string_view subresource,
                                             write_options o) {
  auto req = make("PATCH", r.path(ns, url_escape(name), subresource) + write_query(o));
  req.body = std::move(body);
  req.content_type = std::string(content_type_of(type));
  return request(std::move(req));
}

awaitable<result<std::string>> client::remove(const resource& r, std::string_view ns, std::string_view name,
                                              delete_options o) {
  auto req = make("DELETE", r.path(ns, url_escape(name)));
  req.body = encode_delete_options(o);
  req.content_type = "application/json";
  return request(std::move(req));
}

awaitable<result<std::unique_ptr<body_stream>>> client::watch(const resource& r, std::string_view ns,
                                                               list_options o) {
  co_await limiter_.acquire();
  auto req = make("GET", r.path(ns) + list_query(o, true));
  auto s = co_await transport_->open_stream(std::move(req));
  if (!s) co_return unexpected(std::move(s).error());
  if (s->body) co_return std::move(s->body);
  co_return unexpected(error_from_response(s->status, s->error_body, s->retry_after));
}

}  // namespace krt::kube
