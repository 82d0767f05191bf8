#pragma once
// TLS material and contexts: PEM-based client and server contexts (peer
// verification on by default), and certificate generation for the local
// control plane and for tests (a CA, then leaf certificates it signs).
//
// Affinity: functions are thread-safe; an ssl::context is shared read-only
// by the connections of one shard after it is built.

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/result.hpp"

namespace krt::net {

using ssl_context_ptr = std::shared_ptr<boost::asio::ssl::context>;

struct client_tls_options {
  std::string ca_pem;           // trust these CAs; empty: the system store
  std::string client_cert_pem;  // optional client certificate (mutual TLS)
  std::string client_key_pem;
  bool insecure_skip_verify = false;
};

// Errors are human sentences naming what was wrong ("client key does not match certificate").
krt::result<ssl_context_ptr, std::string> make_client_context(const client_tls_options& opts);

struct server_tls_options {
  std::string cert_pem;       // leaf first, then intermediates
  std::string key_pem;
  std::string client_ca_pem;  // if set, client certificates are requested and verified
};
krt::result<ssl_context_ptr, std::string> make_server_context(const server_tls_options& opts);

struct key_pair_pem {
  std::string cert_pem;
  std::string key_pem;
};

struct certificate_request {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::hours valid_for{24 * 365};
  bool server_auth = true;
  bool client_auth = false;
};

// A self-signed CA (ECDSA P-256, SHA-256).
krt::result<key_pair_pem, std::string> generate_ca(const std::string& common_name,
                                                   std::chrono::hours valid_for = std::chrono::hours(24 * 3650));
// A leaf certificate signed by `ca`.
krt::result<key_pair_pem, std::string> issue_certificate(const key_pair_pem& ca, const certificate_request& req);

}  // namespace krt::net
