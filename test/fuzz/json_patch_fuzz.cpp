// The patch engine (local/apiserver/patch.cpp): JSON patch, merge patch and
// strategic merge patch applied to a fixed object. The first byte picks the
// kind; the rest is the patch as a client would send it. Every outcome is a
// result or an error string: no crash, no unbounded growth (the copy budget).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "local/apiserver/json.hpp"
#include "local/apiserver/patch.hpp"

namespace {

const char* const target_text = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"},
  "finalizers":["x"]},"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"E","value":"1"}],
  "ports":[{"containerPort":80,"protocol":"TCP"}]}],"volumes":[{"name":"v","emptyDir":{}}]},
  "data":{"list":[1,2,3],"nested":{"deep":[{"k":"v"}]}}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  using namespace krt::local;
  boost::system::error_code ec;
  bj::value patch = parse_json(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), ec);
  if (ec) return 0;
  bj::value target = parse_json(target_text, ec);
  switch (data[0] % 3) {
    case 0:
      (void)apply_json_patch(target, patch);
      break;
    case 1:
      apply_merge_patch(target, patch);
      break;
    default:
      (void)apply_strategic_merge_patch(target, patch, "Pod");
      break;
  }
  (void)bj::serialize(target);
  return 0;
}
