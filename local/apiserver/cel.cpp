// The CEL subset of cel.hpp: a lexer, a recursive-descent parser producing an
// immutable tree, and a tree-walking evaluator over Boost.JSON values.
// docs/local-cel-subset.md is the user-facing description; keep them in step.

#include "local/apiserver/cel.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <utility>
#include <variant>

namespace krt::local::cel {

// ------------------------------------------------------------------ regexes

struct compiled_regex {
  std::regex re;
};

namespace {

// libstdc++'s default (depth-first) executor recurses once per input character
// and backtracks exponentially; its breadth-first one does neither.
constexpr std::regex::flag_type regex_base_flags = std::regex::ECMAScript
#if defined(__GLIBCXX__)
                                                   | std::regex_constants::__polynomial
#endif
    ;

// RE2 spellings std::regex lacks: a leading (?i), \A and \z, (?P<name>...).
struct translated_re {
  std::string text;
  bool icase = false;
  std::string error;  // RE2 syntax that std::regex would read differently
};

translated_re translate_re2(std::string_view p) {
  bool icase = false;
  if (p.substr(0, 4) == "(?i)") {
    icase = true;
    p.remove_prefix(4);
  }
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char n = p[i + 1];
      if (n == 'p' || n == 'P' || n == 'Q') {
        return {std::string(), icase, std::string("\\") + n + " (Unicode classes and quoting) is not supported"};
      }
      if (!in_class && n == 'A') {
        out += '^';
      } else if (!in_class && n == 'z') {
        out += '$';
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == '(' && p.substr(i, 4) == "(?P<") {
      auto close = p.find('>', i);
      if (close != std::string_view::npos) {
        out += '(';
        i = close;
        continue;
      }
    }
    out += c;
  }
  return {std::move(out), icase, std::string()};
}

}  // namespace

krt::result<regex_ptr, std::string> compile_regex(std::string_view pattern) {
  auto t = translate_re2(pattern);
  if (!t.error.empty()) {
    return krt::unexpected(std::string("invalid regular expression '") + std::string(pattern) + "': " + t.error);
  }
  auto flags = regex_base_flags;
  if (t.icase) flags |= std::regex::icase;
  try {
    auto out = std::make_shared<compiled_regex>();
    out->re = std::regex(t.text, flags);
    return regex_ptr(std::move(out));
  } catch (const std::regex_error& e) {
    return krt::unexpected(std::string("invalid regular expression '") + std::string(pattern) + "': " + e.what());
  }
}

bool regex_search(const compiled_regex& re, std::string_view text) {
  return std::regex_search(text.begin(), text.end(), re.re);
}

// ------------------------------------------------------------------ UTF-8

namespace {

// Length of the UTF-8 sequence starting at s[i] (1 for an invalid byte).
std::size_t utf8_seq_len(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 1;
  }
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i += utf8_seq_len(s, i)) ++n;
  return n;
}

// Go's strconv.FormatFloat(d, 'g', -1, 64), which cel-go's string(double) uses.
std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  auto epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::stoi(sci.substr(epos + 1));
  bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    int ae = exp < 0 ? -exp : exp;
    if (ae < 10) out += '0';
    out += std::to_string(ae);
    return out;
  }
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-exp - 1), '0');
    out += digits;
  } else if (static_cast<std::size_t>(exp) + 1 >= digits.size()) {
    out += digits;
    out.append(static_cast<std::size_t>(exp) + 1 - digits.size(), '0');
  } else {
    out += digits.substr(0, static_cast<std::size_t>(exp) + 1);
    out += '.';
    out += digits.substr(static_cast<std::size_t>(exp) + 1);
  }
  return out;
}

// ------------------------------------------------------------------ values

namespace impl {

struct null_t {};
struct value;
using list_t = std::vector<value>;
using map_t = std::vector<std::pair<value, value>>;
using list_ptr = std::shared_ptr<const list_t>;
using map_ptr = std::shared_ptr<const map_t>;

// JSON-backed strings, arrays and objects are referenced, not copied: the
// bound documents outlive the evaluation.
using repr = std::variant<null_t, bool, std::int64_t, double, std::string, std::string_view, list_ptr, map_ptr,
                          const bj::array*, const bj::object*>;

struct value {
  repr v;
};

enum class kind { null, boolean, integer, dbl, string, list, map };

struct eval_error {
  std::string message;
};
using eval_result = krt::result<value, eval_error>;

enum class fn {
  size,
  starts_with,
  ends_with,
  contains,
  matches,
  lower_ascii,
  upper_ascii,
  trim,
  split,
  join,
  index_of,
  to_int,
  to_double,
  to_string,
  dyn,
};
enum class binop { eq, ne, lt, le, gt, ge, in, add, sub, mul, div, mod };
enum class macro { all, exists, exists_one, map, filter };

}  // namespace impl

enum class node_kind {
  literal,
  ident,
  select,
  has,
  index,
  call,
  list,
  map,
  logical_not,
  negate,
  binary,
  logical_and,
  logical_or,
  conditional,
  comprehension,
};

struct expr {
  node_kind kind = node_kind::literal;
  std::size_t pos = 0;
  impl::value literal;
  std::string name;  // identifier, selected field (unescaped), function name or iteration variable
  impl::fn function = impl::fn::dyn;
  impl::binop op = impl::binop::eq;
  impl::macro mac = impl::macro::all;
  std::vector<std::unique_ptr<expr>> args;  // operands; a method's receiver first
  regex_ptr regex;                          // matches() with a literal pattern, compiled once
};

