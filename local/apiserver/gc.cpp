// Garbage collection (owner references, foreground and orphan deletion) and
// namespace termination, driven by committed events: the listener only
// enqueues keys; gc_loop does the work, one object at a time.
#include <algorithm>

#include "local/apiserver/server_internal.hpp"

namespace krt::local {

namespace {


std::vector<std::string> owner_uids(const bj::object& obj) {
  std::vector<std::string> out;
  const auto* m = obj.if_contains("metadata");
  if (m == nullptr || !m->is_object()) return out;
  const auto* refs = m->as_object().if_contains("ownerReferences");
  if (refs == nullptr || !refs->is_array()) return out;
  for (const auto& ref : refs->as_array())
    if (ref.is_object())
      if (const auto* u = ref.as_object().if_contains("uid"); u != nullptr && u->is_string()) out.emplace_back(u->as_string());
  return out;
}

}  // namespace

void api_server::on_commit(const store_event& ev) {
  const auto& o = *ev.object;
  std::string uid = meta_string(o.object, "uid");
  if (ev.type != event_type::deleted)
    for (const auto& owner : owner_uids(o.object)) {
      auto& deps = dependents_[owner];
      auto entry = std::make_tuple(o.storage_key, o.ns, o.name);
      if (std::find(deps.begin(), deps.end(), entry) == deps.end()) deps.push_back(entry);
    }
  if (o.storage_key == crds_key) refresh_custom_resources();
  bool deleting = ev.type != event_type::deleted && !meta_string(o.object, "deletionTimestamp").empty();
  if (deleting) gc_queue_.emplace_back(o.storage_key, o.ns, o.name);
  if (ev.type == event_type::deleted || deleting) {
    // Dependents may now be orphans (or must go first, for foreground deletion).
    if (auto it = dependents_.find(uid); it != dependents_.end())
      for (const auto& d : it->second) gc_queue_.push_back(d);
    if (ev.type == event_type::deleted) dependents_.erase(uid);
  }
  if (ev.type == event_type::deleted && o.storage_key == crds_key) {
    // Deleting a CRD deletes its custom resources (they are no longer served).
    gc_queue_.emplace_back(o.storage_key, "", o.name);
  }
  // A dependent whose owners are already gone (created after them).
  if (ev.type == event_type::added && !owner_uids(o.object).empty()) gc_queue_.emplace_back(o.storage_key, o.ns, o.name);
  if (!gc_queue_.empty()) gc_wake_.set();
}

awaitable<void> api_server::gc_write(event_type type, std::string storage_key, bj::object object) {
  std::string what = storage_key + "/" + meta_string(object, "namespace") + "/" + meta_string(object, "name");
  auto r = co_await store_->write(type, std::move(storage_key), std::move(object));
  if (!r) log_.warn("garbage collection write failed", {{"object", what}, {"error", r.error()}});
}

awaitable<void> api_server::gc_loop() {
  for (;;) {
    co_await gc_wake_.wait();
    gc_wake_.reset();
    while (!gc_queue_.empty()) {
      auto [sk, ns, name] = gc_queue_.front();
      gc_queue_.erase(gc_queue_.begin());
      try {
        co_await gc_one(sk, ns, name);
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        log_.warn("garbage collection failed", {{"object", sk + "/" + ns + "/" + name}, {"error", e.what()}});
      }
    }
  }
}

awaitable<void> api_server::gc_one(std::string storage_key, std::string ns, std::string name) {
  object_ptr o = store_->latest(storage_key, ns, name);
  if (!o) {
    if (storage_key == crds_key) {
      // The CRD is gone: remove every object it served.
      std::string group_plural;
      auto dot = name.find('.');
      if (dot != std::string::npos) group_plural = name.substr(dot + 1) + "/" + name.substr(0, dot);
      std::vector<object_ptr> victims;
      store_->list(group_plural, "", "", [&](const object_ptr& v) {
        victims.push_back(v);
        return true;
      });
      for (const auto& v : victims) co_await gc_write(event_type::deleted, v->storage_key, v->object);
    }
    co_return;
  }
  resource_ptr r = registry_.find_storage(storage_key);
  const bj::object& obj = o->object;
  bool deleting = !meta_string(obj, "deletionTimestamp").empty();
  std::string uid = meta_string(obj, "uid");
  auto finalizers = finalizers_of(obj);
  auto has = [&](std::string_view f) { return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end(); };
  auto remove_finalizer = [&](std::string_view f) -> awaitable<void> {
    object_ptr cur = store_->latest(storage_key, ns, name);
    if (!cur) co_return;
    auto fs = finalizers_of(cur->object);
    auto it = std::find(fs.begin(), fs.end(), f);
    if (it == fs.end()) co_return;
    fs.erase(it);
    bj::object next = cur->object;
    auto& meta = metadata_of(next);
    if (fs.empty()) meta.erase("finalizers");
    else {
      bj::array a;
      for (const auto& s : fs) a.emplace_back(s);
      meta["finalizers"] = std::move(a);
    }
    if (fs.empty() && !meta_string(next, "deletionTimestamp").empty())
      co_await gc_write(event_type::deleted, storage_key, std::move(next));
    else
      co_await gc_write(event_type::modified, storage_key, std::move(next));
  };
  // Live dependents of this object.
  auto dependents = [&]() {
    std::vector<object_ptr> out;
    if (auto it = dependents_.find(uid); it != dependents_.end())
      for (const auto& [dsk, dns, dname] : it->second) {
        object_ptr d = store_->latest(dsk, dns, dname);
        if (!d) continue;
        auto owners = owner_uids(d->object);
        if (std::find(owners.begin(), owners.end(), uid) != owners.end()) out.push_back(d);
      }
    return out;
  };

  if (storage_key == namespaces_key && deleting) {
    // Namespace termination: delete everything in it, then the namespace.
    std::size_t remaining = 0;
    for (const auto& sk : store_->storage_keys()) {
      resource_ptr rr = registry_.find_storage(sk);
      if (sk == namespaces_key) continue;
      std::vector<object_ptr> inside;
      store_->list(sk, name, "", [&](const object_ptr& v) {
        inside.push_back(v);
        return true;
      });
      remaining += inside.size();
      for (const auto& v : inside) {
        if (!meta_string(v->object, "deletionTimestamp").empty()) continue;
        if (rr)
          co_await delete_object(*rr, v, "Background", false, std::nullopt);
        else
          co_await gc_write(event_type::deleted, v->storage_key, v->object);
      }
    }
    if (remaining == 0) {
      object_ptr cur = store_->latest(storage_key, ns, name);
      if (cur && finalizers_of(cur->object).empty())
        co_await gc_write(event_type::deleted, storage_key, cur->object);
    } else {
      // Check again once the contents (and their finalizers) are gone.
      asio::steady_timer t(ex_, std::chrono::milliseconds(200));
      co_await t.async_wait(use_nothrow);
      gc_queue_.emplace_back(storage_key, ns, name);
      gc_wake_.set();
    }
    co_return;
  }
  if (deleting && has("orphan")) {
    for (const auto& d : dependents()) {
      bj::object next = d->object;
      auto& meta = metadata_of(next);
      bj::array kept;
      for (const auto& ref : meta["ownerReferences"].as_array())
        if (!(ref.is_object() && ref.as_object().contains("uid") && ref.as_object().at("uid") == bj::value(uid))) kept.push_back(ref);
      if (kept.empty()) meta.erase("ownerReferences");
      else meta["ownerReferences"] = std::move(kept);
      co_await gc_write(event_type::modified, d->storage_key, std::move(next));
    }
    co_await remove_finalizer("orphan");
    co_return;
  }
  if (deleting && has("foregroundDeletion")) {
    auto deps = dependents();
    if (deps.empty()) {
      co_await remove_finalizer("foregroundDeletion");
      co_return;
    }
    for (const auto& d : deps) {
      if (!meta_string(d->object, "deletionTimestamp").empty()) continue;
      resource_ptr dr = registry_.find_storage(d->storage_key);
      if (dr) co_await delete_object(*dr, d, "Foreground", false, std::nullopt);
    }
    co_return;  // re-queued when a dependent goes away
  }
  // A dependent: collect it when none of its owners exists any more.
  auto owners = owner_uids(obj);
  if (owners.empty() || deleting) co_return;
  // Owners are looked up by the kind and name in each reference, and must
  // still carry the referenced uid (a re-created owner is a different one).
  const auto* refs = obj.at("metadata").as_object().if_contains("ownerReferences");
  bool any_alive = false;
  for (const auto& ref : refs->as_array()) {
    if (!ref.is_object()) continue;
    const auto& ro = ref.as_object();
    std::string api_version = ro.contains("apiVersion") && ro.at("apiVersion").is_string()
                                  ? std::string(ro.at("apiVersion").as_string()) : "";
    std::string kind = ro.contains("kind") && ro.at("kind").is_string() ? std::string(ro.at("kind").as_string()) : "";
    std::string oname = ro.contains("name") && ro.at("name").is_string() ? std::string(ro.at("name").as_string()) : "";
    std::string ouid = ro.contains("uid") && ro.at("uid").is_string() ? std::string(ro.at("uid").as_string()) : "";
    resource_ptr orr = registry_.find_kind(api_version, kind);
    if (!orr) {
      any_alive = true;  // an owner kind we do not serve: never collect on a guess
      continue;
    }
    object_ptr owner = store_->latest(orr->storage_key, orr->namespaced ? ns : "", oname);
    if (owner && meta_string(owner->object, "uid") == ouid) any_alive = true;
  }
  if (!any_alive && r) co_await delete_object(*r, o, "Background", false, std::nullopt);
}

}  // namespace krt::local
