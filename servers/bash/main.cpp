// bash-runtime: the built-in Bash Runtime Server (docs/runtime-servers.md).
#include "servers/engine/server_main.hpp"

int main(int argc, char** argv) {
  return krt::servers::server_main(argc, argv, {krt::servers::runtime_kind::bash, "bash-runtime", 9091});
}
