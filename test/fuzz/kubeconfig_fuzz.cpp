// kubeconfig YAML (lib/kube/config.cpp), as a user's file or $KUBECONFIG
// could hold it: parsed with its current context, and with a named one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/kube/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A base directory that does not exist: file references fail cleanly.
  (void)krt::kube::parse_kubeconfig(text, "", "/nonexistent-kubeconfig-dir", "fuzz");
  (void)krt::kube::parse_kubeconfig(text, "c", "/nonexistent-kubeconfig-dir", "fuzz");
  return 0;
}
