// Structural schemas for custom resources: compilation (the checks the
// apiextensions API server makes on a CRD's openAPIV3Schema) and admission
// (defaulting, pruning, OpenAPI validation as kube-openapi reports it, list
// set/map uniqueness, embedded resources, then x-kubernetes-validations rules).
// Messages follow k8s.io/apimachinery field errors and kube-openapi's texts.

#include "local/apiserver/schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "local/apiserver/cel.hpp"

namespace krt::local {

namespace schema_detail {

struct rule {
  std::string source;
  cel::program_ptr program;
  cel::program_ptr message_expression;
  std::string message;
  std::string reason;      // empty: FieldValueInvalid
  std::string field_path;  // normalized fieldPath ("foo.bar", "labels[app]"), appended on failure
  bool transition = false;
};

struct node {
  // Structural part.
  std::string type;
  bool nullable = false;
  bool int_or_string = false;
  bool preserve_unknown = false;
  bool embedded = false;
  std::map<std::string, std::unique_ptr<node>, std::less<>> properties;
  std::unique_ptr<node> additional;  // additionalProperties as a schema
  bool additional_any = false;       // additionalProperties: true
  std::unique_ptr<node> items;
  std::optional<bj::value> default_value;
  std::string list_type;
  std::vector<std::string> list_map_keys;
  std::string map_type;

  // Value validations.
  std::optional<bj::array> enum_values;
  std::string pattern;
  cel::regex_ptr pattern_re;
  std::string format;
  std::optional<bj::value> maximum;
  std::optional<bj::value> minimum;
  bool exclusive_maximum = false;
  bool exclusive_minimum = false;
  std::optional<bj::value> multiple_of;
  std::optional<std::int64_t> max_length, min_length, max_items, min_items, max_properties, min_properties;
  std::vector<std::string> required;
  std::vector<std::unique_ptr<node>> all_of, any_of, one_of;
  std::unique_ptr<node> not_;
  std::vector<rule> rules;
  bool rules_below = false;  // this node or a descendant has rules
};

}  // namespace schema_detail

class structural_schema {
 public:
  std::unique_ptr<schema_detail::node> root;
};

namespace {

using schema_detail::node;
using schema_detail::rule;

// ------------------------------------------------------------------ texts

// Go's strconv.Quote (and %q): printable runes as they are, the rest escaped.
std::string go_quote(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    std::size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!ok) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
      ++i;
      continue;
    }
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {  // C1 controls
      out += "\\u00";
      out += hex[(static_cast<unsigned char>(s[i + 1]) >> 4) & 0xf];
      out += hex[s[i + 1] & 0xf];
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out += '"';
  return out;
}

std::string json_text(const bj::value& v) { return bj::serialize(v); }

// How field.Error prints a bad value: %q for strings, %v for numbers and bools.
std::string value_text(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::string:
      return go_quote(v.get_string());
    case bj::kind::int64:
      return std::to_string(v.get_int64());
    case bj::kind::uint64:
      return std::to_string(v.get_uint64());
    case bj::kind::double_:
      return cel::format_double(v.get_double());
    case bj::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case bj::kind::null:
      return "\"null\"";
    default:
      return json_text(v);
  }
}

// Go's %#v of a scalar inside map[string]interface{} (list-map key values).
std::string go_syntax(const bj::value& v) {
  if (v.is_null()) return "interface {}(nil)";
  if (v.is_string()) return go_quote(v.get_string());
  return value_text(v);
}

field_cause cause(const char* reason, std::string message, std::string field) {
  return field_cause{reason, std::move(message), std::move(field)};
}
field_cause required_error(std::string field, std::string_view detail = {}) {
  std::string m = "Required value";
  if (!detail.empty()) m += ": " + std::string(detail);
  return cause("FieldValueRequired", std::move(m), std::move(field));
}
field_cause forbidden_error(std::string field, std::string_view detail) {
  return cause("FieldValueForbidden", "Forbidden: " + std::string(detail), std::move(field));
}
field_cause invalid_error(std::string field, const std::string& value, std::string_view detail) {
  std::string m = "Invalid value";
  if (!value.empty()) m += ": " + value;
  if (!detail.empty()) m += ": " + std::string(detail);
  return cause("FieldValueInvalid", std::move(m), std::move(field));
}
field_cause type_invalid_error(std::string field, const std::string& value, std::string_view detail) {
  return cause("FieldValueTypeInvalid", "Invalid value: " + value + ": " + std::string(detail), std::move(field));
}
field_cause not_supported_error(std::string field, const std::string& value, const std::vector<std::string>& allowed) {
  std::string m = "Unsupported value: " + value;
  if (!allowed.empty()) {
    m += ": supported values: ";
    for (std::size_t i = 0; i < allowed.size(); ++i) {
      if (i != 0) m += ", ";
      m += go_quote(allowed[i]);
    }
  }
  return cause("FieldValueNotSupported", std::move(m), std::move(field));
}
field_cause too_long_error(std::string field, std::int64_t max) {
  return cause("FieldValueTooLong",
               "Too long: may not be more than " + std::to_string(max) + (max == 1 ? " byte" : " bytes"),
               std::move(field));
}
field_cause too_many_error(std::string field, std::size_t actual, std::int64_t max) {
  return cause("FieldValueTooMany",
               "Too many: " + std::to_string(actual) + ": must have at most " + std::to_string(max) + " items",
               std::move(field));
}
field_cause duplicate_error(std::string field, const std::string& value) {
  return cause("FieldValueDuplicate", "Duplicate value: " + value, std::move(field));
}

// ------------------------------------------------------------------ JSON helpers

bool is_number(const bj::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }
bool is_integer_data(const bj::value& v) { return v.is_int64() || v.is_uint64(); }

long double as_long_double(const bj::value& v) {
  if (v.is_int64()) return static_cast<long double>(v.get_int64());
  if (v.is_uint64()) return static_cast<long double>(v.get_uint64());
  return static_cast<long double>(v.get_double());
}

// A schema limit as kube-openapi prints it: as an int64 when the data is one.
std::string limit_text(const bj::value& limit, bool integer_data) {
  if (limit.is_int64()) return std::to_string(limit.get_int64());
  if (limit.is_uint64()) return std::to_string(limit.get_uint64());
  double d = limit.get_double();
  if (integer_data && std::abs(d) < 9.2e18) return std::to_string(static_cast<std::int64_t>(d));
  return cel::format_double(d);
}


