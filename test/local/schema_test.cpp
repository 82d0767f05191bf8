// CRD structural schemas (local/apiserver/schema.hpp): compilation checks,
// defaulting, pruning, OpenAPI validation messages, list sets and maps,
// embedded resources and x-kubernetes-validations rules.

#include "local/apiserver/schema.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace krt::local {
namespace {

constexpr std::string_view crd_prefix = "spec.versions[0].schema.openAPIV3Schema";

schema_ptr schema_of(std::string_view json) {
  auto s = compile_schema(bj::parse(json), crd_prefix);
  if (!s) {
    std::string all;
    for (const auto& c : s.error()) all += c.reason + " " + c.field + ": " + c.message + "\n";
    ADD_FAILURE() << "schema did not compile:\n" << all;
    return nullptr;
  }
  return *s;
}

// "<reason> <field>: <message>" per cause, one per line.
std::string causes_text(const std::vector<field_cause>& causes) {
  std::string out;
  for (const auto& c : causes) out += c.reason + " " + c.field + ": " + c.message + "\n";
  return out;
}

std::string compile_errors(std::string_view json) {
  auto s = compile_schema(bj::parse(json), crd_prefix);
  if (s) return "<compiled>";
  return causes_text(s.error());
}

struct admitted {
  bj::value object;
  admission_result result;
  std::string errors() const { return causes_text(result.errors); }
};

admitted admit_json(const schema_ptr& s, std::string_view object, std::string_view old = {}) {
  admitted a;
  a.object = bj::parse(object);
  if (!s) return a;
  bj::value old_value = old.empty() ? bj::value() : bj::parse(old);
  a.result = admit(*s, a.object, old.empty() ? nullptr : &old_value);
  return a;
}

// A root object schema whose spec is `spec_schema`.
std::string with_spec(std::string_view spec_schema) {
  return R"({"type":"object","properties":{"apiVersion":{"type":"string"},"kind":{"type":"string"},)"
         R"("metadata":{"type":"object"},"spec":)" +
         std::string(spec_schema) + "}}";
}

// ------------------------------------------------------------------ compilation

TEST(SchemaCompile, AcceptsAStructuralSchema) {
  auto s = schema_of(with_spec(R"({"type":"object","description":"d","title":"t","example":{},
      "properties":{"a":{"type":"string","format":"email"},"b":{"type":"integer","format":"int32"}}})"));
  EXPECT_NE(s, nullptr);
}

TEST(SchemaCompile, RejectsNonStructuralSchemas) {
  EXPECT_EQ(compile_errors(R"({"properties":{}})"),
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at "
            "the root\n");
  EXPECT_EQ(compile_errors(R"({"type":"string"})"),
            "FieldValueInvalid spec.versions[0].schema.openAPIV3Schema.type: Invalid value: \"string\": must be "
            "object at the root\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"properties":{"x":{"type":"array"}}})")),
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].items: "
            "Required value: must be specified\n"
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must "
            "not be empty for specified object fields\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"array","items":{}})")),
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.properties[spec].items.type: Required value: "
            "must not be empty for specified array items\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"null"})")),
            "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Forbidden: type "
            "cannot be set to null, use nullable as an alternative\n"
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must "
            "not be empty for specified object fields\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"float"})")),
            "FieldValueNotSupported spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Unsupported "
            "value: \"float\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", "
            "\"string\"\n"
            "FieldValueRequired spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must "
            "not be empty for specified object fields\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"string","x-kubernetes-int-or-string":true})")),
            "FieldValueInvalid spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Invalid value: "
            "\"string\": must be empty if x-kubernetes-int-or-string is true\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"array","items":{"type":"string"},"uniqueItems":true})")),
            "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].uniqueItems: Forbidden: "
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","$ref":"#/x"})")),
            "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].$ref: Forbidden: $ref is "
            "not supported\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"string","pattern":"("})"))
                .rfind("FieldValueInvalid spec.versions[0].schema.openAPIV3Schema.properties[spec].pattern: Invalid "
                       "value: \"(\": must be a valid regular expression, but isn't: ",
                       0),
            0u);
  EXPECT_EQ(compile_errors(with_spec(
                R"({"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}})")),
            "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].additionalProperties: "
            "Forbidden: additionalProperties and properties are mutual exclusive\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","x-kubernetes-preserve-unknown-fields":false})")),
            "FieldValueInvalid "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-preserve-unknown-fields: Invalid "
            "value: false: must be true or undefined\n");
}

