// Tests for lib/core/time.hpp: RFC 3339 timestamps (metav1.Time and
// MicroTime), Go duration strings (time.ParseDuration / Duration.String) and
// kubectl's short ages (duration.HumanDuration).

#include "lib/core/time.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace krt {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// 2026-11-22T04:53:43.123456Z
wall_time sample_time() {
  return sys_days{year{2026} / November / 22} + 4h + 53min + 43s + 123456us;
}

// ------------------------------------------------------------------ RFC 3339

TEST(Rfc3339Format, MicroAlwaysHasSixDigits) {
  EXPECT_EQ(format_rfc3339_micro(sample_time()), "2026-11-22T04:53:43.123456Z");
  EXPECT_EQ(format_rfc3339_micro(sys_days{year{2026} / January / 2} + 5us), "2026-01-02T00:00:00.000005Z");
  EXPECT_EQ(format_rfc3339_micro(wall_time{}), "1970-01-01T00:00:00.000000Z");
}

TEST(Rfc3339Format, SecondsTruncateNotRound) {
  EXPECT_EQ(format_rfc3339(sample_time()), "2026-11-22T04:53:43Z");
  EXPECT_EQ(format_rfc3339(sys_days{year{2026} / November / 22} + 23h + 59min + 59s + 999999us),
            "2026-11-22T23:59:59Z");
  EXPECT_EQ(format_rfc3339(wall_time{}), "1970-01-01T00:00:00Z");
}

TEST(Rfc3339Format, BeforeTheEpoch) {
  wall_time t = wall_time{} - 500ms;
  EXPECT_EQ(format_rfc3339_micro(t), "1969-12-31T23:59:59.500000Z");
  EXPECT_EQ(format_rfc3339(t), "1969-12-31T23:59:59Z");
}

TEST(Rfc3339Format, LeapDayAndYearEnd) {
  EXPECT_EQ(format_rfc3339(sys_days{year{2024} / February / 29} + 12h), "2024-02-29T12:00:00Z");
  EXPECT_EQ(format_rfc3339_micro(sys_days{year{2025} / December / 31} + 23h + 59min + 59s + 999999us),
            "2025-12-31T23:59:59.999999Z");
}

TEST(Rfc3339Parse, SecondsAndMicros) {
  auto base = sys_days{year{2026} / November / 22} + 4h + 53min + 43s;
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43Z"), wall_time{base});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43.123456Z"), wall_time{base + 123456us});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43.5Z"), wall_time{base + 500000us});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43.000001Z"), wall_time{base + 1us});
}

TEST(Rfc3339Parse, FractionBeyondMicrosIsTruncated) {
  auto base = sys_days{year{2026} / November / 22} + 4h + 53min + 43s;
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43.123456789Z"), wall_time{base + 123456us});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43.9999999Z"), wall_time{base + 999999us});
}

TEST(Rfc3339Parse, LowercaseAndSpaceSeparator) {
  auto want = parse_rfc3339("2026-11-22T04:53:43Z");
  ASSERT_TRUE(want);
  EXPECT_EQ(parse_rfc3339("2026-11-22t04:53:43z"), want);
  EXPECT_EQ(parse_rfc3339("2026-11-22 04:53:43Z"), want);
}

TEST(Rfc3339Parse, OffsetsConvertToUtc) {
  auto utc = sys_days{year{2026} / November / 22} + 4h + 53min + 43s;
  EXPECT_EQ(parse_rfc3339("2026-11-22T06:53:43+02:00"), wall_time{utc});
  EXPECT_EQ(parse_rfc3339("2026-11-21T23:23:43-05:30"), wall_time{utc});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43+00:00"), wall_time{utc});
  EXPECT_EQ(parse_rfc3339("2026-11-22T04:53:43-00:00"), wall_time{utc});
  EXPECT_EQ(parse_rfc3339("2026-11-22T06:53:43.25+02:00"), wall_time{utc + 250ms});
  // Crossing a day (and a year) boundary.
  EXPECT_EQ(parse_rfc3339("2027-01-01T01:00:00+02:00"),
            wall_time{sys_days{year{2026} / December / 31} + 23h});
}

TEST(Rfc3339Parse, LeapYears) {
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
}

