#include "lib/reactor/engine.hpp"

#include "lib/core/result.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <exception>
#include <string>

namespace krt::reactor {
namespace {

thread_local engine* tl_engine = nullptr;
thread_local unsigned tl_shard = no_shard;

void pin_to_cpu(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % CPU_SETSIZE, &set);
  // Best effort: a cpuset or container limit may refuse it.
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

unsigned default_shards() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

}  // namespace

unsigned this_shard_id() { return tl_shard; }
engine* this_engine() { return tl_engine; }

namespace detail {
void bind_thread(engine* e, unsigned shard) {
  tl_engine = e;
  tl_shard = shard;
}
}  // namespace detail

engine::engine(engine_options opts) : opts_(std::move(opts)) {
  unsigned n = opts_.shards == 0 ? default_shards() : opts_.shards;
  shards_.reserve(n);
  for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<shard>());
  shutdown_ = std::make_unique<event>(shards_[0]->ctx.get_executor());
}

engine::~engine() {
  for (auto& s : shards_) s->ctx.stop();
  for (auto& s : shards_)
    if (s->thread.joinable()) s->thread.join();
}

void engine::request_shutdown() {
  asio::post(shards_[0]->ctx, [this] { shutdown_->set(); });
}

awaitable<void> engine::signal_loop() {
  if (opts_.stop_signals.empty()) co_return;
  asio::signal_set signals(co_await asio::this_coro::executor);
  for (int sig : opts_.stop_signals) signals.add(sig);
  for (int count = 0;; ++count) {
    auto [ec, sig] = co_await signals.async_wait(use_nothrow);
    if (ec) co_return;  // cancelled at the end of run()
    if (count > 0) {
      // A second signal: the user wants out now.
      static const char msg[] = "second stop signal: exiting immediately\n";
      (void)!::write(2, msg, sizeof(msg) - 1);
      std::_Exit(130);
    }
    (void)sig;
    shutdown_->set();
  }
}

void engine::run_shard(asio::io_context& ctx) {
  if (opts_.idle_spin.count() <= 0) {
    ctx.run();
    return;
  }
  // Poll while work keeps arriving within idle_spin; otherwise block for the
  // next handler. run_one() returns 0 only once the context is stopped.
  auto last_work = std::chrono::steady_clock::now();
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) {
      last_work = std::chrono::steady_clock::now();
      continue;
    }
    if (ctx.stopped()) break;
    if (std::chrono::steady_clock::now() - last_work < opts_.idle_spin) {
      cpu_relax();
      continue;
    }
    if (ctx.run_one() == 0) break;
    last_work = std::chrono::steady_clock::now();
  }
}

int engine::run(std::function<awaitable<int>()> main) {
  using work_guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<work_guard> guards;
  for (auto& s : shards_) guards.emplace_back(s->ctx.get_executor());

  for (unsigned i = 1; i < shards_.size(); ++i) {
    shards_[i]->thread = std::thread([this, i] {
      detail::bind_thread(this, i);
      if (opts_.pin) pin_to_cpu(i);
      run_shard(shards_[i]->ctx);
      detail::bind_thread(nullptr, no_shard);
    });
  }
  detail::bind_thread(this, 0);
  if (opts_.pin) pin_to_cpu(0);

  int exit_code = 1;
  auto& ctx0 = shards_[0]->ctx;
  asio::cancellation_signal stop_signals;
  asio::co_spawn(ctx0, signal_loop(),
                 asio::bind_cancellation_slot(stop_signals.slot(), [](std::exception_ptr) {}));
  asio::co_spawn(ctx0, main(), [&](std::exception_ptr e, int rc) {
    if (e) {
      std::fprintf(stderr, "fatal: %s\n", describe_exception(e).c_str());
      exit_code = 1;
    } else {
      exit_code = rc;
    }
    stop_signals.emit(asio::cancellation_type::terminal);
    // Orderly shutdown was main's job; whatever is left is abandoned.
    for (auto& g : guards) g.reset();
    for (unsigned i = 1; i < shards_.size(); ++i) shards_[i]->ctx.stop();
    ctx0.stop();
  });
  run_shard(ctx0);
  for (unsigned i = 1; i < shards_.size(); ++i)
    if (shards_[i]->thread.joinable()) shards_[i]->thread.join();
  detail::bind_thread(nullptr, no_shard);
  return exit_code;
}

}  // namespace krt::reactor
