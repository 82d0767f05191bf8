#include "local/node/leftovers.hpp"

#include <signal.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace krt::local {
namespace {

namespace fs = std::filesystem;

// Field 22 of /proc/<pid>/stat (clock ticks since boot); empty when the
// process is gone. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
std::string start_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(line.substr(close + 1));
  std::string f;
  for (int i = 3; i <= 22; ++i)
    if (!(fields >> f)) return {};
  return f;
}

}  // namespace

void record_process(const fs::path& dir, pid_t pid) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(dir / std::to_string(pid), std::ios::trunc);
  out << start_time_of(pid) << "\n";
}

void forget_process(const fs::path& dir, pid_t pid) {
  std::error_code ec;
  fs::remove(dir / std::to_string(pid), ec);
}

std::size_t kill_leftovers(const fs::path& dir) {
  std::size_t killed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    pid_t pid = 0;
    auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    std::string recorded;
    if (err == std::errc() && end == name.data() + name.size() && pid > 1) {
      std::ifstream in(entry.path());
      std::getline(in, recorded);
    }
    if (!recorded.empty() && start_time_of(pid) == recorded) {
      ::kill(-pid, SIGKILL);  // the container's whole session/group
      ::kill(pid, SIGKILL);
      ++killed;
    }
    std::error_code rm;
    fs::remove(entry.path(), rm);
  }
  return killed;
}

}  // namespace krt::local
