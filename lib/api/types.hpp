#pragma once
// The kruntimes.io/v1alpha1 API (SPEC.md §1, task mode): Run and Runtime as
// owned structs, wire-compatible with the Go project. Fields whose presence
// matters (CRD immutability rules compare presence) are std::optional; parts
// we pass through without interpreting (pod templates, workspace and affinity
// blocks, valueFrom) are kept as their JSON text.
//
// Affinity: none (value types).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/kube/codec.hpp"
#include "lib/kube/types.hpp"

namespace krt::api {

inline constexpr std::string_view group = "kruntimes.io";
inline constexpr std::string_view version = "v1alpha1";
inline constexpr std::string_view api_version = "kruntimes.io/v1alpha1";

extern const kube::resource runs;
extern const kube::resource runtimes;

// Constants shared with the Go project (runtime_types.go, SPEC §1).
inline constexpr std::string_view capacity_annotation_prefix = "kruntimes.io/capacity.";
inline constexpr std::string_view runs_resource_name = "runs";
inline constexpr std::int64_t default_pod_capacity_runs = 2;
inline constexpr std::string_view heartbeat_condition = "kruntimes.io/RuntimedReady";
inline constexpr std::string_view artifact_cleanup_finalizer = "kruntimes.io/artifact-cleanup";
inline constexpr std::string_view runtime_label = "runtime";

// ------------------------------------------------------------------ Run

enum class phase { pending, scheduled, running, ready, succeeded, failed, timeout, cancelled };

struct env_var {
  std::string name;
  std::optional<std::string> value;
  std::string value_from;  // raw JSON; runtimed ignores it (SPEC §1)
  bool operator==(const env_var&) const = default;
};

struct run_source {
  std::optional<std::string> inline_;
  std::optional<std::string> inline_path;
  std::optional<std::string> repo_url;
  std::optional<std::string> commit_sha;
  bool operator==(const run_source&) const = default;
};

struct task_mode {
  std::string entrypoint;
  std::vector<std::string> args;
  bool operator==(const task_mode&) const = default;
};

struct function_mode {  // out of scope; decoded so validation can see it
  std::string handler;
  std::optional<std::int32_t> idle_timeout_seconds;
  bool operator==(const function_mode&) const = default;
};

struct run_mode {
  std::optional<task_mode> task;
  std::optional<function_mode> function;
  bool operator==(const run_mode&) const = default;
};

struct retry_policy {
  std::optional<std::int32_t> max_attempts;
  std::optional<std::string> backoff;  // Go duration
  std::vector<std::string> retryable_reasons;
  bool operator==(const retry_policy&) const = default;
};

struct run_spec {
  std::string runtime;
  std::optional<run_source> source;
  std::optional<run_mode> mode;
  std::optional<std::string> workspace;  // raw JSON
  std::optional<std::string> affinity;   // raw JSON
  std::optional<std::map<std::string, std::string>> resource_requests;  // resources.requests (quantity text)
  std::optional<std::vector<env_var>> env;
  std::optional<std::string> timeout;  // Go duration
  bool cancel_requested = false;
  std::optional<retry_policy> retry;
  std::optional<std::int32_t> ttl_seconds_after_finished;
};

struct artifact_ref {
  std::string name;
  std::string driver;  // filesystem | s3
  std::string type;    // file | directory | archive | blob
  std::string fs_path;
  std::string fs_volume_claim;
  std::string s3_bucket;
  std::string s3_key;
  std::int64_t size_bytes = 0;
  std::string digest;
  std::string content_type;
  std::optional<wall_time> created_at;
  bool operator==(const artifact_ref&) const = default;
};

struct run_status {
  std::string phase_text;  // as stored ("" means Pending)
  std::string assigned_pod;
  std::string assigned_pod_uid;
  std::string message;
  std::optional<wall_time> start_time;
  std::optional<wall_time> completion_time;
  std::map<std::string, std::string> outputs;
  std::vector<artifact_ref> artifact_refs;
  std::optional<std::string> artifact_store;  // raw JSON snapshot
  std::int32_t attempt = 0;
  std::vector<kube::condition> conditions;
};

struct run {
  kube::object_meta metadata;
  run_spec spec;
  run_status status;
};

// ------------------------------------------------------------------ Runtime

struct s3_store {
  std::string bucket, prefix, region, endpoint, credentials_secret_name;
  bool force_path_style = false;
  std::optional<std::int64_t> upload_part_size;
  std::optional<std::int32_t> upload_concurrency;
  bool operator==(const s3_store&) const = default;
};

struct artifact_store_spec {
  std::string driver;  // filesystem | s3
  std::optional<std::string> fs_volume_claim;
  std::optional<s3_store> s3;
  bool operator==(const artifact_store_spec&) const = default;
};

// The facts of a pod template that validation and the controller need; the
// template itself is kept verbatim.
struct pod_template_facts {
  std::vector<std::string> container_names;
  std::string first_image;
  bool first_has_image = false;
  std::string restart_policy;
  bool has_ephemeral_containers = false;
  std::string service_account_name;
};

struct runtime_spec {
  std::optional<std::string> pod_template;  // raw PodTemplateSpec JSON
  pod_template_facts template_facts;
  std::int32_t port = 9091;
  std::int32_t replicas = 1;
  std::string daemon_image;
  std::map<std::string, std::string> capacity;  // capacity.resources
  std::optional<artifact_store_spec> artifact_store;
  std::optional<std::string> workspace;  // raw VolumeSource JSON
};

struct runtime_status {
  std::int32_t ready_replicas = 0;
  std::vector<kube::condition> conditions;
};

struct runtime {
  kube::object_meta metadata;
  runtime_spec spec;
  runtime_status status;
};

// ------------------------------------------------------------------ codecs

std::string encode(const run& r);               // whole object (create, update)
std::string encode_status_patch(const run& r);  // {"metadata":{"resourceVersion"},"status":{…}}
std::string encode(const runtime& r);
void encode_status(json::writer& w, const run_status& s);

json::result<run> decode_run(std::string& json_text);
json::result<runtime> decode_runtime(std::string& json_text);

}  // namespace krt::api

namespace krt::kube {
template <>
const type_codec& codec_of<api::run>();
template <>
const type_codec& codec_of<api::runtime>();
}  // namespace krt::kube
