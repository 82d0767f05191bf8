#include "lib/kube/codec_impl.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::kube {

template <>
const type_codec& codec_of<lease>() {
  static const type_codec c = make_codec<lease>(resources::leases);
  return c;
}

json::result<decoded_object> decode_object(const type_codec& codec, std::string& body) {
  decoded_object out;
  auto r = json::parse(body, [&](json::od::value v) -> json::result<void> {
    auto d = codec.decode(json::wrap(v));
    if (!d) return unexpected(std::move(d).error());
    out = std::move(*d);
    return {};
  });
  if (!r) return unexpected(std::move(r).error());
  return out;
}

json::result<decoded_list> decode_list(const type_codec& codec, std::string& body) {
  decoded_list out;
  auto r = json::parse(body, [&](json::od::value v) {
    return json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
      if (k == "metadata") return decode(f, out.meta);
      if (k == "items") {
        return json::for_each_element(f, [&](json::od::value item) -> json::result<void> {
          auto d = codec.decode(json::wrap(item));
          if (!d) return unexpected(std::move(d).error());
          out.items.push_back(std::move(*d));
          return {};
        });
      }
      return {};
    });
  });
  if (!r) return unexpected(std::move(r).error());
  return out;
}

}  // namespace krt::kube