// JSON with object keys sorted: equal values have equal texts (set/map uniqueness).
void canonical(const bj::value& v, std::string& out) {
  if (v.is_object()) {
    std::vector<const bj::key_value_pair*> kvs;
    for (const auto& kv : v.get_object()) kvs.push_back(&kv);
    std::sort(kvs.begin(), kvs.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
    out += '{';
    for (std::size_t i = 0; i < kvs.size(); ++i) {
      if (i != 0) out += ',';
      out += bj::serialize(bj::value(kvs[i]->key()));
      out += ':';
      canonical(kvs[i]->value(), out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ',';
      first = false;
      canonical(e, out);
    }
    out += ']';
  } else {
    out += bj::serialize(v);
  }
}

std::string canonical(const bj::value& v) {
  std::string out;
  canonical(v, out);
  return out;
}

// ------------------------------------------------------------------ formats

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Go's time.Parse("2006-01-02", s).
bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  auto y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
  int year = to_int(y), month = to_int(m), day = to_int(d);
  if (month < 1 || month > 12 || day < 1) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max = days[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= max;
}

// kube-openapi strfmt.IsDateTime: a date, 't' (any case), hh:mm:ss, an
// optional fraction, then 'z' or ±hh:mm.
bool is_date_time(std::string_view s) {
  if (s.size() < 20) return false;
  if (!is_date(s.substr(0, 10)) || (s[10] != 'T' && s[10] != 't')) return false;
  auto t = s.substr(11);
  if (t.size() < 9 || t[2] != ':' || t[5] != ':') return false;
  auto hh = t.substr(0, 2), mm = t.substr(3, 2), ss = t.substr(6, 2);
  if (!all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return false;
  if (hh > "23" || mm > "59" || ss > "59") return false;
  auto rest = t.substr(8);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t k = 1;
    while (k < rest.size() && rest[k] >= '0' && rest[k] <= '9') ++k;
    if (k == 1) return false;
    rest.remove_prefix(k);
  }
  if (rest == "Z" || rest == "z") return true;
  return rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && all_digits(rest.substr(1, 2)) && rest[3] == ':' &&
         all_digits(rest.substr(4, 2));
}

bool is_base64(std::string_view s) {
  std::string clean;
  for (char c : s) {
    if (c != '\r' && c != '\n') clean += c;
  }
  if (clean.size() % 4 != 0) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) {
    char c = clean[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      if (i + 2 < clean.size()) return false;
      ++pad;
    } else if (!alpha || pad != 0) {
      return false;
    }
  }
  return pad <= 2;
}

bool is_uuid(std::string_view s) {
  std::size_t hex = 0;
  std::size_t i = 0;
  static const std::size_t groups[] = {8, 4, 4, 4, 12};
  for (std::size_t g = 0; g < 5; ++g) {
    if (g != 0 && i < s.size() && s[i] == '-') ++i;
    for (std::size_t k = 0; k < groups[g]; ++k, ++i, ++hex) {
      if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
  }
  return i == s.size() && hex == 32;
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    auto dot = s.find('.');
    auto part = s.substr(0, dot);
    if (!all_digits(part) || part.size() > 3 || (part.size() > 1 && part[0] == '0') || to_int(part) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

// nullopt: a format this server accepts without checking.
std::optional<bool> check_format(std::string_view format, std::string_view s) {
  if (format == "date-time" || format == "datetime") return is_date_time(s);
  if (format == "date") return is_date(s);
  if (format == "byte") return is_base64(s);
  if (format == "uuid") return is_uuid(s);
  if (format == "ipv4") return is_ipv4(s);
  return std::nullopt;
}

// ------------------------------------------------------------------ paths

// A position in the object: `name` is kube-openapi's dotted name (map keys
// appended with '.'), used by OpenAPI errors for both the field and the
// message; `field` is field.Path's form (map keys in brackets) used by the
// list, embedded-resource and CEL errors.
struct data_path {
  std::string name;
  std::string field;

  data_path child(std::string_view k) const {
    std::string n = name.empty() ? std::string(k) : name + "." + std::string(k);
    std::string f = field.empty() ? std::string(k) : field + "." + std::string(k);
    return {std::move(n), std::move(f)};
  }
  data_path key(std::string_view k) const {
    std::string n = name.empty() ? std::string(k) : name + "." + std::string(k);
    return {std::move(n), field + "[" + std::string(k) + "]"};
  }
  data_path index(std::size_t i) const {
    auto s = "[" + std::to_string(i) + "]";
    return {name + s, field + s};
  }
};

const char* json_type_name(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null:
      return "null";
    case bj::kind::bool_:
      return "boolean";
    case bj::kind::int64:
    case bj::kind::uint64:
      return "integer";
    case bj::kind::double_:
      return "number";
    case bj::kind::string:
      return "string";
    case bj::kind::array:
      return "array";
    case bj::kind::object:
      return "object";
  }
  return "unknown";
}

// ------------------------------------------------------------------ defaulting and pruning

// Properties that are null without being nullable are dropped, or replaced by
// their default; absent properties get theirs; then the same below.
void apply_defaults(const node& n, bj::value& v) {
  if (v.is_object()) {
    auto& obj = v.get_object();
    for (const auto& [name, child] : n.properties) {
      auto it = obj.find(name);
      if (it == obj.end()) {
        if (child->default_value) obj[name] = *child->default_value;
      } else if (it->value().is_null() && !child->nullable) {
        if (child->default_value) {
          it->value() = *child->default_value;
        } else {
          obj.stable_erase(it);
        }
      }
    }
    for (auto& kv : obj) {
      auto p = n.properties.find(kv.key());
      const node* child = p != n.properties.end() ? p->second.get() : n.additional.get();
      if (child != nullptr) apply_defaults(*child, kv.value());
    }
  } else if (v.is_array() && n.items) {
    for (auto& e : v.get_array()) {
      if (e.is_null() && !n.items->nullable && n.items->default_value) e = *n.items->default_value;
      apply_defaults(*n.items, e);
    }
  }
}

void prune(const node& n, bj::value& v, const std::string& path, bool resource_root, std::vector<std::string>& pruned) {
  if (v.is_object()) {
    auto& obj = v.get_object();
    std::vector<std::string> drop;
    for (auto& kv : obj) {
      std::string_view k = kv.key();
      if (resource_root && (k == "apiVersion" || k == "kind" || k == "metadata")) continue;
      std::string child_path = path + "." + std::string(k);
      auto p = n.properties.find(k);
      if (p != n.properties.end()) {
        prune(*p->second, kv.value(), child_path, p->second->embedded, pruned);
      } else if (n.additional) {
        prune(*n.additional, kv.value(), child_path, n.additional->embedded, pruned);
      } else if (!n.preserve_unknown && !n.additional_any) {
        drop.emplace_back(k);
        pruned.push_back(std::move(child_path));
      }
    }
    for (const auto& k : drop) obj.stable_erase(k);
  } else if (v.is_array() && n.items) {
    auto& arr = v.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      prune(*n.items, arr[i], path + "[" + std::to_string(i) + "]", n.items->embedded, pruned);
    }
  }
}

// ------------------------------------------------------------------ OpenAPI validation

// The field of an OpenAPI error: its dotted name, "<nil>" at the root.
std::string field_of(const std::string& name) { return name.empty() ? "<nil>" : name; }

class openapi_validator {
 public:
  explicit openapi_validator(std::vector<field_cause>& out) : out_(out) {}

  void validate(const node& n, const bj::value& v, const data_path& p) {
    if (v.is_null()) {
      if (!n.nullable && (!n.type.empty() || n.int_or_string)) type_error(n, v, p);
      return;
    }
    if (!type_ok(n, v)) {
      type_error(n, v, p);
      return;
    }
    junctors(n, v, p);
    if (v.is_string()) validate_string(n, v, p);
    if (is_number(v)) validate_number(n, v, p);
    if (v.is_array()) validate_array(n, v.get_array(), p);
    if (n.enum_values) validate_enum(n, v, p);
    if (v.is_object()) validate_object(n, v.get_object(), p);
  }

 private:
  static bool type_ok(const node& n, const bj::value& v) {
    if (n.int_or_string) return is_integer_data(v) || v.is_string() || integral_double(v);
    if (n.type.empty()) return true;
    if (n.type == "integer") return is_integer_data(v) || integral_double(v);
    if (n.type == "number") return is_number(v);
    if (n.type == "string") return v.is_string();
    if (n.type == "boolean") return v.is_bool();
    if (n.type == "array") return v.is_array();
    if (n.type == "object") return v.is_object();
    return true;
  }

  static bool integral_double(const bj::value& v) {
    return v.is_double() && std::trunc(v.get_double()) == v.get_double() && std::isfinite(v.get_double());
  }

  void type_error(const node& n, const bj::value& v, const data_path& p) {
    std::string expected = n.int_or_string ? "integer,string" : n.type;
    std::string actual = json_type_name(v);
    out_.push_back(type_invalid_error(field_of(p.name), go_quote(actual),
                                      p.name + " in body must be of type " + expected + ": " + go_quote(actual)));
  }

  // allOf/anyOf/oneOf/not, reported as kube-openapi does (composite errors
  // carry no field path, hence "<nil>").
  void junctors(const node& n, const bj::value& v, const data_path& p) {
    auto run = [&](const node& branch) {
      std::vector<field_cause> errs;
      openapi_validator(errs).validate(branch, v, p);
      return errs;
    };
    auto composite = [&](const std::string& text) { out_.push_back(invalid_error("<nil>", "\"\"", text)); };
    if (!n.all_of.empty()) {
      std::size_t ok = 0;
      for (const auto& b : n.all_of) {
        auto errs = run(*b);
        if (errs.empty()) ++ok;
        out_.insert(out_.end(), errs.begin(), errs.end());
      }
      if (ok != n.all_of.size()) {
        composite(go_quote(p.name) + " must validate all the schemas (allOf)" + (ok == 0 ? ". None validated" : ""));
      }
    }
    if (!n.any_of.empty()) {
      std::optional<std::vector<field_cause>> best;
      bool any = false;
      for (const auto& b : n.any_of) {
        auto errs = run(*b);
        if (errs.empty()) {
          any = true;
          break;
        }
        if (!best || errs.size() < best->size()) best = std::move(errs);
      }
      if (!any) {
        composite(go_quote(p.name) + " must validate at least one schema (anyOf)");
        out_.insert(out_.end(), best->begin(), best->end());
      }
    }
    if (!n.one_of.empty()) {
      std::optional<std::vector<field_cause>> best;
      std::size_t ok = 0;
      for (const auto& b : n.one_of) {
        auto errs = run(*b);
        if (errs.empty()) {
          ++ok;
        } else if (!best || errs.size() < best->size()) {
          best = std::move(errs);
        }
      }
      if (ok != 1) {
        composite(go_quote(p.name) + " must validate one and only one schema (oneOf). " +
                  (ok == 0 ? std::string("Found none valid") : "Found " + std::to_string(ok) + " valid alternatives"));
        if (ok == 0 && best) out_.insert(out_.end(), best->begin(), best->end());
      }
    }
    if (n.not_ && run(*n.not_).empty()) composite(go_quote(p.name) + " must not validate the schema (not)");
  }

  void validate_string(const node& n, const bj::value& v, const data_path& p) {
    std::string_view s = v.get_string();
    std::size_t len = (n.max_length || n.min_length) ? cel::utf8_length(s) : 0;
    if (n.max_length && static_cast<std::int64_t>(len) > *n.max_length) {
      out_.push_back(too_long_error(field_of(p.name), *n.max_length));
    }
    if (n.min_length && static_cast<std::int64_t>(len) < *n.min_length) {
      out_.push_back(
          invalid_error(field_of(p.name), value_text(v),
                        p.name + " in body should be at least " + std::to_string(*n.min_length) + " chars long"));
    }
    if (n.pattern_re && !cel::regex_search(*n.pattern_re, s)) {
      out_.push_back(
          invalid_error(field_of(p.name), value_text(v), p.name + " in body should match '" + n.pattern + "'"));
    }
    if (!n.format.empty() && check_format(n.format, s) == false) {
      out_.push_back(type_invalid_error(field_of(p.name), value_text(v),
                                        p.name + " in body must be of type " + n.format + ": " + go_quote(s)));
    }
  }

  void validate_number(const node& n, const bj::value& v, const data_path& p) {
    bool int_data = is_integer_data(v);
    long double x = as_long_double(v);
    if (n.multiple_of) {
      bool bad = false;
      if (int_data && n.multiple_of->is_int64()) {
        bad = v.is_int64() ? v.get_int64() % n.multiple_of->get_int64() != 0
                           : v.get_uint64() % static_cast<std::uint64_t>(n.multiple_of->get_int64()) != 0;
      } else {
        long double q = x / as_long_double(*n.multiple_of);
        bad = std::trunc(q) != q;
      }
      if (bad) {
        out_.push_back(
            invalid_error(field_of(p.name), value_text(v),
                          p.name + " in body should be a multiple of " + limit_text(*n.multiple_of, int_data)));
      }
    }
    if (n.maximum) {
      long double m = as_long_double(*n.maximum);
      if (n.exclusive_maximum ? x >= m : x > m) {
        out_.push_back(invalid_error(field_of(p.name), value_text(v),
                                     p.name + " in body should be less than " +
                                         (n.exclusive_maximum ? "" : "or equal to ") +
                                         limit_text(*n.maximum, int_data)));
      }
    }
    if (n.minimum) {
      long double m = as_long_double(*n.minimum);
      if (n.exclusive_minimum ? x <= m : x < m) {
        out_.push_back(invalid_error(field_of(p.name), value_text(v),
                                     p.name + " in body should be greater than " +
                                         (n.exclusive_minimum ? "" : "or equal to ") +
                                         limit_text(*n.minimum, int_data)));
      }
    }
  }

  void validate_array(const node& n, const bj::array& a, const data_path& p) {
    if (n.items) {
      for (std::size_t i = 0; i < a.size(); ++i) validate(*n.items, a[i], p.index(i));
    }
    if (n.min_items && static_cast<std::int64_t>(a.size()) < *n.min_items) {
      out_.push_back(
          invalid_error(field_of(p.name), std::to_string(a.size()),
                        p.name + " in body should have at least " + std::to_string(*n.min_items) + " items"));
    }
    if (n.max_items && static_cast<std::int64_t>(a.size()) > *n.max_items) {
      out_.push_back(too_many_error(field_of(p.name), a.size(), *n.max_items));
    }
  }

  void validate_enum(const node& n, const bj::value& v, const data_path& p) {
    for (const auto& allowed : *n.enum_values) {
      if (json_equal(allowed, v)) return;
    }
    std::vector<std::string> values;
    for (const auto& allowed : *n.enum_values) {
      values.push_back(allowed.is_string() ? std::string(allowed.get_string()) : json_text(allowed));
    }
    out_.push_back(not_supported_error(field_of(p.name), value_text(v), values));
  }

  void validate_object(const node& n, const bj::object& o, const data_path& p) {
    for (const auto& r : n.required) {
      if (!o.contains(r)) out_.push_back(required_error(p.child(r).name));
    }
    if (n.min_properties && static_cast<std::int64_t>(o.size()) < *n.min_properties) {
      out_.push_back(
          invalid_error(field_of(p.name), std::to_string(o.size()),
                        p.name + " in body should have at least " + std::to_string(*n.min_properties) + " properties"));
    }
    if (n.max_properties && static_cast<std::int64_t>(o.size()) > *n.max_properties) {
      out_.push_back(too_many_error(field_of(p.name), o.size(), *n.max_properties));
    }
    for (const auto& kv : o) {
      auto it = n.properties.find(kv.key());
      if (it != n.properties.end()) {
        validate(*it->second, kv.value(), p.child(kv.key()));
      } else if (n.additional) {
        validate(*n.additional, kv.value(), p.key(kv.key()));
      }
    }
  }

  std::vector<field_cause>& out_;
};

// ------------------------------------------------------------------ lists and embedded resources

class structure_validator {
 public:
  explicit structure_validator(std::vector<field_cause>& out) : out_(out) {}

  void validate(const node& n, const bj::value& v, const data_path& p) {
    if (v.is_array()) {
      const auto& a = v.get_array();
      if (n.list_type == "set") check_set(a, p);
      if (n.list_type == "map") check_map(n, a, p);
      if (n.items) {
        for (std::size_t i = 0; i < a.size(); ++i) validate(*n.items, a[i], p.index(i));
      }
    } else if (v.is_object()) {
      const auto& o = v.get_object();
      if (n.embedded) check_embedded(o, p);
      for (const auto& kv : o) {
        auto it = n.properties.find(kv.key());
        if (it != n.properties.end()) {
          validate(*it->second, kv.value(), p.child(kv.key()));
        } else if (n.additional) {
          validate(*n.additional, kv.value(), p.key(kv.key()));
        }
      }
    }
  }

 private:
  // Reports the second occurrence of each repeated element, as Kubernetes does.
  template <typename Text>
  void report_duplicates(const std::vector<std::string>& keys, const data_path& p, Text text) {
    std::unordered_map<std::string, int> seen;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (++seen[keys[i]] == 2) out_.push_back(duplicate_error(p.index(i).field, text(i)));
    }
  }

  void check_set(const bj::array& a, const data_path& p) {
    std::vector<std::string> keys;
    for (const auto& e : a) keys.push_back(canonical(e));
    report_duplicates(keys, p, [&](std::size_t i) { return value_text(a[i]); });
  }

  void check_map(const node& n, const bj::array& a, const data_path& p) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_null() && !a[i].is_object()) {
        out_.push_back(
            invalid_error(p.index(i).field, value_text(a[i]), "must be an object for an array of list-type map"));
        return;
      }
    }
    std::vector<std::string> keys;
    std::vector<std::string> texts;
    for (const auto& e : a) {
      std::string key;
      std::string text;
      for (const auto& k : n.list_map_keys) {  // list-map-keys are kept sorted
        const bj::value* kv = e.is_object() ? e.get_object().if_contains(k) : nullptr;
        if (kv == nullptr) continue;
        key += go_quote(k) + "=" + canonical(*kv) + ";";
        if (!text.empty()) text += ", ";
        text += go_quote(k) + ":" + go_syntax(*kv);
      }
      keys.push_back(std::move(key));
      texts.push_back("map[string]interface {}{" + text + "}");
    }
    report_duplicates(keys, p, [&](std::size_t i) { return texts[i]; });
  }

  void check_embedded(const bj::object& o, const data_path& p) {
    const bj::value* api_version = o.if_contains("apiVersion");
    const bj::value* kind = o.if_contains("kind");
    if (api_version == nullptr) out_.push_back(required_error(p.child("apiVersion").field, "must not be empty"));
    if (kind == nullptr) out_.push_back(required_error(p.child("kind").field, "must not be empty"));
    if (api_version != nullptr) {
      auto f = p.child("apiVersion").field;
      if (!api_version->is_string()) {
        out_.push_back(invalid_error(f, value_text(*api_version), "must be a string"));
      } else if (api_version->get_string().empty()) {
        out_.push_back(invalid_error(f, "\"\"", "must not be empty"));
      } else if (std::count(api_version->get_string().begin(), api_version->get_string().end(), '/') > 1) {
        out_.push_back(invalid_error(f, value_text(*api_version),
                                     "unexpected GroupVersion string: " + std::string(api_version->get_string())));
      }
    }
    if (kind != nullptr) {
      auto f = p.child("kind").field;
      if (!kind->is_string()) {
        out_.push_back(invalid_error(f, value_text(*kind), "must be a string"));
      } else if (kind->get_string().empty()) {
        out_.push_back(invalid_error(f, "\"\"", "must not be empty"));
      }
    }
  }

  std::vector<field_cause>& out_;
};

