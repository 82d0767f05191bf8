#include "sidecar/runtime_client.hpp"

namespace krt::runtimed {

runtime_client::runtime_client(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(pb::Runtime::NewStub(channel_)),
      events_(pbx::ExecutionEvents::NewStub(channel_)) {}

std::shared_ptr<grpc::Channel> runtime_client::make_channel(const std::string& target) {
  grpc::ChannelArguments args;
  // Completion of a Run must not wait for a reconnect backoff of seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 * 1024 * 1024);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

awaitable<rpc_result<pb::ExecuteResponse>> runtime_client::execute(pb::ExecuteRequest req,
                                                                   std::chrono::milliseconds timeout) {
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::ExecuteRequest* q, pb::ExecuteResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->Execute(c, q, r, std::move(f)); };
  return unary<pb::ExecuteRequest, pb::ExecuteResponse>(start, std::move(req), timeout, true);
}

awaitable<rpc_result<pb::StatusResponse>> runtime_client::status(std::string id, std::chrono::milliseconds timeout) {
  pb::StatusRequest req;
  req.set_id(std::move(id));
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::StatusRequest* q, pb::StatusResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->Status(c, q, r, std::move(f)); };
  return unary<pb::StatusRequest, pb::StatusResponse>(start, std::move(req), timeout, false);
}

awaitable<rpc_result<pb::ListResponse>> runtime_client::list(std::chrono::milliseconds timeout) {
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::ListRequest* q, pb::ListResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->List(c, q, r, std::move(f)); };
  return unary<pb::ListRequest, pb::ListResponse>(start, pb::ListRequest(), timeout, false);
}

awaitable<rpc_result<pb::CancelResponse>> runtime_client::cancel(std::string id, std::chrono::milliseconds timeout) {
  pb::CancelRequest req;
  req.set_id(std::move(id));
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::CancelRequest* q, pb::CancelResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->Cancel(c, q, r, std::move(f)); };
  return unary<pb::CancelRequest, pb::CancelResponse>(start, std::move(req), timeout, false);
}

awaitable<rpc_result<pb::ForgetResponse>> runtime_client::forget(std::string id, std::chrono::milliseconds timeout) {
  pb::ForgetRequest req;
  req.set_id(std::move(id));
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::ForgetRequest* q, pb::ForgetResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->Forget(c, q, r, std::move(f)); };
  return unary<pb::ForgetRequest, pb::ForgetResponse>(start, std::move(req), timeout, false);
}

awaitable<rpc_result<pb::HealthResponse>> runtime_client::health(std::chrono::milliseconds timeout,
                                                                 bool wait_for_ready) {
  auto* s = stub_.get();
  auto start = [s](grpc::ClientContext* c, const pb::HealthRequest* q, pb::HealthResponse* r,
                   std::function<void(grpc::Status)> f) { s->async()->Health(c, q, r, std::move(f)); };
  return unary<pb::HealthRequest, pb::HealthResponse>(start, pb::HealthRequest(), timeout, wait_for_ready);
}

watch_stream::watch_stream(executor ex, event_fn on_event, done_fn on_done)
    : ex_(std::move(ex)), on_event_(std::move(on_event)), on_done_(std::move(on_done)) {}

void watch_stream::start(pbx::ExecutionEvents::Stub& stub) {
  ctx_.set_wait_for_ready(false);
  stub.async()->Watch(&ctx_, &req_, this);
  StartRead(&ev_);
  StartCall();
}

void watch_stream::OnReadDone(bool ok) {
  if (!ok) return;  // OnDone follows
  pbx::ExecutionEvent ev;
  ev.Swap(&ev_);
  asio::post(ex_, [fn = on_event_, ev = std::move(ev)] { fn(ev); });
  StartRead(&ev_);
}

void watch_stream::OnDone(const grpc::Status& s) {
  asio::post(ex_, [fn = on_done_, s] { fn(s); });
}

}  // namespace krt::runtimed
