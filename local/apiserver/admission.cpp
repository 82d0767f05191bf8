// The local plane's built-in admission for writes RBAC cannot scope to one
// object (issue #14 items 9 and 11).
//
// RBAC grants runtimed `patch` on pods/status and runs/status in its whole
// namespace: it has to, because the names of its pod and of the Runs it is
// given are not known when the Role is written. Kubernetes closes the same
// gap for kubelets with the NodeRestriction admission plugin (a node may
// modify only its own Node and the pods bound to it), and for pods with the
// pod binding of their service account tokens, which a
// ValidatingAdmissionPolicy can check through the user's extra
// authentication.kubernetes.io/pod-name. Here the rules are built in:
//
// - Only the node (the in-process kubelet, which is admin) sets where a pod
//   is reachable: status.podIP, podIPs, hostIP and hostIPs. The API server's
//   pods/proxy connects to status.podIP, so whoever could rewrite it could
//   point the proxy at any port of the host.
// - A token bound to a Runtime's pod (labelled `runtime`: runtimed's) may
//   write only that pod, and only the Runs assigned to it
//   (status.assignedPod, and assignedPodUID when set), and may not assign
//   them elsewhere: runtimed of one Runtime cannot rewrite the status of
//   another Runtime's Runs. The services' pods are not Runtime pods: the
//   scheduler assigns any Run.
#include "local/apiserver/server_internal.hpp"

namespace krt::local {

namespace {

constexpr std::string_view kruntimes_group = "kruntimes.io";

const bj::value* status_field(const bj::object& o, std::string_view key) {
  const auto* st = o.if_contains("status");
  if (st == nullptr || !st->is_object()) return nullptr;
  return st->as_object().if_contains(key);
}

bool same(const bj::value* a, const bj::value* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return *a == *b;
}

}  // namespace

std::string api_server::restriction_error(const user_info& user, const request_target& t, const bj::object& old,
                                          const bj::object& next) const {
  if (user.admin) return {};
  const bool pods = t.group.empty() && t.plural == "pods";
  const bool runs = t.group == kruntimes_group && t.plural == "runs";
  std::string what = pods ? "pods \"" + t.name + "\"" : t.plural + "." + t.group + " \"" + t.name + "\"";
  if (pods)
    for (const char* f : {"podIP", "podIPs", "hostIP", "hostIPs"})
      if (!same(status_field(old, f), status_field(next, f)))
        return what + " is forbidden: status." + f + " is set by the node; user \"" + user.name +
               "\" may not change it";
  if (user.pod_uid.empty() || user.pod_runtime.empty()) return {};
  const std::string bound = t.ns + "/" + user.pod_name;
  if (pods && t.name != user.pod_name)
    return what + " is forbidden: user \"" + user.name + "\" holds a token bound to pod \"" + bound +
           "\" and may write only that pod";
  if (runs) {
    std::string assigned = string_of(status_field(old, "assignedPod"));
    std::string assigned_uid = string_of(status_field(old, "assignedPodUID"));
    if (assigned != user.pod_name || (!assigned_uid.empty() && assigned_uid != user.pod_uid))
      return what + " is forbidden: user \"" + user.name + "\" holds a token bound to pod \"" + bound +
             "\" and may write only the Runs assigned to it (this Run's status.assignedPod is \"" + assigned + "\")";
    if (string_of(status_field(next, "assignedPod")) != assigned ||
        string_of(status_field(next, "assignedPodUID")) != assigned_uid)
      return what + " is forbidden: user \"" + user.name + "\" holds a token bound to pod \"" + bound +
             "\" and may not change status.assignedPod or status.assignedPodUID";
  }
  return {};
}

}  // namespace krt::local
