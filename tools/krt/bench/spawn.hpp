#pragma once
// Floor (b) of `krt bench`: the command a Run executes, spawned directly on
// this machine with posix_spawnp and waited for, no kruntimes in between.
//
// Affinity: blocking; call from a thread that may block (it starts its own
// threads for the concurrent rate).

#include <string>
#include <vector>

namespace krt::cli::bench {

struct spawn_result {
  std::vector<double> latencies_ms;  // spawn → exit, one at a time
  double rate = 0;                   // spawns per second with `concurrency` at once
  int failures = 0;                  // exited non-zero or could not start
  std::string error;                 // the first failure, for the note
};

// Spawns `argv` (argv[0] looked up in PATH) in `dir` with stdin, stdout and
// stderr on /dev/null: `samples` times one after another, then `total` times
// from `concurrency` threads.
spawn_result measure_spawn(const std::vector<std::string>& argv, const std::string& dir, int samples, int total,
                           int concurrency);

}  // namespace krt::cli::bench
