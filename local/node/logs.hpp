#pragma once
// Container logs in the CRI format the kubelet reads and writes, one record a
// line:
//
//   <RFC 3339 timestamp with nanoseconds> <stdout|stderr> <P|F> <message>\n
//
// F ends a line of the container's output; P is a fragment of a longer line
// (the writer splits lines over 16 KiB) that continues in the next record of
// the same stream. child_process (process.hpp) writes these files; the
// pods/log endpoint reads them with read_log() and streams `kubectl logs -f`
// by polling a log_follower.
//
// Affinity: the free functions are pure or touch only the named file;
// cri_assembler and log_follower are per-shard (plain objects, no sharing).
// File access is blocking read(2) on a local regular file, as the kubelet does.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/core/time.hpp"

namespace krt::local::node {

using log_time = std::chrono::sys_time<std::chrono::nanoseconds>;

// Longest message of one record; longer lines are split into P records.
inline constexpr std::size_t max_log_record = 16 * 1024;

// "2026-11-22T04:53:43.123456789Z": UTC, always nine fraction digits (the
// kubelet's output format for `--timestamps`, valid RFC3339Nano).
std::string format_log_time(log_time t);
// RFC 3339 with any fraction (up to nanoseconds kept) and any offset.
std::optional<log_time> parse_log_time(std::string_view s);

struct cri_record {
  log_time time;
  std::string_view stream;  // "stdout" or "stderr"
  bool partial = false;     // tag P
  std::string_view message;  // views into the parsed line
};
// One line of a CRI log without its '\n'; nullopt if malformed. Tags may carry
// extra ':'-separated fields ("F:x"); the first decides P or F.
std::optional<cri_record> parse_cri_record(std::string_view line);
// The record line including the trailing '\n'.
std::string format_cri_record(log_time t, std::string_view stream, bool partial, std::string_view message);

// A line of container output as kubectl shows it: the P fragments of a stream
// joined with the record that ends them, stamped with the first fragment's time.
struct log_line {
  log_time time;
  std::string stream;
  std::string text;  // without '\n'
};

// Joins P records with the following record of the same stream (stdout and
// stderr fragments may interleave in the file).
class cri_assembler {
 public:
  // Feeds one raw line (without '\n'); returns a line when an F record ends
  // one. Malformed lines are skipped (nullopt).
  std::optional<log_line> feed(std::string_view raw);
  // Forgets fragments (after a truncated or replaced file).
  void reset();

 private:
  struct pending {
    bool active = false;
    log_time time{};
    std::string text;
  };
  pending out_;
  pending err_;
};

struct log_options {
  // Only the last N lines; 0 gives nothing, negative or unset everything.
  std::optional<std::int64_t> tail_lines;
  // Only lines stamped at or after now - since.
  std::optional<std::chrono::seconds> since;
  // Only lines stamped at or after this time (PodLogOptions.sinceTime); with
  // `since` too, the later bound wins.
  std::optional<wall_time> since_time;
  // Prefix each line with its time (format_log_time) and a space.
  bool timestamps = false;
  // Cut the output after this many bytes (possibly mid-line), as the kubelet.
  std::optional<std::int64_t> limit_bytes;
};

// What read_log_snapshot() saw: the formatted text, where a follower should
// continue, and the fragments of lines not yet finished at that point.
struct log_snapshot {
  std::string text;
  std::int64_t end_offset = 0;  // just after the last complete record read
  cri_assembler assembler;
};

// Reads `path` whole and formats it per `opts` ("" if it does not exist).
// Filters apply in the order since, tail, limit_bytes. A line whose final
// record is not written yet is left out (a follower picks it up).
log_snapshot read_log_snapshot(const std::string& path, const log_options& opts);
std::string read_log(const std::string& path, const log_options& opts);

// Returns the lines appended to a CRI log since the last poll, formatted like
// read_log() without filters (message, or "<time> <message>" with
// timestamps). Only complete lines are returned: a record still being written
// or a P fragment waiting for its F stays for a later poll. A file that shrank
// or was replaced is read again from its start. A missing file reads as "".
//
// Affinity: per-shard; each poll() does at most max_poll_bytes of blocking
// reads of a local file, cheap enough to call every ~100 ms.
class log_follower {
 public:
  static constexpr std::size_t max_poll_bytes = 1024 * 1024;

  log_follower(std::string path, std::int64_t offset, bool timestamps = false);
  // Continues exactly where `from` ended, including its pending fragments.
  log_follower(std::string path, const log_snapshot& from, bool timestamps = false);

  std::string poll();
  std::int64_t offset() const { return offset_; }

 private:
  std::string path_;
  std::int64_t offset_;
  bool timestamps_;
  cri_assembler assembler_;
  std::uint64_t inode_ = 0;
  bool have_inode_ = false;
};

}  // namespace krt::local::node
