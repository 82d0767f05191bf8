// The CEL subset (local/apiserver/cel.hpp): parsing, evaluation semantics,
// errors, and the rules the kruntimes CRDs are written with.

#include "local/apiserver/cel.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace krt::local::cel {
namespace {

constexpr std::string_view cel_vars[] = {"self", "oldSelf"};

struct cel_outcome {
  bool compiled = false;
  std::string compile_error;
  bool ok = false;
  bj::value value;
  std::string error;
};

cel_outcome cel_run(std::string_view expr, std::string_view self_json = "null", std::string_view old_json = {}) {
  cel_outcome out;
  auto p = compile(expr, cel_vars);
  if (!p) {
    out.compile_error = p.error();
    return out;
  }
  out.compiled = true;
  bj::value self = bj::parse(self_json);
  bj::value old = old_json.empty() ? bj::value() : bj::parse(old_json);
  binding b[] = {{"self", &self}, {"oldSelf", old_json.empty() ? nullptr : &old}};
  auto r = (*p)->evaluate(b);
  if (r) {
    out.ok = true;
    out.value = *r;
  } else {
    out.error = r.error();
  }
  return out;
}

// The JSON text of the result, or "error: ..." / "compile error: ...".
std::string cel_show(std::string_view expr, std::string_view self_json = "null", std::string_view old_json = {}) {
  auto o = cel_run(expr, self_json, old_json);
  if (!o.compiled) return "compile error: " + o.compile_error;
  if (!o.ok) return "error: " + o.error;
  return bj::serialize(o.value);
}

std::string cel_compile_error(std::string_view expr) {
  auto p = compile(expr, cel_vars);
  return p ? std::string("<compiled>") : p.error();
}

TEST(CelLiterals, ScalarsListsAndMaps) {
  EXPECT_EQ(cel_show("42"), "42");
  EXPECT_EQ(cel_show("-7"), "-7");
  EXPECT_EQ(cel_show("0x1F"), "31");
  EXPECT_EQ(cel_show("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(cel_show("1.5"), "1.5E0");
  EXPECT_EQ(cel_show("2e3"), "2E3");
  EXPECT_EQ(cel_show(".5 == 0.5"), "true");
  EXPECT_EQ(cel_show("true"), "true");
  EXPECT_EQ(cel_show("null"), "null");
  EXPECT_EQ(cel_show("'single' + \"double\""), "\"singledouble\"");
  EXPECT_EQ(cel_show(R"('a\tb\n\'q\' \x41\u00e9\101')"), "\"a\\tb\\n'q' A\u00e9A\"");
  EXPECT_EQ(cel_show(R"(r'\d+')"), R"("\\d+")");
  EXPECT_EQ(cel_show("'''multi\nline'''"), "\"multi\\nline\"");
  EXPECT_EQ(cel_show("[1, 'a', [true], null]"), R"([1,"a",[true],null])");
  EXPECT_EQ(cel_show("[1, 2,]"), "[1,2]");
  EXPECT_EQ(cel_show("{'a': 1, 'b': [2]}"), R"({"a":1,"b":[2]})");
  EXPECT_EQ(cel_show("{'a': 1, 'a': 2}"), "error: Failed with repeated key");
  EXPECT_EQ(cel_show("1 // a comment\n + 1"), "2");
}

TEST(CelArithmetic, IntegersDoublesStringsAndLists) {
  EXPECT_EQ(cel_show("1 + 2 * 3"), "7");
  EXPECT_EQ(cel_show("(1 + 2) * 3"), "9");
  EXPECT_EQ(cel_show("7 / 2"), "3");
  EXPECT_EQ(cel_show("-7 / 2"), "-3");
  EXPECT_EQ(cel_show("7 % 3"), "1");
  EXPECT_EQ(cel_show("10 - 2 - 3"), "5");
  EXPECT_EQ(cel_show("1.5 + 1.5 == 3.0"), "true");
  EXPECT_EQ(cel_show("-(3)"), "-3");
  EXPECT_EQ(cel_show("[1] + [2, 3]"), "[1,2,3]");
  EXPECT_EQ(cel_show("1 / 0"), "error: division by zero");
  EXPECT_EQ(cel_show("1 % 0"), "error: modulus by zero");
  EXPECT_EQ(cel_show("9223372036854775807 + 1"), "error: integer overflow");
  EXPECT_EQ(cel_show("-9223372036854775808 - 1"), "error: integer overflow");
  EXPECT_EQ(cel_show("9223372036854775807 * 2"), "error: integer overflow");
  EXPECT_EQ(cel_show("1 + 1.0"), "error: no such overload: _+_(int, double)");
  EXPECT_EQ(cel_show("'a' - 'b'"), "error: no such overload: _-_(string, string)");
  EXPECT_EQ(cel_show("1.0 % 2.0"), "error: no such overload: _%_(double, double)");
}

TEST(CelComparison, EqualityAndOrdering) {
  EXPECT_EQ(cel_show("1 == 1.0"), "true");
  EXPECT_EQ(cel_show("1 < 1.5"), "true");
  EXPECT_EQ(cel_show("'abc' < 'abd'"), "true");
  EXPECT_EQ(cel_show("false < true"), "true");
  EXPECT_EQ(cel_show("2 >= 2 && 3 > 2 && 1 <= 1 && 1 != 2"), "true");
  EXPECT_EQ(cel_show("1 == 'a'"), "false");
  EXPECT_EQ(cel_show("null == null"), "true");
  EXPECT_EQ(cel_show("[1, [2]] == [1, [2]]"), "true");
  EXPECT_EQ(cel_show("{'a': 1, 'b': 2} == {'b': 2, 'a': 1}"), "true");
  EXPECT_EQ(cel_show("self == {'b': 2, 'a': 1}", R"({"a":1,"b":2})"), "true");
  EXPECT_EQ(cel_show("self == {'a': 1}", R"({"a":1,"b":2})"), "false");
  EXPECT_EQ(cel_show("[1] < [2]"), "error: no such overload: _<_(list, list)");
  EXPECT_EQ(cel_show("'a' < 1"), "error: no such overload: _<_(string, int)");
}

TEST(CelLogic, ShortCircuitAbsorbsErrors) {
  EXPECT_EQ(cel_show("false && self.missing", "{}"), "false");
  EXPECT_EQ(cel_show("self.missing && false", "{}"), "false");
  EXPECT_EQ(cel_show("true || self.missing", "{}"), "true");
  EXPECT_EQ(cel_show("self.missing || true", "{}"), "true");
  EXPECT_EQ(cel_show("true && self.missing", "{}"), "error: no such key: missing");
  EXPECT_EQ(cel_show("false || self.missing", "{}"), "error: no such key: missing");
  EXPECT_EQ(cel_show("1 && true"), "error: no such overload: _&&_(int, bool)");
  EXPECT_EQ(cel_show("!true"), "false");
  EXPECT_EQ(cel_show("!!true"), "true");
  EXPECT_EQ(cel_show("!1"), "error: no such overload: !_(int)");
  EXPECT_EQ(cel_show("true ? 1 : 2"), "1");
  EXPECT_EQ(cel_show("false ? 1 : true ? 2 : 3"), "2");
  EXPECT_EQ(cel_show("1 ? 1 : 2"), "error: no such overload: _?_:_(int)");
  EXPECT_EQ(cel_show("true ? 1 : self.missing", "{}"), "1");
}

TEST(CelFields, SelectionHasIndexAndIn) {
  const char* doc = R"({"a": {"b": [10, 20]}, "m": {"k.x": "v"}, "n": null, "x-y": 1, "namespace": "ns"})";
  EXPECT_EQ(cel_show("self.a.b[1]", doc), "20");
  EXPECT_EQ(cel_show("self.a.b[2]", doc), "error: index out of bounds: 2");
  EXPECT_EQ(cel_show("self.a.b[-1]", doc), "error: index out of bounds: -1");
  EXPECT_EQ(cel_show("self.a.b['x']", doc), "error: no such overload: _[_](list, string)");
  EXPECT_EQ(cel_show("self.m['k.x']", doc), "\"v\"");
  EXPECT_EQ(cel_show("self['a']['b'][0]", doc), "10");
  EXPECT_EQ(cel_show("self.m['nope']", doc), "error: no such key: nope");
  EXPECT_EQ(cel_show("self.zzz", doc), "error: no such key: zzz");
  EXPECT_EQ(cel_show("self.a.b.c", doc), "error: no such overload: field selection .c on list");
  EXPECT_EQ(cel_show("has(self.a)", doc), "true");
  EXPECT_EQ(cel_show("has(self.zzz)", doc), "false");
  EXPECT_EQ(cel_show("has(self.n)", doc), "true");
  EXPECT_EQ(cel_show("self.n == null", doc), "true");
  EXPECT_EQ(cel_show("has(self.zzz.q)", doc), "error: no such key: zzz");
  EXPECT_EQ(cel_show("has(self.a.b.c)", doc), "error: no such overload: has() of field .c on list");
  EXPECT_EQ(cel_show("20 in self.a.b", doc), "true");
  EXPECT_EQ(cel_show("30 in self.a.b", doc), "false");
  EXPECT_EQ(cel_show("'k.x' in self.m", doc), "true");
  EXPECT_EQ(cel_show("'a' in {'a': 1}"), "true");
  EXPECT_EQ(cel_show("1 in 1"), "error: no such overload: @in(int, int)");
  // Property names that are not CEL identifiers, escaped as Kubernetes does.
  EXPECT_EQ(cel_show("self.x__dash__y", doc), "1");
  EXPECT_EQ(cel_show("self.__namespace__", doc), "\"ns\"");
  EXPECT_EQ(cel_show("has(self.x__dash__y)", doc), "true");
}

TEST(CelFunctions, Strings) {
  EXPECT_EQ(cel_show("size('h\u00e9llo')"), "5");
  EXPECT_EQ(cel_show("'h\u00e9llo'.size()"), "5");
  EXPECT_EQ(cel_show("'abc'.startsWith('ab') && 'abc'.endsWith('bc') && 'abc'.contains('b')"), "true");
  EXPECT_EQ(cel_show("'abc'.startsWith('b') || 'abc'.endsWith('x') || 'abc'.contains('d')"), "false");
  EXPECT_EQ(cel_show("'abc'.startsWith(1)"), "error: no such overload: startsWith(string, int)");
  EXPECT_EQ(cel_show("'abc'.matches('^[a-z]+$')"), "true");
  EXPECT_EQ(cel_show("'abc1'.matches('^[a-z]+$')"), "false");
  EXPECT_EQ(cel_show("'xxabcxx'.matches('abc')"), "true");
  EXPECT_EQ(cel_show("matches('ABC', '(?i)^abc$')"), "true");
  EXPECT_EQ(cel_show("'ab'.matches(self)", "\"^a\""), "true");
  EXPECT_EQ(cel_show("'ab'.matches(self)", "\"(\""),
            "error: invalid regular expression '(': "
            "Mismatched '(' and ')' in regular expression");
  EXPECT_EQ(cel_show("'MiXeD'.lowerAscii() + 'MiXeD'.upperAscii()"), "\"mixedMIXED\"");
  EXPECT_EQ(cel_show("'  pad \\t'.trim()"), "\"pad\"");
  EXPECT_EQ(cel_show("'a/b//c'.split('/')"), R"(["a","b","","c"])");
  EXPECT_EQ(cel_show("''.split('/')"), R"([""])");
  EXPECT_EQ(cel_show("'a/b/c'.split('/', 2)"), R"(["a","b/c"])");
  EXPECT_EQ(cel_show("'a/b'.split('/', 0)"), "[]");
  EXPECT_EQ(cel_show("'h\u00e9'.split('')"), "[\"h\",\"\u00e9\"]");
  EXPECT_EQ(cel_show("['a', 'b'].join('-') + ['c'].join()"), "\"a-bc\"");
  EXPECT_EQ(cel_show("[1].join()"), "error: no such overload: join of list containing int");
  EXPECT_EQ(cel_show("'h\u00e9llo'.indexOf('l') == 2 && 'abc'.indexOf('z') == -1"), "true");
}

TEST(CelFunctions, SizesAndConversions) {
  EXPECT_EQ(cel_show("size(self) + self.size()", "[1,2,3]"), "6");
  EXPECT_EQ(cel_show("size(self)", R"({"a":1})"), "1");
  EXPECT_EQ(cel_show("size(1)"), "error: no such overload: size(int)");
  EXPECT_EQ(cel_show("int('42') + int(2.9) + int(-2.9)"), "42");
  EXPECT_EQ(cel_show("int('4x')"), "error: cannot convert string '4x' to int");
  EXPECT_EQ(cel_show("int(1e19)"), "error: range error converting 1e+19 to int");
  EXPECT_EQ(cel_show("double('2.5') + double(1)"), "3.5E0");
  EXPECT_EQ(cel_show("string(1) + string(1.5) + string(true) + string('s')"), "\"11.5trues\"");
  EXPECT_EQ(cel_show("string(1000000.0)"), "\"1e+06\"");
  EXPECT_EQ(cel_show("dyn(1) == 1"), "true");
}

TEST(CelMacros, AllExistsExistsOneFilterMap) {
  EXPECT_EQ(cel_show("self.all(x, x > 0)", "[1,2,3]"), "true");
  EXPECT_EQ(cel_show("self.all(x, x > 1)", "[1,2,3]"), "false");
  EXPECT_EQ(cel_show("self.exists(x, x == 2)", "[1,2,3]"), "true");
  EXPECT_EQ(cel_show("self.exists(x, x == 5)", "[1,2,3]"), "false");
  EXPECT_EQ(cel_show("self.exists_one(x, x > 2)", "[1,2,3]"), "true");
  EXPECT_EQ(cel_show("self.exists_one(x, x > 1)", "[1,2,3]"), "false");
  EXPECT_EQ(cel_show("self.filter(x, x % 2 == 1)", "[1,2,3]"), "[1,3]");
  EXPECT_EQ(cel_show("self.map(x, x * 10)", "[1,2,3]"), "[10,20,30]");
  EXPECT_EQ(cel_show("self.map(x, x > 1, x * 10)", "[1,2,3]"), "[20,30]");
  EXPECT_EQ(cel_show("self.all(k, k.startsWith('a'))", R"({"ab":1,"ac":2})"), "true");
  EXPECT_EQ(cel_show("self.exists(k, self[k] == 2)", R"({"ab":1,"ac":2})"), "true");
  EXPECT_EQ(cel_show("[].all(x, false)"), "true");
  EXPECT_EQ(cel_show("self.all(x, self.all(y, x + y < 10))", "[1,2]"), "true");
  // A decisive element wins over an error elsewhere, as in cel-go.
  EXPECT_EQ(cel_show("self.all(x, x.a == 1)", R"([{"b":1},{"a":2}])"), "false");
  EXPECT_EQ(cel_show("self.exists(x, x.a == 1)", R"([{"b":1},{"a":1}])"), "true");
  EXPECT_EQ(cel_show("self.all(x, x.a == 1)", R"([{"b":1},{"a":1}])"), "error: no such key: a");
  EXPECT_EQ(cel_show("self.all(x, x)", "[1]"), "error: no such overload: predicate of type int, not bool");
  EXPECT_EQ(cel_show("1.all(x, true)"), "error: no such overload: all() over int");
}

// The rules the kruntimes Run and Runtime CRDs are written with (SPEC §1).
TEST(CelRules, KruntimesRunAndRuntimeRules) {
  const char* task = R"({"task": {"entrypoint": "main.py"}})";
  EXPECT_EQ(cel_show("has(self.task) != has(self.function)", task), "true");
  EXPECT_EQ(cel_show("has(self.task) != has(self.function)", R"({"task":{},"function":{}})"), "false");
  EXPECT_EQ(cel_show("!(has(self.inline) && has(self.repoURL))", R"({"inline":"x","repoURL":"y"})"), "false");
  EXPECT_EQ(cel_show("!has(self.commitSHA) || has(self.repoURL)", R"({"commitSHA":"abc"})"), "false");
  EXPECT_EQ(cel_show("!has(self.commitSHA) || has(self.repoURL)", R"({"commitSHA":"abc","repoURL":"u"})"), "true");
  const char* path_rule = "!self.startsWith('/') && !self.contains('..')";
  EXPECT_EQ(cel_show(path_rule, "\"src/main.py\""), "true");
  EXPECT_EQ(cel_show(path_rule, "\"/abs\""), "false");
  EXPECT_EQ(cel_show(path_rule, "\"a/../b\""), "false");
  const char* segments = "self.split('/').all(s, s != '' && s != '.' && s != '..')";
  EXPECT_EQ(cel_show(segments, "\"a/b/c.py\""), "true");
  EXPECT_EQ(cel_show(segments, "\"a//b\""), "false");
  EXPECT_EQ(cel_show(segments, "\"a/./b\""), "false");
  EXPECT_EQ(cel_show(segments, "\"a/..\""), "false");
  const char* entrypoint =
      "!has(self.mode.task) || !has(self.mode.task.entrypoint) || (has(self.source) && has(self.source.inline)) || "
      "(!self.mode.task.entrypoint.startsWith('/') && !self.mode.task.entrypoint.split('/').exists(segment, "
      "segment == '..'))";
  EXPECT_EQ(cel_show(entrypoint, R"({"mode":{"task":{"entrypoint":"../x"}}})"), "false");
  EXPECT_EQ(cel_show(entrypoint, R"json({"mode":{"task":{"entrypoint":"../x"}},"source":{"inline":"print()"}})json"),
            "true");
  EXPECT_EQ(cel_show(entrypoint, R"({"mode":{"function":{}}})"), "true");
  EXPECT_EQ(cel_show("self == oldSelf", "\"a\"", "\"a\""), "true");
  EXPECT_EQ(cel_show("self == oldSelf", R"({"x":[1]})", R"({"x":[2]})"), "false");
  const char* cancel = "!(oldSelf == true && self == false)";
  EXPECT_EQ(cel_show(cancel, "false", "true"), "false");
  EXPECT_EQ(cel_show(cancel, "true", "false"), "true");
  EXPECT_EQ(cel_show("has(oldSelf.x) == has(self.x)", R"({"x":1})", "{}"), "false");
  EXPECT_EQ(cel_show("size(self) <= 16", "[1,2]"), "true");
  EXPECT_EQ(cel_show("self.matches('^[a-z]+$')", "\"abc\""), "true");
  const char* workspace = "(has(self.hostPath)?1:0) + (has(self.emptyDir)?1:0) + (has(self.nfs)?1:0) <= 1";
  EXPECT_EQ(cel_show(workspace, R"({"emptyDir":{}})"), "true");
  EXPECT_EQ(cel_show(workspace, R"({"emptyDir":{},"nfs":{}})"), "false");
  const char* template_rule =
      "self.template.spec.containers.size() > 0 && self.template.spec.containers[0].name == 'runtime'";
  EXPECT_EQ(cel_show(template_rule, R"({"template":{"spec":{"containers":[{"name":"runtime"}]}}})"), "true");
  EXPECT_EQ(cel_show(template_rule, R"({"template":{"spec":{"containers":[]}}})"), "false");
  EXPECT_EQ(cel_show("'runtime' in self.map(c, c.name)", R"([{"name":"runtime"}])"), "true");
}

TEST(CelCompile, RejectsUnsupportedFunctionsByName) {
  auto err = cel_compile_error("self.foo(1)");
  EXPECT_EQ(err.rfind("unsupported CEL expression: function \"foo\" at 1:6 is not in the supported subset (has, size, "
                      "startsWith, endsWith, contains, matches,",
                      0),
            0u)
      << err;
  EXPECT_NE(err.find("all, exists, exists_one, map, filter, in)"), std::string::npos) << err;
  EXPECT_EQ(cel_compile_error("duration('1s') > duration('0s')")
                .rfind("unsupported CEL expression: function \"duration\"", 0),
            0u);
  EXPECT_EQ(cel_compile_error("self.isSorted()").rfind("unsupported CEL expression: function \"isSorted\"", 0), 0u);
  EXPECT_EQ(cel_compile_error("timestamp(self) < now()").rfind("unsupported CEL expression: function \"timestamp\"", 0),
            0u);
  EXPECT_EQ(cel_compile_error("'a'.startsWith()"),
            "unsupported CEL expression at 1:5: function \"startsWith\" takes 1 argument, not 0");
  EXPECT_EQ(cel_compile_error("'a'.split()"),
            "unsupported CEL expression at 1:5: function \"split\" takes 1 or 2 arguments, not 0");
}

TEST(CelCompile, SyntaxAndUnsupportedConstructsNamePositions) {
  EXPECT_EQ(cel_compile_error("self.x == "), "syntax error at 1:11: unexpected end of expression");
  EXPECT_EQ(cel_compile_error("self.x = 1"), "syntax error at 1:8: unexpected '=' (comparison is '==')");
  EXPECT_EQ(cel_compile_error("a & b"), "syntax error at 1:3: unexpected '&' (logical operators are '&&' and '||')");
  EXPECT_EQ(cel_compile_error("(1 + 2"), "syntax error at 1:7: expected ')' but found end of expression");
  EXPECT_EQ(cel_compile_error("1 2"), "syntax error at 1:3: unexpected number after the expression");
  EXPECT_EQ(cel_compile_error("self.x\n  #"), "syntax error at 2:3: unexpected character '#'");
  EXPECT_EQ(cel_compile_error("'abc"), "syntax error at 1:1: unterminated string literal");
  EXPECT_EQ(cel_compile_error("'\\q'"), "syntax error at 1:2: invalid escape sequence '\\q'");
  EXPECT_EQ(cel_compile_error("99999999999999999999"), "syntax error at 1:1: integer literal out of range");
  EXPECT_EQ(cel_compile_error("b'abc'"), "unsupported CEL expression at 1:1: bytes literals are not supported");
  EXPECT_EQ(cel_compile_error("1u"), "unsupported CEL expression at 1:1: unsigned integer literals are not supported");
  EXPECT_EQ(cel_compile_error("self.?x"),
            "unsupported CEL expression at 1:5: optional field selection ('.?') is not supported");
  EXPECT_EQ(cel_compile_error("Foo{a: 1}"),
            "unsupported CEL expression at 1:1: message construction (Foo{...}) is not supported");
  EXPECT_EQ(cel_compile_error(".self"),
            "unsupported CEL expression at 1:1: leading '.' (qualified identifiers) is not supported");
  EXPECT_EQ(cel_compile_error("if"), "syntax error at 1:1: reserved identifier 'if'");
  EXPECT_EQ(
      cel_compile_error("has(self)"),
      "syntax error at 1:1: invalid argument to has() macro: it takes one field selection such as has(self.field)");
  EXPECT_EQ(cel_compile_error("self.all(1, true)"),
            "syntax error at 1:10: the first argument of all() must be an iteration variable name");
  EXPECT_EQ(cel_compile_error("other.x"), "undeclared reference to 'other' at 1:1");
  EXPECT_EQ(cel_compile_error("self.all(x, y)"), "undeclared reference to 'y' at 1:13");
  EXPECT_EQ(cel_compile_error("'a'.matches('(')")
                .rfind("invalid argument to matches() at 1:13: invalid regular "
                       "expression '('",
                       0),
            0u);
  std::string deep(300, '(');
  deep += "1" + std::string(300, ')');
  EXPECT_EQ(cel_compile_error(deep).rfind("unsupported CEL expression", 0), 0u);
  std::string chain = "1";
  for (int i = 0; i < 300; ++i) chain += " + 1";
  EXPECT_EQ(cel_compile_error(chain),
            "unsupported CEL expression at 1:1: the expression nests too deeply (more than 250 levels of operators)");
  std::string wide = "[";
  for (int i = 0; i < 6000; ++i) wide += "1,";
  wide += "1]";
  EXPECT_NE(cel_compile_error(wide).find("too large"), std::string::npos);
}

TEST(CelProgram, ReferencesBindingsAndResultTypes) {
  auto p = compile("self.all(oldSelf, oldSelf > 0)", cel_vars);
  ASSERT_TRUE(p);
  EXPECT_TRUE((*p)->references("self"));
  EXPECT_FALSE((*p)->references("oldSelf"));  // shadowed by the iteration variable
  auto t = compile("self == oldSelf", cel_vars);
  ASSERT_TRUE(t);
  EXPECT_TRUE((*t)->references("oldSelf"));
  EXPECT_EQ((*t)->source(), "self == oldSelf");
  bj::value one = 1;
  binding only_self[] = {{"self", &one}};
  auto unbound = (*t)->evaluate_bool(only_self);
  ASSERT_FALSE(unbound);
  EXPECT_EQ(unbound.error(), "no such attribute: oldSelf");
  auto s = compile("self + 1", cel_vars);
  ASSERT_TRUE(s);
  auto not_bool = (*s)->evaluate_bool(only_self);
  ASSERT_FALSE(not_bool);
  EXPECT_EQ(not_bool.error(), "rule evaluated to int, not bool");
  auto m = compile("'value ' + string(self)", cel_vars);
  ASSERT_TRUE(m);
  auto text = (*m)->evaluate_string(only_self);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "value 1");
  EXPECT_FALSE((*s)->evaluate_string(only_self));
}

TEST(CelHelpers, FormatDoubleRegexAndUtf8) {
  EXPECT_EQ(format_double(1.5), "1.5");
  EXPECT_EQ(format_double(100000), "100000");
  EXPECT_EQ(format_double(1000000), "1e+06");
  EXPECT_EQ(format_double(1234567), "1.234567e+06");
  EXPECT_EQ(format_double(0.0001), "0.0001");
  EXPECT_EQ(format_double(0.00001), "1e-05");
  EXPECT_EQ(format_double(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(format_double(0), "0");
  EXPECT_EQ(utf8_length("h\u00e9\u4e2d\U0001F600"), 4u);
  EXPECT_EQ(utf8_length("\xff\xfe"), 2u);
  auto re = compile_regex("\\Aab\\z");
  ASSERT_TRUE(re);
  EXPECT_TRUE(regex_search(**re, "ab"));
  EXPECT_FALSE(regex_search(**re, "abc"));
  auto named = compile_regex("^(?P<word>[a-z]+)$");
  ASSERT_TRUE(named);
  EXPECT_TRUE(regex_search(**named, "abc"));
  EXPECT_FALSE(compile_regex("a{2"));
  // RE2 syntax std::regex would silently read differently is refused.
  auto unicode = compile_regex("^\\pL+$");
  ASSERT_FALSE(unicode);
  EXPECT_EQ(unicode.error(),
            "invalid regular expression '^\\pL+$': \\p (Unicode classes and quoting) is not supported");
  EXPECT_FALSE(compile_regex("(?s)."));
  // Long inputs do not exhaust the stack (breadth-first matching).
  std::string long_text(300000, 'a');
  auto star = compile_regex("^[a-z]*$");
  ASSERT_TRUE(star);
  EXPECT_TRUE(regex_search(**star, long_text));
}

}  // namespace
}  // namespace krt::local::cel
