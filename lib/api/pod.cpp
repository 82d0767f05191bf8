#include "lib/api/pod.hpp"

#include "lib/api/types.hpp"
#include "lib/kube/codec_impl.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::api {

using json::od::value;

const kube::condition* pod_condition(const pod_view& p, std::string_view type) {
  for (const auto& c : p.conditions)
    if (c.type == type) return &c;
  return nullptr;
}

bool pod_ready(const pod_view& p) {
  const auto* c = pod_condition(p, "Ready");
  return c != nullptr && c->status == "True";
}

bool heartbeat_fresh(const pod_view& p, wall_time now, std::chrono::microseconds stale_after) {
  const auto* c = pod_condition(p, heartbeat_condition);
  if (c == nullptr || c->status != "True" || !c->last_probe_time) return false;
  return now - *c->last_probe_time <= stale_after;
}

bool pod_available(const pod_view& p, wall_time now, std::chrono::microseconds stale_after) {
  return p.phase == "Running" && !p.metadata.deletion_timestamp && pod_ready(p) &&
         heartbeat_fresh(p, now, stale_after);
}

json::result<void> decode(value v, pod_view& p) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> json::result<void> {
    if (k == "metadata") return kube::decode(f, p.metadata);
    if (k == "spec") {
      return json::for_each_field(f, [&](std::string_view sk, value sf) -> json::result<void> {
        if (sk == "nodeName") return json::read(sf, p.node_name);
        return {};
      });
    }
    if (k == "status") {
      return json::for_each_field(f, [&](std::string_view sk, value sf) -> json::result<void> {
        if (sk == "phase") return json::read(sf, p.phase);
        if (sk == "podIP") return json::read(sf, p.pod_ip);
        if (sk == "conditions") return kube::read_conditions(sf, p.conditions);
        return {};
      });
    }
    return {};
  });
}

}  // namespace krt::api

namespace krt::kube {
template <>
const type_codec& codec_of<api::pod_view>() {
  static const type_codec c = make_codec<api::pod_view>(resources::pods);
  return c;
}
}  // namespace krt::kube
