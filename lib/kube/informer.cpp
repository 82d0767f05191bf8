#include "lib/kube/informer.hpp"

#include <algorithm>

#include "lib/obs/log.hpp"

#include <random>
#include <string>
#include <unordered_set>

namespace krt::kube {
namespace {

// 504 with cause ResourceVersionTooLarge: the watch asked for a version the
// server does not have yet, and may never reach.
bool too_large_resource_version(const error& e) {
  if (e.http_status != 504) return false;
  return std::any_of(e.causes.begin(), e.causes.end(),
                     [](const status_cause& c) { return c.reason == "ResourceVersionTooLarge"; });
}

std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
  thread_local std::mt19937 gen{std::random_device{}()};
  std::uniform_real_distribution<double> f(0.5, 1.5);
  return std::chrono::milliseconds(static_cast<long>(static_cast<double>(base.count()) * f(gen)));
}

std::int64_t random_between(std::chrono::seconds lo, std::chrono::seconds hi) {
  thread_local std::mt19937 gen{std::random_device{}()};
  if (hi <= lo) return lo.count();
  std::uniform_int_distribution<std::int64_t> d(lo.count(), hi.count());
  return d(gen);
}

}  // namespace

informer_base::informer_base(client& c, const type_codec& codec, informer_options opts)
    : client_(c), codec_(codec), opts_(std::move(opts)) {}

awaitable<void> informer_base::wait_synced() {
  if (synced_) co_return;
  if (!synced_event_) synced_event_ = std::make_unique<reactor::event>(co_await asio::this_coro::executor);
  co_await synced_event_->wait();
}

awaitable<void> informer_base::sleep_backoff(std::chrono::milliseconds& backoff) {
  co_await client_.get_clock().sleep_for(jittered(backoff));
  backoff = std::min(backoff * 2, opts_.backoff_max);
}

awaitable<result<void>> informer_base::list_and_replace() {
  ++stats_.lists;
  list_options lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.limit = opts_.page_size;
  std::vector<decoded_object> items;
  std::unordered_set<std::string> skipped;  // keys of undecodable items: their cached version stays
  std::string rv;
  for (;;) {
    auto body = co_await client_.list(*codec_.res, opts_.namespace_, lo);
    if (!body) co_return unexpected(std::move(body).error());
    auto page = decode_list(codec_, *body);
    if (!page) co_return fail(errc::decode, "list of " + codec_.res->plural + ": " + page.error().describe());
    for (auto& it : page->items) items.push_back(std::move(it));
    for (const auto& u : page->skipped) {
      report(u);
      skipped.insert(u.namespace_.empty() ? u.name : u.namespace_ + "/" + u.name);
    }
    if (rv.empty()) rv = page->meta.resource_version;
    if (page->meta.continue_token.empty()) {
      rv = page->meta.resource_version;
      break;
    }
    lo.continue_token = page->meta.continue_token;
  }

  // Replace the cache with the listed state, telling handlers the difference.
  std::unordered_set<std::string> listed;
  listed.reserve(items.size());
  for (auto& obj : items) {
    std::string key = key_of(*obj.meta);
    listed.insert(key);
    auto old = store_.get(key);
    if (old && old.meta->resource_version == obj.meta->resource_version) continue;  // unchanged
    store_.upsert(obj);
    for (auto& h : handlers_) {
      if (old) {
        if (h.on_update) h.on_update(old, obj);
      } else if (h.on_add) {
        h.on_add(obj);
      }
    }
  }
  for (const auto& key : store_.keys()) {
    if (listed.count(key) || skipped.count(key)) continue;
    auto gone = store_.erase(key);
    for (auto& h : handlers_)
      if (h.on_delete) h.on_delete(gone);
  }
  rv_ = rv;
  if (!synced_) {
    synced_ = true;
    if (synced_event_) synced_event_->set();
  }
  co_return result<void>{};
}

void informer_base::report(const undecodable_object& u) {
  std::string key = u.namespace_.empty() ? u.name : u.namespace_ + "/" + u.name;
  auto [it, fresh] = reported_.try_emplace(key, u.resource_version);
  if (!fresh && it->second == u.resource_version) return;
  it->second = u.resource_version;
  ++stats_.undecodable;
  if (reported_.size() > 10000) reported_.clear();  // bounded; at worst a repeat report
  if (opts_.metrics != nullptr)
    opts_.metrics
        ->get_counter("kruntimes_informer_undecodable_objects_total",
                      "Objects an informer left out because they do not decode (fix or delete them)",
                      {{"resource", codec_.res->plural}})
        .inc();
  if (opts_.on_undecodable) {
    opts_.on_undecodable(u);
    return;
  }
  static const obs::logger log("informer");
  log.warn("left out an object that does not decode; fix or delete it",
           {{"resource", codec_.res->plural}, {"namespace", u.namespace_}, {"name", u.name},
            {"resourceVersion", u.resource_version}, {"error", u.error}});
}

