// Label and field selectors (local/apiserver/selectors.cpp), as given in a
// list's ?labelSelector= and ?fieldSelector=, and a LabelSelector object as
// written in a Deployment; each matched against a fixed object.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "local/apiserver/json.hpp"
#include "local/apiserver/selectors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace krt::local;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const bj::value object = [] {
    boost::system::error_code ec;
    return parse_json(R"({"metadata":{"name":"n","namespace":"ns","labels":{"app":"web","tier":"1"}},
      "status":{"phase":"Running","assignedPod":"p"}})", ec);
  }();
  const bj::object* labels = &object.at("metadata").at("labels").as_object();
  if (auto l = parse_label_selector(text)) (void)matches(*l, labels);
  if (auto f = parse_field_selector(text)) (void)matches(*f, object);
  (void)label_key_error(text);
  (void)label_value_error(text);
  (void)field_value(object, text);
  boost::system::error_code ec;
  bj::value v = parse_json(text, ec);
  if (!ec)
    if (auto l = label_selector_from_json(v)) (void)matches(*l, labels);
  return 0;
}
