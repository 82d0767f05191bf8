// The generated Runtime Server and artifact protocols must stay wire-compatible
// with the Go kruntimes (SPEC §5): field numbers, types, enum values, package,
// service and method names. Hand-encoded bytes pin the wire format; an
// in-process gRPC server pins the method paths the stubs use.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <mutex>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "artifact.grpc.pb.h"
#include "artifact.pb.h"
#include "runtime.grpc.pb.h"
#include "runtime.pb.h"

namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// Hex of a byte string, for readable wire-format failures.
std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string bytes(std::initializer_list<int> b) {
  std::string out;
  for (int c : b) out += static_cast<char>(c);
  return out;
}

struct field_spec {
  const char* name;
  int number;
  FD::Type type;
  bool repeated;
};

void expect_fields(const pb::Descriptor* d, const std::vector<field_spec>& want) {
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->field_count(), static_cast<int>(want.size())) << d->full_name();
  for (const auto& w : want) {
    const FD* f = d->FindFieldByName(w.name);
    ASSERT_NE(f, nullptr) << d->full_name() << "." << w.name;
    EXPECT_EQ(f->number(), w.number) << d->full_name() << "." << w.name;
    EXPECT_EQ(f->type(), w.type) << d->full_name() << "." << w.name;
    EXPECT_EQ(f->is_repeated(), w.repeated) << d->full_name() << "." << w.name;
  }
}

executor::v1::ExecuteRequest full_execute_request() {
  executor::v1::ExecuteRequest req;
  req.set_id("run-7f3a");
  req.add_args("bash");
  req.add_args("-c");
  req.add_args("echo \"$GREETING\" && exit 3");
  (*req.mutable_env())["GREETING"] = "hello, world";
  (*req.mutable_env())["EMPTY"] = "";
  (*req.mutable_env())["UNICODE"] = "h\xc3\xa9llo";
  req.set_timeout_seconds(int64_t{1} << 40);
  req.set_working_dir("/workspace/run-7f3a");
  req.set_entrypoint("main.sh");
  req.set_handler("handler.main");
  return req;
}

TEST(RuntimeProto, ExecuteRequestRoundTripsAllSevenFields) {
  auto req = full_execute_request();
  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));

  executor::v1::ExecuteRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.id(), "run-7f3a");
  ASSERT_EQ(back.args_size(), 3);
  EXPECT_EQ(back.args(0), "bash");
  EXPECT_EQ(back.args(1), "-c");
  EXPECT_EQ(back.args(2), "echo \"$GREETING\" && exit 3");
  std::map<std::string, std::string> env(back.env().begin(), back.env().end());
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"EMPTY", ""}, {"GREETING", "hello, world"},
                                                      {"UNICODE", "h\xc3\xa9llo"}}));
  EXPECT_EQ(back.timeout_seconds(), int64_t{1} << 40);
  EXPECT_EQ(back.working_dir(), "/workspace/run-7f3a");
  EXPECT_EQ(back.entrypoint(), "main.sh");
  EXPECT_EQ(back.handler(), "handler.main");
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(req, back));
}

TEST(RuntimeProto, ExecuteRequestWireFormatMatchesFieldNumbers) {
  executor::v1::ExecuteRequest req;
  req.set_id("x");
  req.set_timeout_seconds(5);
  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  // field 1 LEN "x", field 4 VARINT 5
  EXPECT_EQ(hex(wire), "0a 01 78 20 05");

  // A message as the Go runtimed would send it: every field hand-encoded.
  std::string go = bytes({0x0a, 0x02, 'i', 'd'})                                   // 1 id
                   + bytes({0x12, 0x01, 'a', 0x12, 0x01, 'b'})                     // 2 args (repeated)
                   + bytes({0x1a, 0x08, 0x0a, 0x01, 'K', 0x12, 0x03, 'v', 'a', 'l'})  // 3 env entry
                   + bytes({0x20, 0x96, 0x01})                                     // 4 timeout 150
                   + bytes({0x2a, 0x01, 'w'})                                      // 5 working_dir
                   + bytes({0x32, 0x01, 'e'})                                      // 6 entrypoint
                   + bytes({0x3a, 0x01, 'h'});                                     // 7 handler
  executor::v1::ExecuteRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(go));
  EXPECT_EQ(parsed.id(), "id");
  ASSERT_EQ(parsed.args_size(), 2);
  EXPECT_EQ(parsed.args(0), "a");
  EXPECT_EQ(parsed.args(1), "b");
  ASSERT_EQ(parsed.env().size(), 1U);
  EXPECT_EQ(parsed.env().at("K"), "val");
  EXPECT_EQ(parsed.timeout_seconds(), 150);
  EXPECT_EQ(parsed.working_dir(), "w");
  EXPECT_EQ(parsed.entrypoint(), "e");
  EXPECT_EQ(parsed.handler(), "h");
}

