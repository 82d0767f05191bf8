#pragma once
// Label and field selectors as the Kubernetes API defines them.
//
// Label selector string syntax (labelSelector=): comma-separated requirements
//   key=value, key==value, key!=value, key in (a,b), key notin (a,b), key, !key
// with keys [prefix/]name (prefix a DNS subdomain, name ≤63 chars
// [A-Za-z0-9._-] alphanumeric at both ends) and values of the same form ≤63.
// `notin` and `!=` match objects without the key. An empty selector matches
// everything.
//
// Field selector syntax (fieldSelector=): comma-separated field=value,
// field==value, field!=value; values may escape ',', '=' and '\' with '\'.
// Which fields are allowed is the caller's decision (per resource).

#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "local/apiserver/json.hpp"

namespace krt::local {

struct label_requirement {
  enum class op { equals, not_equals, in, not_in, exists, does_not_exist };
  std::string key;
  op operation = op::equals;
  std::vector<std::string> values;  // one for equals/not_equals
};

struct label_selector {
  std::vector<label_requirement> requirements;
  bool match_nothing = false;  // a LabelSelector JSON that can never match (not produced by parsing)
  bool empty() const { return requirements.empty() && !match_nothing; }
};

// Why `key` is not a valid label key (a qualified name, [prefix/]name), or ""
// when it is one; `value` likewise for label values. The server also uses these
// for metadata.labels.
std::string label_key_error(std::string_view key);
std::string label_value_error(std::string_view value);

// Errors name the offending part: `unable to parse requirement: invalid label key "a b"`.
krt::result<label_selector, std::string> parse_label_selector(std::string_view text);
// metav1.LabelSelector JSON ({matchLabels, matchExpressions[{key, operator In|NotIn|Exists|DoesNotExist, values}]}),
// as Deployments and NetworkPolicies carry it. A null/absent selector is empty.
krt::result<label_selector, std::string> label_selector_from_json(const bj::value& selector);
// `labels` is metadata.labels (may be null for an object without labels).
bool matches(const label_selector& selector, const bj::object* labels);

struct field_requirement {
  std::string field;  // e.g. "metadata.name"
  bool negated = false;
  std::string value;
};

struct field_selector {
  std::vector<field_requirement> requirements;
  bool empty() const { return requirements.empty(); }
};

krt::result<field_selector, std::string> parse_field_selector(std::string_view text);
// The string value of a dotted field path in `object` ("" when absent; numbers
// and booleans in their JSON text form, as the real API server compares them).
std::string field_value(const bj::value& object, std::string_view dotted_path);
bool matches(const field_selector& selector, const bj::value& object);

}  // namespace krt::local
