// Decoding and encoding of Run and Runtime (SPEC §1). Unknown fields are
// skipped on decode; encode writes only what is set, in the Go field names.

#include "lib/api/phase.hpp"
#include "lib/api/types.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/codec_impl.hpp"
#include "lib/kube/types_codec.hpp"

namespace krt::api {

const kube::resource runs{"kruntimes.io", "v1alpha1", "runs", "Run", true};
const kube::resource runtimes{"kruntimes.io", "v1alpha1", "runtimes", "Runtime", true};

using json::od::value;
using json::result;

namespace {

// Reads into an optional<T> only when the value is not null.
template <typename T>
result<void> read_opt(value v, std::optional<T>& out) {
  if (json::is_null(v)) return {};
  T tmp{};
  auto r = json::read(v, tmp);
  if (r) out = std::move(tmp);
  return r;
}

result<void> read_raw_opt(value v, std::optional<std::string>& out) {
  if (json::is_null(v)) return {};
  std::string raw;
  auto r = json::read_raw(v, raw);
  if (r) out = std::move(raw);
  return r;
}

result<void> read_quantity_map(value v, std::map<std::string, std::string>& out) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    std::string q;
    auto r = json::read_int_or_string(f, q);
    if (r) out[std::string(k)] = std::move(q);
    return r;
  });
}

result<void> decode_source(value v, run_source& s) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "inline") return read_opt(f, s.inline_);
    if (k == "inlinePath") return read_opt(f, s.inline_path);
    if (k == "repoURL") return read_opt(f, s.repo_url);
    if (k == "commitSHA") return read_opt(f, s.commit_sha);
    return {};
  });
}

result<void> decode_mode(value v, run_mode& m) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "task" && !json::is_null(f)) {
      m.task.emplace();
      return json::for_each_field(f, [&](std::string_view tk, value tf) -> result<void> {
        if (tk == "entrypoint") return json::read(tf, m.task->entrypoint);
        if (tk == "args") return json::read(tf, m.task->args);
        return {};
      });
    }
    if (k == "function" && !json::is_null(f)) {
      m.function.emplace();
      return json::for_each_field(f, [&](std::string_view fk, value ff) -> result<void> {
        if (fk == "handler") return json::read(ff, m.function->handler);
        if (fk == "idleTimeoutSeconds") return read_opt(ff, m.function->idle_timeout_seconds);
        return {};
      });
    }
    return {};
  });
}

result<void> decode_env(value v, std::vector<env_var>& env) {
  return json::for_each_element(v, [&](value e) -> result<void> {
    env_var ev;
    auto r = json::for_each_field(e, [&](std::string_view k, value f) -> result<void> {
      if (k == "name") return json::read(f, ev.name);
      if (k == "value") return read_opt(f, ev.value);
      if (k == "valueFrom") return json::is_null(f) ? result<void>{} : json::read_raw(f, ev.value_from);
      return {};
    });
    if (r) env.push_back(std::move(ev));
    return r;
  });
}

result<void> decode_retry(value v, retry_policy& p) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "maxAttempts") return read_opt(f, p.max_attempts);
    if (k == "backoff") return read_opt(f, p.backoff);
    if (k == "retryableReasons") return json::read(f, p.retryable_reasons);
    return {};
  });
}

result<void> decode_run_spec(value v, run_spec& s) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "runtime") return json::read(f, s.runtime);
    if (k == "source") {
      if (json::is_null(f)) return {};
      s.source.emplace();
      return decode_source(f, *s.source);
    }
    if (k == "mode") {
      if (json::is_null(f)) return {};
      s.mode.emplace();
      return decode_mode(f, *s.mode);
    }
    if (k == "workspace") return read_raw_opt(f, s.workspace);
    if (k == "affinity") return read_raw_opt(f, s.affinity);
    if (k == "resources") {
      return json::for_each_field(f, [&](std::string_view rk, value rf) -> result<void> {
        if (rk != "requests" || json::is_null(rf)) return {};
        s.resource_requests.emplace();
        return read_quantity_map(rf, *s.resource_requests);
      });
    }
    if (k == "env") {
      if (json::is_null(f)) return {};
      s.env.emplace();
      return decode_env(f, *s.env);
    }
    if (k == "timeout") return read_opt(f, s.timeout);
    if (k == "cancelRequested") return json::read(f, s.cancel_requested);
    if (k == "retryPolicy") {
      if (json::is_null(f)) return {};
      s.retry.emplace();
      return decode_retry(f, *s.retry);
    }
    if (k == "ttlSecondsAfterFinished") return read_opt(f, s.ttl_seconds_after_finished);
    return {};
  });
}

