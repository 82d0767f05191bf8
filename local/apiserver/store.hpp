#pragma once
// The local API server's object store: the committed objects in memory
// (ordered per resource for listing and paging), a pending overlay of writes
// waiting for their SQLite batch, a bounded event history, and the watchers.
//
// Consistency: a write gets the next global resourceVersion at once and is
// visible to later writers through latest() (so optimistic concurrency sees
// it), but readers (get/list) and watchers only see it once its batch is
// durable: reads are read-committed, and events reach watchers in
// resourceVersion order exactly once.
//
// Affinity: per-shard (the server's shard); every call on that shard.

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "lib/core/result.hpp"
#include "lib/reactor/event.hpp"
#include "local/apiserver/json.hpp"
#include "local/apiserver/sqlite_log.hpp"

namespace krt::local {

struct stored_object {
  bj::object object;  // with metadata.resourceVersion set
  std::string json;   // serialize(object)
  std::uint64_t rv = 0;
  std::string storage_key;  // "<group>/<plural>"
  std::string ns;
  std::string name;
};
using object_ptr = std::shared_ptr<const stored_object>;

enum class event_type { added, modified, deleted };
std::string_view event_name(event_type t);

struct store_event {
  event_type type;
  object_ptr object;
  object_ptr previous;  // the state this event replaced (modified), if known
};

// One watch stream's queue. The server drains it; the store fills it.
struct watcher {
  explicit watcher(executor ex) : wake(std::move(ex)) {}
  std::string storage_key;
  std::string ns;  // empty: every namespace
  std::deque<store_event> queue;
  reactor::event wake;
  bool overflowed = false;  // the client fell too far behind; end the stream
};
using watcher_ptr = std::shared_ptr<watcher>;

class object_store {
 public:
  object_store(executor ex, std::unique_ptr<sqlite_log> log, std::size_t history_limit, std::size_t watcher_queue_limit);
  ~object_store();

  // Reads the database into memory; then start() begins group commits.
  krt::result<void, std::string> load();
  void start();
  awaitable<void> stop();

  object_ptr get(std::string_view storage_key, std::string_view ns, std::string_view name) const;
  // The newest state including writes not yet durable (for read-modify-write).
  object_ptr latest(std::string_view storage_key, std::string_view ns, std::string_view name) const;
  // Committed objects of one resource (ns empty: all namespaces) in
  // (namespace, name) order, starting after `after` ("ns/name"); stops when
  // `fn` returns false.
  void list(std::string_view storage_key, std::string_view ns, std::string_view after,
            const std::function<bool(const object_ptr&)>& fn) const;
  std::size_t count(std::string_view storage_key) const;
  std::vector<std::string> storage_keys() const;

  // Stores `object` (its metadata.namespace/name identify it) with the next
  // resourceVersion; returns the stored object once durable. A deleted
  // event removes the object and records its final state.
  awaitable<krt::result<object_ptr, std::string>> write(event_type type, std::string storage_key, bj::object object);

  std::uint64_t committed_rv() const { return committed_rv_; }
  std::uint64_t compacted_rv() const { return compacted_rv_; }

  // A watcher that first receives every retained event after `from_rv`
  // (from_rv 0: none), then live events. Null when from_rv is older than the
  // retained history (the caller answers 410 Expired).
  watcher_ptr watch(std::string storage_key, std::string ns, std::uint64_t from_rv);
  void unwatch(const watcher_ptr& w);
  std::size_t watchers() const { return watcher_count_; }

  // Called after every committed event (the garbage collector and the
  // registry of custom resources listen here).
  void on_commit(std::function<void(const store_event&)> fn) { listeners_.push_back(std::move(fn)); }

  std::uint64_t batches() const;

  // The event history is also bounded by the bytes of the objects it holds
  // (as JSON): a few updates of large objects must not keep gigabytes of
  // superseded versions. A watch from before the trimmed part gets 410.
  void set_history_bytes_limit(std::size_t bytes) {
    history_bytes_limit_ = bytes;
    trim_history();
  }

 private:
  struct pending_write {
    std::uint64_t rv;
    event_type type;
    object_ptr object;
    object_ptr previous;
  };
  using collection = std::map<std::string, object_ptr, std::less<>>;  // "ns/name" → object
  static std::string object_key(std::string_view ns, std::string_view name);
  void apply_committed_through(std::uint64_t rv);
  void deliver(const store_event& ev);
  void push_history(store_event ev);
  void trim_history();

  executor ex_;
  std::unique_ptr<sqlite_log> log_;
  std::size_t history_limit_;
  std::size_t watcher_queue_limit_;
  std::unordered_map<std::string, collection> committed_;
  std::unordered_map<std::string, std::map<std::string, object_ptr, std::less<>>> overlay_;  // null object: deleted
  std::deque<pending_write> pending_;
  std::deque<store_event> history_;
  std::size_t history_bytes_ = 0;
  std::size_t history_bytes_limit_ = 64u << 20;
  std::uint64_t next_rv_ = 0;
  std::uint64_t committed_rv_ = 0;
  std::uint64_t compacted_rv_ = 0;
  std::string broken_;  // set when a commit failed: no more writes are accepted
  std::unordered_map<std::string, std::list<watcher_ptr>> watchers_;
  std::size_t watcher_count_ = 0;
  std::vector<std::function<void(const store_event&)>> listeners_;
};

}  // namespace krt::local
