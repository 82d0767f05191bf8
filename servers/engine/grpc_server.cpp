#include "servers/engine/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <set>
#include <thread>

#include "events.grpc.pb.h"
#include "lib/reactor/event.hpp"
#include "runtime.grpc.pb.h"

namespace pb = ::executor::v1;
namespace pbe = ::kruntimes::executor::v1;

namespace krt::servers {
namespace {

grpc::Status to_grpc(const engine_error& e) {
  switch (e.code) {
    case engine_errc::invalid_argument:
      return {grpc::StatusCode::INVALID_ARGUMENT, e.message};
    case engine_errc::not_found:
      return {grpc::StatusCode::NOT_FOUND, e.message};
    case engine_errc::failed_precondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, e.message};
    case engine_errc::unavailable:
      break;
  }
  return {grpc::StatusCode::UNAVAILABLE, e.message};
}

void fill(const execution_status& s, pb::StatusResponse* out) {
  out->set_id(s.id);
  out->set_state(static_cast<pb::ExecutionState>(static_cast<int>(s.state)));
  out->set_exit_code(s.exit_code);
  out->set_stdout(s.stdout_text);
  out->set_stderr(s.stderr_text);
  out->set_error_message(s.error_message);
}

}  // namespace

class watch_stream;

// Both services; calls arrive on gRPC threads and are posted to ex_.
struct runtime_server::services final : pb::Runtime::CallbackService, pbe::ExecutionEvents::CallbackService {
  services(exec_engine& engine, executor ex, std::size_t max_queue)
      : engine_(engine), ex_(std::move(ex)), max_queue_(max_queue) {}

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* ctx, const pb::ExecuteRequest* req,
                                    pb::ExecuteResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, req, resp] {
      execute_request er;
      er.id = req->id();
      er.args.assign(req->args().begin(), req->args().end());
      for (const auto& [k, v] : req->env()) er.env[k] = v;
      er.timeout_seconds = req->timeout_seconds();
      er.working_dir = req->working_dir();
      er.entrypoint = req->entrypoint();
      er.handler = req->handler();
      auto id = engine_.execute(er);
      if (!id) return r->Finish(to_grpc(id.error()));
      resp->set_id(*id);
      r->Finish(grpc::Status::OK);
    });
    return r;
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const pb::StatusRequest* req,
                                   pb::StatusResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, req, resp] {
      auto s = engine_.status(req->id());
      if (!s) return r->Finish(to_grpc(s.error()));
      fill(*s, resp);
      r->Finish(grpc::Status::OK);
    });
    return r;
  }

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const pb::ListRequest*,
                                 pb::ListResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, resp] {
      for (const auto& s : engine_.list()) fill(s, resp->add_entries());
      r->Finish(grpc::Status::OK);
    });
    return r;
  }

  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* ctx, const pb::CancelRequest* req,
                                   pb::CancelResponse*) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, req] {
      auto done = engine_.cancel(req->id());
      r->Finish(done ? grpc::Status::OK : to_grpc(done.error()));
    });
    return r;
  }

  grpc::ServerUnaryReactor* Forget(grpc::CallbackServerContext* ctx, const pb::ForgetRequest* req,
                                   pb::ForgetResponse*) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, req] {
      auto done = engine_.forget(req->id());
      r->Finish(done ? grpc::Status::OK : to_grpc(done.error()));
    });
    return r;
  }

  grpc::ServerUnaryReactor* Health(grpc::CallbackServerContext* ctx, const pb::HealthRequest*,
                                   pb::HealthResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    asio::post(ex_, [this, r, resp] {
      bool ok = engine_.healthy() && !stopping_;
      resp->set_healthy(ok);
      resp->set_message(ok ? "ok" : "shutting down");
      r->Finish(grpc::Status::OK);
    });
    return r;
  }

  grpc::ServerWriteReactor<pbe::ExecutionEvent>* Watch(grpc::CallbackServerContext* ctx,
                                                        const pbe::WatchRequest* req) override;

  exec_engine& engine_;
  executor ex_;
  std::size_t max_queue_;
  bool stopping_ = false;
  std::set<watch_stream*> streams_;  // live streams, for stop()
};

// One Watch call. Its state lives on the engine's executor; gRPC's callbacks
// (OnWriteDone, OnCancel, OnDone) post there. Deleted after OnDone.
class watch_stream final : public grpc::ServerWriteReactor<pbe::ExecutionEvent> {
 public:
  explicit watch_stream(runtime_server::services& svc) : svc_(svc) {
    asio::post(svc_.ex_, [this] { begin(); });
  }