result<void> decode_artifact_ref(value v, artifact_ref& a) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "name") return json::read(f, a.name);
    if (k == "driver") return json::read(f, a.driver);
    if (k == "type") return json::read(f, a.type);
    if (k == "sizeBytes") return json::read(f, a.size_bytes);
    if (k == "digest") return json::read(f, a.digest);
    if (k == "contentType") return json::read(f, a.content_type);
    if (k == "createdAt") return kube::read_time(f, a.created_at);
    if (k == "location") {
      return json::for_each_field(f, [&](std::string_view lk, value lf) -> result<void> {
        if (lk == "filesystem") {
          return json::for_each_field(lf, [&](std::string_view x, value xf) -> result<void> {
            if (x == "path") return json::read(xf, a.fs_path);
            if (x == "volumeClaimName") return json::read(xf, a.fs_volume_claim);
            return {};
          });
        }
        if (lk == "s3") {
          return json::for_each_field(lf, [&](std::string_view x, value xf) -> result<void> {
            if (x == "bucket") return json::read(xf, a.s3_bucket);
            if (x == "key") return json::read(xf, a.s3_key);
            return {};
          });
        }
        return {};
      });
    }
    return {};
  });
}

result<void> decode_run_status(value v, run_status& s) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "phase") return json::read(f, s.phase_text);
    if (k == "assignedPod") return json::read(f, s.assigned_pod);
    if (k == "assignedPodUID") return json::read(f, s.assigned_pod_uid);
    if (k == "message") return json::read(f, s.message);
    if (k == "startTime") return kube::read_time(f, s.start_time);
    if (k == "completionTime") return kube::read_time(f, s.completion_time);
    if (k == "outputs") return json::read(f, s.outputs);
    if (k == "artifactRefs") {
      return json::for_each_element(f, [&](value e) -> result<void> {
        artifact_ref a;
        auto r = decode_artifact_ref(e, a);
        if (r) s.artifact_refs.push_back(std::move(a));
        return r;
      });
    }
    if (k == "artifactStore") return read_raw_opt(f, s.artifact_store);
    if (k == "attempt") return json::read(f, s.attempt);
    if (k == "conditions") return kube::read_conditions(f, s.conditions);
    return {};
  });
}

result<void> decode_store(value v, artifact_store_spec& st) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "driver") return json::read(f, st.driver);
    if (k == "filesystem") {
      if (json::is_null(f)) return {};
      st.fs_volume_claim.emplace();
      return json::for_each_field(f, [&](std::string_view x, value xf) -> result<void> {
        if (x == "volumeClaimName") return json::read(xf, *st.fs_volume_claim);
        return {};
      });
    }
    if (k == "s3") {
      if (json::is_null(f)) return {};
      st.s3.emplace();
      auto& s3 = *st.s3;
      return json::for_each_field(f, [&](std::string_view x, value xf) -> result<void> {
        if (x == "bucket") return json::read(xf, s3.bucket);
        if (x == "prefix") return json::read(xf, s3.prefix);
        if (x == "region") return json::read(xf, s3.region);
        if (x == "endpoint") return json::read(xf, s3.endpoint);
        if (x == "forcePathStyle") return json::read(xf, s3.force_path_style);
        if (x == "credentialsSecretName") return json::read(xf, s3.credentials_secret_name);
        if (x == "uploadPartSize") return read_opt(xf, s3.upload_part_size);
        if (x == "uploadConcurrency") return read_opt(xf, s3.upload_concurrency);
        return {};
      });
    }
    return {};
  });
}

