#include "lib/api/store_hash.hpp"

#include <openssl/sha.h>

#include <boost/json.hpp>
#include <cstdio>

namespace krt::api {

namespace bj = boost::json;

namespace {

// encoding/json's string quoting: \" \\ \n \r \t, other control characters
// and U+2028/U+2029 as \u00XX/\u20XX, and <, >, & as \u003c, \u003e, \u0026
// (Go's HTML-safe default).
void quote(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char buf[8];
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
      continue;
    }
    out += static_cast<char>(c);
  }
  out += '"';
}

// Appends ,"key":"value" (or without the comma when first) for a non-empty value.
void str_field(std::string& out, bool& first, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!first) out += ',';
  first = false;
  quote(out, key);
  out += ':';
  quote(out, value);
}

void raw_field(std::string& out, bool& first, std::string_view key, const std::string& raw) {
  if (!first) out += ',';
  first = false;
  quote(out, key);
  out += ':';
  out += raw;
}

std::string string_at(const bj::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

template <typename T>
std::optional<T> int_at(const bj::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  boost::system::error_code ec;
  auto n = v->to_number<T>(ec);
  if (ec) return std::nullopt;
  return n;
}

}  // namespace

std::string store_spec_json(const artifact_store_spec& s) {
  std::string out = "{";
  bool first = true;
  str_field(out, first, "driver", s.driver);
  if (s.fs_volume_claim && !s.fs_volume_claim->empty()) {
    std::string fs = "{";
    bool f = true;
    str_field(fs, f, "volumeClaimName", *s.fs_volume_claim);
    fs += '}';
    raw_field(out, first, "filesystem", fs);
  }
  if (s.s3) {
    const auto& x = *s.s3;
    std::string b = "{";
    bool f = true;
    str_field(b, f, "bucket", x.bucket);
    str_field(b, f, "prefix", x.prefix);
    str_field(b, f, "region", x.region);
    str_field(b, f, "endpoint", x.endpoint);
    if (x.force_path_style) raw_field(b, f, "forcePathStyle", "true");
    str_field(b, f, "credentialsSecretName", x.credentials_secret_name);
    if (x.upload_part_size && *x.upload_part_size != 0)
      raw_field(b, f, "uploadPartSize", std::to_string(*x.upload_part_size));
    if (x.upload_concurrency && *x.upload_concurrency != 0)
      raw_field(b, f, "uploadConcurrency", std::to_string(*x.upload_concurrency));
    b += '}';
    if (!f) raw_field(out, first, "s3", b);
  }
  out += '}';
  return out;
}

std::string store_hash(const artifact_store_spec& s) {
  std::string text = store_spec_json(s);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return std::string(hex, 16);
}

std::optional<artifact_store_spec> parse_store_snapshot(std::string_view json_text) {
  boost::system::error_code ec;
  auto v = bj::parse(json_text, ec);
  if (ec) return std::nullopt;
  artifact_store_spec s;
  if (v.is_null()) return s;
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  s.driver = string_at(o, "driver");
  if (const auto* fs = o.if_contains("filesystem"); fs != nullptr && fs->is_object())
    s.fs_volume_claim = string_at(fs->as_object(), "volumeClaimName");
  if (const auto* s3 = o.if_contains("s3"); s3 != nullptr && s3->is_object()) {
    const auto& x = s3->as_object();
    s3_store b;
    b.bucket = string_at(x, "bucket");
    b.prefix = string_at(x, "prefix");
    b.region = string_at(x, "region");
    b.endpoint = string_at(x, "endpoint");
    b.credentials_secret_name = string_at(x, "credentialsSecretName");
    const auto* fps = x.if_contains("forcePathStyle");
    b.force_path_style = fps != nullptr && fps->is_bool() && fps->as_bool();
    b.upload_part_size = int_at<std::int64_t>(x, "uploadPartSize");
    b.upload_concurrency = int_at<std::int32_t>(x, "uploadConcurrency");
    s.s3 = std::move(b);
  }
  return s;
}

bool store_snapshot_empty(const std::optional<std::string>& snapshot) {
  if (!snapshot) return true;
  auto parsed = parse_store_snapshot(*snapshot);
  return parsed && parsed->driver.empty() && !parsed->fs_volume_claim && !parsed->s3;
}

}  // namespace krt::api
