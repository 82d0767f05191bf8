#pragma once
// Container processes that outlived their node. Each container runs in a
// session of its own, so when `krt local serve` is killed with SIGKILL (no
// chance to stop its pods) the processes keep running. The node therefore
// records every container's process group in <state>/procs/<pid> (with the
// process's start time, so a reused pid is never mistaken for it) and, when
// it starts again on that state directory, kills what is left.
//
// Affinity: none (plain file and /proc operations; call from one thread).

#include <sys/types.h>

#include <cstddef>
#include <filesystem>

namespace krt::local {

// Records `pid` (a process group leader) under `dir`; best effort.
void record_process(const std::filesystem::path& dir, pid_t pid);
// Forgets `pid` once it has been reaped.
void forget_process(const std::filesystem::path& dir, pid_t pid);
// Kills (SIGKILL, the whole group) every recorded process still running with
// the recorded start time, forgets every record, and returns how many it killed.
std::size_t kill_leftovers(const std::filesystem::path& dir);

}  // namespace krt::local
