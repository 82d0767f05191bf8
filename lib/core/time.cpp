#include "lib/core/time.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace krt {
namespace {

using namespace std::chrono;

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

std::string format_with(wall_time t, bool micro) {
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<microseconds> hms{t - day};
  std::array<char, 40> buf{};
  int n;
  if (micro) {
    n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ",
                      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                      static_cast<int>(hms.minutes().count()),
                      static_cast<int>(hms.seconds().count()),
                      static_cast<long>(hms.subseconds().count()));
  } else {
    n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02dZ",
                      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                      static_cast<int>(hms.minutes().count()),
                      static_cast<int>(hms.seconds().count()));
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

}  // namespace

wall_time wall_now() { return floor<microseconds>(system_clock::now()); }

std::string format_rfc3339(wall_time t) { return format_with(floor<seconds>(t), false); }
std::string format_rfc3339_micro(wall_time t) { return format_with(t, true); }

std::optional<wall_time> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!read_digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !read_digits(s, 8, 2, d) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !read_digits(s, 11, 2, h) ||
      s[13] != ':' || !read_digits(s, 14, 2, mi) || s[16] != ':' || !read_digits(s, 17, 2, se))
    return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  // Go's time.Parse rejects second 60 (no leap seconds) as we do.
  if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
  std::size_t pos = 19;
  long micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    long scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) micros += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om))
      return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;  // "time zone offset out of range"
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  wall_time t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} + microseconds{micros};
  return t - minutes{offset_min};
}

std::optional<nanoseconds> parse_go_duration(std::string_view s) {
  // Follows Go's time.ParseDuration exactly: the whole part in integer
  // arithmetic, the fraction as float64(f) * (unit / scale) truncated, the
  // magnitude accumulated unsigned so that -9223372036854775808ns parses.
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return nanoseconds{0};
  if (s.empty()) return std::nullopt;
  constexpr std::uint64_t limit_pos = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const std::uint64_t limit = neg ? limit_pos + 1 : limit_pos;
  std::uint64_t total = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    std::uint64_t whole = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      auto d = static_cast<std::uint64_t>(s[i] - '0');
      if (whole > (limit - d) / 10) return std::nullopt;  // overflow
      whole = whole * 10 + d;
      ++i;
      digits = true;
    }
    std::uint64_t frac = 0;
    double scale = 1;
    if (i < s.size() && s[i] == '.') {
      ++i;
      bool overflow = false;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        digits = true;
        if (!overflow) {
          auto d = static_cast<std::uint64_t>(s[i] - '0');
          if (frac > (limit_pos - d) / 10) {
            overflow = true;  // Go drops the digits that no longer fit
          } else {
            frac = frac * 10 + d;
            scale *= 10;
          }
        }
        ++i;
      }
    }
    if (!digits) return std::nullopt;
    std::size_t u = i;
    while (u < s.size() && !(s[u] == '.' || (s[u] >= '0' && s[u] <= '9'))) ++u;
    std::string_view unit_text = s.substr(i, u - i);
    std::uint64_t unit;
    if (unit_text == "ns") unit = 1;
    else if (unit_text == "us" || unit_text == "\xC2\xB5s" || unit_text == "\xCE\xBCs") unit = 1000;
    else if (unit_text == "ms") unit = 1000000;
    else if (unit_text == "s") unit = 1000000000ULL;
    else if (unit_text == "m") unit = 60ULL * 1000000000ULL;
    else if (unit_text == "h") unit = 3600ULL * 1000000000ULL;
    else return std::nullopt;  // missing or unknown unit
    if (whole > limit / unit) return std::nullopt;
    std::uint64_t v = whole * unit;
    if (frac > 0) {
      v += static_cast<std::uint64_t>(static_cast<double>(frac) * (static_cast<double>(unit) / scale));
      if (v > limit) return std::nullopt;
    }
    if (v > limit - total) return std::nullopt;
    total += v;
    s.remove_prefix(u);
  }
  if (neg) {
    if (total == limit_pos + 1) return nanoseconds{std::numeric_limits<std::int64_t>::min()};
    return nanoseconds{-static_cast<std::int64_t>(total)};
  }
  return nanoseconds{static_cast<std::int64_t>(total)};
}

std::string format_go_duration(nanoseconds d) {
  std::int64_t v = d.count();
  if (v == 0) return "0s";
  bool neg = v < 0;
  // Work on the magnitude as unsigned so INT64_MIN is representable.
  std::uint64_t u = neg ? static_cast<std::uint64_t>(-(v + 1)) + 1 : static_cast<std::uint64_t>(v);
  std::string out;
  auto frac = [](std::uint64_t value, int prec) {
    // value / 10^prec, printed with trailing zeros removed.
    std::uint64_t p = 1;
    for (int i = 0; i < prec; ++i) p *= 10;
    std::string s = std::to_string(value / p);
    std::uint64_t rem = value % p;
    if (rem != 0) {
      std::string digits = std::to_string(rem);
      digits.insert(0, static_cast<std::size_t>(prec) - digits.size(), '0');
      while (!digits.empty() && digits.back() == '0') digits.pop_back();
      s += "." + digits;
    }
    return s;
  };
  if (u < 1000000000ULL) {
    if (u < 1000ULL) out = std::to_string(u) + "ns";
    else if (u < 1000000ULL) out = frac(u, 3) + "\xC2\xB5s";
    else out = frac(u, 6) + "ms";
  } else {
    std::uint64_t secs_ns = u % 60000000000ULL;
    std::uint64_t mins = u / 60000000000ULL;
    out = frac(secs_ns, 9) + "s";
    if (mins > 0) {
      std::uint64_t hours = mins / 60;
      mins %= 60;
      out = std::to_string(mins) + "m" + out;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return neg ? "-" + out : out;
}

std::string format_age(seconds age) {
  // Mirrors k8s.io/apimachinery duration.HumanDuration thresholds.
  std::int64_t s = age.count();
  if (s < 0) s = 0;
  auto str = [](std::int64_t v) { return std::to_string(v); };
  if (s < 120) return str(s) + "s";
  std::int64_t m = s / 60;
  if (m < 10) {
    std::int64_t rs = s % 60;
    return rs == 0 ? str(m) + "m" : str(m) + "m" + str(rs) + "s";
  }
  if (m < 180) return str(m) + "m";
  std::int64_t h = s / 3600;
  if (h < 8) {
    std::int64_t rm = (s / 60) % 60;
    return rm == 0 ? str(h) + "h" : str(h) + "h" + str(rm) + "m";
  }
  if (h < 48) return str(h) + "h";
  if (h < 24 * 8) {
    std::int64_t rh = h % 24;
    return rh == 0 ? str(h / 24) + "d" : str(h / 24) + "d" + str(rh) + "h";
  }
  if (h < 24 * 365 * 2) return str(h / 24) + "d";
  if (h < 24 * 365 * 8) {
    std::int64_t dy = (h / 24) % 365;
    return dy == 0 ? str(h / 24 / 365) + "y" : str(h / 24 / 365) + "y" + str(dy) + "d";
  }
  return str(h / 24 / 365) + "y";
}

}  // namespace krt
