#pragma once
// The output of Runs that finished recently, for GET /runs/<uid>/log after
// the Runtime Server has forgotten them. Bounded by entries and bytes; the
// oldest entry goes first.
//
// Affinity: single shard (runtimed's).

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/api/types.hpp"

namespace krt::runtimed {

struct finished_run {
  std::string uid, name, namespace_, runtime;
  std::string stdout_text, stderr_text;
  std::vector<api::artifact_ref> artifacts;
};

class log_store {
 public:
  log_store(std::size_t max_entries, std::size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

  void put(finished_run r) {
    std::string uid = r.uid;
    erase(uid);
    bytes_ += size_of(r);
    order_.push_back(uid);
    auto it = std::prev(order_.end());
    auto value = std::make_shared<const finished_run>(std::move(r));
    entries_.emplace(uid, std::make_pair(std::move(value), it));
    while (!order_.empty() && (entries_.size() > max_entries_ || bytes_ > max_bytes_)) erase(order_.front());
  }
  std::shared_ptr<const finished_run> get(const std::string& uid) const {
    auto it = entries_.find(uid);
    return it == entries_.end() ? nullptr : it->second.first;
  }
  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  static std::size_t size_of(const finished_run& r) { return r.stdout_text.size() + r.stderr_text.size() + 256; }
  void erase(const std::string& uid) {
    auto it = entries_.find(uid);
    if (it == entries_.end()) return;
    bytes_ -= size_of(*it->second.first);
    order_.erase(it->second.second);
    entries_.erase(it);
  }
  std::size_t max_entries_, max_bytes_, bytes_ = 0;
  std::list<std::string> order_;
  std::map<std::string, std::pair<std::shared_ptr<const finished_run>, std::list<std::string>::iterator>> entries_;
};

}  // namespace krt::runtimed
