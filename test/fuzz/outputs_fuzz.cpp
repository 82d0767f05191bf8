// The outputs file a Run writes ($KRUNTIME_OUTPUTS, sidecar/prep/outputs.cpp):
// key=value lines and heredoc blocks, as untrusted Run code can write them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/prep/outputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)krt::runtimed::parse_outputs(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
