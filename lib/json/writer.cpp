#include "lib/json/writer.hpp"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "lib/core/strings.hpp"

namespace krt::json {

void append_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string repaired;
  if (!valid_utf8(s)) {
    repaired = repair_utf8(s);
    s = repaired;
  }
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  std::size_t run = 0;  // start of the current run of bytes needing no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      default:
        if (c >= 0x20) continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (esc) {
      out += esc;
    } else {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      out.append(u, 6);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string pretty(std::string_view in, int indent) {
  std::string out;
  out.reserve(in.size() * 2);
  int depth = 0;
  bool in_string = false;
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<std::size_t>(d * indent), ' ');
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) {
        out += in[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        out += c;
        break;
      case '{':
      case '[': {
        // Keep empty containers on one line: {} and [].
        char close = c == '{' ? '}' : ']';
        std::size_t j = i + 1;
        while (j < in.size() && (in[j] == ' ' || in[j] == '\n' || in[j] == '\t' || in[j] == '\r')) ++j;
        if (j < in.size() && in[j] == close) {
          out += c;
          out += close;
          i = j;
          break;
        }
        out += c;
        newline(++depth);
        break;
      }
      case '}':
      case ']':
        newline(--depth);
        out += c;
        break;
      case ',':
        out += c;
        newline(depth);
        break;
      case ':':
        out += ": ";
        break;
      case ' ':
      case '\n':
      case '\t':
      case '\r':
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

void writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!stack_.empty()) {
    if (stack_.back()++ > 0) out_ += ',';
  }
}

writer& writer::begin_object() {
  before_value();
  out_ += '{';
  stack_.push_back(0);
  return *this;
}

writer& writer::end_object() {
  assert(!stack_.empty() && !after_key_);
  stack_.pop_back();
  out_ += '}';
  return *this;
}

writer& writer::begin_array() {
  before_value();
  out_ += '[';
  stack_.push_back(0);
  return *this;
}

writer& writer::end_array() {
  assert(!stack_.empty());
  stack_.pop_back();
  out_ += ']';
  return *this;
}

writer& writer::key(std::string_view k) {
  assert(!stack_.empty() && !after_key_);
  if (stack_.back()++ > 0) out_ += ',';
  append_quoted(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

writer& writer::value(std::string_view s) {
  before_value();
  append_quoted(out_, s);
  return *this;
}

writer& writer::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

writer& writer::value(std::int64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_.append(buf, r.ptr);
  return *this;
}

writer& writer::value(std::uint64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_.append(buf, r.ptr);
  return *this;
}

writer& writer::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ += "null";  // JSON has no NaN or infinity
    return *this;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_.append(buf, r.ptr);
  return *this;
}

writer& writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

writer& writer::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

}  // namespace krt::json
