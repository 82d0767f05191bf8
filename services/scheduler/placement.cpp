#include "services/scheduler/placement.hpp"

#include <algorithm>
#include <limits>

#include "lib/api/phase.hpp"
#include "lib/api/retry.hpp"
#include "lib/api/validation.hpp"

namespace krt::scheduler {

// ------------------------------------------------------------ reconcile step

action decide(const api::run& r, wall_time now) {
  action a;
  if (api::phase_of(r.status) != api::phase::pending || r.spec.runtime.empty()) return a;
  if (r.spec.cancel_requested) {
    a.kind = action_kind::cancel;
    return a;
  }
  auto req = api::effective_requests(r.spec);
  if (!req) {
    a.kind = action_kind::invalid;
    a.message = req.error();
    return a;
  }
  // A Run the reaper sent back for another attempt waits out the backoff,
  // counted from when the previous attempt failed (Running=False).
  if (r.status.attempt > 1) {
    const auto* running = api::find_condition(r.status.conditions, api::condition_type::running);
    if (running != nullptr && running->status == "False" && running->last_transition_time) {
      wall_time until = *running->last_transition_time + api::retry_backoff(r.spec.retry, r.status.attempt);
      if (now < until) {
        a.kind = action_kind::hold;
        a.hold_until = until;
        return a;
      }
    }
  }
  a.kind = action_kind::place;
  a.requests = std::move(*req);
  return a;
}

std::string_view to_string(rejection r) {
  switch (r) {
    case rejection::pod_not_running: return "pod_not_running";
    case rejection::pod_terminating: return "pod_terminating";
    case rejection::pod_not_ready: return "pod_not_ready";
    case rejection::heartbeat_stale: return "heartbeat_stale";
    case rejection::unknown_resource: return "unknown_resource";
    case rejection::insufficient_capacity: return "insufficient_capacity";
  }
  return "unknown";
}

namespace {

std::optional<rejection> availability(const api::pod_view& p, wall_time now) {
  if (p.phase != "Running") return rejection::pod_not_running;
  if (p.metadata.deletion_timestamp) return rejection::pod_terminating;
  if (!api::pod_ready(p)) return rejection::pod_not_ready;
  if (!api::heartbeat_fresh(p, now, heartbeat_stale_after)) return rejection::heartbeat_stale;
  return std::nullopt;
}

std::int64_t get_or_zero(const resource_map& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

std::optional<rejection> check_fit(const resource_map& req, const resource_map& capacity, const resource_map& usage) {
  for (const auto& [name, amount] : req) {
    auto cap = capacity.find(name);
    if (cap == capacity.end()) return rejection::unknown_resource;
    std::int64_t used = get_or_zero(usage, name);
    // used + amount <= cap without overflow (all values are non-negative).
    if (amount > cap->second || used > cap->second - amount) return rejection::insufficient_capacity;
  }
  return std::nullopt;
}

// ------------------------------------------------------------ pool

bool pool::upsert_pod(const api::pod_view& p, wall_time now) {
  resource_map cap = api::pod_capacity(p.metadata.annotations);
  bool available = !availability(p, now).has_value();
  auto it = pods_.find(p.metadata.name);
  if (it == pods_.end()) {
    pods_.emplace(p.metadata.name, pod_entry{p, std::move(cap)});
    return available;
  }
  bool was_available = !availability(it->second.pod, now).has_value();
  bool capacity_changed = it->second.capacity != cap;
  // The same pod name with a new UID is a new pod.
  bool replaced = it->second.pod.metadata.uid != p.metadata.uid;
  it->second.pod = p;
  it->second.capacity = std::move(cap);
  return available && (!was_available || capacity_changed || replaced);
}

void pool::remove_pod(const std::string& name) { pods_.erase(name); }

void pool::add_usage(const holding& h, std::int64_t sign) {
  auto& u = usage_[h.pod];
  for (const auto& [name, amount] : h.req) {
    u[name] += sign * amount;
    if (u[name] == 0) u.erase(name);
  }
  if (u.empty()) usage_.erase(h.pod);
}

void pool::set_assigned(const std::string& uid, const std::string& pod, const resource_map& req) {
  release(uid);
  if (auto it = assigned_.find(uid); it != assigned_.end()) {
    if (it->second.pod == pod && it->second.req == req) return;
    add_usage(it->second, -1);
    assigned_.erase(it);
  }
  holding h{pod, req};
  add_usage(h, +1);
  assigned_.emplace(uid, std::move(h));
}

bool pool::clear_assigned(const std::string& uid) {
  auto it = assigned_.find(uid);
  if (it == assigned_.end()) return false;
  add_usage(it->second, -1);
  assigned_.erase(it);
  return true;
}

void pool::reserve(const std::string& uid, const std::string& pod, const resource_map& req) {
  release(uid);
  holding h{pod, req};
  add_usage(h, +1);
  reserved_.emplace(uid, std::move(h));
}

bool pool::release(const std::string& uid) {
  auto it = reserved_.find(uid);
  if (it == reserved_.end()) return false;
  add_usage(it->second, -1);
  reserved_.erase(it);
  return true;
}

resource_map pool::usage_of(const std::string& pod) const {
  auto it = usage_.find(pod);
  return it == usage_.end() ? resource_map{} : it->second;
}

resource_map pool::capacity_of(const std::string& pod) const {
  auto it = pods_.find(pod);
  return it == pods_.end() ? resource_map{} : it->second.capacity;
}

std::size_t pool::available_pods(wall_time now) const {
  std::size_t n = 0;
  for (const auto& [name, e] : pods_)
    if (!availability(e.pod, now)) ++n;
  return n;
}

std::optional<wall_time> pool::next_heartbeat_expiry(wall_time now) const {
  std::optional<wall_time> next;
  for (const auto& [name, e] : pods_) {
    const auto* c = api::pod_condition(e.pod, api::heartbeat_condition);
    if (c == nullptr || c->status != "True" || !c->last_probe_time) continue;
    // Stale once now − lastProbeTime > 15 s, i.e. from one microsecond later.
    wall_time expiry = *c->last_probe_time + heartbeat_stale_after + std::chrono::microseconds{1};
    if (expiry > now && (!next || expiry < *next)) next = expiry;
  }
  return next;
}

placement pool::place(const resource_map& req, wall_time now) const {
  placement out;
  std::vector<candidate> cands;
  std::vector<const pod_entry*> entries;
  static const resource_map no_usage;
  for (const auto& [name, e] : pods_) {
    ++examined_;
    auto u = usage_.find(name);
    const resource_map& usage = u == usage_.end() ? no_usage : u->second;
    auto why = availability(e.pod, now);
    if (!why) why = check_fit(req, e.capacity, usage);
    if (why) {
      ++out.rejections[*why];
      continue;
    }
    cands.push_back(candidate{name, e.capacity, usage});
    entries.push_back(&e);
  }
  out.candidates = cands.size();
  int best = pick(cands, least_loaded_scores(cands, req));
  if (best >= 0) {
    out.pod = cands[static_cast<std::size_t>(best)].name;
    out.pod_uid = entries[static_cast<std::size_t>(best)]->pod.metadata.uid;
  }
  return out;
}

bool dominates(const resource_map& a, const resource_map& b) {
  for (const auto& [name, amount] : b)
    if (get_or_zero(a, name) < amount) return false;
  return true;
}

std::vector<std::int64_t> least_loaded_scores(const std::vector<candidate>& cands, const resource_map& req) {
  const std::size_t n = cands.size();
  std::vector<std::int64_t> scores(n, 0);
  if (n == 0) return scores;
  if (n == 1) {
    scores[0] = 100;
    return scores;
  }
  struct load {
    double max = 0;
    double sum = 0;
    std::size_t index = 0;
  };
  std::vector<load> loads(n);
  for (std::size_t i = 0; i < n; ++i) {
    loads[i].index = i;
    for (const auto& [name, cap] : cands[i].capacity) {
      if (cap <= 0) continue;
      double r = static_cast<double>(get_or_zero(cands[i].usage, name) + get_or_zero(req, name)) /
                 static_cast<double>(cap);
      loads[i].max = std::max(loads[i].max, r);
      loads[i].sum += r;
    }
  }
  std::stable_sort(loads.begin(), loads.end(), [](const load& a, const load& b) {
    if (a.max != b.max) return a.max < b.max;
    return a.sum < b.sum;
  });
  std::size_t group_start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && (loads[i].max != loads[i - 1].max || loads[i].sum != loads[i - 1].sum)) group_start = i;
    scores[loads[i].index] =
        static_cast<std::int64_t>((n - 1 - group_start) * 100 / (n - 1));
  }
  return scores;
}

int pick(const std::vector<candidate>& cands, const std::vector<std::int64_t>& scores) {
  int best = -1;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    auto b = static_cast<std::size_t>(best);
    if (scores[i] > scores[b] || (scores[i] == scores[b] && cands[i].name < cands[b].name))
      best = static_cast<int>(i);
  }
  return best;
}

