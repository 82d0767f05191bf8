// The bind-address flags (services/scheduler/bind_address.hpp).
#include <gtest/gtest.h>

#include "services/scheduler/bind_address.hpp"

namespace krt::scheduler::test_bind_address {

TEST(BindAddress, PortOnlyBindsPodIpWhenSet) {
  std::string err;
  auto a = parse_bind_address(":8080", "", err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8080);
  a = parse_bind_address(":8081", "127.3.0.7", err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "127.3.0.7");
  EXPECT_EQ(a->port, 8081);
}

TEST(BindAddress, ExplicitHostIsKept) {
  std::string err;
  auto a = parse_bind_address("127.0.0.1:0", "127.3.0.7", err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  a = parse_bind_address("[::1]:9000", "", err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "::1");
}

TEST(BindAddress, DisabledAndErrors) {
  std::string err;
  EXPECT_FALSE(parse_bind_address("0", "", err));
  EXPECT_TRUE(err.empty());
  EXPECT_FALSE(parse_bind_address("", "", err));
  EXPECT_TRUE(err.empty());
  for (const char* bad : {"8080", ":http", ":70000", "host:", ":-1"}) {
    EXPECT_FALSE(parse_bind_address(bad, "", err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace krt::scheduler::test_bind_address