// Extracts the facts validation needs from a pod template (kept as text).
result<void> template_facts(std::string& raw, pod_template_facts& facts) {
  return json::parse_nested(raw, [&](value root) {
    return json::for_each_field(root, [&](std::string_view k, value f) -> result<void> {
      if (k != "spec") return {};
      return json::for_each_field(f, [&](std::string_view sk, value sf) -> result<void> {
        if (sk == "containers") {
          return json::for_each_element(sf, [&](value c) -> result<void> {
            std::string name, image;
            bool has_image = false;
            auto r = json::for_each_field(c, [&](std::string_view ck, value cf) -> result<void> {
              if (ck == "name") return json::read(cf, name);
              if (ck == "image") {
                has_image = !json::is_null(cf);
                return json::read(cf, image);
              }
              return {};
            });
            if (!r) return r;
            if (facts.container_names.empty()) {
              facts.first_image = image;
              facts.first_has_image = has_image;
            }
            facts.container_names.push_back(std::move(name));
            return {};
          });
        }
        if (sk == "restartPolicy") return json::read(sf, facts.restart_policy);
        if (sk == "serviceAccountName") return json::read(sf, facts.service_account_name);
        if (sk == "ephemeralContainers") {
          facts.has_ephemeral_containers = !json::is_null(sf);
          return {};
        }
        return {};
      });
    });
  });
}

result<void> decode_runtime_spec(value v, runtime_spec& s) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "template") {
      if (json::is_null(f)) return {};
      std::string raw;
      auto r = json::read_raw(f, raw);
      if (!r) return r;
      s.pod_template = raw;
      return template_facts(raw, s.template_facts);
    }
    if (k == "port") return json::read(f, s.port);
    if (k == "replicas") return json::read(f, s.replicas);
    if (k == "daemonImage") return json::read(f, s.daemon_image);
    if (k == "capacity") {
      return json::for_each_field(f, [&](std::string_view ck, value cf) -> result<void> {
        if (ck == "resources") return read_quantity_map(cf, s.capacity);
        return {};
      });
    }
    if (k == "artifactStore") {
      if (json::is_null(f)) return {};
      s.artifact_store.emplace();
      return decode_store(f, *s.artifact_store);
    }
    if (k == "workspace") return read_raw_opt(f, s.workspace);
    return {};
  });
}

}  // namespace

result<void> decode(value v, run& r) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "metadata") return kube::decode(f, r.metadata);
    if (k == "spec") return decode_run_spec(f, r.spec);
    if (k == "status") return decode_run_status(f, r.status);
    return {};
  });
}

result<void> decode(value v, runtime& r) {
  return json::for_each_field(v, [&](std::string_view k, value f) -> result<void> {
    if (k == "metadata") return kube::decode(f, r.metadata);
    if (k == "spec") return decode_runtime_spec(f, r.spec);
    if (k == "status") {
      return json::for_each_field(f, [&](std::string_view sk, value sf) -> result<void> {
        if (sk == "readyReplicas") return json::read(sf, r.status.ready_replicas);
        if (sk == "conditions") return kube::read_conditions(sf, r.status.conditions);
        return {};
      });
    }
    return {};
  });
}

json::result<run> decode_run(std::string& text) { return json::decode_document<run>(text); }
json::result<runtime> decode_runtime(std::string& text) { return json::decode_document<runtime>(text); }

// ------------------------------------------------------------------ encode

