#include "local/node/kubelet.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"
#include "lib/reactor/deadline.hpp"
#include "lib/api/validation.hpp"
#include "local/node/logs.hpp"
#include "local/node/podman_runtime.hpp"
#include "local/node/process_runtime.hpp"
#include "local/node/object_util.hpp"

namespace krt::local::node {

namespace fs = std::filesystem;

namespace {

const std::string sa_mount = "/var/run/secrets/kubernetes.io/serviceaccount";

// $(VAR) references to earlier variables, as Kubernetes expands them; $$ escapes.
std::string expand(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      auto close = s.find(')', i + 2);
      if (close == std::string::npos) {
        out += s.substr(i);
        break;
      }
      std::string name = s.substr(i + 2, close - i - 2);
      auto it = vars.find(name);
      out += it != vars.end() ? it->second : s.substr(i, close - i + 1);
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

void apply_fs_group(const fs::path& root, gid_t gid) {
  std::error_code ec;
  auto own = [&](const fs::path& p, bool dir) {
    if (::lchown(p.c_str(), static_cast<uid_t>(-1), gid) != 0) return;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    mode_t mode = st.st_mode & 07777;
    mode |= dir ? (S_ISGID | S_IRGRP | S_IWGRP | S_IXGRP) : (S_IRGRP | S_IWGRP);
    ::chmod(p.c_str(), mode);
  };
  own(root, true);
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    own(it->path(), it->is_directory(ec) && !it->is_symlink(ec));
}

bool write_text(const fs::path& p, std::string_view data, fs::perms perms) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  std::error_code ec;
  fs::permissions(p, perms, ec);
  return static_cast<bool>(out);
}

awaitable<int> http_status(asio::ip::tcp::socket& s, asio::ip::tcp::endpoint ep, std::string target) {
  // Errors are values here: a refused connection is a failed probe, and an
  // exception inside the timeout race would end the probe loop.
  auto [ec] = co_await s.async_connect(ep, use_nothrow);
  if (ec) co_return -1;
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + ep.address().to_string() +
                    "\r\nUser-Agent: kube-probe/1.32\r\nConnection: close\r\n\r\n";
  auto [wec, written] = co_await asio::async_write(s, asio::buffer(req), use_nothrow);
  (void)written;
  if (wec) co_return -1;
  asio::streambuf buf;
  auto [rec, read] = co_await asio::async_read_until(s, buf, "\r\n", use_nothrow);
  (void)read;
  if (rec) co_return -1;
  std::istream in(&buf);
  std::string version;
  int code = 0;
  in >> version >> code;
  co_return code;
}

awaitable<bool> tcp_open(asio::ip::tcp::socket& s, asio::ip::tcp::endpoint ep) {
  auto [ec] = co_await s.async_connect(ep, use_nothrow);
  co_return !ec;
}

}  // namespace

struct kubelet::container {
  explicit container(executor ex) : stop_backoff(ex) {}
  std::string name;
  bj::object spec;
  std::unique_ptr<container_handle> handle;  // the current (or last) run
  int restarts = 0;
  bool ready = false;
  bool started = false;
  bool ever_started = false;
  std::string state = "waiting";  // running | waiting | terminated
  std::string reason = "ContainerCreating";
  std::string message;
  std::string started_at, finished_at;
  int exit_code = 0;
  int signal = 0;
  bj::value last_state = bj::object{};
  bool done = false;  // will not run again (restartPolicy)
  reactor::event stop_backoff;
};

struct kubelet::pod {
  explicit pod(executor ex) : changed(ex), stopping_ev(ex), tasks(ex, "pod") {}
  std::string uid, ns, name;
  bj::object object;
  fs::path dir;
  std::vector<std::unique_ptr<container>> containers;
  std::map<std::string, fs::path> volumes;  // volume name → host directory
  std::set<std::string> token_volumes;      // projected service account token volumes
  std::string config_error;
  bool stopping = false;
  bool force = false;
  std::int64_t grace = 30;
  std::string start_time;
  reactor::event changed;
  reactor::event stopping_ev;
  reactor::task_group tasks;
  // Each container run's probe tasks. The pod owns the groups, so none is
  // destroyed by a container coroutine that ends early (a cancellation while
  // it waits); run_pod closes whatever is left after the containers.
  std::vector<std::shared_ptr<reactor::task_group>> probe_groups;
  std::string restart_policy = "Always";
  std::string ip;  // a loopback address of its own (127.1.x.y)
};

kubelet::kubelet(executor ex, api_server& api, node_options opts)
    : ex_(ex),
      api_(api),
      opts_(std::move(opts)),
      runtime_ready_ev_(ex),
      bind_wake_(ex),
      tasks_(ex, "kubelet") {
  // Pods of different control planes on one machine should not share
  // addresses: the second octet comes from the state directory (2..251).
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : opts_.state_dir) h = (h ^ ch) * 16777619u;
  ip_block_ = h % 250 + 2;
}

kubelet::~kubelet() = default;

std::filesystem::path kubelet::procs_dir() const { return std::filesystem::path(opts_.state_dir) / "procs"; }

void kubelet::start() {
  api_.set_pod_log_source(this);
  api_.store().on_commit([this](const store_event& ev) { on_event(ev); });
  if (opts_.runtime == "podman") {
    podman_runtime_options po;
    po.podman = opts_.podman;
    po.node_id = node_id();
    po.work_dir = fs::path(opts_.state_dir) / "podman";
    runtime_ = std::make_unique<podman_runtime>(ex_, std::move(po));
  } else {
    process_runtime_options po;
    po.images = opts_.images;
    po.procs_dir = procs_dir();
    if (opts_.container_cgroups) po.cgroup_name = node_id();
    runtime_ = std::make_unique<process_runtime>(ex_, std::move(po));
  }
  // Containers wait for this (it removes what a node killed outright left).
  tasks_.spawn(start_runtime(), "container runtime");
  tasks_.spawn(bind_loop(), "binder");
  // Pods from before a restart of the control plane: their processes died
  // with it (or were killed just above), so they start again (as after a
  // node reboot).
  api_.store().list(pods_key, "", "", [&](const object_ptr& o) {
    on_event(store_event{event_type::added, o, nullptr});
    return true;
  });
}

