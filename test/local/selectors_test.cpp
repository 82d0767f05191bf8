// Tests for local/apiserver/selectors.cpp: label selector strings and JSON,
// field selectors, and matching.

#include "local/apiserver/selectors.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace krt::local::selectors_test {
namespace {

using op = label_requirement::op;

bj::value j(std::string_view text) { return bj::parse(text); }

label_selector parse_ok(std::string_view text) {
  auto parsed = parse_label_selector(text);
  EXPECT_TRUE(parsed) << text << ": " << parsed.error();
  return parsed ? *parsed : label_selector{};
}

std::string parse_error(std::string_view text) {
  auto parsed = parse_label_selector(text);
  return parsed ? std::string("(parsed)") : parsed.error();
}

bool label_match(std::string_view selector, std::string_view labels_json) {
  const bj::value labels = j(labels_json);
  return matches(parse_ok(selector), labels.if_object());
}

TEST(LabelSelectorParse, EmptyAndBlankSelectEverything) {
  EXPECT_TRUE(parse_ok("").empty());
  EXPECT_TRUE(parse_ok("  \t ").empty());
}

TEST(LabelSelectorParse, EqualityForms) {
  auto s = parse_ok("app=web,tier==front,env!=prod");
  ASSERT_EQ(s.requirements.size(), 3u);
  EXPECT_EQ(s.requirements[0].key, "app");
  EXPECT_EQ(s.requirements[0].operation, op::equals);
  EXPECT_EQ(s.requirements[0].values, std::vector<std::string>{"web"});
  EXPECT_EQ(s.requirements[1].operation, op::equals);
  EXPECT_EQ(s.requirements[1].values, std::vector<std::string>{"front"});
  EXPECT_EQ(s.requirements[2].operation, op::not_equals);
  EXPECT_EQ(s.requirements[2].values, std::vector<std::string>{"prod"});
}

TEST(LabelSelectorParse, SetBasedAndExistence) {
  auto s = parse_ok(" env in ( prod , staging ) ,  tier notin (db) , canary , !legacy ");
  ASSERT_EQ(s.requirements.size(), 4u);
  EXPECT_EQ(s.requirements[0].operation, op::in);
  EXPECT_EQ(s.requirements[0].values, (std::vector<std::string>{"prod", "staging"}));
  EXPECT_EQ(s.requirements[1].operation, op::not_in);
  EXPECT_EQ(s.requirements[1].values, std::vector<std::string>{"db"});
  EXPECT_EQ(s.requirements[2].key, "canary");
  EXPECT_EQ(s.requirements[2].operation, op::exists);
  EXPECT_EQ(s.requirements[3].key, "legacy");
  EXPECT_EQ(s.requirements[3].operation, op::does_not_exist);
}

TEST(LabelSelectorParse, EmptyValues) {
  auto s = parse_ok("a=,b in (),c in (x,)");
  ASSERT_EQ(s.requirements.size(), 3u);
  EXPECT_EQ(s.requirements[0].values, std::vector<std::string>{""});
  EXPECT_EQ(s.requirements[1].values, std::vector<std::string>{""});
  EXPECT_EQ(s.requirements[2].values, (std::vector<std::string>{"x", ""}));
}

TEST(LabelSelectorParse, PrefixedKeysAndValueCharacters) {
  auto s = parse_ok("app.kubernetes.io/name=my_app-1.2,kruntimes.io/workflow in (wf-1,WF.2)");
  ASSERT_EQ(s.requirements.size(), 2u);
  EXPECT_EQ(s.requirements[0].key, "app.kubernetes.io/name");
  EXPECT_EQ(s.requirements[0].values, std::vector<std::string>{"my_app-1.2"});
  EXPECT_EQ(s.requirements[1].key, "kruntimes.io/workflow");
}

TEST(LabelSelectorParse, SyntaxErrorsNameTheOffendingPart) {
  EXPECT_EQ(parse_error("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=");
  EXPECT_NE(parse_error("app=web,").find("identifier after ','"), std::string::npos);
  EXPECT_NE(parse_error(",app").find("found ','"), std::string::npos);
  EXPECT_NE(parse_error("app in a").find("'('"), std::string::npos);
  EXPECT_NE(parse_error("app in (a").find("end of string"), std::string::npos);
  EXPECT_NE(parse_error("app in (a b)").find("found 'b'"), std::string::npos);
  EXPECT_NE(parse_error("app=web=x").find("found '='"), std::string::npos);
  EXPECT_NE(parse_error("app>1").find("found '>'"), std::string::npos);
  EXPECT_NE(parse_error("!").find("identifier after '!'"), std::string::npos);
  EXPECT_NE(parse_error("!a=b").find("found '='"), std::string::npos);
  EXPECT_NE(parse_error("a=(b)").find("found '('"), std::string::npos);
}

TEST(LabelSelectorParse, KeyAndValueValidation) {
  EXPECT_EQ(parse_error("-app=x"),
            "unable to parse requirement: invalid label key \"-app\": name part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  EXPECT_NE(parse_error("Example.COM/app=x").find("prefix part"), std::string::npos);
  EXPECT_NE(parse_error("/app=x").find("prefix part must be non-empty"), std::string::npos);
  EXPECT_NE(parse_error("example.com/=x").find("name part must be non-empty"), std::string::npos);
  EXPECT_NE(parse_error("a/b/c=x").find("invalid label key \"a/b/c\""), std::string::npos);
  EXPECT_NE(parse_error(std::string(64, 'k') + "=x").find("63 characters"), std::string::npos);
  EXPECT_TRUE(parse_label_selector(std::string(63, 'k') + "=x"));
  EXPECT_NE(parse_error("a=-x").find("invalid label value \"-x\""), std::string::npos);
  EXPECT_NE(parse_error("a in (ok, bad_)").find("invalid label value \"bad_\""), std::string::npos);
  EXPECT_NE(parse_error("a=" + std::string(64, 'v')).find("63 characters"), std::string::npos);
}

TEST(LabelValidation, Helpers) {
  EXPECT_EQ(label_key_error("app"), "");
  EXPECT_EQ(label_key_error("a.b-c_d"), "");
  EXPECT_EQ(label_key_error("sub.example.com/Name"), "");
  EXPECT_NE(label_key_error(""), "");
  EXPECT_NE(label_key_error("a b"), "");
  EXPECT_NE(label_key_error("ex_ample.com/a"), "");
  EXPECT_NE(label_key_error(std::string(254, 'a') + "/x"), "");
  EXPECT_EQ(label_value_error(""), "");
  EXPECT_EQ(label_value_error("v1.2"), "");
  EXPECT_NE(label_value_error("v1."), "");
  EXPECT_NE(label_value_error("a/b"), "");
}

TEST(LabelSelectorMatch, Equality) {
  EXPECT_TRUE(label_match("app=web", R"({"app":"web","x":"y"})"));
  EXPECT_FALSE(label_match("app=web", R"({"app":"api"})"));
  EXPECT_FALSE(label_match("app=web", R"({})"));
  EXPECT_TRUE(label_match("app!=web", R"({"app":"api"})"));
  EXPECT_TRUE(label_match("app!=web", R"({})"));  // != matches objects without the key
  EXPECT_FALSE(label_match("app!=web", R"({"app":"web"})"));
  EXPECT_TRUE(label_match("app=", R"({"app":""})"));
  EXPECT_FALSE(label_match("app=", R"({})"));
}

TEST(LabelSelectorMatch, SetsAndExistence) {
  EXPECT_TRUE(label_match("env in (prod,staging)", R"({"env":"staging"})"));
  EXPECT_FALSE(label_match("env in (prod,staging)", R"({"env":"dev"})"));
  EXPECT_FALSE(label_match("env in (prod)", R"({})"));
  EXPECT_TRUE(label_match("env notin (prod)", R"({"env":"dev"})"));
  EXPECT_TRUE(label_match("env notin (prod)", R"({})"));
  EXPECT_FALSE(label_match("env notin (prod)", R"({"env":"prod"})"));
  EXPECT_TRUE(label_match("env", R"({"env":""})"));
  EXPECT_FALSE(label_match("env", R"({"other":"x"})"));
  EXPECT_TRUE(label_match("!env", R"({"other":"x"})"));
  EXPECT_FALSE(label_match("!env", R"({"env":"x"})"));
}

TEST(LabelSelectorMatch, AllRequirementsMustHold) {
  EXPECT_TRUE(label_match("app=web,env in (prod),!canary", R"({"app":"web","env":"prod"})"));
  EXPECT_FALSE(label_match("app=web,env in (prod),!canary", R"({"app":"web","env":"prod","canary":"1"})"));
}

TEST(LabelSelectorMatch, NullLabels) {
  EXPECT_TRUE(matches(parse_ok(""), nullptr));
  EXPECT_TRUE(matches(parse_ok("!a"), nullptr));
  EXPECT_TRUE(matches(parse_ok("a!=b"), nullptr));
  EXPECT_FALSE(matches(parse_ok("a"), nullptr));
  EXPECT_FALSE(matches(parse_ok("a=b"), nullptr));
}

TEST(LabelSelectorMatch, MatchNothing) {
  label_selector nothing;
  nothing.match_nothing = true;
  EXPECT_FALSE(nothing.empty());
  bj::object labels;
  EXPECT_FALSE(matches(nothing, &labels));
  EXPECT_FALSE(matches(nothing, nullptr));
}

krt::result<label_selector, std::string> from_json(std::string_view text) { return label_selector_from_json(j(text)); }

TEST(LabelSelectorJson, NullAndEmptySelectEverything) {
  auto null_selector = from_json("null");
  ASSERT_TRUE(null_selector);
  EXPECT_TRUE(null_selector->empty());
  auto empty = from_json(R"({"matchLabels":{},"matchExpressions":[]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  bj::object labels{{"a", "b"}};
  EXPECT_TRUE(matches(*empty, &labels));
}

TEST(LabelSelectorJson, MatchLabelsAndExpressions) {
  auto s = from_json(R"({"matchLabels":{"app":"web"},"matchExpressions":[
      {"key":"env","operator":"In","values":["prod","staging"]},
      {"key":"tier","operator":"NotIn","values":["db"]},
      {"key":"team","operator":"Exists"},
      {"key":"legacy","operator":"DoesNotExist","values":[]}]})");
  ASSERT_TRUE(s) << s.error();
  ASSERT_EQ(s->requirements.size(), 5u);
  EXPECT_EQ(s->requirements[0].operation, op::equals);
  EXPECT_EQ(s->requirements[1].operation, op::in);
  EXPECT_EQ(s->requirements[2].operation, op::not_in);
  EXPECT_EQ(s->requirements[3].operation, op::exists);
  EXPECT_EQ(s->requirements[4].operation, op::does_not_exist);

  const bj::value yes = j(R"({"app":"web","env":"prod","team":"a"})");
  const bj::value wrong_env = j(R"({"app":"web","env":"dev","team":"a"})");
  const bj::value legacy = j(R"({"app":"web","env":"prod","team":"a","legacy":"true"})");
  const bj::value db = j(R"({"app":"web","env":"prod","team":"a","tier":"db"})");
  EXPECT_TRUE(matches(*s, yes.if_object()));
  EXPECT_FALSE(matches(*s, wrong_env.if_object()));
  EXPECT_FALSE(matches(*s, legacy.if_object()));
  EXPECT_FALSE(matches(*s, db.if_object()));
}

TEST(LabelSelectorJson, Invalid) {
  auto error_of = [](std::string_view text) {
    auto s = from_json(text);
    return s ? std::string("(valid)") : s.error();
  };
  EXPECT_NE(error_of(R"("app=web")").find("must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"({"matchLabels":{"app":1}})").find("must be a string"), std::string::npos);
  EXPECT_NE(error_of(R"({"matchLabels":{"a b":"x"}})").find("\"a b\""), std::string::npos);
  EXPECT_NE(error_of(R"({"matchLabels":{"a":"-x"}})").find("\"-x\""), std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"key":"a","operator":"in","values":["x"]}]})")
                .find("not a valid label selector operator"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"key":"a","operator":"In"}]})").find("non-empty"), std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})").find("non-empty"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})").find("empty"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"operator":"Exists"}]})").find("matchExpressions[0].key"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":[{"key":"a","operator":"Exists"},{"key":"-","operator":"Exists"}]})")
                .find("matchExpressions[1].key"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"matchExpressions":{}})").find("must be a list"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Field selectors

