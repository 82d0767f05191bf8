#include "local/apiserver/sqlite_log.hpp"

#include <sqlite3.h>

#include <thread>

#include "lib/reactor/event.hpp"

namespace krt::local {

namespace {

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;

std::string sqlite_error(sqlite3* db, std::string_view what) {
  return std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

}  // namespace

struct sqlite_log::batch {
  explicit batch(executor ex) : done(std::move(ex)) {}
  std::vector<log_record> records;
  reactor::event done;
  std::string error;
};

struct sqlite_log::impl {
  sqlite3* db = nullptr;
  stmt_ptr upsert, remove, history, trim, set_rv;
  asio::io_context writer_ctx{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread writer;
  std::uint64_t max_rv = 0;
  ~impl() {
    if (work) work.reset();
    if (writer.joinable()) writer.join();
    upsert.reset();
    remove.reset();
    history.reset();
    trim.reset();
    set_rv.reset();
    if (db != nullptr) sqlite3_close(db);
  }
  krt::result<void, std::string> exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      return krt::unexpected(msg);
    }
    return {};
  }
  krt::result<stmt_ptr, std::string> prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      return krt::unexpected(sqlite_error(db, "preparing a statement"));
    return stmt_ptr(s);
  }
};

krt::result<std::unique_ptr<sqlite_log>, std::string> sqlite_log::open(const std::string& path, durability mode,
                                                                       std::size_t history_limit) {
  std::unique_ptr<sqlite_log> log(new sqlite_log());
  log->impl_ = std::make_unique<impl>();
  log->history_limit_ = history_limit;
  auto& d = *log->impl_;
  if (sqlite3_open_v2(path.c_str(), &d.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return krt::unexpected(sqlite_error(d.db, "opening database " + path));
  sqlite3_busy_timeout(d.db, 5000);
  const char* sync = mode == durability::fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  for (const char* sql : {"PRAGMA journal_mode=WAL", sync, "PRAGMA foreign_keys=OFF"}) {
    if (auto r = d.exec(sql); !r)
      return krt::unexpected("database " + path + " is unusable (" + r.error() +
                             "); if it is corrupted, move it away and start again (the objects in it are lost)");
  }
  if (auto r = d.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
                      "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, rv INTEGER NOT NULL, data TEXT NOT NULL);"
                      "CREATE TABLE IF NOT EXISTS history (rv INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL,"
                      " data TEXT NOT NULL);"
                      "INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('rv', 0), ('compacted', 0);");
      !r)
    return krt::unexpected("database " + path + " is not a kruntimes local control plane database (" + r.error() +
                           "); move it away or use another state directory");
  auto prep = [&](stmt_ptr& out, const char* sql) -> krt::result<void, std::string> {
    auto s = d.prepare(sql);
    if (!s) return krt::unexpected(s.error());
    out = std::move(*s);
    return {};
  };
  for (auto r : {prep(d.upsert, "INSERT INTO objects(key, rv, data) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET"
                                " rv=excluded.rv, data=excluded.data"),
                 prep(d.remove, "DELETE FROM objects WHERE key = ?1"),
                 prep(d.history, "INSERT OR REPLACE INTO history(rv, type, key, data) VALUES (?1, ?2, ?3, ?4)"),
                 prep(d.trim, "DELETE FROM history WHERE rv <= ?1"),
                 prep(d.set_rv, "UPDATE meta SET v = max(v, ?1) WHERE k = ?2")}) {
    if (!r) return krt::unexpected("database " + path + ": " + r.error());
  }
  return log;
}

sqlite_log::~sqlite_log() = default;

krt::result<loaded_state, std::string> sqlite_log::load() {
  auto& d = *impl_;
  loaded_state st;
  auto query = [&](const char* sql, auto&& row) -> krt::result<void, std::string> {
    auto s = d.prepare(sql);
    if (!s) return krt::unexpected(s.error());
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) row(s->get());
    if (rc != SQLITE_DONE) return krt::unexpected(sqlite_error(d.db, "reading the database"));
    return {};
  };
  auto text = [](sqlite3_stmt* s, int col) {
    const auto* p = sqlite3_column_text(s, col);
    return std::string(p != nullptr ? reinterpret_cast<const char*>(p) : "",
                       static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
  };
  auto meta = [&](sqlite3_stmt* s) {
    std::string k = text(s, 0);
    auto v = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    if (k == "rv") st.rv = v;
    if (k == "compacted") st.compacted_rv = v;
  };
  if (auto r = query("SELECT k, v FROM meta", meta); !r) return krt::unexpected(r.error());
  if (auto r = query("SELECT key, rv, data FROM objects ORDER BY key",
                     [&](sqlite3_stmt* s) {
                       log_record rec;
                       rec.key = text(s, 0);
                       rec.rv = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
                       rec.data = text(s, 2);
                       st.rv = std::max(st.rv, rec.rv);
                       st.objects.push_back(std::move(rec));
                     });
      !r)
    return krt::unexpected(r.error());
  if (auto r = query("SELECT rv, type, key, data FROM history ORDER BY rv",
                     [&](sqlite3_stmt* s) {
                       log_record rec;
                       rec.rv = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
                       rec.type = text(s, 1);
                       rec.key = text(s, 2);
                       rec.data = text(s, 3);
                       st.rv = std::max(st.rv, rec.rv);
                       st.history.push_back(std::move(rec));
                     });
      !r)
    return krt::unexpected(r.error());
  d.max_rv = st.rv;
  return st;
}

void sqlite_log::start(executor shard) {
  shard_ = std::move(shard);
  impl_->work.emplace(impl_->writer_ctx.get_executor());
  impl_->writer = std::thread([this] { impl_->writer_ctx.run(); });
}

awaitable<krt::result<void, std::string>> sqlite_log::commit(log_record rec) {
  if (!pending_) pending_ = std::make_shared<batch>(shard_);
  std::shared_ptr<batch> mine = pending_;
  mine->records.push_back(std::move(rec));
  if (!in_flight_) flush();
  co_await mine->done.wait();
  if (!mine->error.empty()) co_return krt::unexpected(mine->error);
  co_return krt::result<void, std::string>{};
}

void sqlite_log::flush() {
  if (!pending_ || pending_->records.empty()) return;
  std::shared_ptr<batch> b = std::move(pending_);
  pending_.reset();
  in_flight_ = true;
  asio::post(impl_->writer_ctx, [this, b] {
    std::string error = write_batch(b->records);
    asio::post(shard_, [this, b, error = std::move(error)]() mutable {
      b->error = std::move(error);
      ++batches_;
      records_ += b->records.size();
      in_flight_ = false;
      b->done.set();
      flush();
    });
  });
}

std::string sqlite_log::write_batch(const std::vector<log_record>& records) {
  auto& d = *impl_;
  auto step = [&](sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE;
  };
  auto bind_text = [](sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  };
  if (auto r = d.exec("BEGIN IMMEDIATE"); !r) return "starting a transaction: " + r.error();
  std::uint64_t max_rv = d.max_rv;
  for (const auto& rec : records) {
    bool ok;
    if (rec.type == "DELETED") {
      bind_text(d.remove.get(), 1, rec.key);
      ok = step(d.remove.get());
    } else {
      bind_text(d.upsert.get(), 1, rec.key);
      sqlite3_bind_int64(d.upsert.get(), 2, static_cast<sqlite3_int64>(rec.rv));
      bind_text(d.upsert.get(), 3, rec.data);
      ok = step(d.upsert.get());
    }
    if (ok) {
      sqlite3_bind_int64(d.history.get(), 1, static_cast<sqlite3_int64>(rec.rv));
      bind_text(d.history.get(), 2, rec.type);
      bind_text(d.history.get(), 3, rec.key);
      bind_text(d.history.get(), 4, rec.data);
      ok = step(d.history.get());
    }
    if (!ok) {
      std::string err = sqlite_error(d.db, "writing " + rec.key);
      (void)d.exec("ROLLBACK");
      return err;
    }
    max_rv = std::max(max_rv, rec.rv);
  }
  bool ok = true;
  auto set_meta = [&](std::uint64_t v, const char* k) {
    sqlite3_bind_int64(d.set_rv.get(), 1, static_cast<sqlite3_int64>(v));
    sqlite3_bind_text(d.set_rv.get(), 2, k, -1, SQLITE_STATIC);
    ok = ok && step(d.set_rv.get());
  };
  set_meta(max_rv, "rv");
  // Keep the history bounded; trimming in the same transaction keeps
  // `compacted` consistent with what is retained.
  if (max_rv > history_limit_ && max_rv / 64 != d.max_rv / 64) {
    std::uint64_t below = max_rv - history_limit_;
    sqlite3_bind_int64(d.trim.get(), 1, static_cast<sqlite3_int64>(below));
    ok = ok && step(d.trim.get());
    set_meta(below, "compacted");
  }
  if (!ok) {
    std::string err = sqlite_error(d.db, "updating metadata");
    (void)d.exec("ROLLBACK");
    return err;
  }
  if (auto r = d.exec("COMMIT"); !r) {
    (void)d.exec("ROLLBACK");
    return "committing: " + r.error();
  }
  d.max_rv = max_rv;
  return {};
}

awaitable<void> sqlite_log::stop() {
  while (in_flight_ || (pending_ && !pending_->records.empty())) {
    std::shared_ptr<batch> wait_for = pending_;
    if (in_flight_ || !wait_for) {
      asio::steady_timer t(shard_, std::chrono::milliseconds(1));
      co_await t.async_wait(use_nothrow);
      continue;
    }
    flush();
  }
  if (impl_->work) impl_->work.reset();
  if (impl_->writer.joinable()) impl_->writer.join();
}

}  // namespace krt::local
