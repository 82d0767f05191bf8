#pragma once
// The local API server manipulates objects as mutable JSON documents
// (Boost.JSON): patches, defaulting, pruning and metadata bookkeeping all edit
// the tree in place. The rest of the project decodes with simdjson; this DOM is
// for the local control plane only. The helpers below are the one copy of the
// small reads every part of it needs.
//
// Affinity: none (pure functions).

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace krt::local {

namespace bj = boost::json;

// JSON equality as RFC 6902 "test" and CRD enum/uniqueness checks define it:
// numbers compare by value (1 == 1.0), objects ignore member order.
bool json_equal(const bj::value& a, const bj::value& b);

// The value at a path of object keys ({"spec", "template"}), or null.
const bj::value* field_at(const bj::object& o, std::initializer_list<std::string_view> keys);
// The string a value holds, or "" (null, absent or another type).
std::string string_of(const bj::value* v);
// The integer a value holds, or `dflt`.
std::int64_t int_of(const bj::value* v, std::int64_t dflt);
// metadata.<field> as a string, or "".
std::string meta_string(const bj::object& obj, std::string_view field);

}  // namespace krt::local
