#include "lib/kube/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "lib/core/strings.hpp"

namespace krt::kube {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string getenv_from(const load_options& opts, const char* name) {
  if (opts.env) {
    auto it = opts.env->find(name);
    return it == opts.env->end() ? std::string() : it->second;
  }
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / path).string();
}

std::string scalar(const YAML::Node& n, const char* key) {
  auto v = n[key];
  if (!v || !v.IsScalar()) return {};
  return v.as<std::string>();
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts).
YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* inner) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list)
    if (item.IsMap() && scalar(item, "name") == name) return item[inner];
  return YAML::Node();
}

// Reads "<key>-data" (base64) or "<key>" (a file path) into pem.
krt::result<void, std::string> read_data_or_file(const YAML::Node& n, const std::string& key,
                                                 const std::string& base_dir, const std::string& what,
                                                 std::string& pem) {
  std::string data = scalar(n, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return unexpected(what + " data (" + key + "-data) is not valid base64");
    pem = std::move(*decoded);
    return {};
  }
  std::string file = scalar(n, key.c_str());
  if (!file.empty()) {
    auto path = resolve(file, base_dir);
    auto content = read_file(path);
    if (!content) return unexpected("cannot read " + what + " file " + path);
    pem = std::move(*content);
  }
  return {};
}

// localhost, 127.0.0.0/8 or ::1.
bool loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

}  // namespace

krt::result<void, std::string> parse_server_url(const std::string& server, rest_config& out) {
  std::string_view s = server;
  if (s.starts_with("https://")) {
    out.tls = true;
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    out.tls = false;
    s.remove_prefix(7);
  } else {
    return unexpected("server \"" + server + "\" must start with https:// or http://");
  }
  auto slash = s.find('/');
  std::string_view hostport = s.substr(0, slash);
  out.base_path = slash == std::string_view::npos ? "" : std::string(s.substr(slash));
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  std::string_view port_text;
  if (hostport.starts_with('[')) {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return unexpected("server \"" + server + "\" has an unclosed IPv6 address");
    out.host = std::string(hostport.substr(1, close - 1));
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') port_text = hostport.substr(close + 2);
  } else {
    auto colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port_text = hostport.substr(colon + 1);
  }
  if (out.host.empty()) return unexpected("server \"" + server + "\" has no host");
  if (port_text.empty()) {
    out.port = out.tls ? 443 : 80;
  } else {
    unsigned long p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return unexpected("server \"" + server + "\" has an invalid port");
      p = p * 10 + static_cast<unsigned long>(c - '0');
      if (p > 65535) return unexpected("server \"" + server + "\" has an invalid port");
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  out.server = server;
  return {};
}

krt::result<rest_config, std::string> parse_kubeconfig(const std::string& yaml_text, const std::string& context,
                                                       const std::string& base_dir, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return unexpected("kubeconfig " + source + " is not valid YAML (line " + std::to_string(e.mark.line + 1) +
                      "): " + e.msg);
  }
  if (!root.IsMap()) return unexpected("kubeconfig " + source + " is not a YAML mapping");
  try {
    rest_config cfg;
    cfg.source = source;
    std::string ctx_name = context.empty() ? scalar(root, "current-context") : context;
    if (ctx_name.empty())
      return unexpected("kubeconfig " + source + " has no current-context; pass --context or run `kubectl config use-context`");
    YAML::Node ctx = find_named(root["contexts"], ctx_name, "context");
    if (!ctx || !ctx.IsMap()) return unexpected("context \"" + ctx_name + "\" not found in kubeconfig " + source);
    cfg.context = ctx_name;
    std::string cluster_name = scalar(ctx, "cluster");
    std::string user_name = scalar(ctx, "user");
    if (auto ns = scalar(ctx, "namespace"); !ns.empty()) cfg.namespace_ = ns;

    YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster || !cluster.IsMap())
      return unexpected("cluster \"" + cluster_name + "\" of context \"" + ctx_name + "\" not found in kubeconfig " + source);
    auto url = parse_server_url(scalar(cluster, "server"), cfg);
    if (!url) return unexpected("cluster \"" + cluster_name + "\": " + url.error());
    cfg.insecure_skip_tls_verify = scalar(cluster, "insecure-skip-tls-verify") == "true";
    cfg.tls_server_name = scalar(cluster, "tls-server-name");
    if (auto r = read_data_or_file(cluster, "certificate-authority", base_dir, "certificate authority", cfg.ca_pem); !r)
      return unexpected(r.error());

    if (!user_name.empty()) {
      YAML::Node user = find_named(root["users"], user_name, "user");
      if (!user) return unexpected("user \"" + user_name + "\" of context \"" + ctx_name + "\" not found in kubeconfig " + source);
      if (user.IsMap()) {
        if (user["exec"] || user["auth-provider"])
          return unexpected("user \"" + user_name + "\" uses an exec or auth-provider plugin, which kruntimes does not run; "
                            "use a token or client certificate kubeconfig (e.g. a service-account token)");
        cfg.token = scalar(user, "token");
        cfg.token_file = resolve(scalar(user, "tokenFile"), base_dir);
        cfg.username = scalar(user, "username");
        cfg.password = scalar(user, "password");
        if (auto r = read_data_or_file(user, "client-certificate", base_dir, "client certificate", cfg.client_cert_pem); !r)
          return unexpected(r.error());
        if (auto r = read_data_or_file(user, "client-key", base_dir, "client key", cfg.client_key_pem); !r)
          return unexpected(r.error());
        if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty())
          return unexpected("user \"" + user_name + "\" has a client certificate without a key (or a key without a certificate)");
        if (!cfg.token_file.empty() && cfg.token.empty() && !read_file(cfg.token_file))
          return unexpected("cannot read tokenFile " + cfg.token_file);
      }
    }
    // Credentials in clear text over the network: refused, as kubectl
    // refuses a token or password over http. A loopback address stays on
    // this machine (test servers listen there).
    bool credentials = !cfg.token.empty() || !cfg.token_file.empty() || !cfg.username.empty();
    if (!cfg.tls && credentials && !loopback_host(cfg.host))
      return unexpected("cluster \"" + cluster_name + "\": refusing to send credentials to " + cfg.server +
                        " over plain http; use an https:// server");
    return cfg;
  } catch (const YAML::Exception& e) {
    return unexpected("kubeconfig " + source + " has an unexpected shape: " + e.msg);
  }
}

