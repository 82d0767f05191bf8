// The CEL subset of CRD validation rules (local/apiserver/cel.cpp): compile
// the input as an expression over self and oldSelf, then evaluate it against
// fixed values. Errors are results; evaluation is bounded.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "local/apiserver/cel.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace krt::local;
  static const bj::value self = [] {
    boost::system::error_code ec;
    return parse_json(R"({"spec":{"replicas":3,"name":"web","tags":["a","b"],"limits":{"cpu":"2","m":1.5},
      "image":"kruntimes/bash-runtime:0.1.0","enabled":true,"nothing":null}})", ec);
  }();
  static const bj::value old_self = [] {
    boost::system::error_code ec;
    return parse_json(R"({"spec":{"replicas":1,"name":"web","tags":[]}})", ec);
  }();
  constexpr std::array<std::string_view, 2> vars{"self", "oldSelf"};
  auto program = cel::compile(std::string_view(reinterpret_cast<const char*>(data), size), vars);
  if (!program) return 0;
  const std::array<cel::binding, 2> bindings{cel::binding{"self", &self}, cel::binding{"oldSelf", &old_self}};
  (void)(*program)->evaluate(bindings);
  (void)(*program)->evaluate_bool(bindings);
  return 0;
}
