#pragma once
// Where the API server is and how to authenticate (DESIGN §4): kubeconfig
// files (current context or --context; token, token file, basic auth, client
// certificate/key as data or files; CA as data or file;
// insecure-skip-tls-verify; tls-server-name), KUBECONFIG with several files
// merged, and in-cluster service-account configuration.
//
// Lookup order when no path is given (as controller-runtime): KUBECONFIG,
// in-cluster (KUBERNETES_SERVICE_HOST), then ~/.kube/config.
//
// Affinity: rest_config is an immutable value; credentials is per-shard.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "lib/core/result.hpp"

namespace krt::kube {

struct rest_config {
  std::string server;     // as written, e.g. "https://127.0.0.1:6443"
  std::string host;       // "127.0.0.1" (IPv6 without brackets)
  std::uint16_t port = 0;
  bool tls = true;
  std::string base_path;  // a path prefix in the server URL, usually ""

  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // verify the certificate against this name instead of host
  std::string client_cert_pem;
  std::string client_key_pem;

  std::string token;
  std::string token_file;  // re-read periodically (projected tokens rotate)
  std::string username;
  std::string password;

  std::string namespace_ = "default";  // the context's namespace
  std::string context;                 // context name, or "in-cluster"
  std::string source;                  // where this came from, for messages
};

struct load_options {
  std::string kubeconfig;  // explicit path (--kubeconfig); overrides KUBECONFIG
  std::string context;     // --context; default: current-context
  bool allow_in_cluster = true;
  std::string in_cluster_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  // Environment for lookups (KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/PORT);
  // empty means the process environment.
  std::optional<std::map<std::string, std::string>> env;
};

// Errors are sentences that say what to do.
krt::result<rest_config, std::string> load_config(const load_options& opts);
// One kubeconfig document (text), with relative paths resolved against base_dir.
krt::result<rest_config, std::string> parse_kubeconfig(const std::string& yaml_text, const std::string& context,
                                                       const std::string& base_dir, const std::string& source);
krt::result<rest_config, std::string> in_cluster_config(const std::string& dir, const std::string& host,
                                                        const std::string& port);

// Splits "https://host:port/prefix" into the config's host/port/tls/base_path.
krt::result<void, std::string> parse_server_url(const std::string& server, rest_config& out);

// The Authorization header value for each request. A token file is re-read
// at most once a minute so rotated tokens are picked up.
class credentials {
 public:
  explicit credentials(const rest_config& cfg);
  std::string authorization();

 private:
  std::string static_header_;
  std::string token_file_;
  std::string cached_;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace krt::kube