  void OnWriteDone(bool ok) override {
    asio::post(svc_.ex_, [this, ok] {
      writing_ = false;
      if (!ok) return end(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      next();
    });
  }
  void OnCancel() override {
    asio::post(svc_.ex_, [this] { end(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client")); });
  }
  void OnDone() override {
    asio::post(svc_.ex_, [this] {
      unsubscribe();
      svc_.streams_.erase(this);
      delete this;
    });
  }

  // Ends the stream with `st` once the write in flight (if any) completes.
  void end(grpc::Status st) {
    if (finish_requested_) return;
    finish_requested_ = true;
    unsubscribe();
    queue_.clear();
    final_ = std::move(st);
    next();
  }

 private:
  void begin() {
    if (svc_.stopping_) return end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the runtime server is shutting down"));
    svc_.streams_.insert(this);
    for (const auto& s : svc_.engine_.list()) {
      if (s.terminal()) {
        push(s);
      } else {
        execution_status brief;
        brief.id = s.id;
        brief.state = s.state;
        push(brief);
      }
    }
    pbe::ExecutionEvent marker;
    marker.set_snapshot_done(true);
    queue_.push_back(std::move(marker));
    token_ = svc_.engine_.subscribe([this](const execution_status& s) { on_change(s); });
    subscribed_ = true;
    next();
  }

  void on_change(const execution_status& s) {
    if (finish_requested_) return;
    if (queue_.size() >= svc_.max_queue_)
      return end(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "watch stream fell too far behind; watch again for a fresh snapshot"));
    push(s);
    next();
  }

  void push(const execution_status& s) {
    pbe::ExecutionEvent ev;
    fill(s, ev.mutable_status());
    queue_.push_back(std::move(ev));
  }

  void next() {
    if (writing_ || finished_) return;
    if (finish_requested_) {
      finished_ = true;
      Finish(final_);
      return;
    }
    if (queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void unsubscribe() {
    if (subscribed_) svc_.engine_.unsubscribe(token_);
    subscribed_ = false;
  }

  runtime_server::services& svc_;
  std::deque<pbe::ExecutionEvent> queue_;
  pbe::ExecutionEvent current_;
  std::uint64_t token_ = 0;
  bool subscribed_ = false;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finished_ = false;
  grpc::Status final_;
};

grpc::ServerWriteReactor<pbe::ExecutionEvent>* runtime_server::services::Watch(grpc::CallbackServerContext*,
                                                                                 const pbe::WatchRequest*) {
  return new watch_stream(*this);
}

runtime_server::runtime_server(exec_engine& engine, executor ex) : engine_(engine), ex_(std::move(ex)) {}

runtime_server::~runtime_server() = default;

result<void, std::string> runtime_server::start(const listen_options& opts) {
  services_ = std::make_unique<services>(engine_, ex_, opts.max_watch_queue);
  grpc::ServerBuilder builder;
  std::string addresses;
  if (!opts.socket.empty()) {
    builder.AddListeningPort(opts.socket, grpc::InsecureServerCredentials());
    addresses = opts.socket;
  }
  int selected = 0;
  std::string tcp;
  if (opts.port != 0) {
    std::string host = opts.host.empty() ? "0.0.0.0" : opts.host;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    tcp = host + ":" + std::to_string(opts.port < 0 ? 0 : opts.port);
    builder.AddListeningPort(tcp, grpc::InsecureServerCredentials(), &selected);
    addresses += (addresses.empty() ? "" : " and ") + tcp;
  }
  if (addresses.empty()) return unexpected(std::string("nothing to listen on: set --socket or --port"));
  builder.RegisterService(static_cast<pb::Runtime::CallbackService*>(services_.get()));
  builder.RegisterService(static_cast<pbe::ExecutionEvents::CallbackService*>(services_.get()));
  server_ = builder.BuildAndStart();
  if (!server_) return unexpected("cannot listen on " + addresses + " (address in use or invalid?)");
  if (!tcp.empty() && selected == 0) {
    server_->Shutdown();
    server_.reset();
    return unexpected("cannot listen on " + tcp + " (address in use or invalid?)");
  }
  tcp_port_ = selected;
  return {};
}

awaitable<void> runtime_server::stop() {
  if (!server_) co_return;
  services_->stopping_ = true;
  auto streams = services_->streams_;
  for (auto* s : streams) s->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the runtime server is shutting down"));
  // Shutdown blocks until every call in flight is answered, and answers are
  // made on this executor: wait for it on a helper thread.
  reactor::event done(ex_);
  grpc::Server* server = server_.get();
  executor ex = ex_;
  std::thread t([server, ex, &done] {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    asio::post(ex, [&done] { done.set(); });
  });
  co_await done.wait();
  t.join();
  // Let the streams' OnDone clean-ups (posted before Shutdown returned) run.
  co_await asio::post(ex_, asio::use_awaitable);
  server_.reset();
}

}  // namespace krt::servers
