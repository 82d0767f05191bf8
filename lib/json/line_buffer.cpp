#include "lib/json/line_buffer.hpp"

#include <simdjson.h>

#include <cstring>

namespace krt::json {

void line_buffer::compact() {
  if (consumed_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + consumed_, size_ - consumed_);
  size_ -= consumed_;
  scan_ -= consumed_;
  consumed_ = 0;
}

char* line_buffer::prepare(std::size_t n) {
  // Compact when more than half of the buffer is consumed lines.
  if (consumed_ > 0 && consumed_ >= size_ / 2) compact();
  std::size_t need = size_ + n + simdjson::SIMDJSON_PADDING;
  if (buf_.size() < need) buf_.resize(std::max(need, buf_.size() * 2));
  return buf_.data() + size_;
}

void line_buffer::commit(std::size_t n) { size_ += n; }

void line_buffer::append(std::string_view bytes) {
  char* p = prepare(bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  commit(bytes.size());
}

std::optional<std::string_view> line_buffer::next_line() {
  while (true) {
    const char* base = buf_.data();
    const void* nl = scan_ < size_ ? std::memchr(base + scan_, '\n', size_ - scan_) : nullptr;
    if (nl == nullptr) {
      scan_ = size_;
      return std::nullopt;
    }
    std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    std::string_view line(base + consumed_, end - consumed_);
    consumed_ = end + 1;
    scan_ = consumed_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank keep-alive line
    return line;
  }
}

std::size_t line_buffer::readable_from(std::string_view line) const {
  return buf_.size() - static_cast<std::size_t>(line.data() - buf_.data());
}

}  // namespace krt::json
