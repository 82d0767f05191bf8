// The one translation unit that compiles Beast for the whole project; see
// BOOST_BEAST_SEPARATE_COMPILATION in the root meson.build.
#include <boost/beast/src.hpp>
