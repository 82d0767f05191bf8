#include "test/support/fake_api.hpp"

#include "lib/core/strings.hpp"
#include "lib/json/writer.hpp"

namespace krt::testing {

fake_api::fake_api(executor ex)
    : changed_(ex), server_(ex, [this](net::http_request& req, net::response_writer& w) { return handle(req, w); }) {}

awaitable<void> fake_api::stop() {
  stopping_ = true;
  changed_.notify_all();
  co_await server_.stop();
}

std::string fake_api::encode(const std::string& ns, const std::string& name, const std::string& holder,
                             std::int64_t rv) {
  kube::lease l;
  l.metadata.name = name;
  l.metadata.namespace_ = ns;
  l.metadata.uid = "uid-" + name;
  l.metadata.resource_version = std::to_string(rv);
  l.holder_identity = holder;
  l.lease_duration_seconds = 15;
  json::writer w;
  kube::encode(w, l);
  return w.take();
}

void fake_api::record(const std::string& type, const std::string& object_json) {
  json::writer w;
  w.begin_object().field("type", type).key("object").raw(object_json).end_object();
  history_.push_back({++seq_, rv_, w.take() + "\n"});
  changed_.notify_all();
}

void fake_api::put(const std::string& ns, const std::string& name, const std::string& holder) {
  std::string key = ns + "/" + name;
  bool exists = objects_.count(key) > 0;
  ++rv_;
  auto json = encode(ns, name, holder, rv_);
  objects_[key] = {rv_, json};
  record(exists ? "MODIFIED" : "ADDED", json);
}

void fake_api::put_malformed(const std::string& ns, const std::string& name) {
  std::string key = ns + "/" + name;
  bool exists = objects_.count(key) > 0;
  ++rv_;
  auto json = encode(ns, name, "someone", rv_);
  auto at = json.find("\"metadata\":{");
  json.insert(at + 12, "\"labels\":{\"x\":5},");
  objects_[key] = {rv_, json};
  record(exists ? "MODIFIED" : "ADDED", json);
}

void fake_api::remove(const std::string& ns, const std::string& name) {
  std::string key = ns + "/" + name;
  auto it = objects_.find(key);
  if (it == objects_.end()) return;
  ++rv_;
  // The DELETED event carries the object at its final resourceVersion.
  auto json = encode(ns, name, "", rv_);
  objects_.erase(it);
  record("DELETED", json);
}

void fake_api::compact() {
  compacted_rv_ = rv_;
  history_.clear();
}

void fake_api::break_watches() {
  ++break_gen_;
  changed_.notify_all();
}

void fake_api::rewind(std::int64_t by) {
  rv_ -= by;
  history_.clear();
  compacted_rv_ = std::min(compacted_rv_, rv_);
  break_watches();
}

void fake_api::send_gone() {
  ++gone_gen_;
  changed_.notify_all();
}

void fake_api::bookmark() {
  json::writer w;
  w.begin_object()
      .field("type", "BOOKMARK")
      .key("object")
      .begin_object()
      .field("kind", "Lease")
      .field("apiVersion", "coordination.k8s.io/v1")
      .key("metadata")
      .begin_object()
      .field("resourceVersion", std::to_string(rv_))
      .end_object()
      .end_object()
      .end_object();
  history_.push_back({++seq_, rv_, w.take() + "\n"});
  changed_.notify_all();
}

std::map<std::string, std::string> fake_api::state() const {
  std::map<std::string, std::string> out;
  for (const auto& [k, o] : objects_) out[k] = std::to_string(o.rv);
  return out;
}

awaitable<void> fake_api::handle(net::http_request& req, net::response_writer& w) {
  if (req.method != "GET") {
    co_await w.respond(405, "application/json", status_body(405, "MethodNotAllowed", "only GET"));
    co_return;
  }
  auto watch = req.query_param("watch");
  if (watch && *watch == "true") {
    co_await serve_watch(req, w);
  } else {
    co_await serve_list(req, w);
  }
}

awaitable<void> fake_api::serve_list(net::http_request& req, net::response_writer& w) {
  ++lists;
  auto limit_text = req.query_param("limit");
  std::int64_t limit = limit_text ? std::stoll(*limit_text) : 0;
  if (limit > 0) limit = std::min(limit, page_size);
  std::string after = req.query_param("continue").value_or("");
  json::writer out;
  out.begin_object().field("kind", "LeaseList").field("apiVersion", "coordination.k8s.io/v1");
  std::vector<const std::string*> page;
  std::string next;
  for (auto it = after.empty() ? objects_.begin() : objects_.upper_bound(after); it != objects_.end(); ++it) {
    if (limit > 0 && static_cast<std::int64_t>(page.size()) == limit) {
      next = page.empty() ? std::string() : std::prev(it)->first;
      break;
    }
    page.push_back(&it->second.json);
  }
  out.key("metadata").begin_object().field("resourceVersion", std::to_string(rv_));
  if (!next.empty()) out.field("continue", next);
  out.end_object();
  out.key("items").begin_array();
  for (auto* j : page) out.raw(*j);
  out.end_array().end_object();
  co_await w.respond(200, "application/json", out.take());
}

awaitable<void> fake_api::serve_watch(net::http_request& req, net::response_writer& w) {
  ++watches;
  std::int64_t from = std::stoll(req.query_param("resourceVersion").value_or("0"));
  if (from > rv_) {
    co_await w.respond(504, "application/json",
                       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"Too large "
                       "resource version: " + std::to_string(from) + ", current: " + std::to_string(rv_) +
                           "\",\"reason\":\"Timeout\",\"details\":{\"causes\":[{\"reason\":\"ResourceVersionTooLarge\","
                           "\"message\":\"Too large resource version\"}],\"retryAfterSeconds\":1},\"code\":504}");
    co_return;
  }
  co_await w.start_stream(200, "application/json");
  if (from < compacted_rv_) {
    ++gone_replies;
    co_await w.write("{\"type\":\"ERROR\",\"object\":" + status_body(410, "Expired", "too old resource version") + "}\n");
    co_await w.finish();
    co_return;
  }
  ++open_watches_;
  if (observer) observer->notify_all();
  struct closer {
    std::size_t& n;
    reactor::event* obs;
    ~closer() {
      --n;
      if (obs) obs->notify_all();
    }
  } guard{open_watches_, observer};
  auto break_gen = break_gen_;
  auto gone_gen = gone_gen_;
  // Everything recorded after `from` is new to this watcher.
  std::uint64_t sent = 0;
  for (const auto& h : history_)
    if (h.rv <= from) sent = h.seq;
  for (;;) {
    for (std::size_t i = 0; i < history_.size(); ++i) {
      if (history_[i].seq <= sent) continue;
      std::string line = history_[i].line;  // copy: history_ may grow while we write
      sent = history_[i].seq;
      if (auto ec = co_await w.write(line)) co_return;
    }
    if (break_gen != break_gen_) {
      w.abort();
      co_return;
    }
    if (gone_gen != gone_gen_) {
      ++gone_replies;
      co_await w.write("{\"type\":\"ERROR\",\"object\":" + status_body(410, "Expired", "too old resource version") + "}\n");
      co_await w.finish();
      co_return;
    }
    if (stopping_) {
      co_await w.finish();
      co_return;
    }
    co_await changed_.wait();
  }
}

}  // namespace krt::testing
