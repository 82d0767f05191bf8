#pragma once
// The --metrics-bind-address / --health-probe-bind-address syntax of
// controller-runtime, plus run-path.md's rule for the local control plane:
// ":PORT" binds $POD_IP when that is set (each pod has its own loopback
// address there), else every interface.
//
// Affinity: none (pure function).

#include <cstdint>
#include <optional>
#include <string>

namespace krt::scheduler {

// ":8080" → (pod_ip or 0.0.0.0, 8080); "host:port" → as given; "" or "0" →
// nullopt with `error` empty (disabled); anything else → nullopt with `error`.
struct bind_address {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<bind_address> parse_bind_address(const std::string& flag, const std::string& pod_ip, std::string& error);

}  // namespace krt::scheduler