namespace {

void write_string_list(json::writer& w, const std::vector<std::string>& v) {
  w.begin_array();
  for (const auto& s : v) w.value(s);
  w.end_array();
}

void write_map(json::writer& w, const std::map<std::string, std::string>& m) {
  w.begin_object();
  for (const auto& [k, v] : m) w.field(k, v);
  w.end_object();
}

void write_run_spec(json::writer& w, const run_spec& s) {
  w.begin_object();
  w.field("runtime", s.runtime);
  if (s.source) {
    w.key("source").begin_object();
    if (s.source->inline_) w.field("inline", *s.source->inline_);
    if (s.source->inline_path) w.field("inlinePath", *s.source->inline_path);
    if (s.source->repo_url) w.field("repoURL", *s.source->repo_url);
    if (s.source->commit_sha) w.field("commitSHA", *s.source->commit_sha);
    w.end_object();
  }
  if (s.mode) {
    w.key("mode").begin_object();
    if (s.mode->task) {
      w.key("task").begin_object();
      if (!s.mode->task->entrypoint.empty()) w.field("entrypoint", s.mode->task->entrypoint);
      if (!s.mode->task->args.empty()) {
        w.key("args");
        write_string_list(w, s.mode->task->args);
      }
      w.end_object();
    }
    if (s.mode->function) {
      w.key("function").begin_object();
      w.field("handler", s.mode->function->handler);
      if (s.mode->function->idle_timeout_seconds) w.field("idleTimeoutSeconds", *s.mode->function->idle_timeout_seconds);
      w.end_object();
    }
    w.end_object();
  }
  if (s.workspace) w.key("workspace").raw(*s.workspace);
  if (s.affinity) w.key("affinity").raw(*s.affinity);
  if (s.resource_requests) {
    w.key("resources").begin_object().key("requests");
    write_map(w, *s.resource_requests);
    w.end_object();
  }
  if (s.env) {
    w.key("env").begin_array();
    for (const auto& e : *s.env) {
      w.begin_object().field("name", e.name);
      if (e.value) w.field("value", *e.value);
      if (!e.value_from.empty()) w.key("valueFrom").raw(e.value_from);
      w.end_object();
    }
    w.end_array();
  }
  if (s.timeout) w.field("timeout", *s.timeout);
  if (s.cancel_requested) w.field("cancelRequested", true);
  if (s.retry) {
    w.key("retryPolicy").begin_object();
    if (s.retry->max_attempts) w.field("maxAttempts", *s.retry->max_attempts);
    if (s.retry->backoff) w.field("backoff", *s.retry->backoff);
    if (!s.retry->retryable_reasons.empty()) {
      w.key("retryableReasons");
      write_string_list(w, s.retry->retryable_reasons);
    }
    w.end_object();
  }
  if (s.ttl_seconds_after_finished) w.field("ttlSecondsAfterFinished", *s.ttl_seconds_after_finished);
  w.end_object();
}

void write_time_or_null(json::writer& w, std::string_view key, const std::optional<wall_time>& t) {
  w.key(key);
  if (t) {
    w.value(format_rfc3339_micro(*t));
  } else {
    w.null();
  }
}

void write_status(json::writer& w, const run_status& s, bool for_patch) {
  w.begin_object();
  // phase is required by the CRD; "" is written as Pending.
  w.field("phase", s.phase_text.empty() ? std::string_view("Pending") : std::string_view(s.phase_text));
  if (for_patch || !s.assigned_pod.empty()) w.field("assignedPod", s.assigned_pod);
  if (for_patch || !s.assigned_pod_uid.empty()) w.field("assignedPodUID", s.assigned_pod_uid);
  if (for_patch || !s.message.empty()) w.field("message", s.message);
  if (for_patch) {
    write_time_or_null(w, "startTime", s.start_time);
    write_time_or_null(w, "completionTime", s.completion_time);
  } else {
    if (s.start_time) w.field("startTime", format_rfc3339_micro(*s.start_time));
    if (s.completion_time) w.field("completionTime", format_rfc3339_micro(*s.completion_time));
  }
  if (!s.outputs.empty()) {
    w.key("outputs");
    write_map(w, s.outputs);
  }
  if (!s.artifact_refs.empty()) {
    w.key("artifactRefs").begin_array();
    for (const auto& a : s.artifact_refs) {
      w.begin_object().field("name", a.name).field("driver", a.driver).field("type", a.type);
      w.key("location").begin_object();
      if (a.driver == "s3") {
        w.key("s3").begin_object().field("bucket", a.s3_bucket).field("key", a.s3_key).end_object();
      } else {
        w.key("filesystem").begin_object().field("path", a.fs_path);
        if (!a.fs_volume_claim.empty()) w.field("volumeClaimName", a.fs_volume_claim);
        w.end_object();
      }
      w.end_object();
      w.field("sizeBytes", a.size_bytes);
      if (!a.digest.empty()) w.field("digest", a.digest);
      if (!a.content_type.empty()) w.field("contentType", a.content_type);
      if (a.created_at) w.field("createdAt", format_rfc3339_micro(*a.created_at));
      w.end_object();
    }
    w.end_array();
  }
  if (s.artifact_store) w.key("artifactStore").raw(*s.artifact_store);
  if (for_patch || s.attempt != 0) w.field("attempt", s.attempt);
  if (for_patch || !s.conditions.empty()) {
    w.key("conditions").begin_array();
    for (const auto& c : s.conditions) kube::encode(w, c);
    w.end_array();
  }
  w.end_object();
}

}  // namespace

