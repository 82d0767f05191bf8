#include "lib/api/validation.hpp"

#include <cmath>
#include <limits>

#include "lib/api/phase.hpp"
#include "lib/core/strings.hpp"

namespace krt::api {
namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ (label-value style)
bool valid_runtime_name(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

// The CRD's path rules: relative, and no ".." segment (optionally no empty or
// "." segments either).
bool has_dotdot_segment(std::string_view p) {
  for (auto seg : split(p, '/'))
    if (seg == "..") return true;
  return false;
}

bool clean_relative_path(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  for (auto seg : split(p, '/'))
    if (seg.empty() || seg == "." || seg == "..") return false;
  return true;
}

struct errors {
  std::vector<field_error> list;
  void add(std::string field, std::string message) { list.push_back({std::move(field), std::move(message)}); }
  void max_len(const std::string& field, std::string_view v, std::size_t n) {
    if (v.size() > n) add(field, "may not be longer than " + std::to_string(n) + " characters");
  }
  void len_between(const std::string& field, std::string_view v, std::size_t lo, std::size_t hi) {
    if (v.size() < lo) add(field, "must be at least " + std::to_string(lo) + " characters");
    else max_len(field, v, hi);
  }
};

}  // namespace

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s)
    if (!lower_alnum(c) && c != '-') return false;
  return true;
}

bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (auto part : split(s, '.'))
    if (!is_dns_label(part)) return false;
  return true;
}