// ------------------------------------------------------------------ x-kubernetes-validations

// field.Path's String() of the root (a nil path) is "<nil>".
std::string join_field(const std::string& base, const std::string& suffix) {
  if (suffix.empty()) return base.empty() ? "<nil>" : base;
  if (base.empty()) return suffix;
  return base + "." + suffix;
}

class rule_validator {
 public:
  explicit rule_validator(std::vector<field_cause>& out) : out_(out) {}

  // `type` is the structural type of the value (allOf branches have none of
  // their own).
  void validate(const node& n, const bj::value& v, const bj::value* old, const data_path& p,
                const std::string* type = nullptr) {
    if (!n.rules_below || v.is_null()) return;
    if (old != nullptr && old->is_null()) old = nullptr;
    if (type == nullptr) type = &n.type;
    for (const auto& r : n.rules) run(*type, r, v, old, p);
    for (const auto& b : n.all_of) validate(*b, v, old, p, type);
    if (v.is_array() && n.items) {
      const auto& a = v.get_array();
      const bj::array* old_a = old != nullptr && old->is_array() && n.list_type == "map" ? &old->get_array() : nullptr;
      for (std::size_t i = 0; i < a.size(); ++i) {
        validate(*n.items, a[i], old_a != nullptr ? correlate(n, a[i], *old_a) : nullptr, p.index(i));
      }
    } else if (v.is_object()) {
      const bj::object* old_o = old != nullptr && old->is_object() ? &old->get_object() : nullptr;
      for (const auto& kv : v.get_object()) {
        const bj::value* old_v = old_o != nullptr ? old_o->if_contains(kv.key()) : nullptr;
        auto it = n.properties.find(kv.key());
        if (it != n.properties.end()) {
          validate(*it->second, kv.value(), old_v, p.child(kv.key()));
        } else if (n.additional) {
          validate(*n.additional, kv.value(), old_v, p.key(kv.key()));
        }
      }
    }
  }

