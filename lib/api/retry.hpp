#pragma once
// Retry decisions and failure wording shared by runtimed and the stale reaper
// (SPEC.md §4 "Retry", "Failure classification", "Status message").
//
// Affinity: none (pure functions).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/api/types.hpp"

namespace krt::api {

// Byte cap on every failure message runtimed writes.
inline constexpr std::size_t max_failure_message = 1024;

// Whether a failure with `reason` at `current_attempt` (status.attempt; 0 reads
// as 1) gets another attempt under `p`. Never for Cancelled; never once
// current ≥ maxAttempts (default 1); with retryableReasons non-empty only the
// listed reasons retry.
bool should_retry(const std::optional<retry_policy>& p, std::int32_t current_attempt,
                  std::string_view reason);

// Delay before `attempt` (the attempt about to run): backoff·2^max(attempt−2,0),
// capped at 60s; backoff defaults to 1s when unset, unparsable or ≤0.
std::chrono::microseconds retry_backoff(const std::optional<retry_policy>& p, std::int32_t attempt);

// Timeout | PrepareSource | RuntimeError from a runtime's FAILED status.
std::string classify_failure(std::string_view error_message, std::int32_t exit_code);

// The Run message for a runtime failure: the error message, else
// "runtime stderr: <tail>", else "runtime execution failed"; ≤1024 bytes, valid UTF-8.
std::string failure_message(std::string_view error_message, std::string_view stderr_text);

// `msg` with invalid UTF-8 replaced and, when longer than `max` bytes, cut at a
// character boundary and ended with "..." (the result is ≤ max bytes).
std::string cap_message(std::string_view msg, std::size_t max = max_failure_message);

}  // namespace krt::api
