// The bounded store of finished Runs' output behind GET /runs/<uid>/log.
#include "sidecar/log_store.hpp"

#include <gtest/gtest.h>

namespace krt::runtimed {
namespace {

finished_run make(std::string uid, std::size_t bytes) {
  finished_run r;
  r.uid = std::move(uid);
  r.stdout_text = std::string(bytes, 'x');
  return r;
}

TEST(LogStore, KeepsAndReturnsOutput) {
  log_store s(4, 1 << 20);
  auto r = make("a", 3);
  r.stderr_text = "err";
  s.put(std::move(r));
  auto got = s.get("a");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->uid, "a");
  EXPECT_EQ(got->stdout_text, "xxx");
  EXPECT_EQ(got->stderr_text, "err");
  EXPECT_EQ(s.get("b"), nullptr);
}

TEST(LogStore, EvictsOldestByCount) {
  log_store s(2, 1 << 20);
  s.put(make("a", 1));
  s.put(make("b", 1));
  s.put(make("c", 1));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.get("a"), nullptr);
  EXPECT_NE(s.get("b"), nullptr);
  EXPECT_NE(s.get("c"), nullptr);
}

TEST(LogStore, EvictsOldestByBytes) {
  log_store s(100, 3000);
  s.put(make("a", 1000));
  s.put(make("b", 1000));
  s.put(make("c", 1000));  // 3000 + overheads: "a" goes
  EXPECT_EQ(s.get("a"), nullptr);
  EXPECT_NE(s.get("c"), nullptr);
  EXPECT_LE(s.bytes(), 3000u);
}

TEST(LogStore, ReplacingAnEntryKeepsAccountingRight) {
  log_store s(10, 1 << 20);
  s.put(make("a", 100));
  auto before = s.bytes();
  s.put(make("a", 100));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.bytes(), before);
}

}  // namespace
}  // namespace krt::runtimed
