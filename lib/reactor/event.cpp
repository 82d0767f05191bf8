#include "lib/reactor/event.hpp"

#include <boost/system/system_error.hpp>

namespace krt::reactor {

event::event(executor ex) : timer_(std::move(ex)) {
  timer_.expires_at(asio::steady_timer::time_point::max());
}

void event::set() {
  set_ = true;
  timer_.cancel();
}

void event::notify_all() {
  ++pulses_;
  timer_.cancel();
}

awaitable<void> event::wait() {
  std::uint64_t seen = pulses_;
  while (!set_ && pulses_ == seen) {
    // The expiry stays at max(): only set()/notify_all() (cancel) end a wait.
    // Re-arming here would cancel the other waiters' waits.
    co_await timer_.async_wait(use_nothrow);
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted);
  }
}

awaitable<void> yield() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

}  // namespace krt::reactor
