// The one translation unit that compiles Asio (and Asio's OpenSSL layer) for
// the whole project; see BOOST_ASIO_SEPARATE_COMPILATION in the root meson.build.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
