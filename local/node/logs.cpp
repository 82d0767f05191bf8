#include "local/node/logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <deque>

namespace krt::local::node {
namespace {

using namespace std::chrono;

// A file descriptor closed on scope exit.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads [offset, offset + max) of `fd` (less at end of file).
std::string read_range(int fd, std::int64_t offset, std::size_t max) {
  std::string out;
  std::array<char, 64 * 1024> buf;
  while (out.size() < max) {
    std::size_t want = std::min(buf.size(), max - out.size());
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset) + static_cast<off_t>(out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

void append_line(std::string& out, const log_line& line, bool timestamps) {
  if (timestamps) {
    out += format_log_time(line.time);
    out += ' ';
  }
  out += line.text;
  out += '\n';
}

}  // namespace

std::string format_log_time(log_time t) {
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<nanoseconds> hms{t - day};
  std::array<char, 48> buf{};
  int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%09lldZ",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                        static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                        static_cast<long long>(hms.subseconds().count()));
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::optional<log_time> parse_log_time(std::string_view s) {
  // parse_rfc3339 validates the whole form and applies the offset but keeps
  // only microseconds; the fraction is re-read here at full precision.
  auto micro = parse_rfc3339(s);
  if (!micro) return std::nullopt;
  auto whole = floor<seconds>(*micro);
  long long nanos = 0;
  if (s.size() > 19 && s[19] == '.') {
    long long scale = 100000000;
    for (std::size_t i = 20; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      nanos += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  return log_time{whole} + nanoseconds(nanos);
}

std::optional<cri_record> parse_cri_record(std::string_view line) {
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  auto sp3 = line.find(' ', sp2 + 1);
  // "<time> <stream> F" with an empty message may lack the last space.
  std::string_view tags = line.substr(sp2 + 1, sp3 == std::string_view::npos ? std::string_view::npos : sp3 - sp2 - 1);
  auto time = parse_log_time(line.substr(0, sp1));
  if (!time) return std::nullopt;
  cri_record r;
  r.time = *time;
  r.stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (r.stream != "stdout" && r.stream != "stderr") return std::nullopt;
  std::string_view first_tag = tags.substr(0, tags.find(':'));
  if (first_tag == "P") {
    r.partial = true;
  } else if (first_tag != "F") {
    return std::nullopt;
  }
  if (sp3 != std::string_view::npos) r.message = line.substr(sp3 + 1);
  return r;
}

std::string format_cri_record(log_time t, std::string_view stream, bool partial, std::string_view message) {
  std::string line = format_log_time(t);
  line.reserve(line.size() + stream.size() + message.size() + 5);
  line += ' ';
  line += stream;
  line += partial ? " P " : " F ";
  line += message;
  line += '\n';
  return line;
}

std::optional<log_line> cri_assembler::feed(std::string_view raw) {
  auto rec = parse_cri_record(raw);
  if (!rec) return std::nullopt;
  pending& p = rec->stream == "stdout" ? out_ : err_;
  if (!p.active) {
    p.active = true;
    p.time = rec->time;
    p.text.clear();
  }
  p.text += rec->message;
  if (rec->partial) return std::nullopt;
  log_line line;
  line.time = p.time;
  line.stream = std::string(rec->stream);
  line.text = std::move(p.text);
  p.active = false;
  p.text.clear();
  return line;
}

void cri_assembler::reset() {
  out_ = pending{};
  err_ = pending{};
}

log_snapshot read_log_snapshot(const std::string& path, const log_options& opts) {
  log_snapshot snap;
  fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return snap;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return snap;
  std::string data = read_range(fd.get(), 0, static_cast<std::size_t>(st.st_size));

  std::optional<log_time> cutoff;
  if (opts.since) cutoff = time_point_cast<nanoseconds>(system_clock::now()) - *opts.since;
  if (opts.since_time) {
    log_time t = *opts.since_time;
    if (!cutoff || t > *cutoff) cutoff = t;
  }
  const bool all = !opts.tail_lines || *opts.tail_lines < 0;
  const std::size_t keep = all ? 0 : static_cast<std::size_t>(*opts.tail_lines);

  // With a tail only the last `keep` lines are held, so a large file costs
  // its read but not a copy of every line.
  std::deque<log_line> lines;
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // a record still being written
    auto line = snap.assembler.feed(std::string_view(data).substr(pos, nl - pos));
    pos = nl + 1;
    if (!line || (cutoff && line->time < *cutoff)) continue;
    if (!all && keep == 0) continue;
    lines.push_back(std::move(*line));
    if (!all && lines.size() > keep) lines.pop_front();
  }
  snap.end_offset = static_cast<std::int64_t>(pos);
  for (const auto& line : lines) append_line(snap.text, line, opts.timestamps);
  if (opts.limit_bytes && *opts.limit_bytes >= 0 &&
      snap.text.size() > static_cast<std::size_t>(*opts.limit_bytes))
    snap.text.resize(static_cast<std::size_t>(*opts.limit_bytes));
  return snap;
}

std::string read_log(const std::string& path, const log_options& opts) {
  return read_log_snapshot(path, opts).text;
}

log_follower::log_follower(std::string path, std::int64_t offset, bool timestamps)
    : path_(std::move(path)), offset_(offset < 0 ? 0 : offset), timestamps_(timestamps) {}

log_follower::log_follower(std::string path, const log_snapshot& from, bool timestamps)
    : path_(std::move(path)),
      offset_(from.end_offset),
      timestamps_(timestamps),
      assembler_(from.assembler) {}

std::string log_follower::poll() {
  std::string out;
  fd_guard fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return out;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return out;
  auto inode = static_cast<std::uint64_t>(st.st_ino);
  bool replaced = have_inode_ && inode != inode_;
  inode_ = inode;
  have_inode_ = true;
  if (replaced || st.st_size < offset_) {
    offset_ = 0;
    assembler_.reset();
  }
  if (st.st_size == offset_) return out;

  std::size_t want = std::min<std::size_t>(static_cast<std::size_t>(st.st_size - offset_), max_poll_bytes);
  std::string data = read_range(fd.get(), offset_, want);
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    if (nl == std::string::npos) {
      // No record is this long (the writer splits at 16 KiB): not a CRI
      // log, so skip the chunk rather than stall on it forever.
      if (pos == 0 && data.size() == max_poll_bytes) pos = data.size();
      break;
    }
    auto line = assembler_.feed(std::string_view(data).substr(pos, nl - pos));
    pos = nl + 1;
    if (line) append_line(out, *line, timestamps_);
  }
  offset_ += static_cast<std::int64_t>(pos);
  return out;
}

}  // namespace krt::local::node
