// The watch stream splitter and decoder (lib/kube/watch.cpp): bytes as a
// server could send them on a watch of Runs, fed in two parts at a split
// point taken from the first byte, then every event taken out until the
// decoder needs more or reports the stream unusable.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/api/types.hpp"
#include "lib/kube/watch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);
  krt::kube::watch_decoder d(krt::kube::codec_of<krt::api::run>(), 1 << 16);
  auto drain = [&] {
    for (int i = 0; i < 10000; ++i) {
      auto ev = d.next();
      if (!ev || !*ev) return ev.has_value();
    }
    return true;
  };
  d.feed(bytes.substr(0, split));
  if (!drain()) return 0;
  d.feed(bytes.substr(split));
  (void)drain();
  (void)d.pending();
  return 0;
}
