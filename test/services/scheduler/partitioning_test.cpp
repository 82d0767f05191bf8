#include "services/scheduler/partitioning.hpp"

#include <gtest/gtest.h>

#include <set>

namespace krt::scheduler {
namespace {

TEST(Partitioning, OnePartitionHoldsEverything) {
  EXPECT_EQ(partition_of("a/bash", 1), 0u);
  EXPECT_EQ(partition_of("a/bash", 0), 0u);
  EXPECT_EQ(wanted_partitions({}, "me", 1), std::vector<unsigned>{0});
}

TEST(Partitioning, PartitionIsStableAndSpread) {
  // Pinned: replicas of different versions must agree on every pool's
  // partition (the integration test recomputes it the same way).
  EXPECT_EQ(partition_of("default/bash", 16), partition_of("default/bash", 16));
  std::set<unsigned> seen;
  for (int i = 0; i < 200; ++i) seen.insert(partition_of("ns-" + std::to_string(i) + "/bash", 16));
  EXPECT_EQ(seen.size(), 16u);
}

TEST(Partitioning, ReplicasSplitThePartitionsWithoutOverlap) {
  std::vector<std::string> members = {"c", "a", "b"};
  std::set<unsigned> all;
  std::size_t total = 0;
  for (const auto& m : members) {
    auto w = wanted_partitions(members, m, 16);
    EXPECT_GE(w.size(), 5u);
    EXPECT_LE(w.size(), 6u);
    total += w.size();
    all.insert(w.begin(), w.end());
  }
  EXPECT_EQ(total, 16u);
  EXPECT_EQ(all.size(), 16u);
  // Sorted order decides: "a" is first.
  EXPECT_EQ(wanted_partitions(members, "a", 6), (std::vector<unsigned>{0, 3}));
  EXPECT_EQ(wanted_partitions(members, "c", 6), (std::vector<unsigned>{2, 5}));
}

TEST(Partitioning, SelfIsCountedAndDuplicatesIgnored) {
  EXPECT_EQ(wanted_partitions({"b", "b"}, "a", 4), (std::vector<unsigned>{0, 2}));
  EXPECT_EQ(wanted_partitions({"a"}, "a", 3), (std::vector<unsigned>{0, 1, 2}));
  // More replicas than partitions: the extra ones hold nothing.
  EXPECT_TRUE(wanted_partitions({"a", "b", "c"}, "c", 2).empty());
}

TEST(Partitioning, LeaseNames) {
  EXPECT_EQ(partition_lease_name("kruntimes-scheduler.kruntimes.com", 7), "kruntimes-scheduler.kruntimes.com-p07");
  std::string m = member_lease_name("x", "pod_1234");
  EXPECT_EQ(m.size(), std::string("x-member-").size() + 16);
  EXPECT_TRUE(is_member_lease("x", m));
  EXPECT_NE(m, member_lease_name("x", "pod_1235"));
  EXPECT_FALSE(is_member_lease("x", "x-p07"));
  EXPECT_FALSE(is_member_lease("y", m));
  EXPECT_FALSE(is_member_lease("x", "x-member-"));
}

}  // namespace
}  // namespace krt::scheduler
