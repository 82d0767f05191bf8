// The gRPC face of the Runtime Servers, in process (unix socket and TCP
// 127.0.0.1 on an ephemeral port) and as the real bash-runtime binary: every
// RPC's success and error codes, idempotent ids, the Watch extension and a
// clean SIGTERM exit.
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "events.grpc.pb.h"
#include "runtime.grpc.pb.h"
#include "servers/engine/engine.hpp"
#include "servers/engine/grpc_server.hpp"

namespace pb = ::executor::v1;
namespace pbe = ::kruntimes::executor::v1;

namespace krt::servers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::chrono::system_clock::time_point in(std::chrono::seconds s) { return std::chrono::system_clock::now() + s; }

class rpc_client {
 public:
  explicit rpc_client(const std::string& target)
      : channel_(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
        rt_(pb::Runtime::NewStub(channel_)),
        ev_(pbe::ExecutionEvents::NewStub(channel_)) {}

  grpc::Status execute(const pb::ExecuteRequest& req, pb::ExecuteResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    ctx.set_wait_for_ready(true);
    pb::ExecuteResponse ignored;
    return rt_->Execute(&ctx, req, resp ? resp : &ignored);
  }
  grpc::Status status(const std::string& id, pb::StatusResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    pb::StatusRequest req;
    req.set_id(id);
    return rt_->Status(&ctx, req, resp);
  }
  grpc::Status cancel(const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    pb::CancelRequest req;
    req.set_id(id);
    pb::CancelResponse resp;
    return rt_->Cancel(&ctx, req, &resp);
  }
  grpc::Status forget(const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    pb::ForgetRequest req;
    req.set_id(id);
    pb::ForgetResponse resp;
    return rt_->Forget(&ctx, req, &resp);
  }
  grpc::Status list(pb::ListResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    return rt_->List(&ctx, pb::ListRequest(), resp);
  }
  grpc::Status health(pb::HealthResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(10s));
    ctx.set_wait_for_ready(true);
    return rt_->Health(&ctx, pb::HealthRequest(), resp);
  }
  // Polls Status until the execution is terminal (the test's own deadline).
  pb::StatusResponse wait_done(const std::string& id) {
    pb::StatusResponse s;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      s.Clear();
      auto st = status(id, &s);
      if (!st.ok()) break;
      if (s.state() == pb::EXECUTION_STATE_SUCCEEDED || s.state() == pb::EXECUTION_STATE_FAILED) return s;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << id << " did not finish";
    return s;
  }
  pbe::ExecutionEvents::Stub& events() { return *ev_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Runtime::Stub> rt_;
  std::unique_ptr<pbe::ExecutionEvents::Stub> ev_;
};

pb::ExecuteRequest exec_req(const std::string& id, std::vector<std::string> args) {
  pb::ExecuteRequest r;
  r.set_id(id);
  for (auto& a : args) r.add_args(a);
  return r;
}

awaitable<void> stop_both(runtime_server* server, exec_engine* engine) {
  co_await server->stop();
  co_await engine->stop();
}

// An in-process server: engine and gRPC answers on one io_context thread.
class GrpcTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/krt-grpc-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    engine_options eo;
    eo.work_dir = dir_.string();
    eo.grace_period = 300ms;
    engine_ = std::make_unique<exec_engine>(ctx_.get_executor(), eo);
    server_ = std::make_unique<runtime_server>(*engine_, ctx_.get_executor());
    listen_options lo;
    lo.socket = "unix:" + (dir_ / "rt.sock").string();
    lo.host = "127.0.0.1";
    lo.port = -1;
    lo.max_watch_queue = 4;
    auto started = server_->start(lo);
    ASSERT_TRUE(started) << started.error();
    ASSERT_GT(server_->tcp_port(), 0);
    thread_ = std::thread([this] { ctx_.run(); });
    std::string target = GetParam() == "tcp" ? "127.0.0.1:" + std::to_string(server_->tcp_port()) : lo.socket;
    client_ = std::make_unique<rpc_client>(target);
  }
  void TearDown() override {
    if (thread_.joinable()) {
      auto done = asio::co_spawn(ctx_, stop_both(server_.get(), engine_.get()), asio::use_future);
      EXPECT_EQ(done.wait_for(30s), std::future_status::ready);
      done.get();
      guard_.reset();
      thread_.join();
    }
    client_.reset();
    server_.reset();
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs `fn` on the engine's thread and waits for it.
  void on_engine(std::function<void()> fn) {
    std::promise<void> p;
    asio::post(ctx_, [&] {
      fn();
      p.set_value();
    });
    p.get_future().wait();
  }

  fs::path dir_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{ctx_.get_executor()};
  std::unique_ptr<exec_engine> engine_;
  std::unique_ptr<runtime_server> server_;
  std::thread thread_;
  std::unique_ptr<rpc_client> client_;
};

