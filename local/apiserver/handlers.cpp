// The API server's resource handlers: get, list, watch, create, update,
// patch, delete and deletecollection, with Table output and the status and
// scale subresources.
#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <charconv>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"
#include "lib/reactor/deadline.hpp"
#include "local/apiserver/patch.hpp"
#include "local/apiserver/selectors.hpp"
#include "local/apiserver/server_internal.hpp"

namespace krt::local {

namespace {

// Lists and a watch's initial events are written in chunks of about this
// size, so a response holds one chunk of text at a time.
constexpr std::size_t stream_chunk_bytes = 256 * 1024;

std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  return to_lower(trim(content_type.substr(0, semi)));
}

bool wants_table(const net::http_request& req) {
  return req.header("accept").find("as=Table") != std::string_view::npos;
}

include_object table_include(const net::http_request& req) {
  auto v = req.query_param("includeObject");
  if (v && *v == "None") return include_object::none;
  if (v && *v == "Object") return include_object::object;
  return include_object::metadata;
}

bool dry_run(const net::http_request& req) {
  auto v = req.query_param("dryRun");
  return v && *v == "All";
}

// The object as served at `r`'s version (a CRD may serve several versions of
// one stored object; there is no conversion beyond apiVersion).
std::string served_json(const resource_info& r, const object_ptr& o) {
  const auto* av = o->object.if_contains("apiVersion");
  if (av != nullptr && av->is_string() && av->as_string() == r.group_version()) return o->json;
  bj::object copy = o->object;
  copy["apiVersion"] = r.group_version();
  copy["kind"] = r.kind;
  return bj::serialize(copy);
}

bj::object served_object(const resource_info& r, const object_ptr& o) {
  bj::object copy = o->object;
  copy["apiVersion"] = r.group_version();
  copy["kind"] = r.kind;
  return copy;
}

struct selectors {
  label_selector labels;
  field_selector fields;
};

krt::result<selectors, api_server::outcome> parse_selectors(const net::http_request& req, const resource_info& r) {
  selectors s;
  if (auto ls = req.query_param("labelSelector"); ls && !ls->empty()) {
    auto parsed = parse_label_selector(*ls);
    if (!parsed) return krt::unexpected(bad_request("unable to parse requirement: " + parsed.error()));
    s.labels = std::move(*parsed);
  }
  if (auto fs = req.query_param("fieldSelector"); fs && !fs->empty()) {
    auto parsed = parse_field_selector(*fs);
    if (!parsed) return krt::unexpected(bad_request("invalid field selector: " + parsed.error()));
    for (const auto& f : parsed->requirements) {
      bool ok = f.field == "metadata.name" || f.field == "metadata.namespace" ||
                std::find(r.selectable_fields.begin(), r.selectable_fields.end(), f.field) != r.selectable_fields.end();
      if (!ok) {
        std::string msg = "Unable to find \"" + r.group_version() + ", Resource=" + r.plural +
                          "\" that match label selector \"" + req.query_param("labelSelector").value_or("") +
                          "\", field selector \"" + *fs + "\": field label not supported: " + f.field;
        return krt::unexpected(bad_request(msg));
      }
    }
    s.fields = std::move(*parsed);
  }
  return s;
}

bool selected(const selectors& s, const object_ptr& o) {
  if (!s.labels.empty()) {
    const bj::object* labels = nullptr;
    if (const auto* m = o->object.if_contains("metadata"); m != nullptr && m->is_object())
      if (const auto* l = m->as_object().if_contains("labels"); l != nullptr && l->is_object()) labels = &l->as_object();
    if (!matches(s.labels, labels)) return false;
  }
  if (!s.fields.empty()) {
    bj::value v(o->object);
    if (!matches(s.fields, v)) return false;
  }
  return true;
}

// Fields of an object other than metadata and status: what bumps generation.
bool spec_changed(const bj::object& a, const bj::object& b) {
  auto skip = [](std::string_view k) { return k == "metadata" || k == "status" || k == "apiVersion" || k == "kind"; };
  for (const auto& [k, v] : a) {
    if (skip(k)) continue;
    const auto* o = b.if_contains(k);
    if (o == nullptr || *o != v) return true;
  }
  for (const auto& [k, v] : b)
    if (!skip(k) && !a.contains(k)) return true;
  return false;
}

std::int64_t meta_int(const bj::object& obj, std::string_view field) {
  const auto* m = obj.if_contains("metadata");
  if (m == nullptr || !m->is_object()) return 0;
  const auto* v = m->as_object().if_contains(field);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

void set_finalizers(bj::object& obj, const std::vector<std::string>& f) {
  auto& meta = metadata_of(obj);
  if (f.empty()) {
    meta.erase("finalizers");
    return;
  }
  bj::array a;
  for (const auto& s : f) a.emplace_back(s);
  meta["finalizers"] = std::move(a);
}

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string continue_token(std::string_view key) { return base64_encode(key); }

// The pod spec defaults kubectl describe and our node read (a subset of
// Kubernetes' defaulting).
// The resourceVersion a list or watch asks for (0 when none). The real
// server waits a little for a version it has not reached, then answers 504
// "Too large resource version" (ResourceVersionTooLarge); this server has
// every committed version at once, so it answers at once.
krt::result<std::uint64_t, api_server::outcome> requested_rv(const net::http_request& req, std::uint64_t current) {
  auto v = req.query_param("resourceVersion");
  if (!v || v->empty()) return std::uint64_t{0};
  auto n = parse_count(*v);
  if (!n) return krt::unexpected(bad_request("invalid resourceVersion \"" + *v + "\": must be a non-negative integer"));
  if (*n > current) {
    std::string msg = "Too large resource version: " + *v + ", current: " + std::to_string(current);
    bj::object details{{"causes", bj::array{bj::object{{"reason", "ResourceVersionTooLarge"},
                                                       {"message", "Too large resource version"}}}},
                       {"retryAfterSeconds", 1}};
    return krt::unexpected(api_server::outcome{504, status_error(504, "Timeout", msg, std::move(details))});
  }
  return *n;
}

void default_pod_spec(bj::object& s) {
  auto dflt = [](bj::object& o, std::string_view k, bj::value v) {
    if (!o.contains(k)) o[k] = std::move(v);
  };
  dflt(s, "restartPolicy", "Always");
  dflt(s, "terminationGracePeriodSeconds", 30);
  dflt(s, "serviceAccountName", "default");
  dflt(s, "dnsPolicy", "ClusterFirst");
  dflt(s, "schedulerName", "default-scheduler");
  dflt(s, "securityContext", bj::object{});
  for (const char* list : {"containers", "initContainers"}) {
    auto* cs = s.if_contains(list);
    if (cs == nullptr || !cs->is_array()) continue;
    for (auto& c : cs->as_array()) {
      if (!c.is_object()) continue;
      auto& co = c.as_object();
      dflt(co, "terminationMessagePath", "/dev/termination-log");
      dflt(co, "terminationMessagePolicy", "File");
      if (!co.contains("imagePullPolicy")) {
        std::string image = co.contains("image") && co.at("image").is_string() ? std::string(co.at("image").as_string()) : "";
        bool latest = image.find(':') == std::string::npos || image.ends_with(":latest");
        co["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
      }
      if (auto* ports = co.if_contains("ports"); ports != nullptr && ports->is_array())
        for (auto& p : ports->as_array())
          if (p.is_object()) dflt(p.as_object(), "protocol", "TCP");
      for (const char* probe : {"readinessProbe", "livenessProbe", "startupProbe"}) {
        auto* pr = co.if_contains(probe);
        if (pr == nullptr || !pr->is_object()) continue;
        auto& po = pr->as_object();
        dflt(po, "timeoutSeconds", 1);
        dflt(po, "periodSeconds", 10);
        dflt(po, "successThreshold", 1);
        dflt(po, "failureThreshold", 3);
        if (auto* h = po.if_contains("httpGet"); h != nullptr && h->is_object()) {
          dflt(h->as_object(), "path", "/");
          dflt(h->as_object(), "scheme", "HTTP");
        }
      }
    }
  }
}

// Built-in defaults applied on create and update (a small subset of the real
// defaulting: the fields our own controllers and kubectl's printers read).
void default_builtin(const resource_info& r, bj::object& obj) {
  if (!r.group.empty() && r.group != "apps") return;
  if (r.plural == "deployments" || r.plural == "replicasets") {
    bj::value& spec = obj["spec"];
    if (!spec.is_object()) spec = bj::object{};
    if (!spec.as_object().contains("replicas")) spec.as_object()["replicas"] = 1;
    if (r.plural == "deployments") {
      if (!spec.as_object().contains("revisionHistoryLimit")) spec.as_object()["revisionHistoryLimit"] = 10;
      if (!spec.as_object().contains("strategy"))
        spec.as_object()["strategy"] = bj::object{
            {"type", "RollingUpdate"}, {"rollingUpdate", bj::object{{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}};
    }
  } else if (r.plural == "services") {
    bj::value& spec = obj["spec"];
    if (!spec.is_object()) spec = bj::object{};
    auto& s = spec.as_object();
    if (!s.contains("type")) s["type"] = "ClusterIP";
    if (const auto* ports = s.if_contains("ports"); ports != nullptr && ports->is_array())
      for (auto& p : s["ports"].as_array())
        if (p.is_object()) {
          auto& po = p.as_object();
          if (!po.contains("protocol")) po["protocol"] = "TCP";
          if (!po.contains("targetPort") && po.contains("port")) po["targetPort"] = po["port"];
        }
  } else if (r.plural == "secrets") {
    if (!obj.contains("type")) obj["type"] = "Opaque";
    if (const auto* sd = obj.if_contains("stringData"); sd != nullptr && sd->is_object()) {
      bj::value& data = obj["data"];
      if (!data.is_object()) data = bj::object{};
      for (const auto& [k, v] : sd->as_object())
        if (v.is_string()) data.as_object()[k] = base64_encode(std::string_view(v.as_string()));
      obj.erase("stringData");
    }
  } else if (r.plural == "pods") {
    bj::value& spec = obj["spec"];
    if (!spec.is_object()) spec = bj::object{};
    default_pod_spec(spec.as_object());
  }
  if (r.plural == "deployments" || r.plural == "replicasets")
    if (auto* spec = obj.if_contains("spec"); spec != nullptr && spec->is_object())
      if (auto* t = spec->as_object().if_contains("template"); t != nullptr && t->is_object())
        if (auto* ps = t->as_object().if_contains("spec"); ps != nullptr && ps->is_object())
          default_pod_spec(ps->as_object());
}

}  // namespace

awaitable<void> api_server::handle_resource(context& cx) {
  auto& req = cx.req;
  auto seg = [&] {
    std::vector<std::string> out;
    for (auto s : split(req.path, '/'))
      if (!s.empty()) out.emplace_back(s);
    return out;
  }();
  outcome o{404, status_error(404, "NotFound", "the server could not find the requested resource")};
  std::size_t i = 0;
  auto& t = cx.t;
  if (seg.size() >= 3 && seg[0] == "api" && seg[1] == "v1") {
    t.version = "v1";
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    t.group = seg[1];
    t.version = seg[2];
    i = 3;
  } else {
    co_await cx.out.respond(o.code, "application/json", json_text(o.body));
    co_return;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (rest.size() >= 3 && rest[0] == "namespaces" && !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  t.plural = rest[0];
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() >= 3) t.sub = rest[2];
  t.res = registry_.find(t.group, t.version, t.plural);
  bool pod_proxy = t.res != nullptr && t.res->group.empty() && t.plural == "pods" && t.sub == "proxy";
  std::string proxy_path;
  if (pod_proxy) {
    // Everything after .../proxy, with the query, goes to the pod.
    auto at = req.target.find("/proxy");
    proxy_path = at == std::string::npos ? "/" : req.target.substr(at + 6);
    if (proxy_path.empty() || proxy_path.front() != '/') proxy_path.insert(0, "/");
  }
  bool shape_ok = t.res != nullptr && (rest.size() <= 3 || pod_proxy) && !(t.res->namespaced == false && !t.ns.empty()) &&
                  !(t.res->namespaced && !t.name.empty() && t.ns.empty());
  bool pod_log = t.res != nullptr && t.res->group.empty() && t.plural == "pods" && t.sub == "log";
  bool sa_token = t.res != nullptr && t.res->group.empty() && t.plural == "serviceaccounts" && t.sub == "token";
  if (shape_ok && !t.sub.empty()) {
    shape_ok = (t.sub == "status" && t.res->status_subresource) || (t.sub == "scale" && t.res->scale_subresource) ||
               pod_log || sa_token || pod_proxy;
  }
  if (!shape_ok) {
    co_await cx.out.respond(o.code, "application/json", json_text(o.body));
    co_return;
  }
  const std::string& m = req.method;
  std::string verb = t.name.empty() ? (m == "GET" ? (flag(req, "watch") ? "watch" : "list")
                                      : m == "POST" ? "create" : m == "DELETE" ? "deletecollection" : "")
                     : (m == "GET" ? "get" : m == "PUT" ? "update" : m == "PATCH" ? "patch"
                        : m == "DELETE" ? "delete" : m == "POST" ? "create" : "");
  if (!cx.user.admin) {
    std::string denied = authorize(cx.user, verb, t);
    if (audit_) audit(cx.user, verb, t, denied.empty());
    if (!denied.empty()) {
      bj::object details{{"name", t.name}, {"group", t.group}, {"kind", t.plural}};
      bj::object body = status_error(403, "Forbidden", denied, std::move(details));
      co_await cx.out.respond(403, "application/json", json_text(body));
      co_return;
    }
  }
  if (pod_proxy) {
    o = co_await proxy_to_pod(cx, proxy_path);
    if (o.code == 0) co_return;  // answered with the pod's response
    co_await cx.out.respond(o.code, "application/json", json_text(o.body));
    co_return;
  }
  if (pod_log && m == "GET") {
    co_await serve_pod_log(cx);
    co_return;
  }
  if (sa_token && m == "POST") {
    o = co_await create_token(cx);
    co_await cx.out.respond(o.code, "application/json", json_text(o.body));
    co_return;
  }
  if (pod_log || sa_token) {
    o = {405, status_error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
  } else if (!req.body.empty() && media_type(req.header("content-type")) == "application/vnd.kubernetes.protobuf") {
    o = {415, status_error(415, "UnsupportedMediaType",
                           "the local control plane accepts JSON only, not protobuf; for imperative kubectl commands "
                           "use: kubectl create ... --dry-run=client -o yaml | kubectl apply -f -")};
  } else if (t.name.empty()) {
    if (m == "GET" && flag(req, "watch")) {
      co_await serve_watch(cx);
      co_return;
    }
    if (m == "GET") {
      co_await serve_list(cx);
      co_return;
    }
    if (m == "POST") o = co_await do_create(cx);
    else if (m == "DELETE") o = co_await do_delete_collection(cx);
    else o = {405, status_error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
  } else if (m == "GET") {
    o = co_await do_get(cx);
  } else if (m == "PUT") {
    o = co_await do_update(cx, false);
  } else if (m == "PATCH") {
    o = co_await do_update(cx, true);
  } else if (m == "DELETE" && t.sub.empty()) {
    o = co_await do_delete(cx);
  } else {
    o = {405, status_error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& w : cx.warnings) headers.emplace_back("Warning", "299 - \"" + w + "\"");
  // A single object as a Table when asked (kubectl get NAME).
  if (o.code == 200 && m == "GET" && t.sub.empty() && wants_table(req) && o.body.is_object()) {
    bj::array rows;
    rows.push_back(table_row(*t.res, o.body.as_object(), table_include(req), wall_now()));
    std::string rv = meta_string(o.body.as_object(), "resourceVersion");
    o.body = make_table(*t.res, std::move(rows), true, rv, "");
  }
  co_await cx.out.respond(o.code, "application/json", json_text(o.body), headers);
}

// ---- scale ----

namespace {

bj::object scale_of(const resource_info& r, const bj::object& obj) {
  bj::object meta;
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
    if (auto v = meta_string(obj, k); !v.empty()) meta[k] = v;
  std::string spec_path = r.custom ? r.scale_spec_path : ".spec.replicas";
  std::string status_path = r.custom ? r.scale_status_path : ".status.replicas";
  bj::value root(obj);
  auto spec = eval_json_path(root, spec_path);
  auto status = eval_json_path(root, status_path);
  bj::object st{{"replicas", status.empty() ? bj::value(0) : *status.front()}};
  if (!r.custom) {
    if (const auto* s = obj.if_contains("spec"); s != nullptr && s->is_object())
      if (const auto* sel = s->as_object().if_contains("selector"); sel != nullptr && sel->is_object())
        if (const auto* ml = sel->as_object().if_contains("matchLabels"); ml != nullptr && ml->is_object()) {
          std::string text;
          for (const auto& [k, v] : ml->as_object()) {
            if (!text.empty()) text += ",";
            text += std::string(k) + "=" + (v.is_string() ? std::string(v.as_string()) : bj::serialize(v));
          }
          st["selector"] = text;
        }
  }
  return bj::object{{"kind", "Scale"},
                    {"apiVersion", "autoscaling/v1"},
                    {"metadata", std::move(meta)},
                    {"spec", bj::object{{"replicas", spec.empty() ? bj::value(0) : *spec.front()}}},
                    {"status", std::move(st)}};
}

// Writes `replicas` at a ".a.b" path, creating objects on the way.
void set_path(bj::object& obj, std::string_view path, bj::value v) {
  if (!path.empty() && path.front() == '.') path.remove_prefix(1);
  bj::object* cur = &obj;
  auto parts = split(path, '.');
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    bj::value& next = (*cur)[parts[i]];
    if (!next.is_object()) next = bj::object{};
    cur = &next.as_object();
  }
  if (!parts.empty()) (*cur)[parts.back()] = std::move(v);
}

}  // namespace

// ---- get ----

awaitable<api_server::outcome> api_server::do_get(context& cx) {
  const auto& r = *cx.t.res;
  object_ptr o = store_->get(r.storage_key, cx.t.ns, cx.t.name);
  if (!o) co_return not_found(r, cx.t.name);
  if (cx.t.sub == "scale") co_return outcome{200, scale_of(r, o->object)};
  co_return outcome{200, served_object(r, o)};
}

// ---- list ----

awaitable<void> api_server::serve_list(context& cx) {
  const auto& r = *cx.t.res;
  auto sel = parse_selectors(cx.req, r);
  if (!sel) {
    co_await cx.out.respond(sel.error().code, "application/json", json_text(sel.error().body));
    co_return;
  }
  std::size_t limit = 0;
  if (auto l = cx.req.query_param("limit"); l && !l->empty()) {
    auto n = parse_count(*l);
    if (!n) {
      outcome bad = bad_request("invalid limit \"" + *l + "\": must be a non-negative integer");
      co_await cx.out.respond(bad.code, "application/json", json_text(bad.body));
      co_return;
    }
    limit = static_cast<std::size_t>(*n);
  }
  std::string after;
  if (auto c = cx.req.query_param("continue"); c && !c->empty()) {
    auto decoded = base64_decode(*c);
    if (!decoded) {
      outcome bad = bad_request("invalid continue token");
      co_await cx.out.respond(bad.code, "application/json", json_text(bad.body));
      co_return;
    }
    after = *decoded;
  }
  if (auto asked = requested_rv(cx.req, store_->committed_rv()); !asked) {
    co_await cx.out.respond(asked.error().code, "application/json", json_text(asked.error().body));
    co_return;
  }
  std::string rv = std::to_string(store_->committed_rv());
  std::vector<object_ptr> items;
  std::string next;
  store_->list(r.storage_key, cx.t.ns, after, [&](const object_ptr& o) {
    if (!selected(*sel, o)) return true;
    if (limit != 0 && items.size() == limit) {
      next = continue_token(items.back()->ns + "/" + items.back()->name);
      return false;
    }
    items.push_back(o);
    return true;
  });
  std::string body;
  if (wants_table(cx.req)) {
    bj::array rows;
    auto now = wall_now();
    auto inc = table_include(cx.req);
    for (const auto& o : items) rows.push_back(table_row(r, o->object, inc, now));
    body = json_text(make_table(r, std::move(rows), true, rv, next));
  } else {
    bj::object meta{{"resourceVersion", rv}};
    if (!next.empty()) meta["continue"] = next;
    body += "{\"kind\":\"" + r.list_kind + "\",\"apiVersion\":\"" + r.group_version() + "\",\"metadata\":" +
            json_text(meta) + ",\"items\":[";
    // A large list goes out in chunks as it is serialised (see serve_watch).
    bool first = true, streaming = false;
    for (auto& o : items) {
      if (!first) body += ',';
      first = false;
      body += served_json(r, o);
      o.reset();
      if (body.size() < stream_chunk_bytes) continue;
      if (!streaming) {
        streaming = true;
        if (co_await cx.out.start_stream(200, "application/json")) co_return;
      }
      if (co_await cx.out.write(body)) co_return;
      body.clear();
    }
    body += "]}";
    if (streaming) {
      if (co_await cx.out.write(body)) co_return;
      co_await cx.out.finish();
      co_return;
    }
  }
  co_await cx.out.respond(200, "application/json", std::move(body));
}

// ---- watch ----

awaitable<void> api_server::serve_watch(context& cx) {
  const auto& r = *cx.t.res;
  auto sel = parse_selectors(cx.req, r);
  if (!sel) {
    co_await cx.out.respond(sel.error().code, "application/json", json_text(sel.error().body));
    co_return;
  }
  auto rv_param = requested_rv(cx.req, store_->committed_rv());
  if (!rv_param) {
    co_await cx.out.respond(rv_param.error().code, "application/json", json_text(rv_param.error().body));
    co_return;
  }
  std::uint64_t from = *rv_param;
  auto timeout = opts_.default_watch_timeout;
  if (auto v = cx.req.query_param("timeoutSeconds"); v && !v->empty()) {
    auto n = parse_count(*v);
    if (!n) {
      outcome bad = bad_request("invalid timeoutSeconds \"" + *v + "\": must be a non-negative integer");
      co_await cx.out.respond(bad.code, "application/json", json_text(bad.body));
      co_return;
    }
    timeout = std::min<std::chrono::seconds>(timeout, std::chrono::seconds(*n));
  }
  bool bookmarks = flag(cx.req, "allowWatchBookmarks");
  bool table = wants_table(cx.req);
  auto inc = table_include(cx.req);
  // The namespace filter of a watch on one object uses the store's index; a
  // metadata.name field selector is applied per event like the others.
  std::uint64_t start_rv = from != 0 ? from : store_->committed_rv();
  watcher_ptr w = store_->watch(r.storage_key, cx.t.ns, from != 0 ? from : start_rv);
  if (co_await cx.out.start_stream(200, "application/json")) {
    if (w) store_->unwatch(w);
    co_return;
  }
  if (!w) {
    std::string msg = "too old resource version: " + std::to_string(from) + " (" +
                      std::to_string(store_->compacted_rv() + 1) + ")";
    bj::object ev{{"type", "ERROR"}, {"object", status_error(410, "Expired", msg)}};
    co_await cx.out.write(json_text(ev) + "\n");
    co_await cx.out.finish();
    co_return;
  }
  struct unwatch_guard {
    object_store& s;
    watcher_ptr w;
    ~unwatch_guard() { s.unwatch(w); }
  } guard{*store_, w};
  bool columns_sent = false;
  auto event_line = [&](std::string_view type, const object_ptr& o) {
    std::string line;
    if (table) {
      bj::array rows;
      rows.push_back(table_row(r, o->object, inc, wall_now()));
      bj::object t = make_table(r, std::move(rows), !columns_sent, std::to_string(o->rv), "");
      columns_sent = true;
      line = "{\"type\":\"" + std::string(type) + "\",\"object\":" + json_text(t) + "}\n";
    } else {
      line = "{\"type\":\"" + std::string(type) + "\",\"object\":" + served_json(r, o) + "}\n";
    }
    return line;
  };
  std::string batch;
  if (from == 0) {
    // Synthetic ADDED events for the current state, then live events. The
    // objects are shared, not copied; their events go out a chunk at a time,
    // so a watch of a large collection holds one chunk, not the collection
    // as text (issue #14 item 10: 2,000 watches that did not read once took
    // the server to 15.8 GB). A client that does not take a chunk within the
    // write timeout loses the watch, as the real server drops watchers that
    // do not keep up.
    std::vector<object_ptr> initial;
    store_->list(r.storage_key, cx.t.ns, "", [&](const object_ptr& o) {
      if (o->rv <= start_rv && selected(*sel, o)) initial.push_back(o);
      return true;
    });
    for (std::size_t i = 0; i < initial.size(); ++i) {
      batch += event_line("ADDED", initial[i]);
      initial[i].reset();
      const bool last = i + 1 == initial.size();
      if (batch.size() < stream_chunk_bytes && !last) continue;
      if (co_await cx.out.write(batch)) co_return;
      batch.clear();
    }
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint64_t last_rv = start_rv;
  const auto bookmark_every = bookmarks ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              opts_.bookmark_interval)
                                        : std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now, bookmark_every);
    bool woke = co_await reactor::with_timeout(w->wake.wait(), wait);
    w->wake.reset();
    batch.clear();
    while (!w->queue.empty()) {
      store_event ev = std::move(w->queue.front());
      w->queue.pop_front();
      last_rv = ev.object->rv;
      // With a selector, an object that starts matching is ADDED and one that
      // stops matching is DELETED for this watcher, as in Kubernetes.
      bool now = selected(*sel, ev.object);
      std::string_view type = event_name(ev.type);
      if (ev.type == event_type::modified && ev.previous) {
        bool before = selected(*sel, ev.previous);
        if (!before && !now) continue;
        if (!before) type = "ADDED";
        if (!now) type = "DELETED";
      } else if (!now) {
        continue;
      }
      batch += event_line(type, ev.object);
    }
    if (!woke && bookmarks) {
      bj::object obj{{"kind", r.kind},
                     {"apiVersion", r.group_version()},
                     {"metadata", bj::object{{"resourceVersion", std::to_string(std::max(last_rv, store_->committed_rv()))}}}};
      batch += "{\"type\":\"BOOKMARK\",\"object\":" + json_text(obj) + "}\n";
    }
    if (!batch.empty() && co_await cx.out.write(batch)) co_return;
    if (w->overflowed) break;
  }
  co_await cx.out.finish();
}

// ---- create ----

awaitable<api_server::outcome> api_server::do_create(context& cx) {
  const auto& r = *cx.t.res;
  boost::system::error_code ec;
  bj::value parsed = parse_json(cx.req.body, ec);
  if (ec) co_return bad_request("error decoding the request body as JSON: " + ec.message());
  if (!parsed.is_object()) co_return bad_request("the request body must be a JSON object");
  bj::object obj = std::move(parsed.as_object());
  if (const auto* av = obj.if_contains("apiVersion"); av != nullptr && av->is_string() && std::string_view(av->as_string()) != r.group_version())
    co_return bad_request("the API version in the data (" + std::string(av->as_string()) +
                          ") does not match the expected API version (" + r.group_version() + ")");
  if (const auto* k = obj.if_contains("kind"); k != nullptr && k->is_string() && std::string_view(k->as_string()) != r.kind)
    co_return bad_request("the kind in the data (" + std::string(k->as_string()) + ") does not match the expected kind (" +
                          r.kind + ")");
  if (auto bad = invalid_metadata(r, meta_string(obj, "name"), obj)) co_return std::move(*bad);
  if (auto bad = invalid_builtin(r, meta_string(obj, "name"), obj)) co_return std::move(*bad);
  obj["apiVersion"] = r.group_version();
  obj["kind"] = r.kind;
  auto& meta = metadata_of(obj);
  std::string name = meta_string(obj, "name");
  if (name.empty()) {
    std::string gen = meta_string(obj, "generateName");
    if (gen.empty())
      co_return invalid(r, "", {{"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"}});
    name = gen + to_lower(random_suffix(5));
    meta["name"] = name;
  }
  if (r.namespaced) {
    std::string body_ns = meta_string(obj, "namespace");
    if (!body_ns.empty() && body_ns != cx.t.ns)
      co_return bad_request("the namespace of the provided object does not match the namespace sent on the request");
    meta["namespace"] = cx.t.ns;
    object_ptr ns = store_->latest(namespaces_key, "", cx.t.ns);
    if (!ns)
      co_return outcome{404, status_error(404, "NotFound", "namespaces \"" + cx.t.ns + "\" not found",
                                          bj::object{{"name", cx.t.ns}, {"kind", "namespaces"}})};
    if (!meta_string(ns->object, "deletionTimestamp").empty())
      co_return outcome{403, status_error(403, "Forbidden",
                                          r.qualified() + " \"" + name + "\" is forbidden: unable to create new content in namespace " +
                                              cx.t.ns + " because it is being terminated")};
  } else {
    meta.erase("namespace");
  }
  std::string name_error = r.plural == "namespaces" ? check_dns_label(name) : check_dns_subdomain(name);
  if (!name_error.empty()) co_return invalid(r, name, {{"FieldValueInvalid", name_error, "metadata.name"}});
  if (store_->latest(r.storage_key, cx.t.ns, name))
    co_return outcome{409, status_error(409, "AlreadyExists", r.qualified() + " \"" + name + "\" already exists",
                                        bj::object{{"name", name}, {"group", r.group}, {"kind", r.plural}})};
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  meta["generation"] = 1;
  for (const char* k : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"})
    meta.erase(k);
  if (r.status_subresource && r.custom) obj.erase("status");
  default_builtin(r, obj);
  if (r.plural == "namespaces" && r.group.empty()) {
    obj["spec"] = bj::object{{"finalizers", bj::array{"kubernetes"}}};
    obj["status"] = bj::object{{"phase", "Active"}};
    // Inserting into obj may move its members: look metadata up again.
    auto& labels = metadata_of(obj)["labels"];
    if (!labels.is_object()) labels = bj::object{};
    labels.as_object()["kubernetes.io/metadata.name"] = name;
  }
  if (r.plural == "pods" && r.group.empty()) {
    bj::value& st = obj["status"];
    if (!st.is_object() || st.as_object().empty()) st = bj::object{{"phase", "Pending"}, {"qosClass", "BestEffort"}};
  }
  if (r.plural == "customresourcedefinitions") {
    auto rs = resources_from_crd(obj);
    if (!rs) co_return invalid(r, name, rs.error());
    for (const auto& nr : *rs) {
      auto existing = registry_.find(nr->group, nr->version, nr->plural);
      if (existing && !existing->custom)
        co_return invalid(r, name, {{"FieldValueInvalid", "Invalid value: the resource is served by the server itself",
                                     "spec.names.plural"}});
    }
    const auto& spec = obj["spec"].as_object();
    bj::array stored;
    for (const auto& v : spec.at("versions").as_array())
      if (v.is_object())
        if (const auto* s = v.as_object().if_contains("storage"); s != nullptr && s->is_bool() && s->as_bool())
          stored.push_back(v.as_object().at("name"));
    std::string now = now_rfc3339();
    obj["status"] = bj::object{
        {"acceptedNames", spec.contains("names") ? spec.at("names") : bj::value(bj::object{})},
        {"storedVersions", std::move(stored)},
        {"conditions",
         bj::array{bj::object{{"type", "NamesAccepted"}, {"status", "True"}, {"reason", "NoConflicts"},
                              {"message", "no conflicts found"}, {"lastTransitionTime", now}},
                   bj::object{{"type", "Established"}, {"status", "True"}, {"reason", "InitialNamesAccepted"},
                              {"message", "the initial names have been accepted"}, {"lastTransitionTime", now}}}}};
  }
  if (r.custom && r.schema) {
    bj::value v(std::move(obj));
    auto adm = admit(*r.schema, v, nullptr);
    obj = std::move(v.as_object());
    if (!adm.errors.empty()) co_return invalid(r, name, adm.errors);
    if (!adm.unknown_fields.empty()) {
      std::string mode = cx.req.query_param("fieldValidation").value_or("");
      if (mode == "Strict") {
        std::string msg = r.kind + " in version \"" + r.version + "\" cannot be handled as a " + r.kind +
                          ": strict decoding error: ";
        for (std::size_t i = 0; i < adm.unknown_fields.size(); ++i)
          msg += (i ? ", " : "") + std::string("unknown field \"") + adm.unknown_fields[i].substr(1) + "\"";
        co_return bad_request(msg);
      }
      if (mode == "Warn")
        for (const auto& f : adm.unknown_fields) cx.warnings.push_back("unknown field \\\"" + f.substr(1) + "\\\"");
    }
  }
  if (auto bad = out_of_bounds(r, name, obj)) co_return std::move(*bad);
  if (!cx.user.admin && r.group == "rbac.authorization.k8s.io")
    if (auto e = escalation_error(cx.user, r.plural, cx.t.ns, obj); !e.empty())
      co_return outcome{403, status_error(403, "Forbidden", e, bj::object{{"name", name}, {"group", r.group}, {"kind", r.plural}})};
  if (dry_run(cx.req)) co_return outcome{201, std::move(obj)};
  auto w = co_await store_->write(event_type::added, r.storage_key, std::move(obj));
  if (!w) co_return outcome{500, status_error(500, "InternalError", w.error())};
  co_return outcome{201, served_object(r, *w)};
}

// ---- update and patch ----

awaitable<api_server::outcome> api_server::do_update(context& cx, bool patch) {
  const auto& r = *cx.t.res;
  object_ptr current = store_->latest(r.storage_key, cx.t.ns, cx.t.name);
  if (!current) co_return not_found(r, cx.t.name);
  boost::system::error_code ec;
  bj::value body = parse_json(cx.req.body, ec);
  if (ec) co_return bad_request("error decoding the request body as JSON: " + ec.message());
  bj::value next;
  bool rv_given = false;
  if (cx.t.sub == "scale") {
    // Scale writes change only the replica count.
    bj::value scale(scale_of(r, current->object));
    if (patch) {
      std::string mt = media_type(cx.req.header("content-type"));
      if (mt == "application/json-patch+json") {
        if (auto big = too_many_operations(body)) co_return std::move(*big);
        if (auto pr = apply_json_patch(scale, body); !pr) co_return outcome{422, status_error(422, "Invalid", pr.error())};
      } else {
        apply_merge_patch(scale, body);
      }
    } else {
      scale = body;
    }
    const bj::value* replicas = nullptr;
    if (scale.is_object())
      if (const auto* s = scale.as_object().if_contains("spec"); s != nullptr && s->is_object())
        replicas = s->as_object().if_contains("replicas");
    if (replicas == nullptr || !replicas->is_int64() || replicas->as_int64() < 0)
      co_return invalid(r, cx.t.name, {{"FieldValueInvalid", "Invalid value: must be a non-negative integer", "spec.replicas"}});
    bj::object obj = current->object;
    set_path(obj, r.custom ? r.scale_spec_path : ".spec.replicas", *replicas);
    auto o = co_await commit_update(r, current, std::move(obj), dry_run(cx.req));
    if (o.code == 200 && o.body.is_object()) o.body = scale_of(r, o.body.as_object());
    co_return o;
  }
  if (patch) {
    std::string mt = media_type(cx.req.header("content-type"));
    next = bj::value(current->object);
    if (mt == "application/merge-patch+json") {
      if (!body.is_object()) co_return bad_request("a merge patch must be a JSON object");
      apply_merge_patch(next, body);
    } else if (mt == "application/json-patch+json") {
      if (!body.is_array()) co_return bad_request("a JSON patch must be a JSON array of operations");
      if (auto big = too_many_operations(body)) co_return std::move(*big);
      if (auto pr = apply_json_patch(next, body); !pr)
        co_return outcome{422, status_error(422, "Invalid", "the server rejected our request due to an error in our request: " + pr.error())};
    } else if (mt == "application/strategic-merge-patch+json") {
      if (r.custom)
        co_return outcome{415, status_error(415, "UnsupportedMediaType",
                                            "the body of the request was in an unknown format - accepted media types "
                                            "include: application/json-patch+json, application/merge-patch+json")};
      if (!body.is_object()) co_return bad_request("a strategic merge patch must be a JSON object");
      if (auto pr = apply_strategic_merge_patch(next, body, r.kind); !pr) co_return bad_request(pr.error());
    } else if (mt == "application/apply-patch+yaml") {
      co_return outcome{415, status_error(415, "UnsupportedMediaType",
                                          "server-side apply is not supported by the kruntimes local control plane; "
                                          "use client-side apply (kubectl apply without --server-side)")};
    } else {
      co_return outcome{415, status_error(415, "UnsupportedMediaType",
                                          "the body of the request was in an unknown format - accepted media types "
                                          "include: application/json-patch+json, application/merge-patch+json, "
                                          "application/strategic-merge-patch+json")};
    }
    if (!next.is_object()) co_return bad_request("the patched object is not a JSON object");
    std::string patched_rv = meta_string(next.as_object(), "resourceVersion");
    rv_given = patched_rv != std::to_string(current->rv);
    if (rv_given) co_return conflict(r, cx.t.name, "the object has been modified; please apply your changes to the latest version and try again");
  } else {
    if (!body.is_object()) co_return bad_request("the request body must be a JSON object");
    next = std::move(body);
    auto& obj = next.as_object();
    if (const auto* av = obj.if_contains("apiVersion"); av != nullptr && av->is_string() && std::string_view(av->as_string()) != r.group_version())
      co_return bad_request("the API version in the data (" + std::string(av->as_string()) +
                            ") does not match the expected API version (" + r.group_version() + ")");
    std::string name = meta_string(obj, "name");
    if (!name.empty() && name != cx.t.name)
      co_return bad_request("the name of the object (" + name + ") does not match the name on the URL (" + cx.t.name + ")");
    std::string rv = meta_string(obj, "resourceVersion");
    if (!rv.empty() && rv != std::to_string(current->rv))
      co_return conflict(r, cx.t.name, "the object has been modified; please apply your changes to the latest version and try again");
  }
  bj::object obj = std::move(next.as_object());
  if (auto bad = invalid_metadata(r, cx.t.name, obj)) co_return std::move(*bad);
  if (auto bad = invalid_builtin(r, cx.t.name, obj)) co_return std::move(*bad);
  const bj::object& old = current->object;
  if (cx.t.sub == "status") {
    bj::object merged = old;
    if (const auto* st = obj.if_contains("status")) merged["status"] = *st;
    else merged.erase("status");
    obj = std::move(merged);
  } else if (r.status_subresource) {
    if (const auto* st = old.if_contains("status")) obj["status"] = *st;
    else obj.erase("status");
  }
  obj["apiVersion"] = r.group_version();
  obj["kind"] = r.kind;
  auto& meta = metadata_of(obj);
  meta["name"] = cx.t.name;
  if (r.namespaced) meta["namespace"] = cx.t.ns;
  const bj::object* old_meta = old.if_contains("metadata") ? &old.at("metadata").as_object() : nullptr;
  for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
    const bj::value* v = old_meta != nullptr ? old_meta->if_contains(k) : nullptr;
    if (v != nullptr) meta[k] = *v;
    else meta.erase(k);
  }
  meta.erase("managedFields");
  meta.erase("selfLink");
  if (cx.t.sub.empty()) default_builtin(r, obj);
  if (r.plural == "customresourcedefinitions" && cx.t.sub.empty()) {
    auto rs = resources_from_crd(obj);
    if (!rs) co_return invalid(r, cx.t.name, rs.error());
  }
  if (r.custom && r.schema) {
    bj::value v(std::move(obj));
    bj::value old_v(old);
    auto adm = admit(*r.schema, v, &old_v);
    obj = std::move(v.as_object());
    if (!adm.errors.empty()) co_return invalid(r, cx.t.name, adm.errors);
    if (!adm.unknown_fields.empty()) {
      std::string mode = cx.req.query_param("fieldValidation").value_or("");
      if (mode == "Strict") {
        std::string msg = "strict decoding error: ";
        for (std::size_t i = 0; i < adm.unknown_fields.size(); ++i)
          msg += (i ? ", " : "") + std::string("unknown field \"") + adm.unknown_fields[i].substr(1) + "\"";
        co_return bad_request(msg);
      }
      if (mode == "Warn")
        for (const auto& f : adm.unknown_fields) cx.warnings.push_back("unknown field \\\"" + f.substr(1) + "\\\"");
    }
  }
  if (!cx.user.admin && r.group == "rbac.authorization.k8s.io")
    if (auto e = escalation_error(cx.user, r.plural, cx.t.ns, obj); !e.empty())
      co_return outcome{403, status_error(403, "Forbidden", e,
                                          bj::object{{"name", cx.t.name}, {"group", r.group}, {"kind", r.plural}})};
  if (!cx.user.admin)
    if (auto e = restriction_error(cx.user, cx.t, old, obj); !e.empty())
      co_return outcome{403, status_error(403, "Forbidden", e,
                                          bj::object{{"name", cx.t.name}, {"group", r.group}, {"kind", r.plural}})};
  co_return co_await commit_update(r, current, std::move(obj), dry_run(cx.req));
}

awaitable<api_server::outcome> api_server::commit_update(const resource_info& r, object_ptr current, bj::object next,
                                                         bool dry) {
  const bj::object& old = current->object;
  auto& meta = metadata_of(next);
  std::int64_t gen = meta_int(old, "generation");
  if (spec_changed(old, next)) gen += 1;
  if (gen != 0) meta["generation"] = gen;
  meta["resourceVersion"] = std::to_string(current->rv);
  if (bj::value(next) == bj::value(old)) co_return outcome{200, served_object(r, current)};
  if (auto bad = out_of_bounds(r, meta_string(next, "name"), next, &old)) co_return std::move(*bad);
  if (dry) co_return outcome{200, std::move(next)};
  bool deleting = !meta_string(next, "deletionTimestamp").empty();
  bool pod_terminating = opts_.graceful_pod_deletion && r.plural == "pods" && r.group.empty() &&
                         meta_int(next, "deletionGracePeriodSeconds") > 0;
  if (deleting && finalizers_of(next).empty() && !(r.plural == "namespaces" && r.group.empty()) && !pod_terminating) {
    auto w = co_await store_->write(event_type::deleted, r.storage_key, std::move(next));
    if (!w) co_return outcome{500, status_error(500, "InternalError", w.error())};
    co_return outcome{200, served_object(r, *w)};
  }
  auto w = co_await store_->write(event_type::modified, r.storage_key, std::move(next));
  if (!w) co_return outcome{500, status_error(500, "InternalError", w.error())};
  co_return outcome{200, served_object(r, *w)};
}

// ---- delete ----

awaitable<api_server::outcome> api_server::do_delete(context& cx) {
  const auto& r = *cx.t.res;
  object_ptr current = store_->latest(r.storage_key, cx.t.ns, cx.t.name);
  if (!current) co_return not_found(r, cx.t.name);
  std::string propagation = cx.req.query_param("propagationPolicy").value_or("");
  bool dry = dry_run(cx.req);
  std::string pre_uid, pre_rv;
  std::optional<std::int64_t> grace;
  if (auto g = cx.req.query_param("gracePeriodSeconds"); g && !g->empty())
    if (auto n = parse_count(*g)) grace = static_cast<std::int64_t>(*n);
  if (!cx.req.body.empty()) {
    boost::system::error_code ec;
    bj::value opts = parse_json(cx.req.body, ec);
    if (ec || !opts.is_object()) co_return bad_request("the request body must be DeleteOptions as a JSON object");
    const auto& o = opts.as_object();
    if (const auto* p = o.if_contains("propagationPolicy"); p != nullptr && p->is_string()) propagation = p->as_string();
    if (const auto* d = o.if_contains("dryRun"); d != nullptr && d->is_array())
      for (const auto& e : d->as_array())
        if (e == "All") dry = true;
    if (const auto* p = o.if_contains("preconditions"); p != nullptr && p->is_object()) {
      if (const auto* u = p->as_object().if_contains("uid"); u != nullptr && u->is_string()) pre_uid = u->as_string();
      if (const auto* v = p->as_object().if_contains("resourceVersion"); v != nullptr && v->is_string())
        pre_rv = v->as_string();
    }
    if (const auto* g = o.if_contains("gracePeriodSeconds"); g != nullptr && g->is_int64()) grace = g->as_int64();
    if (const auto* orphan = o.if_contains("orphanDependents"); orphan != nullptr && orphan->is_bool() && propagation.empty())
      propagation = orphan->as_bool() ? "Orphan" : "Background";
  }
  if (!propagation.empty() && propagation != "Background" && propagation != "Foreground" && propagation != "Orphan")
    co_return bad_request("propagationPolicy must be one of Background, Foreground, Orphan; got \"" + propagation + "\"");
  std::string uid = meta_string(current->object, "uid");
  if (!pre_uid.empty() && pre_uid != uid)
    co_return conflict(r, cx.t.name, "Precondition failed: UID in precondition: " + pre_uid + ", UID in object meta: " + uid);
  if (!pre_rv.empty() && pre_rv != std::to_string(current->rv))
    co_return conflict(r, cx.t.name, "Precondition failed: ResourceVersion in precondition: " + pre_rv +
                                         ", ResourceVersion in object meta: " + std::to_string(current->rv));
  co_return co_await delete_object(r, current, propagation, dry, grace);
}

awaitable<api_server::outcome> api_server::delete_object(const resource_info& r, object_ptr current,
                                                         std::string_view propagation, bool dry,
                                                         std::optional<std::int64_t> grace) {
  bj::object obj = current->object;
  auto finalizers = finalizers_of(obj);
  auto add = [&](const char* f) {
    if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end()) finalizers.emplace_back(f);
  };
  bool is_namespace = r.plural == "namespaces" && r.group.empty();
  bool already = !meta_string(obj, "deletionTimestamp").empty();
  if (!already && propagation == "Foreground") add("foregroundDeletion");
  if (!already && propagation == "Orphan") add("orphan");
  std::string uid = meta_string(obj, "uid");
  // A pod running on the node is deleted gracefully: deletionTimestamp and a
  // grace period first; the node stops its processes and then deletes it with
  // gracePeriodSeconds=0.
  bool graceful_pod = false;
  if (opts_.graceful_pod_deletion && r.plural == "pods" && r.group.empty() && !(grace && *grace == 0))
    if (const auto* spec = obj.if_contains("spec"); spec != nullptr && spec->is_object())
      if (const auto* node = spec->as_object().if_contains("nodeName"); node != nullptr && node->is_string() &&
                                                                          !node->as_string().empty())
        graceful_pod = true;
  if (finalizers.empty() && !is_namespace && !graceful_pod) {
    if (dry) co_return outcome{200, served_object(r, current)};
    auto w = co_await store_->write(event_type::deleted, r.storage_key, std::move(obj));
    if (!w) co_return outcome{500, status_error(500, "InternalError", w.error())};
    bj::object details{{"name", (*w)->name}, {"group", r.group}, {"kind", r.plural}, {"uid", uid}};
    bj::object st{{"kind", "Status"},       {"apiVersion", "v1"}, {"metadata", bj::object{}},
                  {"status", "Success"},    {"details", std::move(details)}};
    co_return outcome{200, std::move(st)};
  }
  if (already && finalizers == finalizers_of(current->object)) co_return outcome{200, served_object(r, current)};
  set_finalizers(obj, finalizers);
  auto& meta = metadata_of(obj);
  if (!already) {
    std::int64_t period = 0;
    if (graceful_pod) {
      period = 30;
      if (const auto* t = field_at(obj, {"spec", "terminationGracePeriodSeconds"}); t != nullptr && t->is_int64())
        period = t->as_int64();
      if (grace) period = *grace;
    }
    meta["deletionTimestamp"] = now_rfc3339();
    meta["deletionGracePeriodSeconds"] = period;
  }
  if (is_namespace) {
    bj::value& st = obj["status"];
    if (!st.is_object()) st = bj::object{};
    st.as_object()["phase"] = "Terminating";
  }
  if (dry) co_return outcome{200, std::move(obj)};
  auto w = co_await store_->write(event_type::modified, r.storage_key, std::move(obj));
  if (!w) co_return outcome{500, status_error(500, "InternalError", w.error())};
  co_return outcome{200, served_object(r, *w)};
}

awaitable<api_server::outcome> api_server::do_delete_collection(context& cx) {
  const auto& r = *cx.t.res;
  auto sel = parse_selectors(cx.req, r);
  if (!sel) co_return sel.error();
  std::vector<object_ptr> victims;
  store_->list(r.storage_key, cx.t.ns, "", [&](const object_ptr& o) {
    if (selected(*sel, o)) victims.push_back(o);
    return true;
  });
  std::string propagation = cx.req.query_param("propagationPolicy").value_or("Background");
  bj::array items;
  for (const auto& v : victims) {
    object_ptr current = store_->latest(r.storage_key, v->ns, v->name);
    if (!current) continue;
    auto o = co_await delete_object(r, current, propagation, dry_run(cx.req), std::nullopt);
    if (o.code >= 300) co_return o;
    items.push_back(served_object(r, current));
  }
  co_return outcome{200, bj::object{{"kind", r.list_kind},
                                    {"apiVersion", r.group_version()},
                                    {"metadata", bj::object{{"resourceVersion", std::to_string(store_->committed_rv())}}},
                                    {"items", std::move(items)}}};
}

}  // namespace krt::local

namespace krt::local {

// ---- pods/log ----

awaitable<void> api_server::serve_pod_log(context& cx) {
  const auto& r = *cx.t.res;
  object_ptr pod = store_->get(r.storage_key, cx.t.ns, cx.t.name);
  outcome err;
  pod_log_request lr;
  lr.ns = cx.t.ns;
  lr.pod = cx.t.name;
  lr.container = cx.req.query_param("container").value_or("");
  lr.follow = flag(cx.req, "follow");
  lr.previous = flag(cx.req, "previous");
  lr.timestamps = flag(cx.req, "timestamps");
  auto number = [&](const char* name) -> std::optional<std::int64_t> {
    auto v = cx.req.query_param(name);
    if (!v || v->empty()) return std::nullopt;
    auto n = parse_count(*v);
    if (!n) return std::nullopt;
    return static_cast<std::int64_t>(*n);
  };
  lr.tail_lines = number("tailLines");
  lr.since_seconds = number("sinceSeconds");
  lr.limit_bytes = number("limitBytes");
  std::vector<std::string> names;
  if (pod) {
    lr.uid = meta_string(pod->object, "uid");
    if (const auto* cs = field_at(pod->object, {"spec", "containers"}); cs != nullptr && cs->is_array())
      for (const auto& c : cs->as_array())
        if (c.is_object())
          if (const auto* n = c.as_object().if_contains("name"); n != nullptr && n->is_string())
            names.emplace_back(n->as_string());
  }
  if (!pod) {
    err = not_found(r, cx.t.name);
  } else if (lr.container.empty() && names.size() != 1) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : " ") + n;
    err = bad_request("a container name must be specified for pod " + cx.t.name + ", choose one of: [" + list + "]");
  } else if (!lr.container.empty() && std::find(names.begin(), names.end(), lr.container) == names.end()) {
    err = bad_request("container " + lr.container + " is not valid for pod " + cx.t.name);
  } else if (logs_ == nullptr) {
    err = bad_request("the local node is not running, so pods have no logs");
  } else {
    if (lr.container.empty()) lr.container = names.front();
    auto failed = co_await logs_->serve_log(lr, cx.out);
    if (!failed) co_return;
    err = bad_request(*failed);
  }
  co_await cx.out.respond(err.code, "application/json", json_text(err.body));
}

}  // namespace krt::local

namespace krt::local {

// ---- pods/proxy ----

namespace {

// The pod's side of a proxied request: bytes read so far, and more on demand.
struct upstream {
  asio::ip::tcp::socket& sock;
  std::string buf;
  bool eof = false;

