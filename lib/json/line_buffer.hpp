#pragma once
// Splits a byte stream (a chunked watch response) into newline-terminated
// lines without copying them, keeping simdjson's padding readable past the
// end of every line so each can be parsed in place. Lines may arrive split at
// any byte boundary.
//
// Affinity: one owner (a watch stream). Views returned by next_line() are
// valid until the next prepare()/append().

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace krt::json {

class line_buffer {
 public:
  explicit line_buffer(std::size_t max_line = 64 * 1024 * 1024) : max_line_(max_line) {}

  // Writable space for at least n bytes (for a socket read); then commit().
  char* prepare(std::size_t n);
  void commit(std::size_t n);
  // Copies bytes in (prepare + commit).
  void append(std::string_view bytes);

  // The next complete line without its '\n' (and without a trailing '\r').
  std::optional<std::string_view> next_line();
  // Bytes readable from the start of `line` (line length plus padding).
  std::size_t readable_from(std::string_view line) const;

  // Bytes of the current incomplete line.
  std::size_t pending() const { return size_ - consumed_; }
  // True if an incomplete line is longer than max_line (the stream is bad).
  bool overflowed() const { return pending() > max_line_ && scan_ == size_; }

 private:
  void compact();
  std::string buf_;        // data is [consumed_, size_); the rest is slack and padding
  std::size_t size_ = 0;
  std::size_t consumed_ = 0;
  std::size_t scan_ = 0;   // where to resume looking for '\n'
  std::size_t max_line_;
};

}  // namespace krt::json