awaitable<void> kubelet::stop() {
  // From here on no pod starts (a ReplicaSet may still create one while we
  // stop, and its processes would outlive the node).
  stopping_ = true;
  for (auto& [uid, p] : pods_) {
    p->stopping = true;
    p->force = true;
    p->grace = std::min<std::int64_t>(p->grace, 5);
    p->stopping_ev.set();
  }
  // run_pod coroutines stop their containers and remove themselves.
  for (int i = 0; i < 400 && !pods_.empty(); ++i) {
    asio::steady_timer t(ex_, std::chrono::milliseconds(25));
    co_await t.async_wait(use_nothrow);
  }
  co_await tasks_.close();
  api_.set_pod_log_source(nullptr);
  runtime_->close();
}

// The node's identity for its cgroup directory and container labels: one per
// state directory, so two local planes on one machine never touch each
// other's containers.
std::string kubelet::node_id() const {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : opts_.state_dir) h = (h ^ ch) * 1099511628211ull;
  char name[32];
  std::snprintf(name, sizeof name, "krt-local-%016llx", static_cast<unsigned long long>(h));
  return name;
}

awaitable<void> kubelet::start_runtime() {
  std::vector<std::string> notes = co_await runtime_->start();
  for (const auto& n : notes) log_.info(n, {{"runtime", runtime_->name()}});
  runtime_ready_ = true;
  runtime_ready_ev_.set();
}

void kubelet::on_event(const store_event& ev) {
  const auto& o = *ev.object;
  if (o.storage_key != pods_key || tasks_.closed()) return;
  std::string uid = meta_string(o.object, "uid");
  std::string node = string_of(field_at(o.object, {"spec", "nodeName"}));
  bool deleting = !meta_string(o.object, "deletionTimestamp").empty();
  auto it = pods_.find(uid);
  if (ev.type == event_type::deleted) {
    if (it != pods_.end()) {
      it->second->stopping = true;
      it->second->force = true;
      it->second->grace = 0;
      it->second->stopping_ev.set();
    }
    return;
  }
  if (node.empty()) {
    if (!deleting) {
      to_bind_.emplace_back(o.ns, o.name);
      bind_wake_.set();
    }
    return;
  }
  if (node != opts_.node_name) return;
  if (it != pods_.end()) {
    it->second->object = o.object;
    if (deleting && !it->second->stopping) {
      it->second->stopping = true;
      it->second->grace = int_of(field_at(o.object, {"metadata", "deletionGracePeriodSeconds"}), 30);
      it->second->stopping_ev.set();
    }
    return;
  }
  std::string phase = string_of(field_at(o.object, {"status", "phase"}));
  if (deleting) {
    // Nothing runs for it here (e.g. after a restart): finish the deletion.
    tasks_.spawn(
        [](api_server& api, std::string ns, std::string name) -> awaitable<void> {
          co_await api.call("DELETE", "/api/v1/namespaces/" + ns + "/pods/" + name + "?gracePeriodSeconds=0");
        }(api_, o.ns, o.name),
        "finish deletion");
    return;
  }
  if (phase == "Succeeded" || phase == "Failed" || stopping_) return;
  auto p = std::make_shared<pod>(ex_);
  p->uid = uid;
  p->ns = o.ns;
  p->name = o.name;
  p->object = o.object;
  p->dir = fs::path(opts_.state_dir) / "pods" / uid;
  // Each pod gets its own loopback address, so pods that bind their podIP can
  // use the same port; Linux routes all of 127.0.0.0/8 to loopback.
  ++next_ip_;
  p->ip = "127." + std::to_string(ip_block_) + "." + std::to_string((next_ip_ / 250) % 250) + "." +
          std::to_string(next_ip_ % 250 + 2);
  pods_[uid] = p;
  tasks_.spawn(run_pod(p), "pod " + o.ns + "/" + o.name);
}

awaitable<void> kubelet::bind_loop() {
  for (;;) {
    co_await bind_wake_.wait();
    bind_wake_.reset();
    auto batch = std::move(to_bind_);
    to_bind_.clear();
    for (const auto& [ns, name] : batch) {
      object_ptr cur = api_.store().get(pods_key, ns, name);
      if (!cur || !string_of(field_at(cur->object, {"spec", "nodeName"})).empty()) continue;
      std::string patch = R"({"spec":{"nodeName":")" + opts_.node_name + R"("}})";
      co_await api_.call("PATCH", "/api/v1/namespaces/" + ns + "/pods/" + name, patch, "application/merge-patch+json");
    }
  }
}

std::string kubelet::log_path(const pod& p, const std::string& container, int restart) const {
  return (p.dir / "logs" / container / (std::to_string(restart) + ".log")).string();
}

