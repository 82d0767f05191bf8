#pragma once
// The local control plane's Kubernetes API server (DESIGN §6): HTTPS with
// bearer tokens on loopback, discovery, OpenAPI v3 for kubectl's validation
// probe, CRUD/patch/watch/Table on built-in and custom resources, finalizers
// and garbage collection, on the SQLite-backed object store.
//
// Affinity: shard-0 only (one shard owns the whole store; the SQLite writer
// runs on its own thread). start() and stop() from that shard.

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lib/core/result.hpp"
#include "lib/net/http_server.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/asio.hpp"
#include "lib/reactor/task_group.hpp"
#include "local/apiserver/resources.hpp"
#include "local/apiserver/sqlite_log.hpp"
#include "local/apiserver/store.hpp"
#include "local/apiserver/table.hpp"

namespace krt::local {

struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see port())
  std::string state_dir;   // database, PKI, tokens and kubeconfig live here
  durability mode = durability::process;
  bool tls = true;  // kubectl sends tokens only over TLS; plain HTTP is for tests
  std::size_t history_limit = 100000;
  // ... and at most this many bytes of objects (JSON) in that history.
  std::size_t history_bytes_limit = 64u << 20;
  std::size_t watcher_queue_limit = 20000;
  std::chrono::seconds default_watch_timeout{1800};
  std::chrono::milliseconds bookmark_interval{30000};  // watches that allow bookmarks get one after this much silence
  // Pods bound to a node are deleted gracefully (deletionTimestamp first; the
  // node removes them once their processes are gone). Set when a node runs.
  bool graceful_pod_deletion = false;
  // When set, every request made by a service account is appended to this
  // file as one JSON line: user, verb, group, resource, namespace, name and
  // whether RBAC allowed it. Tests use it to compare granted and used rights.
  std::string audit_log;
};

// What the node provides to the API server for pods/log.
struct pod_log_request {
  std::string ns, pod, uid, container;
  bool follow = false;
  bool previous = false;
  bool timestamps = false;
  std::optional<std::int64_t> tail_lines, since_seconds, limit_bytes;
};
class pod_log_source {
 public:
  virtual ~pod_log_source() = default;
  // Streams the log to `out` (which the server has not started); returns an
  // error message for a 400/404 (unknown container, no log yet).
  virtual awaitable<std::optional<std::string>> serve_log(const pod_log_request& req, net::response_writer& out) = 0;
};

// A caller after authentication.
struct user_info {
  std::string name;  // "admin" or "system:serviceaccount:<ns>:<name>"
  std::vector<std::string> groups;
  bool admin = false;
  // A token bound to a pod (what the kubelet writes into a pod) is valid only
  // while that pod exists, and restricts what its holder may write
  // (admission.cpp). Kubernetes reports the same binding as the extra
  // authentication.kubernetes.io/pod-name and pod-uid.
  std::string pod_name, pod_uid;
  // The pod's `runtime` label: set on the pods of a Runtime (runtimed's
  // token), whose writes admission.cpp confines to that pod and its Runs.
  std::string pod_runtime;
};

class api_server {
 public:
  api_server(executor ex, server_options opts);
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  // Creates or opens the state directory (PKI, token, database), loads the
  // objects, listens, and writes the kubeconfig. Errors say what to do.
  awaitable<krt::result<void, std::string>> start();
  awaitable<void> stop();

  std::uint16_t port() const;
  std::string url() const;
  const std::string& admin_token() const { return admin_token_; }
  std::string kubeconfig_path() const;
  object_store& store() { return *store_; }
  resource_registry& registry() { return registry_; }

