// The API server's front half: state directory and PKI, authentication,
// routing, discovery, OpenAPI, and error shapes. handlers.cpp serves the
// resources; gc.cpp collects garbage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"
#include "lib/net/tls.hpp"
#include "local/apiserver/server_internal.hpp"

namespace krt::local {

namespace fs = std::filesystem;

// ---- helpers shared by the server's translation units ----

bj::object status_error(unsigned code, std::string_view reason, std::string_view message, bj::object details) {
  bj::object s{{"kind", "Status"},     {"apiVersion", "v1"}, {"metadata", bj::object{}}, {"status", "Failure"},
               {"message", message}, {"reason", reason},   {"code", code}};
  if (!details.empty()) s["details"] = std::move(details);
  return s;
}

api_server::outcome not_found(const resource_info& r, std::string_view name) {
  std::string msg = r.qualified() + " \"" + std::string(name) + "\" not found";
  return {404, status_error(404, "NotFound", msg, bj::object{{"name", name}, {"group", r.group}, {"kind", r.plural}})};
}

api_server::outcome invalid(const resource_info& r, std::string_view name, const std::vector<field_cause>& causes) {
  bj::array cs;
  std::string msg = r.kind + " \"" + std::string(name) + "\" is invalid: ";
  bool first = true;
  for (const auto& c : causes) {
    cs.push_back(bj::object{{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    if (!first) msg += ", ";
    msg += c.field + ": " + c.message;
    first = false;
  }
  if (causes.size() > 1) msg = r.kind + " \"" + std::string(name) + "\" is invalid: [" + msg.substr(msg.find(": ") + 2) + "]";
  return {422, status_error(422, "Invalid", msg,
                            bj::object{{"name", name}, {"group", r.group}, {"kind", r.kind}, {"causes", std::move(cs)}})};
}

api_server::outcome conflict(const resource_info& r, std::string_view name, std::string_view why) {
  std::string msg = "Operation cannot be fulfilled on " + r.qualified() + " \"" + std::string(name) + "\": " +
                    std::string(why);
  return {409, status_error(409, "Conflict", msg, bj::object{{"name", name}, {"group", r.group}, {"kind", r.plural}})};
}

api_server::outcome bad_request(std::string_view message) { return {400, status_error(400, "BadRequest", message)}; }

std::string json_text(const bj::value& v) { return bj::serialize(v); }

bool flag(const net::http_request& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v) return false;
  std::string l = to_lower(*v);
  return l == "true" || l == "1" || l.empty();
}

std::string new_uid() {
  std::string r = random_bytes(16);
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, r.data(), 8);
  std::memcpy(&b, r.data() + 8, 8);
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string now_rfc3339() { return format_rfc3339(wall_now()); }

bj::object& metadata_of(bj::object& obj) {
  bj::value& m = obj["metadata"];
  if (!m.is_object()) m = bj::object{};
  return m.as_object();
}

std::vector<std::string> finalizers_of(const bj::object& obj) {
  std::vector<std::string> out;
  const auto* m = obj.if_contains("metadata");
  if (m == nullptr || !m->is_object()) return out;
  const auto* f = m->as_object().if_contains("finalizers");
  if (f == nullptr || !f->is_array()) return out;
  for (const auto& e : f->as_array())
    if (e.is_string()) out.emplace_back(e.as_string());
  return out;
}

namespace {

bool dns_label_ok(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

}  // namespace

std::string check_dns_label(std::string_view s) {
  if (dns_label_ok(s)) return {};
  return "Invalid value: \"" + std::string(s) +
         "\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
         "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
}

std::string check_dns_subdomain(std::string_view s) {
  bool ok = !s.empty() && s.size() <= 253;
  if (ok)
    for (auto part : split(s, '.'))
      if (!dns_label_ok(part)) ok = false;
  if (ok) return {};
  return "Invalid value: \"" + std::string(s) +
         "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
         "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

// ---- the server ----

api_server::api_server(executor ex, server_options opts)
    : ex_(ex), opts_(std::move(opts)), tasks_(ex, "apiserver"), gc_wake_(ex) {}

api_server::~api_server() = default;

std::uint16_t api_server::port() const { return http_ ? http_->port() : 0; }

std::string api_server::url() const {
  return std::string(opts_.tls ? "https://" : "http://") + opts_.address + ":" + std::to_string(port());
}

std::string api_server::kubeconfig_path() const { return (fs::path(opts_.state_dir) / "kubeconfig").string(); }

namespace {

krt::result<std::string, std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return krt::unexpected("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Replaces `p` with `data` so that a crash or power loss leaves the old file
// or the new one, never a torn one: the temporary file is created with its
// final mode (a secret is never readable by others, not even briefly),
// written, synced, renamed over p, and the directory synced.
krt::result<void, std::string> write_file(const fs::path& p, std::string_view data, fs::perms perms) {
  fs::path tmp = p;
  tmp += ".tmp";
  auto fail = [&](const fs::path& what) {
    return krt::unexpected("cannot write " + what.string() + ": " + std::strerror(errno));
  };
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  static_cast<mode_t>(perms));
  if (fd < 0) return fail(tmp);
  // The umask may have removed bits the caller asked for.
  bool ok = ::fchmod(fd, static_cast<mode_t>(perms)) == 0;
  for (std::size_t off = 0; ok && off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (!ok) return fail(tmp);
  if (::rename(tmp.c_str(), p.c_str()) != 0) return fail(p);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail(dir);
  ok = ::fsync(dfd) == 0;
  saved = errno;
  ::close(dfd);
  errno = saved;
  if (!ok) return fail(dir);
  return {};
}

}  // namespace

krt::result<void, std::string> api_server::prepare_state_dir() {
  std::error_code ec;
  fs::path dir(opts_.state_dir);
  fs::create_directories(dir / "pki", ec);
  if (ec) return krt::unexpected("cannot create the state directory " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  const auto secret = fs::perms::owner_read | fs::perms::owner_write;
  // Admin token.
  fs::path token_file = dir / "admin.token";
  if (fs::exists(token_file)) {
    auto t = read_file(token_file);
    if (!t) return krt::unexpected(t.error());
    admin_token_ = std::string(trim(*t));
  }
  if (admin_token_.empty()) {
    admin_token_ = random_suffix(48);
    if (auto r = write_file(token_file, admin_token_ + "\n", secret); !r) return r;
  }
  // CA and serving certificate (kept across restarts so kubeconfigs stay valid).
  fs::path ca_crt = dir / "pki" / "ca.crt", ca_key = dir / "pki" / "ca.key";
  fs::path srv_crt = dir / "pki" / "server.crt", srv_key = dir / "pki" / "server.key";
  net::key_pair_pem ca;
  if (fs::exists(ca_crt) && fs::exists(ca_key)) {
    auto c = read_file(ca_crt);
    auto k = read_file(ca_key);
    if (!c || !k) return krt::unexpected(std::string("cannot read the CA in ") + (dir / "pki").string());
    ca = {*c, *k};
  } else {
    auto generated = net::generate_ca("kruntimes-local-ca");
    if (!generated) return krt::unexpected("generating the CA: " + generated.error());
    ca = *generated;
    if (auto r = write_file(ca_crt, ca.cert_pem, secret | fs::perms::group_read | fs::perms::others_read); !r) return r;
    if (auto r = write_file(ca_key, ca.key_pem, secret); !r) return r;
    fs::remove(srv_crt, ec);
  }
  ca_pem_ = ca.cert_pem;
  fs::path token_key = dir / "pki" / "token.key";
  if (fs::exists(token_key)) {
    auto k = read_file(token_key);
    if (!k) return krt::unexpected(k.error());
    token_key_ = std::string(trim(*k));
  }
  if (token_key_.size() < 32) {
    token_key_ = random_suffix(64);
    if (auto r = write_file(token_key, token_key_ + "\n", secret); !r) return r;
  }
  if (!fs::exists(srv_crt) || !fs::exists(srv_key)) {
    net::certificate_request req;
    req.common_name = "kruntimes-local-apiserver";
    req.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
    req.ip_addresses = {"127.0.0.1", "::1"};
    if (opts_.address != "127.0.0.1" && opts_.address != "::1" && opts_.address != "localhost")
      req.ip_addresses.push_back(opts_.address);
    auto leaf = net::issue_certificate(ca, req);
    if (!leaf) return krt::unexpected("issuing the serving certificate: " + leaf.error());
    if (auto r = write_file(srv_crt, leaf->cert_pem, secret); !r) return r;
    if (auto r = write_file(srv_key, leaf->key_pem, secret); !r) return r;
  }
  return {};
}

krt::result<void, std::string> api_server::write_kubeconfig() {
  std::string kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: krt-local\n  cluster:\n    server: " + url() + "\n";
  if (opts_.tls) kc += "    certificate-authority-data: " + base64_encode(ca_pem_) + "\n";
  kc += "users:\n- name: krt-local-admin\n  user:\n    token: " + admin_token_ +
        "\ncontexts:\n- name: krt-local\n  context:\n    cluster: krt-local\n    user: krt-local-admin\n"
        "    namespace: default\ncurrent-context: krt-local\npreferences: {}\n";
  return write_file(kubeconfig_path(), kc, fs::perms::owner_read | fs::perms::owner_write);
}

awaitable<krt::result<void, std::string>> api_server::start() {
  if (auto r = prepare_state_dir(); !r) co_return r;
  if (!opts_.audit_log.empty()) {
    audit_.reset(std::fopen(opts_.audit_log.c_str(), "a"));
    if (!audit_) co_return krt::unexpected("cannot open the audit log " + opts_.audit_log + ": " + std::strerror(errno));
  }
  auto log = sqlite_log::open((fs::path(opts_.state_dir) / "state.db").string(), opts_.mode, opts_.history_limit);
  if (!log) co_return krt::unexpected(log.error());
  store_ = std::make_unique<object_store>(ex_, std::move(*log), opts_.history_limit, opts_.watcher_queue_limit);
  store_->set_history_bytes_limit(opts_.history_bytes_limit);
  if (auto r = store_->load(); !r) co_return r;
  store_->on_commit([this](const store_event& ev) { on_commit(ev); });
  refresh_custom_resources();
  // Index owners of everything loaded, so garbage collection works after a restart.
  for (const auto& sk : store_->storage_keys())
    store_->list(sk, "", "", [&](const object_ptr& o) {
      on_commit(store_event{event_type::added, o, nullptr});
      return true;
    });
  store_->start();

  net::http_server_options ho;
  ho.address = opts_.address;
  ho.port = opts_.port;
  ho.server_name = "kruntimes-local";
  ho.idle_timeout = std::chrono::seconds(3600);
  ho.write_timeout = std::chrono::seconds(60);
  ho.max_body_bytes = max_request_body_bytes;
  ho.error_json = [](unsigned code, std::string_view message) {
    return bj::serialize(status_error(code, code == 413 ? "RequestEntityTooLarge" : "BadRequest", message));
  };
  if (opts_.tls) {
    fs::path pki = fs::path(opts_.state_dir) / "pki";
    auto c = read_file(pki / "server.crt");
    auto k = read_file(pki / "server.key");
    if (!c || !k) co_return krt::unexpected(std::string("cannot read the serving certificate in ") + pki.string());
    net::server_tls_options so;
    so.cert_pem = *c;
    so.key_pem = *k;
    auto ctx = net::make_server_context(so);
    if (!ctx) co_return krt::unexpected("TLS setup: " + ctx.error());
    ho.tls = *ctx;
  }
  http_ = std::make_unique<net::http_server>(
      ex_, ho, [this](net::http_request& req, net::response_writer& out) { return handle(req, out); });
  if (auto r = http_->listen(); !r) {
    std::string msg = r.error();
    if (msg.find("in use") != std::string::npos)
      msg += " (another control plane or program uses port " + std::to_string(opts_.port) +
             "; stop it, or choose another port with --port)";
    co_return krt::unexpected(msg);
  }
  if (auto r = write_kubeconfig(); !r) co_return r;
  http_->start();
  tasks_.spawn(gc_loop(), "garbage collector");
  // The namespaces every cluster has.
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (store_->get(namespaces_key, "", ns)) continue;
    std::string body = std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + ns + "\"}}";
    auto created = co_await call("POST", "/api/v1/namespaces", body, "application/json");
    if (created.code != 201) co_return krt::unexpected("cannot create namespace " + std::string(ns));
  }
  log_.info("serving", {{"url", url()}, {"objects_rv", store_->committed_rv()}, {"state_dir", opts_.state_dir}});
  co_return krt::result<void, std::string>{};
}

awaitable<void> api_server::stop() {
  if (http_) co_await http_->stop();
  co_await tasks_.close();
  if (store_) co_await store_->stop();
}

void api_server::refresh_custom_resources() {
  std::vector<resource_ptr> custom;
  store_->list("apiextensions.k8s.io/customresourcedefinitions", "", "", [&](const object_ptr& o) {
    if (!meta_string(o->object, "deletionTimestamp").empty()) return true;
    auto rs = resources_from_crd(o->object);
    if (rs) custom.insert(custom.end(), rs->begin(), rs->end());
    return true;
  });
  registry_.set_custom(custom);
}

// ---- in-process requests ----

namespace {

// Captures a complete response (the in-process callers never stream).
class capture_writer final : public net::response_writer {
 public:
  awaitable<error_code> respond(unsigned status, std::string_view, std::string body,
                                const std::vector<std::pair<std::string, std::string>>&) override {
    status_ = status;
    body_ = std::move(body);
    started_ = true;
    co_return error_code{};
  }
  awaitable<error_code> start_stream(unsigned status, std::string_view,
                                     const std::vector<std::pair<std::string, std::string>>&) override {
    status_ = status;
    started_ = true;
    co_return error_code{};
  }
  awaitable<error_code> write(std::string_view chunk) override {
    body_.append(chunk);
    co_return error_code{};
  }
  awaitable<error_code> finish() override { co_return error_code{}; }
  void abort() override {}
  bool started() const override { return started_; }
  unsigned status_ = 0;
  std::string body_;
  bool started_ = false;
};

}  // namespace

awaitable<api_server::outcome> api_server::call(std::string method, std::string target, std::string body,
                                                std::string content_type) {
  net::http_request req;
  req.method = std::move(method);
  req.target = target;
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  req.body = std::move(body);
  if (!content_type.empty()) req.headers.emplace("content-type", content_type);
  req.headers.emplace("accept", "application/json");
  req.headers.emplace("authorization", "Bearer " + admin_token_);
  req.remote_address = "in-process";
  capture_writer out;
  co_await handle(req, out);
  outcome o;
  o.code = out.status_;
  boost::system::error_code ec;
  o.body = out.body_.empty() ? bj::value(nullptr) : parse_json(out.body_, ec, max_stored_json_depth);
  if (ec) o.body = nullptr;
  co_return o;
}

// ---- routing ----

namespace {

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  for (auto s : split(path, '/'))
    if (!s.empty()) out.emplace_back(s);
  return out;
}

}  // namespace

awaitable<void> api_server::handle(net::http_request& req, net::response_writer& out) {
  // Health endpoints answer without authentication, like the real server's.
  if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
    co_await out.respond(200, "text/plain", "ok");
    co_return;
  }
  context cx{req, out, {}, {}, {}};
  std::string_view auth = req.header("authorization");
  if (auth.size() > 7 && to_lower(auth.substr(0, 7)) == "bearer ") {
    std::string_view token = trim(auth.substr(7));
    if (constant_time_equal(token, admin_token_)) {
      cx.user = user_info{"admin", {"system:masters", "system:authenticated"}, true};
    } else if (auto sa = authenticate_token(token)) {
      cx.user = std::move(*sa);
    }
  }
  if (cx.user.name.empty()) {
    bj::object body = status_error(401, "Unauthorized", "Unauthorized");
    co_await out.respond(401, "application/json", json_text(body));
    co_return;
  }
  outcome o;
  if (discovery(cx, o)) {
    std::string ct = "application/json";
    if (o.body.is_object() && o.body.as_object().contains("kind") &&
        o.body.as_object().at("kind") == "APIGroupDiscoveryList") {
      std::string_view accept = req.header("accept");
      ct = accept.find("v=v2beta1") != std::string_view::npos && accept.find("v=v2;") == std::string_view::npos
               ? "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
               : "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
      if (ct.find("v2beta1") != std::string::npos) o.body.as_object()["apiVersion"] = "apidiscovery.k8s.io/v2beta1";
    }
    co_await out.respond(o.code, ct, json_text(o.body));
    co_return;
  }
  std::exception_ptr failure;
  try {
    co_await handle_resource(cx);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    failure = std::current_exception();
  } catch (const std::exception&) {
    failure = std::current_exception();
  }
  if (failure) {
    if (out.started()) std::rethrow_exception(failure);
    std::string what = describe_exception(failure);
    log_.error("request failed", {{"method", req.method}, {"path", req.path}, {"error", what}});
    bj::object body = status_error(500, "InternalError", "internal error: " + what);
    co_await out.respond(500, "application/json", json_text(body));
  }
}

bool api_server::discovery(context& cx, outcome& o) {
  const auto& req = cx.req;
  if (req.method != "GET") return false;
  std::string_view accept = req.header("accept");
  bool aggregated = accept.find("as=APIGroupDiscoveryList") != std::string_view::npos &&
                    accept.find("g=apidiscovery.k8s.io") != std::string_view::npos;
  const std::string& p = req.path;
  if (p == "/version" || p == "/version/") {
    o.body = bj::object{{"major", "1"},
                        {"minor", "32"},
                        {"gitVersion", "v1.32.0-krt"},
                        {"gitCommit", "kruntimes-local"},
                        {"gitTreeState", "clean"},
                        {"buildDate", "2026-01-01T00:00:00Z"},
                        {"goVersion", "n/a"},
                        {"compiler", "kruntimes"},
                        {"platform", "linux/amd64"}};
    return true;
  }
  if (p == "/api" || p == "/api/") {
    o.body = aggregated ? bj::value(registry_.aggregated(true)) : bj::value(registry_.legacy_core_versions());
    return true;
  }
  if (p == "/apis" || p == "/apis/") {
    o.body = aggregated ? bj::value(registry_.aggregated(false)) : bj::value(registry_.legacy_groups());
    return true;
  }
  if (p == "/api/v1" || p == "/api/v1/") {
    o.body = registry_.resource_list("", "v1");
    return true;
  }
  if (p == "/openapi/v3" || p == "/openapi/v3/") {
    o.body = registry_.openapi_index();
    return true;
  }
  if (p.starts_with("/openapi/v3/")) {
    bj::value doc = registry_.openapi_document(std::string_view(p).substr(12));
    if (doc.is_null()) {
      o = {404, status_error(404, "NotFound", "the server could not find the requested resource")};
    } else {
      o.body = std::move(doc);
    }
    return true;
  }
  if (p.starts_with("/openapi/")) {
    o = {404, status_error(404, "NotFound", "the server could not find the requested resource")};
    return true;
  }
  auto seg = path_segments(p);
  if (seg.size() == 2 && seg[0] == "apis") {
    bj::value g = registry_.legacy_group(seg[1]);
    o = g.is_null() ? outcome{404, status_error(404, "NotFound", "the server could not find the requested resource")}
                    : outcome{200, std::move(g)};
    return true;
  }
  if (seg.size() == 3 && seg[0] == "apis") {
    bj::value l = registry_.resource_list(seg[1], seg[2]);
    o = l.is_null() ? outcome{404, status_error(404, "NotFound", "the server could not find the requested resource")}
                    : outcome{200, std::move(l)};
    return true;
  }
  return false;
}

}  // namespace krt::local
