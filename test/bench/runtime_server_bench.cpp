// The Runtime Server from runtimed's side (issue #6): gRPC round trips over a
// unix socket to a real exec_engine + runtime_server, and the cost of one
// execution through the engine compared with a bare posix_spawnp + waitpid
// of the same argv. Wall-clock time (UseRealTime): the work happens on other
// threads and in child processes.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime.grpc.pb.h"
#include "servers/engine/command.hpp"
#include "servers/engine/engine.hpp"
#include "servers/engine/grpc_server.hpp"
#include "sidecar/runtime_client.hpp"

extern char** environ;

// Named (not anonymous): unity builds put several bench files in one TU.
namespace runtime_server_bench {

using namespace krt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace pb = ::executor::v1;

fs::path make_temp_dir(const char* prefix) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

awaitable<void> stop_both(servers::runtime_server* server, servers::exec_engine* engine) {
  co_await server->stop();
  co_await engine->stop();
}

// exec_engine + runtime_server on a unix socket in a temp dir, answered on one
// io_context thread (as in bash-runtime).
class server_fixture {
 public:
  server_fixture() : dir_(make_temp_dir("krt-bench-grpc-")) {
    servers::engine_options eo;
    eo.work_dir = dir_.string();
    engine_ = std::make_unique<servers::exec_engine>(ctx_.get_executor(), eo);
    server_ = std::make_unique<servers::runtime_server>(*engine_, ctx_.get_executor());
    servers::listen_options lo;
    lo.socket = "unix:" + (dir_ / "rt.sock").string();
    target_ = lo.socket;
    auto started = server_->start(lo);
    if (!started) {
      error_ = started.error();
      return;
    }
    thread_ = std::thread([this] { ctx_.run(); });
  }
  ~server_fixture() {
    if (thread_.joinable()) {
      auto done = asio::co_spawn(ctx_, stop_both(server_.get(), engine_.get()), asio::use_future);
      done.wait();
      guard_.reset();
      thread_.join();
    }
    server_.reset();
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  server_fixture(const server_fixture&) = delete;
  server_fixture& operator=(const server_fixture&) = delete;

  const std::string& error() const { return error_; }
  const std::string& target() const { return target_; }

 private:
  fs::path dir_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{ctx_.get_executor()};
  std::unique_ptr<servers::exec_engine> engine_;
  std::unique_ptr<servers::runtime_server> server_;
  std::thread thread_;
  std::string target_;
  std::string error_;
};

// ------------------------------------------------------------ gRPC round trips

// runtimed's own client (callback API, completion posted to the awaiting
// coroutine's executor), as runtimed uses it.
awaitable<void> client_loop(benchmark::State* state, runtimed::runtime_client* rc, bool status_call) {
  // The first call connects (not timed).
  auto warm = co_await rc->health(10s, true);
  if (!warm.first.ok()) {
    state->SkipWithError(("Health failed: " + warm.first.error_message()).c_str());
    co_return;
  }
  while (state->KeepRunning()) {
    if (status_call) {
      auto res = co_await rc->status("no-such-execution", 10s);
      if (!runtimed::is_not_found(res.first)) {
        state->SkipWithError("Status of an unknown id did not answer NOT_FOUND");
        co_return;
      }
    } else {
      auto res = co_await rc->health(10s, false);
      if (!res.first.ok() || !res.second.healthy()) {
        state->SkipWithError("Health did not answer healthy");
        co_return;
      }
    }
  }
}

void run_client(benchmark::State& state, bool status_call) {
  server_fixture srv;
  if (!srv.error().empty()) {
    state.SkipWithError(("cannot start the Runtime Server: " + srv.error()).c_str());
    return;
  }
  runtimed::runtime_client rc(runtimed::runtime_client::make_channel(srv.target()));
  asio::io_context cctx{1};
  auto guard = asio::make_work_guard(cctx);
  asio::co_spawn(cctx, client_loop(&state, &rc, status_call), [&guard](std::exception_ptr) { guard.reset(); });
  cctx.run();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_GrpcHealthRuntimeClient(benchmark::State& state) { run_client(state, false); }
BENCHMARK(BM_GrpcHealthRuntimeClient)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_GrpcStatusUnknownRuntimeClient(benchmark::State& state) { run_client(state, true); }
BENCHMARK(BM_GrpcStatusUnknownRuntimeClient)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The generated synchronous stub: the floor of a gRPC unary call here.
void BM_GrpcHealthSyncStub(benchmark::State& state) {
  server_fixture srv;
  if (!srv.error().empty()) {
    state.SkipWithError(("cannot start the Runtime Server: " + srv.error()).c_str());
    return;
  }
  auto channel = grpc::CreateChannel(srv.target(), grpc::InsecureChannelCredentials());
  auto stub = pb::Runtime::NewStub(channel);
  auto call = [&](bool wait) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    ctx.set_wait_for_ready(wait);
    pb::HealthResponse resp;
    auto st = stub->Health(&ctx, pb::HealthRequest(), &resp);
    return st.ok() && resp.healthy();
  };
  if (!call(true)) {
    state.SkipWithError("Health failed");
    return;
  }
  for (auto _ : state) {
    if (!call(false)) {
      state.SkipWithError("Health did not answer healthy");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_GrpcHealthSyncStub)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ------------------------------------------------------------ spawn

// The argv the bash server runs for Execute(args ["true"]).
std::vector<std::string> bash_true_argv(const fs::path& dir) {
  servers::command_request cr;
  cr.kind = servers::runtime_kind::bash;
  cr.interpreter = "bash";
  cr.working_dir = dir.string();
  cr.args = {"true"};
  auto argv = servers::select_command(cr, servers::regular_file_exists);
  return argv ? *argv : std::vector<std::string>{};
}

awaitable<void> stop_engine(servers::exec_engine* engine) { co_await engine->stop(); }

// Execute through exec_engine until its listener sees the terminal status
// (RUNNING, then SUCCEEDED): spawn in a new session with output pipes and log
// files, pidfd exit watch, output collection, publication. Forget (deleting
// the log files) runs outside the timed region.
void BM_SpawnThroughEngine(benchmark::State& state) {
  fs::path dir = make_temp_dir("krt-bench-spawn-");
  std::string label;
  for (const auto& w : bash_true_argv(dir)) label += (label.empty() ? "" : " ") + w;
  asio::io_context ctx{1};
  auto guard = asio::make_work_guard(ctx);
  std::string error;
  {
    servers::engine_options eo;
    eo.work_dir = dir.string();
    servers::exec_engine eng(ctx.get_executor(), eo);
    std::string waiting_for;
    bool done = false;
    bool ok = true;
    eng.subscribe([&](const servers::execution_status& s) {
      if (s.id != waiting_for || !s.terminal()) return;
      done = true;
      ok = s.state == servers::execution_state::succeeded && s.exit_code == 0;
    });
    servers::execute_request req;
    req.args = {"true"};
    std::uint64_t n = 0;
    for (auto _ : state) {
      req.id = "spawn-" + std::to_string(n++);
      waiting_for = req.id;
      done = false;
      auto started = eng.execute(req);
      if (!started) {
        error = "Execute failed: " + started.error().message;
        break;
      }
      while (!done) ctx.run_one();
      if (!ok) {
        error = "the execution did not succeed";
        break;
      }
      state.PauseTiming();
      auto forgot = eng.forget(req.id);
      state.ResumeTiming();
      if (!forgot) {
        error = "Forget failed: " + forgot.error().message;
        break;
      }
    }
    bool stopped = false;
    asio::co_spawn(ctx, stop_engine(&eng), [&stopped](std::exception_ptr) { stopped = true; });
    while (!stopped) ctx.run_one();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!error.empty()) state.SkipWithError(error.c_str());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(label);
}
BENCHMARK(BM_SpawnThroughEngine)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same argv with a bare posix_spawnp + waitpid (inherited stdio, no
// session, no pipes). Arg 0: select_command's argv (bash -c true); arg 1:
// `true` itself, the floor of a process start.
void BM_SpawnBare(benchmark::State& state) {
  fs::path dir = make_temp_dir("krt-bench-spawn-");
  std::vector<std::string> words = state.range(0) == 0 ? bash_true_argv(dir) : std::vector<std::string>{"true"};
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (words.empty()) {
    state.SkipWithError("select_command gave no argv");
    return;
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  for (auto _ : state) {
    pid_t pid = 0;
    if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      state.SkipWithError("posix_spawnp failed");
      break;
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("the child did not exit 0");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  std::string label;
  for (const auto& w : words) label += (label.empty() ? "" : " ") + w;
  state.SetLabel(label);
}
BENCHMARK(BM_SpawnBare)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace runtime_server_bench