  // Reads once; false when nothing more will come.
  awaitable<bool> more() {
    if (eof) co_return false;
    char tmp[65536];
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp), use_nothrow);
    if (n > 0) buf.append(tmp, n);
    if (ec) eof = true;
    co_return n > 0 || !eof;
  }
};

// Connects, sends the request and reads up to the end of the response head.
// Returns the offset of the body in up.buf, or npos.
awaitable<std::size_t> exchange_head(upstream& up, asio::ip::tcp::endpoint ep, std::string request) {
  co_await up.sock.async_connect(ep, asio::use_awaitable);
  co_await asio::async_write(up.sock, asio::buffer(request), asio::use_awaitable);
  for (;;) {
    if (auto at = up.buf.find("\r\n\r\n"); at != std::string::npos) co_return at + 4;
    if (up.buf.size() > (64 << 10)) co_return std::string::npos;
    bool more = co_await up.more();
    if (!more) co_return std::string::npos;
  }
}

std::string head_value(std::string_view head_lower, std::string_view head, std::string_view name) {
  std::string key = "\r\n" + std::string(name) + ":";
  auto at = head_lower.find(key);
  if (at == std::string_view::npos) return {};
  auto end = head_lower.find("\r\n", at + 2);
  return std::string(trim(head.substr(at + key.size(), end - at - key.size())));
}

}  // namespace