namespace {

// A quantity as sign × mantissa × 10^exp10 × 1024^exp1024, exactly.
struct exact_quantity {
  bool negative = false;
  std::string digits;  // mantissa digits, no leading zeros ("" is zero)
  int exp10 = 0;
  int exp1024 = 0;
};

std::optional<exact_quantity> parse_exact(std::string_view q) {
  q = trim(q);
  exact_quantity out;
  std::size_t i = 0;
  if (i < q.size() && (q[i] == '+' || q[i] == '-')) out.negative = q[i++] == '-';
  bool any = false, dot = false;
  for (; i < q.size(); ++i) {
    char c = q[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (!(out.digits.empty() && c == '0')) out.digits += c;
      if (dot) --out.exp10;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  std::string_view suffix = q.substr(i);
  static const std::pair<std::string_view, std::pair<int, int>> table[] = {
      {"", {0, 0}},  {"n", {-9, 0}}, {"u", {-6, 0}}, {"m", {-3, 0}},  {"k", {3, 0}},   {"M", {6, 0}},
      {"G", {9, 0}}, {"T", {12, 0}}, {"P", {15, 0}}, {"E", {18, 0}},  {"Ki", {0, 1}},  {"Mi", {0, 2}},
      {"Gi", {0, 3}}, {"Ti", {0, 4}}, {"Pi", {0, 5}}, {"Ei", {0, 6}}};
  for (const auto& [text, e] : table) {
    if (suffix == text) {
      out.exp10 += e.first;
      out.exp1024 = e.second;
      return out;
    }
  }
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return std::nullopt;
  std::size_t j = 1;
  bool eneg = false;
  if (suffix[j] == '+' || suffix[j] == '-') eneg = suffix[j++] == '-';
  if (j >= suffix.size()) return std::nullopt;
  int e = 0;
  for (; j < suffix.size(); ++j) {
    if (suffix[j] < '0' || suffix[j] > '9') return std::nullopt;
    e = e * 10 + (suffix[j] - '0');
    if (e > 400) return std::nullopt;  // beyond any representable quantity
  }
  out.exp10 += eneg ? -e : e;
  return out;
}

}  // namespace

std::optional<long double> parse_quantity(std::string_view q) {
  auto x = parse_exact(q);
  if (!x) return std::nullopt;
  long double v = 0;
  for (char c : x->digits) v = v * 10 + (c - '0');
  v *= std::pow(10.0L, x->exp10) * std::pow(1024.0L, x->exp1024);
  return x->negative ? -v : v;
}

std::optional<std::int64_t> quantity_as_integer(std::string_view q) {
  auto x = parse_exact(q);
  if (!x) return std::nullopt;
  // Drop trailing zeros of the mantissa into the exponent.
  while (!x->digits.empty() && x->digits.back() == '0') {
    x->digits.pop_back();
    ++x->exp10;
  }
  if (x->digits.empty()) return 0;
  if (x->digits.size() > 19) return std::nullopt;  // beyond int64 whatever the exponent
  unsigned __int128 m = 0;
  for (char c : x->digits) m = m * 10 + static_cast<unsigned>(c - '0');
  constexpr unsigned __int128 max = static_cast<unsigned __int128>(std::numeric_limits<std::int64_t>::max());
  for (int k = 0; k < x->exp1024; ++k) {
    m *= 1024;
    if (m > max + 1) return std::nullopt;
  }
  // A negative power of ten must divide the mantissa exactly.
  for (int k = x->exp10; k < 0; ++k) {
    if (m % 10 != 0) return std::nullopt;  // a fraction: not an integer
    m /= 10;
  }
  for (int k = 0; k < x->exp10; ++k) {
    m *= 10;
    if (m > max + 1) return std::nullopt;
  }
  if (x->negative) {
    if (m > max + 1) return std::nullopt;
    return m == max + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(m);
  }
  if (m > max) return std::nullopt;
  return static_cast<std::int64_t>(m);
}

krt::result<std::map<std::string, std::int64_t>, std::string> effective_requests(const run_spec& spec) {
  std::map<std::string, std::int64_t> out;
  if (spec.resource_requests) {
    for (const auto& [name, text] : *spec.resource_requests) {
      auto v = quantity_as_integer(text);
      if (!v || *v < 0)
        return unexpected("resource request \"" + name + "\" must be a non-negative integer");
      if (*v > 0) out[name] = *v;
    }
  }
  auto runs = out.find(std::string(runs_resource_name));
  if (runs == out.end() || runs->second <= 0) out[std::string(runs_resource_name)] = 1;
  return out;
}

std::map<std::string, std::int64_t> pod_capacity(const std::map<std::string, std::string>& annotations) {
  std::map<std::string, std::int64_t> cap;
  constexpr auto max = static_cast<long double>(std::numeric_limits<std::int64_t>::max());
  for (const auto& [k, v] : annotations) {
    if (!k.starts_with(capacity_annotation_prefix) || k.size() == capacity_annotation_prefix.size()) continue;
    auto q = parse_quantity(v);
    if (!q || !(*q > 0)) continue;
    // Requests are integers, so a fractional capacity rounds down (a pod
    // advertising 0.5 runs fits none, as in Go).
    long double whole = std::floor(*q);
    // Kubernetes caps quantities at 2^63-1.
    cap[k.substr(capacity_annotation_prefix.size())] =
        whole >= max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(whole);
  }
  // Every Run requests `runs`, so a pod always advertises it.
  cap.try_emplace(std::string(runs_resource_name), default_pod_capacity_runs);
  return cap;
}

std::vector<field_error> validate_run(const run& r) {
  errors e;
  const auto& s = r.spec;
  if (s.runtime.empty()) {
    e.add("spec.runtime", "Required value");
  } else {
    e.max_len("spec.runtime", s.runtime, 63);
    if (!valid_runtime_name(s.runtime))
      e.add("spec.runtime", "must match ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$");
  }
  bool has_inline = s.source && s.source->inline_;
  bool is_function = s.mode && s.mode->function;
  if (s.source) {
    const auto& src = *s.source;
    if (src.inline_) e.max_len("spec.source.inline", *src.inline_, 262144);
    if (src.inline_path) e.len_between("spec.source.inlinePath", *src.inline_path, 1, 4096);
    if (src.repo_url) e.max_len("spec.source.repoURL", *src.repo_url, 2048);
    if (src.commit_sha) e.max_len("spec.source.commitSHA", *src.commit_sha, 256);
    if (src.inline_ && src.repo_url) e.add("spec.source", "inline and repoURL are mutually exclusive");
    if (src.commit_sha && !src.repo_url) e.add("spec.source", "commitSHA requires repoURL");
    if (src.inline_path) {
      if (!clean_relative_path(*src.inline_path))
        e.add("spec.source.inlinePath", "inlinePath must be a relative path without empty, '.' or '..' segments");
      if (!(is_function && src.inline_))
        e.add("spec.source.inlinePath", "inlinePath is only valid for function mode with inline source");
    } else if (is_function && src.inline_) {
      e.add("spec.source.inlinePath", "function mode with inline source requires inlinePath");
    }
  }
  if (!s.mode) {
    e.add("spec.mode", "Required value");
  } else {
    if (s.mode->task.has_value() == s.mode->function.has_value())
      e.add("spec.mode", "exactly one of task or function must be set");
    if (s.mode->task) {
      const auto& t = *s.mode->task;
      e.max_len("spec.mode.task.entrypoint", t.entrypoint, 4096);
      if (!has_inline && !t.entrypoint.empty() && (t.entrypoint.front() == '/' || has_dotdot_segment(t.entrypoint)))
        e.add("spec.mode.task.entrypoint", "mode.task.entrypoint must be a relative path that does not contain '..'");
      if (t.args.size() > 256) e.add("spec.mode.task.args", "must have at most 256 items");
      for (std::size_t i = 0; i < t.args.size(); ++i)
        e.max_len("spec.mode.task.args[" + std::to_string(i) + "]", t.args[i], 8192);
    }
    if (s.mode->function) {
      e.max_len("spec.mode.function.handler", s.mode->function->handler, 512);
      if (s.mode->function->idle_timeout_seconds && *s.mode->function->idle_timeout_seconds < 1)
        e.add("spec.mode.function.idleTimeoutSeconds", "must be greater than or equal to 1");
    }
  }
  if (s.env) {
    if (s.env->size() > 256) e.add("spec.env", "must have at most 256 items");
    for (std::size_t i = 0; i < s.env->size(); ++i)
      if ((*s.env)[i].name.empty()) e.add("spec.env[" + std::to_string(i) + "].name", "Required value");
  }
  if (s.resource_requests) {
    for (const auto& [name, q] : *s.resource_requests)
      if (!parse_quantity(q)) e.add("spec.resources.requests[" + name + "]", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  }
  if (s.retry) {
    if (s.retry->max_attempts && (*s.retry->max_attempts < 1 || *s.retry->max_attempts > 100))
      e.add("spec.retryPolicy.maxAttempts", "must be between 1 and 100");
    if (s.retry->retryable_reasons.size() > 32) e.add("spec.retryPolicy.retryableReasons", "must have at most 32 items");
    for (std::size_t i = 0; i < s.retry->retryable_reasons.size(); ++i)
      e.max_len("spec.retryPolicy.retryableReasons[" + std::to_string(i) + "]", s.retry->retryable_reasons[i], 128);
  }
  if (s.ttl_seconds_after_finished && *s.ttl_seconds_after_finished < 0)
    e.add("spec.ttlSecondsAfterFinished", "must be greater than or equal to 0");

  const auto& st = r.status;
  if (!st.phase_text.empty() && !parse_phase(st.phase_text))
    e.add("status.phase", "Unsupported value: \"" + st.phase_text + "\"");
  e.max_len("status.message", st.message, 4096);
  e.max_len("status.assignedPodUID", st.assigned_pod_uid, 253);
  if (st.outputs.size() > 64) e.add("status.outputs", "must have at most 64 properties");
  if (st.artifact_refs.size() > 32) e.add("status.artifactRefs", "must have at most 32 items");
  if (st.conditions.size() > 16) e.add("status.conditions", "must have at most 16 items");
  return e.list;
}

std::vector<field_error> validate_run_update(const run& old_run, const run& new_run) {
  auto errs = validate_run(new_run);
  const auto& a = old_run.spec;
  const auto& b = new_run.spec;
  if (a.runtime != b.runtime || a.source != b.source || a.mode != b.mode || a.env != b.env || a.timeout != b.timeout ||
      a.retry != b.retry || a.resource_requests != b.resource_requests || a.workspace != b.workspace ||
      a.affinity != b.affinity)
    errs.push_back({"spec", std::string(immutable_message)});
  if (a.cancel_requested && !b.cancel_requested)
    errs.push_back({"spec.cancelRequested", "cancelRequested may not transition from true to false"});
  return errs;
}

std::vector<field_error> validate_runtime(const runtime& r) {
  errors e;
  const auto& s = r.spec;
  if (!s.pod_template) {
    e.add("spec.template", "Required value");
  } else {
    const auto& f = s.template_facts;
    if (f.container_names.empty() || f.container_names.front() != "runtime")
      e.add("spec.template.spec.containers[0].name", "the first container must be named \"runtime\"");
    if (!f.container_names.empty()) {
      if (!f.first_has_image || f.first_image.empty())
        e.add("spec.template.spec.containers[0].image", "Required value");
      else
        e.max_len("spec.template.spec.containers[0].image", f.first_image, 2048);
    }
    if (!f.restart_policy.empty() && f.restart_policy != "Always")
      e.add("spec.template.spec.restartPolicy", "restartPolicy must be Always when set");
    if (f.has_ephemeral_containers)
      e.add("spec.template.spec.ephemeralContainers", "ephemeral containers are not allowed");
    if (!f.service_account_name.empty() && !is_dns_subdomain(f.service_account_name))
      e.add("spec.template.spec.serviceAccountName", "must be a DNS subdomain");
  }
  if (s.port < 1) e.add("spec.port", "must be greater than or equal to 1");
  if (s.replicas < 1) e.add("spec.replicas", "must be greater than or equal to 1");
  e.max_len("spec.daemonImage", s.daemon_image, 2048);
  for (const auto& [name, q] : s.capacity)
    if (!parse_quantity(q)) e.add("spec.capacity.resources[" + name + "]", "not a valid quantity: \"" + q + "\"");
  if (s.artifact_store) {
    const auto& st = *s.artifact_store;
    if (st.driver != "filesystem" && st.driver != "s3")
      e.add("spec.artifactStore.driver", "Unsupported value: \"" + st.driver + "\": supported values: \"filesystem\", \"s3\"");
    if (st.driver == "filesystem" && (!st.fs_volume_claim || st.s3))
      e.add("spec.artifactStore", "driver filesystem requires the filesystem block and no s3 block");
    if (st.driver == "s3" && (!st.s3 || st.fs_volume_claim))
      e.add("spec.artifactStore", "driver s3 requires the s3 block and no filesystem block");
    if (st.fs_volume_claim && st.fs_volume_claim->empty())
      e.add("spec.artifactStore.filesystem.volumeClaimName", "must be at least 1 character");
    if (st.s3) {
      const auto& s3 = *st.s3;
      if (s3.bucket.empty() || s3.bucket.find('/') != std::string::npos)
        e.add("spec.artifactStore.s3.bucket", "must match ^[^/]+$");
      e.max_len("spec.artifactStore.s3.prefix", s3.prefix, 1024);
      e.max_len("spec.artifactStore.s3.region", s3.region, 128);
      e.max_len("spec.artifactStore.s3.endpoint", s3.endpoint, 2048);
      if (!s3.credentials_secret_name.empty()) e.max_len("spec.artifactStore.s3.credentialsSecretName", s3.credentials_secret_name, 253);
      if (s3.upload_part_size && *s3.upload_part_size < 5242880)
        e.add("spec.artifactStore.s3.uploadPartSize", "must be greater than or equal to 5242880");
      if (s3.upload_concurrency && *s3.upload_concurrency < 1)
        e.add("spec.artifactStore.s3.uploadConcurrency", "must be greater than or equal to 1");
    }
  }
  return e.list;
}

}  // namespace krt::api
