#pragma once
// The local API server manipulates objects as mutable JSON documents
// (Boost.JSON): patches, defaulting, pruning and metadata bookkeeping all edit
// the tree in place. The rest of the project decodes with simdjson; this DOM is
// for the local control plane only. The helpers below are the one copy of the
// small reads every part of it needs.
//
// Affinity: none (pure functions).

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace krt::local {

namespace bj = boost::json;

// ---- limits on what the server accepts and builds ----
//
// The real API server bounds requests and objects in these places; we match
// its numbers where it documents one:
//   - request bodies: 3 MiB (genericapiserver's MaxRequestBodyBytes default;
//     a larger body is answered 413 "Request entity too large: limit is
//     3145728");
//   - stored objects: 1.5 MiB (etcd's default --max-request-bytes, which the
//     real server meets as "etcdserver: request is too large");
//   - a JSON patch: at most 10000 operations (413), and its copy operations
//     may add at most 3 MiB in total (JSONPatchMaxCopyBytes);
//   - nesting: Go's encoding/json stops at 10000 levels. Our validators,
//     mergers and comparisons recurse, so every object the server accepts or
//     builds is held to 256 levels instead (a CRD schema 100 properties deep
//     uses about 200), and the database is read with the Go limit so that
//     anything stored before this limit still loads.
inline constexpr std::size_t max_request_body_bytes = 3 * 1024 * 1024;
inline constexpr std::size_t max_object_bytes = 3 * 512 * 1024;
inline constexpr std::size_t max_json_patch_operations = 10000;
inline constexpr std::size_t max_json_patch_copy_bytes = 3 * 1024 * 1024;
inline constexpr std::size_t max_json_depth = 256;
inline constexpr std::size_t max_stored_json_depth = 10000;

// Parses a request body or a stored object, refusing nesting deeper than
// `max_depth` (Boost.JSON's own default is 32, too shallow for CRD schemas).
bj::value parse_json(std::string_view text, boost::system::error_code& ec, std::size_t max_depth = max_json_depth);

// How deep and how large (bytes of its compact serialization, escapes not
// counted) a value is, found by a walk that stops as soon as either exceeds
// its limit, so the cost is bounded by the limits and not by the value.
struct json_extent {
  std::size_t depth = 0;  // a scalar is 0, [] or {} is 1
  std::size_t bytes = 0;
  bool within = true;     // false: a limit was exceeded (depth/bytes then say where the walk stopped)
};
json_extent measure_json(const bj::value& v, std::size_t depth_limit, std::size_t byte_limit);
json_extent measure_json(const bj::object& o, std::size_t depth_limit, std::size_t byte_limit);

// JSON equality as RFC 6902 "test" and CRD enum/uniqueness checks define it:
// numbers compare by value (1 == 1.0), objects ignore member order.
bool json_equal(const bj::value& a, const bj::value& b);

// The value at a path of object keys ({"spec", "template"}), or null.
const bj::value* field_at(const bj::object& o, std::initializer_list<std::string_view> keys);
// The string a value holds, or "" (null, absent or another type).
std::string string_of(const bj::value* v);
// The strings of an array, leaving out its other elements ([] for a
// non-array or null).
std::vector<std::string> strings_of(const bj::value* v);
// The integer a value holds, or `dflt`.
std::int64_t int_of(const bj::value* v, std::int64_t dflt);
// metadata.<field> as a string, or "".
std::string meta_string(const bj::object& obj, std::string_view field);

}  // namespace krt::local