 private:
  // The old item of a list-type map with the same key values.
  static const bj::value* correlate(const node& n, const bj::value& item, const bj::array& old) {
    if (!item.is_object()) return nullptr;
    for (const auto& o : old) {
      if (!o.is_object()) continue;
      bool same = true;
      for (const auto& k : n.list_map_keys) {
        const bj::value* a = item.get_object().if_contains(k);
        const bj::value* b = o.get_object().if_contains(k);
        if ((a == nullptr) != (b == nullptr) || (a != nullptr && !json_equal(*a, *b))) {
          same = false;
          break;
        }
      }
      if (same) return &o;
    }
    return nullptr;
  }

  void run(const std::string& type, const rule& r, const bj::value& v, const bj::value* old, const data_path& p) {
    if (r.transition && old == nullptr) return;
    cel::binding b[] = {{"self", &v}, {"oldSelf", old}};
    auto result = r.program->evaluate_bool(b);
    std::string shown = !r.message.empty() ? r.message : r.source;
    if (!result) {
      std::string err = result.error();
      std::string detail = err.rfind("no such overload", 0) == 0
                               ? "'" + err +
                                     "': call arguments did not match a supported operator, function or "
                                     "macro signature for rule: " +
                                     shown
                               : err + " evaluating rule: " + shown;
      out_.push_back(invalid_error(join_field(p.field, ""), go_quote(type), detail));
      return;
    }
    if (*result) return;
    std::string detail;
    if (r.message_expression) {
      auto m = r.message_expression->evaluate_string(b);
      if (m) {
        std::string_view t = *m;
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
        if (!t.empty() && t.find('\n') == std::string_view::npos) detail = std::string(t);
      }
    }
    if (detail.empty()) detail = r.message.empty() ? "failed rule: " + r.source : r.message;
    std::string field = join_field(p.field, r.field_path);
    // Objects and arrays are not printed, scalars are (apiextensions' CEL validator).
    std::string shown_value = type == "object" || type == "array" ? std::string() : value_text(v);
    if (r.reason == "FieldValueForbidden") {
      out_.push_back(forbidden_error(field, detail));
    } else if (r.reason == "FieldValueRequired") {
      out_.push_back(required_error(field, detail));
    } else if (r.reason == "FieldValueDuplicate") {
      out_.push_back(shown_value.empty() ? cause("FieldValueDuplicate", "Duplicate value", field)
                                         : duplicate_error(field, shown_value));
    } else {
      out_.push_back(invalid_error(field, shown_value, detail));
    }
  }