TEST(Rfc3339Parse, RejectsInvalidInput) {
  const std::vector<std::string> bad = {
      "",
      "2026",
      "2026-11-22",
      "2026-11-22T04:53:43",         // no zone
      "2026-11-22T04:53Z",           // no seconds
      "2026-11-22T04:53:43.Z",       // empty fraction
      "2026-11-22T04:53:43+0200",    // offset without colon
      "2026-11-22T04:53:43+02",      // offset without minutes
      "2026-11-22T04:53:43+02:0",    // short offset minutes
      "2026-11-22T04:53:43+02:00x",  // trailing bytes
      "2026-11-22T04:53:43Zjunk",
      "2026-11-22T04:53:43Z ",
      " 2026-11-22T04:53:43Z",
      "2026-11-22X04:53:43Z",  // bad separator
      "2026/11/22T04:53:43Z",
      "2026-11-22T04-53-43Z",
      "abcd-11-22T04:53:43Z",
      "2026-1a-22T04:53:43Z",
      "2026-13-01T00:00:00Z",  // month 13
      "2026-00-10T00:00:00Z",  // month 0
      "2026-11-00T00:00:00Z",  // day 0
      "2026-11-31T00:00:00Z",  // November has 30 days
      "2026-11-22T24:00:00Z",
      "2026-11-22T04:60:00Z",
      "2026-11-22T04:53:43.12aZ",
      "2026-11-22T04:53:43.123456",  // fraction, no zone
      "2026-11-22T04:53:43@00:00",
  };
  for (const auto& s : bad) EXPECT_FALSE(parse_rfc3339(s)) << "accepted: \"" << s << "\"";
}

// Go's time.Parse (which metav1.Time uses) range-checks the second (0–59)
// and the zone offset (hour ≤ 24, minute ≤ 60).
TEST(Rfc3339Parse, RejectsOutOfRangeFieldsLikeGo) {
  // Regression (was a bug): lib/core/time.cpp parse_rfc3339 accepts second 60 (reading
  // "04:53:60" as 04:54:00) and any two-digit offset such as "+99:99".
  EXPECT_FALSE(parse_rfc3339("2026-11-22T04:53:60Z"));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T04:53:43+99:99"));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T04:53:43+25:00"));
}

TEST(Rfc3339Parse, RoundTripsFormatOutput) {
  const std::vector<wall_time> times = {
      wall_time{},
      sample_time(),
      wall_time{} - 1us,
      sys_days{year{2000} / February / 29} + 23h + 59min + 59s + 999999us,
      sys_days{year{2099} / December / 31} + 1us,
      sys_days{year{1999} / January / 1} + 12h + 34min + 56s + 7890us,
  };
  for (auto t : times) {
    auto micro = format_rfc3339_micro(t);
    EXPECT_EQ(parse_rfc3339(micro), t) << micro;
    auto secs = format_rfc3339(t);
    EXPECT_EQ(parse_rfc3339(secs), floor<seconds>(t)) << secs;
  }
}

