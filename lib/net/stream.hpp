#pragma once
// A TCP-or-TLS Beast stream behind one type, for the few translation units
// that run HTTP (server.cpp, lib/kube/http_transport.cpp). Not for general
// inclusion: it pulls in Beast.

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <variant>

#include "lib/reactor/asio.hpp"

namespace krt::net {

namespace beast = boost::beast;
using tcp_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using any_stream = std::variant<tcp_stream, tls_stream>;

inline tcp_stream& lowest_layer(any_stream& s) {
  if (auto* t = std::get_if<tcp_stream>(&s)) return *t;
  return beast::get_lowest_layer(std::get<tls_stream>(s));
}

// Closes the socket at once (no TLS close_notify): for errors and aborts.
inline void hard_close(any_stream& s) {
  error_code ignored;
  lowest_layer(s).socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  lowest_layer(s).socket().close(ignored);
}

}  // namespace krt::net
