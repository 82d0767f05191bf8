#pragma once
// runtimed's client of the local Runtime Server (executor.v1.Runtime and the
// push extension kruntimes.executor.v1.ExecutionEvents, docs/run-path.md).
//
// One gRPC channel for the life of the process (no per-Run connection). Calls
// use gRPC's callback API; each completion is posted back to the executor of
// the awaiting coroutine, so no thread waits per call and shard code never
// blocks.
//
// Affinity: the client object is immutable after construction and usable from
// any shard; a coroutine resumes on its own executor. A watch_stream's
// callbacks run on the executor given to it.
// Cancellation: unary calls are bounded by their deadline, not by the caller's
// cancellation slot (gRPC owns the call until it completes).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "events.grpc.pb.h"
#include "lib/reactor/asio.hpp"
#include "runtime.grpc.pb.h"

namespace krt::runtimed {

namespace pb = ::executor::v1;
namespace pbx = ::kruntimes::executor::v1;

template <typename Resp>
using rpc_result = std::pair<grpc::Status, Resp>;

namespace detail {

// Initiation of one unary callback call: starts it and posts the completion
// to the awaiting coroutine's executor.
template <typename Call, typename Start>
struct unary_initiation {
  std::shared_ptr<Call> call;
  Start start;
  template <typename Handler>
  void operator()(Handler&& handler) {
    auto h = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    auto ex = asio::get_associated_executor(*h);
    auto c = call;
    start(&c->ctx, &c->req, &c->resp, [c, h, ex](grpc::Status s) {
      c->status = std::move(s);
      asio::post(ex, [h]() mutable { std::move (*h)(); });
    });
  }
};

template <typename Req, typename Resp>
struct unary_call {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
  grpc::Status status;
};

}  // namespace detail

class runtime_client {
 public:
  explicit runtime_client(std::shared_ptr<grpc::Channel> channel);

  // Builds a channel for "unix-abstract:name", "unix:/path" or "host:port"
  // (plain text: the Runtime Server lives in the same pod).
  static std::shared_ptr<grpc::Channel> make_channel(const std::string& target);

  awaitable<rpc_result<pb::ExecuteResponse>> execute(pb::ExecuteRequest req, std::chrono::milliseconds timeout);
  awaitable<rpc_result<pb::StatusResponse>> status(std::string id, std::chrono::milliseconds timeout);
  awaitable<rpc_result<pb::ListResponse>> list(std::chrono::milliseconds timeout);
  awaitable<rpc_result<pb::CancelResponse>> cancel(std::string id, std::chrono::milliseconds timeout);
  awaitable<rpc_result<pb::ForgetResponse>> forget(std::string id, std::chrono::milliseconds timeout);
  awaitable<rpc_result<pb::HealthResponse>> health(std::chrono::milliseconds timeout, bool wait_for_ready);

  pbx::ExecutionEvents::Stub& events_stub() { return *events_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  template <typename Req, typename Resp, typename Start>
  static awaitable<rpc_result<Resp>> unary(Start start, Req req, std::chrono::milliseconds timeout,
                                           bool wait_for_ready) {
    using call_t = detail::unary_call<Req, Resp>;
    auto c = std::make_shared<call_t>();
    c->req = std::move(req);
    c->ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    c->ctx.set_wait_for_ready(wait_for_ready);
    detail::unary_initiation<call_t, Start> init{c, std::move(start)};
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(std::move(init), asio::use_awaitable);
    co_return rpc_result<Resp>(c->status, std::move(c->resp));
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Runtime::Stub> stub_;
  std::unique_ptr<pbx::ExecutionEvents::Stub> events_;
};

// One ExecutionEvents/Watch stream. on_event runs for every event and on_done
// once with the final status, both on `ex`. After on_done has run the object
// is no longer used by gRPC and may be destroyed (on `ex`).
class watch_stream final : public grpc::ClientReadReactor<pbx::ExecutionEvent> {
 public:
  using event_fn = std::function<void(const pbx::ExecutionEvent&)>;
  using done_fn = std::function<void(const grpc::Status&)>;

  watch_stream(executor ex, event_fn on_event, done_fn on_done);
  void start(pbx::ExecutionEvents::Stub& stub);
  // Ends the stream early; on_done still runs.
  void cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  executor ex_;
  event_fn on_event_;
  done_fn on_done_;
  grpc::ClientContext ctx_;
  pbx::WatchRequest req_;
  pbx::ExecutionEvent ev_;
};

// Whether a gRPC status means "the server does not know this execution".
inline bool is_not_found(const grpc::Status& s) { return s.error_code() == grpc::StatusCode::NOT_FOUND; }

}  // namespace krt::runtimed