field_selector field_ok(std::string_view text) {
  auto parsed = parse_field_selector(text);
  EXPECT_TRUE(parsed) << text << ": " << parsed.error();
  return parsed ? *parsed : field_selector{};
}

TEST(FieldSelectorParse, Forms) {
  EXPECT_TRUE(field_ok("").empty());
  auto s = field_ok("metadata.name=web,metadata.namespace!=kube-system,status.phase==Running");
  ASSERT_EQ(s.requirements.size(), 3u);
  EXPECT_EQ(s.requirements[0].field, "metadata.name");
  EXPECT_FALSE(s.requirements[0].negated);
  EXPECT_EQ(s.requirements[0].value, "web");
  EXPECT_EQ(s.requirements[1].field, "metadata.namespace");
  EXPECT_TRUE(s.requirements[1].negated);
  EXPECT_EQ(s.requirements[1].value, "kube-system");
  EXPECT_EQ(s.requirements[2].field, "status.phase");
  EXPECT_FALSE(s.requirements[2].negated);
  EXPECT_EQ(s.requirements[2].value, "Running");
}

TEST(FieldSelectorParse, EmptyValueAndEmptyTerms) {
  auto s = field_ok("spec.nodeName=,,metadata.name!=");
  ASSERT_EQ(s.requirements.size(), 2u);
  EXPECT_EQ(s.requirements[0].value, "");
  EXPECT_EQ(s.requirements[1].value, "");
  EXPECT_TRUE(s.requirements[1].negated);
}