TEST(SchemaCompile, ValueValidationsMustStayStructural) {
  EXPECT_EQ(
      compile_errors(with_spec(R"({"type":"string","anyOf":[{"type":"string","pattern":"^a"},{"nullable":true}]})")),
      "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf[0].type: Forbidden: "
      "must be empty to be structural\n"
      "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf[1].nullable: "
      "Forbidden: must be false to be structural\n");
  // The two int-or-string forms Kubernetes allows.
  EXPECT_NE(
      schema_of(with_spec(
          R"({"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}],"pattern":"^[0-9]+$"})")),
      nullptr);
  EXPECT_NE(schema_of(with_spec(
                R"({"x-kubernetes-int-or-string":true,"allOf":[{"anyOf":[{"type":"integer"},{"type":"string"}]}]})")),
            nullptr);
}

TEST(SchemaCompile, RulesOnlyInAllOf) {
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","anyOf":[{"x-kubernetes-validations":[{"rule":"true"}]}]})")),
            "FieldValueForbidden spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf[0]: Forbidden: "
            "x-kubernetes-validations are only evaluated in allOf, not in anyOf, oneOf or not\n");
}

TEST(SchemaCompile, ListTypes) {
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"array","x-kubernetes-list-type":"map","items":{"type":"object"}})")),
            "FieldValueRequired "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-map-keys: Required value: "
            "must not be empty if x-kubernetes-list-type is map\n");
  EXPECT_EQ(
      compile_errors(with_spec(R"({"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
      "items":{"type":"object","properties":{"name":{"type":"string"}}}})")),
      "FieldValueInvalid "
      "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-map-keys: Invalid value: "
      "\"name\": entries must all be names of required properties or to have default values\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"array","x-kubernetes-list-type":"bag","items":{"type":"string"}})")),
            "FieldValueNotSupported spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-type: "
            "Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\"\n");
}

TEST(SchemaCompile, RejectsRulesOutsideTheCelSubset) {
  auto errors = compile_errors(with_spec(R"json({"type":"object","x-kubernetes-validations":[
      {"rule":"has(self.a)"},{"rule":"self.a.foo()"}]})json"));
  EXPECT_EQ(errors.rfind("FieldValueInvalid "
                         "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[1].rule: "
                         "Invalid value: \"self.a.foo()\": compilation failed: unsupported CEL expression: function "
                         "\"foo\" at 1:8 is not in the supported subset (has, size, ",
                         0),
            0u)
      << errors;
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","x-kubernetes-validations":[{"rule":"  "}]})")),
            "FieldValueRequired "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Required "
            "value: rule is not specified\n");
  EXPECT_EQ(
      compile_errors(with_spec(R"({"type":"object","x-kubernetes-validations":[{"rule":"true","reason":"Nope"}]})")),
      "FieldValueNotSupported "
      "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].reason: "
      "Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", "
      "\"FieldValueInvalid\", \"FieldValueRequired\"\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","properties":{"a":{"type":"string"}},
      "x-kubernetes-validations":[{"rule":"true","fieldPath":".b"}]})")),
            "FieldValueInvalid "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].fieldPath: Invalid "
            "value: \".b\": fieldPath must be a valid path: does not refer to a valid field\n");
  EXPECT_EQ(
      compile_errors(with_spec(R"({"type":"object","x-kubernetes-validations":[{"rule":"true","message":"a\nb"}]})")),
      "FieldValueInvalid "
      "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].message: Invalid "
      "value: \"a\\nb\": message must not contain line breaks\n");
  EXPECT_EQ(
      compile_errors(
          with_spec(
              R"json({"type":"object","x-kubernetes-validations":[{"rule":"true","messageExpression":"nope()"}]})json"))
          .rfind("FieldValueInvalid "
                 "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0]."
                 "messageExpression: Invalid value: \"nope()\": messageExpression compilation failed: "
                 "unsupported CEL expression: function \"nope\"",
                 0),
      0u);
  EXPECT_EQ(compile_errors(with_spec(
                R"({"type":"object","x-kubernetes-validations":[{"rule":"self == oldSelf","optionalOldSelf":true}]})")),
            "FieldValueForbidden "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].optionalOldSelf: "
            "Forbidden: optionalOldSelf is not supported by the local CEL subset\n");
}

TEST(SchemaCompile, TransitionRulesNeedCorrelatableValues) {
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","properties":{"list":{"type":"array",
      "items":{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf"}]}}}})")),
            "FieldValueInvalid "
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items.x-kubernetes-validations["
            "0].rule: Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the "
            "schema within spec.list\n");
  EXPECT_NE(schema_of(with_spec(R"({"type":"object","properties":{"list":{"type":"array",
      "items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}},
               "x-kubernetes-validations":[{"rule":"self == oldSelf"}]},
      "x-kubernetes-list-map-keys":["name"],"x-kubernetes-list-type":"map"}}})")),
            nullptr);
}

