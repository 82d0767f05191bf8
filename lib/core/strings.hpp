#pragma once
// Small string helpers shared by every library: base64 (kubeconfig *-data
// fields, Secrets), URL escaping (API paths and query strings), splitting and
// trimming, and UTF-8 repair for text that must be valid JSON.
//
// Affinity: none (pure functions).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace krt {

std::string base64_encode(std::string_view in);
// Standard alphabet; padding optional; whitespace (as in PEM-ish data) ignored.
std::optional<std::string> base64_decode(std::string_view in);

// Percent-encodes everything outside RFC 3986's unreserved set.
std::string url_escape(std::string_view in);
// Decodes %XX and, when plus_is_space, '+' (for query strings).
std::optional<std::string> url_unescape(std::string_view in, bool plus_is_space = true);

std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
std::string to_lower(std::string_view s);

// Replaces each invalid UTF-8 sequence with U+FFFD.
std::string repair_utf8(std::string_view s);
bool valid_utf8(std::string_view s);

// Lower-case alphanumerics from a per-thread generator (object name suffixes).
std::string random_suffix(std::size_t n);

// The environment variable `name`, or `fallback` when it is unset or empty.
std::string env_or(const char* name, std::string fallback);

}  // namespace krt
