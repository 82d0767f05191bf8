#pragma once
// sharded<T>: one T per shard, built and destroyed on its home shard (DESIGN §3,
// after Seastar's sharded<T>). T must have `awaitable<void> stop()`; if it has
// `awaitable<void> start()` that runs after construction.
//
// Affinity: start()/stop()/invoke_on*() may be awaited from any shard; local()
// only from a shard thread of the same engine. Instances never see each
// other: cross-shard work goes through invoke_on with values.

#include <cassert>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <variant>
#include <vector>

#include "lib/reactor/submit.hpp"

namespace krt::reactor {

template <typename T>
class sharded {
 public:
  explicit sharded(engine& e) : engine_(e), instances_(e.size()) {}
  sharded(const sharded&) = delete;
  sharded& operator=(const sharded&) = delete;
  ~sharded() {
    for ([[maybe_unused]] auto& p : instances_)
      assert(!p && "sharded<T> destroyed without stop()");
  }

  // Constructs T(args...) on every shard (arguments are copied to each).
  template <typename... Args>
  awaitable<void> start(Args... args) {
    for (unsigned i = 0; i < engine_.size(); ++i) {
      co_await submit_to(engine_, i, [this, i, args...]() -> awaitable<void> {
        return start_one(i, args...);
      });
    }
  }

  // Stops and destroys every instance on its home shard, in reverse order.
  awaitable<void> stop() {
    for (unsigned i = engine_.size(); i-- > 0;) {
      co_await submit_to(engine_, i, [this, i]() -> awaitable<void> { return stop_one(i); });
    }
  }

  unsigned size() const { return engine_.size(); }

  T& local() {
    unsigned id = this_shard_id();
    if (id >= instances_.size() || !instances_[id])
      throw std::logic_error("sharded<T>::local() called off-shard or before start()");
    return *instances_[id];
  }

  // fn(T&) on `shard`; returns its value (or awaits its awaitable).
  template <typename F>
  auto invoke_on(unsigned shard, F fn) {
    return submit_to(engine_, shard, bound_call<F>{this, shard, std::move(fn)});
  }

  // fn(T&) on every shard concurrently; waits for all, rethrows the first error.
  template <typename F>
  awaitable<void> invoke_on_all(F fn) {
    (void)co_await map(std::move(fn), std::false_type{});
  }

  // fn(T&) on every shard concurrently; the results in shard order.
  template <typename F>
  auto map(F fn) {
    return map(std::move(fn), std::true_type{});
  }

 private:
  template <typename F>
  struct bound_call {
    sharded* self;
    unsigned shard;
    F fn;
    auto operator()() { return fn(*self->instances_[shard]); }
  };

  template <typename... Args>
  awaitable<void> start_one(unsigned i, Args... args) {
    instances_[i] = std::make_unique<T>(args...);
    if constexpr (requires(T& t) { t.start(); }) co_await instances_[i]->start();
  }
  awaitable<void> stop_one(unsigned i) {
    if (!instances_[i]) co_return;
    co_await instances_[i]->stop();
    instances_[i].reset();
  }

  // Runs all calls concurrently. Completion is tracked in shared state owned
  // by the handlers, so a cancelled caller leaves nothing dangling.
  template <typename F, bool Collect>
  awaitable<std::vector<detail::unit_if_void_t<detail::submit_result_t<bound_call<F>>>>> map(
      F fn, std::bool_constant<Collect>) {
    using R = detail::submit_result_t<bound_call<F>>;
    using V = detail::unit_if_void_t<R>;
    struct state {
      state(executor ex, std::size_t n) : done(std::move(ex)), values(n), errors(n), pending(n) {}
      event done;
      std::vector<V> values;
      std::vector<std::exception_ptr> errors;
      std::size_t pending;
    };
    executor home = co_await asio::this_coro::executor;
    auto st = std::make_shared<state>(home, engine_.size());
    for (unsigned i = 0; i < engine_.size(); ++i) {
      auto body = detail::invoke_body(bound_call<F>{this, i, fn});
      if constexpr (std::is_void_v<R>) {
        asio::co_spawn(engine_.get_executor(i), std::move(body),
                       asio::bind_executor(home, [st, i](std::exception_ptr e) {
                         st->errors[i] = e;
                         if (--st->pending == 0) st->done.set();
                       }));
      } else {
        asio::co_spawn(engine_.get_executor(i), std::move(body),
                       asio::bind_executor(home, [st, i](std::exception_ptr e, R r) {
                         st->errors[i] = e;
                         if (!e) st->values[i] = std::move(r);
                         if (--st->pending == 0) st->done.set();
                       }));
      }
    }
    co_await st->done.wait();
    for (auto& e : st->errors)
      if (e) std::rethrow_exception(e);
    co_return std::move(st->values);
  }

  engine& engine_;
  std::vector<std::unique_ptr<T>> instances_;  // slot i touched only on shard i
};

}  // namespace krt::reactor
