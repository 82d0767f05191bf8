#pragma once
// For decoder translation units only: defines a type_codec from an ADL
// `decode(json::od::value, T&)` and a resource descriptor.

#include "lib/json/decode.hpp"
#include "lib/kube/codec.hpp"

namespace krt::kube {

template <typename T>
json::result<decoded_object> decode_erased(json::value_ref v) {
  auto obj = std::make_shared<T>();
  auto r = decode(json::unwrap(v), *obj);
  if (!r) return unexpected(std::move(r).error());
  const object_meta* meta = &obj->metadata;
  return decoded_object{std::move(obj), meta};
}

template <typename T>
type_codec make_codec(const resource& res) {
  return type_codec{&res, &decode_erased<T>};
}

}  // namespace krt::kube