bool kubelet::write_service_account(const pod& p, const fs::path& dir) {
  std::string sa = string_of(field_at(p.object, {"spec", "serviceAccountName"}));
  if (sa.empty()) sa = "default";
  object_ptr account = api_.store().get("/serviceaccounts", p.ns, sa);
  if (!account) return false;
  std::error_code ec;
  fs::create_directories(dir, ec);
  // Bound to the pod: the token stops working when the pod is gone. It is
  // valid for a year otherwise, what Kubernetes gives projected tokens by
  // default (--service-account-extend-token-expiration) for clients that do
  // not re-read the file.
  std::string token = api_.issue_token(p.ns, sa, meta_string(account->object, "uid"), std::chrono::hours(24 * 365),
                                       p.name, p.uid);
  // Mode 0644, Kubernetes' default for these files, so a container running
  // as any user can read them; the pods directory (0700) keeps other users
  // of the machine out.
  const auto readable = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
  const auto secret = fs::perms::owner_read | fs::perms::owner_write;
  write_text(dir / "token", token, readable);
  write_text(dir / "ca.crt", api_.ca_pem(), readable);
  write_text(dir / "namespace", p.ns, readable);
  std::string kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: " + api_.url() +
                   "\n    certificate-authority: " + (dir / "ca.crt").string() +
                   "\nusers:\n- name: sa\n  user:\n    tokenFile: " + (dir / "token").string() +
                   "\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: sa\n    namespace: " + p.ns +
                   "\ncurrent-context: local\n";
  write_text(dir / "kubeconfig", kc, secret);
  return true;
}

krt::result<void, std::string> kubelet::prepare(pod& p) {
  std::error_code ec;
  fs::create_directories(p.dir / "volumes", ec);
  if (ec) return krt::unexpected("cannot create " + p.dir.string() + ": " + ec.message());
  // Volumes are world-writable inside (as emptyDir is on Kubernetes, for
  // containers running as any user); only the owner may enter the tree.
  fs::permissions(p.dir.parent_path(), fs::perms::owner_all, ec);
  std::vector<fs::path> owned;  // volume directories fsGroup applies to
  const bj::object& obj = p.object;
  // Volumes.
  if (const auto* vols = field_at(obj, {"spec", "volumes"}); vols != nullptr && vols->is_array()) {
    for (const auto& v : vols->as_array()) {
      if (!v.is_object()) continue;
      const auto& vo = v.as_object();
      std::string name = string_of(vo.if_contains("name"));
      fs::path dir = p.dir / "volumes" / name;
      if (vo.contains("emptyDir")) {
        fs::create_directories(dir, ec);
        fs::permissions(dir, fs::perms::all, ec);
        owned.push_back(dir);
      } else if (const auto* hp = vo.if_contains("hostPath"); hp != nullptr && hp->is_object()) {
        dir = string_of(hp->as_object().if_contains("path"));
      } else if (vo.contains("configMap") || vo.contains("secret")) {
        bool secret = vo.contains("secret");
        const auto& src = vo.at(secret ? "secret" : "configMap").as_object();
        std::string ref = string_of(src.if_contains(secret ? "secretName" : "name"));
        object_ptr o = api_.store().get(secret ? "/secrets" : "/configmaps", p.ns, ref);
        const auto* opt = src.if_contains("optional");
        if (!o && !(opt != nullptr && opt->is_bool() && opt->as_bool()))
          return krt::unexpected(std::string(secret ? "secret" : "configmap") + " \"" + ref + "\" not found");
        fs::create_directories(dir, ec);
        if (o)
          if (const auto* data = o->object.if_contains("data"); data != nullptr && data->is_object())
            for (const auto& [k, val] : data->as_object()) {
              if (!val.is_string()) continue;
              std::string text(val.as_string());
              if (secret) text = base64_decode(text).value_or("");
              write_text(dir / std::string(k), text,
                         fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
            }
        owned.push_back(dir);
      } else if (const auto* pj = vo.if_contains("projected"); pj != nullptr && pj->is_object()) {
        // The shape Kubernetes itself uses for API access (and the controller
        // uses to give only runtimed a token): a serviceAccountToken source,
        // usually with the CA and the namespace. It becomes the service
        // account directory, and a container mounting it gets its kubeconfig.
        const auto* sources = pj->as_object().if_contains("sources");
        bool token = false;
        if (sources != nullptr && sources->is_array())
          for (const auto& src : sources->as_array())
            token = token || (src.is_object() && src.as_object().contains("serviceAccountToken"));
        if (!token)
          return krt::unexpected("volume \"" + name + "\": the local node supports projected volumes only "
                                                      "with a serviceAccountToken source");
        if (!write_service_account(p, dir))
          return krt::unexpected("volume \"" + name + "\": the pod's service account does not exist");
        p.token_volumes.insert(name);
        owned.push_back(dir);
      } else if (const auto* pvc = vo.if_contains("persistentVolumeClaim"); pvc != nullptr && pvc->is_object()) {
        // One machine, one disk: a claim is a directory of the node shared by
        // every pod that mounts it (ReadWriteMany), kept across pod restarts.
        std::string claim = string_of(pvc->as_object().if_contains("claimName"));
        if (claim.empty() || claim.find('/') != std::string::npos || claim == "." || claim == "..")
          return krt::unexpected("volume \"" + name + "\": persistentVolumeClaim needs a valid claimName");
        dir = fs::path(opts_.state_dir) / "claims" / p.ns / claim;
        if (!fs::exists(dir, ec)) {
          fs::create_directories(dir, ec);
          fs::permissions(fs::path(opts_.state_dir) / "claims", fs::perms::owner_all, ec);
          fs::permissions(dir, fs::perms::all, ec);
        }
        owned.push_back(dir);
      } else {
        return krt::unexpected("volume \"" + name + "\": only emptyDir, hostPath, configMap, secret, "
                                                    "persistentVolumeClaim and projected (service account token) "
                                                    "volumes are supported by the local node");
      }
      p.volumes[name] = dir;
    }
  }
  // fsGroup: the volumes belong to that group, group-writable, and new files
  // inherit it (setgid directories), as the kubelet arranges.
  if (const auto* fsg = field_at(obj, {"spec", "securityContext", "fsGroup"}); fsg != nullptr && fsg->is_int64())
    for (const auto& dir : owned) apply_fs_group(dir, static_cast<gid_t>(fsg->as_int64()));
  // The service account: token, CA and namespace, plus a kubeconfig.
  const auto* automount = field_at(obj, {"spec", "automountServiceAccountToken"});
  if (!(automount != nullptr && automount->is_bool() && !automount->as_bool())) {
    fs::path dir = p.dir / "serviceaccount";
    if (write_service_account(p, dir)) p.volumes["kube-api-access"] = dir;
  }
  return {};
}

awaitable<void> kubelet::run_pod(std::shared_ptr<pod> p) {
  p->start_time = format_rfc3339(wall_now());
  p->restart_policy = string_of(field_at(p->object, {"spec", "restartPolicy"}));
  if (p->restart_policy.empty()) p->restart_policy = "Always";
  if (const auto* cs = field_at(p->object, {"spec", "containers"}); cs != nullptr && cs->is_array())
    for (const auto& c : cs->as_array()) {
      if (!c.is_object()) continue;
      auto ct = std::make_unique<container>(ex_);
      ct->name = string_of(c.as_object().if_contains("name"));
      ct->spec = c.as_object();
      p->containers.push_back(std::move(ct));
    }
  if (auto r = prepare(*p); !r) p->config_error = r.error();
  p->tasks.spawn(status_loop(p), "status");
  if (p->config_error.empty())
    for (std::size_t i = 0; i < p->containers.size(); ++i) p->tasks.spawn(run_container(p, i), "container");
  else
    for (auto& c : p->containers) {
      c->reason = "CreateContainerConfigError";
      c->message = p->config_error;
    }
  p->changed.set();
  co_await p->stopping_ev.wait();
  // Graceful stop: SIGTERM to every container, the grace period, then SIGKILL.
  for (auto& c : p->containers) c->stop_backoff.set();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::max<std::int64_t>(p->grace, 0));
  for (auto& c : p->containers)
    if (c->handle && c->handle->running()) co_await c->handle->signal(SIGTERM);
  for (;;) {
    bool any = false;
    for (auto& c : p->containers) any = any || (c->handle && c->handle->running());
    if (!any || std::chrono::steady_clock::now() >= deadline) break;
    asio::steady_timer t(ex_, std::chrono::milliseconds(20));
    co_await t.async_wait(use_nothrow);
  }
  for (auto& c : p->containers)
    if (c->handle && c->handle->running()) co_await c->handle->terminate(std::chrono::milliseconds(0));
  // Every group is closed (its tasks finished) before the pod can go away,
  // also when this coroutine is cancelled: close() then finishes its wait
  // and reports the cancellation, which is passed on at the end.
  std::exception_ptr cancelled;
  try {
    co_await p->tasks.close();
  } catch (const boost::system::system_error&) {
    cancelled = std::current_exception();
  }
  for (auto& g : p->probe_groups) {
    try {
      co_await g->close();
    } catch (const boost::system::system_error&) {
      cancelled = std::current_exception();
    }
  }
  p->probe_groups.clear();
  if (cancelled) std::rethrow_exception(cancelled);
  for (auto& c : p->containers)
    if (c->handle) {
      co_await c->handle->remove();
      c->handle.reset();
    }
  if (!p->force) {
    std::string target = "/api/v1/namespaces/" + p->ns + "/pods/" + p->name;
    std::string body = R"({"gracePeriodSeconds":0,"preconditions":{"uid":")" + p->uid + R"("}})";
    co_await api_.call("DELETE", target, body, "application/json");
  }
  std::error_code ec;
  fs::remove_all(p->dir, ec);
  pods_.erase(p->uid);
}

