// The outputs file (SPEC.md §4 "Outputs").
#include "sidecar/prep/outputs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/core/strings.hpp"

namespace krt::runtimed {
namespace {

krt::unexpected<outputs_error> invalid(std::string message) {
  return krt::unexpected(outputs_error{"OutputsInvalid", std::move(message)});
}
krt::unexpected<outputs_error> too_large(std::string message) {
  return krt::unexpected(outputs_error{"OutputsTooLarge", std::move(message)});
}

}  // namespace

krt::result<std::map<std::string, std::string>, outputs_error> parse_outputs(std::string_view content) {
  std::map<std::string, std::string> out;
  std::size_t total = 0;  // Σ(key+value) of the current map; checked as it grows
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= content.size()) {
    std::size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!valid_utf8(line)) return invalid("outputs line " + std::to_string(line_no) + " is not valid UTF-8");
    const std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    const std::size_t eq = t.find('=');
    if (eq == std::string_view::npos) {
      return invalid("outputs line " + std::to_string(line_no) + " has no '=': write KEY=VALUE lines");
    }
    const std::string_view key = trim(t.substr(0, eq));
    const std::string_view value = trim(t.substr(eq + 1));
    if (key.empty()) return invalid("outputs line " + std::to_string(line_no) + " has an empty key");
    if (key.size() > max_output_key_bytes) {
      return too_large("outputs key on line " + std::to_string(line_no) + " is " +
                       std::to_string(key.size()) + " bytes (limit " + std::to_string(max_output_key_bytes) +
                       ")");
    }
    if (value.size() > max_output_value_bytes) {
      return too_large("outputs value of \"" + std::string(key) + "\" is " + std::to_string(value.size()) +
                       " bytes (limit " + std::to_string(max_output_value_bytes) + ")");
    }
    auto it = out.find(std::string(key));
    if (it != out.end()) {
      total -= it->first.size() + it->second.size();
    } else if (out.size() >= max_output_keys) {
      return too_large("outputs have more than " + std::to_string(max_output_keys) + " keys");
    }
    total += key.size() + value.size();
    if (total > max_output_total_bytes) {
      return too_large("outputs exceed " + std::to_string(max_output_total_bytes) +
                       " bytes of keys and values");
    }
    out.insert_or_assign(std::string(key), std::string(value));
    if (end == content.size()) break;
  }
  return out;
}

krt::result<std::map<std::string, std::string>, outputs_error> read_outputs_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::map<std::string, std::string>{};
    return invalid("read outputs file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return invalid("read outputs file " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid("outputs file " + path + " is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_outputs_file_bytes) {
    ::close(fd);
    return too_large("outputs file is " + std::to_string(st.st_size) + " bytes (limit " +
                     std::to_string(max_outputs_file_bytes) + ")");
  }
  std::string content;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return invalid("read outputs file " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > max_outputs_file_bytes) {  // grew while we read it
      ::close(fd);
      return too_large("outputs file is larger than " + std::to_string(max_outputs_file_bytes) + " bytes");
    }
  }
  ::close(fd);
  return parse_outputs(content);
}

}  // namespace krt::runtimed