TEST(SchemaCompile, DefaultsMustBeValidAndKnown) {
  EXPECT_EQ(
      compile_errors(with_spec(R"({"type":"object","properties":{"n":{"type":"integer","maximum":5,"default":7}}})")),
      "FieldValueInvalid spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].default: Invalid "
      "value: 7: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].default in body should "
      "be less than or equal to 5\n");
  EXPECT_EQ(compile_errors(with_spec(R"({"type":"object","properties":{"o":{"type":"object",
      "properties":{"a":{"type":"string"}},"default":{"a":"x","b":1}}}})")),
            "FieldValueInvalid spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[o].default: Invalid "
            "value: {\"a\":\"x\",\"b\":1}: must not have unknown fields: .b\n");
}

// ------------------------------------------------------------------ defaulting and pruning

TEST(SchemaAdmit, AppliesDefaultsRecursivelyWhereTheParentExists) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "replicas":{"type":"integer","default":1},
      "port":{"type":"integer","default":9091},
      "workspace":{"type":"object","properties":{
          "kind":{"type":"string","default":"PersistentWorkspace"},
          "name":{"type":"string"}}},
      "nested":{"type":"object","default":{},"properties":{"x":{"type":"string","default":"dx"}}},
      "items":{"type":"array","items":{"type":"object","properties":{"w":{"type":"integer","default":3}}}},
      "labels":{"type":"object","additionalProperties":{"type":"object","properties":{"v":{"type":"string","default":"lv"}}}}}})"));
  auto a = admit_json(s, R"({"apiVersion":"v1","kind":"K","spec":{"port":1,"workspace":{"name":"w"},
      "items":[{},{"w":9}],"labels":{"a":{}}}})");
  EXPECT_EQ(a.errors(), "");
  EXPECT_EQ(bj::serialize(a.object.at("spec")),
            R"({"port":1,"workspace":{"name":"w","kind":"PersistentWorkspace"},"items":[{"w":3},{"w":9}],)"
            R"("labels":{"a":{"v":"lv"}},"nested":{"x":"dx"},"replicas":1})");
  // No spec, no spec defaults; an absent object without a default stays absent.
  auto b = admit_json(s, R"({"apiVersion":"v1","kind":"K"})");
  EXPECT_FALSE(b.object.as_object().contains("spec"));
  auto c = admit_json(s, R"({"spec":{}})");
  EXPECT_FALSE(c.object.at("spec").as_object().contains("workspace"));
}

TEST(SchemaAdmit, NullsAreDefaultedDroppedOrKeptWhenNullable) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "d":{"type":"string","default":"x"},
      "p":{"type":"string"},
      "n":{"type":"string","nullable":true},
      "l":{"type":"array","items":{"type":"string"}}}})"));
  auto a = admit_json(s, R"({"spec":{"d":null,"p":null,"n":null}})");
  EXPECT_EQ(a.errors(), "");
  EXPECT_EQ(bj::serialize(a.object.at("spec")), R"({"d":"x","n":null})");
  auto b = admit_json(s, R"({"spec":{"l":["a",null]}})");
  EXPECT_EQ(b.errors(),
            "FieldValueTypeInvalid spec.l[1]: Invalid value: \"null\": spec.l[1] in body must be of type string: "
            "\"null\"\n");
}

TEST(SchemaAdmit, PrunesUnknownFieldsAndReportsTheirPaths) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "a":{"type":"string"},
      "list":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"}}}},
      "map":{"type":"object","additionalProperties":{"type":"object","properties":{"v":{"type":"string"}}}},
      "open":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{
          "known":{"type":"object","properties":{"z":{"type":"string"}}}}},
      "anything":{"x-kubernetes-preserve-unknown-fields":true},
      "free":{"type":"object","additionalProperties":true,"properties":{"q":{"type":"object"}}}}})"));
  auto a = admit_json(s, R"({"apiVersion":"g/v1","kind":"K","metadata":{"name":"n","whatever":1},
      "status":{"x":1},
      "spec":{"a":"x","b":1,"list":[{"k":"1","extra":true}],"map":{"m":{"v":"1","w":2}},
      "open":{"mine":1,"known":{"z":"1","drop":1}},"anything":{"deep":{"x":1}},"free":{"any":{"x":1},"q":{"r":1}}}})");
  EXPECT_EQ(a.errors(), "");
  EXPECT_EQ(a.result.unknown_fields,
            (std::vector<std::string>{".status", ".spec.b", ".spec.list[0].extra", ".spec.map.m.w",
                                      ".spec.open.known.drop", ".spec.free.q.r"}));
  EXPECT_EQ(bj::serialize(a.object),
            R"({"apiVersion":"g/v1","kind":"K","metadata":{"name":"n","whatever":1},)"
            R"("spec":{"a":"x","list":[{"k":"1"}],"map":{"m":{"v":"1"}},"open":{"mine":1,"known":{"z":"1"}},)"
            R"("anything":{"deep":{"x":1}},"free":{"any":{"x":1},"q":{}}}})");
}

