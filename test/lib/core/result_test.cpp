// Tests for lib/core/result.hpp: result<T, E> and result<void, E>.

#include "lib/core/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

namespace krt {
namespace {

enum class test_errc { bad = 1, worse };

struct error_info {
  test_errc code = test_errc::bad;
  std::string detail;
};

result<int, error_info> half(int v) {
  if (v % 2 != 0) return unexpected(error_info{test_errc::worse, "odd"});
  return v / 2;
}

TEST(Result, HoldsAValue) {
  result<int, error_info> r = half(8);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 4);
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(r.value_or(-1), 4);
}

TEST(Result, HoldsAnError) {
  result<int, error_info> r = half(7);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, test_errc::worse);
  EXPECT_EQ(r.error().detail, "odd");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(Result, ValueOnErrorThrowsBadResultAccess) {
  result<int, error_info> r = half(7);
  EXPECT_THROW((void)r.value(), bad_result_access);
  EXPECT_THROW((void)*r, bad_result_access);
  const auto& cr = r;
  EXPECT_THROW((void)cr.value(), bad_result_access);
  EXPECT_THROW((void)std::move(r).value(), bad_result_access);
  // It is a logic_error: a caller that did not check.
  try {
    (void)cr.value();
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "result holds an error");
  }
}

TEST(Result, ArrowAndMutation) {
  result<std::string, int> r = std::string("abc");
  EXPECT_EQ(r->size(), 3U);
  r->append("d");
  r.value() += "e";
  EXPECT_EQ(*r, "abcde");
  result<std::string, int> e = unexpected(5);
  EXPECT_THROW((void)e->size(), bad_result_access);
}

TEST(Result, SameValueAndErrorTypeIsUnambiguous) {
  result<std::string, std::string> ok = std::string("value");
  result<std::string, std::string> bad = unexpected(std::string("error"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, "value");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "error");
}

TEST(Result, ConvertsValueAndUnexpectedTypes) {
  result<std::string, std::string> from_literal = "lit";
  EXPECT_EQ(*from_literal, "lit");
  // unexpected<const char*> converts into an std::string error.
  result<int, std::string> err = unexpected("oops");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error(), "oops");
}

TEST(Result, MoveOnlyValuesAndErrors) {
  result<std::unique_ptr<int>, std::string> r = std::make_unique<int>(42);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 42);

  result<int, std::unique_ptr<std::string>> e = unexpected(std::make_unique<std::string>("boom"));
  ASSERT_FALSE(e);
  std::unique_ptr<std::string> err = std::move(e).error();
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "boom");
}

TEST(Result, RvalueValueMovesOut) {
  result<std::string, int> r = std::string(100, 'x');
  std::string s = std::move(r).value();
  EXPECT_EQ(s.size(), 100U);
}

TEST(Result, IsNodiscardFriendlyInConditions) {
  int taken = 0;
  if (auto r = half(10)) taken = *r;
  EXPECT_EQ(taken, 5);
  if (auto r = half(3); !r) taken = static_cast<int>(r.error().code);
  EXPECT_EQ(taken, static_cast<int>(test_errc::worse));
}

result<void, error_info> check_positive(int v) {
  if (v <= 0) return unexpected(error_info{test_errc::bad, "not positive"});
  return {};
}

TEST(ResultVoid, DefaultIsSuccess) {
  result<void, error_info> r;
  EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_NO_THROW(r.value());
  EXPECT_TRUE(check_positive(1));
}

TEST(ResultVoid, HoldsAnError) {
  auto r = check_positive(0);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, test_errc::bad);
  EXPECT_EQ(r.error().detail, "not positive");
  EXPECT_THROW(r.value(), bad_result_access);
  error_info moved = std::move(r).error();
  EXPECT_EQ(moved.detail, "not positive");
}

TEST(ResultVoid, CopiesKeepTheirState) {
  auto bad = check_positive(-3);
  auto copy = bad;
  ASSERT_FALSE(copy);
  EXPECT_EQ(copy.error().detail, "not positive");
  result<void, error_info> ok;
  copy = ok;
  EXPECT_TRUE(copy);
}

TEST(ResultTraits, ExposesValueAndErrorTypes) {
  static_assert(std::is_same_v<result<int, std::string>::value_type, int>);
  static_assert(std::is_same_v<result<int, std::string>::error_type, std::string>);
  static_assert(std::is_base_of_v<std::logic_error, bad_result_access>);
  SUCCEED();
}

}  // namespace
}  // namespace krt
