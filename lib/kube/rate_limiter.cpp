#include "lib/kube/rate_limiter.hpp"

#include <algorithm>

namespace krt::kube {

rate_limiter::rate_limiter(reactor::clock& clk, double qps, int burst)
    : clock_(clk), qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(clk.now()) {}

void rate_limiter::refill() {
  auto now = clock_.now();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
}

bool rate_limiter::try_acquire() {
  if (qps_ <= 0) return true;
  refill();
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

awaitable<void> rate_limiter::acquire() {
  if (qps_ <= 0) co_return;
  refill();
  tokens_ -= 1;  // reserve, possibly going into debt
  if (tokens_ >= 0) co_return;
  auto wait = std::chrono::duration<double>(-tokens_ / qps_);
  co_await clock_.sleep_for(std::chrono::duration_cast<reactor::clock::duration>(wait));
}

}  // namespace krt::kube