TEST(SchemaAdmit, EmbeddedResourcesKeepTypeAndObjectMetaAndNeedThem) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "template":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object"}}}}})"));
  auto a = admit_json(
      s, R"({"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{},"x":1}}})");
  EXPECT_EQ(a.errors(), "");
  EXPECT_EQ(a.result.unknown_fields, (std::vector<std::string>{".spec.template.x"}));
  EXPECT_EQ(bj::serialize(a.object.at("spec").at("template")),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}})");
  auto b = admit_json(s, R"({"spec":{"template":{"kind":"","spec":{}}}})");
  EXPECT_EQ(b.errors(),
            "FieldValueRequired spec.template.apiVersion: Required value: must not be empty\n"
            "FieldValueInvalid spec.template.kind: Invalid value: \"\": must not be empty\n");
}

// ------------------------------------------------------------------ OpenAPI validation

TEST(SchemaAdmit, RequiredTypesAndEnums) {
  auto s = schema_of(with_spec(R"({"type":"object","required":["runtime","mode"],"properties":{
      "runtime":{"type":"string"},"mode":{"type":"object"},
      "count":{"type":"integer"},"ratio":{"type":"number"},"flag":{"type":"boolean"},
      "phase":{"type":"string","enum":["Pending","Running"]},
      "level":{"type":"integer","enum":[1,2]}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{}})").errors(),
            "FieldValueRequired spec.runtime: Required value\nFieldValueRequired spec.mode: Required value\n");
  EXPECT_EQ(admit_json(s, R"({})").errors(), "");
  auto a = admit_json(
      s, R"({"spec":{"runtime":5,"mode":[],"count":1.5,"ratio":"x","flag":"true","phase":"Done","level":3}})");
  EXPECT_EQ(a.errors(),
            "FieldValueTypeInvalid spec.runtime: Invalid value: \"integer\": spec.runtime in body must be of type "
            "string: \"integer\"\n"
            "FieldValueTypeInvalid spec.mode: Invalid value: \"array\": spec.mode in body must be of type object: "
            "\"array\"\n"
            "FieldValueTypeInvalid spec.count: Invalid value: \"number\": spec.count in body must be of type integer: "
            "\"number\"\n"
            "FieldValueTypeInvalid spec.ratio: Invalid value: \"string\": spec.ratio in body must be of type number: "
            "\"string\"\n"
            "FieldValueTypeInvalid spec.flag: Invalid value: \"string\": spec.flag in body must be of type boolean: "
            "\"string\"\n"
            "FieldValueNotSupported spec.phase: Unsupported value: \"Done\": supported values: \"Pending\", "
            "\"Running\"\n"
            "FieldValueNotSupported spec.level: Unsupported value: 3: supported values: \"1\", \"2\"\n");
  // Integral doubles are integers; integers are numbers.
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"r","mode":{},"count":2.0,"ratio":3,"level":2}})").errors(), "");
}

TEST(SchemaAdmit, StringLimitsPatternsAndFormats) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "name":{"type":"string","minLength":2,"maxLength":3},
      "one":{"type":"string","maxLength":1},
      "runtime":{"type":"string","pattern":"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"},
      "at":{"type":"string","format":"date-time"},
      "day":{"type":"string","format":"date"},
      "blob":{"type":"string","format":"byte"},
      "id":{"type":"string","format":"uuid"},
      "ip":{"type":"string","format":"ipv4"},
      "mail":{"type":"string","format":"email"}}})"));
  // Lengths count code points, as Kubernetes does.
  EXPECT_EQ(admit_json(s, R"({"spec":{"name":"\u00e9\u00e9\u00e9"}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"name":"abcd","one":"ab"}})").errors(),
            "FieldValueTooLong spec.name: Too long: may not be more than 3 bytes\n"
            "FieldValueTooLong spec.one: Too long: may not be more than 1 byte\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"name":"a"}})").errors(),
            "FieldValueInvalid spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"-bad"}})").errors(),
            "FieldValueInvalid spec.runtime: Invalid value: \"-bad\": spec.runtime in body should match "
            "'^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$'\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"python3.12","at":"2024-02-29T10:00:00.5+02:00","day":"2024-12-31",
      "blob":"aGk=","id":"0f8fad5b-d9cb-469f-a165-70867728950e","ip":"10.0.0.1","mail":"not checked"}})")
                .errors(),
            "");
  EXPECT_EQ(
      admit_json(s, R"({"spec":{"at":"2023-02-29T10:00:00Z","day":"2024-1-1","blob":"a","id":"x","ip":"1.2.3.04"}})")
          .errors(),
      "FieldValueTypeInvalid spec.at: Invalid value: \"2023-02-29T10:00:00Z\": spec.at in body must be of type "
      "date-time: \"2023-02-29T10:00:00Z\"\n"
      "FieldValueTypeInvalid spec.day: Invalid value: \"2024-1-1\": spec.day in body must be of type date: "
      "\"2024-1-1\"\n"
      "FieldValueTypeInvalid spec.blob: Invalid value: \"a\": spec.blob in body must be of type byte: \"a\"\n"
      "FieldValueTypeInvalid spec.id: Invalid value: \"x\": spec.id in body must be of type uuid: \"x\"\n"
      "FieldValueTypeInvalid spec.ip: Invalid value: \"1.2.3.04\": spec.ip in body must be of type ipv4: "
      "\"1.2.3.04\"\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"at":"2024-01-01T25:00:00Z"}})").result.errors.size(), 1u);
  EXPECT_EQ(admit_json(s, R"({"spec":{"at":"2024-01-01T10:00:00"}})").result.errors.size(), 1u);
}

