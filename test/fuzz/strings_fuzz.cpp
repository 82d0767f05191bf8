// The string decoders every request passes through (lib/core/strings.cpp):
// base64 (Secret data, tokens, continue tokens), URL unescaping (paths and
// query strings) and UTF-8 checks. Round trips must hold.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/core/strings.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto b = krt::base64_decode(in)) {
    auto again = krt::base64_decode(krt::base64_encode(*b));
    if (!again || *again != *b) __builtin_trap();
  }
  (void)krt::url_unescape(in, true);
  if (auto u = krt::url_unescape(in, false)) {
    auto back = krt::url_unescape(krt::url_escape(*u), false);
    if (!back || *back != *u) __builtin_trap();
  }
  auto repaired = krt::repair_utf8(in);
  if (!krt::valid_utf8(repaired)) __builtin_trap();
  (void)krt::split(in, '/');
  (void)krt::trim(in);
  return 0;
}