TEST_P(GrpcTest, EveryRpcAndItsErrors) {
  auto& c = *client_;
  pb::HealthResponse h;
  ASSERT_TRUE(c.health(&h).ok());
  EXPECT_TRUE(h.healthy());

  pb::ExecuteResponse er;
  auto st = c.execute(exec_req("", {"true"}), &er);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(c.execute(exec_req("a", {"echo out; echo err >&2; exit 5"}), &er).ok());
  EXPECT_EQ(er.id(), "a");
  auto a = c.wait_done("a");
  EXPECT_EQ(a.id(), "a");
  EXPECT_EQ(a.state(), pb::EXECUTION_STATE_FAILED);
  EXPECT_EQ(a.exit_code(), 5);
  EXPECT_EQ(a.stdout(), "out\n");
  EXPECT_EQ(a.stderr(), "err\n");
  EXPECT_EQ(a.error_message(), "exit status 5");

  ASSERT_TRUE(c.execute(exec_req("b", {"sleep 300"})).ok());
  pb::StatusResponse b;
  ASSERT_TRUE(c.status("b", &b).ok());
  EXPECT_EQ(b.state(), pb::EXECUTION_STATE_RUNNING);
  // Idempotent: the same id again starts nothing new.
  ASSERT_TRUE(c.execute(exec_req("b", {"exit 1"}), &er).ok());
  EXPECT_EQ(er.id(), "b");

  pb::ListResponse l;
  ASSERT_TRUE(c.list(&l).ok());
  EXPECT_EQ(l.entries_size(), 2);

  st = c.forget("b");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(c.cancel("b").ok());
  ASSERT_TRUE(c.cancel("b").ok());
  b = c.wait_done("b");
  EXPECT_EQ(b.exit_code(), -1);
  EXPECT_EQ(b.error_message(), "cancelled");
  ASSERT_TRUE(c.cancel("b").ok());
  ASSERT_TRUE(c.forget("b").ok());
  ASSERT_TRUE(c.forget("a").ok());

  pb::StatusResponse missing;
  st = c.status("b", &missing);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "request b not found");
  EXPECT_EQ(c.forget("b").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(c.cancel("zzz").error_code(), grpc::StatusCode::NOT_FOUND);
  l.Clear();
  ASSERT_TRUE(c.list(&l).ok());
  EXPECT_EQ(l.entries_size(), 0);
}

TEST_P(GrpcTest, WatchSendsSnapshotThenEvents) {
  auto& c = *client_;
  ASSERT_TRUE(c.execute(exec_req("before", {"echo first"})).ok());
  c.wait_done("before");

  grpc::ClientContext ctx;
  ctx.set_deadline(in(30s));
  auto reader = c.events().Watch(&ctx, pbe::WatchRequest());
  pbe::ExecutionEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().id(), "before");
  EXPECT_EQ(ev.status().state(), pb::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(ev.status().stdout(), "first\n");
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_TRUE(ev.snapshot_done());
  EXPECT_FALSE(ev.has_status());

  ASSERT_TRUE(c.execute(exec_req("after", {"echo second; exit 7"})).ok());
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().id(), "after");
  EXPECT_EQ(ev.status().state(), pb::EXECUTION_STATE_RUNNING);
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.status().id(), "after");
  EXPECT_EQ(ev.status().state(), pb::EXECUTION_STATE_FAILED);
  EXPECT_EQ(ev.status().exit_code(), 7);
  EXPECT_EQ(ev.status().stdout(), "second\n");
  EXPECT_EQ(ev.status().error_message(), "exit status 7");
  ctx.TryCancel();
  while (reader->Read(&ev)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_P(GrpcTest, SlowWatchersGetResourceExhausted) {
  grpc::ClientContext ctx;
  ctx.set_deadline(in(30s));
  auto reader = client_->events().Watch(&ctx, pbe::WatchRequest());
  pbe::ExecutionEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  ASSERT_TRUE(ev.snapshot_done());
  // Twenty changes in one turn of the engine: more than the queue (4) holds
  // while the first write is in flight.
  on_engine([this] {
    for (int i = 0; i < 20; ++i) {
      execute_request r;
      r.id = "burst" + std::to_string(i);  // no args: fails at once
      (void)engine_->execute(r);
    }
  });
  int events = 0;
  while (reader->Read(&ev)) ++events;
  EXPECT_LT(events, 20);
  auto st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
}

INSTANTIATE_TEST_SUITE_P(Transports, GrpcTest, ::testing::Values("unix", "tcp"));

TEST(GrpcAddress, UnixAbstractSocket) {
  asio::io_context ctx{1};
  char tmpl[] = "/tmp/krt-grpc-abs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  engine_options eo;
  eo.work_dir = tmpl;
  exec_engine engine(ctx.get_executor(), eo);
  runtime_server server(engine, ctx.get_executor());
  listen_options lo;
  lo.socket = "unix-abstract:krt-test-" + std::to_string(::getpid());
  auto started = server.start(lo);
  ASSERT_TRUE(started) << started.error();
  auto guard = asio::make_work_guard(ctx);
  std::thread t([&ctx] { ctx.run(); });
  {
    rpc_client c(lo.socket);
    pb::HealthResponse h;
    auto st = c.health(&h);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(h.healthy());
  }
  auto done = asio::co_spawn(ctx, stop_both(&server, &engine), asio::use_future);
  done.get();
  guard.reset();
  t.join();
  fs::remove_all(tmpl);
}

// The real binary: --help, serving on a unix socket, SIGTERM → exit 0 with
// the running execution cancelled.
pid_t spawn_binary(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 3000; ++i) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ADD_FAILURE() << "server did not exit";
  return -1;
}

