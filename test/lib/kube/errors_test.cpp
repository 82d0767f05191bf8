#include "lib/kube/errors.hpp"

#include <gtest/gtest.h>

namespace krt::kube {
namespace {

std::string status_json(int code, const std::string& reason, const std::string& extra = "") {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"msg for )" + reason +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + extra + "}";
}

TEST(KubeErrors, StatusBodiesMapToTypedErrors) {
  struct row {
    unsigned http;
    std::string reason;
    errc code;
    bool retryable;
  } rows[] = {
      {404, "NotFound", errc::not_found, false},       {409, "AlreadyExists", errc::already_exists, false},
      {409, "Conflict", errc::conflict, false},         {422, "Invalid", errc::invalid, false},
      {410, "Expired", errc::gone, false},              {410, "Gone", errc::gone, false},
      {429, "TooManyRequests", errc::too_many_requests, true},
      {500, "InternalError", errc::server_error, true}, {503, "ServiceUnavailable", errc::server_error, true},
      {504, "Timeout", errc::timeout, true},            {401, "Unauthorized", errc::unauthorized, false},
      {403, "Forbidden", errc::forbidden, false},       {400, "BadRequest", errc::bad_request, false},
      {415, "UnsupportedMediaType", errc::unsupported_media_type, false},
      {405, "MethodNotAllowed", errc::method_not_allowed, false},
  };
  for (const auto& r : rows) {
    std::string body = status_json(static_cast<int>(r.http), r.reason);
    auto e = error_from_response(r.http, body, "");
    EXPECT_EQ(e.code, r.code) << r.http << " " << r.reason;
    EXPECT_EQ(e.http_status, static_cast<int>(r.http));
    EXPECT_EQ(e.reason, r.reason);
    EXPECT_EQ(e.message, "msg for " + r.reason);
    EXPECT_EQ(e.retryable(), r.retryable) << r.reason;
  }
}

TEST(KubeErrors, InvalidCarriesCausesWithFieldPaths) {
  std::string body = status_json(422, "Invalid", R"(,"details":{"name":"r1","kind":"Run","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"/abs\"","field":"spec.mode.task.entrypoint"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.runtime"}]})");
  auto e = error_from_response(422, body, "");
  EXPECT_EQ(e.code, errc::invalid);
  ASSERT_EQ(e.causes.size(), 2U);
  EXPECT_EQ(e.causes[0].field, "spec.mode.task.entrypoint");
  EXPECT_EQ(e.causes[1].reason, "FieldValueRequired");
  auto text = e.describe();
  EXPECT_NE(text.find("Invalid (422)"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.runtime: Required value"), std::string::npos) << text;
}

TEST(KubeErrors, RetryAfterFromHeaderOrDetails) {
  std::string body = status_json(429, "TooManyRequests", R"(,"details":{"retryAfterSeconds":7})");
  auto from_details = error_from_response(429, body, "");
  ASSERT_TRUE(from_details.retry_after);
  EXPECT_EQ(from_details.retry_after->count(), 7);
  body = status_json(429, "TooManyRequests");
  auto from_header = error_from_response(429, body, " 3 ");
  ASSERT_TRUE(from_header.retry_after);
  EXPECT_EQ(from_header.retry_after->count(), 3);
  auto garbage = error_from_response(429, body, "soon");
  EXPECT_FALSE(garbage.retry_after);
}

TEST(KubeErrors, NonStatusBodiesStillGiveAUsefulError) {
  std::string html = "<html><body>502 Bad Gateway</body></html>";
  auto e = error_from_response(502, html, "");
  EXPECT_EQ(e.code, errc::server_error);
  EXPECT_NE(e.message.find("502 Bad Gateway"), std::string::npos);
  std::string empty;
  auto n = error_from_response(404, empty, "");
  EXPECT_EQ(n.code, errc::not_found);
  EXPECT_NE(n.message.find("no body"), std::string::npos);
  std::string truncated = R"({"kind":"Status","message":"cut)";
  auto t = error_from_response(409, truncated, "");
  EXPECT_EQ(t.code, errc::conflict);
}

}  // namespace
}  // namespace krt::kube
