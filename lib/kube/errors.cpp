#include "lib/kube/errors.hpp"

#include <charconv>

#include "lib/core/strings.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::kube {

std::string_view to_string(errc c) {
  switch (c) {
    case errc::not_found: return "NotFound";
    case errc::already_exists: return "AlreadyExists";
    case errc::conflict: return "Conflict";
    case errc::invalid: return "Invalid";
    case errc::gone: return "Gone";
    case errc::too_many_requests: return "TooManyRequests";
    case errc::unauthorized: return "Unauthorized";
    case errc::forbidden: return "Forbidden";
    case errc::bad_request: return "BadRequest";
    case errc::method_not_allowed: return "MethodNotAllowed";
    case errc::unsupported_media_type: return "UnsupportedMediaType";
    case errc::request_too_large: return "RequestEntityTooLarge";
    case errc::server_error: return "InternalError";
    case errc::timeout: return "Timeout";
    case errc::transport: return "TransportError";
    case errc::decode: return "DecodeError";
    case errc::cancelled: return "Cancelled";
    case errc::config: return "ConfigError";
    case errc::other: return "Unknown";
  }
  return "Unknown";
}

bool error::retryable() const {
  switch (code) {
    case errc::too_many_requests:
    case errc::server_error:
    case errc::timeout:
    case errc::transport:
      return true;
    default:
      return false;
  }
}

std::string error::describe() const {
  std::string out(reason.empty() ? to_string(code) : std::string_view(reason));
  if (http_status != 0) out += " (" + std::to_string(http_status) + ")";
  if (!message.empty()) out += ": " + message;
  for (const auto& c : causes) {
    out += "\n  ";
    if (!c.field.empty()) out += c.field + ": ";
    out += c.message.empty() ? c.reason : c.message;
  }
  return out;
}

namespace {

errc classify(unsigned http_status, std::string_view reason) {
  switch (http_status) {
    case 400: return errc::bad_request;
    case 401: return errc::unauthorized;
    case 403: return errc::forbidden;
    case 404: return errc::not_found;
    case 405: return errc::method_not_allowed;
    case 409: return reason == "AlreadyExists" ? errc::already_exists : errc::conflict;
    case 410: return errc::gone;
    case 413: return errc::request_too_large;
    case 415: return errc::unsupported_media_type;
    case 422: return errc::invalid;
    case 429: return errc::too_many_requests;
    case 504: return errc::timeout;
    default:
      if (http_status >= 500) return errc::server_error;
      return errc::other;
  }
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view h) {
  h = trim(h);
  if (h.empty()) return std::nullopt;
  long long v = 0;
  auto r = std::from_chars(h.data(), h.data() + h.size(), v);
  if (r.ec != std::errc{} || r.ptr != h.data() + h.size() || v < 0) return std::nullopt;
  return std::chrono::seconds(v);
}

}  // namespace

error error_from_status(const status& s) {
  error e;
  e.http_status = s.code;
  e.reason = s.reason;
  e.message = s.message;
  e.causes = s.causes;
  e.code = classify(static_cast<unsigned>(s.code), s.reason);
  if (s.reason == "Expired" || s.reason == "Gone") e.code = errc::gone;
  if (s.retry_after_seconds > 0) e.retry_after = std::chrono::seconds(s.retry_after_seconds);
  return e;
}

error error_from_response(unsigned http_status, std::string& body, std::string_view retry_after_header) {
  status s;
  bool decoded = false;
  if (!body.empty() && trim(body).starts_with('{')) {
    auto r = json::parse(body, [&](json::od::value v) { return decode(v, s); });
    decoded = r.has_value() && (!s.message.empty() || !s.reason.empty());
  }
  error e;
  if (decoded) {
    if (s.code == 0) s.code = static_cast<std::int32_t>(http_status);
    e = error_from_status(s);
  } else {
    std::string_view text = trim(body);
    if (text.size() > 512) text = text.substr(0, 512);
    e.message = text.empty() ? "the server returned HTTP " + std::to_string(http_status) + " with no body"
                             : repair_utf8(text);
  }
  e.http_status = static_cast<int>(http_status);
  e.code = classify(http_status, e.reason);
  if (decoded && (s.reason == "Expired" || s.reason == "Gone")) e.code = errc::gone;
  if (auto ra = parse_retry_after(retry_after_header)) e.retry_after = *ra;
  return e;
}

}  // namespace krt::kube
