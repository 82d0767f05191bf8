#pragma once
// The shard-per-core engine (DESIGN.md §3): N shards, each one thread running
// its own io_context (concurrency hint 1). Shard state is private to its thread;
// shards talk only by message passing (submit_to, sharded<T>).
//
// Affinity: an engine is built and run() from one thread, which becomes
// shard 0. size(), executor() and context() are safe from any thread; work
// reaches another shard only through its executor.
//
// Shutdown: the first SIGINT/SIGTERM (or request_shutdown()) sets the event
// returned by shutdown_requested(); the main coroutine is expected to stop its
// services and return. A second signal exits the process at once with 130.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "lib/reactor/asio.hpp"
#include "lib/reactor/event.hpp"

namespace krt::reactor {

struct engine_options {
  unsigned shards = 0;  // 0: one per available core
  bool pin = false;     // pin shard i to CPU i (best effort)
  // After running work, a shard keeps polling for this long before it blocks
  // in the kernel. Waking a blocked thread costs tens of microseconds on a
  // virtual machine (measured: ~25 µs per hop on the 2-core CI machine), so a
  // short spin keeps cross-shard hops in bursts fast, at the price of CPU
  // while idle-after-busy. Zero: always block (Asio's default).
  std::chrono::microseconds idle_spin{0};
  std::vector<int> stop_signals = {SIGINT, SIGTERM};
};

class engine {
 public:
  explicit engine(engine_options opts = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  unsigned size() const { return static_cast<unsigned>(shards_.size()); }
  asio::io_context& context(unsigned shard) { return shards_.at(shard)->ctx; }
  executor get_executor(unsigned shard) { return shards_.at(shard)->ctx.get_executor(); }

  // Runs `main` on shard 0 (the calling thread) with every shard running.
  // Returns main's result, or 1 if it threw (the exception is reported on
  // stderr). When main returns, every shard is stopped and joined.
  int run(std::function<awaitable<int>()> main);

  // Set on shard 0 when a stop signal arrives or request_shutdown() is called.
  // Wait on it from shard 0 only.
  event& shutdown_requested() { return *shutdown_; }
  // Thread-safe.
  void request_shutdown();

 private:
  struct shard {
    asio::io_context ctx{1};
    std::thread thread;
  };
  awaitable<void> signal_loop();
  void run_shard(asio::io_context& ctx);

  engine_options opts_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::unique_ptr<event> shutdown_;
};

// The shard the calling thread runs, or no_shard outside any engine.
inline constexpr unsigned no_shard = ~0U;
unsigned this_shard_id();
// The engine the calling thread belongs to; nullptr outside any engine.
engine* this_engine();

namespace detail {
void bind_thread(engine* e, unsigned shard);
}

}  // namespace krt::reactor
