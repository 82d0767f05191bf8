#include "lib/obs/log.hpp"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"
#include "lib/json/writer.hpp"
#include "lib/reactor/task_group.hpp"

namespace krt::obs {
namespace {

std::atomic<int> g_level{static_cast<int>(level::info)};

std::function<void(std::string_view)>& sink_slot() {
  static std::function<void(std::string_view)> sink;
  return sink;
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

void append_value(std::string& out, const field::value_type& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          json::append_quoted(out, x);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(x)) {
            out += "null";
          } else {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof(buf), x);
            out.append(buf, r.ptr);
          }
        } else {
          char buf[24];
          auto r = std::to_chars(buf, buf + sizeof(buf), x);
          out.append(buf, r.ptr);
        }
      },
      v);
}

void append_pair(std::string& out, std::string_view key, const field::value_type& v) {
  out += ',';
  json::append_quoted(out, key);
  out += ':';
  if (is_sensitive_key(key)) {
    out += "\"[REDACTED]\"";
  } else {
    append_value(out, v);
  }
}

}  // namespace

std::string_view to_string(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view s, level& out) {
  std::string l = to_lower(s);
  if (l == "debug") out = level::debug;
  else if (l == "info") out = level::info;
  else if (l == "warn" || l == "warning") out = level::warn;
  else if (l == "error") out = level::error;
  else return false;
  return true;
}

namespace {

// Splits a key into lower-case words at separators and camelCase humps:
// "X-Api-Key" → x api key, "envVars" → env vars, "spec.env" → spec env.
std::vector<std::string> key_words(std::string_view key) {
  std::vector<std::string> words;
  std::string cur;
  char prev = 0;
  for (char c : key) {
    bool sep = c == '.' || c == '_' || c == '-' || c == ' ' || c == '/' || c == ':';
    bool hump = c >= 'A' && c <= 'Z' && prev >= 'a' && prev <= 'z';
    if ((sep || hump) && !cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
    if (!sep) cur += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    prev = c;
  }
  if (!cur.empty()) words.push_back(cur);
  return words;
}

}  // namespace

bool is_sensitive_key(std::string_view key) {
  std::string k = to_lower(key);
  // Substrings that are sensitive wherever they appear ("accessToken", "db_password").
  static constexpr std::string_view needles[] = {"token",    "password",   "passwd", "secret",     "authorization",
                                                 "credential", "cookie", "bearer", "private_key", "privatekey",
                                                 "apikey",   "api_key",    "api-key", "client_key"};
  for (auto n : needles)
    if (k.find(n) != std::string::npos) return true;
  // Whole words: env values (never logged) and "<x> key" pairs.
  auto words = key_words(key);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    if (w == "env" || w == "envs" || w == "environ") return true;
    if (w == "key" && i > 0 &&
        (words[i - 1] == "api" || words[i - 1] == "private" || words[i - 1] == "access" ||
         words[i - 1] == "client" || words[i - 1] == "signing"))
      return true;
  }
  return false;
}

logger::logger(std::string component) : component_(std::move(component)) {}

logger logger::with(std::string_view key, std::string_view value) const {
  logger copy = *this;
  append_pair(copy.bound_, key, field::value_type(value));
  return copy;
}

bool logger::enabled(level l) const { return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed); }

void logger::log(level l, std::string_view msg, std::initializer_list<field> fields) const {
  if (!enabled(l)) return;
  std::string line;
  line.reserve(128 + msg.size() + bound_.size());
  line += "{\"ts\":\"";
  line += format_rfc3339_micro(wall_now());
  line += "\",\"level\":\"";
  line += to_string(l);
  line += "\",\"component\":";
  json::append_quoted(line, component_);
  line += ",\"msg\":";
  json::append_quoted(line, msg);
  line += bound_;
  for (const auto& f : fields) append_pair(line, f.key, f.value);
  line += "}\n";
  if (auto& sink = sink_slot()) {
    sink(line);
  } else {
    write_all(2, line);
  }
}

void set_level(level l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }
level current_level() { return static_cast<level>(g_level.load(std::memory_order_relaxed)); }
void set_sink(std::function<void(std::string_view)> sink) { sink_slot() = std::move(sink); }

void install_task_exception_logging(const logger& log) {
  reactor::set_unhandled_exception_hook([log](std::string_view group, std::string_view task, std::exception_ptr e) {
    std::string what = describe_exception(e);
    log.error("background task failed", {{"group", group}, {"task", task}, {"error", what}});
  });
}

}  // namespace krt::obs
