// Label and field selectors, following k8s.io/apimachinery/pkg/labels (the
// lexer and parser of selector strings, metav1.LabelSelectorAsSelector) and
// pkg/fields (term splitting and value escapes).
//
// Affinity: none (pure functions).

#include "local/apiserver/selectors.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

namespace krt::local {
namespace {

template <typename T>
krt::result<T, std::string> failure(std::string message) {
  return krt::unexpected(std::move(message));
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the shape of label names and values.
bool is_label_token(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: dot-separated labels of [a-z0-9-], alphanumeric at both ends.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(s.find('.', start), s.size());
    std::string_view label = s.substr(start, end - start);
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (label.empty() || !lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(), [&](char c) { return lower_alnum(c) || c == '-'; })) return false;
    if (end == s.size()) return true;
    start = end + 1;
  }
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

// ---------------------------------------------------------------------------
// Label selector strings

enum class token_kind { end, identifier, not_, equals, double_equals, not_equals, open, close, comma, other };

struct token {
  token_kind kind = token_kind::end;
  std::string_view text;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The characters that end an identifier, as in the labels lexer.
bool is_special(char c) { return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>'; }

class label_lexer {
 public:
  explicit label_lexer(std::string_view text) : text_(text) {}

  token peek() {
    const std::size_t saved = pos_;
    token t = next();
    pos_ = saved;
    return t;
  }

  token next() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    if (pos_ == text_.size()) return {token_kind::end, "end of string"};
    const std::size_t start = pos_;
    const char c = text_[pos_++];
    auto two = [&](char second, token_kind both, token_kind one) {
      if (pos_ < text_.size() && text_[pos_] == second) {
        ++pos_;
        return token{both, text_.substr(start, 2)};
      }
      return token{one, text_.substr(start, 1)};
    };
    switch (c) {
      case '!':
        return two('=', token_kind::not_equals, token_kind::not_);
      case '=':
        return two('=', token_kind::double_equals, token_kind::equals);
      case '(':
        return {token_kind::open, "("};
      case ')':
        return {token_kind::close, ")"};
      case ',':
        return {token_kind::comma, ","};
      case '<':
      case '>':
        return {token_kind::other, text_.substr(start, 1)};
      default:
        break;
    }
    while (pos_ < text_.size() && !is_space(text_[pos_]) && !is_special(text_[pos_])) ++pos_;
    return {token_kind::identifier, text_.substr(start, pos_ - start)};
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string found(const token& t, std::string_view expected) {
  std::string out = "unable to parse requirement: found '";
  out += t.text;
  out += "', expected: ";
  out += expected;
  return out;
}

bool ends_requirement(const token& t) { return t.kind == token_kind::end || t.kind == token_kind::comma; }

krt::result<std::string, std::string> checked_key(std::string_view key) {
  if (auto problem = label_key_error(key); !problem.empty()) {
    return failure<std::string>("unable to parse requirement: invalid label key " + quoted(key) + ": " + problem);
  }
  return std::string(key);
}

krt::result<std::string, std::string> checked_value(std::string_view value) {
  if (auto problem = label_value_error(value); !problem.empty()) {
    return failure<std::string>("unable to parse requirement: invalid label value " + quoted(value) + ": " + problem);
  }
  return std::string(value);
}

// "(a, b, c)": empty entries are the empty value, as in the Kubernetes parser
// ("()" is the set {""}).
krt::result<std::vector<std::string>, std::string> parse_value_set(label_lexer& lexer) {
  using values_result = krt::result<std::vector<std::string>, std::string>;
  token open = lexer.next();
  if (open.kind != token_kind::open) return krt::unexpected(found(open, "'('"));
  std::vector<std::string> values;
  while (true) {
    std::string_view value;
    if (lexer.peek().kind == token_kind::identifier) value = lexer.next().text;
    auto checked = checked_value(value);
    if (!checked) return values_result(krt::unexpected(std::move(checked).error()));
    if (std::find(values.begin(), values.end(), *checked) == values.end()) values.push_back(std::move(*checked));
    token t = lexer.next();
    if (t.kind == token_kind::close) return values;
    if (t.kind != token_kind::comma) return krt::unexpected(found(t, "',', ')' or identifier"));
  }
}

krt::result<label_requirement, std::string> parse_requirement(label_lexer& lexer) {
  using requirement_result = krt::result<label_requirement, std::string>;
  label_requirement requirement;
  token first = lexer.next();
  const bool negated = first.kind == token_kind::not_;
  if (negated) first = lexer.next();
  if (first.kind != token_kind::identifier) {
    return krt::unexpected(found(first, negated ? "identifier after '!'" : "identifier"));
  }
  auto key = checked_key(first.text);
  if (!key) return requirement_result(krt::unexpected(std::move(key).error()));
  requirement.key = std::move(*key);
  if (negated) {
    requirement.operation = label_requirement::op::does_not_exist;
    return requirement;
  }
  if (ends_requirement(lexer.peek())) {
    requirement.operation = label_requirement::op::exists;
    return requirement;
  }

  token op = lexer.next();
  if (op.kind == token_kind::identifier && (op.text == "in" || op.text == "notin")) {
    requirement.operation = op.text == "in" ? label_requirement::op::in : label_requirement::op::not_in;
    auto values = parse_value_set(lexer);
    if (!values) return requirement_result(krt::unexpected(std::move(values).error()));
    requirement.values = std::move(*values);
    return requirement;
  }
  if (op.kind == token_kind::equals || op.kind == token_kind::double_equals) {
    requirement.operation = label_requirement::op::equals;
  } else if (op.kind == token_kind::not_equals) {
    requirement.operation = label_requirement::op::not_equals;
  } else {
    return krt::unexpected(found(op, "in, notin, =, ==, !="));
  }
  // "key=" compares with the empty value.
  std::string_view value;
  if (!ends_requirement(lexer.peek())) {
    token t = lexer.next();
    if (t.kind != token_kind::identifier) return krt::unexpected(found(t, "identifier for the value"));
    value = t.text;
  }
  auto checked = checked_value(value);
  if (!checked) return requirement_result(krt::unexpected(std::move(checked).error()));
  requirement.values.push_back(std::move(*checked));
  return requirement;
}

bool requirement_matches(const label_requirement& r, const bj::object* labels) {
  const bj::value* found_value = nullptr;
  if (labels != nullptr) {
    auto it = labels->find(r.key);
    if (it != labels->end()) found_value = &it->value();
  }
  auto in_values = [&] {
    const auto* s = found_value->if_string();
    if (s == nullptr) return false;  // label values are strings; anything else matches no value
    return std::find(r.values.begin(), r.values.end(), std::string_view(*s)) != r.values.end();
  };
  switch (r.operation) {
    case label_requirement::op::equals:
    case label_requirement::op::in:
      return found_value != nullptr && in_values();
    case label_requirement::op::not_equals:
    case label_requirement::op::not_in:
      return found_value == nullptr || !in_values();
    case label_requirement::op::exists:
      return found_value != nullptr;
    case label_requirement::op::does_not_exist:
      return found_value == nullptr;
  }
  return false;
}

// ---------------------------------------------------------------------------
// LabelSelector JSON

// metav1.LabelSelectorOperator names.
std::optional<label_requirement::op> operator_from_name(std::string_view name) {
  if (name == "In") return label_requirement::op::in;
  if (name == "NotIn") return label_requirement::op::not_in;
  if (name == "Exists") return label_requirement::op::exists;
  if (name == "DoesNotExist") return label_requirement::op::does_not_exist;
  return std::nullopt;
}

krt::result<label_requirement, std::string> expression_from_json(const bj::value& expression, std::size_t index) {
  using requirement_result = krt::result<label_requirement, std::string>;
  const std::string where = "matchExpressions[" + std::to_string(index) + "]";
  const auto* obj = expression.if_object();
  if (obj == nullptr) return failure<label_requirement>("invalid label selector: " + where + " must be an object");
  label_requirement requirement;

  auto key = obj->find("key");
  if (key == obj->end() || !key->value().is_string()) {
    return failure<label_requirement>("invalid label selector: " + where + ".key must be a string");
  }
  requirement.key = std::string(key->value().get_string());
  if (auto problem = label_key_error(requirement.key); !problem.empty()) {
    return failure<label_requirement>("invalid label selector: " + where + ".key " + quoted(requirement.key) + ": " +
                                      problem);
  }

  auto op = obj->find("operator");
  const bj::string* op_name = op == obj->end() ? nullptr : op->value().if_string();
  if (op_name == nullptr) {
    return failure<label_requirement>("invalid label selector: " + where + ".operator must be a string");
  }
  if (auto operation = operator_from_name(*op_name)) {
    requirement.operation = *operation;
  } else {
    return failure<label_requirement>("invalid label selector: " + where + ".operator " + quoted(*op_name) +
                                      " is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)");
  }

  auto values = obj->find("values");
  if (values != obj->end() && !values->value().is_null()) {
    const auto* list = values->value().if_array();
    if (list == nullptr) {
      return failure<label_requirement>("invalid label selector: " + where + ".values must be a list");
    }
    for (const auto& v : *list) {
      const auto* s = v.if_string();
      if (s == nullptr) {
        return failure<label_requirement>("invalid label selector: " + where + ".values must be strings");
      }
      if (auto problem = label_value_error(*s); !problem.empty()) {
        return failure<label_requirement>("invalid label selector: " + where + ".values: " + quoted(*s) + ": " +
                                          problem);
      }
      requirement.values.emplace_back(*s);
    }
  }
  const bool set_op =
      requirement.operation == label_requirement::op::in || requirement.operation == label_requirement::op::not_in;
  if (set_op && requirement.values.empty()) {
    return failure<label_requirement>("invalid label selector: " + where +
                                      ".values must be non-empty when operator is In or NotIn");
  }
  if (!set_op && !requirement.values.empty()) {
    return failure<label_requirement>("invalid label selector: " + where +
                                      ".values must be empty when operator is Exists or DoesNotExist");
  }
  return requirement_result(std::move(requirement));
}

// ---------------------------------------------------------------------------
// Field selectors

// Splits on commas not escaped by '\' (the escape is kept for unescape_value).
std::vector<std::string_view> split_terms(std::string_view text) {
  std::vector<std::string_view> terms;
  std::size_t start = 0;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (escaped) {
      escaped = false;
    } else if (text[i] == '\\') {
      escaped = true;
    } else if (text[i] == ',') {
      terms.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.push_back(text.substr(start));
  return terms;
}

krt::result<std::string, std::string> unescape_value(std::string_view raw) {
  std::string out;
  bool escaped = false;
  for (char c : raw) {
    if (escaped) {
      if (c != '\\' && c != ',' && c != '=') {
        return failure<std::string>("invalid escape sequence \"\\" + std::string(1, c) + "\" in field selector value " +
                                    quoted(raw));
      }
      out += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == ',' || c == '=') {
      return failure<std::string>("unescaped '" + std::string(1, c) + "' in field selector value " + quoted(raw) +
                                  " (escape it as \\" + std::string(1, c) + ")");
    } else {
      out += c;
    }
  }
  if (escaped) return failure<std::string>("field selector value " + quoted(raw) + " ends in a lone '\\'");
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string number_text(const bj::value& v) {
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  // Shortest round-trip form, as Go's strconv prints a float64 ("1.5", not "1.5E0").
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
  return ec == std::errc() ? std::string(buf, end) : bj::serialize(v);
}

}  // namespace

std::string label_key_error(std::string_view key) {
  std::string_view name = key;
  const std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return "a qualified name must be [prefix/]name with at most one '/'";
    }
    if (prefix.empty()) return "prefix part must be non-empty";
    if (!is_dns_subdomain(prefix)) {
      return "prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters (lower case alphanumeric "
             "characters, '-' or '.', starting and ending with an alphanumeric character)";
    }
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!is_label_token(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
           "alphanumeric character";
  }
  return {};
}

std::string label_value_error(std::string_view value) {
  if (value.size() > 63) return "must be no more than 63 characters";
  if (!value.empty() && !is_label_token(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
           "start and end with an alphanumeric character";
  }
  return {};
}

krt::result<label_selector, std::string> parse_label_selector(std::string_view text) {
  label_selector selector;
  label_lexer lexer(text);
  if (lexer.peek().kind == token_kind::end) return selector;
  while (true) {
    auto requirement = parse_requirement(lexer);
    if (!requirement) return failure<label_selector>(std::move(requirement).error());
    selector.requirements.push_back(std::move(*requirement));
    token t = lexer.next();
    if (t.kind == token_kind::end) return selector;
    if (t.kind != token_kind::comma) return failure<label_selector>(found(t, "',' or 'end of string'"));
    token after = lexer.peek();
    if (after.kind != token_kind::identifier && after.kind != token_kind::not_) {
      return failure<label_selector>(found(after, "identifier after ','"));
    }
  }
}

krt::result<label_selector, std::string> label_selector_from_json(const bj::value& selector_json) {
  label_selector selector;
  if (selector_json.is_null()) return selector;
  const auto* obj = selector_json.if_object();
  if (obj == nullptr) return failure<label_selector>("invalid label selector: must be an object");

  if (auto it = obj->find("matchLabels"); it != obj->end() && !it->value().is_null()) {
    const auto* labels = it->value().if_object();
    if (labels == nullptr) return failure<label_selector>("invalid label selector: matchLabels must be an object");
    for (const auto& kv : *labels) {
      const std::string key(kv.key());
      if (auto problem = label_key_error(key); !problem.empty()) {
        return failure<label_selector>("invalid label selector: matchLabels key " + quoted(key) + ": " + problem);
      }
      const auto* value = kv.value().if_string();
      if (value == nullptr) {
        return failure<label_selector>("invalid label selector: matchLabels." + key + " must be a string");
      }
      if (auto problem = label_value_error(*value); !problem.empty()) {
        return failure<label_selector>("invalid label selector: matchLabels." + key + " value " + quoted(*value) +
                                       ": " + problem);
      }
      selector.requirements.push_back({key, label_requirement::op::equals, {std::string(*value)}});
    }
  }
  if (auto it = obj->find("matchExpressions"); it != obj->end() && !it->value().is_null()) {
    const auto* expressions = it->value().if_array();
    if (expressions == nullptr) {
      return failure<label_selector>("invalid label selector: matchExpressions must be a list");
    }
    for (std::size_t i = 0; i < expressions->size(); ++i) {
      auto requirement = expression_from_json((*expressions)[i], i);
      if (!requirement) return failure<label_selector>(std::move(requirement).error());
      selector.requirements.push_back(std::move(*requirement));
    }
  }
  return selector;
}

bool matches(const label_selector& selector, const bj::object* labels) {
  if (selector.match_nothing) return false;
  return std::all_of(selector.requirements.begin(), selector.requirements.end(),
                     [&](const label_requirement& r) { return requirement_matches(r, labels); });
}

krt::result<field_selector, std::string> parse_field_selector(std::string_view text) {
  field_selector selector;
  if (text.empty()) return selector;
  for (std::string_view term : split_terms(text)) {
    if (term.empty()) continue;  // "a=b," as the Kubernetes parser allows
    // The first operator wins; "!=" and "==" before "=" at the same position.
    std::size_t at = 0;
    std::size_t length = 0;
    for (; at < term.size(); ++at) {
      const std::string_view rest = term.substr(at);
      if (rest.substr(0, 2) == "!=" || rest.substr(0, 2) == "==") {
        length = 2;
        break;
      }
      if (rest.front() == '=') {
        length = 1;
        break;
      }
    }
    if (length == 0) {
      return failure<field_selector>("invalid field selector " + quoted(text) + ": can't understand " + quoted(term) +
                                     " (expected field=value, field==value or field!=value)");
    }
    field_requirement requirement;
    requirement.field = std::string(trim(term.substr(0, at)));
    if (requirement.field.empty()) {
      return failure<field_selector>("invalid field selector " + quoted(text) + ": " + quoted(term) +
                                     " names no field");
    }
    requirement.negated = term[at] == '!';
    auto value = unescape_value(term.substr(at + length));
    if (!value) return failure<field_selector>("invalid field selector " + quoted(text) + ": " + value.error());
    requirement.value = std::move(*value);
    selector.requirements.push_back(std::move(requirement));
  }
  return selector;
}

std::string field_value(const bj::value& object, std::string_view dotted_path) {
  const bj::value* at = &object;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(dotted_path.find('.', start), dotted_path.size());
    const auto* obj = at->if_object();
    if (obj == nullptr) return {};
    auto it = obj->find(dotted_path.substr(start, end - start));
    if (it == obj->end()) return {};
    at = &it->value();
    if (end == dotted_path.size()) break;
    start = end + 1;
  }
  switch (at->kind()) {
    case bj::kind::string:
      return std::string(at->get_string());
    case bj::kind::bool_:
      return at->get_bool() ? "true" : "false";
    case bj::kind::int64:
    case bj::kind::uint64:
    case bj::kind::double_:
      return number_text(*at);
    case bj::kind::null:
      return {};
    default:
      return bj::serialize(*at);
  }
}

bool matches(const field_selector& selector, const bj::value& object) {
  return std::all_of(selector.requirements.begin(), selector.requirements.end(), [&](const field_requirement& r) {
    return (field_value(object, r.field) == r.value) != r.negated;
  });
}

}  // namespace krt::local
