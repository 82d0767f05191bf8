#include "lib/reactor/clock.hpp"

#include <boost/system/system_error.hpp>

namespace krt::reactor {

awaitable<void> steady_clock_source::sleep_until(time_point deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  co_await timer.async_wait(asio::use_awaitable);
}

clock& real_clock() {
  static steady_clock_source instance;
  return instance;
}

manual_clock::manual_clock(wall_time wall_start) : now_(time_point{} + std::chrono::hours(1)), wall_start_(wall_start) {}

wall_time manual_clock::wall() const {
  return wall_start_ + std::chrono::duration_cast<std::chrono::microseconds>(
                           now_ - (time_point{} + std::chrono::hours(1)));
}

awaitable<void> manual_clock::sleep_until(time_point deadline) {
  if (deadline <= now_) co_return;
  sleeper s(co_await asio::this_coro::executor);
  s.timer.expires_at(asio::steady_timer::time_point::max());
  auto it = sleepers_.emplace(deadline, &s);
  co_await s.timer.async_wait(use_nothrow);
  if (!s.woken) {
    sleepers_.erase(it);
    throw boost::system::system_error(asio::error::operation_aborted);
  }
}

void manual_clock::advance(duration d) {
  now_ += d;
  while (!sleepers_.empty() && sleepers_.begin()->first <= now_) {
    sleeper* s = sleepers_.begin()->second;
    sleepers_.erase(sleepers_.begin());
    s->woken = true;
    s->timer.cancel();
  }
}

manual_clock::time_point manual_clock::next_deadline() const {
  return sleepers_.empty() ? time_point::max() : sleepers_.begin()->first;
}

}  // namespace krt::reactor
