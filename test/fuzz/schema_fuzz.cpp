// CRD structural schemas (local/apiserver/schema.cpp). First byte even: the
// input is an openAPIV3Schema to compile (and, when it compiles, admit a fixed
// object against). Odd: the input is an object admitted, on create and on
// update, against a fixed schema with defaults, enums, list-map keys,
// formats and x-kubernetes-validations rules.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "local/apiserver/schema.hpp"

namespace {

const char* const schema_text = R"({"type":"object","properties":{
  "spec":{"type":"object","required":["runtime"],"properties":{
    "runtime":{"type":"string","minLength":1,"maxLength":63,"pattern":"^[a-z0-9-]+$"},
    "mode":{"type":"string","enum":["task","function"],"default":"task"},
    "timeout":{"type":"string","format":"duration"},
    "replicas":{"type":"integer","minimum":0,"maximum":100},
    "env":{"type":"array","maxItems":64,"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
      "items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"value":{"type":"string"}}}},
    "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
    "extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
    "labels":{"type":"object","additionalProperties":{"type":"string"}}},
    "x-kubernetes-validations":[{"rule":"self.runtime == oldSelf.runtime","message":"runtime is immutable"},
      {"rule":"!has(self.replicas) || self.replicas >= 0"}]},
  "status":{"type":"object","properties":{"phase":{"type":"string"}}}}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  using namespace krt::local;
  static const schema_ptr fixed = [] {
    boost::system::error_code ec;
    auto s = compile_schema(parse_json(schema_text, ec), "schema");
    return s ? *s : nullptr;
  }();
  if (!fixed) __builtin_trap();  // the fixed schema must compile
  boost::system::error_code ec;
  bj::value input = parse_json(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), ec);
  if (ec) return 0;
  if (data[0] % 2 == 0) {
    auto compiled = compile_schema(input, "schema");
    if (!compiled) return 0;
    bj::value obj = parse_json(R"({"apiVersion":"x/v1","kind":"X","metadata":{"name":"n"},"spec":{"a":1}})", ec);
    (void)admit(**compiled, obj, nullptr);
    return 0;
  }
  bj::value created = input;
  (void)admit(*fixed, created, nullptr);
  bj::value updated = input;
  bj::value old = parse_json(R"({"spec":{"runtime":"bash","replicas":1}})", ec);
  (void)admit(*fixed, updated, &old);
  return 0;
}
