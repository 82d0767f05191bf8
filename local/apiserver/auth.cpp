// Authentication (the admin token and service account tokens) and RBAC
// authorization for service accounts, as the Kubernetes RBAC authorizer
// defines it: Roles and ClusterRoles granted by RoleBindings and
// ClusterRoleBindings to ServiceAccount, User and Group subjects.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"
#include "local/apiserver/server_internal.hpp"

namespace krt::local {

namespace {

std::string base64url(std::string_view in) {
  std::string s = base64_encode(in);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::optional<std::string> unbase64url(std::string_view in) {
  std::string s(in);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0) s.push_back('=');
  return base64_decode(s);
}

std::string hmac(const std::string& key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string str_at(const bj::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool contains(const bj::value* list, std::string_view item, bool wildcard = true) {
  if (list == nullptr || !list->is_array()) return false;
  for (const auto& e : list->as_array())
    if (e.is_string() && (e.as_string() == item || (wildcard && e.as_string() == "*"))) return true;
  return false;
}

bool subject_matches(const bj::value& s, const user_info& user) {
  if (!s.is_object()) return false;
  const auto& o = s.as_object();
  std::string kind = str_at(o, "kind"), name = str_at(o, "name");
  if (kind == "ServiceAccount") return user.name == "system:serviceaccount:" + str_at(o, "namespace") + ":" + name;
  if (kind == "User") return user.name == name;
  if (kind == "Group") return std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end();
  return false;
}

// Whether one PolicyRule allows the request.
bool rule_allows(const bj::value& rule, std::string_view verb, const std::string& group, const std::string& resource,
                 const std::string& name) {
  if (!rule.is_object()) return false;
  const auto& r = rule.as_object();
  if (!contains(r.if_contains("verbs"), verb)) return false;
  if (!contains(r.if_contains("apiGroups"), group)) return false;
  const bj::value* resources = r.if_contains("resources");
  bool resource_ok = contains(resources, resource);
  // "pods/*" grants every subresource of pods; "*/scale" scale of anything.
  if (!resource_ok && resources != nullptr && resources->is_array()) {
    auto slash = resource.find('/');
    if (slash != std::string::npos)
      for (const auto& e : resources->as_array())
        if (e.is_string() && (e.as_string() == resource.substr(0, slash) + "/*" ||
                              e.as_string() == "*/" + resource.substr(slash + 1)))
          resource_ok = true;
  }
  if (!resource_ok) return false;
  const bj::value* names = r.if_contains("resourceNames");
  if (names != nullptr && names->is_array() && !names->as_array().empty())
    return !name.empty() && contains(names, name, false);
  return true;
}

// Whether a nonResourceURLs entry of an owner rule covers `url` ("*", the
// exact path, or a "/prefix/*" the path starts with).
bool url_covered(const bj::value* owner_urls, std::string_view url) {
  if (owner_urls == nullptr || !owner_urls->is_array()) return false;
  for (const auto& e : owner_urls->as_array()) {
    if (!e.is_string()) continue;
    std::string_view o = e.as_string();
    if (o == "*" || o == url) return true;
    if (o.ends_with("*") && url.starts_with(o.substr(0, o.size() - 1))) return true;
  }
  return false;
}

// The parts of `rule` that no rule of `owner` covers, one line each in the
// real server's format ({APIGroups:["*"], Resources:["*"], Verbs:["*"]}). A
// rule is broken down into single (group, resource, name, verb) grants as
// Kubernetes' policy comparator does; a wildcard in the rule is covered only
// by the same wildcard.
std::vector<std::string> uncovered(const bj::value& rule, const std::vector<bj::value>& owner) {
  std::vector<std::string> missing;
  if (!rule.is_object()) return missing;
  const auto& r = rule.as_object();
  auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
  auto verbs = strings_of(r.if_contains("verbs"));
  for (const auto& url : strings_of(r.if_contains("nonResourceURLs"))) {
    for (const auto& verb : verbs) {
      bool ok = std::any_of(owner.begin(), owner.end(), [&](const bj::value& o) {
        return o.is_object() && contains(o.as_object().if_contains("verbs"), verb) &&
               url_covered(o.as_object().if_contains("nonResourceURLs"), url);
      });
      if (!ok) missing.push_back("{NonResourceURLs:[" + quoted(url) + "], Verbs:[" + quoted(verb) + "]}");
    }
  }
  auto names = strings_of(r.if_contains("resourceNames"));
  if (names.empty()) names.emplace_back();
  for (const auto& group : strings_of(r.if_contains("apiGroups")))
    for (const auto& resource : strings_of(r.if_contains("resources")))
      for (const auto& name : names)
        for (const auto& verb : verbs) {
          bool ok = std::any_of(owner.begin(), owner.end(),
                                [&](const bj::value& o) { return rule_allows(o, verb, group, resource, name); });
          if (ok) continue;
          std::string line = "{APIGroups:[" + quoted(group) + "], Resources:[" + quoted(resource) + "]";
          if (!name.empty()) line += ", ResourceNames:[" + quoted(name) + "]";
          missing.push_back(line + ", Verbs:[" + quoted(verb) + "]}");
        }
  return missing;
}

}  // namespace

std::vector<bj::value> api_server::rules_held(const user_info& user, const std::string& ns) const {
  std::vector<bj::value> rules;
  auto add_role = [&](const bj::object& binding, const std::string& binding_ns) {
    const auto* subjects = binding.if_contains("subjects");
    if (subjects == nullptr || !subjects->is_array()) return;
    if (std::none_of(subjects->as_array().begin(), subjects->as_array().end(),
                     [&](const bj::value& s) { return subject_matches(s, user); }))
      return;
    const auto* ref = binding.if_contains("roleRef");
    if (ref == nullptr || !ref->is_object()) return;
    std::string kind = str_at(ref->as_object(), "kind"), name = str_at(ref->as_object(), "name");
    object_ptr role = kind == "ClusterRole" ? store_->get("rbac.authorization.k8s.io/clusterroles", "", name)
                                            : store_->get("rbac.authorization.k8s.io/roles", binding_ns, name);
    if (!role) return;
    if (const auto* rs = role->object.if_contains("rules"); rs != nullptr && rs->is_array())
      for (const auto& rule : rs->as_array()) rules.push_back(rule);
  };
  store_->list("rbac.authorization.k8s.io/clusterrolebindings", "", "", [&](const object_ptr& b) {
    add_role(b->object, "");
    return true;
  });
  if (!ns.empty())
    store_->list("rbac.authorization.k8s.io/rolebindings", ns, "", [&](const object_ptr& b) {
      add_role(b->object, ns);
      return true;
    });
  return rules;
}

// Kubernetes refuses to let anyone grant permissions they do not hold
// ("Privilege escalation prevention and bootstrapping" in its RBAC docs): a
// Role or ClusterRole may be written only by a user who holds every rule in
// it (in the role's namespace, or cluster-wide for a ClusterRole) or has the
// `escalate` verb on it; a RoleBinding or ClusterRoleBinding only by a user
// who holds every rule of the role it references (in the binding's scope) or
// has the `bind` verb on that role.
std::string api_server::escalation_error(const user_info& user, std::string_view plural, const std::string& ns,
                                         const bj::object& obj) const {
  auto has_verb = [&](std::string_view verb, std::string role_plural, std::string name, std::string scope) {
    request_target t;
    t.group = "rbac.authorization.k8s.io";
    t.plural = std::move(role_plural);
    t.name = std::move(name);
    t.ns = std::move(scope);
    return authorize(user, verb, t).empty();
  };
  std::string name = meta_string(obj, "name");
  const bj::value* rules = nullptr;
  object_ptr referenced;
  if (plural == "roles" || plural == "clusterroles") {
    if (has_verb("escalate", std::string(plural), name, ns)) return {};
    rules = obj.if_contains("rules");
  } else if (plural == "rolebindings" || plural == "clusterrolebindings") {
    const auto* ref = obj.if_contains("roleRef");
    if (ref == nullptr || !ref->is_object()) return {};  // validation reports it
    std::string kind = str_at(ref->as_object(), "kind"), role = str_at(ref->as_object(), "name");
    std::string role_plural = kind == "ClusterRole" ? "clusterroles" : "roles";
    if (has_verb("bind", role_plural, role, ns)) return {};
    referenced = kind == "ClusterRole" ? store_->get("rbac.authorization.k8s.io/clusterroles", "", role)
                                       : store_->get("rbac.authorization.k8s.io/roles", ns, role);
    if (!referenced)
      return std::string(plural.substr(0, plural.size() - 1)) + " \"" + name + "\" is forbidden: " + kind +
             " \"" + role + "\" not found, so the permissions it grants cannot be checked";
    rules = referenced->object.if_contains("rules");
  } else {
    return {};
  }
  if (rules == nullptr || !rules->is_array()) return {};
  auto held = rules_held(user, plural.starts_with("cluster") ? std::string() : ns);
  std::vector<std::string> missing;
  for (const auto& rule : rules->as_array())
    for (auto& m : uncovered(rule, held)) missing.push_back(std::move(m));
  if (missing.empty()) return {};
  std::string groups;
  for (const auto& g : user.groups) groups += (groups.empty() ? "\"" : " \"") + g + "\"";
  std::string msg = std::string(plural) + ".rbac.authorization.k8s.io \"" + name + "\" is forbidden: user \"" +
                    user.name + "\" (groups=[" + groups + "]) is attempting to grant RBAC permissions not currently held:";
  for (const auto& m : missing) msg += "\n" + m;
  return msg;
}

std::string api_server::issue_token(std::string_view ns, std::string_view service_account, std::string_view uid,
                                    std::chrono::seconds valid_for, std::string_view pod_name,
                                    std::string_view pod_uid) {
  auto exp = std::chrono::duration_cast<std::chrono::seconds>((wall_now() + valid_for).time_since_epoch()).count();
  bj::object payload{{"ns", ns}, {"sa", service_account}, {"uid", uid}, {"exp", exp}};
  if (!pod_uid.empty()) {
    payload["pod"] = pod_name;
    payload["puid"] = pod_uid;
  }
  std::string head = "krt1." + base64url(bj::serialize(payload));
  return head + "." + base64url(hmac(token_key_, head));
}

std::optional<user_info> api_server::authenticate_token(std::string_view token) const {
  if (!token.starts_with("krt1.")) return std::nullopt;
  auto dot = token.rfind('.');
  if (dot <= 5) return std::nullopt;
  std::string_view head = token.substr(0, dot);
  auto sig = unbase64url(token.substr(dot + 1));
  std::string expected = hmac(token_key_, head);
  if (!sig || sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  auto payload_text = unbase64url(head.substr(5));
  if (!payload_text) return std::nullopt;
  boost::system::error_code ec;
  bj::value payload = bj::parse(*payload_text, ec);
  if (ec || !payload.is_object()) return std::nullopt;
  const auto& p = payload.as_object();
  std::string ns = str_at(p, "ns"), sa = str_at(p, "sa"), uid = str_at(p, "uid");
  const auto* exp = p.if_contains("exp");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(wall_now().time_since_epoch()).count();
  if (exp == nullptr || !exp->is_int64() || exp->as_int64() < now) return std::nullopt;
  // The token dies with its service account (a re-created one has a new uid).
  object_ptr account = store_->get("/serviceaccounts", ns, sa);
  if (!account || meta_string(account->object, "uid") != uid) return std::nullopt;
  // A pod-bound token dies with its pod, as Kubernetes' bound service
  // account tokens do (a pod re-created under the same name has a new uid).
  std::string pod = str_at(p, "pod"), pod_uid = str_at(p, "puid"), runtime;
  if (!pod_uid.empty()) {
    object_ptr bound = store_->get("/pods", ns, pod);
    if (!bound || meta_string(bound->object, "uid") != pod_uid) return std::nullopt;
    runtime = string_of(field_at(bound->object, {"metadata", "labels", "runtime"}));
  }
  user_info u;
  u.pod_runtime = std::move(runtime);
  u.pod_name = std::move(pod);
  u.pod_uid = std::move(pod_uid);
  u.name = "system:serviceaccount:" + ns + ":" + sa;
  u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"};
  return u;
}

std::string api_server::authorize(const user_info& user, std::string_view verb, const request_target& t) const {
  std::string resource = t.plural + (t.sub.empty() ? "" : "/" + t.sub);
  auto role_allows = [&](std::string_view kind, const std::string& name, const std::string& ns) {
    object_ptr role = kind == "ClusterRole" ? store_->get("rbac.authorization.k8s.io/clusterroles", "", name)
                                            : store_->get("rbac.authorization.k8s.io/roles", ns, name);
    if (!role) return false;
    const auto* rules = role->object.if_contains("rules");
    if (rules == nullptr || !rules->is_array()) return false;
    for (const auto& rule : rules->as_array())
      if (rule_allows(rule, verb, t.group, resource, t.name)) return true;
    return false;
  };
  auto binding_allows = [&](const object_ptr& b, const std::string& ns) {
    const auto* subjects = b->object.if_contains("subjects");
    if (subjects == nullptr || !subjects->is_array()) return false;
    bool bound = std::any_of(subjects->as_array().begin(), subjects->as_array().end(),
                             [&](const bj::value& s) { return subject_matches(s, user); });
    if (!bound) return false;
    const auto* ref = b->object.if_contains("roleRef");
    if (ref == nullptr || !ref->is_object()) return false;
    return role_allows(str_at(ref->as_object(), "kind"), str_at(ref->as_object(), "name"), ns);
  };
  bool allowed = false;
  store_->list("rbac.authorization.k8s.io/clusterrolebindings", "", "", [&](const object_ptr& b) {
    allowed = binding_allows(b, "");
    return !allowed;
  });
  if (!allowed && !t.ns.empty())
    store_->list("rbac.authorization.k8s.io/rolebindings", t.ns, "", [&](const object_ptr& b) {
      allowed = binding_allows(b, t.ns);
      return !allowed;
    });
  if (allowed) return {};
  std::string what = t.res ? t.res->qualified() : t.plural;
  if (!t.name.empty()) what += " \"" + t.name + "\"";
  std::string msg = what + " is forbidden: User \"" + user.name + "\" cannot " + std::string(verb) + " resource \"" +
                    resource + "\" in API group \"" + t.group + "\"";
  msg += t.ns.empty() ? " at the cluster scope" : " in the namespace \"" + t.ns + "\"";
  return msg;
}

void api_server::audit(const user_info& user, std::string_view verb, const request_target& t, bool allowed) {
  bj::object line{{"user", user.name},          {"verb", verb},      {"group", t.group},
                  {"resource", t.plural},       {"subresource", t.sub}, {"namespace", t.ns},
                  {"name", t.name},             {"allowed", allowed}};
  std::string text = bj::serialize(line);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), audit_.get());
  std::fflush(audit_.get());
}

awaitable<api_server::outcome> api_server::create_token(context& cx) {
  object_ptr sa = store_->get("/serviceaccounts", cx.t.ns, cx.t.name);
  if (!sa) co_return not_found(*cx.t.res, cx.t.name);
  std::int64_t seconds = 3600;
  boost::system::error_code ec;
  bj::value body = cx.req.body.empty() ? bj::value(bj::object{}) : bj::parse(cx.req.body, ec);
  if (ec || !body.is_object()) co_return bad_request("the request body must be a TokenRequest JSON object");
  if (const auto* spec = body.as_object().if_contains("spec"); spec != nullptr && spec->is_object())
    if (const auto* e = spec->as_object().if_contains("expirationSeconds"); e != nullptr && e->is_int64())
      seconds = std::clamp<std::int64_t>(e->as_int64(), 600, 365LL * 24 * 3600);
  std::string token = issue_token(cx.t.ns, cx.t.name, meta_string(sa->object, "uid"), std::chrono::seconds(seconds));
  auto exp = wall_now() + std::chrono::seconds(seconds);
  bj::object out{{"kind", "TokenRequest"},
                 {"apiVersion", "authentication.k8s.io/v1"},
                 {"metadata", bj::object{{"name", cx.t.name}, {"namespace", cx.t.ns}}},
                 {"spec", body.as_object().contains("spec") ? body.as_object().at("spec") : bj::value(bj::object{})},
                 {"status", bj::object{{"token", token}, {"expirationTimestamp", format_rfc3339(exp)}}}};
  co_return outcome{201, std::move(out)};
}

}  // namespace krt::local