TEST(Binary, ServesAndExitsCleanlyOnSigterm) {
  const char* exe = std::getenv("KRT_BASH_RUNTIME");
  if (exe == nullptr) GTEST_SKIP() << "KRT_BASH_RUNTIME not set";
  pid_t help = spawn_binary({exe, "--help"});
  EXPECT_EQ(wait_exit(help), 0);

  char tmpl[] = "/tmp/krt-grpc-bin-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fs::path dir = tmpl;
  std::string socket = "unix:" + (dir / "rt.sock").string();
  pid_t pid = spawn_binary({exe, "--socket", socket, "--port", "0", "--work-dir", (dir / "ws").string(),
                            "--grace-period", "200ms"});
  {
    rpc_client c(socket);
    pb::HealthResponse h;
    ASSERT_TRUE(c.health(&h).ok());
    EXPECT_TRUE(h.healthy());
    ASSERT_TRUE(c.execute(exec_req("long", {"echo $$ > pid.tmp; mv pid.tmp pid; sleep 300"})).ok());
  }
  pid_t child = 0;
  for (int i = 0; i < 3000 && child <= 0; ++i) {
    std::ifstream in(dir / "ws/long/pid");
    if (!(in >> child)) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(child, 0);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0);
  // The execution was cancelled and reaped before the server exited.
  EXPECT_NE(::kill(child, 0), 0);
  fs::remove_all(dir);
}

TEST(Binary, PythonRuntimeRunsPython) {
  const char* exe = std::getenv("KRT_PYTHON_RUNTIME");
  if (exe == nullptr) GTEST_SKIP() << "KRT_PYTHON_RUNTIME not set";
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  char tmpl[] = "/tmp/krt-grpc-py-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fs::path dir = tmpl;
  std::string socket = "unix:" + (dir / "rt.sock").string();
  pid_t pid = spawn_binary({exe, "--socket", socket, "--port", "0", "--work-dir", (dir / "ws").string(), "--python",
                            "/usr/bin/python3"});
  {
    rpc_client c(socket);
    pb::HealthResponse h;
    ASSERT_TRUE(c.health(&h).ok());
    auto req = exec_req("py", {"-c", "import os; print(os.environ['KRUNTIME_OUTPUTS'])"});
    (*req.mutable_env())["KRUNTIME_OUTPUTS"] = "/w/outputs";
    ASSERT_TRUE(c.execute(req).ok());
    auto s = c.wait_done("py");
    EXPECT_EQ(s.state(), pb::EXECUTION_STATE_SUCCEEDED);
    EXPECT_EQ(s.stdout(), "/w/outputs\n");
    ASSERT_TRUE(c.execute(exec_req("none", {})).ok());
    s = c.wait_done("none");
    EXPECT_EQ(s.error_message(), "no script or args provided");
    EXPECT_EQ(s.exit_code(), 0);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace krt::servers