  std::vector<field_cause>& out_;
};

// ------------------------------------------------------------------ compilation

enum class level { root, field, item, nested };

constexpr std::string_view known_types[] = {"array", "boolean", "integer", "number", "object", "string"};

class schema_compiler {
 public:
  std::vector<field_cause> errors;

  // `sp` is the schema path for errors; `dp` the data path the node applies to
  // ("spec.list") and `uncorrelatable` the first list above it whose items
  // cannot be matched to old items (transition rules are not allowed there).
  std::unique_ptr<node> compile(const bj::value& js, const std::string& sp, level lvl, const std::string& dp,
                                const std::string& uncorrelatable) {
    auto n = std::make_unique<node>();
    if (!js.is_object()) {
      errors.push_back(invalid_error(sp, value_text(js), "must be a JSON object"));
      return n;
    }
    const auto& o = js.get_object();
    read_flags(*n, o, sp, lvl);
    place at{sp, lvl, dp, uncorrelatable};
    for (const auto& kv : o) keyword(*n, kv.key(), kv.value(), at);
    if (lvl != level::nested) structural_checks(*n, o, sp, lvl);
    if (const auto* rules = o.if_contains("x-kubernetes-validations")) compile_rules(*n, *rules, sp, uncorrelatable);
    n->rules_below = !n->rules.empty();
    for (const auto& [_, c] : n->properties) n->rules_below = n->rules_below || c->rules_below;
    if (n->items) n->rules_below = n->rules_below || n->items->rules_below;
    if (n->additional) n->rules_below = n->rules_below || n->additional->rules_below;
    for (const auto& b : n->all_of) n->rules_below = n->rules_below || b->rules_below;
    if (n->default_value) check_default(*n, sp);
    return n;
  }

 private:
  void expect_error(const std::string& path, const bj::value& v, std::string_view what) {
    errors.push_back(invalid_error(path, value_text(v), "must be " + std::string(what)));
  }

  std::optional<bool> get_bool(const bj::value& v, const std::string& path) {
    if (v.is_bool()) return v.get_bool();
    expect_error(path, v, "a boolean");
    return std::nullopt;
  }
  std::optional<std::string> get_string(const bj::value& v, const std::string& path) {
    if (v.is_string()) return std::string(v.get_string());
    expect_error(path, v, "a string");
    return std::nullopt;
  }
  std::optional<std::int64_t> get_count(const bj::value& v, const std::string& path) {
    if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
    if (v.is_uint64()) return std::numeric_limits<std::int64_t>::max();
    if (v.is_double() && v.get_double() >= 0 && std::trunc(v.get_double()) == v.get_double() && v.get_double() < 9e18) {
      return static_cast<std::int64_t>(v.get_double());
    }
    expect_error(path, v, "a non-negative integer");
    return std::nullopt;
  }
  std::optional<bj::value> get_number(const bj::value& v, const std::string& path) {
    if (is_number(v)) return v;
    expect_error(path, v, "a number");
    return std::nullopt;
  }
  std::vector<std::string> get_strings(const bj::value& v, const std::string& path) {
    std::vector<std::string> out;
    if (!v.is_array()) {
      expect_error(path, v, "a list of strings");
      return out;
    }
    for (std::size_t i = 0; i < v.get_array().size(); ++i) {
      if (auto s = get_string(v.get_array()[i], path + "[" + std::to_string(i) + "]")) out.push_back(*s);
    }
    return out;
  }

  // Flags that change how other keywords are read, whatever the key order.
  void read_flags(node& n, const bj::object& o, const std::string& sp, level lvl) {
    if (lvl == level::nested) return;
    if (const auto* v = o.if_contains("x-kubernetes-int-or-string")) {
      n.int_or_string = get_bool(*v, sp + ".x-kubernetes-int-or-string").value_or(false);
    }
    if (const auto* v = o.if_contains("x-kubernetes-list-type")) {
      std::string path = sp + ".x-kubernetes-list-type";
      if (auto t = get_string(*v, path)) {
        if (*t != "atomic" && *t != "set" && *t != "map") {
          errors.push_back(not_supported_error(path, go_quote(*t), {"atomic", "set", "map"}));
        } else {
          n.list_type = *t;
        }
      }
    }
  }

