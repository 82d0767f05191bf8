#pragma once
// Type erasure between typed resources (Run, Runtime, Pod, Lease, ...) and
// the generic machinery (client decode helpers, watch, informer): a
// type_codec decodes one object into a shared immutable T and exposes its
// ObjectMeta. Each type declares `template <> const type_codec& codec_of<T>();`
// in its header and defines it in its decoder translation unit, so simdjson
// stays out of every other file.
//
// Affinity: codecs are immutable; decode() uses the calling shard's parser.

#include <memory>

#include "lib/json/error.hpp"
#include "lib/json/value_ref.hpp"
#include "lib/kube/types.hpp"

namespace krt::kube {

// A decoded object shared by the cache, events and handlers. Never mutated.
struct decoded_object {
  std::shared_ptr<const void> object;
  const object_meta* meta = nullptr;
  explicit operator bool() const { return object != nullptr; }
};

struct type_codec {
  const resource* res = nullptr;
  json::result<decoded_object> (*decode)(json::value_ref value) = nullptr;
};

template <typename T>
const type_codec& codec_of();

template <>
const type_codec& codec_of<lease>();

template <typename T>
std::shared_ptr<const T> object_as(const decoded_object& d) {
  return std::static_pointer_cast<const T>(d.object);
}

// An object the server sent that is well-formed JSON but not a valid object
// of the type (a field of the wrong type, a malformed ObjectMeta): its
// identity, read leniently, and why it failed.
struct undecodable_object {
  std::string namespace_;
  std::string name;
  std::string resource_version;
  std::string error;
};

struct decoded_list {
  list_meta meta;
  std::vector<decoded_object> items;
  // Items left out because they do not decode; one bad object must not hide
  // the rest of the list from a controller.
  std::vector<undecodable_object> skipped;
};

// The identity of an object in `text` (its metadata's namespace, name and
// resourceVersion, each read only if it is a string), for reporting an object
// that does not decode. False if `text` is not a JSON object.
bool read_identity(std::string_view text, undecodable_object& out);

// Decode a response body (padding is added to `body` if missing).
json::result<decoded_object> decode_object(const type_codec& codec, std::string& body);
json::result<decoded_list> decode_list(const type_codec& codec, std::string& body);

}  // namespace krt::kube
