#include "lib/kube/events.hpp"

#include <atomic>
#include <cstdio>
#include <random>

#include "lib/json/writer.hpp"

namespace krt::kube {

namespace {

// Event names must be unique; Kubernetes uses "<object>.<hex of a time>".
std::string unique_suffix(wall_time now) {
  static std::atomic<std::uint32_t> seq{static_cast<std::uint32_t>(std::random_device{}())};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%llx%04x",
                static_cast<unsigned long long>(now.time_since_epoch().count()),
                static_cast<unsigned>(seq.fetch_add(1, std::memory_order_relaxed) & 0xffffU));
  return buf;
}

}  // namespace

std::string encode_event(const object_reference& about, std::string_view type, std::string_view reason,
                         std::string_view message, const event_source& source, wall_time now) {
  std::string name = about.name.substr(0, 200) + "." + unique_suffix(now);
  std::string ts = format_rfc3339(now);
  json::writer w;
  w.begin_object();
  w.field("apiVersion", "v1").field("kind", "Event");
  w.key("metadata").begin_object().field("name", name).field("namespace", about.namespace_).end_object();
  w.key("involvedObject").begin_object();
  w.field("apiVersion", about.api_version).field("kind", about.kind);
  w.field("namespace", about.namespace_).field("name", about.name);
  if (!about.uid.empty()) w.field("uid", about.uid);
  w.end_object();
  w.field("type", type).field("reason", reason).field("message", message.substr(0, 1024));
  w.key("source").begin_object().field("component", source.component);
  if (!source.host.empty()) w.field("host", source.host);
  w.end_object();
  w.field("reportingComponent", source.component);
  w.field("reportingInstance", source.host.empty() ? source.component : source.host);
  w.field("action", reason);
  w.field("firstTimestamp", ts).field("lastTimestamp", ts).field("count", std::int64_t{1});
  w.field("eventTime", format_rfc3339_micro(now));
  w.end_object();
  return w.take();
}

awaitable<result<void>> record_event(client& c, const object_reference& about, std::string_view type,
                                     std::string_view reason, std::string_view message,
                                     const event_source& source) {
  std::string body = encode_event(about, type, reason, message, source, wall_now());
  auto r = co_await c.create(resources::events, about.namespace_, std::move(body));
  if (!r) co_return unexpected(std::move(r).error());
  co_return result<void>{};
}

}  // namespace krt::kube
