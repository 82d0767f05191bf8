#pragma once
// The informer (DESIGN §4, STYLE rule 11, after client-go's reflector): list
// (paged) then watch from the list's resourceVersion with bookmarks; relist on
// 410 Gone; reconnect with jittered exponential backoff on failures; keep a
// shard-local cache with indexes; tell handlers what changed. Handlers must
// only enqueue keys (into a work_queue): they run inline on the informer's
// coroutine and must not block or suspend.
//
// After a relist, the cache equals the listed state exactly: objects that
// vanished get a delete, new ones an add, changed ones (resourceVersion
// differs) an update; unchanged objects produce no event.
//
// Affinity: per-shard. run() and every accessor on one shard.
// Cancellation: run() returns when its coroutine is cancelled.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "lib/kube/client.hpp"
#include "lib/obs/metrics.hpp"
#include "lib/kube/store.hpp"
#include "lib/kube/watch.hpp"
#include "lib/reactor/event.hpp"

namespace krt::kube {

struct informer_options {
  std::string namespace_;  // empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  std::int64_t page_size = 500;
  // Each watch asks the server to end it after a random time in this range,
  // so a fleet of watchers does not reconnect in lockstep.
  std::chrono::seconds watch_timeout_min{300};
  std::chrono::seconds watch_timeout_max{600};
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // Called for each object the server sends that does not decode as the
  // type (once per object and resourceVersion). The informer leaves it out of
  // its cache (an earlier version stays) and goes on with the rest: one bad
  // object must not stop a controller from seeing every other. Unset, a
  // warning is logged.
  std::function<void(const undecodable_object&)> on_undecodable;
  // When set (the registry of the shard the informer runs on), each such
  // object also counts in kruntimes_informer_undecodable_objects_total
  // {resource}, so an alert can find what a log line may hide.
  obs::registry* metrics = nullptr;
};

struct informer_handlers {
  std::function<void(const decoded_object&)> on_add;
  std::function<void(const decoded_object& old_obj, const decoded_object& new_obj)> on_update;
  std::function<void(const decoded_object&)> on_delete;
};

struct informer_stats {
  std::uint64_t lists = 0;
  std::uint64_t watches = 0;
  std::uint64_t relists_gone = 0;  // relists forced by 410
  std::uint64_t events = 0;
  std::uint64_t bookmarks = 0;
  std::uint64_t failures = 0;
  std::uint64_t undecodable = 0;  // objects left out because they do not decode
};

class informer_base {
 public:
  informer_base(client& c, const type_codec& codec, informer_options opts);

  void add_handlers(informer_handlers h) { handlers_.push_back(std::move(h)); }
  void add_index(const std::string& name, index_fn fn) { store_.add_index(name, std::move(fn)); }

  awaitable<void> run();
  bool has_synced() const { return synced_; }
  // Completes once the first list has been applied.
  awaitable<void> wait_synced();

  const store& cache() const { return store_; }
  const std::string& resource_version() const { return rv_; }
  const informer_stats& stats() const { return stats_; }
  // The last failure, for readiness messages ("" when healthy).
  const std::string& last_error() const { return last_error_; }

 private:
  awaitable<result<void>> list_and_replace();
  // Watches until the stream needs a relist (returns true) or fails (false).
  awaitable<bool> watch_once(std::chrono::milliseconds& backoff);
  void apply(const watch_event& ev);
  void report(const undecodable_object& u);
  awaitable<void> sleep_backoff(std::chrono::milliseconds& backoff);

  client& client_;
  const type_codec& codec_;
  informer_options opts_;
  store store_;
  std::vector<informer_handlers> handlers_;
  std::string rv_;
  bool synced_ = false;
  std::unique_ptr<reactor::event> synced_event_;
  informer_stats stats_;
  std::string last_error_;
  // namespace/name -> the resourceVersion last reported as undecodable, so a
  // relist does not report the same object again.
  std::unordered_map<std::string, std::string> reported_;
};

// Typed facade over informer_base.
template <typename T>
class informer {
 public:
  informer(client& c, informer_options opts) : base_(c, codec_of<T>(), std::move(opts)) {}

  void on_add(std::function<void(const T&)> f) {
    base_.add_handlers({[f](const decoded_object& o) { f(*object_as<T>(o)); }, nullptr, nullptr});
  }
  void on_update(std::function<void(const T&, const T&)> f) {
    base_.add_handlers({nullptr, [f](const decoded_object& a, const decoded_object& b) { f(*object_as<T>(a), *object_as<T>(b)); }, nullptr});
  }
  void on_delete(std::function<void(const T&)> f) {
    base_.add_handlers({nullptr, nullptr, [f](const decoded_object& o) { f(*object_as<T>(o)); }});
  }
  void add_index(const std::string& name, std::function<std::vector<std::string>(const T&)> f) {
    base_.add_index(name, [f](const decoded_object& o) { return f(*object_as<T>(o)); });
  }

  awaitable<void> run() { return base_.run(); }
  awaitable<void> wait_synced() { return base_.wait_synced(); }
  bool has_synced() const { return base_.has_synced(); }

  std::shared_ptr<const T> get(const std::string& key) const { return object_as<T>(base_.cache().get(key)); }
  std::vector<std::shared_ptr<const T>> list() const { return cast(base_.cache().list()); }
  std::vector<std::shared_ptr<const T>> by_index(const std::string& index, const std::string& value) const {
    return cast(base_.cache().by_index(index, value));
  }
  std::size_t size() const { return base_.cache().size(); }
  informer_base& base() { return base_; }
  const informer_base& base() const { return base_; }

 private:
  static std::vector<std::shared_ptr<const T>> cast(const std::vector<decoded_object>& v) {
    std::vector<std::shared_ptr<const T>> out;
    out.reserve(v.size());
    for (const auto& o : v) out.push_back(object_as<T>(o));
    return out;
  }
  informer_base base_;
};

}  // namespace krt::kube
