#include "services/scheduler/bind_address.hpp"

#include <charconv>
#include <string_view>

namespace krt::scheduler {

std::optional<bind_address> parse_bind_address(const std::string& flag, const std::string& pod_ip, std::string& error) {
  error.clear();
  if (flag.empty() || flag == "0") return std::nullopt;
  auto colon = flag.rfind(':');
  if (colon == std::string::npos) {
    error = "bind address \"" + flag + "\" must be host:port or :port (or 0 to disable)";
    return std::nullopt;
  }
  bind_address out;
  out.host = flag.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty()) out.host = pod_ip.empty() ? "0.0.0.0" : pod_ip;
  std::string_view port = std::string_view(flag).substr(colon + 1);
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value > 65535 || port.empty()) {
    error = "bind address \"" + flag + "\" has an invalid port";
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

}  // namespace krt::scheduler
