#include "local/apiserver/store.hpp"

namespace krt::local {

std::string_view event_name(event_type t) {
  switch (t) {
    case event_type::added: return "ADDED";
    case event_type::modified: return "MODIFIED";
    case event_type::deleted: return "DELETED";
  }
  return "MODIFIED";
}

namespace {

object_ptr make_stored(bj::object obj, std::string storage_key, std::uint64_t rv) {
  auto so = std::make_shared<stored_object>();
  so->ns = meta_string(obj, "namespace");
  so->name = meta_string(obj, "name");
  so->rv = rv;
  so->storage_key = std::move(storage_key);
  so->object = std::move(obj);
  so->json = bj::serialize(so->object);
  return so;
}

// "<group>/<plural>/<ns>/<name>": group may be empty, names hold no '/'.
bool split_key(std::string_view key, std::string& storage_key, std::string& ns, std::string& name) {
  auto p1 = key.find('/');
  if (p1 == std::string_view::npos) return false;
  auto p2 = key.find('/', p1 + 1);
  if (p2 == std::string_view::npos) return false;
  auto p3 = key.find('/', p2 + 1);
  if (p3 == std::string_view::npos) return false;
  storage_key = key.substr(0, p2);
  ns = key.substr(p2 + 1, p3 - p2 - 1);
  name = key.substr(p3 + 1);
  return true;
}

event_type parse_type(std::string_view t) {
  if (t == "ADDED") return event_type::added;
  if (t == "DELETED") return event_type::deleted;
  return event_type::modified;
}

}  // namespace

object_store::object_store(executor ex, std::unique_ptr<sqlite_log> log, std::size_t history_limit,
                           std::size_t watcher_queue_limit)
    : ex_(std::move(ex)),
      log_(std::move(log)),
      history_limit_(history_limit),
      watcher_queue_limit_(watcher_queue_limit) {}

object_store::~object_store() = default;

std::string object_store::object_key(std::string_view ns, std::string_view name) {
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).append("/").append(name);
  return k;
}

krt::result<void, std::string> object_store::load() {
  auto st = log_->load();
  if (!st) return krt::unexpected(st.error());
  auto parse = [](const std::string& data, const std::string& key) -> krt::result<bj::object, std::string> {
    boost::system::error_code ec;
    bj::value v = parse_json(data, ec, max_stored_json_depth);
    if (ec || !v.is_object()) return krt::unexpected("the stored object " + key + " is not valid JSON (" + ec.message() + ")");
    return std::move(v.as_object());
  };
  for (auto& rec : st->objects) {
    std::string sk, ns, name;
    if (!split_key(rec.key, sk, ns, name)) return krt::unexpected("malformed key in the database: " + rec.key);
    auto obj = parse(rec.data, rec.key);
    if (!obj) return krt::unexpected(obj.error());
    committed_[sk][object_key(ns, name)] = make_stored(std::move(*obj), sk, rec.rv);
  }
  for (auto& rec : st->history) {
    std::string sk, ns, name;
    if (!split_key(rec.key, sk, ns, name)) continue;
    auto obj = parse(rec.data, rec.key);
    if (!obj) continue;
    push_history({parse_type(rec.type), make_stored(std::move(*obj), sk, rec.rv), nullptr});
  }
  next_rv_ = committed_rv_ = st->rv;
  compacted_rv_ = st->compacted_rv;
  if (!history_.empty()) compacted_rv_ = std::max(compacted_rv_, history_.front().object->rv - 1);
  trim_history();
  return {};
}

void object_store::push_history(store_event ev) {
  history_bytes_ += ev.object->json.size();
  history_.push_back(std::move(ev));
}

void object_store::trim_history() {
  // Keep the newest event whatever its size: a watch from the current
  // resourceVersion needs nothing older.
  while (history_.size() > 1 && (history_.size() > history_limit_ || history_bytes_ > history_bytes_limit_)) {
    compacted_rv_ = history_.front().object->rv;
    history_bytes_ -= history_.front().object->json.size();
    history_.pop_front();
  }
}

void object_store::start() { log_->start(ex_); }

awaitable<void> object_store::stop() {
  co_await log_->stop();
  for (auto& [k, list] : watchers_)
    for (auto& w : list) {
      w->overflowed = true;
      w->wake.set();
    }
}

std::uint64_t object_store::batches() const { return log_->batches(); }

object_ptr object_store::get(std::string_view storage_key, std::string_view ns, std::string_view name) const {
  auto c = committed_.find(std::string(storage_key));
  if (c == committed_.end()) return nullptr;
  auto it = c->second.find(object_key(ns, name));
  return it == c->second.end() ? nullptr : it->second;
}

object_ptr object_store::latest(std::string_view storage_key, std::string_view ns, std::string_view name) const {
  auto o = overlay_.find(std::string(storage_key));
  if (o != overlay_.end()) {
    auto it = o->second.find(object_key(ns, name));
    if (it != o->second.end()) return it->second;
  }
  return get(storage_key, ns, name);
}

