#pragma once
// Typed errors from the Kubernetes API (DESIGN §4): the HTTP status and the
// metav1.Status body become one value with a class (errc) callers switch on,
// plus whether retrying can help.
//
// Affinity: none (value types).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/kube/types.hpp"

namespace krt::kube {

enum class errc {
  not_found = 1,          // 404
  already_exists,         // 409 reason AlreadyExists
  conflict,               // 409 (resourceVersion or precondition mismatch)
  invalid,                // 422, with causes
  gone,                   // 410: resourceVersion too old (relist)
  too_many_requests,      // 429, with retry_after
  unauthorized,           // 401
  forbidden,              // 403
  bad_request,            // 400
  method_not_allowed,     // 405
  unsupported_media_type, // 415
  request_too_large,      // 413
  server_error,           // 5xx
  timeout,                // our deadline, or 504
  transport,              // connection refused/reset, TLS failure, malformed HTTP
  decode,                 // a 2xx body we could not decode
  cancelled,              // the caller was cancelled (shutdown)
  config,                 // unusable configuration (bad kubeconfig, missing CA)
  other,                  // any other HTTP status
};

std::string_view to_string(errc c);

struct error {
  errc code = errc::other;
  int http_status = 0;       // 0 when no response was received
  std::string reason;        // Status.reason, e.g. "NotFound"
  std::string message;       // human message (Status.message or transport detail)
  std::vector<status_cause> causes;
  std::optional<std::chrono::seconds> retry_after;

  // Worth retrying the same request: 429, 5xx, timeouts, transport failures.
  bool retryable() const;
  // "NotFound (404): runs.kruntimes.io \"x\" not found"
  std::string describe() const;
};

template <typename T>
using result = krt::result<T, error>;

inline unexpected<error> fail(errc code, std::string message) {
  error e;
  e.code = code;
  e.message = std::move(message);
  return unexpected<error>{std::move(e)};
}

// Builds the error for a non-2xx response; `body` is usually a Status object
// but may be anything (a proxy's HTML page, empty).
error error_from_response(unsigned http_status, std::string& body, std::string_view retry_after_header);
// The error carried by a metav1.Status (watch ERROR events).
error error_from_status(const status& s);

}  // namespace krt::kube