TEST(SchemaAdmit, NumericLimits) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "weight":{"type":"integer","minimum":1,"maximum":100},
      "ex":{"type":"integer","minimum":0,"exclusiveMinimum":true,"maximum":10,"exclusiveMaximum":true},
      "step":{"type":"integer","multipleOf":5},
      "ratio":{"type":"number","maximum":1.5,"multipleOf":0.5}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"weight":100,"ex":5,"step":15,"ratio":1.5}})").errors(), "");
  EXPECT_EQ(
      admit_json(s, R"({"spec":{"weight":101,"ex":10,"step":7,"ratio":1.75}})").errors(),
      "FieldValueInvalid spec.weight: Invalid value: 101: spec.weight in body should be less than or equal to 100\n"
      "FieldValueInvalid spec.ex: Invalid value: 10: spec.ex in body should be less than 10\n"
      "FieldValueInvalid spec.step: Invalid value: 7: spec.step in body should be a multiple of 5\n"
      "FieldValueInvalid spec.ratio: Invalid value: 1.75: spec.ratio in body should be a multiple of 0.5\n"
      "FieldValueInvalid spec.ratio: Invalid value: 1.75: spec.ratio in body should be less than or equal to "
      "1.5\n");
  EXPECT_EQ(
      admit_json(s, R"({"spec":{"weight":0,"ex":0}})").errors(),
      "FieldValueInvalid spec.weight: Invalid value: 0: spec.weight in body should be greater than or equal to 1\n"
      "FieldValueInvalid spec.ex: Invalid value: 0: spec.ex in body should be greater than 0\n");
}

TEST(SchemaAdmit, ArrayAndObjectSizes) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "args":{"type":"array","minItems":1,"maxItems":2,"items":{"type":"string","maxLength":2}},
      "outputs":{"type":"object","minProperties":1,"maxProperties":2,"additionalProperties":{"type":"string"}}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"args":["a"],"outputs":{"k":"v"}}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"args":["a","b","ccc"],"outputs":{"a":"1","b":"2","c":3}}})").errors(),
            "FieldValueTooLong spec.args[2]: Too long: may not be more than 2 bytes\n"
            "FieldValueTooMany spec.args: Too many: 3: must have at most 2 items\n"
            "FieldValueTooMany spec.outputs: Too many: 3: must have at most 2 items\n"
            "FieldValueTypeInvalid spec.outputs.c: Invalid value: \"integer\": spec.outputs.c in body must be of type "
            "string: \"integer\"\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"args":[],"outputs":{}}})").errors(),
            "FieldValueInvalid spec.args: Invalid value: 0: spec.args in body should have at least 1 items\n"
            "FieldValueInvalid spec.outputs: Invalid value: 0: spec.outputs in body should have at least 1 "
            "properties\n");
}

TEST(SchemaAdmit, IntOrStringAndNullable) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "quantity":{"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}]},
      "maybe":{"type":"object","nullable":true}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"quantity":2,"maybe":null}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"quantity":"500m"}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"quantity":true}})").errors(),
            "FieldValueTypeInvalid spec.quantity: Invalid value: \"boolean\": spec.quantity in body must be of type "
            "integer,string: \"boolean\"\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"quantity":1.5}})").result.errors.size(), 1u);
}