// Proxies to the pod's address and port like the API server's pods/proxy:
// the response head within 30 s, then the body streamed as it arrives
// (chunked or close-delimited bodies are re-chunked to the client), so a
// follow-style endpoint streams through it.
awaitable<api_server::outcome> api_server::proxy_to_pod(context& cx, std::string path) {
  const auto& r = *cx.t.res;
  std::string name = cx.t.name, port;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    port = name.substr(colon + 1);
    name = name.substr(0, colon);
  }
  object_ptr pod = store_->get(r.storage_key, cx.t.ns, name);
  if (!pod) co_return not_found(r, name);
  const auto* ip = field_at(pod->object, {"status", "podIP"});
  if (ip == nullptr || !ip->is_string() || ip->as_string().empty())
    co_return outcome{503, status_error(503, "ServiceUnavailable", "pod " + name + " has no IP address yet")};
  if (port.empty()) {
    // The first declared container port.
    if (const auto* cs = field_at(pod->object, {"spec", "containers"}); cs != nullptr && cs->is_array())
      for (const auto& c : cs->as_array())
        if (c.is_object())
          if (const auto* ps = c.as_object().if_contains("ports"); ps != nullptr && ps->is_array() && !ps->as_array().empty())
            if (const auto* cp = ps->as_array()[0].as_object().if_contains("containerPort"); cp != nullptr && cp->is_int64()) {
              port = std::to_string(cp->as_int64());
              break;
            }
  }
  auto port_num = parse_count(port);
  if (!port_num || *port_num == 0 || *port_num > 65535)
    co_return bad_request("pod " + name + " declares no container port; address one as " + name + ":<port>");
  std::string request = cx.req.method + " " + path + " HTTP/1.1\r\nHost: " + std::string(ip->as_string()) + ":" +
                        port + "\r\nConnection: close\r\n";
  for (const char* h : {"content-type", "accept", "user-agent", "range"})
    if (auto v = cx.req.header(h); !v.empty()) request += std::string(h) + ": " + std::string(v) + "\r\n";
  request += "Content-Length: " + std::to_string(cx.req.body.size()) + "\r\n\r\n" + cx.req.body;
  asio::ip::tcp::socket sock(ex_);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(ip->as_string()), ec);
  if (ec) co_return outcome{503, status_error(503, "ServiceUnavailable", "pod " + name + " has an invalid IP")};
  asio::ip::tcp::endpoint ep(addr, static_cast<std::uint16_t>(*port_num));
  upstream up{sock};
  std::optional<std::size_t> body_at;
  std::string failure;
  try {
    body_at = co_await reactor::with_timeout(exchange_head(up, ep, std::move(request)), std::chrono::seconds(30));
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    failure = e.code().message();
  }
  if (!body_at) {
    std::string msg = "error trying to reach service: " + (failure.empty() ? "timed out" : failure);
    co_return outcome{503, status_error(503, "ServiceUnavailable", msg)};
  }
  unsigned status = 0;
  if (*body_at != std::string::npos && up.buf.starts_with("HTTP/")) {
    auto sp = up.buf.find(' ');
    status = static_cast<unsigned>(std::atoi(up.buf.c_str() + sp + 1));
  }
  if (status < 100 || status > 599)
    co_return outcome{502, status_error(502, "BadGateway", "pod " + name + " sent a malformed HTTP response")};
  std::string head = up.buf.substr(0, *body_at - 2);
  std::string lower = to_lower(head);
  up.buf.erase(0, *body_at);
  std::string content_type = head_value(lower, head, "content-type");
  if (content_type.empty()) content_type = "application/octet-stream";
  std::vector<std::pair<std::string, std::string>> extra;
  for (const char* h : {"content-disposition", "x-kruntimes-digest", "x-kruntimes-run-phase"})
    if (auto v = head_value(lower, head, h); !v.empty()) extra.emplace_back(h, v);
  bool chunked = to_lower(head_value(lower, head, "transfer-encoding")).find("chunked") != std::string::npos;
  std::string length_text = head_value(lower, head, "content-length");
  if (!chunked && !length_text.empty()) {
    auto length = parse_count(length_text);
    if (length && *length <= (1U << 20)) {
      while (up.buf.size() < *length) {
        bool more = co_await up.more();
        if (!more) break;
      }
      up.buf.resize(std::min<std::size_t>(up.buf.size(), *length));
      co_await cx.out.respond(status, content_type, std::move(up.buf), extra);
      co_return outcome{0, nullptr};
    }
  }
  // Stream: re-chunk whatever the pod sends, decoding its chunking.
  auto started = co_await cx.out.start_stream(status, content_type, extra);
  if (started) co_return outcome{0, nullptr};
  if (!chunked) {
    std::uint64_t left = length_text.empty() ? UINT64_MAX : parse_count(length_text).value_or(0);
    for (;;) {
      if (!up.buf.empty()) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(up.buf.size(), left));
        auto wrote = co_await cx.out.write(std::string_view(up.buf).substr(0, n));
        if (wrote) co_return outcome{0, nullptr};
        left -= n;
        up.buf.clear();
      }
      if (left == 0) break;
      bool more = co_await up.more();
      if (!more) break;
    }
  } else {
    for (;;) {
      auto eol = up.buf.find("\r\n");
      if (eol == std::string::npos) {
        bool more = co_await up.more();
        if (!more) break;
        continue;
      }
      std::size_t size = std::strtoul(up.buf.c_str(), nullptr, 16);
      if (size == 0) break;  // the last chunk; trailers are dropped
      while (up.buf.size() < eol + 2 + size + 2) {
        bool more = co_await up.more();
        if (!more) break;
      }
      if (up.buf.size() < eol + 2 + size) break;  // truncated by the pod
      auto wrote = co_await cx.out.write(std::string_view(up.buf).substr(eol + 2, size));
      if (wrote) co_return outcome{0, nullptr};
      up.buf.erase(0, std::min(up.buf.size(), eol + 2 + size + 2));
    }
  }
  co_await cx.out.finish();
  co_return outcome{0, nullptr};
}

}  // namespace krt::local
