#pragma once
// Wall-clock timestamps and durations in the formats the Kubernetes API uses:
// RFC 3339 (metav1.Time, metav1.MicroTime) and Go duration strings
// (metav1.Duration, e.g. "1m30s"). Kubernetes objects carry seconds; our own
// status timestamps carry microseconds (SPEC "Microsecond timestamps").
//
// Affinity: none (pure functions).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace krt {

using wall_time = std::chrono::sys_time<std::chrono::microseconds>;

// Current wall-clock time truncated to microseconds.
wall_time wall_now();

// "2026-11-22T04:53:43Z" (whole seconds, metav1.Time).
std::string format_rfc3339(wall_time t);
// "2026-11-22T04:53:43.123456Z" (always six digits, metav1.MicroTime).
std::string format_rfc3339_micro(wall_time t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)", 't'/'z' in either case and a
// space instead of 'T'; fractions beyond microseconds are truncated.
std::optional<wall_time> parse_rfc3339(std::string_view s);

// Go's time.ParseDuration: "300ms", "-1.5h", "2h45m", units ns us µs μs ms s m h.
std::optional<std::chrono::nanoseconds> parse_go_duration(std::string_view s);
// Go's time.Duration.String(): "1h0m0s", "1.5s", "500ms", "0s".
std::string format_go_duration(std::chrono::nanoseconds d);

// kubectl's short age ("5s", "3m", "2d4h"), as the API server formats Table ages.
std::string format_age(std::chrono::seconds age);

}  // namespace krt
