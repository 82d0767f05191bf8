#pragma once
// Validation mirroring the CRD (SPEC §1): the OpenAPI limits and the CEL
// rules of runs.kruntimes.io and runtimes.kruntimes.io, with the CRD's own
// messages where it has them. Services use it to reject what an API server
// without our CRD (or an older CRD) would let through.
//
// Not mirrored: spec.workspace and spec.affinity are out of scope (DESIGN §1)
// and pass through unchecked.
//
// Affinity: none (pure functions).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/core/result.hpp"

namespace krt::api {

struct field_error {
  std::string field;    // e.g. "spec.mode.task.args[3]"
  std::string message;
  bool operator==(const field_error&) const = default;
};

std::vector<field_error> validate_run(const run& r);
std::vector<field_error> validate_run_update(const run& old_run, const run& new_run);
std::vector<field_error> validate_runtime(const runtime& r);

// The CRD's immutability message (SPEC §1).
inline constexpr std::string_view immutable_message =
    "runtime, source, mode, env, timeout, retryPolicy, and resources are immutable after Run creation";

// Kubernetes resource.Quantity text ("2", "500m", "1Ki", "1e3") as a number.
std::optional<long double> parse_quantity(std::string_view q);
// The quantity as an exact integer, or nullopt if invalid or fractional.
std::optional<std::int64_t> quantity_as_integer(std::string_view q);

// The scheduler's reading of spec.resources.requests (SPEC §3 step 3): a
// missing or non-positive `runs` becomes 1, zero requests are dropped, and a
// negative or fractional request is an error with the InvalidResources message.
krt::result<std::map<std::string, std::int64_t>, std::string> effective_requests(const run_spec& spec);

// A pod's capacity from its kruntimes.io/capacity.<res> annotations: positive
// parsable quantities only (floored, capped at 2^63-1), plus runs=2 when the
// pod does not advertise runs (SPEC §3 step 6).
std::map<std::string, std::int64_t> pod_capacity(const std::map<std::string, std::string>& annotations);

bool is_dns_subdomain(std::string_view s);
bool is_dns_label(std::string_view s);

}  // namespace krt::api