TEST(SchemaAdmit, ListSetsAndMapsRejectDuplicates) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
      "conditions":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
          "items":{"type":"object","required":["type"],"properties":{"type":{"type":"string"},"status":{"type":"string"}}}},
      "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port","protocol"],
          "items":{"type":"object","required":["port"],"properties":{"port":{"type":"integer"},
                   "protocol":{"type":"string","default":"TCP"}}}}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"tags":["a","b"],"conditions":[{"type":"A"},{"type":"B"}],
      "ports":[{"port":80},{"port":80,"protocol":"UDP"}]}})")
                .errors(),
            "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"tags":["a","b","a","a"],
      "conditions":[{"type":"Ready","status":"True"},{"type":"Ready","status":"False"}],
      "ports":[{"port":80},{"port":80,"protocol":"TCP"}]}})")
                .errors(),
            "FieldValueDuplicate spec.tags[2]: Duplicate value: \"a\"\n"
            "FieldValueDuplicate spec.conditions[1]: Duplicate value: map[string]interface {}{\"type\":\"Ready\"}\n"
            "FieldValueDuplicate spec.ports[1]: Duplicate value: map[string]interface "
            "{}{\"port\":80, \"protocol\":\"TCP\"}\n");
}

TEST(SchemaAdmit, Junctors) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "all":{"type":"string","allOf":[{"minLength":2},{"pattern":"^a"}]},
      "any":{"type":"string","anyOf":[{"pattern":"^a"},{"pattern":"^b"}]},
      "one":{"type":"integer","oneOf":[{"minimum":5},{"maximum":10}]},
      "not":{"type":"string","not":{"enum":["forbidden"]}}}})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"all":"ab","any":"bx","one":2,"not":"ok"}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"all":"b","any":"cx","one":7,"not":"forbidden"}})").errors(),
            "FieldValueInvalid spec.all: Invalid value: \"b\": spec.all in body should be at least 2 chars long\n"
            "FieldValueInvalid spec.all: Invalid value: \"b\": spec.all in body should match '^a'\n"
            "FieldValueInvalid <nil>: Invalid value: \"\": \"spec.all\" must validate all the schemas (allOf). None "
            "validated\n"
            "FieldValueInvalid <nil>: Invalid value: \"\": \"spec.any\" must validate at least one schema (anyOf)\n"
            "FieldValueInvalid spec.any: Invalid value: \"cx\": spec.any in body should match '^a'\n"
            "FieldValueInvalid <nil>: Invalid value: \"\": \"spec.one\" must validate one and only one schema "
            "(oneOf). Found 2 valid alternatives\n"
            "FieldValueInvalid <nil>: Invalid value: \"\": \"spec.not\" must not validate the schema (not)\n");
}

// ------------------------------------------------------------------ x-kubernetes-validations

// The Run spec rules (SPEC §1), as the Run CRD writes them.
std::string run_schema() {
  return with_spec(R"json({"type":"object","required":["runtime","mode"],
    "properties":{
      "runtime":{"type":"string","minLength":1,"maxLength":63},
      "cancelRequested":{"type":"boolean"},
      "timeout":{"type":"string"},
      "source":{"type":"object","properties":{
          "inline":{"type":"string"},"inlinePath":{"type":"string"},"repoURL":{"type":"string"},"commitSHA":{"type":"string"}},
        "x-kubernetes-validations":[
          {"rule":"!(has(self.inline) && has(self.repoURL))","message":"inline and repoURL are mutually exclusive"},
          {"rule":"!has(self.commitSHA) || has(self.repoURL)","message":"commitSHA requires repoURL"},
          {"rule":"!has(self.inlinePath) || (!self.inlinePath.startsWith('/') && self.inlinePath.split('/').all(s, s != '' && s != '.' && s != '..'))",
           "message":"inlinePath must be a relative path without empty, '.' or '..' segments"}]},
      "mode":{"type":"object","properties":{
          "task":{"type":"object","properties":{"entrypoint":{"type":"string"},"args":{"type":"array","items":{"type":"string"}}}},
          "function":{"type":"object","properties":{"handler":{"type":"string"}}}},
        "x-kubernetes-validations":[{"rule":"has(self.task) != has(self.function)","message":"exactly one of task or function must be set"}]}},
    "x-kubernetes-validations":[
      {"rule":"!has(self.mode.task) || !has(self.mode.task.entrypoint) || (has(self.source) && has(self.source.inline)) || (!self.mode.task.entrypoint.startsWith('/') && !self.mode.task.entrypoint.split('/').exists(segment, segment == '..'))",
       "message":"mode.task.entrypoint must be a relative path that does not contain '..'"},
      {"rule":"self.runtime == oldSelf.runtime && has(self.source) == has(oldSelf.source) && (!has(self.source) || self.source == oldSelf.source) && self.mode == oldSelf.mode && has(self.timeout) == has(oldSelf.timeout) && (!has(self.timeout) || self.timeout == oldSelf.timeout)",
       "message":"runtime, source, mode, env, timeout, and retryPolicy are immutable after Run creation"},
      {"rule":"!has(oldSelf.cancelRequested) || !oldSelf.cancelRequested || (has(self.cancelRequested) && self.cancelRequested)",
       "message":"cancelRequested may not transition from true to false"}]})json");
}

