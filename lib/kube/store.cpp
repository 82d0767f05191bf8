#include "lib/kube/store.hpp"

namespace krt::kube {

void store::add_index(const std::string& name, index_fn fn) {
  auto& idx = indexes_[name];
  idx.fn = std::move(fn);
  idx.values.clear();
  for (const auto& [key, obj] : items_)
    for (auto& v : idx.fn(obj)) idx.values[v].insert(key);
}

void store::index_add(const std::string& key, const decoded_object& obj) {
  for (auto& [name, idx] : indexes_)
    for (auto& v : idx.fn(obj)) idx.values[v].insert(key);
}

void store::index_remove(const std::string& key, const decoded_object& obj) {
  for (auto& [name, idx] : indexes_) {
    for (auto& v : idx.fn(obj)) {
      auto it = idx.values.find(v);
      if (it == idx.values.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) idx.values.erase(it);
    }
  }
}

decoded_object store::upsert(decoded_object obj) {
  std::string key = key_of(*obj.meta);
  decoded_object old;
  auto it = items_.find(key);
  if (it != items_.end()) {
    old = std::move(it->second);
    index_remove(key, old);
    it->second = obj;
  } else {
    items_.emplace(key, obj);
  }
  index_add(key, obj);
  return old;
}

decoded_object store::erase(const std::string& key) {
  auto it = items_.find(key);
  if (it == items_.end()) return {};
  decoded_object old = std::move(it->second);
  items_.erase(it);
  index_remove(key, old);
  return old;
}

decoded_object store::get(const std::string& key) const {
  auto it = items_.find(key);
  return it == items_.end() ? decoded_object{} : it->second;
}

std::vector<decoded_object> store::list() const {
  std::vector<decoded_object> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

std::vector<std::string> store::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

std::vector<decoded_object> store::by_index(const std::string& index, const std::string& value) const {
  std::vector<decoded_object> out;
  auto iit = indexes_.find(index);
  if (iit == indexes_.end()) return out;
  auto vit = iit->second.values.find(value);
  if (vit == iit->second.values.end()) return out;
  out.reserve(vit->second.size());
  for (const auto& key : vit->second) {
    auto it = items_.find(key);
    if (it != items_.end()) out.push_back(it->second);
  }
  return out;
}

}  // namespace krt::kube