TEST(RuntimeProto, StatusResponseRoundTripsAndEncodesNegativeExitCodes) {
  executor::v1::StatusResponse st;
  st.set_id("run-1");
  st.set_state(executor::v1::EXECUTION_STATE_FAILED);
  st.set_exit_code(-1);
  st.set_stdout(std::string("out\0with nul\n", 13));
  st.set_stderr("err\n");
  st.set_error_message("signal: killed");
  std::string wire;
  ASSERT_TRUE(st.SerializeToString(&wire));

  executor::v1::StatusResponse back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.id(), "run-1");
  EXPECT_EQ(back.state(), executor::v1::EXECUTION_STATE_FAILED);
  EXPECT_EQ(back.exit_code(), -1);
  EXPECT_EQ(back.stdout(), std::string("out\0with nul\n", 13));
  EXPECT_EQ(back.stderr(), "err\n");
  EXPECT_EQ(back.error_message(), "signal: killed");

  executor::v1::StatusResponse small;
  small.set_state(executor::v1::EXECUTION_STATE_FAILED);
  small.set_exit_code(-1);
  ASSERT_TRUE(small.SerializeToString(&wire));
  // field 2 VARINT 4; field 3 int32 -1 as a ten-byte varint (as Go encodes it)
  EXPECT_EQ(hex(wire), "10 04 18 ff ff ff ff ff ff ff ff ff 01");
}

TEST(RuntimeProto, ListResponseNestsStatusResponses) {
  executor::v1::ListResponse list;
  for (int i = 0; i < 3; ++i) {
    auto* e = list.add_entries();
    e->set_id("run-" + std::to_string(i));
    e->set_state(static_cast<executor::v1::ExecutionState>(i + 1));
  }
  executor::v1::ListResponse back;
  ASSERT_TRUE(back.ParseFromString(list.SerializeAsString()));
  ASSERT_EQ(back.entries_size(), 3);
  EXPECT_EQ(back.entries(2).id(), "run-2");
  EXPECT_EQ(back.entries(2).state(), executor::v1::EXECUTION_STATE_SUCCEEDED);
}