void object_store::list(std::string_view storage_key, std::string_view ns, std::string_view after,
                        const std::function<bool(const object_ptr&)>& fn) const {
  auto c = committed_.find(std::string(storage_key));
  if (c == committed_.end()) return;
  const collection& objs = c->second;
  std::string prefix = ns.empty() ? std::string() : std::string(ns) + "/";
  auto it = after.empty() ? objs.lower_bound(prefix) : objs.upper_bound(after);
  for (; it != objs.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!fn(it->second)) break;
  }
}

std::size_t object_store::count(std::string_view storage_key) const {
  auto c = committed_.find(std::string(storage_key));
  return c == committed_.end() ? 0 : c->second.size();
}

std::vector<std::string> object_store::storage_keys() const {
  std::vector<std::string> out;
  for (const auto& [k, c] : committed_)
    if (!c.empty()) out.push_back(k);
  return out;
}

awaitable<krt::result<object_ptr, std::string>> object_store::write(event_type type, std::string storage_key,
                                                                   bj::object object) {
  if (!broken_.empty()) co_return krt::unexpected(broken_);
  std::uint64_t rv = ++next_rv_;
  bj::value& meta = object["metadata"];
  if (!meta.is_object()) meta = bj::object{};
  meta.as_object()["resourceVersion"] = std::to_string(rv);
  object_ptr so = make_stored(std::move(object), storage_key, rv);
  std::string key = object_key(so->ns, so->name);
  object_ptr previous = type == event_type::modified ? latest(storage_key, so->ns, so->name) : nullptr;
  overlay_[storage_key][key] = type == event_type::deleted ? nullptr : so;
  pending_.push_back({rv, type, so, std::move(previous)});
  log_record rec;
  rec.rv = rv;
  rec.type = std::string(event_name(type));
  rec.key = storage_key + "/" + key;
  rec.data = so->json;
  auto r = co_await log_->commit(std::move(rec));
  if (!r) {
    broken_ = "the local control plane's database failed (" + r.error() +
              "); no further writes are accepted: restart it with `krt local down && krt local up`";
    co_return krt::unexpected(broken_);
  }
  apply_committed_through(rv);
  co_return so;
}

void object_store::apply_committed_through(std::uint64_t rv) {
  while (!pending_.empty() && pending_.front().rv <= rv) {
    pending_write pw = std::move(pending_.front());
    pending_.pop_front();
    const object_ptr& so = pw.object;
    std::string key = object_key(so->ns, so->name);
    auto& coll = committed_[so->storage_key];
    if (pw.type == event_type::deleted)
      coll.erase(key);
    else
      coll[key] = so;
    // Drop the overlay entry unless a newer pending write replaced it.
    auto o = overlay_.find(so->storage_key);
    if (o != overlay_.end()) {
      auto it = o->second.find(key);
      if (it != o->second.end()) {
        bool newer = it->second && it->second->rv > so->rv;
        bool newer_delete = !it->second && pw.type != event_type::deleted;
        if (!newer && !newer_delete) o->second.erase(it);
        if (o->second.empty()) overlay_.erase(o);
      }
    }
    committed_rv_ = pw.rv;
    store_event ev{pw.type, so, std::move(pw.previous)};
    push_history(ev);
    trim_history();
    deliver(ev);
    for (const auto& l : listeners_) l(ev);
  }
}

void object_store::deliver(const store_event& ev) {
  auto it = watchers_.find(ev.object->storage_key);
  if (it == watchers_.end()) return;
  for (const auto& w : it->second) {
    if (!w->ns.empty() && w->ns != ev.object->ns) continue;
    if (w->overflowed) continue;
    if (w->queue.size() >= watcher_queue_limit_) {
      w->overflowed = true;
    } else {
      w->queue.push_back(ev);
    }
    w->wake.set();
  }
}

watcher_ptr object_store::watch(std::string storage_key, std::string ns, std::uint64_t from_rv) {
  if (from_rv != 0 && from_rv < compacted_rv_) return nullptr;
  auto w = std::make_shared<watcher>(ex_);
  w->storage_key = std::move(storage_key);
  w->ns = std::move(ns);
  if (from_rv != 0) {
    // History is in rv order: binary search for the first event after from_rv.
    auto first = std::upper_bound(history_.begin(), history_.end(), from_rv,
                                  [](std::uint64_t rv, const store_event& e) { return rv < e.object->rv; });
    for (auto it = first; it != history_.end(); ++it) {
      if (it->object->storage_key != w->storage_key) continue;
      if (!w->ns.empty() && it->object->ns != w->ns) continue;
      w->queue.push_back(*it);
    }
    if (!w->queue.empty()) w->wake.set();
  }
  watchers_[w->storage_key].push_back(w);
  ++watcher_count_;
  return w;
}

void object_store::unwatch(const watcher_ptr& w) {
  auto it = watchers_.find(w->storage_key);
  if (it == watchers_.end()) return;
  auto before = it->second.size();
  it->second.remove(w);
  watcher_count_ -= before - it->second.size();
}

}  // namespace krt::local
