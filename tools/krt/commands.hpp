#pragma once
// The krt subcommands. Each takes its own argv (argv[0] is the command name)
// and returns the process exit code: 0 success, 1 failure (kubectl's
// convention; SPEC §9).

namespace krt::cli {

int cmd_version(int argc, char** argv);
int cmd_local(int argc, char** argv);

}  // namespace krt::cli