TEST(RuntimeProto, FieldNumbersAndTypesMatchSpec) {
  using ns = executor::v1::ExecuteRequest;
  expect_fields(ns::descriptor(), {{"id", 1, FD::TYPE_STRING, false},
                                   {"args", 2, FD::TYPE_STRING, true},
                                   {"env", 3, FD::TYPE_MESSAGE, true},
                                   {"timeout_seconds", 4, FD::TYPE_INT64, false},
                                   {"working_dir", 5, FD::TYPE_STRING, false},
                                   {"entrypoint", 6, FD::TYPE_STRING, false},
                                   {"handler", 7, FD::TYPE_STRING, false}});
  const FD* env = ns::descriptor()->FindFieldByName("env");
  ASSERT_NE(env, nullptr);
  EXPECT_TRUE(env->is_map());
  EXPECT_EQ(env->message_type()->map_key()->type(), FD::TYPE_STRING);
  EXPECT_EQ(env->message_type()->map_value()->type(), FD::TYPE_STRING);

  expect_fields(executor::v1::StatusResponse::descriptor(), {{"id", 1, FD::TYPE_STRING, false},
                                                             {"state", 2, FD::TYPE_ENUM, false},
                                                             {"exit_code", 3, FD::TYPE_INT32, false},
                                                             {"stdout", 4, FD::TYPE_STRING, false},
                                                             {"stderr", 5, FD::TYPE_STRING, false},
                                                             {"error_message", 6, FD::TYPE_STRING, false}});
  expect_fields(executor::v1::ExecuteResponse::descriptor(), {{"id", 1, FD::TYPE_STRING, false}});
  expect_fields(executor::v1::StatusRequest::descriptor(), {{"id", 1, FD::TYPE_STRING, false}});
  expect_fields(executor::v1::ListRequest::descriptor(), {});
  expect_fields(executor::v1::ListResponse::descriptor(), {{"entries", 1, FD::TYPE_MESSAGE, true}});
  expect_fields(executor::v1::CancelRequest::descriptor(), {{"id", 1, FD::TYPE_STRING, false}});
  expect_fields(executor::v1::CancelResponse::descriptor(), {});
  expect_fields(executor::v1::ForgetRequest::descriptor(), {{"id", 1, FD::TYPE_STRING, false}});
  expect_fields(executor::v1::ForgetResponse::descriptor(), {});
  expect_fields(executor::v1::HealthRequest::descriptor(), {});
  expect_fields(executor::v1::HealthResponse::descriptor(),
                {{"healthy", 1, FD::TYPE_BOOL, false}, {"message", 2, FD::TYPE_STRING, false}});
}

TEST(RuntimeProto, ExecutionStateValues) {
  const pb::EnumDescriptor* e = executor::v1::ExecutionState_descriptor();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->full_name(), "executor.v1.ExecutionState");
  const std::vector<std::pair<const char*, int>> want = {{"EXECUTION_STATE_UNSPECIFIED", 0},
                                                         {"EXECUTION_STATE_PENDING", 1},
                                                         {"EXECUTION_STATE_RUNNING", 2},
                                                         {"EXECUTION_STATE_SUCCEEDED", 3},
                                                         {"EXECUTION_STATE_FAILED", 4}};
  EXPECT_EQ(e->value_count(), static_cast<int>(want.size()));
  for (const auto& [name, number] : want) {
    const auto* v = e->FindValueByName(name);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_EQ(v->number(), number) << name;
  }
  EXPECT_EQ(executor::v1::EXECUTION_STATE_UNSPECIFIED, 0);
  EXPECT_EQ(executor::v1::EXECUTION_STATE_PENDING, 1);
  EXPECT_EQ(executor::v1::EXECUTION_STATE_RUNNING, 2);
  EXPECT_EQ(executor::v1::EXECUTION_STATE_SUCCEEDED, 3);
  EXPECT_EQ(executor::v1::EXECUTION_STATE_FAILED, 4);
}

TEST(RuntimeProto, ServiceNameAndMethods) {
  EXPECT_STREQ(executor::v1::Runtime::service_full_name(), "executor.v1.Runtime");
  const pb::ServiceDescriptor* s = pb::DescriptorPool::generated_pool()->FindServiceByName("executor.v1.Runtime");
  ASSERT_NE(s, nullptr);
  struct method_spec {
    const char* name;
    const char* input;
    const char* output;
  };
  const std::vector<method_spec> want = {
      {"Execute", "executor.v1.ExecuteRequest", "executor.v1.ExecuteResponse"},
      {"Status", "executor.v1.StatusRequest", "executor.v1.StatusResponse"},
      {"List", "executor.v1.ListRequest", "executor.v1.ListResponse"},
      {"Cancel", "executor.v1.CancelRequest", "executor.v1.CancelResponse"},
      {"Forget", "executor.v1.ForgetRequest", "executor.v1.ForgetResponse"},
      {"Health", "executor.v1.HealthRequest", "executor.v1.HealthResponse"},
  };
  ASSERT_EQ(s->method_count(), static_cast<int>(want.size()));
  for (const auto& w : want) {
    const pb::MethodDescriptor* m = s->FindMethodByName(w.name);
    ASSERT_NE(m, nullptr) << w.name;
    EXPECT_EQ(m->input_type()->full_name(), w.input) << w.name;
    EXPECT_EQ(m->output_type()->full_name(), w.output) << w.name;
    EXPECT_FALSE(m->client_streaming()) << w.name;
    EXPECT_FALSE(m->server_streaming()) << w.name;
  }
}

