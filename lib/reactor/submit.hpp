#pragma once
// Cross-shard calls (DESIGN.md §3): submit_to(shard, fn) runs fn on that shard
// and resumes the caller on its own shard with the result. fn may return a
// value, void, or an awaitable; exceptions propagate to the caller.
//
// Contract (STYLE rule 4): fn and its captures are moved to the target shard;
// results come back by value; nothing may point into another shard's state.
// Cancelling the caller forwards cancellation to fn's coroutine on the target.

#include <exception>
#include <type_traits>
#include <utility>
#include <variant>
#include <string_view>
#include <stdexcept>

#include "lib/reactor/asio.hpp"
#include "lib/reactor/engine.hpp"

namespace krt::reactor {
namespace detail {

template <typename T>
struct awaitable_traits {
  static constexpr bool is_awaitable = false;
  using value_type = T;
};
template <typename T, typename Ex>
struct awaitable_traits<asio::awaitable<T, Ex>> {
  static constexpr bool is_awaitable = true;
  using value_type = T;
};

template <typename F>
using submit_result_t =
    typename awaitable_traits<std::invoke_result_t<F&>>::value_type;

template <typename T>
using unit_if_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// The body run on the target shard. fn is a parameter, so it lives in the
// coroutine frame for the whole call (no lambda-coroutine capture hazard).
template <typename F>
awaitable<submit_result_t<F>> invoke_body(F fn) {
  using R = std::invoke_result_t<F&>;
  if constexpr (awaitable_traits<R>::is_awaitable) {
    co_return co_await fn();
  } else if constexpr (std::is_void_v<R>) {
    fn();
    co_return;
  } else {
    co_return fn();
  }
}

}  // namespace detail

// Runs fn on `shard` of engine `e`. On the calling shard itself fn runs inline.
template <typename F>
awaitable<detail::submit_result_t<F>> submit_to(engine& e, unsigned shard, F fn) {
  if (shard == this_shard_id() && this_engine() == &e)
    co_return co_await detail::invoke_body(std::move(fn));
  co_return co_await asio::co_spawn(e.get_executor(shard), detail::invoke_body(std::move(fn)),
                                    asio::use_awaitable);
}

// Same, on the engine of the calling thread.
template <typename F>
awaitable<detail::submit_result_t<F>> submit_to(unsigned shard, F fn) {
  engine* e = this_engine();
  if (e == nullptr) throw std::logic_error("submit_to called outside an engine shard");
  co_return co_await submit_to(*e, shard, std::move(fn));
}

// Stable shard for a routing key (FNV-1a): the same key always lands on the
// same shard for a given shard count.
unsigned shard_for(std::string_view key, unsigned shards);

}  // namespace krt::reactor
