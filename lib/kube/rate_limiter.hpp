#pragma once
// Client-side request rate limit (DESIGN §4): a token bucket of `burst`
// tokens refilled at `qps` per second. acquire() reserves a token and sleeps
// until it is due, so waiters are served in arrival order.
//
// Affinity: per-shard (one per client). qps <= 0 disables limiting.

#include "lib/reactor/clock.hpp"

namespace krt::kube {

class rate_limiter {
 public:
  rate_limiter(reactor::clock& clk, double qps, int burst);
  awaitable<void> acquire();
  // Takes a token if one is available now.
  bool try_acquire();
  double qps() const { return qps_; }

 private:
  void refill();
  reactor::clock& clock_;
  double qps_;
  double burst_;
  double tokens_;
  reactor::clock::time_point last_;
};

}  // namespace krt::kube
