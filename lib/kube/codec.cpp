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

bool read_identity(std::string_view text, undecodable_object& out) {
  std::string copy(text);
  auto r = json::parse(copy, [&](json::od::value v) {
    return json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
      if (k != "metadata") return {};
      return json::for_each_field(f, [&](std::string_view mk, json::od::value mf) -> json::result<void> {
        std::string* into = mk == "namespace" ? &out.namespace_
                            : mk == "name"    ? &out.name
                            : mk == "resourceVersion" ? &out.resource_version
                                                      : nullptr;
        if (into == nullptr) return {};
        std::string_view sv;
        if (!mf.get_string().get(sv)) *into = std::string(sv);
        return {};
      });
    });
  });
  return static_cast<bool>(r);
}

namespace {

// The slow path, taken only when a list does not decode as a whole: each item
// is decoded on its own, and those that fail are reported, not fatal.
json::result<decoded_list> decode_list_item_by_item(const type_codec& codec, std::string& body) {
  decoded_list out;
  std::vector<std::string> texts;
  // json::parse's parser is per thread: collect the items' text first, and
  // decode each after this pass is over.
  auto r = json::parse(body, [&](json::od::value v) {
    return json::for_each_field(v, [&](std::string_view k, json::od::value f) -> json::result<void> {
      if (k == "metadata") return decode(f, out.meta);
      if (k == "items") {
        return json::for_each_element(f, [&](json::od::value item) -> json::result<void> {
          json::od::object obj;
          if (auto e = item.get_object().get(obj)) return unexpected(json::from_simdjson(e));
          std::string_view raw;
          if (auto e = obj.raw_json().get(raw)) return unexpected(json::from_simdjson(e));
          texts.emplace_back(raw);
          return {};
        });
      }
      return {};
    });
  });
  if (!r) return unexpected(std::move(r).error());
  for (auto& text : texts) {
    std::string copy = text;
    auto d = decode_object(codec, copy);
    if (d) {
      out.items.push_back(std::move(*d));
      continue;
    }
    undecodable_object u;
    u.error = d.error().describe();
    read_identity(text, u);
    out.skipped.push_back(std::move(u));
  }
  return out;
}

}  // namespace

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
  if (!r) {
    auto tolerant = decode_list_item_by_item(codec, body);
    if (tolerant) return tolerant;
    return unexpected(std::move(r).error());
  }
  return out;
}

}  // namespace krt::kube