TEST(FieldSelectorParse, Escapes) {
  auto s = field_ok(R"(metadata.name=a\,b\=c\\d,spec.x=y)");
  ASSERT_EQ(s.requirements.size(), 2u);
  EXPECT_EQ(s.requirements[0].value, R"(a,b=c\d)");
  EXPECT_EQ(s.requirements[1].field, "spec.x");
  EXPECT_EQ(s.requirements[1].value, "y");
}

TEST(FieldSelectorParse, Errors) {
  auto error_of = [](std::string_view text) {
    auto s = parse_field_selector(text);
    return s ? std::string("(valid)") : s.error();
  };
  EXPECT_NE(error_of("metadata.name").find("can't understand \"metadata.name\""), std::string::npos);
  EXPECT_NE(error_of("a=b,c").find("can't understand \"c\""), std::string::npos);
  EXPECT_NE(error_of("=x").find("names no field"), std::string::npos);
  EXPECT_NE(error_of("a=b=c").find("unescaped '='"), std::string::npos);
  EXPECT_NE(error_of(R"(a=b\x)").find("invalid escape sequence"), std::string::npos);
  EXPECT_NE(error_of(R"(a=b\)").find("lone"), std::string::npos);
}

const char* const pod = R"({"metadata":{"name":"web-1","namespace":"default","labels":{"app":"web"}},
  "spec":{"nodeName":"node-a","replicas":3,"ratio":1.5,"hostNetwork":true,"tags":["a"],"none":null},
  "status":{"phase":"Running"}})";

