// Tests for the quantity helpers of lib/api/validation.hpp: parse_quantity,
// quantity_as_integer, the scheduler's effective_requests and pod_capacity
// (SPEC §3 steps 3 and 6, Go's RunSpec.ResourceRequests and
// runtimepod.Capacity).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "lib/api/validation.hpp"

namespace krt::api {
namespace {

using qty_map = std::map<std::string, std::int64_t>;

TEST(ApiQuantity, ParsesSuffixesAndExponents) {
  struct qty_case {
    const char* text;
    long double want;
  };
  const qty_case cases[] = {
      {"2", 2},         {"0", 0},          {"+1", 1},          {"-1", -1},      {"1.5", 1.5L},  {".5", 0.5L},
      {"1.", 1},        {"500m", 0.5L},    {"1k", 1000},       {"1M", 1e6L},    {"1G", 1e9L},   {"1T", 1e12L},
      {"1P", 1e15L},    {"1E", 1e18L},     {"1Ki", 1024},      {"1Mi", 1048576}, {"1Gi", 1073741824.0L},
      {"2Ti", 2 * 1099511627776.0L},       {"1Pi", 1125899906842624.0L},        {"1Ei", 1152921504606846976.0L},
      {"1e3", 1000},    {"1E3", 1000},     {"1e+3", 1000},     {"1e-3", 0.001L}, {"1.5e2", 150}, {"100n", 1e-7L},
      {"3u", 3e-6L},    {" 2 ", 2},
  };
  for (const auto& c : cases) {
    auto v = parse_quantity(c.text);
    ASSERT_TRUE(v) << c.text;
    double want = static_cast<double>(c.want);
    EXPECT_NEAR(static_cast<double>(*v), want, std::fabs(want) * 1e-12 + 1e-15) << c.text;
  }
}

TEST(ApiQuantity, RejectsGarbage) {
  for (auto bad : {"", "   ", "abc", "k", "Ki", ".", "-", "+", "1x", "1ki", "1KI", "1kb", "1 k", "1e", "1e+", "1e3.5",
                   "1.2.3", "--1", "1e999", "0x10", "1m1", "1Ki1"}) {
    EXPECT_FALSE(parse_quantity(bad)) << bad;
  }
}

TEST(ApiQuantity, AsInteger) {
  EXPECT_EQ(quantity_as_integer("2"), 2);
  EXPECT_EQ(quantity_as_integer("0"), 0);
  EXPECT_EQ(quantity_as_integer("1k"), 1000);
  EXPECT_EQ(quantity_as_integer("1Ki"), 1024);
  EXPECT_EQ(quantity_as_integer("1e3"), 1000);
  EXPECT_EQ(quantity_as_integer("-1"), -1);
  EXPECT_EQ(quantity_as_integer("2000m"), 2);
  EXPECT_EQ(quantity_as_integer("1.5k"), 1500);
  EXPECT_EQ(quantity_as_integer("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(quantity_as_integer("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
}

TEST(ApiQuantity, AsIntegerRejectsFractionsGarbageAndOverflow) {
  for (auto bad : {"500m", "1500m", "1.5", "0.1", "1e-3", "1n", "abc", "", "9223372036854775808", "1e30", "10Ei"})
    EXPECT_FALSE(quantity_as_integer(bad)) << bad;
}

// Kubernetes rounds a quantity more precise than 1n *up* to the next nano, so
// these are fractional there (AsInt64 reports false) and the Go scheduler
// rejects them as requests.
TEST(ApiQuantity, AsIntegerRejectsTinyFractions) {
  // Regression (was a bug): lib/api/validation.cpp quantity_as_integer accepts a value whose
  // distance to the nearest integer is <= 1e-9, so "1.0000000001" → 1 and
  // "1e-10" → 0; effective_requests then accepts them instead of failing with
  // InvalidResources.
  EXPECT_FALSE(quantity_as_integer("1.0000000001"));
  EXPECT_FALSE(quantity_as_integer("1e-10"));
  run_spec s;
  s.resource_requests = std::map<std::string, std::string>{{"gpu", "1.0000000001"}};
  EXPECT_FALSE(effective_requests(s));
}

// ------------------------------------------------------------------ effective_requests

run_spec qty_spec(std::map<std::string, std::string> requests) {
  run_spec s;
  s.runtime = "rt";
  s.resource_requests = std::move(requests);
  return s;
}

qty_map qty_effective(const run_spec& s) {
  auto r = effective_requests(s);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r ? *r : qty_map{};
}

TEST(ApiEffectiveRequests, RunsDefaultsToOne) {
  run_spec none;
  EXPECT_EQ(qty_effective(none), (qty_map{{"runs", 1}}));
  EXPECT_EQ(qty_effective(qty_spec({})), (qty_map{{"runs", 1}}));
  EXPECT_EQ(qty_effective(qty_spec({{"gpu", "2"}})), (qty_map{{"gpu", 2}, {"runs", 1}}));
}

TEST(ApiEffectiveRequests, ZeroRunsBecomesOne) {
  EXPECT_EQ(qty_effective(qty_spec({{"runs", "0"}})), (qty_map{{"runs", 1}}));
  EXPECT_EQ(qty_effective(qty_spec({{"runs", "0m"}})), (qty_map{{"runs", 1}}));
}

TEST(ApiEffectiveRequests, ExplicitRunsIsKept) {
  EXPECT_EQ(qty_effective(qty_spec({{"runs", "3"}})), (qty_map{{"runs", 3}}));
  EXPECT_EQ(qty_effective(qty_spec({{"runs", "1k"}, {"memory", "1Ki"}})), (qty_map{{"runs", 1000}, {"memory", 1024}}));
}

TEST(ApiEffectiveRequests, ZeroRequestsAreDropped) {
  EXPECT_EQ(qty_effective(qty_spec({{"gpu", "0"}, {"cpu", "2"}})), (qty_map{{"cpu", 2}, {"runs", 1}}));
}

TEST(ApiEffectiveRequests, NegativeOrFractionalIsInvalidResources) {
  const std::pair<const char*, const char*> cases[] = {
      {"gpu", "-1"}, {"gpu", "500m"}, {"gpu", "1.5"}, {"runs", "-2"}, {"memory", "100n"}, {"x", "garbage"}};
  for (auto [name, value] : cases) {
    auto r = effective_requests(qty_spec({{"cpu", "1"}, {name, value}}));
    ASSERT_FALSE(r) << name << "=" << value;
    EXPECT_EQ(r.error(), std::string("resource request \"") + name + "\" must be a non-negative integer");
  }
}

// ------------------------------------------------------------------ pod_capacity

TEST(ApiPodCapacity, FallsBackToTwoRuns) {
  EXPECT_EQ(pod_capacity({}), (qty_map{{"runs", 2}}));
  EXPECT_EQ(pod_capacity({{"other/annotation", "5"}, {"kruntimes.io/capacityruns", "5"}}), (qty_map{{"runs", 2}}));
}

TEST(ApiPodCapacity, ReadsCapacityAnnotations) {
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "4"}}), (qty_map{{"runs", 4}}));
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "4"}, {"kruntimes.io/capacity.gpu", "2"},
                          {"kruntimes.io/capacity.memory", "1Ki"}, {"unrelated", "x"}}),
            (qty_map{{"runs", 4}, {"gpu", 2}, {"memory", 1024}}));
}

