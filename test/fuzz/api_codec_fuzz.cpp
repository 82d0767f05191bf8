// The typed decoders of our own kinds (lib/api/codec.cpp) and of every
// object the informers read (lib/kube codecs): a Run, a Runtime and a List
// of Runs as the API server could send them. Decoding then re-encoding a
// Run must not crash either.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/api/types.hpp"
#include "lib/kube/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  {
    std::string text = input;
    if (auto r = krt::api::decode_run(text)) {
      (void)krt::api::encode(*r);
      (void)krt::api::encode_status_patch(*r);
    }
  }
  {
    std::string text = input;
    if (auto rt = krt::api::decode_runtime(text)) (void)krt::api::encode(*rt);
  }
  {
    std::string text = input;
    (void)krt::kube::decode_list(krt::kube::codec_of<krt::api::run>(), text);
  }
  return 0;
}
