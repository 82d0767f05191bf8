#include "services/controller/cleanup_build.hpp"

#include <algorithm>

#include "lib/api/phase.hpp"
#include "lib/api/store_hash.hpp"
#include "services/controller/build.hpp"

namespace krt::controller {

std::optional<wall_time> ttl_due(const api::run& r) {
  if (r.metadata.deletion_timestamp) return std::nullopt;
  if (!api::is_terminal(api::phase_of(r.status))) return std::nullopt;
  if (!r.status.completion_time) return std::nullopt;
  if (!r.spec.ttl_seconds_after_finished || *r.spec.ttl_seconds_after_finished <= 0) return std::nullopt;
  return *r.status.completion_time + std::chrono::seconds(*r.spec.ttl_seconds_after_finished);
}

std::optional<std::chrono::microseconds> ttl_remaining(const api::run& r, wall_time now) {
  auto due = ttl_due(r);
  if (!due) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(*due - now);
}

bool has_cleanup_finalizer(const api::run& r) {
  const auto& f = r.metadata.finalizers;
  return std::find(f.begin(), f.end(), api::artifact_cleanup_finalizer) != f.end();
}

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    auto comma = v.find(',', pos);
    if (comma == std::string_view::npos) comma = v.size();
    auto item = v.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    pos = comma + 1;
  }
  return out;
}

std::string maintainer_deployment_name(std::string_view hash) {
  return std::string(maintainer_deployment_prefix) + std::string(hash);
}

namespace {

bj::object common_labels() {
  return bj::object{{"app.kubernetes.io/name", "kruntimes"}, {"app.kubernetes.io/component", "runtime-maintainer"}};
}

bj::object meta(std::string_view name, std::string_view ns, bj::object labels) {
  return bj::object{{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}};
}

bj::object rule(std::string_view group, std::string_view resource, bj::array verbs) {
  return bj::object{{"apiGroups", bj::array{group}}, {"resources", bj::array{resource}}, {"verbs", std::move(verbs)}};
}

}  // namespace

bj::object build_maintainer_service_account(std::string_view ns) {
  return bj::object{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", meta(maintainer_name, ns, common_labels())}};
}

bj::object build_maintainer_role(std::string_view ns) {
  bj::array rules;
  // runs list: every --interval the maintainer lists its namespace's Runs
  // (and once in --run-uid mode). runs patch: the JSON merge patch that
  // removes kruntimes.io/artifact-cleanup with a resourceVersion precondition.
  rules.push_back(rule("kruntimes.io", "runs", bj::array{"list", "patch"}));
  // events: the ArtifactsDeleted Event on each cleaned Run.
  rules.push_back(rule("", "events", bj::array{"create"}));
  return bj::object{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                    {"kind", "Role"},
                    {"metadata", meta(maintainer_name, ns, common_labels())},
                    {"rules", std::move(rules)}};
}

bj::object build_maintainer_role_binding(std::string_view ns) {
  return bj::object{
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", meta(maintainer_name, ns, common_labels())},
      {"roleRef", bj::object{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", maintainer_name}}},
      {"subjects", bj::array{bj::object{{"kind", "ServiceAccount"}, {"name", maintainer_name}, {"namespace", ns}}}},
  };
}

std::vector<std::string> maintainer_args(std::string_view ns, std::string_view hash, std::string_view claim) {
  return {
      "--run-namespace=" + std::string(ns),
      "--store-hash=" + std::string(hash),
      "--driver=filesystem",
      "--filesystem-root=" + std::string(artifact_root),
      "--filesystem-volume-claim=" + std::string(claim),
  };
}

bj::object build_maintainer_deployment(std::string_view ns, const api::artifact_store_spec& store,
                                       const maintainer_options& o) {
  if (store.driver != "filesystem") return {};
  std::string hash = api::store_hash(store);
  std::string claim = store.fs_volume_claim.value_or("");
  bj::object labels = common_labels();
  labels[store_hash_label] = hash;

  bj::array args;
  for (auto& a : maintainer_args(ns, hash, claim)) args.emplace_back(a);
  // Like runtimed's container: non-root, read-only root, no privileges.
  bj::object csc{
      {"allowPrivilegeEscalation", false},
      {"readOnlyRootFilesystem", true},
      {"runAsNonRoot", true},
      {"capabilities", bj::object{{"drop", bj::array{"ALL"}}}},
      {"seccompProfile", bj::object{{"type", "RuntimeDefault"}}},
  };
  // No command: the image's entrypoint is the maintainer (on the local node
  // the image maps to the kruntimes-maintainer binary; a command would
  // replace it).
  bj::object container{
      {"name", maintainer_container},
      {"image", o.image.empty() ? std::string(fallback_maintainer_image) : o.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"args", std::move(args)},
      {"env", bj::array{bj::object{{"name", "POD_NAMESPACE"},
                                   {"valueFrom", bj::object{{"fieldRef", bj::object{{"fieldPath", "metadata.namespace"}}}}}}}},
      {"volumeMounts", bj::array{bj::object{{"name", artifact_volume}, {"mountPath", artifact_root}}}},
      {"resources", bj::object{{"requests", bj::object{{"cpu", "25m"}, {"memory", "32Mi"}}},
                               {"limits", bj::object{{"cpu", "250m"}, {"memory", "128Mi"}}}}},
      {"securityContext", std::move(csc)},
  };
  bj::object pod_spec{
      {"serviceAccountName", maintainer_name},
      {"securityContext", bj::object{{"fsGroup", artifact_fs_group}, {"fsGroupChangePolicy", "OnRootMismatch"}}},
      {"containers", bj::array{std::move(container)}},
      {"volumes", bj::array{bj::object{{"name", artifact_volume},
                                       {"persistentVolumeClaim", bj::object{{"claimName", claim}}}}}},
  };
  if (!o.pull_secrets.empty()) {
    bj::array secrets;
    for (const auto& s : o.pull_secrets) secrets.push_back(bj::object{{"name", s}});
    pod_spec["imagePullSecrets"] = std::move(secrets);
  }
  return bj::object{
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", meta(maintainer_deployment_name(hash), ns, labels)},
      {"spec", bj::object{{"replicas", 1},
                          {"selector", bj::object{{"matchLabels", labels}}},
                          {"template", bj::object{{"metadata", bj::object{{"labels", labels}}},
                                                  {"spec", std::move(pod_spec)}}}}},
  };
}

}  // namespace krt::controller
