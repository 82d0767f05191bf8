// A small Runtime Server for runtimed's tests: executes scripts with bash like
// the built-in server, keeps full logs in <work-dir>/.logs/<id>.stdout|stderr,
// and offers the push extension unless --no-watch (to test polling).
//
// Usage: fake_runtime --listen 127.0.0.1:0 --work-dir DIR [--no-watch] [--port-file F]
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "events.grpc.pb.h"
#include "runtime.grpc.pb.h"

namespace pb = ::executor::v1;
namespace pbx = ::kruntimes::executor::v1;
namespace fs = std::filesystem;

extern char** environ;

namespace {

struct execution {
  pb::StatusResponse status;
  pid_t pid = 0;
  bool cancelled = false;
  std::thread waiter;
};

struct watcher {
  std::deque<pb::StatusResponse> queue;
};

class state {
 public:
  explicit state(std::string work_dir) : work_dir_(std::move(work_dir)) {
    fs::create_directories(work_dir_ + "/.logs");
  }
  ~state() {
    std::vector<std::thread> ts;
    {
      std::lock_guard l(mu_);
      for (auto& [id, e] : execs_) {
        if (e->pid > 0 && e->status.state() == pb::EXECUTION_STATE_RUNNING) ::kill(-e->pid, SIGKILL);
        if (e->waiter.joinable()) ts.push_back(std::move(e->waiter));
      }
      for (auto& t : graveyard_) ts.push_back(std::move(t));
    }
    for (auto& t : ts) t.join();
  }

  grpc::Status execute(const pb::ExecuteRequest& req) {
    if (req.id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id is required");
    std::unique_lock l(mu_);
    if (auto it = execs_.find(req.id()); it != execs_.end()) {
      // A duplicate id replaces the old execution (as the bash server does).
      auto& old = it->second;
      if (old->status.state() == pb::EXECUTION_STATE_RUNNING && old->pid > 0) ::kill(-old->pid, SIGKILL);
      auto t = std::move(old->waiter);
      l.unlock();
      if (t.joinable()) t.join();
      l.lock();
      execs_.erase(req.id());
    }
    std::string wd = req.working_dir().empty() ? work_dir_ + "/" + req.id() : req.working_dir();
    fs::create_directories(wd);
    std::string out = work_dir_ + "/.logs/" + req.id() + ".stdout";
    std::string err = work_dir_ + "/.logs/" + req.id() + ".stderr";
    std::vector<std::string> argv{"bash"};
    std::string ep = req.entrypoint().empty() ? "script" : req.entrypoint();
    if (fs::exists(wd + "/" + ep)) {
      argv.push_back(wd + "/" + ep);
      for (const auto& a : req.args()) argv.push_back(a);
    } else if (req.args_size() == 0) {
      auto e = std::make_shared<execution>();
      e->status.set_id(req.id());
      e->status.set_state(pb::EXECUTION_STATE_FAILED);
      e->status.set_error_message("no args or script provided");
      execs_[req.id()] = e;
      publish(e->status);
      return grpc::Status::OK;
    } else {
      std::string joined;
      for (const auto& a : req.args()) joined += a + "\n";
      argv.push_back("-c");
      argv.push_back(joined);
    }
    std::map<std::string, std::string> env;
    for (char** p = environ; *p != nullptr; ++p) {
      std::string kv(*p);
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : req.env()) env[k] = v;
    std::vector<std::string> envs;
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& a : envs) cenv.push_back(a.data());
    cenv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent blocks SIGTERM for its sigwait thread
      ::setpgid(0, 0);
      if (::chdir(wd.c_str()) != 0) ::_exit(126);
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int n = ::open("/dev/null", O_RDONLY);
      ::dup2(n, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::execve("/bin/bash", cargv.data(), cenv.data());
      ::_exit(127);
    }
    auto e = std::make_shared<execution>();
    e->pid = pid;
    e->status.set_id(req.id());
    e->status.set_state(pb::EXECUTION_STATE_RUNNING);
    execs_[req.id()] = e;
    publish(e->status);
    e->waiter = std::thread([this, e, out, err] { wait_one(e, out, err); });
    return grpc::Status::OK;
  }

  grpc::Status status(const std::string& id, pb::StatusResponse* resp) {
    std::lock_guard l(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "request " + id + " not found");
    *resp = it->second->status;
    return grpc::Status::OK;
  }

  void list(pb::ListResponse* resp) {
    std::lock_guard l(mu_);
    for (const auto& [id, e] : execs_) *resp->add_entries() = e->status;
  }

  grpc::Status cancel(const std::string& id) {
    std::lock_guard l(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "request " + id + " not found");
    auto& e = it->second;
    if (e->status.state() == pb::EXECUTION_STATE_RUNNING && e->pid > 0) {
      e->cancelled = true;
      ::kill(-e->pid, SIGKILL);
    }
    return grpc::Status::OK;
  }

  grpc::Status forget(const std::string& id) {
    std::lock_guard l(mu_);
    auto it = execs_.find(id);
    if (it == execs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "request " + id + " not found");
    if (it->second->status.state() == pb::EXECUTION_STATE_RUNNING)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "execution is still running");
    if (it->second->waiter.joinable()) graveyard_.push_back(std::move(it->second->waiter));
    execs_.erase(it);
    std::error_code ec;
    fs::remove(work_dir_ + "/.logs/" + id + ".stdout", ec);
    fs::remove(work_dir_ + "/.logs/" + id + ".stderr", ec);
    ++forgets_;
    return grpc::Status::OK;
  }