TEST(SchemaRules, RunSpecRulesOnCreate) {
  auto s = schema_of(run_schema());
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"python","mode":{"task":{"entrypoint":"main.py"}},
      "source":{"repoURL":"https://x","commitSHA":"abc"}}})")
                .errors(),
            "");
}

TEST(SchemaRules, RunSpecRuleMessages) {
  auto s = schema_of(run_schema());
  EXPECT_EQ(admit_json(s, R"json({"spec":{"runtime":"python","mode":{"task":{},"function":{}},
      "source":{"inline":"print()","repoURL":"https://x"}}})json")
                .errors(),
            "FieldValueInvalid spec.mode: Invalid value: exactly one of task or function must be set\n"
            "FieldValueInvalid spec.source: Invalid value: inline and repoURL are mutually exclusive\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"python","mode":{"task":{"entrypoint":"a/../b"}},
      "source":{"commitSHA":"abc","inlinePath":"a//b"}}})")
                .errors(),
            "FieldValueInvalid spec: Invalid value: mode.task.entrypoint must be a relative path that does not "
            "contain '..'\n"
            "FieldValueInvalid spec.source: Invalid value: commitSHA requires repoURL\n"
            "FieldValueInvalid spec.source: Invalid value: inlinePath must be a relative path without empty, '.' or "
            "'..' segments\n");
  // The entrypoint rule is skipped when the source is inline.
  EXPECT_EQ(admit_json(s, R"json({"spec":{"runtime":"python","mode":{"task":{"entrypoint":"/abs"}},
      "source":{"inline":"print()"}}})json")
                .errors(),
            "");
}

TEST(SchemaRules, TransitionRulesRunOnlyOnUpdate) {
  auto s = schema_of(run_schema());
  const char* old = R"({"spec":{"runtime":"python","mode":{"task":{}},"cancelRequested":true,"timeout":"1m"}})";
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"go","mode":{"task":{}}}})").errors(), "");
  EXPECT_EQ(
      admit_json(s, R"({"spec":{"runtime":"python","mode":{"task":{}},"cancelRequested":true,"timeout":"1m"}})", old)
          .errors(),
      "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"go","mode":{"task":{}},"cancelRequested":false}})", old).errors(),
            "FieldValueInvalid spec: Invalid value: runtime, source, mode, env, timeout, and retryPolicy are immutable "
            "after Run creation\n"
            "FieldValueInvalid spec: Invalid value: cancelRequested may not transition from true to false\n");
  // No old spec: nothing to compare the new one with.
  EXPECT_EQ(admit_json(s, R"({"spec":{"runtime":"go","mode":{"task":{}}}})", R"({"metadata":{}})").errors(), "");
}

TEST(SchemaRules, DefaultMessagesEvaluationErrorsReasonsAndFieldPaths) {
  auto s = schema_of(with_spec(R"json({"type":"object","properties":{
      "name":{"type":"string","x-kubernetes-validations":[{"rule":"self.size() <= 3"}]},
      "labels":{"type":"object","additionalProperties":{"type":"string"}},
      "list":{"type":"array","items":{"type":"string"},"x-kubernetes-validations":[
          {"rule":"self.all(x, x != 'dup')","reason":"FieldValueDuplicate"}]}},
    "x-kubernetes-validations":[
      {"rule":"self.a == 1"},
      {"rule":"has(self.name)","reason":"FieldValueRequired","message":"name is required","fieldPath":".name"},
      {"rule":"!has(self.labels) || !('bad' in self.labels)","reason":"FieldValueForbidden","message":"bad label",
       "fieldPath":".labels['bad']"},
      {"rule":"self.b + 1 > 0","message":"b must be positive"},
      {"rule":"!has(self.labels) || self.labels.size() < 2","messageExpression":"'too many labels: ' + string(self.labels.size())"},
      {"rule":"!has(self.name) || self.name + 1 == 2"}]})json"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"name":"toolong","labels":{"bad":"x","ok":"y"},"list":["dup"]}})").errors(),
            "FieldValueInvalid spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 1\n"
            "FieldValueForbidden spec.labels[bad]: Forbidden: bad label\n"
            "FieldValueInvalid spec: Invalid value: \"object\": no such key: b evaluating rule: b must be positive\n"
            "FieldValueInvalid spec: Invalid value: too many labels: 2\n"
            "FieldValueInvalid spec: Invalid value: \"object\": 'no such overload: _+_(string, int)': call arguments "
            "did not match a supported operator, function or macro signature for rule: !has(self.name) || self.name "
            "+ 1 == 2\n"
            "FieldValueInvalid spec.name: Invalid value: \"toolong\": failed rule: self.size() <= 3\n"
            "FieldValueDuplicate spec.list: Duplicate value\n");
  EXPECT_EQ(admit_json(s, R"({"spec":{"labels":{}}})").errors(),
            "FieldValueInvalid spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 1\n"
            "FieldValueRequired spec.name: Required value: name is required\n"
            "FieldValueInvalid spec: Invalid value: \"object\": no such key: b evaluating rule: b must be positive\n");
}

