#pragma once
// Shared between the API server's translation units (server.cpp,
// handlers.cpp, gc.cpp); not a public header.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "local/apiserver/schema.hpp"
#include "local/apiserver/server.hpp"

namespace krt::local {

struct api_server::request_target {
  std::string group;
  std::string version;
  std::string ns;
  std::string plural;
  std::string name;
  std::string sub;
  resource_ptr res;
};

struct api_server::context {
  net::http_request& req;
  net::response_writer& out;
  user_info user;
  request_target t;
  std::vector<std::string> warnings;
};

// A metav1.Status error body.
bj::object status_error(unsigned code, std::string_view reason, std::string_view message, bj::object details = {});
// 404 for an object: `runs.kruntimes.io "x" not found`.
api_server::outcome not_found(const resource_info& r, std::string_view name);
api_server::outcome invalid(const resource_info& r, std::string_view name, const std::vector<field_cause>& causes);
api_server::outcome conflict(const resource_info& r, std::string_view name, std::string_view why);
api_server::outcome bad_request(std::string_view message);

std::string json_text(const bj::value& v);

// validation.cpp: the error answer for an object or patch that may not be
// written, or nullopt.
std::optional<api_server::outcome> too_many_operations(const bj::value& patch);
// `old`: the stored object an update replaces (one that only shrinks passes).
std::optional<api_server::outcome> out_of_bounds(const resource_info& r, std::string_view name, const bj::object& obj,
                                                 const bj::object* old = nullptr);
std::optional<api_server::outcome> invalid_metadata(const resource_info& r, std::string_view name,
                                                    const bj::object& obj);
std::optional<api_server::outcome> invalid_builtin(const resource_info& r, std::string_view name,
                                                   const bj::object& obj);

// Storage keys the server treats specially.
inline const std::string namespaces_key = "/namespaces";
inline const std::string crds_key = "apiextensions.k8s.io/customresourcedefinitions";

// Lenient boolean query parameters (true/True/1).
bool flag(const net::http_request& req, std::string_view name);

std::string new_uid();
std::string now_rfc3339();

// Field access helpers on metadata.
bj::object& metadata_of(bj::object& obj);
std::vector<std::string> finalizers_of(const bj::object& obj);

// DNS-1123 subdomain (≤253) and label (≤63) checks; return "" when valid.
std::string check_dns_subdomain(std::string_view s);
std::string check_dns_label(std::string_view s);

}  // namespace krt::local
