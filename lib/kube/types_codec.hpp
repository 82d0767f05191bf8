#pragma once
// Decoders for lib/kube types. Include only from decoder translation units.

#include "lib/json/decode.hpp"
#include "lib/kube/types.hpp"

namespace krt::kube {

json::result<void> decode(json::od::value v, owner_reference& out);
json::result<void> decode(json::od::value v, object_meta& out);
json::result<void> decode(json::od::value v, list_meta& out);
json::result<void> decode(json::od::value v, condition& out);
json::result<void> decode(json::od::value v, status& out);
json::result<void> decode(json::od::value v, lease& out);
json::result<void> read_time(json::od::value v, std::optional<wall_time>& out);
json::result<void> read_conditions(json::od::value v, std::vector<condition>& out);

}  // namespace krt::kube
