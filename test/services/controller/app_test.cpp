// Command-line pieces of the controller process (SPEC §10).
#include "services/controller/app.hpp"

#include <gtest/gtest.h>

namespace krt::controller {
namespace {

TEST(BindAddress, ColonPortBindsPodIpWhenSet) {
  auto a = parse_bind_address("metrics-bind-address", ":8082", "127.3.0.7");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->host, "127.3.0.7");
  EXPECT_EQ((*a)->port, 8082);
  auto b = parse_bind_address("metrics-bind-address", ":8082", "");
  ASSERT_TRUE(b && b->has_value());
  EXPECT_EQ((*b)->host, "0.0.0.0");
}

TEST(BindAddress, ExplicitHostAndDisabled) {
  auto a = parse_bind_address("x", "127.0.0.1:0", "10.0.0.1");
  ASSERT_TRUE(a && a->has_value());
  EXPECT_EQ((*a)->host, "127.0.0.1");
  EXPECT_EQ((*a)->port, 0);
  auto v6 = parse_bind_address("x", "[::1]:9", "");
  ASSERT_TRUE(v6 && v6->has_value());
  EXPECT_EQ((*v6)->host, "::1");
  auto off = parse_bind_address("x", "0", "");
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_value());
}

TEST(BindAddress, ErrorsNameTheFlag) {
  auto a = parse_bind_address("health-probe-bind-address", "8083", "");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("--health-probe-bind-address"), std::string::npos);
  EXPECT_FALSE(parse_bind_address("x", ":http", ""));
  EXPECT_FALSE(parse_bind_address("x", ":70000", ""));
}

}  // namespace
}  // namespace krt::controller