// ------------------------------------------------------------ status edits

std::string waiting_message(std::string_view runtime) {
  return "waiting for available runtime pods for runtime \"" + std::string(runtime) + "\"";
}

api::run with_assignment(const api::run& r, const std::string& pod, const std::string& pod_uid, wall_time now) {
  api::run out = r;
  out.status.phase_text = api::to_string(api::phase::scheduled);
  out.status.assigned_pod = pod;
  out.status.assigned_pod_uid = pod_uid;
  kube::condition c;
  c.type = api::condition_type::scheduled;
  c.status = "True";
  c.reason = api::reason::assigned;
  c.message = "assigned to runtime pod " + pod;
  api::set_condition(out.status.conditions, std::move(c), now);
  // The assignment time, even if an earlier attempt already set Scheduled=True.
  for (auto& cond : out.status.conditions)
    if (cond.type == api::condition_type::scheduled) cond.last_transition_time = now;
  return out;
}

api::run with_cancelled(const api::run& r, wall_time now) {
  api::run out = r;
  api::set_terminal(out.status, api::phase::cancelled, api::reason::cancelled, "cancelled by user", now);
  return out;
}

api::run with_invalid(const api::run& r, const std::string& message, wall_time now) {
  api::run out = r;
  api::set_terminal(out.status, api::phase::failed, api::reason::invalid_resources, message, now);
  return out;
}

api::run with_message(const api::run& r, const std::string& message) {
  api::run out = r;
  out.status.phase_text = api::to_string(api::phase::pending);
  out.status.message = message;
  return out;
}

std::string pool_key(std::string_view ns, std::string_view runtime) {
  std::string k(ns);
  k += '/';
  k += runtime;
  return k;
}

}  // namespace krt::scheduler