  // Direct writes for in-process controllers (the node, garbage collector):
  // the same admission as the HTTP path, as the admin user.
  struct outcome {
    unsigned code = 200;  // HTTP status
    bj::value body;       // the object or a Status
  };
  // An in-process request as the admin user, with no network in between: the
  // node's controllers write through it so their objects get the same
  // defaulting, admission and garbage collection as kubectl's. `target` is a
  // path with an optional query ("/api/v1/namespaces/x/pods?labelSelector=a").
  awaitable<outcome> call(std::string method, std::string target, std::string body, std::string content_type);
  awaitable<outcome> call(std::string method, std::string target) {
    return call(std::move(method), std::move(target), std::string(), std::string());
  }
  void set_pod_log_source(pod_log_source* source) { logs_ = source; }
  const server_options& options() const { return opts_; }
  const std::string& ca_pem() const { return ca_pem_; }
  // Service account tokens: issued for pods, verified on every request.
  // A non-empty pod_uid binds the token to that pod of `ns`.
  std::string issue_token(std::string_view ns, std::string_view service_account, std::string_view uid,
                          std::chrono::seconds valid_for, std::string_view pod_name = {},
                          std::string_view pod_uid = {});

 private:
  struct request_target;
  struct context;
  awaitable<void> handle(net::http_request& req, net::response_writer& out);
  awaitable<void> handle_resource(context& cx);
  awaitable<void> serve_list(context& cx);
  awaitable<void> serve_watch(context& cx);
  awaitable<outcome> do_create(context& cx);
  awaitable<outcome> do_get(context& cx);
  awaitable<outcome> do_update(context& cx, bool patch);
  awaitable<outcome> do_delete(context& cx);
  awaitable<outcome> do_delete_collection(context& cx);
  awaitable<outcome> delete_object(const resource_info& r, object_ptr current, std::string_view propagation,
                                   bool dry_run, std::optional<std::int64_t> grace);
  awaitable<void> serve_pod_log(context& cx);
  awaitable<outcome> proxy_to_pod(context& cx, std::string path);
  awaitable<outcome> create_token(context& cx);
  std::optional<user_info> authenticate_token(std::string_view token) const;
  // RBAC: empty when allowed, else the Forbidden message.
  std::string authorize(const user_info& user, std::string_view verb, const request_target& t) const;
  // RBAC escalation prevention for a Role, ClusterRole, RoleBinding or
  // ClusterRoleBinding `obj` being written in `ns`: empty when allowed, else
  // the Forbidden message.
  std::string escalation_error(const user_info& user, std::string_view plural, const std::string& ns,
                               const bj::object& obj) const;
  // The local plane's built-in admission for writes that RBAC cannot scope
  // (admission.cpp): empty when allowed, else the Forbidden message.
  std::string restriction_error(const user_info& user, const request_target& t, const bj::object& old,
                                const bj::object& next) const;
  // Every PolicyRule the user holds in `ns` ("" for cluster scope only).
  std::vector<bj::value> rules_held(const user_info& user, const std::string& ns) const;
  awaitable<outcome> commit_update(const resource_info& r, object_ptr current, bj::object next, bool dry_run);
  bool discovery(context& cx, outcome& out);
  void refresh_custom_resources();
  void on_commit(const store_event& ev);
  awaitable<void> gc_loop();
  awaitable<void> gc_write(event_type type, std::string storage_key, bj::object object);
  awaitable<void> gc_one(std::string storage_key, std::string ns, std::string name);
  krt::result<void, std::string> prepare_state_dir();
  krt::result<void, std::string> write_kubeconfig();

  executor ex_;
  server_options opts_;
  obs::logger log_{"apiserver"};
  resource_registry registry_;
  std::unique_ptr<object_store> store_;
  std::unique_ptr<net::http_server> http_;
  std::string admin_token_;
  std::string ca_pem_;
  std::string token_key_;  // HMAC key for service account tokens
  pod_log_source* logs_ = nullptr;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> audit_{nullptr, &std::fclose};
  void audit(const user_info& user, std::string_view verb, const request_target& t, bool allowed);
  reactor::task_group tasks_;
  std::vector<std::tuple<std::string, std::string, std::string>> gc_queue_;  // storage key, ns, name
  reactor::event gc_wake_;
  std::unordered_map<std::string, std::vector<std::tuple<std::string, std::string, std::string>>> dependents_;
};

}  // namespace krt::local
