// python-runtime: the built-in Python Runtime Server (docs/runtime-servers.md).
#include "servers/engine/server_main.hpp"

int main(int argc, char** argv) {
  return krt::servers::server_main(argc, argv, {krt::servers::runtime_kind::python, "python-runtime", 9092});
}