TEST(WallNow, IsCloseToSystemClock) {
  auto before = floor<microseconds>(system_clock::now());
  wall_time now = wall_now();
  auto after = system_clock::now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

// ------------------------------------------------------------------ Go durations

TEST(GoDurationParse, DocumentedExamples) {
  EXPECT_EQ(parse_go_duration("300ms"), 300ms);
  EXPECT_EQ(parse_go_duration("-1.5h"), -90min);
  EXPECT_EQ(parse_go_duration("2h45m"), 2h + 45min);
  EXPECT_EQ(parse_go_duration("1h0m0s"), 1h);
  EXPECT_EQ(parse_go_duration("1h30m"), 90min);
  EXPECT_EQ(parse_go_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_go_duration("500ms"), 500ms);
  EXPECT_EQ(parse_go_duration("10s"), 10s);
  EXPECT_EQ(parse_go_duration("1m1.5s"), 61500ms);
}

TEST(GoDurationParse, EveryUnit) {
  EXPECT_EQ(parse_go_duration("3ns"), 3ns);
  EXPECT_EQ(parse_go_duration("2us"), 2us);
  EXPECT_EQ(parse_go_duration("2\xC2\xB5s"), 2us);  // U+00B5 MICRO SIGN
  EXPECT_EQ(parse_go_duration("2\xCE\xBCs"), 2us);  // U+03BC GREEK SMALL LETTER MU
  EXPECT_EQ(parse_go_duration("4ms"), 4ms);
  EXPECT_EQ(parse_go_duration("5s"), 5s);
  EXPECT_EQ(parse_go_duration("6m"), 6min);
  EXPECT_EQ(parse_go_duration("7h"), 7h);
}

TEST(GoDurationParse, ZeroForms) {
  EXPECT_EQ(parse_go_duration("0"), 0ns);
  EXPECT_EQ(parse_go_duration("-0"), 0ns);
  EXPECT_EQ(parse_go_duration("+0"), 0ns);
  EXPECT_EQ(parse_go_duration("0s"), 0ns);
  EXPECT_EQ(parse_go_duration("0h0m0s"), 0ns);
  EXPECT_EQ(parse_go_duration("0.000s"), 0ns);
}

TEST(GoDurationParse, SignsAndFractions) {
  EXPECT_EQ(parse_go_duration("+5s"), 5s);
  EXPECT_EQ(parse_go_duration("-5s"), -5s);
  EXPECT_EQ(parse_go_duration("-1h30m"), -90min);  // the sign applies to the whole string
  EXPECT_EQ(parse_go_duration(".5s"), 500ms);
  EXPECT_EQ(parse_go_duration("1.s"), 1s);
  EXPECT_EQ(parse_go_duration("0.5m"), 30s);
  EXPECT_EQ(parse_go_duration("1.000000001s"), 1000000001ns);
  EXPECT_EQ(parse_go_duration("0.000000001s"), 1ns);
  EXPECT_EQ(parse_go_duration("1.5us"), 1500ns);
  EXPECT_EQ(parse_go_duration("2.3h"), 2h + 18min);
  EXPECT_EQ(parse_go_duration("1.7m"), 102s);
  EXPECT_EQ(parse_go_duration("0.1ms"), 100us);
}

// Go computes the fractional part as float64(f) * (unit/scale), exact for
// these inputs, so "0.001s" is exactly 1ms and "2.1s" exactly 2.1s.
TEST(GoDurationParse, DecimalFractionsAreExact) {
  // Regression (was a bug): lib/core/time.cpp parse_go_duration accumulates (whole + frac/scale) *
  // mult in long double and truncates, so "0.001s" parses as 999999ns and
  // "2.1s" as 2099999999ns (27 of the 1099 inputs below are off by 1ns).
  for (int tenths = 0; tenths < 100; ++tenths) {
    std::string s = std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
    EXPECT_EQ(parse_go_duration(s), nanoseconds{std::int64_t{tenths} * 100000000}) << s;
  }
  for (int ms = 1; ms < 1000; ++ms) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0.%03ds", ms);
    EXPECT_EQ(parse_go_duration(buf), milliseconds{ms}) << buf;
  }
  EXPECT_EQ(parse_go_duration("0.001s"), 1ms);
  EXPECT_EQ(parse_go_duration("2.1s"), 2100ms);
}

TEST(GoDurationParse, RangeOfInt64) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(parse_go_duration("9223372036854775807ns"), nanoseconds{max});
  EXPECT_EQ(parse_go_duration("2562047h"), nanoseconds{std::int64_t{2562047} * 3600 * 1000000000});
  EXPECT_FALSE(parse_go_duration("9223372036854775808ns"));
  EXPECT_FALSE(parse_go_duration("2562048h"));
  EXPECT_FALSE(parse_go_duration("9999999999999999999999h"));
}

// Go accepts exactly -2^63ns (ParseDuration allows d == 1<<63 when negative),
// which is also what format_go_duration prints for INT64_MIN.
TEST(GoDurationParse, AcceptsInt64Min) {
  // Regression (was a bug): lib/core/time.cpp parse_go_duration checks total > INT64_MAX before
  // applying the sign, so "-9223372036854775808ns" (and the formatted
  // INT64_MIN "-2562047h47m16.854775808s") are rejected; Go accepts both.
  constexpr auto min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(parse_go_duration("-9223372036854775808ns"), nanoseconds{min});
  EXPECT_EQ(parse_go_duration(format_go_duration(nanoseconds{min})), nanoseconds{min});
}

TEST(GoDurationParse, RejectsInvalidInput) {
  const std::vector<std::string> bad = {
      "",   "1",  "h",  "1x",   "-",     "+",     ".",    ".s",     "1.5",  "--1s", "+-1s",
      "1hh", "1h 30m", " 1s", "1s ", "1e3s", "1S",  "1H",   "s1",   "1h-1m", "1.2.3s", "ms",
  };
  for (const auto& s : bad) EXPECT_FALSE(parse_go_duration(s)) << "accepted: \"" << s << "\"";
}

