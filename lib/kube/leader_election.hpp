#pragma once
// Lease-based leader election (coordination.k8s.io/v1), compatible with
// client-go's resourcelock: the holder renews spec.renewTime every
// retry_period; a candidate takes over once it has seen the same record for
// lease_duration without a renewal. Expiry is judged on the candidate's own
// clock from when it observed the record, so clock skew between hosts does
// not matter. Every write carries the resourceVersion it read (optimistic
// concurrency), so two candidates can never both win.
//
// Affinity: per-shard (normally shard 0); callbacks run on that shard and
// must not block.
// Cancellation: run() returns when cancelled; a leader then releases the lease
// (holder cleared) if release_on_cancel, so a successor need not wait.

#include <chrono>
#include <functional>
#include <string>

#include "lib/kube/client.hpp"
#include "lib/obs/log.hpp"

namespace krt::kube {

struct leader_election_options {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per candidate, e.g. "<pod name>_<random>"
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
  bool release_on_cancel = true;
};

struct leader_callbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

// A candidate identity unique per process: "<$POD_NAME, else the host name,
// else fallback>_<8 hex digits>".
std::string candidate_identity(std::string_view fallback);

class leader_elector {
 public:
  leader_elector(client& c, leader_election_options opts, leader_callbacks cb);

  awaitable<void> run();
  bool is_leader() const { return leading_; }
  const std::string& leader() const { return observed_holder_; }

  // One attempt to acquire or renew; true when we hold the lease afterwards.
  awaitable<bool> try_acquire_or_renew();

 private:
  awaitable<void> release();
  void set_leading(bool leading);

  client& client_;
  leader_election_options opts_;
  leader_callbacks cb_;
  obs::logger log_;
  bool leading_ = false;
  // What we last saw in the Lease, and when (our clock).
  std::string observed_holder_;
  std::optional<wall_time> observed_renew_;
  std::string observed_rv_;
  reactor::clock::time_point observed_at_{};
};

}  // namespace krt::kube
