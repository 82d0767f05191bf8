#include "services/controller/objects.hpp"

#include "lib/kube/codec_impl.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::controller {

namespace bj = boost::json;

namespace resources {
const kube::resource deployments{"apps", "v1", "deployments", "Deployment", true};
const kube::resource service_accounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
const kube::resource roles{"rbac.authorization.k8s.io", "v1", "roles", "Role", true};
const kube::resource role_bindings{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true};
const kube::resource network_policies{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true};
}  // namespace resources

json::result<void> decode(json::od::value v, raw_object& o) {
  return json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
    if (k == "metadata") {
      std::string text;
      auto r = json::read_raw(f, text);
      if (!r) return r;
      o.fields["metadata"] = text;
      return json::parse_nested(text, [&](json::od::value m) { return kube::decode(m, o.metadata); });
    }
    std::string text;
    auto r = json::read_raw(f, text);
    if (!r) return r;
    o.fields[std::string(k)] = std::move(text);
    return {};
  });
}

bj::object to_json(const raw_object& o) {
  bj::object out;
  for (const auto& [k, text] : o.fields) {
    boost::system::error_code ec;
    auto v = bj::parse(text, ec);
    if (!ec) out[k] = std::move(v);
  }
  return out;
}

const kube::type_codec& raw_codec(const kube::resource& res) {
  static const kube::type_codec deployments = kube::make_codec<raw_object>(resources::deployments);
  static const kube::type_codec service_accounts = kube::make_codec<raw_object>(resources::service_accounts);
  static const kube::type_codec roles = kube::make_codec<raw_object>(resources::roles);
  static const kube::type_codec role_bindings = kube::make_codec<raw_object>(resources::role_bindings);
  static const kube::type_codec network_policies = kube::make_codec<raw_object>(resources::network_policies);
  if (&res == &resources::deployments) return deployments;
  if (&res == &resources::service_accounts) return service_accounts;
  if (&res == &resources::roles) return roles;
  if (&res == &resources::role_bindings) return role_bindings;
  return network_policies;
}

}  // namespace krt::controller
