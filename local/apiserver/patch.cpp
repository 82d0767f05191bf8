// The three PATCH formats. JSON merge patch and JSON patch follow their RFCs;
// strategic merge patch follows k8s.io/apimachinery/pkg/util/strategicpatch
// (mergeMap / mergeSlice with MergeParallelList and IgnoreUnmatchedNulls, as
// the API server applies it), with the patch metadata of the Go struct tags
// replaced by a table keyed on field name and parent field (smp_list_meta).
//
// Affinity: none (pure functions).

#include "local/apiserver/patch.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

namespace krt::local {
namespace {

using status = krt::result<void, std::string>;

status fail(std::string message) { return krt::unexpected(std::move(message)); }

// ---------------------------------------------------------------------------
// JSON patch (RFC 6902) and JSON pointer (RFC 6901)

using pointer = std::vector<std::string>;

krt::result<pointer, std::string> parse_pointer(std::string_view text) {
  pointer tokens;
  if (text.empty()) return tokens;
  if (text.front() != '/') return krt::unexpected(std::string("a JSON pointer must be empty or start with '/'"));
  std::size_t pos = 1;
  while (true) {
    const std::size_t end = std::min(text.find('/', pos), text.size());
    std::string token;
    for (std::size_t i = pos; i < end; ++i) {
      if (text[i] != '~') {
        token += text[i];
        continue;
      }
      // Decoding ~1 before ~0 would turn "~01" into "/" instead of "~1"; a
      // single left-to-right pass decodes each escape exactly once.
      if (i + 1 < end && text[i + 1] == '0') {
        token += '~';
      } else if (i + 1 < end && text[i + 1] == '1') {
        token += '/';
      } else {
        return krt::unexpected(std::string("invalid escape in JSON pointer (only ~0 and ~1 are allowed)"));
      }
      ++i;
    }
    tokens.push_back(std::move(token));
    if (end == text.size()) break;
    pos = end + 1;
  }
  return tokens;
}

// An array index token: digits without leading zeros ("-" is handled by add).
std::optional<std::size_t> parse_index(std::string_view token) {
  if (token.empty() || (token.size() > 1 && token.front() == '0')) return std::nullopt;
  std::size_t index = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
  if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
  return index;
}

// The value at `tokens[0, count)`, or null when the path does not exist.
bj::value* resolve(bj::value& root, const pointer& tokens, std::size_t count) {
  bj::value* at = &root;
  for (std::size_t i = 0; i < count; ++i) {
    if (auto* obj = at->if_object()) {
      auto it = obj->find(tokens[i]);
      if (it == obj->end()) return nullptr;
      at = &it->value();
    } else if (auto* arr = at->if_array()) {
      auto index = parse_index(tokens[i]);
      if (!index || *index >= arr->size()) return nullptr;
      at = &(*arr)[*index];
    } else {
      return nullptr;
    }
  }
  return at;
}

status pointer_add(bj::value& root, const pointer& path, bj::value value) {
  if (path.empty()) {
    root = std::move(value);
    return {};
  }
  bj::value* parent = resolve(root, path, path.size() - 1);
  if (parent == nullptr) return fail("no such path");
  const std::string& last = path.back();
  if (auto* obj = parent->if_object()) {
    obj->insert_or_assign(last, std::move(value));
    return {};
  }
  if (auto* arr = parent->if_array()) {
    if (last == "-") {
      arr->push_back(std::move(value));
      return {};
    }
    auto index = parse_index(last);
    if (!index) return fail("invalid array index \"" + last + "\"");
    if (*index > arr->size()) return fail("array index " + last + " out of range");
    arr->insert(arr->begin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
    return {};
  }
  return fail("the parent is neither an object nor an array");
}

krt::result<bj::value, std::string> pointer_remove(bj::value& root, const pointer& path) {
  if (path.empty()) return krt::unexpected(std::string("cannot remove the whole document"));
  bj::value* parent = resolve(root, path, path.size() - 1);
  if (parent == nullptr) return krt::unexpected(std::string("no such path"));
  if (auto* obj = parent->if_object()) {
    auto it = obj->find(path.back());
    if (it == obj->end()) return krt::unexpected(std::string("no such path"));
    bj::value removed = std::move(it->value());
    obj->stable_erase(it);
    return removed;
  }
  if (auto* arr = parent->if_array()) {
    auto index = parse_index(path.back());
    if (!index || *index >= arr->size()) return krt::unexpected(std::string("no such path"));
    bj::value removed = std::move((*arr)[*index]);
    arr->erase(arr->begin() + static_cast<std::ptrdiff_t>(*index));
    return removed;
  }
  return krt::unexpected(std::string("no such path"));
}

bool is_proper_prefix(const pointer& prefix, const pointer& path) {
  return prefix.size() < path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

const bj::value* member(const bj::object& op, std::string_view name) {
  auto it = op.find(name);
  return it == op.end() ? nullptr : &it->value();
}

// One operation; the caller prefixes errors with the operation's index.
// What one JSON patch may still spend. Only "copy" can make a document
// bigger than the patch that edits it (an object doubled per operation is
// 2^40 times larger after 40 of them), so copies share a byte budget as the
// real server's JSONPatchMaxCopyBytes; a "move" deeper into the document
// walks the moved value to check its nesting, so those walks share one too.
struct patch_budget {
  std::size_t copy_bytes = max_json_patch_copy_bytes;
  std::size_t move_walk_bytes = 16 * max_object_bytes;
};

std::string too_deep(std::size_t levels) {
  return "the result would nest deeper than " + std::to_string(levels) + " levels";
}

// A value placed at `path` must leave the document within max_json_depth.
status check_depth_at(const pointer& path, const bj::value& value) {
  if (path.size() >= max_json_depth) return fail(too_deep(max_json_depth));
  auto e = measure_json(value, max_json_depth - path.size(), static_cast<std::size_t>(-1));
  if (!e.within) return fail(too_deep(max_json_depth));
  return {};
}

status apply_json_patch_op(bj::value& target, const bj::object& op, std::string_view name, const pointer& path,
                           patch_budget& budget) {
  const bj::value* value = member(op, "value");
  if (name == "add" || name == "replace" || name == "test") {
    if (value == nullptr) return fail("missing \"value\"");
  }
  if (name == "add" || name == "replace") {
    if (auto st = check_depth_at(path, *value); !st) return st;
  }
  if (name == "add") return pointer_add(target, path, *value);
  if (name == "remove") {
    auto removed = pointer_remove(target, path);
    if (!removed) return fail(std::move(removed).error());
    return {};
  }
  if (name == "replace") {
    bj::value* at = resolve(target, path, path.size());
    if (at == nullptr) return fail("no such path");
    *at = *value;
    return {};
  }
  if (name == "test") {
    const bj::value* at = resolve(target, path, path.size());
    if (at == nullptr) return fail("no such path");
    if (!json_equal(*at, *value)) return fail("test failed: the value differs");
    return {};
  }
  if (name != "move" && name != "copy") return fail("unknown operation");

  const bj::value* from_text = member(op, "from");
  if (from_text == nullptr || !from_text->is_string()) return fail("missing \"from\"");
  auto from = parse_pointer(from_text->get_string());
  if (!from) return fail("invalid \"from\": " + from.error());
  if (name == "copy") {
    const bj::value* source = resolve(target, *from, from->size());
    if (source == nullptr) return fail("no such \"from\" path");
    if (path.size() >= max_json_depth) return fail(too_deep(max_json_depth));
    auto e = measure_json(*source, max_json_depth - path.size(), budget.copy_bytes);
    if (!e.within) {
      if (e.bytes > budget.copy_bytes)
        return fail("the copies of this patch would add more than " + std::to_string(max_json_patch_copy_bytes) +
                    " bytes to the object");
      return fail(too_deep(max_json_depth));
    }
    budget.copy_bytes -= e.bytes;
    bj::value copy = *source;  // copied first: adding may reallocate the source's container
    return pointer_add(target, path, std::move(copy));
  }
  if (*from == path) {
    if (resolve(target, path, path.size()) == nullptr) return fail("no such \"from\" path");
    return {};
  }
  if (is_proper_prefix(*from, path)) return fail("cannot move a value into one of its own children");
  if (path.size() > from->size()) {
    // Deeper than it was: the moved value's own depth decides.
    const bj::value* source = resolve(target, *from, from->size());
    if (source == nullptr) return fail("no such \"from\" path");
    if (path.size() >= max_json_depth) return fail(too_deep(max_json_depth));
    auto e = measure_json(*source, max_json_depth - path.size(), budget.move_walk_bytes);
    if (!e.within) {
      if (e.bytes > budget.move_walk_bytes) return fail("the patch moves too much data to check; split it");
      return fail(too_deep(max_json_depth));
    }
    budget.move_walk_bytes -= e.bytes;
  }
  auto moved = pointer_remove(target, *from);
  if (!moved) return fail("no such \"from\" path");
  return pointer_add(target, path, std::move(*moved));
}

// ---------------------------------------------------------------------------
// Strategic merge patch

constexpr std::string_view directive_marker = "$patch";
constexpr std::string_view retain_keys_directive = "$retainKeys";
constexpr std::string_view set_element_order_prefix = "$setElementOrder/";
constexpr std::string_view delete_from_primitive_list_prefix = "$deleteFromPrimitiveList/";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool is_directive_key(std::string_view key) {
  return key == directive_marker || key == retain_keys_directive || starts_with(key, set_element_order_prefix) ||
         starts_with(key, delete_from_primitive_list_prefix);
}

// How a list field merges: `merge` false replaces the list; true with an empty
// key merges primitives as a set; true with a key merges maps element-wise.
struct list_meta {
  bool merge = false;
  std::string_view key;
};

bool is_container_list(std::string_view field) {
  return field == "containers" || field == "initContainers" || field == "ephemeralContainers";
}

// The patchStrategy/patchMergeKey struct tags of the built-in types, keyed by
// field name and the name of the field holding the enclosing object (for a
// list element, the list's field). Names are specific enough that the parent
// only needs checking where a name means different things ("ports").
list_meta smp_list_meta(std::string_view kind, std::string_view parent, std::string_view field) {
  if (is_container_list(field)) return {true, "name"};
  if (is_container_list(parent)) {
    if (field == "env") return {true, "name"};
    if (field == "volumeMounts") return {true, "mountPath"};
    if (field == "volumeDevices") return {true, "devicePath"};
    if (field == "ports") return {true, "containerPort"};
    return {};
  }
  if (field == "conditions") return {true, "type"};
  if (parent == "metadata") {
    if (field == "finalizers") return {true, ""};
    if (field == "ownerReferences") return {true, "uid"};
    return {};
  }
  if (parent == "spec") {
    // PodSpec, wherever it sits (Pod.spec, template.spec, jobTemplate...).
    if (field == "volumes" || field == "imagePullSecrets" || field == "resourceClaims" || field == "schedulingGates") {
      return {true, "name"};
    }
    if (field == "hostAliases") return {true, "ip"};
    if (field == "topologySpreadConstraints") return {true, "topologyKey"};
    if (field == "ports" && kind == "Service") return {true, "port"};
    return {};
  }
  if (parent == "status") {
    if ((field == "podIPs" || field == "hostIPs") && kind == "Pod") return {true, "ip"};
    if (field == "addresses" && kind == "Node") return {true, "type"};
    return {};
  }
  if (parent.empty() && field == "secrets" && kind == "ServiceAccount") return {true, "name"};
  return {};
}

std::string join_path(std::string_view path, std::string_view field) {
  if (path.empty()) return std::string(field);
  std::string out(path);
  out += '.';
  out += field;
  return out;
}

// The identity of a list element for ordering and matching: its merge-key value
// for maps (null when absent), the element itself for primitives.
const bj::value* element_identity(const bj::value& element, std::string_view key) {
  if (key.empty()) return &element;
  const auto* obj = element.if_object();
  if (obj == nullptr) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &it->value();
}

bool same_identity(const bj::value& a, const bj::value& b, std::string_view key) {
  const bj::value* x = element_identity(a, key);
  const bj::value* y = element_identity(b, key);
  return x != nullptr && y != nullptr && json_equal(*x, *y);
}

// Position of the element with `element`'s identity in `order`, or -1.
std::ptrdiff_t index_in(const bj::array& order, const bj::value& element, std::string_view key) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (same_identity(element, order[i], key)) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

// Stable sort by position in `order`; elements `order` does not name go last.
void sort_by(std::vector<bj::value>& items, const bj::array& order, std::string_view key) {
  auto rank = [&](const bj::value& v) {
    const auto i = index_in(order, v, key);
    return i < 0 ? PTRDIFF_MAX : i;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const bj::value& a, const bj::value& b) { return rank(a) < rank(b); });
}

// strategicpatch's normalizeElementOrder: the elements named by the patch (or by
// $setElementOrder) take `patch_order`, the server-only ones keep
// `server_order`, and the two interleave by server position. An element the
// server has never seen is emitted as soon as it reaches the head of its
// sequence, which is why an element added without $setElementOrder lands
// before the server's elements, as in Kubernetes.
bj::array normalize_order(const bj::array& merged, const bj::array& patch_order, const bj::array& server_order,
                          std::string_view key) {
  std::vector<bj::value> patched;
  std::vector<bj::value> server_only;
  for (const auto& element : merged) {
    (index_in(patch_order, element, key) >= 0 ? patched : server_only).push_back(element);
  }
  sort_by(patched, patch_order, key);
  sort_by(server_only, server_order, key);
  bj::array out;
  out.reserve(merged.size());
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < server_only.size() || j < patched.size()) {
    bool take_server = j >= patched.size();
    if (!take_server && i < server_only.size()) {
      const auto li = index_in(server_order, server_only[i], key);
      const auto ri = index_in(server_order, patched[j], key);
      take_server = li >= 0 && ri >= 0 && li < ri;
    }
    out.push_back(take_server ? std::move(server_only[i++]) : std::move(patched[j++]));
  }
  return out;
}

std::string describe(const bj::value& v) { return bj::serialize(v); }

// $deleteFromPrimitiveList/<field>: drops the listed values from the list.
status delete_from_primitive_list(bj::object& original, std::string_view key, const bj::value& value) {
  const std::string_view list_field = key.substr(delete_from_primitive_list_prefix.size());
  const auto* to_delete = value.if_array();
  if (list_field.empty() || to_delete == nullptr) {
    return fail("strategic merge patch: " + std::string(key) + " must name a field and hold a list");
  }
  auto it = original.find(list_field);
  if (it == original.end() || !it->value().is_array()) return {};
  bj::array& list = it->value().get_array();
  bj::array kept;
  for (auto& element : list) {
    auto deleted = [&](const bj::value& d) { return json_equal(d, element); };
    if (std::none_of(to_delete->begin(), to_delete->end(), deleted)) kept.push_back(std::move(element));
  }
  list = std::move(kept);
  return {};
}

class smp_merger {
 public:
  explicit smp_merger(std::string_view kind) : kind_(kind) {}