void encode_status(json::writer& w, const run_status& s) { write_status(w, s, false); }

std::string encode(const run& r) {
  json::writer w;
  w.begin_object();
  w.field("apiVersion", api_version).field("kind", "Run");
  w.key("metadata");
  kube::encode(w, r.metadata);
  w.key("spec");
  write_run_spec(w, r.spec);
  if (!r.status.phase_text.empty() || !r.status.conditions.empty()) {
    w.key("status");
    write_status(w, r.status, false);
  }
  w.end_object();
  return w.take();
}

std::string encode_status_patch(const run& r) {
  json::writer w;
  w.begin_object();
  if (!r.metadata.resource_version.empty())
    w.key("metadata").begin_object().field("resourceVersion", r.metadata.resource_version).end_object();
  w.key("status");
  write_status(w, r.status, true);
  w.end_object();
  return w.take();
}

std::string encode(const runtime& r) {
  json::writer w;
  w.begin_object();
  w.field("apiVersion", api_version).field("kind", "Runtime");
  w.key("metadata");
  kube::encode(w, r.metadata);
  w.key("spec").begin_object();
  if (r.spec.pod_template) w.key("template").raw(*r.spec.pod_template);
  w.field("port", r.spec.port).field("replicas", r.spec.replicas);
  if (!r.spec.daemon_image.empty()) w.field("daemonImage", r.spec.daemon_image);
  if (!r.spec.capacity.empty()) {
    w.key("capacity").begin_object().key("resources");
    write_map(w, r.spec.capacity);
    w.end_object();
  }
  if (r.spec.artifact_store) {
    const auto& st = *r.spec.artifact_store;
    w.key("artifactStore").begin_object().field("driver", st.driver);
    if (st.fs_volume_claim) w.key("filesystem").begin_object().field("volumeClaimName", *st.fs_volume_claim).end_object();
    if (st.s3) {
      w.key("s3").begin_object().field("bucket", st.s3->bucket);
      if (!st.s3->prefix.empty()) w.field("prefix", st.s3->prefix);
      if (!st.s3->region.empty()) w.field("region", st.s3->region);
      if (!st.s3->endpoint.empty()) w.field("endpoint", st.s3->endpoint);
      if (st.s3->force_path_style) w.field("forcePathStyle", true);
      if (!st.s3->credentials_secret_name.empty()) w.field("credentialsSecretName", st.s3->credentials_secret_name);
      if (st.s3->upload_part_size) w.field("uploadPartSize", *st.s3->upload_part_size);
      if (st.s3->upload_concurrency) w.field("uploadConcurrency", *st.s3->upload_concurrency);
      w.end_object();
    }
    w.end_object();
  }
  if (r.spec.workspace) w.key("workspace").raw(*r.spec.workspace);
  w.end_object();
  w.end_object();
  return w.take();
}

}  // namespace krt::api

namespace krt::kube {
template <>
const type_codec& codec_of<api::run>() {
  static const type_codec c = make_codec<api::run>(api::runs);
  return c;
}
template <>
const type_codec& codec_of<api::runtime>() {
  static const type_codec c = make_codec<api::runtime>(api::runtimes);
  return c;
}
}  // namespace krt::kube