TEST(FieldValue, LooksUpDottedPaths) {
  const bj::value object = j(pod);
  EXPECT_EQ(field_value(object, "metadata.name"), "web-1");
  EXPECT_EQ(field_value(object, "status.phase"), "Running");
  EXPECT_EQ(field_value(object, "metadata.labels.app"), "web");
  EXPECT_EQ(field_value(object, "spec.replicas"), "3");
  EXPECT_EQ(field_value(object, "spec.ratio"), "1.5");
  EXPECT_EQ(field_value(object, "spec.hostNetwork"), "true");
  EXPECT_EQ(field_value(object, "spec.tags"), R"(["a"])");
  EXPECT_EQ(field_value(object, "spec.none"), "");
  EXPECT_EQ(field_value(object, "spec.missing"), "");
  EXPECT_EQ(field_value(object, "metadata.name.deeper"), "");
  EXPECT_EQ(field_value(object, "nothing.at.all"), "");
}

TEST(FieldSelectorMatch, ComparesFieldValues) {
  const bj::value object = j(pod);
  auto match = [&](std::string_view text) { return matches(field_ok(text), object); };
  EXPECT_TRUE(match(""));
  EXPECT_TRUE(match("metadata.name=web-1"));
  EXPECT_TRUE(match("metadata.name=web-1,metadata.namespace=default"));
  EXPECT_FALSE(match("metadata.name=web-1,metadata.namespace=other"));
  EXPECT_TRUE(match("metadata.namespace!=kube-system"));
  EXPECT_FALSE(match("status.phase!=Running"));
  EXPECT_TRUE(match("spec.replicas=3"));
  EXPECT_TRUE(match("spec.hostNetwork==true"));
  EXPECT_TRUE(match("spec.schedulerName="));  // absent compares as ""
  EXPECT_FALSE(match("spec.nodeName="));
  EXPECT_TRUE(match("spec.nodeName!="));
}

}  // namespace
}  // namespace krt::local::selectors_test