TEST(GoDurationFormat, MatchesGoString) {
  EXPECT_EQ(format_go_duration(0ns), "0s");
  EXPECT_EQ(format_go_duration(1ns), "1ns");
  EXPECT_EQ(format_go_duration(999ns), "999ns");
  EXPECT_EQ(format_go_duration(1us), "1\xC2\xB5s");
  EXPECT_EQ(format_go_duration(2us), "2\xC2\xB5s");
  EXPECT_EQ(format_go_duration(1500ns), "1.5\xC2\xB5s");
  EXPECT_EQ(format_go_duration(1ms), "1ms");
  EXPECT_EQ(format_go_duration(1500us), "1.5ms");
  EXPECT_EQ(format_go_duration(500ms), "500ms");
  EXPECT_EQ(format_go_duration(999999999ns), "999.999999ms");
  EXPECT_EQ(format_go_duration(1s), "1s");
  EXPECT_EQ(format_go_duration(1500ms), "1.5s");
  EXPECT_EQ(format_go_duration(1000000001ns), "1.000000001s");
  EXPECT_EQ(format_go_duration(59s), "59s");
  EXPECT_EQ(format_go_duration(60s), "1m0s");
  EXPECT_EQ(format_go_duration(61s), "1m1s");
  EXPECT_EQ(format_go_duration(1h), "1h0m0s");
  EXPECT_EQ(format_go_duration(90min), "1h30m0s");
  EXPECT_EQ(format_go_duration(1h + 500ms), "1h0m0.5s");
  EXPECT_EQ(format_go_duration(2h + 45min + 3s), "2h45m3s");
  EXPECT_EQ(format_go_duration(100h), "100h0m0s");
}

TEST(GoDurationFormat, Negatives) {
  EXPECT_EQ(format_go_duration(-1ns), "-1ns");
  EXPECT_EQ(format_go_duration(-1500ms), "-1.5s");
  EXPECT_EQ(format_go_duration(-90min), "-1h30m0s");
  EXPECT_EQ(format_go_duration(-2us), "-2\xC2\xB5s");
}

TEST(GoDurationFormat, Int64Extremes) {
  EXPECT_EQ(format_go_duration(nanoseconds{std::numeric_limits<std::int64_t>::max()}),
            "2562047h47m16.854775807s");
  EXPECT_EQ(format_go_duration(nanoseconds{std::numeric_limits<std::int64_t>::min()}),
            "-2562047h47m16.854775808s");
}

TEST(GoDuration, FormatThenParseRoundTrips) {
  const std::vector<nanoseconds> values = {
      1ns, 999ns, 1us, 1234567ns, 1ms, 999999999ns, 1s, 1500ms, 59s, 60s, 61s, 1h, 90min,
      1h + 1ns, 100h + 59min + 59s, -1ns, -1s, -90min, nanoseconds{std::numeric_limits<std::int64_t>::max()},
  };
  for (auto d : values) {
    auto s = format_go_duration(d);
    EXPECT_EQ(parse_go_duration(s), d) << s;
  }
}

// ------------------------------------------------------------------ format_age

struct age_case {
  std::int64_t seconds;
  const char* want;
};

TEST(FormatAge, KubectlThresholds) {
  constexpr std::int64_t m = 60, h = 3600, d = 86400, y = 365 * d;
  const std::vector<age_case> cases = {
      {0, "0s"},
      {1, "1s"},
      {59, "59s"},
      {119, "119s"},
      {2 * m, "2m"},
      {2 * m + 1, "2m1s"},
      {9 * m + 59, "9m59s"},
      {10 * m, "10m"},
      {10 * m + 59, "10m"},
      {179 * m + 59, "179m"},
      {3 * h, "3h"},
      {3 * h + m, "3h1m"},
      {7 * h + 59 * m + 59, "7h59m"},
      {8 * h, "8h"},
      {47 * h + 59 * m, "47h"},
      {48 * h, "2d"},
      {49 * h, "2d1h"},
      {7 * d + 23 * h, "7d23h"},
      {8 * d, "8d"},
      {729 * d, "729d"},
      {730 * d, "2y"},
      {731 * d, "2y1d"},
      {8 * y - d, "7y364d"},
      {8 * y, "8y"},
      {10 * y + 100 * d, "10y"},
  };
  for (const auto& c : cases) EXPECT_EQ(format_age(seconds{c.seconds}), c.want) << c.seconds << "s";
}

TEST(FormatAge, NegativeClampsToZero) {
  EXPECT_EQ(format_age(seconds{-1}), "0s");
  EXPECT_EQ(format_age(seconds{-100000}), "0s");
}

}  // namespace
}  // namespace krt
