#pragma once
// Which process an Execute request starts: the argument rules of the built-in
// Runtime Servers (SPEC §5 "Command selection" for bash; the python rules of
// docs/runtime-servers.md). Pure functions: the file system is consulted only
// through the `is_file` predicate, so the rules are unit-tested without files.
//
// Affinity: immutable (no state).
#include <functional>
#include <string>
#include <vector>

#include "lib/core/result.hpp"

namespace krt::servers {

enum class runtime_kind { bash, python };

struct command_request {
  runtime_kind kind = runtime_kind::bash;
  std::string interpreter;  // "bash" / "python3" or a path (--bash, --python)
  std::string working_dir;  // absolute, already resolved (never empty)
  std::string entrypoint;   // relative to working_dir; "" means "script"
  std::vector<std::string> args;
  std::string handler;  // function mode; not supported by the task servers
};

// The argv to run (argv[0] is looked up in the server's PATH when it has no
// '/'), or the error the execution fails with (FAILED, exit code 0):
//   bash:   "no args or script provided"
//   python: "no script or args provided",
//           "handler <h> is not supported: this server runs tasks only; ..."
//   both:   "invalid entrypoint <e>: ..." for an absolute entrypoint or one
//           that leaves the working directory.
result<std::vector<std::string>, std::string> select_command(const command_request& req,
                                                             const std::function<bool(const std::string&)>& is_file);

// True if `p` names a regular file (following symlinks).
bool regular_file_exists(const std::string& p);

}  // namespace krt::servers