TEST(ArtifactProto, ServiceAndMessages) {
  EXPECT_STREQ(artifact::v1::ArtifactService::service_full_name(), "artifact.v1.ArtifactService");
  const pb::ServiceDescriptor* s =
      pb::DescriptorPool::generated_pool()->FindServiceByName("artifact.v1.ArtifactService");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->method_count(), 1);
  const pb::MethodDescriptor* m = s->FindMethodByName("Download");
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->client_streaming());
  EXPECT_TRUE(m->server_streaming());
  EXPECT_EQ(m->input_type()->full_name(), "artifact.v1.DownloadRequest");
  EXPECT_EQ(m->output_type()->full_name(), "artifact.v1.DownloadResponse");

  expect_fields(artifact::v1::DownloadRequest::descriptor(), {{"namespace", 1, FD::TYPE_STRING, false},
                                                              {"run_name", 2, FD::TYPE_STRING, false},
                                                              {"artifact_name", 3, FD::TYPE_STRING, false}});
  expect_fields(artifact::v1::ArtifactMetadata::descriptor(), {{"name", 1, FD::TYPE_STRING, false},
                                                               {"type", 2, FD::TYPE_STRING, false},
                                                               {"content_type", 3, FD::TYPE_STRING, false},
                                                               {"size_bytes", 4, FD::TYPE_INT64, false},
                                                               {"digest", 5, FD::TYPE_STRING, false}});
  expect_fields(artifact::v1::DownloadResponse::descriptor(),
                {{"metadata", 1, FD::TYPE_MESSAGE, false}, {"data", 2, FD::TYPE_BYTES, false}});
}

TEST(ArtifactProto, DownloadResponseRoundTripsBinaryData) {
  artifact::v1::DownloadResponse first;
  auto* md = first.mutable_metadata();
  md->set_name("out.tar.gz");
  md->set_type("directory");
  md->set_content_type("application/gzip");
  md->set_size_bytes(int64_t{5} << 32);
  md->set_digest("sha256:abc");
  artifact::v1::DownloadResponse back;
  ASSERT_TRUE(back.ParseFromString(first.SerializeAsString()));
  ASSERT_TRUE(back.has_metadata());
  EXPECT_EQ(back.metadata().size_bytes(), int64_t{5} << 32);
  EXPECT_EQ(back.metadata().digest(), "sha256:abc");
  EXPECT_TRUE(back.data().empty());

  std::string blob(64 * 1024, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7 + 1);
  artifact::v1::DownloadResponse chunk;
  chunk.set_data(blob);
  ASSERT_TRUE(back.ParseFromString(chunk.SerializeAsString()));
  EXPECT_FALSE(back.has_metadata());
  EXPECT_EQ(back.data(), blob);
}

// ------------------------------------------------- in-process gRPC round trips

class fake_runtime final : public executor::v1::Runtime::Service {
 public:
  grpc::Status Execute(grpc::ServerContext*, const executor::v1::ExecuteRequest* req,
                       executor::v1::ExecuteResponse* resp) override {
    {
      // The handler runs on a gRPC thread; gRPC's own hand-off is invisible
      // to ThreadSanitizer (libgrpc is not instrumented), so say it here.
      std::lock_guard<std::mutex> lock(mu);
      last_execute = *req;
    }
    resp->set_id(req->id());
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const executor::v1::StatusRequest* req,
                      executor::v1::StatusResponse* resp) override {
    if (req->id() == "missing") return {grpc::StatusCode::NOT_FOUND, "request missing not found"};
    resp->set_id(req->id());
    resp->set_state(executor::v1::EXECUTION_STATE_SUCCEEDED);
    resp->set_stdout("hi\n");
    return grpc::Status::OK;
  }
  executor::v1::ExecuteRequest last() {
    std::lock_guard<std::mutex> lock(mu);
    return last_execute;
  }

