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

// `n` bytes from the OS CSPRNG (getrandom(2), blocking only until the kernel's
// pool is first initialised). Every secret, token, key and UID comes from here.
// Throws std::system_error if the kernel refuses (no fallback to anything weaker).
std::string random_bytes(std::size_t n);

// `n` characters of [bcdfghjklmnpqrstvwxz2456789] (Kubernetes' generateName
// alphabet, no vowels so no words) drawn uniformly from random_bytes: object
// name suffixes and, 48 and 64 long, the local plane's admin token and token
// signing key (about 4.75 bits each).
std::string random_suffix(std::size_t n);

// Equality whose time depends only on the lengths, for comparing secrets.
bool constant_time_equal(std::string_view a, std::string_view b);

// The environment variable `name`, or `fallback` when it is unset or empty.
std::string env_or(const char* name, std::string fallback);

}  // namespace krt
