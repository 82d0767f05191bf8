#pragma once
// Decoding JSON into owned structs with simdjson On-Demand (DESIGN §4,
// STYLE rule 11): one parser per shard, nothing that points into the input
// escapes a decode call, every failure is an error value with a JSON path.
//
// Only decoder translation units include this header (simdjson is large).
//
// Affinity: shard_parser() is thread-local, i.e. one per shard; a document
// parsed with it is valid until that thread's next parse.

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/json/error.hpp"
#include "lib/json/value_ref.hpp"

namespace krt::json {

namespace od = simdjson::ondemand;

od::parser& shard_parser();

inline od::value& unwrap(value_ref v) { return *static_cast<od::value*>(v.impl); }
inline value_ref wrap(od::value& v) { return value_ref{&v}; }
error from_simdjson(simdjson::error_code code);

// Ensures `buf` has simdjson's padding allocated past its end (may reallocate).
void ensure_padding(std::string& buf);

// Primitive readers. A JSON null leaves `out` unchanged (Kubernetes emits
// null for empty fields).
result<void> read(od::value v, std::string& out);
result<void> read(od::value v, bool& out);
result<void> read(od::value v, std::int64_t& out);
result<void> read(od::value v, std::int32_t& out);
result<void> read(od::value v, double& out);
result<void> read(od::value v, std::vector<std::string>& out);
result<void> read(od::value v, std::map<std::string, std::string>& out);
template <typename T>
result<void> read(od::value v, std::optional<T>& out) {
  bool is_null = false;
  if (auto e = v.is_null().get(is_null)) return unexpected(from_simdjson(e));
  if (is_null) return {};
  T tmp{};
  auto r = read(v, tmp);
  if (!r) return r;
  out = std::move(tmp);
  return {};
}
// Stores the value's JSON text as is (objects/arrays/scalars).
result<void> read_raw(od::value v, std::string& out);
// An int-or-string (Kubernetes IntOrString / Quantity): the text of either.
result<void> read_int_or_string(od::value v, std::string& out);

bool is_null(od::value& v);
// True when the document has been consumed to its end (no trailing content).
bool at_end(od::document& doc);

// Calls f(key, value) for each field of an object; f returns result<void>.
// Errors get ".<key>" prefixed to their path. null is treated as {}.
template <typename F>
result<void> for_each_field(od::value v, F&& f) {
  if (is_null(v)) return {};
  od::object obj;
  if (auto e = v.get_object().get(obj)) return unexpected(from_simdjson(e));
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return unexpected(from_simdjson(e));
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return unexpected(from_simdjson(e));
    // Unescaped keys live in the parser's string buffer, which only grows
    // while a document is iterated: the view stays valid for the document.
    auto r = f(key, field.value());
    if (!r) {
      auto err = std::move(r).error();
      err.within("." + std::string(key));
      return unexpected(std::move(err));
    }
  }
  return {};
}

// Calls f(value) for each element of an array; errors get "[i]" prefixed.
// null is treated as [].
template <typename F>
result<void> for_each_element(od::value v, F&& f) {
  if (is_null(v)) return {};
  od::array arr;
  if (auto e = v.get_array().get(arr)) return unexpected(from_simdjson(e));
  std::size_t i = 0;
  for (auto elem_result : arr) {
    od::value elem;
    if (auto e = std::move(elem_result).get(elem)) return unexpected(from_simdjson(e));
    auto r = f(elem);
    if (!r) {
      auto err = std::move(r).error();
      err.within("[" + std::to_string(i) + "]");
      return unexpected(std::move(err));
    }
    ++i;
  }
  return {};
}

namespace detail {
// Iterates one document already handed to `parser` and runs f on its root.
template <typename F>
result<void> run_document(simdjson::simdjson_result<od::document> started, F& f) {
  od::document doc;
  if (auto e = std::move(started).get(doc)) return unexpected(from_simdjson(e));
  od::value root;
  if (auto e = doc.get_value().get(root)) return unexpected(from_simdjson(e));
  auto r = f(root);
  if (!r) return r;
  if (!at_end(doc)) return fail(errc::malformed, "trailing content after the JSON document");
  return {};
}
}  // namespace detail

// Parses `text` (padding is added if missing) as one JSON document whose root
// is an object or array and hands its root value to f. Trailing content is an
// error. The document is only valid during f.
template <typename F>
result<void> parse(std::string& text, F&& f) {
  ensure_padding(text);
  return detail::run_document(shard_parser().iterate(text), f);
}

// Same, for a view into a buffer that already has `capacity - text.size()` ≥
// SIMDJSON_PADDING readable bytes past the end (e.g. a watch stream buffer).
template <typename F>
result<void> parse_padded(std::string_view text, std::size_t capacity, F&& f) {
  return detail::run_document(shard_parser().iterate(text, capacity), f);
}

// Like parse(), on a second per-thread parser: for decoding a document while
// another (the one holding `text`'s origin) is still being iterated.
od::parser& nested_parser();
template <typename F>
result<void> parse_nested(std::string& text, F&& f) {
  ensure_padding(text);
  return detail::run_document(nested_parser().iterate(text), f);
}

// Decodes a whole document into T through ADL `decode(od::value, T&)`.
template <typename T>
result<T> decode_document(std::string& text) {
  T out{};
  auto r = parse(text, [&](od::value root) { return decode(root, out); });
  if (!r) return unexpected(std::move(r).error());
  return out;
}

}  // namespace krt::json