TEST(SchemaRules, SchemaErrorsThatBlockRulesAreReportedOnce) {
  auto s = schema_of(with_spec(
      R"({"type":"object","required":["a"],"properties":{"a":{"type":"string"},"n":{"type":"integer","maximum":1}},
      "x-kubernetes-validations":[{"rule":"false","message":"never"}]})"));
  EXPECT_EQ(admit_json(s, R"({"spec":{}})").errors(),
            "FieldValueRequired spec.a: Required value\n"
            "FieldValueInvalid <nil>: Invalid value: \"null\": some validation rules were not checked because the "
            "object was invalid; correct the existing errors to complete validation\n");
  // Invalid (not blocking) schema errors still let rules run.
  EXPECT_EQ(admit_json(s, R"({"spec":{"a":"x","n":5}})").errors(),
            "FieldValueInvalid spec.n: Invalid value: 5: spec.n in body should be less than or equal to 1\n"
            "FieldValueInvalid spec: Invalid value: never\n");
}

TEST(SchemaRules, ListMapItemsCorrelateWithOldItemsByKey) {
  auto s = schema_of(with_spec(R"({"type":"object","properties":{
      "conditions":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
        "items":{"type":"object","required":["type"],"properties":{"type":{"type":"string"},"status":{"type":"string"}},
          "x-kubernetes-validations":[{"rule":"self.status == oldSelf.status || oldSelf.status != 'Final'",
                                       "message":"a Final condition is immutable"}]}},
      "settings":{"type":"object","additionalProperties":{"type":"string",
          "x-kubernetes-validations":[{"rule":"self == oldSelf","message":"settings are immutable"}]}}}})"));
  const char* old =
      R"({"spec":{"conditions":[{"type":"A","status":"Final"},{"type":"B","status":"x"}],"settings":{"k":"v"}}})";
  EXPECT_EQ(
      admit_json(
          s,
          R"({"spec":{"conditions":[{"type":"B","status":"y"},{"type":"A","status":"Final"},{"type":"C","status":"z"}],
      "settings":{"k":"v","new":"n"}}})",
          old)
          .errors(),
      "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"conditions":[{"type":"B","status":"y"},{"type":"A","status":"Open"}],
      "settings":{"k":"changed"}}})",
                       old)
                .errors(),
            "FieldValueInvalid spec.conditions[1]: Invalid value: a Final condition is immutable\n"
            "FieldValueInvalid spec.settings[k]: Invalid value: \"changed\": settings are immutable\n");
}

TEST(SchemaRules, RulesInAllOfAndOnTheRoot) {
  auto s = schema_of(R"json({"type":"object","properties":{"metadata":{"type":"object"},"spec":{"type":"object",
      "properties":{"x":{"type":"integer"}},"allOf":[{"x-kubernetes-validations":[{"rule":"self.x > 0","message":"x must be positive"}]}]}},
      "x-kubernetes-validations":[{"rule":"self.metadata.name.startsWith('run-')","message":"names start with run-"}]})json");
  EXPECT_EQ(admit_json(s, R"({"metadata":{"name":"run-1"},"spec":{"x":1}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"metadata":{"name":"job-1"},"spec":{"x":0}})").errors(),
            "FieldValueInvalid <nil>: Invalid value: names start with run-\n"
            "FieldValueInvalid spec: Invalid value: x must be positive\n");
}

TEST(SchemaRules, NullValuesAreNotValidatedByRules) {
  auto s = schema_of(with_spec(R"json({"type":"object","properties":{"o":{"type":"object","nullable":true,
      "x-kubernetes-validations":[{"rule":"has(self.a)","message":"a is required"}]}}})json"));
  EXPECT_EQ(admit_json(s, R"({"spec":{"o":null}})").errors(), "");
  EXPECT_EQ(admit_json(s, R"({"spec":{"o":{}}})").errors(), "FieldValueInvalid spec.o: Invalid value: a is required\n");
}

}  // namespace
}  // namespace krt::local