namespace impl {
namespace {

value make_null() { return value{repr(std::in_place_type<null_t>)}; }
value make_bool(bool b) { return value{repr(std::in_place_type<bool>, b)}; }
value make_int(std::int64_t i) { return value{repr(std::in_place_type<std::int64_t>, i)}; }
value make_double(double d) { return value{repr(std::in_place_type<double>, d)}; }
value make_string(std::string s) { return value{repr(std::in_place_type<std::string>, std::move(s))}; }
value make_list(list_t l) {
  return value{repr(std::in_place_type<list_ptr>, std::make_shared<const list_t>(std::move(l)))};
}
value make_map(map_t m) {
  return value{repr(std::in_place_type<map_ptr>, std::make_shared<const map_t>(std::move(m)))};
}

value from_json(const bj::value& j) {
  switch (j.kind()) {
    case bj::kind::null:
      return make_null();
    case bj::kind::bool_:
      return make_bool(j.get_bool());
    case bj::kind::int64:
      return make_int(j.get_int64());
    case bj::kind::uint64: {
      auto u = j.get_uint64();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return make_int(static_cast<std::int64_t>(u));
      }
      return make_double(static_cast<double>(u));
    }
    case bj::kind::double_:
      return make_double(j.get_double());
    case bj::kind::string:
      return value{repr(std::in_place_type<std::string_view>, std::string_view(j.get_string()))};
    case bj::kind::array:
      return value{repr(std::in_place_type<const bj::array*>, &j.get_array())};
    case bj::kind::object:
      return value{repr(std::in_place_type<const bj::object*>, &j.get_object())};
  }
  return make_null();
}

kind kind_of(const value& v) {
  switch (v.v.index()) {
    case 0:
      return kind::null;
    case 1:
      return kind::boolean;
    case 2:
      return kind::integer;
    case 3:
      return kind::dbl;
    case 4:
    case 5:
      return kind::string;
    case 6:
    case 8:
      return kind::list;
    default:
      return kind::map;
  }
}

const char* type_name(kind k) {
  switch (k) {
    case kind::null:
      return "null_type";
    case kind::boolean:
      return "bool";
    case kind::integer:
      return "int";
    case kind::dbl:
      return "double";
    case kind::string:
      return "string";
    case kind::list:
      return "list";
    case kind::map:
      return "map";
  }
  return "dyn";
}

const char* type_name(const value& v) { return type_name(kind_of(v)); }

std::string_view as_string(const value& v) {
  if (auto* s = std::get_if<std::string>(&v.v)) return *s;
  return std::get<std::string_view>(v.v);
}
bool as_bool(const value& v) { return std::get<bool>(v.v); }
std::int64_t as_int(const value& v) { return std::get<std::int64_t>(v.v); }
double as_double(const value& v) { return std::get<double>(v.v); }

std::size_t list_size(const value& v) {
  if (auto* l = std::get_if<list_ptr>(&v.v)) return (*l)->size();
  return std::get<const bj::array*>(v.v)->size();
}
value list_at(const value& v, std::size_t i) {
  if (auto* l = std::get_if<list_ptr>(&v.v)) return (**l)[i];
  return from_json((*std::get<const bj::array*>(v.v))[i]);
}
std::size_t map_size(const value& v) {
  if (auto* m = std::get_if<map_ptr>(&v.v)) return (*m)->size();
  return std::get<const bj::object*>(v.v)->size();
}
std::vector<value> map_keys(const value& v) {
  std::vector<value> out;
  if (auto* m = std::get_if<map_ptr>(&v.v)) {
    for (const auto& [k, _] : **m) out.push_back(k);
  } else {
    for (const auto& kv : *std::get<const bj::object*>(v.v)) {
      out.push_back(value{repr(std::in_place_type<std::string_view>, std::string_view(kv.key()))});
    }
  }
  return out;
}

bool equals(const value& a, const value& b);

std::optional<value> map_find(const value& m, const value& key) {
  if (auto* lit = std::get_if<map_ptr>(&m.v)) {
    for (const auto& [k, v] : **lit) {
      if (equals(k, key)) return v;
    }
    return std::nullopt;
  }
  if (kind_of(key) != kind::string) return std::nullopt;
  const auto* obj = std::get<const bj::object*>(m.v);
  auto it = obj->find(as_string(key));
  if (it == obj->end()) return std::nullopt;
  return from_json(it->value());
}

// Exact comparison of an int with a double (long double holds every int64).
int compare_int_double(std::int64_t i, double d) {
  long double li = static_cast<long double>(i);
  long double ld = static_cast<long double>(d);
  return li < ld ? -1 : li > ld ? 1 : 0;
}

bool equals(const value& a, const value& b) {
  kind ka = kind_of(a);
  kind kb = kind_of(b);
  if (ka == kind::integer && kb == kind::dbl)
    return !std::isnan(as_double(b)) && compare_int_double(as_int(a), as_double(b)) == 0;
  if (ka == kind::dbl && kb == kind::integer) return equals(b, a);
  if (ka != kb) return false;
  switch (ka) {
    case kind::null:
      return true;
    case kind::boolean:
      return as_bool(a) == as_bool(b);
    case kind::integer:
      return as_int(a) == as_int(b);
    case kind::dbl:
      return as_double(a) == as_double(b);
    case kind::string:
      return as_string(a) == as_string(b);
    case kind::list: {
      std::size_t n = list_size(a);
      if (n != list_size(b)) return false;
      for (std::size_t i = 0; i < n; ++i) {
        if (!equals(list_at(a, i), list_at(b, i))) return false;
      }
      return true;
    }
    case kind::map: {
      if (map_size(a) != map_size(b)) return false;
      for (const auto& k : map_keys(a)) {
        auto va = map_find(a, k);
        auto vb = map_find(b, k);
        if (!vb || !equals(*va, *vb)) return false;
      }
      return true;
    }
  }
  return false;
}

// <0, 0, >0; nullopt when the pair is not ordered (no overload, or NaN).
std::optional<int> compare(const value& a, const value& b) {
  kind ka = kind_of(a);
  kind kb = kind_of(b);
  auto sign = [](auto x, auto y) { return x < y ? -1 : x > y ? 1 : 0; };
  if (ka == kind::integer && kb == kind::integer) return sign(as_int(a), as_int(b));
  if (ka == kind::integer && kb == kind::dbl) {
    if (std::isnan(as_double(b))) return std::nullopt;
    return compare_int_double(as_int(a), as_double(b));
  }
  if (ka == kind::dbl && kb == kind::integer) {
    if (std::isnan(as_double(a))) return std::nullopt;
    return -compare_int_double(as_int(b), as_double(a));
  }
  if (ka == kind::dbl && kb == kind::dbl) {
    if (std::isnan(as_double(a)) || std::isnan(as_double(b))) return std::nullopt;
    return sign(as_double(a), as_double(b));
  }
  if (ka == kind::string && kb == kind::string) {
    int c = as_string(a).compare(as_string(b));
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (ka == kind::boolean && kb == kind::boolean) return sign(as_bool(a), as_bool(b));
  return std::nullopt;
}

eval_result fail(std::string message) { return krt::unexpected(eval_error{std::move(message)}); }

eval_result no_overload(std::string_view op, std::initializer_list<const value*> args) {
  std::string m = "no such overload: ";
  m += op;
  m += '(';
  bool first = true;
  for (const auto* a : args) {
    if (!first) m += ", ";
    first = false;
    m += type_name(*a);
  }
  m += ')';
  return fail(std::move(m));
}

krt::result<bj::value, std::string> to_json(const value& v) {
  switch (kind_of(v)) {
    case kind::null:
      return bj::value(nullptr);
    case kind::boolean:
      return bj::value(as_bool(v));
    case kind::integer:
      return bj::value(as_int(v));
    case kind::dbl:
      return bj::value(as_double(v));
    case kind::string:
      return bj::value(bj::string(as_string(v)));
    case kind::list: {
      if (auto* a = std::get_if<const bj::array*>(&v.v)) return bj::value(**a);
      bj::array out;
      for (const auto& e : *std::get<list_ptr>(v.v)) {
        auto j = to_json(e);
        if (!j) return j;
        out.push_back(std::move(*j));
      }
      return bj::value(std::move(out));
    }
    case kind::map: {
      if (auto* o = std::get_if<const bj::object*>(&v.v)) return bj::value(**o);
      bj::object out;
      for (const auto& [k, e] : *std::get<map_ptr>(v.v)) {
        if (kind_of(k) != kind::string) {
          return krt::unexpected(std::string("map key of type ") + type_name(k) + " has no JSON form");
        }
        auto j = to_json(e);
        if (!j) return j;
        out[as_string(k)] = std::move(*j);
      }
      return bj::value(std::move(out));
    }
  }
  return bj::value(nullptr);
}

// ------------------------------------------------------------------ lexer

constexpr std::string_view reserved_words[] = {"as",        "break",  "const",  "continue", "else", "for",
                                               "function",  "if",     "import", "let",      "loop", "package",
                                               "namespace", "return", "var",    "void",     "while"};

// Kubernetes escapes property names that are not CEL identifiers.
constexpr std::string_view escapable_keywords[] = {
    "true", "false",  "null", "in",   "as",      "break",     "const",  "continue", "else", "for",  "function",
    "if",   "import", "let",  "loop", "package", "namespace", "return", "var",      "void", "while"};

std::string unescape_field(std::string_view f) {
  if (f.size() > 4 && f.substr(0, 2) == "__" && f.substr(f.size() - 2) == "__") {
    auto inner = f.substr(2, f.size() - 4);
    for (auto kw : escapable_keywords) {
      if (inner == kw) return std::string(kw);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < f.size();) {
    if (f.substr(i, 2) == "__") {
      auto rest = f.substr(i);
      if (rest.substr(0, 15) == "__underscores__") {
        out += "__";
        i += 15;
        continue;
      }
      if (rest.substr(0, 7) == "__dot__") {
        out += '.';
        i += 7;
        continue;
      }
      if (rest.substr(0, 8) == "__dash__") {
        out += '-';
        i += 8;
        continue;
      }
      if (rest.substr(0, 9) == "__slash__") {
        out += '/';
        i += 9;
        continue;
      }
    }
    out += f[i++];
  }
  return out;
}

enum class tok { end, ident, int_lit, double_lit, string_lit, punct };

struct token {
  tok kind = tok::end;
  std::size_t pos = 0;
  std::string text;  // identifier, punctuation, or the decoded string literal
  std::int64_t int_value = 0;
  double double_value = 0;
  bool int_overflow = false;  // 9223372036854775808, valid only after unary minus
};

struct compile_failure {
  std::string message;
};

class parser {
 public:
  parser(std::string_view src, std::span<const std::string_view> variables) : src_(src), declared_(variables) {}

  std::unique_ptr<expr> parse_all() {
    advance();
    auto e = parse_expr();
    if (cur_.kind != tok::end) syntax_error(cur_.pos, "unexpected " + describe(cur_) + " after the expression");
    if (height(*e) > static_cast<std::size_t>(max_depth)) {
      unsupported(0, "the expression nests too deeply (more than 250 levels of operators)");
    }
    return e;
  }

  std::vector<std::string> referenced() const { return referenced_; }

  static std::size_t height(const expr& e) {
    std::size_t h = 0;
    for (const auto& a : e.args) h = std::max(h, height(*a));
    return h + 1;
  }

 private:
  // Parsing and evaluation recurse along the tree; these bounds keep both well
  // inside any thread's stack (cel-go's default recursion limit is also 250).
  static constexpr int max_depth = 250;
  static constexpr std::size_t max_nodes = 5000;

  [[noreturn]] void syntax_error(std::size_t pos, const std::string& what) const {
    throw compile_failure{"syntax error at " + where(pos) + ": " + what};
  }
  [[noreturn]] void unsupported(std::size_t pos, const std::string& what) const {
    throw compile_failure{"unsupported CEL expression at " + where(pos) + ": " + what};
  }
  [[noreturn]] void unsupported_function(std::size_t pos, std::string_view name) const {
    std::string list;
    for (auto f : supported_functions()) {
      if (!list.empty()) list += ", ";
      list += f;
    }
    throw compile_failure{"unsupported CEL expression: function \"" + std::string(name) + "\" at " + where(pos) +
                          " is not in the supported subset (" + list + ")"};
  }

  std::string where(std::size_t pos) const {
    std::size_t line = 1;
    std::size_t col = 1;
    for (std::size_t i = 0; i < pos && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return std::to_string(line) + ":" + std::to_string(col);
  }

  static std::string describe(const token& t) {
    switch (t.kind) {
      case tok::end:
        return "end of expression";
      case tok::ident:
        return "identifier '" + t.text + "'";
      case tok::int_lit:
      case tok::double_lit:
        return "number";
      case tok::string_lit:
        return "string literal";
      case tok::punct:
        return "'" + t.text + "'";
    }
    return "token";
  }

  // ---- lexing

  char peek(std::size_t k = 0) const { return i_ + k < src_.size() ? src_[i_ + k] : '\0'; }

  void skip_space() {
    while (i_ < src_.size()) {
      char c = src_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++i_;
      } else if (c == '/' && peek(1) == '/') {
        while (i_ < src_.size() && src_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  void advance() {
    skip_space();
    cur_ = token{};
    cur_.pos = i_;
    if (i_ >= src_.size()) return;
    char c = src_[i_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      if ((c == 'r' || c == 'R') && (peek(1) == '\'' || peek(1) == '"')) {
        ++i_;
        lex_string(true);
        return;
      }
      if ((c == 'b' || c == 'B') && (peek(1) == '\'' || peek(1) == '"' ||
                                     ((peek(1) == 'r' || peek(1) == 'R') && (peek(2) == '\'' || peek(2) == '"')))) {
        unsupported(i_, "bytes literals are not supported");
      }
      std::size_t start = i_;
      while (i_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[i_])) || src_[i_] == '_')) ++i_;
      cur_.kind = tok::ident;
      cur_.text = std::string(src_.substr(start, i_ - start));
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(peek(1))))) {
      lex_number();
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string(false);
      return;
    }
    static constexpr std::string_view two[] = {"==", "!=", "<=", ">=", "&&", "||"};
    for (auto op : two) {
      if (src_.substr(i_, 2) == op) {
        cur_.kind = tok::punct;
        cur_.text = std::string(op);
        i_ += 2;
        return;
      }
    }
    if (src_.substr(i_, 2) == "?." || src_.substr(i_, 2) == ".?") {
      unsupported(i_, "optional field selection ('" + std::string(src_.substr(i_, 2)) + "') is not supported");
    }
    if (std::string_view("<>!+-*/%?:()[]{}.,").find(c) != std::string_view::npos) {
      cur_.kind = tok::punct;
      cur_.text = std::string(1, c);
      ++i_;
      return;
    }
    if (c == '=') syntax_error(i_, "unexpected '=' (comparison is '==')");
    if (c == '&' || c == '|')
      syntax_error(i_, std::string("unexpected '") + c + "' (logical operators are '&&' and '||')");
    syntax_error(i_, std::string("unexpected character '") + c + "'");
  }

  void lex_number() {
    std::size_t start = i_;
    cur_.pos = start;
    if (src_[i_] == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      i_ += 2;
      std::size_t ds = i_;
      while (i_ < src_.size() && std::isxdigit(static_cast<unsigned char>(src_[i_]))) ++i_;
      if (ds == i_) syntax_error(start, "malformed hexadecimal literal");
      std::uint64_t u = 0;
      auto r = std::from_chars(src_.data() + ds, src_.data() + i_, u, 16);
      if (r.ec != std::errc()) syntax_error(start, "integer literal out of range");
      finish_int(start, u);
      return;
    }
    bool is_double = false;
    while (i_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[i_]))) ++i_;
    if (peek() == '.' && std::isdigit(static_cast<unsigned char>(peek(1)))) {
      is_double = true;
      ++i_;
      while (i_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[i_]))) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      std::size_t save = i_;
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (std::isdigit(static_cast<unsigned char>(peek()))) {
        is_double = true;
        while (i_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[i_]))) ++i_;
      } else {
        i_ = save;
      }
    }
    auto text = src_.substr(start, i_ - start);
    if (is_double) {
      double d = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), d);
      if (r.ec != std::errc() && r.ec != std::errc::result_out_of_range) syntax_error(start, "malformed number");
      cur_.kind = tok::double_lit;
      cur_.double_value = d;
      return;
    }
    std::uint64_t u = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), u, 10);
    if (r.ec != std::errc()) syntax_error(start, "integer literal out of range");
    finish_int(start, u);
  }

  void finish_int(std::size_t start, std::uint64_t u) {
    if (peek() == 'u' || peek() == 'U') unsupported(start, "unsigned integer literals are not supported");
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (u > max + 1) syntax_error(start, "integer literal out of range");
    cur_.kind = tok::int_lit;
    if (u == max + 1) {
      cur_.int_overflow = true;
      cur_.int_value = std::numeric_limits<std::int64_t>::min();
    } else {
      cur_.int_value = static_cast<std::int64_t>(u);
    }
  }

  void lex_string(bool raw) {
    std::size_t start = cur_.pos;
    char q = src_[i_];
    bool triple = peek(1) == q && peek(2) == q;
    i_ += triple ? 3 : 1;
    std::string out;
    for (;;) {
      if (i_ >= src_.size()) syntax_error(start, "unterminated string literal");
      char c = src_[i_];
      if (c == q && (!triple || (peek(1) == q && peek(2) == q))) {
        i_ += triple ? 3 : 1;
        break;
      }
      if (!triple && (c == '\n' || c == '\r')) syntax_error(start, "newline in string literal");
      if (c == '\\' && !raw) {
        lex_escape(out);
        continue;
      }
      out += c;
      ++i_;
    }
    cur_.kind = tok::string_lit;
    cur_.text = std::move(out);
  }

  void lex_escape(std::string& out) {
    std::size_t at = i_;
    ++i_;
    if (i_ >= src_.size()) syntax_error(at, "unterminated escape sequence");
    char e = src_[i_++];
    auto hex = [&](int n) {
      std::uint32_t cp = 0;
      for (int k = 0; k < n; ++k) {
        if (i_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[i_]))) {
          syntax_error(at, "malformed escape sequence");
        }
        char h = src_[i_++];
        cp = cp * 16 + static_cast<std::uint32_t>(
                           std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      return cp;
    };
    static constexpr std::pair<char, char> simple[] = {{'a', '\a'},  {'b', '\b'}, {'f', '\f'}, {'n', '\n'},
                                                       {'r', '\r'},  {'t', '\t'}, {'v', '\v'}, {'\\', '\\'},
                                                       {'\'', '\''}, {'"', '"'},  {'`', '`'},  {'?', '?'}};
    for (auto [from, to] : simple) {
      if (e == from) {
        out += to;
        return;
      }
    }
    if (e == 'x' || e == 'X') return append_utf8(out, hex(2));
    if (e == 'u') return append_utf8(out, checked_cp(at, hex(4)));
    if (e == 'U') return append_utf8(out, checked_cp(at, hex(8)));
    if (e >= '0' && e <= '3' && peek() >= '0' && peek() <= '7' && peek(1) >= '0' && peek(1) <= '7') {
      std::uint32_t cp = static_cast<std::uint32_t>((e - '0') * 64 + (src_[i_] - '0') * 8 + (src_[i_ + 1] - '0'));
      i_ += 2;
      append_utf8(out, cp);
      return;
    }
    syntax_error(at, std::string("invalid escape sequence '\\") + e + "'");
  }

  std::uint32_t checked_cp(std::size_t at, std::uint32_t cp) const {
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) syntax_error(at, "invalid Unicode code point in escape");
    return cp;
  }

  // ---- parsing

  bool is_punct(std::string_view p) const { return cur_.kind == tok::punct && cur_.text == p; }
  bool accept(std::string_view p) {
    if (!is_punct(p)) return false;
    advance();
    return true;
  }
  void expect(std::string_view p) {
    if (!accept(p)) syntax_error(cur_.pos, "expected '" + std::string(p) + "' but found " + describe(cur_));
  }

  struct depth_guard {
    explicit depth_guard(parser& p) : p_(p) {
      if (++p_.depth_ > max_depth) p_.unsupported(p_.cur_.pos, "the expression nests too deeply");
    }
    ~depth_guard() { --p_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;
    parser& p_;
  };

  std::unique_ptr<expr> node(node_kind k, std::size_t pos) {
    if (++nodes_ > max_nodes) unsupported(pos, "the expression is too large (more than 5000 terms)");
    auto e = std::make_unique<expr>();
    e->kind = k;
    e->pos = pos;
    return e;
  }

  std::unique_ptr<expr> parse_expr() {
    depth_guard g(*this);
    auto c = parse_or();
    if (is_punct("?")) {
      auto e = node(node_kind::conditional, cur_.pos);
      advance();
      auto t = parse_or();
      expect(":");
      auto f = parse_expr();
      e->args.push_back(std::move(c));
      e->args.push_back(std::move(t));
      e->args.push_back(std::move(f));
      return e;
    }
    return c;
  }

  std::unique_ptr<expr> parse_or() {
    auto l = parse_and();
    while (is_punct("||")) {
      auto e = node(node_kind::logical_or, cur_.pos);
      advance();
      e->args.push_back(std::move(l));
      e->args.push_back(parse_and());
      l = std::move(e);
    }
    return l;
  }

  std::unique_ptr<expr> parse_and() {
    auto l = parse_relation();
    while (is_punct("&&")) {
      auto e = node(node_kind::logical_and, cur_.pos);
      advance();
      e->args.push_back(std::move(l));
      e->args.push_back(parse_relation());
      l = std::move(e);
    }
    return l;
  }

  std::optional<binop> relation_op() const {
    if (cur_.kind == tok::ident && cur_.text == "in") return binop::in;
    if (cur_.kind != tok::punct) return std::nullopt;
    if (cur_.text == "==") return binop::eq;
    if (cur_.text == "!=") return binop::ne;
    if (cur_.text == "<") return binop::lt;
    if (cur_.text == "<=") return binop::le;
    if (cur_.text == ">") return binop::gt;
    if (cur_.text == ">=") return binop::ge;
    return std::nullopt;
  }

  std::unique_ptr<expr> binary(binop op, std::size_t pos, std::unique_ptr<expr> l, std::unique_ptr<expr> r) {
    auto e = node(node_kind::binary, pos);
    e->op = op;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  std::unique_ptr<expr> parse_relation() {
    auto l = parse_add();
    while (auto op = relation_op()) {
      std::size_t pos = cur_.pos;
      advance();
      l = binary(*op, pos, std::move(l), parse_add());
    }
    return l;
  }

  std::unique_ptr<expr> parse_add() {
    auto l = parse_mul();
    while (is_punct("+") || is_punct("-")) {
      binop op = cur_.text == "+" ? binop::add : binop::sub;
      std::size_t pos = cur_.pos;
      advance();
      l = binary(op, pos, std::move(l), parse_mul());
    }
    return l;
  }

  std::unique_ptr<expr> parse_mul() {
    auto l = parse_unary();
    while (is_punct("*") || is_punct("/") || is_punct("%")) {
      binop op = cur_.text == "*" ? binop::mul : cur_.text == "/" ? binop::div : binop::mod;
      std::size_t pos = cur_.pos;
      advance();
      l = binary(op, pos, std::move(l), parse_unary());
    }
    return l;
  }

  std::unique_ptr<expr> parse_unary() {
    depth_guard g(*this);
    if (is_punct("!")) {
      auto e = node(node_kind::logical_not, cur_.pos);
      advance();
      e->args.push_back(parse_unary());
      return e;
    }
    if (is_punct("-")) {
      std::size_t pos = cur_.pos;
      advance();
      if (cur_.kind == tok::int_lit && cur_.int_overflow) return literal(pos, make_int(cur_.int_value));
      auto operand = parse_unary();
      // Fold negative literals: -1 is an int literal, not a negation.
      if (operand->kind == node_kind::literal) {
        if (auto* i = std::get_if<std::int64_t>(&operand->literal.v);
            i != nullptr && *i != std::numeric_limits<std::int64_t>::min()) {
          *i = -*i;
          operand->pos = pos;
          return operand;
        }
        if (auto* d = std::get_if<double>(&operand->literal.v)) {
          *d = -*d;
          operand->pos = pos;
          return operand;
        }
      }
      auto e = node(node_kind::negate, pos);
      e->args.push_back(std::move(operand));
      return e;
    }
    return parse_member();
  }

  std::unique_ptr<expr> parse_member() {
    auto e = parse_primary();
    for (;;) {
      if (is_punct(".")) {
        advance();
        if (cur_.kind != tok::ident)
          syntax_error(cur_.pos, "expected a field or method name after '.' but found " + describe(cur_));
        std::string name = cur_.text;
        std::size_t pos = cur_.pos;
        advance();
        if (is_punct("(")) {
          e = parse_method(std::move(e), name, pos);
        } else {
          auto s = node(node_kind::select, pos);
          s->name = unescape_field(name);
          s->args.push_back(std::move(e));
          e = std::move(s);
        }
      } else if (is_punct("[")) {
        auto ix = node(node_kind::index, cur_.pos);
        advance();
        ix->args.push_back(std::move(e));
        ix->args.push_back(parse_expr());
        expect("]");
        e = std::move(ix);
      } else {
        return e;
      }
    }
  }

  std::vector<std::unique_ptr<expr>> parse_args() {
    std::vector<std::unique_ptr<expr>> args;
    expect("(");
    if (accept(")")) return args;
    for (;;) {
      args.push_back(parse_expr());
      if (accept(")")) return args;
      expect(",");
    }
  }

  void check_arity(std::size_t pos, std::string_view name, std::size_t got, std::size_t lo, std::size_t hi) const {
    if (got >= lo && got <= hi) return;
    std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " or " + std::to_string(hi);
    unsupported(pos, "function \"" + std::string(name) + "\" takes " + want + " argument" + (hi == 1 ? "" : "s") +
                         ", not " + std::to_string(got));
  }

  std::unique_ptr<expr> parse_method(std::unique_ptr<expr> target, const std::string& name, std::size_t pos) {
    static const std::pair<std::string_view, macro> macros[] = {{"all", macro::all},
                                                                {"exists", macro::exists},
                                                                {"exists_one", macro::exists_one},
                                                                {"existsOne", macro::exists_one},
                                                                {"map", macro::map},
                                                                {"filter", macro::filter}};
    for (const auto& [mname, mac] : macros) {
      if (name == mname) return parse_macro(std::move(target), name, mac, pos);
    }
    struct method_spec {
      std::string_view name;
      fn f;
      std::size_t lo, hi;
    };
    static constexpr method_spec methods[] = {
        {"size", fn::size, 0, 0},
        {"startsWith", fn::starts_with, 1, 1},
        {"endsWith", fn::ends_with, 1, 1},
        {"contains", fn::contains, 1, 1},
        {"matches", fn::matches, 1, 1},
        {"lowerAscii", fn::lower_ascii, 0, 0},
        {"upperAscii", fn::upper_ascii, 0, 0},
        {"trim", fn::trim, 0, 0},
        {"split", fn::split, 1, 2},
        {"join", fn::join, 0, 1},
        {"indexOf", fn::index_of, 1, 1},
    };
    for (const auto& m : methods) {
      if (name != m.name) continue;
      auto args = parse_args();
      check_arity(pos, name, args.size(), m.lo, m.hi);
      auto e = node(node_kind::call, pos);
      e->function = m.f;
      e->name = name;
      e->args.push_back(std::move(target));
      for (auto& a : args) e->args.push_back(std::move(a));
      precompile_regex(*e);
      return e;
    }
    unsupported_function(pos, name);
  }

  std::unique_ptr<expr> parse_macro(std::unique_ptr<expr> target, const std::string& name, macro mac, std::size_t pos) {
    expect("(");
    if (cur_.kind != tok::ident || is_keyword(cur_.text)) {
      syntax_error(cur_.pos, "the first argument of " + name + "() must be an iteration variable name");
    }
    auto e = node(node_kind::comprehension, pos);
    e->mac = mac;
    e->name = cur_.text;
    advance();
    expect(",");
    e->args.push_back(std::move(target));
    scope_.push_back(e->name);
    e->args.push_back(parse_expr());
    if (mac == macro::map && accept(",")) e->args.push_back(parse_expr());
    scope_.pop_back();
    expect(")");
    return e;
  }

  static bool is_keyword(std::string_view s) {
    if (s == "true" || s == "false" || s == "null" || s == "in") return true;
    return std::find(std::begin(reserved_words), std::end(reserved_words), s) != std::end(reserved_words);
  }

  void precompile_regex(expr& e) {
    if (e.function != fn::matches) return;
    const expr& pattern = *e.args.back();
    if (pattern.kind != node_kind::literal) return;
    const auto* s = std::get_if<std::string>(&pattern.literal.v);
    if (s == nullptr) return;
    auto re = compile_regex(*s);
    if (!re) throw compile_failure{"invalid argument to matches() at " + where(pattern.pos) + ": " + re.error()};
    e.regex = *re;
  }

  std::unique_ptr<expr> parse_global_call(const std::string& name, std::size_t pos) {
    if (name == "has") {
      auto args = parse_args();
      if (args.size() != 1 || args[0]->kind != node_kind::select) {
        syntax_error(pos, "invalid argument to has() macro: it takes one field selection such as has(self.field)");
      }
      auto e = node(node_kind::has, pos);
      e->name = args[0]->name;
      e->args.push_back(std::move(args[0]->args[0]));
      return e;
    }
    struct global_spec {
      std::string_view name;
      fn f;
      std::size_t arity;
    };
    static constexpr global_spec globals[] = {{"size", fn::size, 1},        {"matches", fn::matches, 2},
                                              {"int", fn::to_int, 1},       {"double", fn::to_double, 1},
                                              {"string", fn::to_string, 1}, {"dyn", fn::dyn, 1}};
    for (const auto& g : globals) {
      if (name != g.name) continue;
      auto args = parse_args();
      check_arity(pos, name, args.size(), g.arity, g.arity);
      auto e = node(node_kind::call, pos);
      e->function = g.f;
      e->name = name;
      e->args = std::move(args);
      precompile_regex(*e);
      return e;
    }
    unsupported_function(pos, name);
  }

  std::unique_ptr<expr> literal(std::size_t pos, value v) {
    auto e = node(node_kind::literal, pos);
    e->literal = std::move(v);
    advance();
    return e;
  }

  std::unique_ptr<expr> parse_primary() {
    depth_guard g(*this);
    std::size_t pos = cur_.pos;
    switch (cur_.kind) {
      case tok::end:
        syntax_error(pos, "unexpected end of expression");
      case tok::int_lit:
        if (cur_.int_overflow) syntax_error(pos, "integer literal out of range");
        return literal(pos, make_int(cur_.int_value));
      case tok::double_lit:
        return literal(pos, make_double(cur_.double_value));
      case tok::string_lit:
        return literal(pos, make_string(cur_.text));
      case tok::ident:
        return parse_ident();
      case tok::punct:
        break;
    }
    if (accept("(")) {
      auto e = parse_expr();
      expect(")");
      return e;
    }
    if (is_punct("[")) {
      auto e = node(node_kind::list, pos);
      advance();
      while (!is_punct("]")) {
        e->args.push_back(parse_expr());
        if (!accept(",")) break;
      }
      expect("]");
      return e;
    }
    if (is_punct("{")) {
      auto e = node(node_kind::map, pos);
      advance();
      while (!is_punct("}")) {
        e->args.push_back(parse_expr());
        expect(":");
        e->args.push_back(parse_expr());
        if (!accept(",")) break;
      }
      expect("}");
      return e;
    }
    if (is_punct(".")) unsupported(pos, "leading '.' (qualified identifiers) is not supported");
    syntax_error(pos, "unexpected " + describe(cur_));
  }

  std::unique_ptr<expr> parse_ident() {
    std::size_t pos = cur_.pos;
    std::string name = cur_.text;
    if (name == "true" || name == "false") return literal(pos, make_bool(name == "true"));
    if (name == "null") return literal(pos, make_null());
    if (is_keyword(name)) syntax_error(pos, "reserved identifier '" + name + "'");
    advance();
    if (is_punct("(")) return parse_global_call(name, pos);
    if (is_punct("{")) unsupported(pos, "message construction (" + name + "{...}) is not supported");
    bool local = std::find(scope_.begin(), scope_.end(), name) != scope_.end();
    if (!local) {
      if (std::find(declared_.begin(), declared_.end(), name) == declared_.end()) {
        throw compile_failure{"undeclared reference to '" + name + "' at " + where(pos)};
      }
      if (std::find(referenced_.begin(), referenced_.end(), name) == referenced_.end()) referenced_.push_back(name);
    }
    auto e = node(node_kind::ident, pos);
    e->name = std::move(name);
    return e;
  }

  std::string_view src_;
  std::span<const std::string_view> declared_;
  std::size_t i_ = 0;
  token cur_;
  int depth_ = 0;
  std::size_t nodes_ = 0;
  std::vector<std::string> scope_;  // iteration variables of the enclosing macros
  std::vector<std::string> referenced_;
};

// ------------------------------------------------------------------ evaluation

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view trim_space(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Go's strings.SplitN (n < 0: no limit).
list_t split_string(std::string_view s, std::string_view sep, std::int64_t n) {
  list_t out;
  if (n == 0) return out;
  if (sep.empty()) {
    for (std::size_t i = 0; i < s.size();) {
      if (n > 0 && static_cast<std::int64_t>(out.size()) == n - 1) {
        out.push_back(make_string(std::string(s.substr(i))));
        return out;
      }
      std::size_t len = utf8_seq_len(s, i);
      out.push_back(make_string(std::string(s.substr(i, len))));
      i += len;
    }
    return out;
  }
  std::size_t start = 0;
  for (;;) {
    if (n > 0 && static_cast<std::int64_t>(out.size()) == n - 1) break;
    auto at = s.find(sep, start);
    if (at == std::string_view::npos) break;
    out.push_back(make_string(std::string(s.substr(start, at - start))));
    start = at + sep.size();
  }
  out.push_back(make_string(std::string(s.substr(start))));
  return out;
}

class evaluator {
 public:
  explicit evaluator(std::span<const binding> bindings) {
    for (const auto& b : bindings) {
      if (b.value != nullptr) scope_.emplace_back(b.name, from_json(*b.value));
    }
  }

  eval_result eval(const expr& e) {
    switch (e.kind) {
      case node_kind::literal:
        return e.literal;
      case node_kind::ident:
        for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
          if (it->first == e.name) return it->second;
        }
        return fail("no such attribute: " + e.name);
      case node_kind::select:
        return eval_select(e);
      case node_kind::has:
        return eval_has(e);
      case node_kind::index:
        return eval_index(e);
      case node_kind::call:
        return eval_call(e);
      case node_kind::list: {
        list_t out;
        for (const auto& a : e.args) {
          auto v = eval(*a);
          if (!v) return v;
          out.push_back(std::move(*v));
        }
        return make_list(std::move(out));
      }
      case node_kind::map:
        return eval_map(e);
      case node_kind::logical_not: {
        auto v = eval(*e.args[0]);
        if (!v) return v;
        if (kind_of(*v) != kind::boolean) return no_overload("!_", {&*v});
        return make_bool(!as_bool(*v));
      }
      case node_kind::negate:
        return eval_negate(e);
      case node_kind::binary:
        return eval_binary(e);
      case node_kind::logical_and:
      case node_kind::logical_or:
        return eval_logical(e);
      case node_kind::conditional: {
        auto c = eval(*e.args[0]);
        if (!c) return c;
        if (kind_of(*c) != kind::boolean) return no_overload("_?_:_", {&*c});
        return eval(*e.args[as_bool(*c) ? 1 : 2]);
      }
      case node_kind::comprehension:
        return eval_comprehension(e);
    }
    return fail("internal error: unknown expression");
  }

 private:
  eval_result eval_select(const expr& e) {
    auto t = eval(*e.args[0]);
    if (!t) return t;
    if (kind_of(*t) != kind::map) return fail("no such overload: field selection ." + e.name + " on " + type_name(*t));
    auto v = map_find(*t, make_string(e.name));
    if (!v) return fail("no such key: " + e.name);
    return std::move(*v);
  }

  eval_result eval_has(const expr& e) {
    auto t = eval(*e.args[0]);
    if (!t) return t;
    if (kind_of(*t) != kind::map) return fail("no such overload: has() of field ." + e.name + " on " + type_name(*t));
    return make_bool(map_find(*t, make_string(e.name)).has_value());
  }

  eval_result eval_index(const expr& e) {
    auto t = eval(*e.args[0]);
    if (!t) return t;
    auto i = eval(*e.args[1]);
    if (!i) return i;
    if (kind_of(*t) == kind::list) {
      std::int64_t idx = 0;
      if (kind_of(*i) == kind::integer) {
        idx = as_int(*i);
      } else if (kind_of(*i) == kind::dbl && std::trunc(as_double(*i)) == as_double(*i) &&
                 std::abs(as_double(*i)) < 9.0e18) {
        idx = static_cast<std::int64_t>(as_double(*i));
      } else {
        return no_overload("_[_]", {&*t, &*i});
      }
      if (idx < 0 || static_cast<std::uint64_t>(idx) >= list_size(*t)) {
        return fail("index out of bounds: " + std::to_string(idx));
      }
      return list_at(*t, static_cast<std::size_t>(idx));
    }
    if (kind_of(*t) == kind::map) {
      auto v = map_find(*t, *i);
      if (!v) {
        if (kind_of(*i) == kind::string) return fail("no such key: " + std::string(as_string(*i)));
        auto j = to_json(*i);
        return fail("no such key: " + (j ? bj::serialize(*j) : std::string(type_name(*i))));
      }
      return std::move(*v);
    }
    return no_overload("_[_]", {&*t, &*i});
  }

  eval_result eval_map(const expr& e) {
    map_t out;
    for (std::size_t k = 0; k + 1 < e.args.size(); k += 2) {
      auto key = eval(*e.args[k]);
      if (!key) return key;
      kind kk = kind_of(*key);
      if (kk != kind::string && kk != kind::integer && kk != kind::boolean) {
        return fail(std::string("unsupported map key type: ") + type_name(kk));
      }
      auto v = eval(*e.args[k + 1]);
      if (!v) return v;
      for (const auto& [existing, _] : out) {
        if (equals(existing, *key)) return fail("Failed with repeated key");
      }
      out.emplace_back(std::move(*key), std::move(*v));
    }
    return make_map(std::move(out));
  }

  eval_result eval_negate(const expr& e) {
    auto v = eval(*e.args[0]);
    if (!v) return v;
    if (kind_of(*v) == kind::integer) {
      if (as_int(*v) == std::numeric_limits<std::int64_t>::min()) return fail("integer overflow");
      return make_int(-as_int(*v));
    }
    if (kind_of(*v) == kind::dbl) return make_double(-as_double(*v));
    return no_overload("-_", {&*v});
  }

  // CEL's commutative && and ||: a decisive operand wins over an error in the other.
  eval_result eval_logical(const expr& e) {
    bool is_and = e.kind == node_kind::logical_and;
    const char* op = is_and ? "_&&_" : "_||_";
    auto l = eval(*e.args[0]);
    if (l && kind_of(*l) == kind::boolean && as_bool(*l) != is_and) return make_bool(!is_and);
    auto r = eval(*e.args[1]);
    if (r && kind_of(*r) == kind::boolean && as_bool(*r) != is_and) return make_bool(!is_and);
    if (!l) return l;
    if (kind_of(*l) != kind::boolean) return r ? no_overload(op, {&*l, &*r}) : r;
    if (!r) return r;
    if (kind_of(*r) != kind::boolean) return no_overload(op, {&*l, &*r});
    return make_bool(is_and);
  }

  eval_result eval_binary(const expr& e) {
    auto l = eval(*e.args[0]);
    if (!l) return l;
    auto r = eval(*e.args[1]);
    if (!r) return r;
    const value& a = *l;
    const value& b = *r;
    switch (e.op) {
      case binop::eq:
        return make_bool(equals(a, b));
      case binop::ne:
        return make_bool(!equals(a, b));
      case binop::lt:
      case binop::le:
      case binop::gt:
      case binop::ge: {
        static const char* names[] = {"_<_", "_<=_", "_>_", "_>=_"};
        const char* name = names[static_cast<int>(e.op) - static_cast<int>(binop::lt)];
        auto c = compare(a, b);
        if (!c) {
          bool nan = (kind_of(a) == kind::dbl || kind_of(a) == kind::integer) &&
                     (kind_of(b) == kind::dbl || kind_of(b) == kind::integer);
          if (nan) return make_bool(false);
          return no_overload(name, {&a, &b});
        }
        switch (e.op) {
          case binop::lt:
            return make_bool(*c < 0);
          case binop::le:
            return make_bool(*c <= 0);
          case binop::gt:
            return make_bool(*c > 0);
          default:
            return make_bool(*c >= 0);
        }
      }
      case binop::in:
        if (kind_of(b) == kind::list) {
          for (std::size_t i = 0, n = list_size(b); i < n; ++i) {
            if (equals(a, list_at(b, i))) return make_bool(true);
          }
          return make_bool(false);
        }
        if (kind_of(b) == kind::map) return make_bool(map_find(b, a).has_value());
        return no_overload("@in", {&a, &b});
      case binop::add:
        return add(a, b);
      case binop::sub:
      case binop::mul:
      case binop::div:
      case binop::mod:
        return arithmetic(e.op, a, b);
    }
    return fail("internal error: unknown operator");
  }

  eval_result add(const value& a, const value& b) {
    kind ka = kind_of(a);
    kind kb = kind_of(b);
    if (ka == kind::integer && kb == kind::integer) {
      std::int64_t out = 0;
      if (__builtin_add_overflow(as_int(a), as_int(b), &out)) return fail("integer overflow");
      return make_int(out);
    }
    if (ka == kind::dbl && kb == kind::dbl) return make_double(as_double(a) + as_double(b));
    if (ka == kind::string && kb == kind::string) {
      std::string out(as_string(a));
      out += as_string(b);
      return make_string(std::move(out));
    }
    if (ka == kind::list && kb == kind::list) {
      list_t out;
      for (std::size_t i = 0, n = list_size(a); i < n; ++i) out.push_back(list_at(a, i));
      for (std::size_t i = 0, n = list_size(b); i < n; ++i) out.push_back(list_at(b, i));
      return make_list(std::move(out));
    }
    return no_overload("_+_", {&a, &b});
  }

  eval_result arithmetic(binop op, const value& a, const value& b) {
    static const char* names[] = {"_-_", "_*_", "_/_", "_%_"};
    const char* name = names[static_cast<int>(op) - static_cast<int>(binop::sub)];
    kind ka = kind_of(a);
    kind kb = kind_of(b);
    if (ka == kind::integer && kb == kind::integer) {
      std::int64_t x = as_int(a);
      std::int64_t y = as_int(b);
      std::int64_t out = 0;
      switch (op) {
        case binop::sub:
          if (__builtin_sub_overflow(x, y, &out)) return fail("integer overflow");
          return make_int(out);
        case binop::mul:
          if (__builtin_mul_overflow(x, y, &out)) return fail("integer overflow");
          return make_int(out);
        case binop::div:
          if (y == 0) return fail("division by zero");
          if (x == std::numeric_limits<std::int64_t>::min() && y == -1) return fail("integer overflow");
          return make_int(x / y);
        default:
          if (y == 0) return fail("modulus by zero");
          if (x == std::numeric_limits<std::int64_t>::min() && y == -1) return fail("integer overflow");
          return make_int(x % y);
      }
    }
    if (ka == kind::dbl && kb == kind::dbl && op != binop::mod) {
      double x = as_double(a);
      double y = as_double(b);
      switch (op) {
        case binop::sub:
          return make_double(x - y);
        case binop::mul:
          return make_double(x * y);
        default:
          return make_double(x / y);
      }
    }
    return no_overload(name, {&a, &b});
  }

  eval_result eval_call(const expr& e) {
    std::vector<value> args;
    args.reserve(e.args.size());
    for (const auto& a : e.args) {
      auto v = eval(*a);
      if (!v) return v;
      args.push_back(std::move(*v));
    }
    return call(e, args);
  }

  static bool all_strings(const std::vector<value>& args) {
    return std::all_of(args.begin(), args.end(), [](const value& v) { return kind_of(v) == kind::string; });
  }

  eval_result overload_error(const expr& e, const std::vector<value>& args) {
    std::string m = "no such overload: " + e.name + "(";
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (i != 0) m += ", ";
      m += type_name(args[i]);
    }
    m += ')';
    return fail(std::move(m));
  }

  eval_result call(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    switch (e.function) {
      case fn::size:
        return call_size(e, args);
      case fn::starts_with:
        if (!all_strings(args)) return overload_error(e, args);
        return make_bool(as_string(t).substr(0, as_string(args[1]).size()) == as_string(args[1]));
      case fn::ends_with: {
        if (!all_strings(args)) return overload_error(e, args);
        auto s = as_string(t);
        auto x = as_string(args[1]);
        return make_bool(s.size() >= x.size() && s.substr(s.size() - x.size()) == x);
      }
      case fn::contains:
        if (!all_strings(args)) return overload_error(e, args);
        return make_bool(as_string(t).find(as_string(args[1])) != std::string_view::npos);
      case fn::matches: {
        if (!all_strings(args)) return overload_error(e, args);
        if (e.regex) return make_bool(regex_search(*e.regex, as_string(t)));
        auto re = compile_regex(as_string(args[1]));
        if (!re) return fail(re.error());
        return make_bool(regex_search(**re, as_string(t)));
      }
      case fn::lower_ascii:
        if (!all_strings(args)) return overload_error(e, args);
        return make_string(lower_ascii(as_string(t)));
      case fn::upper_ascii:
        if (!all_strings(args)) return overload_error(e, args);
        return make_string(upper_ascii(as_string(t)));
      case fn::trim:
        if (!all_strings(args)) return overload_error(e, args);
        return make_string(std::string(trim_space(as_string(t))));
      case fn::split:
        return call_split(e, args);
      case fn::join:
        return call_join(e, args);
      case fn::index_of: {
        if (!all_strings(args)) return overload_error(e, args);
        auto s = as_string(t);
        auto at = s.find(as_string(args[1]));
        if (at == std::string_view::npos) return make_int(-1);
        return make_int(static_cast<std::int64_t>(utf8_length(s.substr(0, at))));
      }
      case fn::to_int:
        return to_int(e, args);
      case fn::to_double:
        return to_double(e, args);
      case fn::to_string:
        return to_string(e, args);
      case fn::dyn:
        return t;
    }
    return fail("internal error: unknown function");
  }

  eval_result call_size(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    switch (kind_of(t)) {
      case kind::string:
        return make_int(static_cast<std::int64_t>(utf8_length(as_string(t))));
      case kind::list:
        return make_int(static_cast<std::int64_t>(list_size(t)));
      case kind::map:
        return make_int(static_cast<std::int64_t>(map_size(t)));
      default:
        return overload_error(e, args);
    }
  }

  eval_result call_split(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    if (kind_of(t) != kind::string || kind_of(args[1]) != kind::string ||
        (args.size() == 3 && kind_of(args[2]) != kind::integer)) {
      return overload_error(e, args);
    }
    std::int64_t n = args.size() == 3 ? as_int(args[2]) : -1;
    return make_list(split_string(as_string(t), as_string(args[1]), n));
  }

  eval_result call_join(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    if (kind_of(t) != kind::list || (args.size() == 2 && kind_of(args[1]) != kind::string)) {
      return overload_error(e, args);
    }
    std::string sep = args.size() == 2 ? std::string(as_string(args[1])) : std::string();
    std::string out;
    for (std::size_t i = 0, n = list_size(t); i < n; ++i) {
      value item = list_at(t, i);
      if (kind_of(item) != kind::string) {
        return fail(std::string("no such overload: join of list containing ") + type_name(item));
      }
      if (i != 0) out += sep;
      out += as_string(item);
    }
    return make_string(std::move(out));
  }

  eval_result to_string(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    switch (kind_of(t)) {
      case kind::string:
        return make_string(std::string(as_string(t)));
      case kind::integer:
        return make_string(std::to_string(as_int(t)));
      case kind::dbl:
        return make_string(format_double(as_double(t)));
      case kind::boolean:
        return make_string(as_bool(t) ? "true" : "false");
      default:
        return overload_error(e, args);
    }
  }

  eval_result to_int(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    switch (kind_of(t)) {
      case kind::integer:
        return t;
      case kind::dbl: {
        double d = as_double(t);
        if (std::isnan(d) || d <= -9223372036854775808.0 || d >= 9223372036854775808.0) {
          return fail("range error converting " + format_double(d) + " to int");
        }
        return make_int(static_cast<std::int64_t>(d));
      }
      case kind::string: {
        auto s = as_string(t);
        std::int64_t out = 0;
        auto begin = s.data();
        if (!s.empty() && s[0] == '+') ++begin;
        auto r = std::from_chars(begin, s.data() + s.size(), out, 10);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
          return fail("cannot convert string '" + std::string(s) + "' to int");
        }
        return make_int(out);
      }
      default:
        return overload_error(e, args);
    }
  }

  eval_result to_double(const expr& e, const std::vector<value>& args) {
    const value& t = args[0];
    switch (kind_of(t)) {
      case kind::integer:
        return make_double(static_cast<double>(as_int(t)));
      case kind::dbl:
        return t;
      case kind::string: {
        auto s = as_string(t);
        double out = 0;
        auto begin = s.data();
        if (!s.empty() && s[0] == '+') ++begin;
        auto r = std::from_chars(begin, s.data() + s.size(), out);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
          return fail("cannot convert string '" + std::string(s) + "' to double");
        }
        return make_double(out);
      }
      default:
        return overload_error(e, args);
    }
  }

  eval_result eval_comprehension(const expr& e) {
    auto range = eval(*e.args[0]);
    if (!range) return range;
    std::vector<value> items;
    if (kind_of(*range) == kind::list) {
      for (std::size_t i = 0, n = list_size(*range); i < n; ++i) items.push_back(list_at(*range, i));
    } else if (kind_of(*range) == kind::map) {
      items = map_keys(*range);
    } else {
      static const char* names[] = {"all", "exists", "exists_one", "map", "filter"};
      return fail(std::string("no such overload: ") + names[static_cast<int>(e.mac)] + "() over " + type_name(*range));
    }
    std::optional<eval_error> first_error;
    std::size_t true_count = 0;
    list_t out;
    for (auto& item : items) {
      scope_.emplace_back(e.name, item);
      auto r = eval(*e.args[1]);
      std::optional<eval_result> mapped;
      if (r && e.mac == macro::map && e.args.size() == 3 && kind_of(*r) == kind::boolean && as_bool(*r)) {
        mapped = eval(*e.args[2]);
      }
      scope_.pop_back();
      if (e.mac == macro::map && e.args.size() == 2) {
        if (!r) return r;
        out.push_back(std::move(*r));
        continue;
      }
      if (!r) {
        if (e.mac != macro::all && e.mac != macro::exists) return r;
        if (!first_error) first_error = r.error();
        continue;
      }
      if (kind_of(*r) != kind::boolean) {
        return fail(std::string("no such overload: predicate of type ") + type_name(*r) + ", not bool");
      }
      bool b = as_bool(*r);
      switch (e.mac) {
        case macro::all:
          if (!b) return make_bool(false);
          break;
        case macro::exists:
          if (b) return make_bool(true);
          break;
        case macro::exists_one:
          if (b) ++true_count;
          break;
        case macro::filter:
          if (b) out.push_back(item);
          break;
        case macro::map:
          if (mapped) {
            if (!*mapped) return std::move(*mapped);
            out.push_back(std::move(**mapped));
          }
          break;
      }
    }
    if (first_error) return krt::unexpected(*first_error);
    switch (e.mac) {
      case macro::all:
        return make_bool(true);
      case macro::exists:
        return make_bool(false);
      case macro::exists_one:
        return make_bool(true_count == 1);
      default:
        return make_list(std::move(out));
    }
  }

  std::vector<std::pair<std::string, value>> scope_;
};

}  // namespace
}  // namespace impl

