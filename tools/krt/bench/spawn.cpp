#include "tools/krt/bench/spawn.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

extern char** environ;

namespace krt::cli::bench {
namespace {

// One spawn and wait; an empty string on success (exit 0).
std::string spawn_once(const std::vector<std::string>& argv, const std::string& dir) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  int rc = ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  pid_t pid = -1;
  if (rc == 0) rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return "cannot start " + argv[0] + ": " + std::strerror(rc);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status)) return argv[0] + " exited with code " + std::to_string(WEXITSTATUS(status));
  return argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

spawn_result measure_spawn(const std::vector<std::string>& argv, const std::string& dir, int samples, int total,
                           int concurrency) {
  using clock = std::chrono::steady_clock;
  spawn_result out;
  if (argv.empty()) {
    out.error = "no command";
    return out;
  }
  std::mutex mu;
  auto note = [&](std::string err) {
    std::lock_guard lock(mu);
    ++out.failures;
    if (out.error.empty()) out.error = std::move(err);
  };
  for (int i = 0; i < samples; ++i) {
    auto t0 = clock::now();
    auto err = spawn_once(argv, dir);
    auto t1 = clock::now();
    if (!err.empty()) {
      note(std::move(err));
      continue;
    }
    out.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  if (total > 0 && concurrency > 0) {
    std::atomic<int> next{0};
    auto t0 = clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t)
      threads.emplace_back([&] {
        while (next.fetch_add(1) < total) {
          auto err = spawn_once(argv, dir);
          if (!err.empty()) note(std::move(err));
        }
      });
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    if (secs > 0) out.rate = total / secs;
  }
  return out;
}

}  // namespace krt::cli::bench
