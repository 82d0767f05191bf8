#pragma once
// The informer's read-only cache (STYLE rule 11): objects by "ns/name" key,
// plus named indexes (e.g. Runs by spec.runtime, Pods by node). Entries are
// shared immutable objects; readers must not mutate them.
//
// Affinity: per-shard (owned by one informer).

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lib/kube/codec.hpp"

namespace krt::kube {

// Index values for an object (a Run's runtime, a Pod's labels, ...).
using index_fn = std::function<std::vector<std::string>(const decoded_object&)>;

class store {
 public:
  void add_index(const std::string& name, index_fn fn);

  // Inserts or replaces; returns the previous entry (empty if new).
  decoded_object upsert(decoded_object obj);
  // Removes by key; returns the removed entry (empty if absent).
  decoded_object erase(const std::string& key);

  decoded_object get(const std::string& key) const;
  std::vector<decoded_object> list() const;
  std::vector<std::string> keys() const;
  std::vector<decoded_object> by_index(const std::string& index, const std::string& value) const;
  std::size_t size() const { return items_.size(); }

 private:
  struct index {
    index_fn fn;
    std::unordered_map<std::string, std::unordered_set<std::string>> values;
  };
  void index_add(const std::string& key, const decoded_object& obj);
  void index_remove(const std::string& key, const decoded_object& obj);

  std::unordered_map<std::string, decoded_object> items_;
  std::unordered_map<std::string, index> indexes_;
};

}  // namespace krt::kube
