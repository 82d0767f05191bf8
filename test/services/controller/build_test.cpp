// The pure half of the Runtime controller: Runtime → Deployment and the
// objects around it (SPEC §6, docs/run-path.md "Addresses inside a Runtime Pod").
#include "services/controller/build.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "lib/api/types.hpp"
#include "services/controller/controller.hpp"

namespace krt::controller {
namespace {

api::runtime decode(std::string text) {
  auto r = api::decode_runtime(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().describe());
  return r ? *r : api::runtime{};
}

const char* basic = R"js({
  "apiVersion": "kruntimes.io/v1alpha1", "kind": "Runtime",
  "metadata": {"name": "bash", "namespace": "team", "uid": "uid-1", "generation": 3},
  "spec": {
    "port": 9091, "replicas": 2,
    "capacity": {"resources": {"runs": "4", "gpu": "0", "memory": "1Gi"}},
    "template": {
      "metadata": {"labels": {"team": "x", "runtime": "spoofed"}, "annotations": {"note": "n"}},
      "spec": {
        "containers": [
          {"name": "runtime", "image": "kruntimes/bash-runtime:0.1.0",
           "env": [{"name": "GREETING", "value": "hi $(POD_IP)"}, {"name": "POD_IP", "value": "1.2.3.4"}],
           "volumeMounts": [{"name": "artifact-store", "mountPath": "/x"}, {"name": "data", "mountPath": "/data"}]},
          {"name": "runtimed", "image": "someone/else"},
          {"name": "helper", "image": "busybox",
           "volumeMounts": [{"name": "artifact-store", "mountPath": "/y"}]}
        ],
        "initContainers": [{"name": "init", "image": "busybox",
                            "volumeMounts": [{"name": "artifact-store", "mountPath": "/z"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "workspace", "hostPath": {"path": "/tmp"}},
                    {"name": "artifact-store", "emptyDir": {}}]
      }
    }
  }
})js";

const bj::object& obj(const bj::value& v, std::string_view k) { return v.as_object().at(k).as_object(); }
const bj::array& arr(const bj::value& v, std::string_view k) { return v.as_object().at(k).as_array(); }
std::string str(const bj::value& v, std::string_view k) { return std::string(v.as_object().at(k).as_string()); }
// Overloads for objects, so no temporary bj::value is made (and referenced).
const bj::object& obj(const bj::object& o, std::string_view k) { return o.at(k).as_object(); }
const bj::array& arr(const bj::object& o, std::string_view k) { return o.at(k).as_array(); }
std::string str(const bj::object& o, std::string_view k) { return std::string(o.at(k).as_string()); }

std::vector<std::string> names(const bj::array& a) {
  std::vector<std::string> out;
  for (const auto& x : a) out.push_back(str(x, "name"));
  return out;
}

const bj::value& named(const bj::array& a, std::string_view name) {
  for (const auto& x : a)
    if (str(x, "name") == name) return x;
  static const bj::value none;
  ADD_FAILURE() << "no element named " << name;
  return none;
}

std::vector<std::string> strings(const bj::array& a) {
  std::vector<std::string> out;
  for (const auto& x : a) out.emplace_back(x.as_string());
  return out;
}

bj::value deployment(const api::runtime& rt, build_options o = {}) {
  auto d = build_deployment(rt, o);
  EXPECT_TRUE(d) << (d ? "" : d.error());
  return d ? bj::value(*d) : bj::value();
}

const bj::value& pod_spec(const bj::value& d) { return obj(obj(d, "spec"), "template").at("spec"); }

TEST(BuildDeployment, MetadataSelectorReplicasAndOwner) {
  auto rt = decode(basic);
  auto d = deployment(rt);
  EXPECT_EQ(str(d, "apiVersion"), "apps/v1");
  EXPECT_EQ(str(d, "kind"), "Deployment");
  const auto& meta = d.at("metadata");
  EXPECT_EQ(str(meta, "name"), "runtime-bash");
  EXPECT_EQ(str(meta, "namespace"), "team");
  EXPECT_EQ(obj(meta, "labels"), (bj::object{{"runtime", "bash"}, {"app", "kruntimes-bash"}}));
  const auto& owner = arr(meta, "ownerReferences").at(0);
  EXPECT_EQ(str(owner, "apiVersion"), "kruntimes.io/v1alpha1");
  EXPECT_EQ(str(owner, "kind"), "Runtime");
  EXPECT_EQ(str(owner, "name"), "bash");
  EXPECT_EQ(str(owner, "uid"), "uid-1");
  EXPECT_TRUE(owner.at("controller").as_bool());
  EXPECT_TRUE(owner.at("blockOwnerDeletion").as_bool());
  const auto& spec = d.at("spec");
  EXPECT_EQ(spec.at("replicas").as_int64(), 2);
  EXPECT_EQ(obj(obj(spec, "selector"), "matchLabels"), (bj::object{{"runtime", "bash"}, {"app", "kruntimes-bash"}}));
}

TEST(BuildDeployment, PodLabelsSelectorWinsAndCapacityAnnotations) {
  auto d = deployment(decode(basic));
  const auto& meta = obj(obj(d, "spec"), "template").at("metadata");
  EXPECT_EQ(obj(meta, "labels"), (bj::object{{"team", "x"}, {"runtime", "bash"}, {"app", "kruntimes-bash"}}));
  // Positive capacities only: gpu=0 is left out.
  EXPECT_EQ(obj(meta, "annotations"), (bj::object{{"note", "n"},
                                                  {"kruntimes.io/capacity.runs", "4"},
                                                  {"kruntimes.io/capacity.memory", "1Gi"}}));
}

TEST(BuildDeployment, ContainerOrderDropsUserRuntimed) {
  auto d = deployment(decode(basic));
  EXPECT_EQ(names(arr(pod_spec(d), "containers")), (std::vector<std::string>{"runtime", "helper", "runtimed"}));
  EXPECT_EQ(str(named(arr(pod_spec(d), "containers"), "runtimed"), "image"), "kruntimes/runtimed:0.1.0");
}

TEST(BuildDeployment, ArtifactStoreMountsOnlyInRuntimed) {
  auto d = deployment(decode(basic));
  const auto& cs = arr(pod_spec(d), "containers");
  EXPECT_EQ(names(arr(named(cs, "runtime"), "volumeMounts")), (std::vector<std::string>{"data", "workspace"}));
  EXPECT_FALSE(named(cs, "helper").as_object().contains("volumeMounts") &&
               !arr(named(cs, "helper"), "volumeMounts").empty());
  EXPECT_TRUE(arr(arr(pod_spec(d), "initContainers").at(0), "volumeMounts").empty());
}

TEST(BuildDeployment, RuntimeContainerDefaults) {
  auto d = deployment(decode(basic));
  const auto& c = named(arr(pod_spec(d), "containers"), "runtime");
  EXPECT_EQ(arr(c, "ports"), (bj::array{bj::object{{"name", "grpc"}, {"containerPort", 9091}, {"protocol", "TCP"}}}));
  // Probed through runtimed's Health check of the server, not a TCP port
  // the built-in servers no longer open.
  EXPECT_EQ(obj(c, "livenessProbe"), (bj::object{{"httpGet", bj::object{{"path", "/runtimez"}, {"port", 9094}}},
                                                {"initialDelaySeconds", 5},
                                                {"periodSeconds", 10},
                                                {"failureThreshold", 6}}));
  EXPECT_EQ(obj(c, "readinessProbe"), (bj::object{{"httpGet", bj::object{{"path", "/runtimez"}, {"port", 9094}}},
                                                 {"initialDelaySeconds", 1},
                                                 {"periodSeconds", 5},
                                                 {"failureThreshold", 3}}));
  const auto& sc = c.at("securityContext");
  EXPECT_TRUE(sc.at("readOnlyRootFilesystem").as_bool());
  EXPECT_TRUE(sc.at("runAsNonRoot").as_bool());
  EXPECT_FALSE(sc.at("allowPrivilegeEscalation").as_bool());
  EXPECT_EQ(arr(obj(sc, "capabilities"), "drop"), (bj::array{"ALL"}));
  EXPECT_EQ(str(obj(sc, "seccompProfile"), "type"), "RuntimeDefault");
  EXPECT_EQ(obj(c, "resources"), (bj::object{{"requests", bj::object{{"cpu", "250m"}, {"memory", "256Mi"}}},
                                            {"limits", bj::object{{"cpu", "2"}, {"memory", "2Gi"}}}}));
  EXPECT_EQ(named(arr(c, "volumeMounts"), "workspace").at("mountPath"), "/workspace");
}

TEST(BuildDeployment, UserValuesAreKept) {
  auto rt = decode(R"js({"metadata": {"name": "py", "namespace": "ns", "uid": "u"},
    "spec": {"port": 7000, "template": {"spec": {"containers": [{"name": "runtime", "image": "img",
      "ports": [{"name": "grpc", "containerPort": 1}, {"name": "metrics", "containerPort": 9}],
      "livenessProbe": {"exec": {"command": ["true"]}},
      "securityContext": {"runAsUser": 1000},
      "resources": {"limits": {"cpu": "1"}}}]}}}})js");
  auto d = deployment(rt);
  const auto& c = named(arr(pod_spec(d), "containers"), "runtime");
  EXPECT_EQ(arr(c, "ports"), (bj::array{bj::object{{"name", "grpc"}, {"containerPort", 7000}, {"protocol", "TCP"}},
                                        bj::object{{"name", "metrics"}, {"containerPort", 9}}}));
  EXPECT_EQ(obj(c, "livenessProbe"), (bj::object{{"exec", bj::object{{"command", bj::array{"true"}}}}}));
  EXPECT_TRUE(c.as_object().contains("readinessProbe"));
  EXPECT_EQ(obj(c, "securityContext"), (bj::object{{"runAsUser", 1000}}));
  EXPECT_EQ(obj(c, "resources"), (bj::object{{"limits", bj::object{{"cpu", "1"}}}}));
  EXPECT_EQ(obj(d, "spec").at("replicas").as_int64(), 1);
}

TEST(BuildDeployment, EnvInjectedFirstInBothContainers) {
  auto d = deployment(decode(basic));
  const auto& cs = arr(pod_spec(d), "containers");
  const auto& renv = arr(named(cs, "runtime"), "env");
  EXPECT_EQ(names(renv), (std::vector<std::string>{"POD_NAME", "HOSTNAME", "POD_NAMESPACE", "POD_UID", "POD_IP",
                                                   "KRUNTIMES_RUNTIME_SOCKET", "GREETING"}));
  auto field = [](const bj::value& e) { return str(obj(obj(e, "valueFrom"), "fieldRef"), "fieldPath"); };
  EXPECT_EQ(field(named(renv, "POD_IP")), "status.podIP");
  EXPECT_EQ(field(named(renv, "POD_UID")), "metadata.uid");
  EXPECT_EQ(field(named(renv, "HOSTNAME")), "metadata.name");
  EXPECT_EQ(field(named(renv, "POD_NAMESPACE")), "metadata.namespace");
  EXPECT_EQ(str(named(renv, "KRUNTIMES_RUNTIME_SOCKET"), "value"), "unix-abstract:kruntimes-$(POD_UID)");
  const auto& denv = arr(named(cs, "runtimed"), "env");
  EXPECT_EQ(names(denv), (std::vector<std::string>{"POD_NAME", "HOSTNAME", "POD_NAMESPACE", "POD_UID", "POD_IP"}));
}

TEST(BuildDeployment, RuntimedContainer) {
  build_options o;
  o.default_daemon_image = "registry/runtimed:9";
  auto d = deployment(decode(basic), o);
  const auto& c = named(arr(pod_spec(d), "containers"), "runtimed");
  EXPECT_EQ(str(c, "image"), "registry/runtimed:9");
  EXPECT_EQ(str(c, "imagePullPolicy"), "IfNotPresent");
  EXPECT_EQ(strings(arr(c, "args")),
            (std::vector<std::string>{"--runtime-endpoint=$(POD_IP):9091",
                                      "--runtime-socket=unix-abstract:kruntimes-$(POD_UID)",
                                      "--health-probe-bind-address=$(POD_IP):9094", "--runtime-name=bash",
                                      "--workspace-dir=/workspace", "--workers=4"}));
  EXPECT_EQ(arr(c, "ports"), (bj::array{bj::object{{"name", "health"}, {"containerPort", 9094}, {"protocol", "TCP"}}}));
  EXPECT_EQ(obj(c, "livenessProbe"), (bj::object{{"httpGet", bj::object{{"path", "/healthz"}, {"port", "health"}}},
                                                {"initialDelaySeconds", 5},
                                                {"periodSeconds", 10}}));
  EXPECT_EQ(obj(c, "readinessProbe"), (bj::object{{"httpGet", bj::object{{"path", "/readyz"}, {"port", "health"}}},
                                                 {"initialDelaySeconds", 1},
                                                 {"periodSeconds", 5}}));
  EXPECT_EQ(obj(c, "resources"), (bj::object{{"requests", bj::object{{"cpu", "100m"}, {"memory", "128Mi"}}},
                                            {"limits", bj::object{{"cpu", "500m"}, {"memory", "256Mi"}}}}));
  EXPECT_EQ(names(arr(c, "volumeMounts")), (std::vector<std::string>{"workspace", "kruntimes-api-access"}));
  EXPECT_TRUE(c.at("securityContext").at("readOnlyRootFilesystem").as_bool());
}

TEST(BuildDeployment, OnlyRuntimedGetsAnAPIToken) {
  auto d = deployment(decode(basic));
  const auto& ps = pod_spec(d).as_object();
  EXPECT_FALSE(ps.at("automountServiceAccountToken").as_bool());
  const auto& vol = named(arr(ps, "volumes"), "kruntimes-api-access").as_object();
  std::vector<std::string> kinds;
  for (const auto& s : arr(obj(vol, "projected"), "sources")) kinds.push_back(std::string(s.as_object().begin()->key()));
  EXPECT_EQ(kinds, (std::vector<std::string>{"serviceAccountToken", "configMap", "downwardAPI"}));
  for (const auto& c : arr(ps, "containers")) {
    bool mounted = false;
    if (const auto* ms = c.as_object().if_contains("volumeMounts"))
      for (const auto& m : ms->as_array())
        if (str(m, "name") == "kruntimes-api-access") {
          mounted = true;
          EXPECT_EQ(str(m, "mountPath"), "/var/run/secrets/kubernetes.io/serviceaccount");
          EXPECT_TRUE(m.at("readOnly").as_bool());
        }
    EXPECT_EQ(mounted, str(c, "name") == "runtimed") << str(c, "name");
  }
}

TEST(BuildDeployment, TemplateAskingForTokensEverywhereKeepsThem) {
  auto rt = decode(basic);
  auto t = bj::parse(*rt.spec.pod_template).as_object();
  t["spec"].as_object()["automountServiceAccountToken"] = true;
  rt.spec.pod_template = bj::serialize(t);
  auto d = deployment(rt);
  const auto& ps = pod_spec(d).as_object();
  EXPECT_TRUE(ps.at("automountServiceAccountToken").as_bool());
  EXPECT_EQ(names(arr(ps, "volumes")), (std::vector<std::string>{"data", "workspace"}));
  EXPECT_EQ(names(arr(named(arr(ps, "containers"), "runtimed"), "volumeMounts")),
            (std::vector<std::string>{"workspace"}));
}

TEST(BuildDeployment, DaemonImageFromSpecWins) {
  auto rt = decode(basic);
  rt.spec.daemon_image = "mine:1";
  build_options o;
  o.default_daemon_image = "flag:2";
  EXPECT_EQ(daemon_image_for(rt, o), "mine:1");
  rt.spec.daemon_image.clear();
  EXPECT_EQ(daemon_image_for(rt, o), "flag:2");
  EXPECT_EQ(daemon_image_for(rt, build_options{}), "kruntimes/runtimed:0.1.0");
}

TEST(BuildDeployment, VolumesWorkspaceDefaultsToEmptyDir) {
  auto d = deployment(decode(basic));
  const auto& vols = arr(pod_spec(d), "volumes");
  EXPECT_EQ(names(vols), (std::vector<std::string>{"data", "workspace", "kruntimes-api-access"}));
  EXPECT_EQ(named(vols, "workspace"), (bj::value(bj::object{{"emptyDir", bj::object{}}, {"name", "workspace"}})));
  EXPECT_EQ(str(pod_spec(d), "serviceAccountName"), "kruntimes-runtimed");
  EXPECT_FALSE(pod_spec(d).as_object().contains("securityContext"));
}

TEST(BuildDeployment, WorkspaceFromSpec) {
  auto rt = decode(basic);
  rt.spec.workspace = R"js({"persistentVolumeClaim": {"claimName": "ws"}})js";
  auto d = deployment(rt);
  const auto& ws = named(arr(pod_spec(d), "volumes"), "workspace");
  EXPECT_EQ(str(obj(ws, "persistentVolumeClaim"), "claimName"), "ws");
  EXPECT_FALSE(ws.as_object().contains("emptyDir"));
}

TEST(BuildDeployment, FilesystemStore) {
  auto rt = decode(basic);
  api::artifact_store_spec st;
  st.driver = "filesystem";
  st.fs_volume_claim = "artifacts";
  rt.spec.artifact_store = st;
  auto d = deployment(rt);
  const auto& ps = pod_spec(d);
  const auto& vol = named(arr(ps, "volumes"), "artifact-store");
  EXPECT_EQ(str(obj(vol, "persistentVolumeClaim"), "claimName"), "artifacts");
  EXPECT_EQ(obj(ps, "securityContext"), (bj::object{{"fsGroup", 65532}, {"fsGroupChangePolicy", "OnRootMismatch"}}));
  const auto& cs = arr(ps, "containers");
  EXPECT_EQ(named(arr(named(cs, "runtimed"), "volumeMounts"), "artifact-store").at("mountPath"),
            "/var/lib/kruntimes/artifacts");
  EXPECT_EQ(names(arr(named(cs, "runtime"), "volumeMounts")), (std::vector<std::string>{"data", "workspace"}));
  auto args = strings(arr(named(cs, "runtimed"), "args"));
  for (std::string want : {"--artifact-store-driver=filesystem", "--artifact-store-root=/var/lib/kruntimes/artifacts",
                           "--artifact-volume-claim=artifacts"})
    EXPECT_NE(std::find(args.begin(), args.end(), want), args.end()) << want;
}

TEST(BuildDeployment, S3Store) {
  auto rt = decode(basic);
  rt.spec.capacity.clear();
  api::artifact_store_spec st;
  st.driver = "s3";
  api::s3_store s3;
  s3.bucket = "b";
  s3.prefix = "p/";
  s3.region = "eu";
  s3.endpoint = "http://minio:9000";
  s3.force_path_style = true;
  s3.upload_part_size = 6000000;
  s3.upload_concurrency = 3;
  s3.credentials_secret_name = "creds";
  st.s3 = s3;
  rt.spec.artifact_store = st;
  EXPECT_EQ(runtimed_args(rt),
            (std::vector<std::string>{"--runtime-endpoint=$(POD_IP):9091",
                                      "--runtime-socket=unix-abstract:kruntimes-$(POD_UID)",
                                      "--health-probe-bind-address=$(POD_IP):9094", "--runtime-name=bash",
                                      "--workspace-dir=/workspace", "--artifact-store-driver=s3",
                                      "--artifact-s3-bucket=b", "--artifact-s3-prefix=p/", "--artifact-s3-region=eu",
                                      "--artifact-s3-endpoint=http://minio:9000",
                                      "--artifact-s3-force-path-style=true",
                                      "--artifact-s3-upload-part-size=6000000",
                                      "--artifact-s3-upload-concurrency=3",
                                      "--artifact-s3-credentials-secret-name=creds"}));
  auto d = deployment(rt);
  const auto& c = named(arr(pod_spec(d), "containers"), "runtimed");
  EXPECT_EQ(arr(c, "envFrom"), (bj::array{bj::object{{"secretRef", bj::object{{"name", "creds"}}}}}));
  EXPECT_FALSE(named(arr(pod_spec(d), "volumes"), "workspace").as_object().contains("persistentVolumeClaim"));
}

TEST(BuildDeployment, MissingTemplateIsAnError) {
  auto rt = decode(R"js({"metadata": {"name": "x", "namespace": "n"}, "spec": {}})js");
  EXPECT_FALSE(build_deployment(rt, {}));
}

TEST(ServiceAccount, NameChoice) {
  auto rt = decode(basic);
  build_options o;
  EXPECT_EQ(service_account_for(rt, o), "kruntimes-runtimed");
  o.runtimed_service_account_name = "chart-runtimed";
  EXPECT_EQ(service_account_for(rt, o), "chart-runtimed");
  rt.spec.template_facts.service_account_name = "custom";
  EXPECT_EQ(service_account_for(rt, o), "custom");
  auto sa = build_service_account("ns", "custom");
  EXPECT_EQ(str(sa, "kind"), "ServiceAccount");
  EXPECT_EQ(obj(obj(sa, "metadata"), "labels"), (bj::object{{"app.kubernetes.io/name", "kruntimes"},
                                                            {"app.kubernetes.io/component", "runtimed"},
                                                            {"app", "kruntimes-runtimed"}}));
  EXPECT_FALSE(obj(sa, "metadata").contains("ownerReferences"));
}

TEST(Role, ExactlyWhatRuntimedUses) {
  auto role = build_role("ns");
  EXPECT_EQ(str(obj(role, "metadata"), "name"), "kruntimes-runtimed");
  bj::array want{
      bj::object{{"apiGroups", bj::array{"kruntimes.io"}},
                 {"resources", bj::array{"runs"}},
                 {"verbs", bj::array{"get", "list", "watch", "patch"}}},
      bj::object{{"apiGroups", bj::array{"kruntimes.io"}},
                 {"resources", bj::array{"runs/status"}},
                 {"verbs", bj::array{"patch"}}},
      bj::object{{"apiGroups", bj::array{""}}, {"resources", bj::array{"pods"}}, {"verbs", bj::array{"get"}}},
      bj::object{{"apiGroups", bj::array{""}}, {"resources", bj::array{"pods/status"}}, {"verbs", bj::array{"patch"}}},
      bj::object{{"apiGroups", bj::array{""}}, {"resources", bj::array{"events"}}, {"verbs", bj::array{"create"}}},
  };
  EXPECT_EQ(role.at("rules").as_array(), want);
}

TEST(RoleBinding, NameAndSubject) {
  auto rb = build_role_binding("ns", "kruntimes-runtimed");
  EXPECT_EQ(str(obj(rb, "metadata"), "name"), "kruntimes-runtimed-kruntimes-runtimed");
  EXPECT_EQ(obj(rb, "roleRef"), (bj::object{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"},
                                           {"name", "kruntimes-runtimed"}}));
  EXPECT_EQ(rb.at("subjects").as_array(),
            (bj::array{bj::object{{"kind", "ServiceAccount"}, {"name", "kruntimes-runtimed"}, {"namespace", "ns"}}}));
}

TEST(RoleBinding, LongNamesAreCutWithAHash) {
  std::string sa(60, 'a');
  auto name = role_binding_name(sa);
  EXPECT_EQ(name.size(), 63u);
  // sha256("a" * 60)[:10]
  EXPECT_EQ(name.substr(52), "-11ee391211");
  EXPECT_EQ(name.substr(0, 19), "kruntimes-runtimed-");
  EXPECT_NE(role_binding_name(std::string(60, 'b')), name);
  // Exactly 63 is kept as is.
  EXPECT_EQ(role_binding_name(std::string(44, 'c')), "kruntimes-runtimed-" + std::string(44, 'c'));
}

TEST(NetworkPolicy, DeniesIngressToThePods) {
  auto np = build_network_policy(decode(basic));
  EXPECT_EQ(str(obj(np, "metadata"), "name"), "runtime-bash");
  EXPECT_EQ(arr(obj(np, "metadata"), "ownerReferences").size(), 1u);
  EXPECT_EQ(obj(np, "spec"), (bj::object{{"podSelector", bj::object{{"matchLabels", bj::object{{"runtime", "bash"},
                                                                                              {"app", "kruntimes-bash"}}}}},
                                        {"policyTypes", bj::array{"Ingress"}}}));
}

TEST(Covers, IgnoresServerDefaults) {
  auto desired = bj::parse(R"js({"a": 1, "b": {"c": [1, {"d": "x"}]}, "e": {}})js");
  EXPECT_TRUE(covers(desired, bj::parse(R"js({"a": 1.0, "b": {"c": [1, {"d": "x", "z": 2}], "y": 1}})js")));
  EXPECT_FALSE(covers(desired, bj::parse(R"js({"a": 2, "b": {"c": [1, {"d": "x"}]}})js")));
  EXPECT_FALSE(covers(desired, bj::parse(R"js({"a": 1, "b": {"c": [1, {"d": "x"}, 3]}})js")));
  EXPECT_FALSE(covers(desired, bj::parse(R"js({"a": 1, "b": {"c": [1, {"d": "y"}]}})js")));
  EXPECT_FALSE(covers(desired, bj::parse(R"js({"b": {"c": [1, {"d": "x"}]}})js")));
}

TEST(Update, NeededOnlyForWhatWeSet) {
  auto rt = decode(basic);
  auto desired = *build_deployment(rt, {});
  // What a server returns: defaults added, status, our object otherwise.
  bj::object current = desired;
  current["status"] = bj::object{{"readyReplicas", 1}};
  current["metadata"].as_object()["resourceVersion"] = "7";
  current["metadata"].as_object()["labels"].as_object()["extra"] = "kept";
  current["spec"].as_object()["strategy"] = bj::object{{"type", "RollingUpdate"}};
  auto& c0 = current["spec"].as_object()["template"].as_object()["spec"].as_object()["containers"].as_array()[0];
  c0.as_object()["terminationMessagePath"] = "/dev/termination-log";
  EXPECT_FALSE(needs_update(desired, current, "uid-1"));
  EXPECT_TRUE(needs_update(desired, current, "another-uid"));

  // A template change is an update that keeps resourceVersion and labels.
  auto rt2 = rt;
  rt2.spec.replicas = 5;
  auto desired2 = *build_deployment(rt2, {});
  EXPECT_TRUE(needs_update(desired2, current, "uid-1"));
  auto merged = merged_for_update(desired2, current, "uid-1");
  EXPECT_EQ(merged.at("spec").at("replicas").as_int64(), 5);
  EXPECT_EQ(merged.at("metadata").at("resourceVersion"), "7");
  EXPECT_EQ(merged.at("metadata").at("labels").at("extra"), "kept");
  EXPECT_FALSE(merged.contains("status"));
  EXPECT_FALSE(needs_update(desired2, merged, "uid-1"));

  // Removing a pod annotation from the template is a change too.
  auto with_extra = current;
  with_extra["spec"].as_object()["template"].as_object()["metadata"].as_object()["annotations"].as_object()["old"] = "x";
  EXPECT_TRUE(needs_update(desired, with_extra, "uid-1"));
}

TEST(Update, ForeignController) {
  bj::object cur{{"metadata", bj::object{{"ownerReferences", bj::array{bj::object{{"uid", "other"}, {"controller", true}}}}}}};
  EXPECT_EQ(foreign_controller(cur, "mine"), "other");
  EXPECT_EQ(foreign_controller(cur, "other"), "");
  EXPECT_EQ(foreign_controller(bj::object{}, "mine"), "");
}

TEST(Status, ReadyAndProgressing) {
  auto rt = decode(basic);
  auto now = wall_now();
  deployment_state d;
  auto st = desired_status(rt, d, std::nullopt, now);
  ASSERT_EQ(st.conditions.size(), 2u);
  EXPECT_EQ(st.conditions[0].type, "Ready");
  EXPECT_EQ(st.conditions[0].status, "False");
  EXPECT_EQ(st.conditions[0].reason, "ReplicasNotReady");
  EXPECT_EQ(st.conditions[0].observed_generation, 3);
  EXPECT_EQ(st.conditions[1].type, "Progressing");
  EXPECT_EQ(st.conditions[1].status, "True");

  rt.status = st;
  d.exists = true;
  d.generation = d.observed_generation = 2;
  d.replicas = d.status_replicas = d.updated_replicas = d.ready_replicas = 2;
  auto later = now + std::chrono::seconds(5);
  auto st2 = desired_status(rt, d, std::nullopt, later);
  EXPECT_EQ(st2.ready_replicas, 2);
  EXPECT_EQ(st2.conditions[0].status, "True");
  EXPECT_EQ(st2.conditions[0].reason, "MinimumReplicasAvailable");
  EXPECT_EQ(st2.conditions[0].last_transition_time, later);
  EXPECT_EQ(st2.conditions[1].status, "False");
  EXPECT_EQ(st2.conditions[1].reason, "RolloutComplete");
  EXPECT_FALSE(same_status(st, st2));

  // Nothing changed: same status, transition times kept.
  rt.status = st2;
  auto st3 = desired_status(rt, d, std::nullopt, later + std::chrono::seconds(5));
  EXPECT_TRUE(same_status(st2, st3));
  EXPECT_EQ(st3.conditions[0].last_transition_time, later);
}

TEST(Status, InvalidSpec) {
  auto rt = decode(basic);
  auto st = desired_status(rt, deployment_state{}, std::string("spec.port: bad"), wall_now());
  EXPECT_EQ(st.conditions[0].type, "Ready");
  EXPECT_EQ(st.conditions[0].status, "False");
  EXPECT_EQ(st.conditions[0].reason, "InvalidSpec");
  EXPECT_EQ(st.conditions[0].message, "spec.port: bad");
}

TEST(DeploymentState, ReadsStatus) {
  auto d = bj::parse(R"js({"metadata": {"generation": 4}, "spec": {"replicas": 3},
    "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 1}})js");
  auto s = deployment_state_of(d.as_object());
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.generation, 4);
  EXPECT_EQ(s.replicas, 3);
  EXPECT_EQ(s.observed_generation, 4);
  EXPECT_EQ(s.status_replicas, 3);
  EXPECT_EQ(s.updated_replicas, 2);
  EXPECT_EQ(s.ready_replicas, 1);
}

}  // namespace
}  // namespace krt::controller
