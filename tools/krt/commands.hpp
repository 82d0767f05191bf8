#pragma once
// The krt subcommands. Each takes its own argv (argv[0] is the command name)
// and returns the process exit code: 0 success, 1 failure (kubectl's
// convention; SPEC §9).

namespace krt::cli {

int cmd_version(int argc, char** argv);
int cmd_local(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_get(int argc, char** argv);
int cmd_list(int argc, char** argv);
int cmd_describe(int argc, char** argv);
int cmd_watch(int argc, char** argv);
int cmd_run_logs(int argc, char** argv);
int cmd_cancel(int argc, char** argv);
int cmd_delete(int argc, char** argv);
int cmd_wait(int argc, char** argv);
int cmd_outputs(int argc, char** argv);
int cmd_artifact(int argc, char** argv);
int cmd_runtime(int argc, char** argv);
int cmd_completion(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace krt::cli
