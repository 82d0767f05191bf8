#include "services/scheduler/partitions.hpp"

#include <algorithm>
#include <boost/system/system_error.hpp>

#include "lib/json/writer.hpp"
#include "lib/kube/codec.hpp"
#include "services/scheduler/partitioning.hpp"

namespace krt::scheduler {

partition_manager::partition_manager(executor ex, kube::client& c, partition_options opts,
                                     std::function<void(unsigned, bool)> on_change)
    : ex_(std::move(ex)),
      client_(c),
      opts_(std::move(opts)),
      on_change_(std::move(on_change)),
      log_("partitions"),
      member_name_(member_lease_name(opts_.lease_prefix, opts_.identity)),
      slots_(opts_.partitions) {
  log_ = log_.with("identity", opts_.identity);
}

partition_manager::~partition_manager() = default;

unsigned partition_manager::owned_count() const {
  return static_cast<unsigned>(std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.owned; }));
}

awaitable<void> partition_manager::renew_membership() {
  const auto& codec = kube::codec_of<kube::lease>();
  kube::lease l;
  l.metadata.name = member_name_;
  l.metadata.namespace_ = opts_.lease_namespace;
  l.holder_identity = opts_.identity;
  l.lease_duration_seconds = static_cast<std::int32_t>(opts_.lease_duration.count());
  l.renew_time = client_.get_clock().wall();
  json::writer w;
  kube::encode(w, l);
  std::string body = w.take();
  // Only this replica writes its member Lease, so a merge patch needs no
  // precondition; the first renewal creates it.
  auto r = co_await client_.patch(*codec.res, opts_.lease_namespace, member_name_, kube::patch_type::merge, body);
  if (!r && r.error().code == kube::errc::not_found) r = co_await client_.create(*codec.res, opts_.lease_namespace, body);
  if (!r) log_.warn("cannot renew the member lease", {{"lease", member_name_}, {"error", r.error().describe()}});
}

awaitable<void> partition_manager::refresh_members() {
  const auto& codec = kube::codec_of<kube::lease>();
  auto listed = co_await client_.list(*codec.res, opts_.lease_namespace);
  if (!listed) {
    log_.warn("cannot list member leases", {{"error", listed.error().describe()}});
    co_return;  // keep the last view
  }
  auto decoded = kube::decode_list(codec, *listed);
  if (!decoded) co_return;
  auto now = client_.get_clock().now();
  std::map<std::string, seen_member> next;
  std::vector<std::string> expired;
  for (const auto& item : decoded->items) {
    auto l = kube::object_as<kube::lease>(item);
    if (!is_member_lease(opts_.lease_prefix, l->metadata.name) || l->holder_identity.empty()) continue;
    seen_member m;
    m.identity = l->holder_identity;
    m.resource_version = l->metadata.resource_version;
    m.duration = std::chrono::seconds(std::max<std::int32_t>(l->lease_duration_seconds, 1));
    m.observed_at = now;
    // Liveness is judged on our own clock from when the record last changed,
    // as leader election does, so clock skew between hosts does not matter.
    if (auto it = members_.find(l->metadata.name);
        it != members_.end() && it->second.resource_version == m.resource_version)
      m.observed_at = it->second.observed_at;
    if (now - m.observed_at > 20 * m.duration) expired.push_back(l->metadata.name);
    next.emplace(l->metadata.name, std::move(m));
  }
  members_ = std::move(next);
  std::vector<std::string> live{opts_.identity};
  for (const auto& [name, m] : members_)
    if (now - m.observed_at < m.duration) live.push_back(m.identity);
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (live != live_members_) log_.info("scheduler replicas", {{"live", static_cast<std::uint64_t>(live.size())}});
  live_members_ = std::move(live);
  // Member Leases of replicas long gone (a pod per rollout) are removed.
  for (const auto& name : expired) {
    auto r = co_await client_.remove(*codec.res, opts_.lease_namespace, name);
    if (r) log_.info("removed the member lease of a departed replica", {{"lease", name}});
  }
}

void partition_manager::start_slot(unsigned p) {
  slot& s = slots_[p];
  kube::leader_election_options lo;
  lo.lease_namespace = opts_.lease_namespace;
  lo.lease_name = partition_lease_name(opts_.lease_prefix, p);
  lo.identity = opts_.identity;
  lo.lease_duration = opts_.lease_duration;
  lo.renew_deadline = opts_.renew_deadline;
  lo.retry_period = opts_.retry_period;
  kube::leader_callbacks cb;
  cb.on_started_leading = [this, p] {
    slots_[p].owned = true;
    on_change_(p, true);
  };
  cb.on_stopped_leading = [this, p] {
    if (!slots_[p].owned) return;  // stop_slot already reported it
    slots_[p].owned = false;
    on_change_(p, false);
  };
  s.elector = std::make_unique<kube::leader_elector>(client_, lo, std::move(cb));
  s.tasks = std::make_unique<reactor::task_group>(ex_, "partition");
  s.tasks->spawn(s.elector->run(), "partition lease");
}

awaitable<void> partition_manager::stop_slot(unsigned p) {
  slot& s = slots_[p];
  if (!s.tasks) co_return;
  // Stop writing before the Lease is released, so the next holder never
  // overlaps with us.
  if (s.owned) {
    s.owned = false;
    on_change_(p, false);
  }
  co_await s.tasks->close();  // the elector releases a held Lease
  s.tasks.reset();
  s.elector.reset();
}

awaitable<void> partition_manager::rebalance() {
  auto wanted = wanted_partitions(live_members_, opts_.identity, opts_.partitions);
  if (wanted != wanted_)
    log_.info("partitions wanted", {{"count", static_cast<std::uint64_t>(wanted.size())},
                                    {"replicas", static_cast<std::uint64_t>(live_members_.size())}});
  wanted_ = wanted;
  std::vector<bool> want(opts_.partitions, false);
  for (unsigned p : wanted) want[p] = true;
  for (unsigned p = 0; p < opts_.partitions; ++p) {
    if (want[p] && !slots_[p].tasks) start_slot(p);
    if (!want[p] && slots_[p].tasks) co_await stop_slot(p);
  }
}

awaitable<void> partition_manager::run() {
  auto& clk = client_.get_clock();
  try {
    for (;;) {
      co_await renew_membership();
      co_await refresh_members();
      co_await rebalance();
      co_await clk.sleep_for(opts_.retry_period);
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
}

awaitable<void> partition_manager::stop() {
  for (unsigned p = 0; p < opts_.partitions; ++p) co_await stop_slot(p);
  const auto& codec = kube::codec_of<kube::lease>();
  // Leaving: the others see one replica fewer at their next refresh.
  auto r = co_await client_.remove(*codec.res, opts_.lease_namespace, member_name_);
  if (!r && r.error().code != kube::errc::not_found)
    log_.warn("cannot delete the member lease", {{"error", r.error().describe()}});
}

}  // namespace krt::scheduler
