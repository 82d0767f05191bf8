#pragma once
// An opaque handle to a simdjson On-Demand value, so interfaces (type codecs)
// can pass a value through headers that must not include simdjson.
// decode.hpp's unwrap() turns it back into the value.

namespace krt::json {
struct value_ref {
  void* impl = nullptr;
};
}  // namespace krt::json