  // Merges `patch` into `target` (made an object if it is not one). `field` is
  // the name of the field holding `target`; `path` names it in errors.
  status merge_object(bj::value& target, const bj::object& patch, std::string_view field, const std::string& path);

 private:
  status merge_field(bj::value& target, const bj::value& patch, std::string_view parent, std::string_view field,
                     const std::string& path);
  status merge_list(bj::array& target, const bj::array& patch, list_meta meta, std::string_view field,
                    const std::string& path);
  status merge_primitive_list(bj::array& target, const bj::array& patch, const std::string& path);
  status merge_map_list(bj::array& target, const bj::array& patch, std::string_view key, std::string_view field,
                        const std::string& path);
  status apply_retain_keys(bj::object& target, const bj::object& patch, const bj::value& keys, const std::string& path);
  status apply_element_order(bj::object& target, const bj::object& patch, std::string_view parent,
                             std::string_view field, const bj::value& order, const std::string& path);

  std::string_view kind_;
};

status smp_merger::merge_object(bj::value& target, const bj::object& patch, std::string_view field,
                                const std::string& path) {
  if (auto it = patch.find(directive_marker); it != patch.end()) {
    const auto* directive = it->value().if_string();
    if (directive != nullptr && *directive == "delete") {
      target = bj::object();
      return {};
    }
    if (directive != nullptr && *directive == "replace") {
      // Merging into an empty object is a replace that also consumes the
      // directives nested in the patch, which must never reach storage.
      target = bj::object();
    } else if (directive == nullptr || *directive != "merge") {
      return fail("strategic merge patch: unknown $patch directive " + describe(it->value()) + " at " +
                  (path.empty() ? "the top level" : path));
    }
  }
  if (!target.is_object()) target = bj::object();
  bj::object& original = target.get_object();

  if (auto it = patch.find(retain_keys_directive); it != patch.end()) {
    if (auto st = apply_retain_keys(original, patch, it->value(), path); !st) return st;
  }
  // $setElementOrder lists merge their field themselves, so the main loop skips it.
  std::vector<std::string_view> ordered_fields;
  for (const auto& kv : patch) {
    if (!starts_with(kv.key(), set_element_order_prefix)) continue;
    const std::string_view list_field = kv.key().substr(set_element_order_prefix.size());
    if (list_field.empty()) return fail("strategic merge patch: " + std::string(kv.key()) + " names no field");
    if (auto st = apply_element_order(original, patch, field, list_field, kv.value(), join_path(path, list_field));
        !st) {
      return st;
    }
    ordered_fields.push_back(list_field);
  }

  for (const auto& kv : patch) {
    const std::string_view key = kv.key();
    const bj::value& value = kv.value();
    if (starts_with(key, delete_from_primitive_list_prefix)) {
      if (auto st = delete_from_primitive_list(original, key, value); !st) return st;
      continue;
    }
    if (is_directive_key(key)) continue;
    if (value.is_null()) {
      // IgnoreUnmatchedNulls: null deletes, and a null for an absent key is dropped.
      original.stable_erase(key);
      continue;
    }
    if (std::find(ordered_fields.begin(), ordered_fields.end(), key) != ordered_fields.end()) continue;
    auto it = original.find(key);
    if (it == original.end()) it = original.emplace(key, nullptr).first;
    if (auto st = merge_field(it->value(), value, field, key, join_path(path, key)); !st) return st;
  }
  return {};
}

status smp_merger::merge_field(bj::value& target, const bj::value& patch, std::string_view parent,
                               std::string_view field, const std::string& path) {
  if (const auto* patch_object = patch.if_object()) {
    // A value of another type is replaced, which merging into {} achieves
    // while consuming the patch's directives.
    return merge_object(target, *patch_object, field, path);
  }
  if (const auto* patch_array = patch.if_array()) {
    const list_meta meta = smp_list_meta(kind_, parent, field);
    if (!meta.merge) {
      target = patch;
      return {};
    }
    if (!target.is_array()) target = bj::array();
    return merge_list(target.get_array(), *patch_array, meta, field, path);
  }
  target = patch;
  return {};
}

bool has_directive(const bj::value& element) {
  const auto* obj = element.if_object();
  return obj != nullptr && obj->contains(directive_marker);
}

status smp_merger::merge_list(bj::array& target, const bj::array& patch, list_meta meta, std::string_view field,
                              const std::string& path) {
  if (target.empty() && patch.empty()) return {};
  // strategicpatch's sliceElementType: one element kind per list, and the
  // kind (not the metadata) decides between set and keyed merging.
  bool any_object = false;
  bool any_other = false;
  for (const bj::array* list : std::initializer_list<const bj::array*>{&target, &patch}) {
    for (const auto& element : *list) {
      if (element.is_array()) return fail("strategic merge patch: " + path + ": lists of lists cannot be merged");
      // A bare {"$patch": ...} may sit in a primitive list (replace).
      if (element.is_object() && !(list == &patch && has_directive(element) && element.get_object().size() == 1)) {
        any_object = true;
      } else if (!element.is_object()) {
        any_other = true;
      }
    }
  }
  if (any_object && any_other) return fail("strategic merge patch: " + path + ": list element types are not identical");
  if (!any_object) return merge_primitive_list(target, patch, path);
  if (meta.key.empty()) {
    return fail("strategic merge patch: " + path + ": cannot merge a list of maps without a merge key");
  }
  return merge_map_list(target, patch, meta.key, field, path);
}

status smp_merger::merge_primitive_list(bj::array& target, const bj::array& patch, const std::string& path) {
  bj::array values;  // the patch without directive elements
  bool replace = false;
  for (const auto& element : patch) {
    if (!element.is_object()) {
      values.push_back(element);
      continue;
    }
    const auto* directive = element.get_object().at(directive_marker).if_string();
    if (directive != nullptr && *directive == "replace") {
      replace = true;
    } else if (directive == nullptr || *directive != "merge") {
      return fail("strategic merge patch: " + path + ": unsupported $patch directive " + describe(element) +
                  " in a list of primitives");
    }
  }
  if (replace) {
    target = std::move(values);
    return {};
  }
  const bj::array server_order = target;
  bj::array merged;
  for (const bj::array* list : std::initializer_list<const bj::array*>{&target, &values}) {
    for (const auto& element : *list) {
      if (std::none_of(merged.begin(), merged.end(), [&](const bj::value& m) { return json_equal(m, element); })) {
        merged.push_back(element);
      }
    }
  }
  target = normalize_order(merged, values, server_order, "");
  return {};
}

status smp_merger::merge_map_list(bj::array& target, const bj::array& patch, std::string_view key,
                                  std::string_view field, const std::string& path) {
  // First the special elements: deletions by merge key, and replace, which
  // makes the plain elements the whole list.
  bj::array plain;
  bool replace = false;
  for (const auto& element : patch) {
    const bj::object& obj = element.get_object();
    auto marker = obj.find(directive_marker);
    if (marker == obj.end()) {
      plain.push_back(element);
      continue;
    }
    const auto* directive = marker->value().if_string();
    if (directive != nullptr && *directive == "delete") {
      auto id = obj.find(key);
      if (id == obj.end()) {
        return fail("strategic merge patch: " + path + ": " + describe(element) + " does not contain the merge key \"" +
                    std::string(key) + "\"");
      }
      bj::array kept;
      for (auto& existing : target) {
        if (!same_identity(existing, element, key)) kept.push_back(std::move(existing));
      }
      target = std::move(kept);
    } else if (directive != nullptr && *directive == "replace") {
      replace = true;
    } else if (directive != nullptr && *directive == "merge") {
      if (obj.size() > 1) plain.push_back(element);  // merge is the default: an ordinary element
    } else {
      return fail("strategic merge patch: " + path + ": unknown $patch directive " + describe(marker->value()));
    }
  }
  if (replace) target.clear();

  const bj::array server_order = target;
  for (std::size_t n = 0; n < plain.size(); ++n) {
    const bj::object& element = plain[n].get_object();
    auto id = element.find(key);
    if (id == element.end()) {
      return fail("strategic merge patch: " + path + ": " + describe(plain[n]) + " does not contain the merge key \"" +
                  std::string(key) + "\"");
    }
    auto match = std::find_if(target.begin(), target.end(),
                              [&](const bj::value& existing) { return same_identity(existing, plain[n], key); });
    std::string element_path = path + "[" + std::string(key) + "=" + describe(id->value()) + "]";
    if (match == target.end()) {
      target.emplace_back(nullptr);
      match = target.end() - 1;
    }
    if (auto st = merge_object(*match, element, field, element_path); !st) return st;
  }
  if (!replace) target = normalize_order(target, plain, server_order, key);
  return {};
}

status smp_merger::apply_retain_keys(bj::object& target, const bj::object& patch, const bj::value& keys,
                                     const std::string& path) {
  const auto* list = keys.if_array();
  if (list == nullptr) return fail("strategic merge patch: $retainKeys at " + path + " must be a list");
  auto retained = [&](std::string_view key) {
    return std::any_of(list->begin(), list->end(),
                       [&](const bj::value& k) { return k.is_string() && k.get_string() == key; });
  };
  for (const auto& kv : patch) {
    if (kv.value().is_null() || is_directive_key(kv.key())) continue;
    if (!retained(kv.key())) {
      return fail("strategic merge patch: field \"" + std::string(kv.key()) + "\" at " + path +
                  " is not listed in $retainKeys");
    }
  }
  std::vector<std::string> dropped;
  for (const auto& kv : target) {
    if (!retained(kv.key())) dropped.emplace_back(kv.key());
  }
  for (const auto& key : dropped) target.stable_erase(key);
  return {};
}

status smp_merger::apply_element_order(bj::object& target, const bj::object& patch, std::string_view parent,
                                       std::string_view field, const bj::value& order_value, const std::string& path) {
  const auto* order = order_value.if_array();
  if (order == nullptr) {
    return fail("strategic merge patch: $setElementOrder/" + std::string(field) + " must be a list");
  }
  const bj::value* patch_list = nullptr;
  if (auto it = patch.find(field); it != patch.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return fail("strategic merge patch: " + path + " must be a list");
    patch_list = &it->value();
  }
  auto existing = target.find(field);
  if (existing != target.end() && !existing->value().is_array()) existing = target.end();
  if (patch_list == nullptr && existing == target.end()) return {};

  // Maps are ordered by merge key, primitives by value.
  auto has_maps = [](const bj::value* list) {
    return list != nullptr && std::any_of(list->get_array().begin(), list->get_array().end(),
                                          [](const bj::value& v) { return v.is_object() && !has_directive(v); });
  };
  const bool maps =
      has_maps(&order_value) || has_maps(patch_list) || (existing != target.end() && has_maps(&existing->value()));
  const std::string_view key = maps ? smp_list_meta(kind_, parent, field).key : std::string_view();
  if (maps && key.empty()) return fail("strategic merge patch: " + path + " has no merge key to order by");

  // The plain patch elements must appear in the order the directive lists.
  if (patch_list != nullptr) {
    std::size_t at = 0;
    for (const auto& element : patch_list->get_array()) {
      if (has_directive(element) || element_identity(element, key) == nullptr) continue;
      while (at < order->size() && !same_identity((*order)[at], element, key)) ++at;
      if (at == order->size()) {
        return fail("strategic merge patch: the order of " + path + " does not match $setElementOrder/" +
                    std::string(field));
      }
      ++at;
    }
  }

  const bj::array server_order = existing != target.end() ? existing->value().get_array() : bj::array();
  if (existing == target.end()) existing = target.emplace(field, bj::array()).first;
  if (patch_list != nullptr) {
    if (auto st = merge_field(existing->value(), *patch_list, parent, field, path); !st) return st;
  }
  if (!existing->value().is_array()) return {};
  existing->value() = normalize_order(existing->value().get_array(), *order, server_order, key);
  return {};
}

}  // namespace

void apply_merge_patch(bj::value& target, const bj::value& patch) {
  const auto* patch_object = patch.if_object();
  if (patch_object == nullptr) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = bj::object();
  bj::object& object = target.get_object();
  for (const auto& kv : *patch_object) {
    if (kv.value().is_null()) {
      object.stable_erase(kv.key());
      continue;
    }
    // operator[] inserts null for a new member, which the recursion replaces.
    apply_merge_patch(object[kv.key()], kv.value());
  }
}

krt::result<void, std::string> apply_json_patch(bj::value& target, const bj::value& patch) {
  const auto* ops = patch.if_array();
  if (ops == nullptr) return fail("a json patch must be a JSON array of operations");
  if (ops->size() > max_json_patch_operations)
    return fail("the allowed maximum operations in a JSON patch is " + std::to_string(max_json_patch_operations) +
                ", got " + std::to_string(ops->size()));
  patch_budget budget;
  for (std::size_t i = 0; i < ops->size(); ++i) {
    std::string prefix = "json patch operation " + std::to_string(i);
    const auto* op = (*ops)[i].if_object();
    if (op == nullptr) return fail(prefix + ": not an object");
    const bj::value* name = member(*op, "op");
    if (name == nullptr || !name->is_string()) return fail(prefix + ": missing \"op\"");
    const bj::value* path_text = member(*op, "path");
    if (path_text == nullptr || !path_text->is_string()) {
      return fail(prefix + " (" + std::string(name->get_string()) + "): missing \"path\"");
    }
    prefix += " (" + std::string(name->get_string()) + " " + std::string(path_text->get_string()) + ")";
    auto path = parse_pointer(path_text->get_string());
    if (!path) return fail(prefix + ": " + path.error());
    if (auto st = apply_json_patch_op(target, *op, name->get_string(), *path, budget); !st) {
      return fail(prefix + ": " + st.error());
    }
  }
  return {};
}

krt::result<void, std::string> apply_strategic_merge_patch(bj::value& target, const bj::value& patch,
                                                           std::string_view kind) {
  const auto* patch_object = patch.if_object();
  if (patch_object == nullptr) return fail("a strategic merge patch must be a JSON object");
  smp_merger merger(kind);
  return merger.merge_object(target, *patch_object, "", "");
}

}  // namespace krt::local
