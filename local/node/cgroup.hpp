#pragma once
// Per-container cgroups (cgroup v2) for the local node, so that a container's
// death takes all its processes with it, as a container runtime guarantees:
// also the ones that left the container's process group or session (a
// Runtime Server starts each Run in a process group of its own, so killing
// the server's group alone would leave its Runs running).
//
// The node owns one directory, `<cgroup2 mount><our own cgroup>/<name>`, and
// creates one child per container run in it. No controller is enabled: the
// cgroup is used only to find and kill processes (cgroup.kill, Linux >= 5.14;
// older kernels get a SIGKILL per listed process until none is left). The
// unified hierarchy of a hybrid (v1 + v2) host works as well as a pure v2 one.
//
// Where no cgroup v2 hierarchy is writable (not root, or a delegated
// hierarchy missing), open() says why and the node falls back to process
// groups (process.hpp), saying so once in its log.
//
// Affinity: none (plain file operations; each call completes at once).

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "lib/core/result.hpp"

namespace krt::local::node {

class cgroup_tree {
 public:
  // Creates (or reuses) the node's directory `name` (one path component).
  // Errors say which hierarchy was tried and why it cannot be used.
  static result<cgroup_tree, std::string> open(const std::string& name);
  // The node's directory.
  const std::string& path() const { return path_; }
  // A new, empty child directory for one container run; `child` is one path
  // component (an existing directory of that name is killed and reused).
  result<std::string, std::string> create(const std::string& child) const;
  // Kills the processes of every child and removes the children: what a node
  // killed outright left running. Returns how many processes it killed.
  std::size_t sweep() const;
  // Removes the node's directory if it has no children left (at shutdown).
  void close() const;

 private:
  explicit cgroup_tree(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Operations on one cgroup directory (a child created above).
//
// The pids of its processes (empty when it is gone).
std::vector<pid_t> cgroup_pids(const std::string& dir);
// SIGKILL to every process in it; returns how many were listed. Idempotent.
std::size_t cgroup_kill(const std::string& dir);
// `sig` to every process listed in it.
void cgroup_signal(const std::string& dir, int sig);
// Whether no process is in it any more (true when it does not exist).
bool cgroup_empty(const std::string& dir);
// rmdir; false while it still holds processes (killed ones take a moment).
bool cgroup_remove(const std::string& dir);

}  // namespace krt::local::node