  void forbid_nested(std::string_view key, const bj::value& v, const std::string& path) {
    static constexpr std::string_view empty_keys[] = {"type", "title", "description", "x-kubernetes-list-map-keys"};
    static constexpr std::string_view false_keys[] = {"nullable", "x-kubernetes-embedded-resource",
                                                      "x-kubernetes-int-or-string"};
    static constexpr std::string_view undefined_keys[] = {"default", "x-kubernetes-preserve-unknown-fields",
                                                          "x-kubernetes-list-type", "x-kubernetes-map-type"};
    for (auto k : empty_keys) {
      if (key == k) errors.push_back(forbidden_error(path, "must be empty to be structural"));
    }
    for (auto k : false_keys) {
      if (key == k && !(v.is_bool() && !v.get_bool()))
        errors.push_back(forbidden_error(path, "must be false to be structural"));
    }
    for (auto k : undefined_keys) {
      if (key == k) errors.push_back(forbidden_error(path, "must be undefined to be structural"));
    }
  }

  // Rules are evaluated on the structural spine and in allOf (as the API
  // server does); elsewhere they would be silently ignored, so refuse them.
  void forbid_rules(const node& branch, const std::string& path) {
    if (branch.rules_below) {
      errors.push_back(forbidden_error(path,
                                       "x-kubernetes-validations are only evaluated in allOf, not in anyOf, "
                                       "oneOf or not"));
    }
  }

  static bool is_int_or_string_any_of(const bj::value& v) {
    if (!v.is_array() || v.get_array().size() != 2) return false;
    const auto& a = v.get_array();
    auto only_type = [](const bj::value& b, std::string_view t) {
      if (!b.is_object() || b.get_object().size() != 1) return false;
      const auto* ty = b.get_object().if_contains("type");
      return ty != nullptr && ty->is_string() && ty->get_string() == t;
    };
    return only_type(a[0], "integer") && only_type(a[1], "string");
  }

  // Where a keyword is read: the schema path for errors, the level, the data
  // path it applies to and the first uncorrelatable list above it.
  struct place {
    const std::string& sp;
    level lvl;
    const std::string& dp;
    const std::string& uncorrelatable;
    bool nested() const { return lvl == level::nested; }
  };

  void keyword(node& n, std::string_view key, const bj::value& v, const place& at) {
    std::string path = at.sp + "." + std::string(key);
    if (at.nested()) forbid_nested(key, v, path);
    if (structure_keyword(n, key, v, path, at) || value_keyword(n, key, v, path) || limit_keyword(n, key, v, path) ||
        extension_keyword(n, key, v, path, at.nested()) || junctor_keyword(n, key, v, path, at)) {
      return;
    }
    static constexpr std::string_view unsupported[] = {
        "$ref", "definitions", "patternProperties", "dependencies", "additionalItems", "id", "$schema"};
    if (std::find(std::begin(unsupported), std::end(unsupported), key) != std::end(unsupported)) {
      errors.push_back(forbidden_error(path, std::string(key) + " is not supported"));
    }
    // description, title, example, externalDocs, x-kubernetes-int-or-string
    // and x-kubernetes-list-type (read first) and x-kubernetes-validations
    // (compiled after the children) need nothing here; other unknown keys are
    // dropped, as the API server's decoding of a CRD drops them.
  }

  bool structure_keyword(node& n, std::string_view key, const bj::value& v, const std::string& path, const place& at) {
    bool nested = at.nested();
    level child_level = nested ? level::nested : level::field;
    if (key == "type") {
      if (auto t = get_string(v, path)) {
        if (*t == "null") {
          errors.push_back(forbidden_error(path, "type cannot be set to null, use nullable as an alternative"));
        } else if (std::find(std::begin(known_types), std::end(known_types), *t) == std::end(known_types)) {
          errors.push_back(not_supported_error(path, go_quote(*t), {std::begin(known_types), std::end(known_types)}));
        } else if (!nested) {
          n.type = *t;
        }
      }
    } else if (key == "properties") {
      if (!v.is_object()) {
        expect_error(path, v, "an object");
        return true;
      }
      for (const auto& kv : v.get_object()) {
        std::string name(kv.key());
        std::string child_dp = at.dp.empty() ? name : at.dp + "." + name;
        if (nested && name == "metadata") {
          errors.push_back(forbidden_error(path + "[metadata]", "must not be specified in a nested context"));
        }
        n.properties[name] = compile(kv.value(), path + "[" + name + "]", child_level, child_dp, at.uncorrelatable);
      }
    } else if (key == "additionalProperties") {
      if (!v.is_bool()) {
        n.additional = compile(v, path, child_level, at.dp + "[*]", at.uncorrelatable);
      } else if (!nested) {
        if (!v.get_bool() && n.properties.empty()) errors.push_back(forbidden_error(path, "must not be false"));
        n.additional_any = v.get_bool();
      }
    } else if (key == "items") {
      if (v.is_array()) {
        errors.push_back(forbidden_error(path, "items must be a schema object and not an array"));
        return true;
      }
      // Only the items of a list-type map can be matched with old items.
      bool correlatable = !nested && n.list_type == "map";
      std::string unc = at.uncorrelatable;
      if (unc.empty() && !correlatable) unc = at.dp.empty() ? "<root>" : at.dp;
      n.items = compile(v, path, nested ? level::nested : level::item, at.dp + "[*]", unc);
    } else if (key == "required") {
      n.required = get_strings(v, path);
    } else if (key == "nullable") {
      if (!nested) n.nullable = get_bool(v, path).value_or(false);
    } else if (key == "default") {
      if (!nested) n.default_value = v;
    } else {
      return false;
    }
    return true;
  }

  bool value_keyword(node& n, std::string_view key, const bj::value& v, const std::string& path) {
    if (key == "enum") {
      if (v.is_array()) {
        n.enum_values = v.get_array();
      } else {
        expect_error(path, v, "a list");
      }
    } else if (key == "pattern") {
      if (auto p = get_string(v, path)) {
        auto re = cel::compile_regex(*p);
        if (re) {
          n.pattern = *p;
          n.pattern_re = *re;
        } else {
          errors.push_back(
              invalid_error(path, go_quote(*p), "must be a valid regular expression, but isn't: " + re.error()));
        }
      }
    } else if (key == "format") {
      if (auto f = get_string(v, path)) n.format = *f;
    } else if (key == "uniqueItems") {
      if (get_bool(v, path).value_or(false)) {
        errors.push_back(
            forbidden_error(path, "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"));
      }
    } else {
      return false;
    }
    return true;
  }

  bool limit_keyword(node& n, std::string_view key, const bj::value& v, const std::string& path) {
    if (key == "maximum") {
      n.maximum = get_number(v, path);
    } else if (key == "minimum") {
      n.minimum = get_number(v, path);
    } else if (key == "exclusiveMaximum") {
      n.exclusive_maximum = get_bool(v, path).value_or(false);
    } else if (key == "exclusiveMinimum") {
      n.exclusive_minimum = get_bool(v, path).value_or(false);
    } else if (key == "multipleOf") {
      n.multiple_of = get_number(v, path);
      if (n.multiple_of && as_long_double(*n.multiple_of) <= 0) {
        errors.push_back(invalid_error(path, value_text(v), "must be greater than zero"));
        n.multiple_of.reset();
      }
    } else if (key == "maxLength") {
      n.max_length = get_count(v, path);
    } else if (key == "minLength") {
      n.min_length = get_count(v, path);
    } else if (key == "maxItems") {
      n.max_items = get_count(v, path);
    } else if (key == "minItems") {
      n.min_items = get_count(v, path);
    } else if (key == "maxProperties") {
      n.max_properties = get_count(v, path);
    } else if (key == "minProperties") {
      n.min_properties = get_count(v, path);
    } else {
      return false;
    }
    return true;
  }

