#pragma once
// Holds this replica's share of the scheduler partitions (see
// partitioning.hpp): renews a member Lease, watches which replicas are alive,
// and runs one leader elector per partition it wants, releasing the ones it
// no longer wants so their new owner takes them at once. Ownership changes
// are reported through on_change(partition, owned).
//
// Affinity: shard 0 (the app's). Callbacks run there.
// Lifetime: run() until cancelled, then stop() releases every partition and
// deletes the member Lease.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/kube/client.hpp"
#include "lib/kube/leader_election.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/clock.hpp"
#include "lib/reactor/task_group.hpp"

namespace krt::scheduler {

struct partition_options {
  std::string lease_namespace;
  std::string lease_prefix;  // e.g. "kruntimes-scheduler.kruntimes.com"
  std::string identity;
  unsigned partitions = 1;
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
};

class partition_manager {
 public:
  partition_manager(executor ex, kube::client& c, partition_options opts,
                    std::function<void(unsigned partition, bool owned)> on_change);
  ~partition_manager();

  awaitable<void> run();
  awaitable<void> stop();

  unsigned owned_count() const;
  std::size_t member_count() const { return live_members_.size(); }

 private:
  struct slot {
    std::unique_ptr<kube::leader_elector> elector;
    std::unique_ptr<reactor::task_group> tasks;
    bool owned = false;
  };
  struct seen_member {
    std::string identity;
    std::string resource_version;
    reactor::clock::time_point observed_at{};
    std::chrono::seconds duration{0};
  };

  awaitable<void> renew_membership();
  awaitable<void> refresh_members();
  awaitable<void> rebalance();
  void start_slot(unsigned p);
  awaitable<void> stop_slot(unsigned p);

  executor ex_;
  kube::client& client_;
  partition_options opts_;
  std::function<void(unsigned, bool)> on_change_;
  obs::logger log_;
  std::string member_name_;
  std::vector<slot> slots_;
  std::map<std::string, seen_member> members_;  // by Lease name
  std::vector<std::string> live_members_;
  std::vector<unsigned> wanted_;
};

}  // namespace krt::scheduler
