#pragma once
// A subset of the Common Expression Language for CRD x-kubernetes-validations
// rules, evaluated directly over Boost.JSON documents. The grammar, the
// functions and macros, and what is rejected are written down in
// docs/local-cel-subset.md; this header is the contract.
//
// compile() parses an expression once (when the CRD is created or updated);
// the program it returns is immutable and may be evaluated any number of
// times, from any thread, against documents that outlive the call. Nothing is
// type-checked ahead of time: a type mismatch is an evaluation error.
//
// Compile errors are one line and start with "syntax error at L:C: ...",
// "unsupported CEL expression..." (a function outside the subset is named:
// `function "foo" at 1:6 is not in the supported subset (...)`), "undeclared
// reference to 'x' at L:C" or "invalid argument to matches() at L:C: ...".
// Evaluation errors are the texts cel-go uses where one exists: "no such key:
// x", "no such overload: _+_(int, string)", "index out of bounds: 3",
// "integer overflow", "division by zero", "modulus by zero".
//
// Affinity: none (programs are immutable values).

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "local/apiserver/json.hpp"

namespace krt::local::cel {

struct expr;  // the parsed tree (cel.cpp)
struct compiled_regex;

// A variable bound for one evaluation. `value` must stay alive for the call.
struct binding {
  std::string_view name;
  const bj::value* value = nullptr;
};

class program {
 public:
  // The expression text as compiled.
  const std::string& source() const noexcept { return source_; }
  // True if the expression mentions `variable` (e.g. "oldSelf": a transition rule).
  bool references(std::string_view variable) const;

  // Evaluates and converts the result to JSON (lists to arrays, maps with
  // string keys to objects). Every variable declared at compile time must be bound.
  krt::result<bj::value, std::string> evaluate(std::span<const binding> bindings) const;
  // As evaluate(), for rules: a result that is not a bool is an error.
  krt::result<bool, std::string> evaluate_bool(std::span<const binding> bindings) const;
  // As evaluate(), for messageExpression: a result that is not a string is an error.
  krt::result<std::string, std::string> evaluate_string(std::span<const binding> bindings) const;

  program(std::string source, std::shared_ptr<const expr> root, std::vector<std::string> referenced);

 private:
  std::string source_;
  std::shared_ptr<const expr> root_;
  std::vector<std::string> referenced_;
};

using program_ptr = std::shared_ptr<const program>;

// Parses `expression`. `variables` are the identifiers it may use besides the
// iteration variables of its macros (for CRD rules: "self" and "oldSelf").
krt::result<program_ptr, std::string> compile(std::string_view expression, std::span<const std::string_view> variables);

// The functions, macros and operators compile() accepts, in the order the
// "not in the supported subset" message lists them.
const std::vector<std::string_view>& supported_functions();

// Regular expressions for matches() and OpenAPI `pattern`: RE2 syntax as
// Kubernetes uses it, approximated with std::regex ECMAScript (breadth-first
// executor, so no recursion per input character and no exponential
// backtracking). A leading (?i), \A, \z and (?P<name>...) are translated;
// other RE2-only syntax is a compile error. Matching is byte-wise and searches
// (an unanchored pattern matches anywhere), as Go's regexp.MatchString.
struct compiled_regex;
using regex_ptr = std::shared_ptr<const compiled_regex>;
krt::result<regex_ptr, std::string> compile_regex(std::string_view pattern);
bool regex_search(const compiled_regex& re, std::string_view text);

// Number of Unicode code points in UTF-8 text (invalid bytes count as one
// each): CEL size() of a string and the unit of OpenAPI minLength/maxLength.
std::size_t utf8_length(std::string_view s);

// Go's strconv.FormatFloat(d, 'g', -1, 64), which is also fmt's %v: the
// shortest exact digits, in exponent form below 1e-4 and from 1e+06 ("1e+06",
// "1.5", "-0.0001"). cel-go's string(double) and Kubernetes' messages use it.
std::string format_double(double d);

}  // namespace krt::local::cel
