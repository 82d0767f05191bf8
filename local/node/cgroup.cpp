#include "local/node/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace krt::local::node {
namespace {

namespace fs = std::filesystem;

bool write_file(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = ::write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(data.size());
}

// The mount point of the cgroup v2 hierarchy (from /proc/self/mountinfo:
// field 5 is the mount point, the filesystem type follows the " - ").
std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    auto sep = line.find(" - ");
    if (sep == std::string::npos || line.compare(sep + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, sep));
    std::string f, mount;
    for (int i = 1; i <= 5 && (fields >> f); ++i)
      if (i == 5) mount = f;
    if (!mount.empty()) return mount;
  }
  return {};
}

// Our own cgroup in the v2 hierarchy ("0::/path" in /proc/self/cgroup).
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return "/";
}

bool one_component(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

}  // namespace

result<cgroup_tree, std::string> cgroup_tree::open(const std::string& name) {
  if (!one_component(name)) return unexpected("invalid cgroup name \"" + name + "\"");
  std::string mount = cgroup2_mount();
  if (mount.empty()) return unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  std::string own = own_cgroup();
  if (own == "/") own.clear();
  // A deleted cgroup (our own was removed under us) reads as "/x (deleted)".
  if (own.find(' ') != std::string::npos) return unexpected("our own cgroup is unusable: " + own);
  std::string dir = mount + own + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return unexpected("cannot create the cgroup " + dir + ": " + std::system_category().message(errno));
  // Writable for us means we can also move processes into its children.
  if (::access((dir + "/cgroup.procs").c_str(), W_OK) != 0)
    return unexpected("the cgroup " + dir + " is not writable: " + std::system_category().message(errno));
  return cgroup_tree(dir);
}

result<std::string, std::string> cgroup_tree::create(const std::string& child) const {
  if (!one_component(child)) return unexpected("invalid cgroup name \"" + child + "\"");
  std::string dir = path_ + "/" + child;
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return unexpected("cannot create the cgroup " + dir + ": " + std::system_category().message(errno));
    cgroup_kill(dir);  // a leftover of the same name: it must start empty
  }
  return dir;
}

std::size_t cgroup_tree::sweep() const {
  std::size_t killed = 0;
  std::error_code ec;
  std::vector<std::string> children;
  for (const auto& e : fs::directory_iterator(path_, ec))
    if (e.is_directory(ec)) children.push_back(e.path().string());
  for (const auto& dir : children) killed += cgroup_kill(dir);
  // Killed processes leave their cgroup as the kernel reaps them; give them
  // a moment (bounded) so the directories can go.
  for (const auto& dir : children)
    for (int i = 0; i < 400 && !cgroup_remove(dir); ++i) ::usleep(5000);
  return killed;
}

void cgroup_tree::close() const { ::rmdir(path_.c_str()); }

std::vector<pid_t> cgroup_pids(const std::string& dir) {
  std::vector<pid_t> out;
  std::ifstream in(dir + "/cgroup.procs");
  for (std::string line; std::getline(in, line);) {
    pid_t pid = 0;
    auto [end, err] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (err == std::errc() && pid > 0) out.push_back(pid);
  }
  return out;
}

std::size_t cgroup_kill(const std::string& dir) {
  std::vector<pid_t> pids = cgroup_pids(dir);
  if (pids.empty()) return 0;
  // cgroup.kill reaches every process atomically, also ones forked while we
  // look. Without it (Linux < 5.14), SIGKILL whatever is listed until nothing
  // new appears: a killed process cannot fork any more.
  if (write_file(dir + "/cgroup.kill", "1")) return pids.size();
  std::size_t total = 0;
  for (int round = 0; round < 100 && !pids.empty(); ++round) {
    for (pid_t p : pids) ::kill(p, SIGKILL);
    total += pids.size();
    ::usleep(1000);
    pids = cgroup_pids(dir);
  }
  return total;
}

void cgroup_signal(const std::string& dir, int sig) {
  for (pid_t p : cgroup_pids(dir)) ::kill(p, sig);
}

bool cgroup_empty(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.events");
  if (!in) return true;
  for (std::string line; std::getline(in, line);)
    if (line == "populated 1") return false;
  return true;
}

bool cgroup_remove(const std::string& dir) { return ::rmdir(dir.c_str()) == 0 || errno == ENOENT; }

}  // namespace krt::local::node