TEST(ApiPodCapacity, InvalidAndNonPositiveAreIgnored) {
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "lots"}}), (qty_map{{"runs", 2}}));
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "0"}}), (qty_map{{"runs", 2}}));
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "-3"}}), (qty_map{{"runs", 2}}));
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "3"}, {"kruntimes.io/capacity.gpu", "-1"}}),
            (qty_map{{"runs", 3}}));
}

// Go's runtimepod.Capacity adds runs=2 whenever no runs annotation is usable,
// even if other resources are advertised (every Run requests runs ≥ 1).
TEST(ApiPodCapacity, RunsFallbackAlongsideOtherResources) {
  // Regression (was a bug): lib/api/validation.cpp pod_capacity only falls back to runs=2 when
  // the map is empty, so a Pod annotated only with kruntimes.io/capacity.gpu=1
  // gets {gpu:1} with no runs entry, and no Run (which always requests runs)
  // can ever fit it. Go returns {gpu:1, runs:2}.
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.gpu", "1"}}), (qty_map{{"gpu", 1}, {"runs", 2}}));
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.gpu", "1"}, {"kruntimes.io/capacity.runs", "0"}}),
            (qty_map{{"gpu", 1}, {"runs", 2}}));
}

TEST(ApiPodCapacity, EmptyResourceNameIsIgnored) {
  // Regression (was a bug): pod_capacity keeps the annotation "kruntimes.io/capacity." as a
  // resource named "" (and then skips the runs fallback); Go skips it.
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.", "5"}}), (qty_map{{"runs", 2}}));
}

TEST(ApiPodCapacity, HugeValuesStayPositive) {
  // Regression (was a bug): pod_capacity converts floor(quantity) to int64 without a range check
  // (undefined behaviour); on x86-64 "1e30" becomes INT64_MIN, a negative
  // capacity. Kubernetes caps quantities at 2^63-1.
  auto cap = pod_capacity({{"kruntimes.io/capacity.runs", "1e30"}});
  ASSERT_EQ(cap.count("runs"), 1U);
  EXPECT_GT(cap["runs"], 0);
}

TEST(ApiPodCapacity, FractionalCapacityFloors) {
  // A fractional capacity admits only whole requests below it; flooring keeps
  // the fit test (usage + request <= capacity) identical for integer requests.
  EXPECT_EQ(pod_capacity({{"kruntimes.io/capacity.runs", "2500m"}}), (qty_map{{"runs", 2}}));
}

}  // namespace
}  // namespace krt::api
