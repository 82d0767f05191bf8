#pragma once
// Deadlines for any awaitable (STYLE rule 7; Boost 1.81 has no cancel_after):
// the operation races a timer with `||`; the loser is cancelled and awaited.
//
// Affinity: runs on the awaiting coroutine's executor.

#include <chrono>
#include <optional>
#include <type_traits>
#include <variant>

#include "lib/reactor/asio.hpp"

namespace krt::reactor {

// The operation's value, or nullopt if `timeout` elapsed first. For
// awaitable<void>, true when it completed in time.
template <typename T>
awaitable<std::optional<T>> with_timeout(awaitable<T> op, std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto winner = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  if (winner.index() == 0) co_return std::get<0>(std::move(winner));
  co_return std::nullopt;
}

inline awaitable<bool> with_timeout(awaitable<void> op, std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto winner = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  co_return winner.index() == 0;
}

}  // namespace krt::reactor