void informer_base::apply(const watch_event& ev) {
  ++stats_.events;
  if (ev.undecodable) {
    report(*ev.undecodable);
    if (ev.type == event_type::deleted) {
      // Gone from the server: the version we hold goes too.
      const auto& u = *ev.undecodable;
      auto gone = store_.erase(u.namespace_.empty() ? u.name : u.namespace_ + "/" + u.name);
      if (gone)
        for (auto& h : handlers_)
          if (h.on_delete) h.on_delete(gone);
    }
    if (!ev.resource_version.empty()) rv_ = ev.resource_version;
    return;
  }
  switch (ev.type) {
    case event_type::added:
    case event_type::modified: {
      auto old = store_.upsert(ev.object);
      for (auto& h : handlers_) {
        if (old) {
          if (h.on_update) h.on_update(old, ev.object);
        } else if (h.on_add) {
          h.on_add(ev.object);
        }
      }
      break;
    }
    case event_type::deleted: {
      store_.erase(key_of(*ev.object.meta));
      // Handlers get the final state the server sent.
      for (auto& h : handlers_)
        if (h.on_delete) h.on_delete(ev.object);
      break;
    }
    default:
      break;
  }
  if (!ev.resource_version.empty()) rv_ = ev.resource_version;
}

awaitable<bool> informer_base::watch_once(std::chrono::milliseconds& backoff) {
  list_options lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.resource_version = rv_;
  lo.allow_watch_bookmarks = true;
  lo.timeout_seconds = random_between(opts_.watch_timeout_min, opts_.watch_timeout_max);
  ++stats_.watches;
  auto body = co_await client_.watch(*codec_.res, opts_.namespace_, lo);
  if (!body) {
    if (body.error().code == errc::gone) {
      ++stats_.relists_gone;
      co_return true;
    }
    // A resourceVersion the server has not reached (it was restored from an
    // older state): relist, as client-go's reflector does.
    if (too_large_resource_version(body.error())) {
      ++stats_.failures;
      last_error_ = "watch " + codec_.res->plural + ": " + body.error().describe();
      co_await sleep_backoff(backoff);
      co_return true;
    }
    if (body.error().code == errc::cancelled) throw boost::system::system_error(asio::error::operation_aborted);
    ++stats_.failures;
    last_error_ = "watch " + codec_.res->plural + ": " + body.error().describe();
    co_await sleep_backoff(backoff);
    // Not a resourceVersion problem: forbidden/not-found mean the world
    // changed (CRD removed, RBAC edited); relist to find out.
    co_return !body.error().retryable();
  }
  watch_stream stream(std::move(*body), codec_);
  // The server ends the watch after timeout_seconds; allow a minute beyond.
  auto idle = std::chrono::milliseconds((lo.timeout_seconds + 60) * 1000);
  for (;;) {
    auto ev = co_await stream.next(idle);
    if (!ev) {
      if (ev.error().code == errc::cancelled) throw boost::system::system_error(asio::error::operation_aborted);
      ++stats_.failures;
      last_error_ = "watch " + codec_.res->plural + ": " + ev.error().describe();
      stream.close();
      co_await sleep_backoff(backoff);
      // A malformed event may hide a lost change: relist. A broken
      // connection: resume from the last resourceVersion.
      co_return ev.error().code == errc::decode;
    }
    if (!*ev) co_return false;  // clean end (timeoutSeconds): watch again
    auto& e = **ev;
    if (e.type == event_type::error) {
      if (e.status.code == errc::gone) {
        ++stats_.relists_gone;
        co_return true;
      }
      ++stats_.failures;
      last_error_ = "watch " + codec_.res->plural + ": " + e.status.describe();
      co_await sleep_backoff(backoff);
      co_return true;
    }
    if (e.type == event_type::bookmark) ++stats_.bookmarks;
    apply(e);
    backoff = opts_.backoff_initial;
    last_error_.clear();
  }
}

awaitable<void> informer_base::run() {
  auto backoff = opts_.backoff_initial;
  for (;;) {
    auto listed = co_await list_and_replace();
    if (!listed) {
      if (listed.error().code == errc::cancelled) co_return;
      ++stats_.failures;
      last_error_ = "list " + codec_.res->plural + ": " + listed.error().describe();
      co_await sleep_backoff(backoff);
      continue;
    }
    last_error_.clear();
    for (;;) {
      bool relist = co_await watch_once(backoff);
      if (relist) break;
    }
  }
}

}  // namespace krt::kube
