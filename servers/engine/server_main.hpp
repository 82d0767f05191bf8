#pragma once
// The whole program of a built-in Runtime Server (bash-runtime,
// python-runtime): flags, JSON-lines logs, the engine and the gRPC server on
// one shard, and a clean exit 0 on SIGTERM (stop accepting, cancel running
// executions, wait for them). Each binary's main() only picks its runtime.
#include "servers/engine/command.hpp"

namespace krt::servers {

struct server_defaults {
  runtime_kind kind;
  const char* program;  // "bash-runtime"
  int port;             // 9091 / 9092
};

int server_main(int argc, char** argv, const server_defaults& defaults);

}  // namespace krt::servers