 private:
  std::mutex mu;
  executor::v1::ExecuteRequest last_execute;
};

class fake_artifacts final : public artifact::v1::ArtifactService::Service {
 public:
  grpc::Status Download(grpc::ServerContext*, const artifact::v1::DownloadRequest* req,
                        grpc::ServerWriter<artifact::v1::DownloadResponse>* w) override {
    artifact::v1::DownloadResponse meta;
    meta.mutable_metadata()->set_name(req->artifact_name());
    meta.mutable_metadata()->set_size_bytes(6);
    if (!w->Write(meta)) return {grpc::StatusCode::CANCELLED, "client went away"};
    for (const char* part : {"abc", "def"}) {
      artifact::v1::DownloadResponse chunk;
      chunk.set_data(part);
      if (!w->Write(chunk)) return {grpc::StatusCode::CANCELLED, "client went away"};
    }
    return grpc::Status::OK;
  }
};

std::chrono::system_clock::time_point soon() { return std::chrono::system_clock::now() + std::chrono::seconds(10); }

class InProcessGrpc : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&runtime_);
    builder.RegisterService(&artifacts_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(soon());
  }

  fake_runtime runtime_;
  fake_artifacts artifacts_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(InProcessGrpc, TypedStubExecuteCarriesEveryField) {
  auto stub = executor::v1::Runtime::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(soon());
  executor::v1::ExecuteResponse resp;
  auto req = full_execute_request();
  grpc::Status st = stub->Execute(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.id(), "run-7f3a");
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(runtime_.last(), req));
}

TEST_F(InProcessGrpc, TypedStubReturnsStatusCodes) {
  auto stub = executor::v1::Runtime::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(soon());
  executor::v1::StatusRequest req;
  req.set_id("missing");
  executor::v1::StatusResponse resp;
  grpc::Status st = stub->Status(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "request missing not found");

  grpc::ClientContext ctx2;
  ctx2.set_deadline(soon());
  executor::v1::HealthResponse health;
  st = stub->Health(&ctx2, executor::v1::HealthRequest(), &health);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << "the fake does not implement Health";
}

// The method path on the wire is "/executor.v1.Runtime/Status", whatever the
// generator does: call it by name with raw bytes, as a Go client would.
TEST_F(InProcessGrpc, MethodPathOnTheWire) {
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  executor::v1::StatusRequest req;
  req.set_id("run-9");
  std::string raw = req.SerializeAsString();
  grpc::Slice slice(raw);
  grpc::ByteBuffer request(&slice, 1);

  grpc::ClientContext ctx;
  ctx.set_deadline(soon());
  auto call = generic.PrepareUnaryCall(&ctx, "/executor.v1.Runtime/Status", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status st;
  call->Finish(&response, &st, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(1));
  EXPECT_TRUE(ok);
  ASSERT_TRUE(st.ok()) << st.error_message();

  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string body;
  for (const auto& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  executor::v1::StatusResponse resp;
  ASSERT_TRUE(resp.ParseFromString(body));
  EXPECT_EQ(resp.id(), "run-9");
  EXPECT_EQ(resp.state(), executor::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(resp.stdout(), "hi\n");

  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(InProcessGrpc, DownloadStreamsMetadataThenChunks) {
  auto stub = artifact::v1::ArtifactService::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(soon());
  artifact::v1::DownloadRequest req;
  req.set_namespace_("default");
  req.set_run_name("run-1");
  req.set_artifact_name("out.txt");
  auto reader = stub->Download(&ctx, req);
  std::vector<artifact::v1::DownloadResponse> got;
  artifact::v1::DownloadResponse msg;
  while (reader->Read(&msg)) got.push_back(msg);
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(got.size(), 3U);
  ASSERT_TRUE(got[0].has_metadata());
  EXPECT_EQ(got[0].metadata().name(), "out.txt");
  EXPECT_EQ(got[0].metadata().size_bytes(), 6);
  EXPECT_EQ(got[1].data() + got[2].data(), "abcdef");
}

}  // namespace
