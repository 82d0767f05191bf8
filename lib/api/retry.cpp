// Retry decisions and failure wording (SPEC.md §4).
#include "lib/api/retry.hpp"

#include <algorithm>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"

namespace krt::api {
namespace {

constexpr std::chrono::microseconds default_backoff = std::chrono::seconds(1);
constexpr std::chrono::microseconds max_backoff = std::chrono::seconds(60);
constexpr std::string_view ellipsis = "...";
constexpr std::string_view stderr_prefix = "runtime stderr: ";
constexpr std::string_view cut_marker = "... ";

// Whether s[i] starts a UTF-8 character (is not a continuation byte).
bool char_start(std::string_view s, std::size_t i) {
  return i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
}

// The longest prefix of valid UTF-8 `s` of at most n bytes ending on a character boundary.
std::string_view head(std::string_view s, std::size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && !char_start(s, n)) --n;
  return s.substr(0, n);
}

// The longest suffix of valid UTF-8 `s` of at most n bytes starting on a character boundary.
std::string_view tail(std::string_view s, std::size_t n) {
  if (n >= s.size()) return s;
  std::size_t start = s.size() - n;
  while (start < s.size() && !char_start(s, start)) ++start;
  return s.substr(start);
}

}  // namespace

bool should_retry(const std::optional<retry_policy>& p, std::int32_t current_attempt,
                  std::string_view reason) {
  if (reason == "Cancelled") return false;
  std::int32_t max_attempts = 1;
  if (p && p->max_attempts && *p->max_attempts > 0) max_attempts = *p->max_attempts;
  const std::int32_t current = current_attempt <= 0 ? 1 : current_attempt;
  if (current >= max_attempts) return false;
  if (!p || p->retryable_reasons.empty()) return true;
  return std::find(p->retryable_reasons.begin(), p->retryable_reasons.end(), reason) !=
         p->retryable_reasons.end();
}

std::chrono::microseconds retry_backoff(const std::optional<retry_policy>& p, std::int32_t attempt) {
  std::chrono::microseconds base = default_backoff;
  if (p && p->backoff) {
    if (auto d = parse_go_duration(*p->backoff); d && d->count() > 0) {
      base = std::chrono::duration_cast<std::chrono::microseconds>(*d);
      if (base.count() <= 0) base = std::chrono::microseconds(1);  // sub-microsecond, still positive
    }
  }
  const std::int32_t doublings = std::max(attempt - 2, 0);
  std::chrono::microseconds d = base;
  for (std::int32_t i = 0; i < doublings && d < max_backoff; ++i) d *= 2;
  return std::min(d, max_backoff);
}

std::string classify_failure(std::string_view error_message, std::int32_t exit_code) {
  if (error_message == "timeout" && exit_code == -1) return "Timeout";
  if (error_message == "no args or script provided" || error_message.starts_with("mkdir:") ||
      error_message.starts_with("git clone:") || error_message.starts_with("git checkout:") ||
      error_message.starts_with("write inline:")) {
    return "PrepareSource";
  }
  return "RuntimeError";
}

std::string cap_message(std::string_view msg, std::size_t max) {
  std::string s = repair_utf8(msg);
  if (s.size() <= max) return s;
  if (max < ellipsis.size()) return std::string(head(s, max));
  std::string out(head(s, max - ellipsis.size()));
  out += ellipsis;
  return out;
}

std::string failure_message(std::string_view error_message, std::string_view stderr_text) {
  if (!error_message.empty()) return cap_message(error_message);
  const std::string err = repair_utf8(trim(stderr_text));
  const std::string_view trimmed = trim(err);
  if (trimmed.empty()) return "runtime execution failed";
  const std::size_t budget = max_failure_message - stderr_prefix.size();
  std::string out(stderr_prefix);
  if (trimmed.size() <= budget) {
    out += trimmed;
  } else {
    out += cut_marker;
    out += tail(trimmed, budget - cut_marker.size());
  }
  return out;
}

}  // namespace krt::api
