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
    {"run", "Create a Run and follow it to the end, streaming its output", krt::cli::cmd_run},
    {"get", "Show one Run", krt::cli::cmd_get},
    {"list", "List Runs", krt::cli::cmd_list},
    {"describe", "Show a Run in detail, with its events", krt::cli::cmd_describe},
    {"watch", "Print a line for every change of Runs", krt::cli::cmd_watch},
    {"logs", "Print a Run's output", krt::cli::cmd_run_logs},
    {"cancel", "Request cancellation of Runs", krt::cli::cmd_cancel},
    {"delete", "Delete Runs", krt::cli::cmd_delete},
    {"wait", "Wait until a Run reaches a phase or condition", krt::cli::cmd_wait},
    {"outputs", "Print a Run's outputs as KEY=VALUE lines", krt::cli::cmd_outputs},
    {"artifact", "List and download a Run's artifacts", krt::cli::cmd_artifact},
    {"runtime", "List and show Runtimes", krt::cli::cmd_runtime},
    {"completion", "Print a shell completion script (bash, zsh)", krt::cli::cmd_completion},
    {"bench", "Measure Run latency hop by hop against measured floors", krt::cli::cmd_bench},
    {"local", "Run the embedded local control plane (no cluster needed)", krt::cli::cmd_local},
    {"version", "Print the version of krt and how it was built", krt::cli::cmd_version},
};

void usage(std::ostream& out) {
  out << "krt runs short Bash and Python executions (Runs) on Kubernetes with millisecond dispatch.\n\n"
         "Usage:\n  krt <command> [flags]\n\nCommands:\n";
  for (const auto& c : commands) out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nGlobal flags (API commands): --kubeconfig, --context, -n/--namespace, -o/--output.\n"
         "Run 'krt <command> --help' for the flags of a command.\n";
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