// ------------------------------------------------------------------ public API

const std::vector<std::string_view>& supported_functions() {
  static const std::vector<std::string_view> names = {
      "has",  "size",   "startsWith", "endsWith", "contains", "matches", "lowerAscii", "upperAscii",
      "trim", "split",  "join",       "indexOf",  "int",      "double",  "string",     "dyn",
      "all",  "exists", "exists_one", "map",      "filter",   "in"};
  return names;
}

program::program(std::string source, std::shared_ptr<const expr> root, std::vector<std::string> referenced)
    : source_(std::move(source)), root_(std::move(root)), referenced_(std::move(referenced)) {}

bool program::references(std::string_view variable) const {
  return std::find(referenced_.begin(), referenced_.end(), variable) != referenced_.end();
}

krt::result<bj::value, std::string> program::evaluate(std::span<const binding> bindings) const {
  impl::evaluator ev(bindings);
  auto v = ev.eval(*root_);
  if (!v) return krt::unexpected(std::move(v).error().message);
  return impl::to_json(*v);
}

krt::result<bool, std::string> program::evaluate_bool(std::span<const binding> bindings) const {
  impl::evaluator ev(bindings);
  auto v = ev.eval(*root_);
  if (!v) return krt::unexpected(std::move(v).error().message);
  if (impl::kind_of(*v) != impl::kind::boolean) {
    return krt::unexpected(std::string("rule evaluated to ") + impl::type_name(*v) + ", not bool");
  }
  return impl::as_bool(*v);
}

krt::result<std::string, std::string> program::evaluate_string(std::span<const binding> bindings) const {
  impl::evaluator ev(bindings);
  auto v = ev.eval(*root_);
  if (!v) return krt::unexpected(std::move(v).error().message);
  if (impl::kind_of(*v) != impl::kind::string) {
    return krt::unexpected(std::string("expression evaluated to ") + impl::type_name(*v) + ", not string");
  }
  return std::string(impl::as_string(*v));
}

krt::result<program_ptr, std::string> compile(std::string_view expression,
                                              std::span<const std::string_view> variables) {
  try {
    impl::parser p(expression, variables);
    std::shared_ptr<const expr> root = p.parse_all();
    return std::make_shared<const program>(std::string(expression), std::move(root), p.referenced());
  } catch (const impl::compile_failure& f) {
    return krt::unexpected(f.message);
  }
}

}  // namespace krt::local::cel
