#include "lib/kube/watch.hpp"

#include "lib/kube/types_codec.hpp"

namespace krt::kube {

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::added: return "ADDED";
    case event_type::modified: return "MODIFIED";
    case event_type::deleted: return "DELETED";
    case event_type::bookmark: return "BOOKMARK";
    case event_type::error: return "ERROR";
  }
  return "UNKNOWN";
}

namespace {

std::optional<event_type> parse_type(std::string_view s) {
  if (s == "ADDED") return event_type::added;
  if (s == "MODIFIED") return event_type::modified;
  if (s == "DELETED") return event_type::deleted;
  if (s == "BOOKMARK") return event_type::bookmark;
  if (s == "ERROR") return event_type::error;
  return std::nullopt;
}

// A bookmark's object holds only kind, apiVersion and metadata.
json::result<void> decode_bookmark(json::od::value v, std::string& rv) {
  return json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
    if (k != "metadata") return {};
    object_meta m;
    auto r = decode(f, m);
    if (r) rv = std::move(m.resource_version);
    return r;
  });
}

// Decodes the object of an event whose type is known.
json::result<void> decode_object_for(event_type t, const type_codec& codec, json::od::value v, watch_event& ev) {
  switch (t) {
    case event_type::bookmark:
      return decode_bookmark(v, ev.resource_version);
    case event_type::error: {
      status s;
      auto r = decode(v, s);
      if (r) ev.status = error_from_status(s);
      return r;
    }
    default: {
      auto d = codec.decode(json::wrap(v));
      if (!d) return unexpected(std::move(d).error());
      ev.object = std::move(*d);
      ev.resource_version = ev.object.meta->resource_version;
      return {};
    }
  }
}

}  // namespace

namespace {

// A line that did not decode: if it is a well-formed added, modified or
// deleted event whose object is merely not a valid object of the type, the
// event is reported as undecodable (the stream goes on); anything else is a
// broken stream.
std::optional<watch_event> undecodable_event(std::string_view line, std::string error) {
  std::string copy(line);
  std::optional<event_type> type;
  std::string object_text;
  auto r = json::parse(copy, [&](json::od::value root) {
    return json::for_each_field(root, [&](std::string_view k, json::od::value f) -> json::result<void> {
      if (k == "type") {
        std::string t;
        if (auto tr = json::read(f, t); !tr) return tr;
        type = parse_type(t);
        return {};
      }
      if (k == "object") {
        json::od::object obj;
        if (auto e = f.get_object().get(obj)) return unexpected(json::from_simdjson(e));
        std::string_view raw;
        if (auto e = obj.raw_json().get(raw)) return unexpected(json::from_simdjson(e));
        object_text = std::string(raw);
      }
      return {};
    });
  });
  if (!r || !type || object_text.empty()) return std::nullopt;
  if (*type != event_type::added && *type != event_type::modified && *type != event_type::deleted) return std::nullopt;
  undecodable_object u;
  u.error = std::move(error);
  if (!read_identity(object_text, u)) return std::nullopt;
  watch_event ev;
  ev.type = *type;
  ev.resource_version = u.resource_version;
  ev.undecodable = std::move(u);
  return ev;
}

}  // namespace

result<std::optional<watch_event>> watch_decoder::next() {
  auto line = lines_.next_line();
  if (!line) {
    if (lines_.overflowed()) return fail(errc::decode, "watch event larger than the configured limit");
    return std::optional<watch_event>{};
  }
  watch_event ev;
  std::optional<event_type> type;
  std::string_view deferred;  // the object's JSON when it precedes "type"
  bool have_object = false;
  auto r = json::parse_padded(*line, lines_.readable_from(*line), [&](json::od::value root) {
    return json::for_each_field(root, [&](std::string_view k, json::od::value f) -> json::result<void> {
      if (k == "type") {
        std::string t;
        auto tr = json::read(f, t);
        if (!tr) return tr;
        type = parse_type(t);
        if (!type) return json::fail(json::errc::invalid_value, "unknown watch event type \"" + t + "\"");
        return {};
      }
      if (k == "object") {
        have_object = true;
        if (type) return decode_object_for(*type, codec_, f, ev);
        // Rare: "object" before "type". Keep its text and decode it after.
        json::od::object obj;
        if (auto e = f.get_object().get(obj)) return unexpected(json::from_simdjson(e));
        if (auto e = obj.raw_json().get(deferred)) return unexpected(json::from_simdjson(e));
        return {};
      }
      return {};
    });
  });
  if (!r) {
    if (auto u = undecodable_event(*line, r.error().describe())) return std::optional<watch_event>{std::move(*u)};
    return fail(errc::decode, "malformed watch event: " + r.error().describe());
  }
  if (!type) return fail(errc::decode, "watch event without a type");
  if (!have_object) return fail(errc::decode, "watch event without an object");
  if (!deferred.empty()) {
    // `deferred` points into the line buffer, which stays put until the next
    // prepare(); its padding is the rest of the buffer.
    auto dr = json::parse_padded(deferred, lines_.readable_from(deferred),
                                 [&](json::od::value v) { return decode_object_for(*type, codec_, v, ev); });
    if (!dr) {
      if (auto u = undecodable_event(*line, dr.error().describe())) return std::optional<watch_event>{std::move(*u)};
      return fail(errc::decode, "malformed watch event: " + dr.error().describe());
    }
  }
  ev.type = *type;
  return std::optional<watch_event>{std::move(ev)};
}

awaitable<result<std::optional<watch_event>>> watch_stream::next(std::chrono::milliseconds idle_timeout) {
  for (;;) {
    auto ev = decoder_.next();
    if (!ev || *ev) co_return ev;
    constexpr std::size_t read_size = 64 * 1024;
    char* buf = decoder_.prepare(read_size);
    auto n = co_await body_->read_some(buf, read_size, idle_timeout);
    if (!n) co_return unexpected(std::move(n).error());
    if (*n == 0) {
      if (decoder_.pending() > 0)
        co_return fail(errc::transport, "watch stream ended in the middle of an event");
      co_return std::optional<watch_event>{};
    }
    decoder_.commit(*n);
  }
}

}  // namespace krt::kube
