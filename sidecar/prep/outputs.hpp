#pragma once
// The task outputs file (KRUNTIME_OUTPUTS): KEY=VALUE lines parsed with the
// exact limits and reasons of SPEC.md §4 "Outputs".
//
// Affinity: none (pure functions; read_outputs_file blocks on the file system).

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace krt::runtimed {

inline constexpr std::size_t max_output_key_bytes = 128;
inline constexpr std::size_t max_output_value_bytes = 8192;
inline constexpr std::size_t max_output_keys = 64;
inline constexpr std::size_t max_output_total_bytes = 65536;
inline constexpr std::size_t max_outputs_file_bytes = 1 << 20;

struct outputs_error {
  std::string reason;  // OutputsInvalid | OutputsTooLarge
  std::string message;
};

krt::result<std::map<std::string, std::string>, outputs_error> parse_outputs(std::string_view content);

// A missing or empty file gives no outputs; an unreadable one is
// OutputsInvalid; a file over 1 MiB is OutputsTooLarge without being read.
krt::result<std::map<std::string, std::string>, outputs_error> read_outputs_file(const std::string& path);

}  // namespace krt::runtimed