krt::result<rest_config, std::string> in_cluster_config(const std::string& dir, const std::string& host,
                                                        const std::string& port) {
  rest_config cfg;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  auto url = parse_server_url("https://" + h + ":" + (port.empty() ? "443" : port), cfg);
  if (!url) return unexpected("in-cluster configuration: " + url.error());
  cfg.token_file = dir + "/token";
  auto token = read_file(cfg.token_file);
  if (!token) return unexpected("in-cluster configuration: cannot read the service-account token " + cfg.token_file);
  auto ca = read_file(dir + "/ca.crt");
  if (!ca) return unexpected("in-cluster configuration: cannot read the cluster CA " + dir + "/ca.crt");
  cfg.ca_pem = std::move(*ca);
  if (auto ns = read_file(dir + "/namespace")) {
    auto t = trim(*ns);
    if (!t.empty()) cfg.namespace_ = std::string(t);
  }
  cfg.context = "in-cluster";
  cfg.source = "in-cluster service account (" + dir + ")";
  return cfg;
}

krt::result<rest_config, std::string> load_config(const load_options& opts) {
  std::vector<std::string> paths;
  if (!opts.kubeconfig.empty()) {
    paths.push_back(opts.kubeconfig);
  } else if (auto env = getenv_from(opts, "KUBECONFIG"); !env.empty()) {
    for (auto p : split(env, ':'))
      if (!p.empty()) paths.emplace_back(p);
  } else {
    std::string host = getenv_from(opts, "KUBERNETES_SERVICE_HOST");
    if (opts.allow_in_cluster && !host.empty())
      return in_cluster_config(opts.in_cluster_dir, host, getenv_from(opts, "KUBERNETES_SERVICE_PORT"));
    std::string home = getenv_from(opts, "HOME");
    if (!home.empty()) paths.push_back(home + "/.kube/config");
  }

  // Several files: merge their lists (the first definition of a name wins)
  // and take the first current-context, as kubectl does.
  YAML::Node merged(YAML::NodeType::Map);
  std::string base_dir;
  std::string used;
  std::size_t found = 0;
  for (const auto& p : paths) {
    auto text = read_file(p);
    if (!text) {
      if (!opts.kubeconfig.empty()) return unexpected("cannot read kubeconfig " + p);
      continue;  // missing entries in KUBECONFIG are skipped, as kubectl does
    }
    if (paths.size() == 1) {
      return parse_kubeconfig(*text, opts.context, fs::path(p).parent_path().string(), p);
    }
    YAML::Node doc;
    try {
      doc = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return unexpected("kubeconfig " + p + " is not valid YAML (line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
    }
    if (!doc.IsMap()) continue;
    if (found++ == 0) base_dir = fs::path(p).parent_path().string();
    used += (used.empty() ? "" : ":") + p;
    if (!merged["current-context"] && doc["current-context"]) merged["current-context"] = doc["current-context"];
    for (const char* list : {"clusters", "users", "contexts"}) {
      if (!doc[list] || !doc[list].IsSequence()) continue;
      if (!merged[list]) merged[list] = YAML::Node(YAML::NodeType::Sequence);
      for (const auto& item : doc[list]) {
        std::string name = scalar(item, "name");
        bool exists = false;
        for (const auto& have : merged[list])
          if (scalar(have, "name") == name) exists = true;
        if (!exists) {
          // Resolve file references against the file that defined them.
          YAML::Node copy = YAML::Clone(item);
          for (const char* inner : {"cluster", "user"}) {
            if (!copy[inner] || !copy[inner].IsMap()) continue;
            for (const char* k : {"certificate-authority", "client-certificate", "client-key", "tokenFile"}) {
              auto v = scalar(copy[inner], k);
              if (!v.empty()) copy[inner][k] = resolve(v, fs::path(p).parent_path().string());
            }
          }
          merged[list].push_back(copy);
        }
      }
    }
  }
  if (found == 0) {
    return unexpected(std::string(
        "no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
        "or start the embedded control plane with `krt local up`"));
  }
  YAML::Emitter em;
  em << merged;
  return parse_kubeconfig(em.c_str(), opts.context, "", used);
}

credentials::credentials(const rest_config& cfg) : token_file_(cfg.token.empty() ? cfg.token_file : "") {
  if (!cfg.token.empty()) {
    static_header_ = "Bearer " + cfg.token;
  } else if (!cfg.username.empty()) {
    static_header_ = "Basic " + base64_encode(cfg.username + ":" + cfg.password);
  }
}

std::string credentials::authorization() {
  if (token_file_.empty()) return static_header_;
  auto now = std::chrono::steady_clock::now();
  if (cached_.empty() || now - read_at_ > std::chrono::minutes(1)) {
    if (auto t = read_file(token_file_)) {
      cached_ = "Bearer " + std::string(trim(*t));
      read_at_ = now;
    }
  }
  return cached_;
}

}  // namespace krt::kube
