#pragma once
// Names the node's controllers and pod runtime share. The JSON read helpers
// (field_at, string_of, int_of, meta_string) live in local/apiserver/json.hpp.

#include <string>

#include "local/apiserver/json.hpp"

namespace krt::local::node {

inline const std::string pods_key = "/pods";

}  // namespace krt::local::node