  grpc::Status watch(grpc::ServerContext* ctx, grpc::ServerWriter<pbx::ExecutionEvent>* w) {
    auto me = std::make_shared<watcher>();
    std::vector<pb::StatusResponse> snapshot;
    {
      std::lock_guard l(mu_);
      for (const auto& [id, e] : execs_) snapshot.push_back(e->status);
      watchers_.insert(me);
    }
    for (const auto& s : snapshot) {
      pbx::ExecutionEvent ev;
      *ev.mutable_status() = s;
      if (!w->Write(ev)) return drop(me);
    }
    {
      pbx::ExecutionEvent ev;
      ev.set_snapshot_done(true);
      if (!w->Write(ev)) return drop(me);
    }
    for (;;) {
      std::deque<pb::StatusResponse> batch;
      {
        std::unique_lock l(mu_);
        cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return !me->queue.empty(); });
        batch.swap(me->queue);
      }
      if (ctx->IsCancelled()) return drop(me);
      for (const auto& s : batch) {
        pbx::ExecutionEvent ev;
        *ev.mutable_status() = s;
        if (!w->Write(ev)) return drop(me);
      }
    }
  }

 private:
  grpc::Status drop(const std::shared_ptr<watcher>& me) {
    std::lock_guard l(mu_);
    watchers_.erase(me);
    return grpc::Status::OK;
  }

  void publish(const pb::StatusResponse& s) {  // mu_ held
    for (const auto& w : watchers_) w->queue.push_back(s);
    cv_.notify_all();
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (s.size() > (1u << 20)) s = s.substr(0, 1u << 20) + "\n[output truncated]\n";
    return s;
  }

  void wait_one(std::shared_ptr<execution> e, std::string out, std::string err) {
    int ws = 0;
    ::waitpid(e->pid, &ws, 0);
    std::string o = slurp(out), r = slurp(err);
    std::lock_guard l(mu_);
    e->status.set_stdout(o);
    e->status.set_stderr(r);
    if (e->cancelled) {
      e->status.set_state(pb::EXECUTION_STATE_FAILED);
      e->status.set_exit_code(-1);
      e->status.set_error_message("cancelled");
    } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
      e->status.set_state(pb::EXECUTION_STATE_SUCCEEDED);
    } else if (WIFEXITED(ws)) {
      e->status.set_state(pb::EXECUTION_STATE_FAILED);
      e->status.set_exit_code(WEXITSTATUS(ws));
      e->status.set_error_message("exit status " + std::to_string(WEXITSTATUS(ws)));
    } else {
      e->status.set_state(pb::EXECUTION_STATE_FAILED);
      e->status.set_exit_code(-1);
      e->status.set_error_message("signal: " + std::to_string(WTERMSIG(ws)));
    }
    publish(e->status);
  }

  std::string work_dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<execution>> execs_;
  std::set<std::shared_ptr<watcher>> watchers_;
  std::vector<std::thread> graveyard_;
  int forgets_ = 0;
};

class runtime_service final : public pb::Runtime::Service {
 public:
  explicit runtime_service(state& s) : s_(s) {}
  grpc::Status Execute(grpc::ServerContext*, const pb::ExecuteRequest* req, pb::ExecuteResponse* resp) override {
    resp->set_id(req->id());
    return s_.execute(*req);
  }
  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest* req, pb::StatusResponse* resp) override {
    return s_.status(req->id(), resp);
  }
  grpc::Status List(grpc::ServerContext*, const pb::ListRequest*, pb::ListResponse* resp) override {
    s_.list(resp);
    return grpc::Status::OK;
  }
  grpc::Status Cancel(grpc::ServerContext*, const pb::CancelRequest* req, pb::CancelResponse*) override {
    return s_.cancel(req->id());
  }
  grpc::Status Forget(grpc::ServerContext*, const pb::ForgetRequest* req, pb::ForgetResponse*) override {
    return s_.forget(req->id());
  }
  grpc::Status Health(grpc::ServerContext*, const pb::HealthRequest*, pb::HealthResponse* resp) override {
    resp->set_healthy(true);
    return grpc::Status::OK;
  }

 private:
  state& s_;
};

class events_service final : public pbx::ExecutionEvents::Service {
 public:
  explicit events_service(state& s) : s_(s) {}
  grpc::Status Watch(grpc::ServerContext* ctx, const pbx::WatchRequest*,
                     grpc::ServerWriter<pbx::ExecutionEvent>* w) override {
    return s_.watch(ctx, w);
  }

 private:
  state& s_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", work_dir, port_file;
  bool watch = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--listen") {
      listen = next();
    } else if (a == "--work-dir") {
      work_dir = next();
    } else if (a == "--port-file") {
      port_file = next();
    } else if (a == "--no-watch") {
      watch = false;
    } else if (a == "--help" || a == "-h") {
      std::cout << "fake_runtime --listen ADDR --work-dir DIR [--no-watch] [--port-file FILE]\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 1;
    }
  }
  if (work_dir.empty()) {
    std::cerr << "--work-dir is required\n";
    return 1;
  }
  // SIGTERM/SIGINT are taken by a sigwait thread (no work in a signal handler,
  // which sanitizers do not allow either); every other thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  state st(work_dir);
  runtime_service rs(st);
  events_service es(st);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&rs);
  if (watch) b.RegisterService(&es);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (!server) {
    std::cerr << "cannot listen on " << listen << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << port << "\n";
    fs::rename(port_file + ".tmp", port_file);
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  });
  server->Wait();
  stopper.join();
  return 0;
}
