#pragma once
// Watch streams (DESIGN §4): newline-delimited {"type","object"} events
// decoded incrementally with simdjson as bytes arrive, whatever the chunking.
// BOOKMARK events carry only a resourceVersion; ERROR events carry a Status
// (410 Gone means "relist").
//
// Affinity: per-shard (one owner).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "lib/json/line_buffer.hpp"
#include "lib/kube/codec.hpp"
#include "lib/kube/errors.hpp"
#include "lib/kube/transport.hpp"

namespace krt::kube {

enum class event_type { added, modified, deleted, bookmark, error };
std::string_view to_string(event_type t);

struct watch_event {
  event_type type = event_type::added;
  decoded_object object;          // added, modified, deleted
  std::string resource_version;   // every event but error
  error status;                   // error events
  // Set (with `type` and `resource_version`) instead of `object` when the
  // event is well-formed but its object does not decode as the type.
  std::optional<undecodable_object> undecodable;
};

// Bytes in, events out; no I/O.
class watch_decoder {
 public:
  explicit watch_decoder(const type_codec& codec, std::size_t max_event_bytes = 64 * 1024 * 1024)
      : codec_(codec), lines_(max_event_bytes) {}

  char* prepare(std::size_t n) { return lines_.prepare(n); }
  void commit(std::size_t n) { lines_.commit(n); }
  void feed(std::string_view bytes) { lines_.append(bytes); }

  // The next complete event; nullopt when more bytes are needed. A line that
  // is not a valid event is an errc::decode error (the stream is unusable).
  result<std::optional<watch_event>> next();
  // Bytes of an incomplete event at the end of the input.
  std::size_t pending() const { return lines_.pending(); }
  bool overflowed() const { return lines_.overflowed(); }

 private:
  const type_codec& codec_;
  json::line_buffer lines_;
};

class watch_stream {
 public:
  watch_stream(std::unique_ptr<body_stream> body, const type_codec& codec) : body_(std::move(body)), decoder_(codec) {}

  // The next event; nullopt when the server ended the stream cleanly.
  // idle_timeout bounds the wait for bytes (errc::timeout).
  awaitable<result<std::optional<watch_event>>> next(std::chrono::milliseconds idle_timeout);
  void close() { body_->close(); }

 private:
  std::unique_ptr<body_stream> body_;
  watch_decoder decoder_;
};

}  // namespace krt::kube
