#pragma once
// An awaitable flag for one shard: waiters suspend until set() is called.
// Used for drains (task_group), queues and shutdown requests.
//
// Affinity: per-shard. All calls on the executor given at construction.
// Cancellation: wait() honours the waiter's cancellation slot and then throws
// boost::system::system_error(operation_aborted).

#include "lib/reactor/asio.hpp"

namespace krt::reactor {

class event {
 public:
  explicit event(executor ex);
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  // Wakes every current waiter; later waits return at once until reset().
  void set();
  void reset() { set_ = false; }
  bool is_set() const { return set_; }
  // Wakes current waiters without latching (a pulse for "something changed").
  void notify_all();

  awaitable<void> wait();

 private:
  asio::steady_timer timer_;
  bool set_ = false;
  std::uint64_t pulses_ = 0;
};

// Lets other coroutines on this shard run before continuing.
awaitable<void> yield();

}  // namespace krt::reactor
