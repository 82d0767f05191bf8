#pragma once
// Errors from decoding JSON: always a value, never an exception or a crash
// (malformed, truncated or mistyped input from the network is expected).
//
// Affinity: none (value types).

#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace krt::json {

enum class errc {
  malformed = 1,   // not JSON
  truncated,       // JSON that ends too early
  type_mismatch,   // a field of the wrong JSON type
  missing_field,   // a required field is absent
  out_of_range,    // a number that does not fit
  invalid_value,   // well-formed JSON whose value breaks a rule of the type
  too_large,       // over a configured size limit
};

std::string_view to_string(errc c);

struct error {
  errc code = errc::malformed;
  std::string path;     // JSON path of the offending value, e.g. ".spec.mode.task.args[2]"
  std::string message;  // human detail

  // "type_mismatch at .spec.timeout: expected string".
  std::string describe() const;
  // Prefixes a path segment while an error travels up the decoder stack.
  error& within(std::string_view segment);
};

template <typename T>
using result = krt::result<T, error>;

inline unexpected<error> fail(errc code, std::string message = {}) {
  return unexpected<error>{error{code, {}, std::move(message)}};
}

}  // namespace krt::json