  bool extension_keyword(node& n, std::string_view key, const bj::value& v, const std::string& path, bool nested) {
    if (key == "x-kubernetes-preserve-unknown-fields") {
      if (auto b = get_bool(v, path); b && !nested) {
        if (!*b) errors.push_back(invalid_error(path, "false", "must be true or undefined"));
        n.preserve_unknown = *b;
      }
    } else if (key == "x-kubernetes-embedded-resource") {
      if (!nested) n.embedded = get_bool(v, path).value_or(false);
    } else if (key == "x-kubernetes-list-map-keys") {
      if (!nested) {
        n.list_map_keys = get_strings(v, path);
        std::sort(n.list_map_keys.begin(), n.list_map_keys.end());
      }
    } else if (key == "x-kubernetes-map-type") {
      if (auto t = get_string(v, path); t && !nested) {
        if (*t != "granular" && *t != "atomic") {
          errors.push_back(not_supported_error(path, go_quote(*t), {"granular", "atomic"}));
        } else {
          n.map_type = *t;
        }
      }
    } else {
      return false;
    }
    return true;
  }

  bool junctor_keyword(node& n, std::string_view key, const bj::value& v, const std::string& path, const place& at) {
    if (key == "not") {
      n.not_ = compile(v, path, level::nested, at.dp, at.uncorrelatable);
      forbid_rules(*n.not_, path);
      return true;
    }
    if (key != "allOf" && key != "anyOf" && key != "oneOf") return false;
    if (!v.is_array()) {
      expect_error(path, v, "a list of schemas");
      return true;
    }
    if (key == "anyOf" && n.int_or_string && is_int_or_string_any_of(v)) return true;
    auto& target = key == "allOf" ? n.all_of : key == "anyOf" ? n.any_of : n.one_of;
    for (std::size_t i = 0; i < v.get_array().size(); ++i) {
      const auto& b = v.get_array()[i];
      // x-kubernetes-int-or-string's other accepted form: allOf[0] is the anyOf pattern.
      if (key == "allOf" && i == 0 && n.int_or_string && b.is_object() && b.get_object().size() == 1 &&
          b.get_object().contains("anyOf") && is_int_or_string_any_of(b.get_object().at("anyOf"))) {
        continue;
      }
      std::string bp = path + "[" + std::to_string(i) + "]";
      target.push_back(compile(b, bp, level::nested, at.dp, at.uncorrelatable));
      if (key != "allOf") forbid_rules(*target.back(), bp);
    }
    return true;
  }

  void structural_checks(node& n, const bj::object& o, const std::string& sp, level lvl) {
    std::string type_path = sp + ".type";
    if (lvl == level::root) {
      if (n.type.empty()) {
        errors.push_back(required_error(type_path, "must not be empty at the root"));
      } else if (n.type != "object") {
        errors.push_back(invalid_error(type_path, go_quote(n.type), "must be object at the root"));
      }
    } else if (n.type.empty() && !n.int_or_string && !n.preserve_unknown && !n.embedded) {
      errors.push_back(required_error(type_path, lvl == level::item ? "must not be empty for specified array items"
                                                                    : "must not be empty for specified object fields"));
    }
    if (n.int_or_string && !n.type.empty()) {
      errors.push_back(
          invalid_error(type_path, go_quote(n.type), "must be empty if x-kubernetes-int-or-string is true"));
    }
    if (n.embedded && n.type != "object") {
      errors.push_back(
          invalid_error(type_path, go_quote(n.type), "must be object if x-kubernetes-embedded-resource is true"));
    }
    if (n.type == "array" && !o.contains("items")) errors.push_back(required_error(sp + ".items", "must be specified"));
    const auto* ap = o.if_contains("additionalProperties");
    if (!n.properties.empty() && ap != nullptr && !(ap->is_bool() && ap->get_bool())) {
      errors.push_back(
          forbidden_error(sp + ".additionalProperties", "additionalProperties and properties are mutual exclusive"));
    }
    if (!n.list_type.empty() && n.type != "array") {
      errors.push_back(
          invalid_error(sp + ".x-kubernetes-list-type", go_quote(n.list_type), "must only be used on type array"));
    }
    if (n.list_type == "map") {
      check_list_map(n, sp);
    } else if (!n.list_map_keys.empty()) {
      errors.push_back(
          forbidden_error(sp + ".x-kubernetes-list-map-keys", "must be empty if x-kubernetes-list-type is not map"));
    }
  }

  void check_list_map(const node& n, const std::string& sp) {
    std::string keys_path = sp + ".x-kubernetes-list-map-keys";
    if (n.list_map_keys.empty()) {
      errors.push_back(required_error(keys_path, "must not be empty if x-kubernetes-list-type is map"));
      return;
    }
    if (!n.items || n.items->type != "object") {
      errors.push_back(invalid_error(sp + ".items.type", go_quote(n.items ? n.items->type : ""),
                                     "must be object if x-kubernetes-list-type is map"));
      return;
    }
    for (const auto& k : n.list_map_keys) {
      auto it = n.items->properties.find(k);
      if (it == n.items->properties.end()) {
        errors.push_back(invalid_error(keys_path, go_quote(k), "entries must all be names of item properties"));
        continue;
      }
      bool required = std::find(n.items->required.begin(), n.items->required.end(), k) != n.items->required.end();
      if (!required && !it->second->default_value) {
        errors.push_back(invalid_error(keys_path, go_quote(k),
                                       "entries must all be names of required properties or to have default values"));
      }
    }
  }

  void compile_rules(node& n, const bj::value& v, const std::string& sp, const std::string& uncorrelatable) {
    std::string path = sp + ".x-kubernetes-validations";
    if (!v.is_array()) return expect_error(path, v, "a list of rules");
    for (std::size_t i = 0; i < v.get_array().size(); ++i) {
      std::string rp = path + "[" + std::to_string(i) + "]";
      const auto& entry = v.get_array()[i];
      if (!entry.is_object()) {
        expect_error(rp, entry, "an object");
        continue;
      }
      if (auto r = compile_rule(n, entry.get_object(), rp, uncorrelatable)) n.rules.push_back(std::move(*r));
    }
  }

