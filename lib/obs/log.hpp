#pragma once
// JSON-lines logging (DESIGN §9): one object per line with ts, level,
// component, msg and fields, e.g.
//   {"ts":"2026-11-22T04:53:43.123456Z","level":"info","component":"scheduler",
//    "msg":"assigned","run_uid":"…","pod":"runtime-bash-0"}
// Values of sensitive-looking keys (tokens, passwords, secrets, credentials,
// authorization, env) are replaced with "[REDACTED]": they are never written.
//
// Affinity: loggers are immutable values, usable from any shard. Each line is
// written with a single write(2), so lines from different shards never mix.
// configure()/set_sink() are for startup and tests, before shards run.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace krt::obs {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

std::string_view to_string(level l);
// "debug" | "info" | "warn" | "warning" | "error"
bool parse_level(std::string_view s, level& out);

struct field {
  using value_type = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
  field(std::string_view k, std::string_view v) : key(k), value(v) {}
  field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  field(std::string_view k, std::int64_t v) : key(k), value(v) {}
  field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  field(std::string_view k, long long v) : key(k), value(static_cast<std::int64_t>(v)) {}
  field(std::string_view k, std::uint64_t v) : key(k), value(v) {}
  field(std::string_view k, unsigned v) : key(k), value(static_cast<std::uint64_t>(v)) {}
  field(std::string_view k, double v) : key(k), value(v) {}
  field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  value_type value;
};

// True for keys whose values must never be logged.
bool is_sensitive_key(std::string_view key);

class logger {
 public:
  explicit logger(std::string component);

  // A logger that adds key=value to every line (e.g. with("run_uid", uid)).
  logger with(std::string_view key, std::string_view value) const;

  void log(level l, std::string_view msg, std::initializer_list<field> fields = {}) const;
  void debug(std::string_view msg, std::initializer_list<field> fields = {}) const { log(level::debug, msg, fields); }
  void info(std::string_view msg, std::initializer_list<field> fields = {}) const { log(level::info, msg, fields); }
  void warn(std::string_view msg, std::initializer_list<field> fields = {}) const { log(level::warn, msg, fields); }
  void error(std::string_view msg, std::initializer_list<field> fields = {}) const { log(level::error, msg, fields); }
  bool enabled(level l) const;

  const std::string& component() const { return component_; }

 private:
  std::string component_;
  std::string bound_;  // pre-encoded ,"k":"v" pairs
};

// Minimum level written (default info).
void set_level(level l);
level current_level();
// Replaces the output (default: stderr). Each call receives one full line
// including the trailing '\n'. Pass nullptr to restore stderr.
void set_sink(std::function<void(std::string_view line)> sink);

// Routes exceptions escaping reactor task groups into the log (error level).
void install_task_exception_logging(const logger& log);

}  // namespace krt::obs