namespace {

std::optional<std::int64_t> int_field(const bj::object* o, std::string_view key) {
  if (o == nullptr) return std::nullopt;
  const auto* v = o->if_contains(key);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->as_int64();
}

std::optional<bool> bool_field(const bj::object* o, std::string_view key) {
  if (o == nullptr) return std::nullopt;
  const auto* v = o->if_contains(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->as_bool();
}

const bj::object* object_field(const bj::object* o, std::string_view key) {
  if (o == nullptr) return nullptr;
  const auto* v = o->if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

// The container's securityContext over the pod's, field by field.
security_spec resolve_security(const bj::object& pod_spec, const bj::object& container) {
  const bj::object* psc = object_field(&pod_spec, "securityContext");
  const bj::object* csc = object_field(&container, "securityContext");
  security_spec s;
  auto pick_int = [&](std::string_view k) { return int_field(csc, k) ? int_field(csc, k) : int_field(psc, k); };
  s.run_as_user = pick_int("runAsUser");
  s.run_as_group = pick_int("runAsGroup");
  s.run_as_non_root = bool_field(csc, "runAsNonRoot").value_or(bool_field(psc, "runAsNonRoot").value_or(false));
  if (auto fs_group = int_field(psc, "fsGroup")) s.supplemental_groups.push_back(*fs_group);
  if (psc != nullptr)
    if (const auto* sg = psc->if_contains("supplementalGroups"); sg != nullptr && sg->is_array())
      for (const auto& g : sg->as_array())
        if (g.is_int64()) s.supplemental_groups.push_back(g.as_int64());
  s.read_only_root_filesystem = bool_field(csc, "readOnlyRootFilesystem").value_or(false);
  s.privileged = bool_field(csc, "privileged").value_or(false);
  s.allow_privilege_escalation = bool_field(csc, "allowPrivilegeEscalation");
  if (const auto* caps = object_field(csc, "capabilities")) {
    s.capabilities_add = strings_of(caps->if_contains("add"));
    s.capabilities_drop = strings_of(caps->if_contains("drop"));
  }
  const bj::object* seccomp = object_field(csc, "seccompProfile");
  if (seccomp == nullptr) seccomp = object_field(psc, "seccompProfile");
  if (seccomp != nullptr) s.seccomp = string_of(seccomp->if_contains("type"));
  return s;
}

}  // namespace

// Builds one run of container `c` of `p`: command and args with $(VAR)
// references expanded, the environment in Kubernetes' order (defaults,
// envFrom, env), the mounts, the security context and the limits. An error
// is the CreateContainerConfigError message.
krt::result<container_launch, std::string> kubelet::build_launch(const pod& p, const container& c) {
  const bj::object& spec = c.spec;
  container_launch l;
  l.pod_namespace = p.ns;
  l.pod_name = p.name;
  l.pod_uid = p.uid;
  l.pod_ip = p.ip;
  l.container = c.name;
  l.restart = c.restarts;
  l.image = string_of(spec.if_contains("image"));
  l.pod_dir = p.dir.string();
  l.log_path = log_path(p, c.name, c.restarts);
  // Mounts of this container (longest path first, so nested mounts win).
  if (const auto* vms = spec.if_contains("volumeMounts"); vms != nullptr && vms->is_array())
    for (const auto& m : vms->as_array()) {
      if (!m.is_object()) continue;
      const auto& mo = m.as_object();
      auto it = p.volumes.find(string_of(mo.if_contains("name")));
      if (it == p.volumes.end()) continue;
      std::string host = it->second.string();
      std::string sub = string_of(mo.if_contains("subPath"));
      if (!sub.empty()) host += "/" + sub;
      const auto* ro = mo.if_contains("readOnly");
      l.mounts.push_back(mount_spec{string_of(mo.if_contains("mountPath")), host, ro != nullptr && ro->is_bool() && ro->as_bool()});
    }
  if (auto it = p.volumes.find("kube-api-access"); it != p.volumes.end())
    l.mounts.push_back(mount_spec{sa_mount, it->second.string(), true});
  std::stable_sort(l.mounts.begin(), l.mounts.end(),
                   [](const auto& a, const auto& b) { return a.container_path.size() > b.container_path.size(); });
  // Environment, in Kubernetes' order: defaults, envFrom, env.
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  auto set_var = [&](const std::string& k, const std::string& v) {
    if (vars.find(k) == vars.end()) order.push_back(k);
    vars[k] = v;
  };
  std::string error;
  if (runtime_->host_paths()) {
    // A host process has no image to give it these.
    set_var("PATH", opts_.default_path);
    set_var("HOSTNAME", p.name);
    set_var("HOME", p.dir.string());
  }
  set_var("KUBERNETES_SERVICE_HOST", "127.0.0.1");
  set_var("KUBERNETES_SERVICE_PORT", std::to_string(api_.port()));
  if (runtime_->host_paths()) {
    // API access for a host process: a kubeconfig next to the token of a
    // mounted projected token volume, else of the automounted one.
    std::optional<fs::path> api_dir;
    if (const auto* vms = spec.if_contains("volumeMounts"); vms != nullptr && vms->is_array())
      for (const auto& m : vms->as_array()) {
        std::string vol = m.is_object() ? string_of(m.as_object().if_contains("name")) : std::string();
        if (p.token_volumes.count(vol) != 0) api_dir = p.volumes.at(vol);
      }
    if (auto it = p.volumes.find("kube-api-access"); !api_dir && it != p.volumes.end()) api_dir = it->second;
    if (api_dir) set_var("KUBECONFIG", (*api_dir / "kubeconfig").string());
  }
  auto lookup = [&](bool secret, const std::string& name, const std::string& key, bool optional,
                    std::optional<std::string>& out) {
    object_ptr o = api_.store().get(secret ? "/secrets" : "/configmaps", p.ns, name);
    const bj::value* v = o ? field_at(o->object, {"data", key}) : nullptr;
    if (v != nullptr && v->is_string()) {
      out = secret ? base64_decode(v->as_string()).value_or("") : std::string(v->as_string());
    } else if (!optional && error.empty()) {
      error = std::string(secret ? "secret" : "configmap") + " \"" + name + "\"" +
              (o ? " has no key \"" + key + "\"" : " not found");
    }
  };
  if (const auto* ef = spec.if_contains("envFrom"); ef != nullptr && ef->is_array())
    for (const auto& e : ef->as_array()) {
      if (!e.is_object()) continue;
      std::string prefix = string_of(e.as_object().if_contains("prefix"));
      for (bool secret : {false, true}) {
        const auto* ref = e.as_object().if_contains(secret ? "secretRef" : "configMapRef");
        if (ref == nullptr || !ref->is_object()) continue;
        object_ptr o = api_.store().get(secret ? "/secrets" : "/configmaps", p.ns, string_of(ref->as_object().if_contains("name")));
        if (!o) continue;
        if (const auto* data = o->object.if_contains("data"); data != nullptr && data->is_object())
          for (const auto& [k, v] : data->as_object())
            if (v.is_string())
              set_var(prefix + std::string(k), secret ? base64_decode(v.as_string()).value_or("") : std::string(v.as_string()));
      }
    }
  if (const auto* env = spec.if_contains("env"); env != nullptr && env->is_array())
    for (const auto& e : env->as_array()) {
      if (!e.is_object()) continue;
      const auto& eo = e.as_object();
      std::string name = string_of(eo.if_contains("name"));
      if (const auto* v = eo.if_contains("value"); v != nullptr && v->is_string()) {
        set_var(name, expand(std::string(v->as_string()), vars));
        continue;
      }
      const auto* from = eo.if_contains("valueFrom");
      if (from == nullptr || !from->is_object()) {
        set_var(name, "");
        continue;
      }
      const auto& fo = from->as_object();
      if (const auto* fr = fo.if_contains("fieldRef"); fr != nullptr && fr->is_object()) {
        std::string fp = string_of(fr->as_object().if_contains("fieldPath"));
        std::string val;
        if (fp == "metadata.name") val = p.name;
        else if (fp == "metadata.namespace") val = p.ns;
        else if (fp == "metadata.uid") val = p.uid;
        else if (fp == "status.podIP") val = p.ip;
        else if (fp == "status.hostIP") val = "127.0.0.1";
        else if (fp == "spec.nodeName") val = opts_.node_name;
        else if (fp == "spec.serviceAccountName") val = string_of(field_at(p.object, {"spec", "serviceAccountName"}));
        else if (fp.starts_with("metadata.labels['") && fp.ends_with("']"))
          val = string_of(field_at(p.object, {"metadata", "labels", fp.substr(17, fp.size() - 19)}));
        else if (fp.starts_with("metadata.annotations['") && fp.ends_with("']"))
          val = string_of(field_at(p.object, {"metadata", "annotations", fp.substr(22, fp.size() - 24)}));
        else if (error.empty())
          error = "env " + name + ": fieldRef " + fp + " is not supported by the local node";
        set_var(name, val);
      } else {
        for (bool secret : {false, true}) {
          const auto* ref = fo.if_contains(secret ? "secretKeyRef" : "configMapKeyRef");
          if (ref == nullptr || !ref->is_object()) continue;
          const auto* opt = ref->as_object().if_contains("optional");
          std::optional<std::string> val;
          lookup(secret, string_of(ref->as_object().if_contains("name")), string_of(ref->as_object().if_contains("key")),
                 opt != nullptr && opt->is_bool() && opt->as_bool(), val);
          if (val) set_var(name, *val);
        }
      }
    }
  if (!error.empty()) return krt::unexpected(std::move(error));
  for (const auto& k : order) l.env.emplace_back(k, vars[k]);
  for (auto& a : strings_of(spec.if_contains("command"))) l.command.push_back(expand(a, vars));
  for (auto& a : strings_of(spec.if_contains("args"))) l.args.push_back(expand(a, vars));
  l.working_dir = string_of(spec.if_contains("workingDir"));
  const bj::object* pod_spec = object_field(&p.object, "spec");
  l.security = resolve_security(pod_spec != nullptr ? *pod_spec : bj::object{}, spec);
  if (const auto* limits = object_field(object_field(&spec, "resources"), "limits")) {
    if (auto cpu = api::parse_quantity(string_of(limits->if_contains("cpu"))); cpu && *cpu > 0)
      l.cpu_limit = static_cast<double>(*cpu);
    if (auto mem = api::parse_quantity(string_of(limits->if_contains("memory"))); mem && *mem > 0)
      l.memory_limit = static_cast<std::int64_t>(*mem);
  }
  return l;
}

awaitable<void> kubelet::run_container(std::shared_ptr<pod> p, std::size_t index) {
  container& c = *p->containers[index];
  std::chrono::seconds backoff{0};
  while (!runtime_ready_) co_await runtime_ready_ev_.wait();
  for (;;) {
    if (p->stopping) co_return;
    std::error_code ec;
    fs::create_directories(fs::path(log_path(*p, c.name, c.restarts)).parent_path(), ec);
    auto launch = build_launch(*p, c);
    std::string reason = "CreateContainerConfigError", error;
    if (!launch) {
      error = launch.error();
    } else {
      auto started = co_await runtime_->start_container(std::move(*launch));
      if (started) {
        c.handle = std::move(*started);
      } else {
        reason = started.error().reason;
        error = started.error().message;
      }
    }
    if (p->stopping && c.handle) {
      // Deleted while it started: stop it at once (run_pod's stop may have
      // looked at this container before it had a handle).
      co_await c.handle->terminate(std::chrono::milliseconds(0));
      co_await c.handle->remove();
      co_return;
    }
    if (!error.empty()) {
      c.state = "waiting";
      c.reason = reason;
      c.message = error;
      p->changed.set();
      log_.warn("container did not start", {{"pod", p->ns + "/" + p->name}, {"container", c.name}, {"error", error}});
    } else {
      c.state = "running";
      c.reason.clear();
      c.message.clear();
      c.started = c.ever_started = true;
      c.started_at = format_rfc3339(wall_now());
      c.ready = !c.spec.contains("readinessProbe");
      p->changed.set();
      std::erase_if(p->probe_groups, [](const auto& g) { return g->closed() && g->size() == 0; });
      auto probes = std::make_shared<reactor::task_group>(ex_, "probes");
      p->probe_groups.push_back(probes);
      if (c.spec.contains("readinessProbe")) probes->spawn(probe_loop(p, index, false), "readiness");
      if (c.spec.contains("livenessProbe")) probes->spawn(probe_loop(p, index, true), "liveness");
      auto run_start = std::chrono::steady_clock::now();
      // The probes are closed on every way out, also when the pod's task
      // group cancels this coroutine while it waits for the container.
      exit_info ex;
      std::exception_ptr failure;
      try {
        ex = co_await c.handle->wait_info();
      } catch (...) {
        failure = std::current_exception();
      }
      co_await probes->close();
      if (failure) std::rethrow_exception(failure);
      // A stopping pod's run_pod removes its containers (and may cancel this
      // coroutine at any wait from now on).
      if (!p->stopping) co_await c.handle->remove();
      c.state = "terminated";
      c.exit_code = ex.code;
      c.signal = ex.signal;
      c.reason = ex.code == 0 ? "Completed" : "Error";
      c.finished_at = format_rfc3339(wall_now());
      c.ready = false;
      c.started = false;
      p->changed.set();
      if (std::chrono::steady_clock::now() - run_start > std::chrono::seconds(60)) backoff = std::chrono::seconds(0);
      if (p->stopping) co_return;
      bool restart = p->restart_policy == "Always" || (p->restart_policy == "OnFailure" && ex.code != 0);
      if (!restart) {
        c.done = true;
        p->changed.set();
        co_return;
      }
      bj::object term{{"exitCode", ex.code}, {"reason", c.reason}, {"startedAt", c.started_at}, {"finishedAt", c.finished_at}};
      if (ex.signal != 0) term["signal"] = ex.signal;
      c.last_state = bj::object{{"terminated", std::move(term)}};
      c.restarts += 1;
      c.handle.reset();
    }
    backoff = backoff.count() == 0 ? std::chrono::seconds(1) : std::min(backoff * 2, opts_.max_restart_backoff);
    if (c.restarts > 1 || !error.empty()) {
      c.state = "waiting";
      if (error.empty()) {
        c.reason = "CrashLoopBackOff";
        c.message = "back-off " + std::to_string(backoff.count()) + "s restarting failed container=" + c.name +
                    " pod=" + p->name + "_" + p->ns + "(" + p->uid + ")";
      }
      p->changed.set();
      c.stop_backoff.reset();
      co_await reactor::with_timeout(c.stop_backoff.wait(), backoff);
    }
  }
}

awaitable<void> kubelet::probe_loop(std::shared_ptr<pod> p, std::size_t index, bool liveness) {
  container& c = *p->containers[index];
  const auto* pv = c.spec.if_contains(liveness ? "livenessProbe" : "readinessProbe");
  if (pv == nullptr || !pv->is_object()) co_return;
  bj::object probe = pv->as_object();
  auto delay = std::chrono::seconds(int_of(probe.if_contains("initialDelaySeconds"), 0));
  auto period = std::chrono::seconds(std::max<std::int64_t>(1, int_of(probe.if_contains("periodSeconds"), 10)));
  auto success_threshold = int_of(probe.if_contains("successThreshold"), 1);
  auto failure_threshold = int_of(probe.if_contains("failureThreshold"), 3);
  asio::steady_timer t(ex_, delay);
  co_await t.async_wait(asio::use_awaitable);
  std::int64_t successes = 0, failures = 0;
  for (;;) {
    bool ok = co_await probe_once(p, index, probe);
    if (ok) {
      ++successes;
      failures = 0;
    } else {
      ++failures;
      successes = 0;
    }
    if (!liveness) {
      bool ready = c.ready;
      if (ok && successes >= success_threshold) ready = true;
      if (!ok && failures >= failure_threshold) ready = false;
      if (ready != c.ready) {
        c.ready = ready;
        p->changed.set();
      }
    } else if (!ok && failures >= failure_threshold && c.handle && c.handle->running()) {
      log_.info("liveness probe failed; restarting the container", {{"pod", p->ns + "/" + p->name}, {"container", c.name}});
      auto grace = std::chrono::seconds(std::min<std::int64_t>(int_of(field_at(p->object, {"spec", "terminationGracePeriodSeconds"}), 30), 10));
      co_await c.handle->terminate(std::chrono::duration_cast<std::chrono::milliseconds>(grace));
      co_return;
    }
    t.expires_after(period);
    co_await t.async_wait(asio::use_awaitable);
  }
}

awaitable<bool> kubelet::probe_once(std::shared_ptr<pod> p, std::size_t index, bj::object probe) {
  container& c = *p->containers[index];
  auto timeout = std::chrono::seconds(std::max<std::int64_t>(1, int_of(probe.if_contains("timeoutSeconds"), 1)));
  auto port_of = [&](const bj::value* v) -> int {
    if (v == nullptr) return 0;
    if (v->is_int64()) return static_cast<int>(v->as_int64());
    if (!v->is_string()) return 0;
    if (const auto* ports = c.spec.if_contains("ports"); ports != nullptr && ports->is_array())
      for (const auto& pt : ports->as_array())
        if (pt.is_object() && string_of(pt.as_object().if_contains("name")) == v->as_string())
          return static_cast<int>(int_of(pt.as_object().if_contains("containerPort"), 0));
    return std::atoi(std::string(v->as_string()).c_str());
  };
  if (const auto* h = probe.if_contains("httpGet"); h != nullptr && h->is_object()) {
    int port = port_of(h->as_object().if_contains("port"));
    std::string target = string_of(h->as_object().if_contains("path"));
    if (target.empty()) target = "/";
    asio::ip::tcp::socket s(ex_);
    asio::ip::tcp::endpoint ep(asio::ip::make_address(p->ip), static_cast<std::uint16_t>(port));
    auto code = co_await reactor::with_timeout(http_status(s, ep, target), timeout);
    co_return code && *code >= 200 && *code < 400;
  }
  if (const auto* tcp = probe.if_contains("tcpSocket"); tcp != nullptr && tcp->is_object()) {
    int port = port_of(tcp->as_object().if_contains("port"));
    asio::ip::tcp::socket s(ex_);
    asio::ip::tcp::endpoint ep(asio::ip::make_address(p->ip), static_cast<std::uint16_t>(port));
    auto ok = co_await reactor::with_timeout(tcp_open(s, ep), timeout);
    co_return ok.value_or(false);
  }
  if (const auto* e = probe.if_contains("exec"); e != nullptr && e->is_object()) {
    if (!c.handle || !c.handle->running()) co_return false;
    auto code = co_await c.handle->exec(strings_of(e->as_object().if_contains("command")),
                                        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    co_return code && *code == 0;
  }
  co_return false;
}

awaitable<void> kubelet::status_loop(std::shared_ptr<pod> p) {
  for (;;) {
    co_await p->changed.wait();
    p->changed.reset();
    if (p->stopping && p->force) continue;
    std::string now = format_rfc3339(wall_now());
    bj::array statuses;
    bool all_ready = !p->containers.empty(), all_started = true, all_done = true, any_failed = false;
    for (const auto& c : p->containers) {
      bj::object state;
      if (c->state == "running") {
        state["running"] = bj::object{{"startedAt", c->started_at}};
      } else if (c->state == "terminated") {
        bj::object t{{"exitCode", c->exit_code}, {"reason", c->reason}, {"startedAt", c->started_at},
                     {"finishedAt", c->finished_at}};
        if (c->signal != 0) t["signal"] = c->signal;
        state["terminated"] = std::move(t);
      } else {
        bj::object w{{"reason", c->reason}};
        if (!c->message.empty()) w["message"] = c->message;
        state["waiting"] = std::move(w);
      }
      bj::object cs{{"name", c->name},
                    {"image", string_of(c->spec.if_contains("image"))},
                    {"imageID", ""},
                    {"ready", c->ready},
                    {"started", c->started},
                    {"restartCount", c->restarts},
                    {"state", std::move(state)},
                    {"lastState", c->last_state}};
      if (c->handle) cs["containerID"] = c->handle->id();
      statuses.push_back(std::move(cs));
      all_ready = all_ready && c->ready;
      all_started = all_started && c->ever_started;
      all_done = all_done && c->done;
      any_failed = any_failed || (c->done && c->exit_code != 0);
    }
    std::string phase = all_done ? (any_failed ? "Failed" : "Succeeded") : all_started ? "Running" : "Pending";
    auto cond = [&](const char* type, bool ok) {
      return bj::object{{"type", type}, {"status", ok ? "True" : "False"}, {"lastProbeTime", nullptr},
                        {"lastTransitionTime", now}};
    };
    // Keep lastTransitionTime when a condition's status did not change. A
    // strategic merge patch merges conditions by type, so conditions the
    // node does not own (runtimed's kruntimes.io/RuntimedReady heartbeat)
    // survive, as they do with a real kubelet.
    bj::array conds;
    conds.push_back(cond("PodScheduled", true));
    conds.push_back(cond("Initialized", true));
    conds.push_back(cond("ContainersReady", all_ready));
    conds.push_back(cond("Ready", all_ready));
    if (const auto* old = field_at(p->object, {"status", "conditions"}); old != nullptr && old->is_array())
      for (auto& c : conds)
        for (const auto& o : old->as_array())
          if (o.is_object() && o.as_object().contains("type") && o.as_object().at("type") == c.as_object().at("type") &&
              o.as_object().contains("status") && o.as_object().at("status") == c.as_object().at("status") &&
              o.as_object().contains("lastTransitionTime"))
            c.as_object()["lastTransitionTime"] = o.as_object().at("lastTransitionTime");
    bj::object status{{"phase", phase},          {"conditions", std::move(conds)}, {"hostIP", "127.0.0.1"},
                      {"podIP", p->ip},   {"podIPs", bj::array{bj::object{{"ip", p->ip}}}},
                      {"startTime", p->start_time}, {"containerStatuses", std::move(statuses)},
                      {"qosClass", "BestEffort"}};
    bj::object patch{{"status", std::move(status)}};
    auto r = co_await api_.call("PATCH", "/api/v1/namespaces/" + p->ns + "/pods/" + p->name + "/status",
                                bj::serialize(patch), "application/strategic-merge-patch+json");
    if (r.code == 200 && r.body.is_object()) p->object = r.body.as_object();
  }
}

awaitable<std::optional<std::string>> kubelet::serve_log(const pod_log_request& req, net::response_writer& out) {
  fs::path dir = fs::path(opts_.state_dir) / "pods" / req.uid / "logs" / req.container;
  int restarts = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    int n = std::atoi(e.path().stem().string().c_str());
    restarts = std::max(restarts, n);
  }
  if (restarts < 0)
    co_return "container \"" + req.container + "\" in pod \"" + req.pod + "\" is waiting to start: no logs yet";
  int which = req.previous ? restarts - 1 : restarts;
  if (which < 0)
    co_return "previous terminated container \"" + req.container + "\" in pod \"" + req.pod + "\" not found";
  std::string file = (dir / (std::to_string(which) + ".log")).string();
  log_options lo;
  lo.tail_lines = req.tail_lines;
  if (req.since_seconds) lo.since = std::chrono::seconds(*req.since_seconds);
  lo.timestamps = req.timestamps;
  lo.limit_bytes = req.limit_bytes;
  log_snapshot snap = read_log_snapshot(file, lo);
  if (!req.follow) {
    co_await out.respond(200, "text/plain", std::move(snap.text));
    co_return std::nullopt;
  }
  if (co_await out.start_stream(200, "text/plain")) co_return std::nullopt;
  if (!snap.text.empty() && co_await out.write(snap.text)) co_return std::nullopt;
  log_follower follower(file, snap, req.timestamps);
  // Follow until the container (this run of it) ends or the pod goes away.
  for (;;) {
    asio::steady_timer t(ex_, std::chrono::milliseconds(100));
    co_await t.async_wait(use_nothrow);
    std::string more = follower.poll();
    if (!more.empty() && co_await out.write(more)) co_return std::nullopt;
    auto it = pods_.find(req.uid);
    bool alive = false;
    if (it != pods_.end())
      for (const auto& c : it->second->containers)
        if (c->name == req.container && c->restarts == which && c->handle && c->handle->running()) alive = true;
    if (!alive) {
      std::string rest = follower.poll();
      if (!rest.empty()) co_await out.write(rest);
      break;
    }
  }
  co_await out.finish();
  co_return std::nullopt;
}

}  // namespace krt::local::node
