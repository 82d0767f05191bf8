#pragma once
// The local API server manipulates objects as mutable JSON documents
// (Boost.JSON): patches, defaulting, pruning and metadata bookkeeping all edit
// the tree in place. The rest of the project decodes with simdjson; this DOM is
// for the server only.

#include <boost/json.hpp>

namespace krt::local {

namespace bj = boost::json;

}  // namespace krt::local
