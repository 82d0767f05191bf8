// krt: the kruntimes command-line interface. Thin: find the subcommand, run it.
#include <cstring>
#include <iostream>
#include <string_view>

#include "commands.hpp"

namespace {

struct command {
  std::string_view name;
  std::string_view summary;
  int (*run)(int, char**);
};

constexpr command commands[] = {
    {"local", "Run the embedded local control plane (no cluster needed)", krt::cli::cmd_local},
    {"version", "Print the version of krt and how it was built", krt::cli::cmd_version},
};

void usage(std::ostream& out) {
  out << "krt runs short Bash and Python executions (Runs) on Kubernetes with millisecond dispatch.\n\n"
         "Usage:\n  krt <command> [flags]\n\nCommands:\n";
  for (const auto& c : commands) out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nRun 'krt <command> --help' for the flags of a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 1;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(std::cout);
    return 0;
  }
  if (name == "--version") return krt::cli::cmd_version(1, argv + 1);
  for (const auto& c : commands)
    if (c.name == name) return c.run(argc - 1, argv + 1);
  std::cerr << "Error: unknown command \"" << name << "\" for \"krt\"\n\n";
  usage(std::cerr);
  return 1;
}
