#pragma once
// Durable storage for the local API server: every object and a bounded watch
// history in one SQLite database in WAL mode.
//
// Writes are group-committed: callers queue a write and await its batch; one
// batch is in flight at a time on a private writer thread, and every write
// queued meanwhile joins the next batch, so throughput grows with concurrency
// while each acknowledged write is on disk (fsync mode) or in the OS (process
// mode: survives kill -9 of the server, not a power cut).
//
// Affinity: open()/load() on any one thread before start(); after start(),
// commit() and stop() on the shard whose executor was given to start().

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::local {

enum class durability {
  fsync,    // synchronous=FULL: survives power loss
  process,  // synchronous=NORMAL: survives a crash or kill -9 of the server
};

struct log_record {
  std::uint64_t rv = 0;
  std::string type;  // "ADDED", "MODIFIED", "DELETED"
  std::string key;   // "<group>/<resource>/<namespace>/<name>"
  std::string data;  // the object's JSON (for DELETED: its last state)
};

struct loaded_state {
  std::uint64_t rv = 0;               // the highest resourceVersion ever written
  std::vector<log_record> objects;    // live objects (type empty)
  std::vector<log_record> history;    // retained events, ascending rv
  std::uint64_t compacted_rv = 0;     // events at or below this were dropped
};

class sqlite_log {
 public:
  // Opens or creates the database. Errors say what to do ("... is not a
  // kruntimes database; move it away or pass another --state-dir").
  static krt::result<std::unique_ptr<sqlite_log>, std::string> open(const std::string& path, durability mode,
                                                                    std::size_t history_limit);
  ~sqlite_log();
  sqlite_log(const sqlite_log&) = delete;
  sqlite_log& operator=(const sqlite_log&) = delete;

  krt::result<loaded_state, std::string> load();

  // Starts the writer thread; completions are delivered on `shard`.
  void start(executor shard);
  // Queues `rec` (DELETED removes the object row) and waits for its batch.
  // An error means the write is not durable and must not be acknowledged.
  awaitable<krt::result<void, std::string>> commit(log_record rec);
  // Waits for in-flight batches and stops the writer thread.
  awaitable<void> stop();

  std::uint64_t batches() const { return batches_; }
  std::uint64_t records() const { return records_; }

 private:
  struct batch;
  sqlite_log() = default;
  void flush();
  std::string write_batch(const std::vector<log_record>& records);  // writer thread

  struct impl;
  std::unique_ptr<impl> impl_;
  std::size_t history_limit_ = 0;
  executor shard_;
  std::shared_ptr<batch> pending_;
  bool in_flight_ = false;
  std::uint64_t batches_ = 0;
  std::uint64_t records_ = 0;
};

}  // namespace krt::local