  std::optional<rule> compile_rule(const node& n, const bj::object& o, const std::string& rp,
                                   const std::string& uncorrelatable) {
    static constexpr std::string_view vars[] = {"self", "oldSelf"};
    rule r;
    std::size_t before = errors.size();
    const auto* src = o.if_contains("rule");
    if (src == nullptr || !src->is_string() || trim_view(src->get_string()).empty()) {
      errors.push_back(required_error(rp + ".rule", "rule is not specified"));
      return std::nullopt;
    }
    r.source = std::string(trim_view(src->get_string()));
    if (const auto* m = o.if_contains("message")) {
      if (auto s = get_string(*m, rp + ".message")) {
        if (s->find('\n') != std::string::npos) {
          errors.push_back(invalid_error(rp + ".message", go_quote(*s), "message must not contain line breaks"));
        }
        r.message = std::string(trim_view(*s));
      }
    }
    if (r.message.empty() && r.source.find('\n') != std::string::npos && !o.contains("messageExpression")) {
      errors.push_back(required_error(rp + ".message", "message must be specified if rule contains line breaks"));
    }
    rule_options(n, o, rp, r);
    auto program = cel::compile(r.source, vars);
    if (!program) {
      errors.push_back(invalid_error(rp + ".rule", go_quote(r.source), "compilation failed: " + program.error()));
      return std::nullopt;
    }
    r.program = *program;
    r.transition = r.program->references("oldSelf");
    if (r.transition && !uncorrelatable.empty()) {
      errors.push_back(
          invalid_error(rp + ".rule", go_quote(r.source),
                        "oldSelf cannot be used on the uncorrelatable portion of the schema within " + uncorrelatable));
    }
    if (const auto* me = o.if_contains("messageExpression")) {
      if (auto s = get_string(*me, rp + ".messageExpression")) {
        auto mp = cel::compile(*s, vars);
        if (mp) {
          r.message_expression = *mp;
        } else {
          errors.push_back(invalid_error(rp + ".messageExpression", go_quote(*s),
                                         "messageExpression compilation failed: " + mp.error()));
        }
      }
    }
    if (errors.size() != before) return std::nullopt;
    return r;
  }

  // reason, fieldPath and optionalOldSelf.
  void rule_options(const node& n, const bj::object& o, const std::string& rp, rule& r) {
    if (const auto* re = o.if_contains("reason")) {
      if (auto s = get_string(*re, rp + ".reason")) {
        static const std::vector<std::string> reasons = {"FieldValueDuplicate", "FieldValueForbidden",
                                                         "FieldValueInvalid", "FieldValueRequired"};
        if (std::find(reasons.begin(), reasons.end(), *s) == reasons.end()) {
          errors.push_back(not_supported_error(rp + ".reason", go_quote(*s), reasons));
        }
        r.reason = *s;
      }
    }
    if (const auto* fp = o.if_contains("fieldPath")) {
      if (auto s = get_string(*fp, rp + ".fieldPath")) {
        auto normalized = normalize_field_path(n, *s);
        if (normalized) {
          r.field_path = *normalized;
        } else {
          errors.push_back(
              invalid_error(rp + ".fieldPath", go_quote(*s), "fieldPath must be a valid path: " + normalized.error()));
        }
      }
    }
    if (const auto* opt = o.if_contains("optionalOldSelf"); opt != nullptr && opt->is_bool() && opt->get_bool()) {
      errors.push_back(
          forbidden_error(rp + ".optionalOldSelf", "optionalOldSelf is not supported by the local CEL subset"));
    }
  }

  static std::string_view trim_view(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  }

  // A rule's fieldPath: ".a.b", ".map['key']", "['a.b']", relative to the
  // node and naming fields that exist; returned in field.Path form ("a.b",
  // "map[key]").
  static krt::result<std::string, std::string> normalize_field_path(const node& root, std::string_view fp) {
    const node* n = &root;
    std::string out;
    std::size_t i = 0;
    if (fp.empty()) return krt::unexpected(std::string("must not be empty"));
    while (i < fp.size()) {
      std::string name;
      if (fp[i] == '.') {
        std::size_t start = ++i;
        while (i < fp.size() && fp[i] != '.' && fp[i] != '[') ++i;
        name = std::string(fp.substr(start, i - start));
        if (name.empty()) return krt::unexpected(std::string("unexpected end of JSON path"));
      } else if (fp[i] == '[') {
        if (i + 1 >= fp.size() || fp[i + 1] != '\'')
          return krt::unexpected(std::string("expected single quoted string"));
        std::size_t start = i + 2;
        auto close = fp.find("']", start);
        if (close == std::string_view::npos) return krt::unexpected(std::string("unexpected end of JSON path"));
        name = std::string(fp.substr(start, close - start));
        i = close + 2;
      } else {
        return krt::unexpected("expected [ or . but got: " + std::string(fp.substr(i)));
      }
      if (!n->properties.empty()) {
        auto it = n->properties.find(name);
        if (it == n->properties.end()) return krt::unexpected(std::string("does not refer to a valid field"));
        out += (out.empty() ? "" : ".") + name;
        n = it->second.get();
      } else if (n->additional) {
        out += "[" + name + "]";
        n = n->additional.get();
      } else {
        return krt::unexpected(std::string("does not refer to a valid field"));
      }
    }
    return out;
  }

  // A default must itself be valid (after its own nested defaults) and have
  // no fields the schema would prune.
  void check_default(node& n, const std::string& sp) {
    std::string path = sp + ".default";
    bj::value d = *n.default_value;
    std::vector<std::string> pruned;
    prune(n, d, "", n.embedded, pruned);
    if (!pruned.empty()) {
      std::string list;
      for (const auto& p : pruned) list += (list.empty() ? "" : ", ") + p;
      errors.push_back(invalid_error(path, json_text(*n.default_value), "must not have unknown fields: " + list));
      return;
    }
    apply_defaults(n, d);
    std::vector<field_cause> errs;
    data_path dp{path, path};
    openapi_validator(errs).validate(n, d, dp);
    structure_validator(errs).validate(n, d, dp);
    if (errs.empty() && n.rules_below) rule_validator(errs).validate(n, d, nullptr, dp);
    errors.insert(errors.end(), errs.begin(), errs.end());
    n.default_value = std::move(d);
  }
};

bool blocks_rules(const field_cause& c) {
  return c.reason == "FieldValueNotSupported" || c.reason == "FieldValueRequired" || c.reason == "FieldValueTooLong" ||
         c.reason == "FieldValueTooMany" || c.reason == "FieldValueTypeInvalid";
}

}  // namespace

krt::result<schema_ptr, std::vector<field_cause>> compile_schema(const bj::value& schema,
                                                                 std::string_view field_prefix) {
  schema_compiler c;
  auto root = c.compile(schema, std::string(field_prefix), level::root, "", "");
  if (!c.errors.empty()) return krt::unexpected(std::move(c.errors));
  auto out = std::make_shared<structural_schema>();
  out->root = std::move(root);
  return schema_ptr(std::move(out));
}

admission_result admit(const structural_schema& schema, bj::value& object, const bj::value* old_object) {
  admission_result r;
  const node& root = *schema.root;
  prune(root, object, "", true, r.unknown_fields);
  apply_defaults(root, object);
  data_path top;
  openapi_validator(r.errors).validate(root, object, top);
  structure_validator(r.errors).validate(root, object, top);
  if (root.rules_below) {
    if (std::any_of(r.errors.begin(), r.errors.end(), blocks_rules)) {
      r.errors.push_back(invalid_error("<nil>", "\"null\"",
                                       "some validation rules were not checked because the object was invalid; "
                                       "correct the existing errors to complete validation"));
    } else {
      rule_validator(r.errors).validate(root, object, old_object, top);
    }
  }
  return r;
}

}  // namespace krt::local
