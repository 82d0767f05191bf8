// Validation of what is written, before it is stored: the bounds every
// object is held to, ObjectMeta, and the contents of built-in kinds the real
// server checks (ConfigMap, Secret). Each function returns the error answer,
// or nullopt when the object passes.
#include <algorithm>
#include <cctype>

#include "lib/core/strings.hpp"
#include "local/apiserver/selectors.hpp"
#include "local/apiserver/server_internal.hpp"

namespace krt::local {

// The real server answers a JSON patch of more than 10000 operations with
// 413 before applying any (maxJSONPatchOperations in its patch handler).
std::optional<api_server::outcome> too_many_operations(const bj::value& patch) {
  const auto* ops = patch.if_array();
  if (ops == nullptr || ops->size() <= max_json_patch_operations) return std::nullopt;
  return api_server::outcome{
      413, status_error(413, "RequestEntityTooLarge",
                        "The allowed maximum operations in a JSON patch is " + std::to_string(max_json_patch_operations) +
                            ", got " + std::to_string(ops->size()))};
}

// Every object written is held to max_object_bytes and max_json_depth
// (json.hpp), however it was built (a body, a patch, a merge). An object
// stored before these limits may still shrink: an update that makes it no
// larger and no deeper is let through, so it can be cleaned up or deleted.
std::optional<api_server::outcome> out_of_bounds(const resource_info& r, std::string_view name, const bj::object& obj,
                                                 const bj::object* old) {
  auto e = measure_json(obj, max_json_depth, max_object_bytes);
  if (e.within) return std::nullopt;
  if (old != nullptr) {
    constexpr auto unlimited = static_cast<std::size_t>(-1);
    auto was = measure_json(*old, max_stored_json_depth, unlimited);
    auto now = measure_json(obj, max_stored_json_depth, unlimited);
    if (now.within && now.bytes <= was.bytes && now.depth <= was.depth) return std::nullopt;
  }
  if (e.depth > max_json_depth)
    return invalid(r, name, {{"FieldValueInvalid",
                              "Invalid value: the object nests deeper than " + std::to_string(max_json_depth) + " levels",
                              ""}});
  return api_server::outcome{
      413, status_error(413, "RequestEntityTooLarge",
                        "etcdserver: request is too large (the object is larger than " +
                            std::to_string(max_object_bytes) + " bytes)")};
}

// ObjectMeta as the real server checks it on every write (ValidateObjectMeta
// in apimachinery's api/validation): the typed fields must have their types
// (the real server fails to decode otherwise: 400), label keys and values and
// annotation keys must be qualified names and valid values, annotations may
// total at most 256 KiB (TotalAnnotationSizeLimitB), finalizers must be
// qualified names, and an owner reference needs apiVersion, kind, name and
// uid, with at most one controller (422). Every reader decodes ObjectMeta;
// one malformed object used to stop every informer of its type.
namespace {
constexpr std::size_t max_annotation_bytes = 256 * 1024;
}  // namespace

std::optional<api_server::outcome> invalid_metadata(const resource_info& r, std::string_view name,
                                                    const bj::object& obj) {
  const bj::value* mv = obj.if_contains("metadata");
  if (mv == nullptr || mv->is_null()) return std::nullopt;
  auto type_error = [&](std::string_view field, std::string_view want) {
    return api_server::outcome{
        400, status_error(400, "BadRequest",
                          r.kind + " in version \"" + r.version + "\" cannot be handled as a " + r.kind +
                              ": metadata." + std::string(field) + " must be " + std::string(want))};
  };
  if (!mv->is_object()) return type_error("", "an object");
  const bj::object& m = mv->get_object();
  for (const char* f : {"name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp",
                        "deletionTimestamp", "selfLink"}) {
    const bj::value* v = m.if_contains(f);
    if (v != nullptr && !v->is_null() && !v->is_string()) return type_error(f, "a string");
  }
  for (const char* f : {"generation", "deletionGracePeriodSeconds"}) {
    const bj::value* v = m.if_contains(f);
    if (v != nullptr && !v->is_null() && !v->is_int64() && !v->is_uint64()) return type_error(f, "an integer");
  }
  std::vector<field_cause> causes;
  auto bad = [&](std::string field, std::string_view value, std::string_view why) {
    causes.push_back({"FieldValueInvalid", "Invalid value: \"" + std::string(value) + "\": " + std::string(why),
                      "metadata." + field});
  };
  for (const char* f : {"labels", "annotations"}) {
    const bj::value* v = m.if_contains(f);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_object()) return type_error(f, "a map of string keys to string values");
    std::size_t total = 0;
    for (const auto& kv : v->get_object()) {
      if (!kv.value().is_string()) return type_error(std::string(f) + "." + std::string(kv.key()), "a string");
      std::string_view key = kv.key();
      if (auto e = label_key_error(key); !e.empty()) bad(f, key, e);
      if (std::string_view(f) == "labels") {
        if (auto e = label_value_error(kv.value().get_string()); !e.empty())
          bad(std::string(f) + "." + std::string(key), kv.value().get_string(), e);
      } else {
        total += key.size() + kv.value().get_string().size();
      }
    }
    if (total > max_annotation_bytes)
      causes.push_back({"FieldValueTooLong",
                        "Too long: must have at most " + std::to_string(max_annotation_bytes) + " bytes",
                        "metadata.annotations"});
  }
  if (const bj::value* v = m.if_contains("finalizers"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return type_error("finalizers", "a list of strings");
    for (const auto& e : v->get_array()) {
      if (!e.is_string()) return type_error("finalizers", "a list of strings");
      if (auto err = label_key_error(e.get_string()); !err.empty()) bad("finalizers", e.get_string(), err);
    }
  }
  if (const bj::value* v = m.if_contains("ownerReferences"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return type_error("ownerReferences", "a list of owner references");
    int controllers = 0;
    for (std::size_t i = 0; i < v->get_array().size(); ++i) {
      const auto& e = v->get_array()[i];
      std::string at = "ownerReferences[" + std::to_string(i) + "]";
      if (!e.is_object()) return type_error(at, "an owner reference object");
      const auto& o = e.get_object();
      for (const char* f : {"apiVersion", "kind", "name", "uid"}) {
        const bj::value* x = o.if_contains(f);
        if (x != nullptr && !x->is_null() && !x->is_string()) return type_error(at + "." + f, "a string");
        if (x == nullptr || !x->is_string() || x->get_string().empty())
          causes.push_back({"FieldValueRequired", "Required value", "metadata." + at + "." + f});
      }
      for (const char* f : {"controller", "blockOwnerDeletion"}) {
        const bj::value* x = o.if_contains(f);
        if (x != nullptr && !x->is_null() && !x->is_bool()) return type_error(at + "." + f, "a boolean");
        if (x != nullptr && x->is_bool() && x->get_bool() && std::string_view(f) == "controller") ++controllers;
      }
    }
    if (controllers > 1)
      causes.push_back({"FieldValueInvalid", "Invalid value: only one reference can have Controller set to true",
                        "metadata.ownerReferences"});
  }
  if (causes.empty()) return std::nullopt;
  return invalid(r, name, causes);
}

// ConfigMap and Secret contents as the real server checks them
// (ValidateConfigMap / ValidateSecret in Kubernetes' core validation): the
// maps hold strings (a nested value fails to decode: 400), Secret `data` and
// ConfigMap `binaryData` hold base64; keys are config keys
// ([-._a-zA-Z0-9]+, at most 253 characters, not . or ..), a key may not be
// in both maps of a ConfigMap, and the contents total at most 1 MiB (422).
namespace {

constexpr std::size_t max_config_bytes = 1024 * 1024;

std::string config_key_error(std::string_view key) {
  if (key.empty()) return "a valid config key must be non-empty";
  if (key.size() > 253) return "must be no more than 253 characters";
  if (key == "." || key == "..") return "must not be '.' or '..'";
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
             "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
  return {};
}

}  // namespace

std::optional<api_server::outcome> invalid_builtin(const resource_info& r, std::string_view name,
                                                   const bj::object& obj) {
  if (!r.group.empty() || (r.kind != "ConfigMap" && r.kind != "Secret")) return std::nullopt;
  const bool secret = r.kind == "Secret";
  auto type_error = [&](std::string_view field, std::string_view want) {
    return api_server::outcome{
        400, status_error(400, "BadRequest",
                          r.kind + " in version \"" + r.version + "\" cannot be handled as a " + r.kind + ": " +
                              std::string(field) + " must be " + std::string(want))};
  };
  std::vector<field_cause> causes;
  std::size_t total = 0;
  std::vector<std::string> seen;
  struct map_rule {
    const char* field;
    bool base64;
  };
  const std::vector<map_rule> maps = secret ? std::vector<map_rule>{{"data", true}, {"stringData", false}}
                                            : std::vector<map_rule>{{"data", false}, {"binaryData", true}};
  for (const auto& m : maps) {
    const bj::value* v = obj.if_contains(m.field);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_object()) return type_error(m.field, "a map of string keys to string values");
    for (const auto& [k, val] : v->get_object()) {
      const std::string field = std::string(m.field) + "[" + std::string(k) + "]";
      if (!val.is_string() && !val.is_null()) return type_error(field, m.base64 ? "a base64 string" : "a string");
      std::string_view text = val.is_string() ? std::string_view(val.get_string()) : std::string_view();
      if (auto e = config_key_error(k); !e.empty())
        causes.push_back({"FieldValueInvalid", "Invalid value: \"" + std::string(k) + "\": " + e, m.field});
      std::size_t bytes = text.size();
      if (m.base64) {
        auto decoded = base64_decode(text);
        if (!decoded) return type_error(field, "base64 (illegal base64 data)");
        bytes = decoded->size();
      }
      // Secret stringData is merged into data by the server.
      if (!(secret && std::string_view(m.field) == "stringData")) {
        if (!secret && std::find(seen.begin(), seen.end(), std::string(k)) != seen.end())
          causes.push_back({"FieldValueDuplicate", "Duplicate value: \"" + std::string(k) + "\"",
                            std::string(m.field) + "[" + std::string(k) + "]"});
        seen.emplace_back(k);
      }
      total += bytes;
    }
  }
  if (total > max_config_bytes)
    causes.push_back({"FieldValueTooLong",
                      "Too long: must have at most " + std::to_string(max_config_bytes) + " bytes", "data"});
  if (causes.empty()) return std::nullopt;
  return invalid(r, name, causes);
}

}  // namespace krt::local
