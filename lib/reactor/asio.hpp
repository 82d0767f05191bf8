#pragma once
// The slice of Boost.Asio every coroutine in the project uses, with short
// aliases. Asio is compiled once (asio_impl.cpp, BOOST_ASIO_SEPARATE_COMPILATION),
// so including this header is cheap; composed operations (Beast, SSL) stay in
// the few translation units that need them.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace krt {
namespace asio = boost::asio;
template <typename T = void>
using awaitable = asio::awaitable<T>;
using executor = asio::any_io_executor;
using boost::system::error_code;

// The default completion token of the project: errors as values (STYLE rule 8).
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}  // namespace krt
