// krt describe <run>: everything about one Run in kubectl-describe form —
// metadata, spec, status, conditions, outputs, artifacts and the Run's
// Events from the events API.
#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"

namespace krt::cli {

namespace bj = boost::json;

namespace {

void kv(int indent, std::string_view key, std::string_view value) {
  std::string k = std::string(static_cast<std::size_t>(indent), ' ') + std::string(key) + ":";
  std::cout << k << std::string(k.size() < 22 ? 22 - k.size() : 1, ' ') << value << "\n";
}

std::string map_text(const std::map<std::string, std::string>& m) {
  if (m.empty()) return "<none>";
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

// A table under a section heading: indented 2, two spaces between columns.
void indent_table(const std::vector<std::vector<std::string>>& rows) { print_table(rows, "  ", 2); }

std::optional<wall_time> time_at(const bj::value& v, std::string_view key) {
  auto s = str_at(v, {key});
  if (s.empty()) return std::nullopt;
  return parse_rfc3339(s);
}

void print_run(const api::run& r) {
  const auto& m = r.metadata;
  kv(0, "Name", m.name);
  kv(0, "Namespace", m.namespace_);
  kv(0, "Labels", map_text(m.labels));
  kv(0, "Annotations", map_text(m.annotations));
  kv(0, "UID", m.uid);
  kv(0, "Created", m.creation_timestamp ? format_rfc3339(*m.creation_timestamp) + " (" +
                                              age_of(m.creation_timestamp) + " ago)"
                                        : "<unknown>");
  if (m.deletion_timestamp) kv(0, "Deleting Since", format_rfc3339(*m.deletion_timestamp));
  std::cout << "Spec:\n";
  kv(2, "Runtime", r.spec.runtime);
  if (r.spec.mode && r.spec.mode->task) {
    kv(2, "Mode", "task");
    kv(2, "Entrypoint", r.spec.mode->task->entrypoint.empty() ? "<default>" : r.spec.mode->task->entrypoint);
    kv(2, "Args", quote_args(r.spec.mode->task->args));
  } else if (r.spec.mode && r.spec.mode->function) {
    kv(2, "Mode", "function");
    kv(2, "Handler", r.spec.mode->function->handler);
  }
  if (r.spec.source) {
    const auto& src = *r.spec.source;
    if (src.inline_) kv(2, "Source", "inline, " + std::to_string(src.inline_->size()) + " bytes");
    if (src.repo_url) kv(2, "Source", *src.repo_url + (src.commit_sha ? " @ " + *src.commit_sha : ""));
  }
  if (r.spec.env && !r.spec.env->empty()) {
    std::cout << "  Env:\n";
    for (const auto& e : *r.spec.env)
      std::cout << "    " << e.name << "=" << (e.value ? *e.value : (e.value_from.empty() ? "" : "<valueFrom>"))
                << "\n";
  }
  kv(2, "Timeout", r.spec.timeout ? *r.spec.timeout : "<none>");
  if (r.spec.retry) {
    std::string t = "maxAttempts=" + (r.spec.retry->max_attempts ? std::to_string(*r.spec.retry->max_attempts) : "-");
    if (r.spec.retry->backoff) t += " backoff=" + *r.spec.retry->backoff;
    if (!r.spec.retry->retryable_reasons.empty()) {
      t += " retryableReasons=";
      for (std::size_t i = 0; i < r.spec.retry->retryable_reasons.size(); ++i)
        t += (i ? "," : "") + r.spec.retry->retryable_reasons[i];
    }
    kv(2, "Retry Policy", t);
  }
  if (r.spec.resource_requests && !r.spec.resource_requests->empty())
    kv(2, "Resource Requests", map_text(*r.spec.resource_requests));
  if (r.spec.ttl_seconds_after_finished) kv(2, "TTL After Finished", std::to_string(*r.spec.ttl_seconds_after_finished) + "s");
  kv(2, "Cancel Requested", r.spec.cancel_requested ? "true" : "false");
  std::cout << "Status:\n";
  kv(2, "Phase", api::to_string(api::phase_of(r.status)));
  kv(2, "Assigned Pod", or_dash(r.status.assigned_pod));
  kv(2, "Attempt", std::to_string(r.status.attempt));
  kv(2, "Message", r.status.message);
  if (r.status.start_time) kv(2, "Start Time", format_rfc3339_micro(*r.status.start_time));
  if (r.status.completion_time) kv(2, "Completion Time", format_rfc3339_micro(*r.status.completion_time));
  if (r.status.start_time && r.status.completion_time) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(*r.status.completion_time - *r.status.start_time);
    kv(2, "Duration", format_go_duration(us));
  }
  std::cout << "Conditions:\n";
  if (r.status.conditions.empty()) {
    std::cout << "  <none>\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header = {"Type", "Status", "Reason", "Last Transition", "Message"};
    rows.push_back(header);
    for (const auto& c : r.status.conditions)
      rows.push_back({c.type, c.status, c.reason,
                      c.last_transition_time ? format_rfc3339(*c.last_transition_time) : "", c.message});
    indent_table(rows);
  }
  std::cout << "Outputs:\n";
  if (r.status.outputs.empty()) std::cout << "  <none>\n";
  for (const auto& [k, v] : r.status.outputs) std::cout << "  " << k << "=" << v << "\n";
  std::cout << "Artifacts:\n";
  if (r.status.artifact_refs.empty()) {
    std::cout << "  <none>\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header = {"Name", "Type", "Size", "Content Type", "Digest", "Location"};
    rows.push_back(header);
    for (const auto& a : r.status.artifact_refs) {
      std::string loc = a.driver == "s3" ? "s3://" + a.s3_bucket + "/" + a.s3_key : a.fs_path;
      rows.push_back({a.name, a.type, std::to_string(a.size_bytes), or_dash(a.content_type), or_dash(a.digest),
                      or_dash(loc)});
    }
    indent_table(rows);
  }
}

void print_events(const std::string& text, const std::string& name, const std::string& run_uid) {
  boost::system::error_code ec;
  auto v = bj::parse(text, ec);
  std::vector<const bj::value*> events;
  if (!ec)
    if (const auto* arr = at_path(v, {"items"}); arr != nullptr && arr->is_array())
      for (const auto& e : arr->get_array()) {
        if (str_at(e, {"involvedObject", "name"}) != name) continue;
        auto kind = str_at(e, {"involvedObject", "kind"});
        if (!kind.empty() && kind != "Run") continue;
        auto uid = str_at(e, {"involvedObject", "uid"});
        if (!uid.empty() && uid != run_uid) continue;
        events.push_back(&e);
      }
  auto when = [](const bj::value& e) {
    auto t = time_at(e, "lastTimestamp");
    if (!t) t = time_at(e, "eventTime");
    if (!t) t = time_at(e, "firstTimestamp");
    return t;
  };
  std::stable_sort(events.begin(), events.end(), [&](const bj::value* a, const bj::value* b) { return when(*a) < when(*b); });
  if (events.empty()) {
    std::cout << "  <none>\n";
    return;
  }
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"Type", "Reason", "Age", "From", "Message"});
  for (const auto* e : events) {
    std::string from = str_at(*e, {"source", "component"});
    if (from.empty()) from = str_at(*e, {"reportingComponent"});
    std::string age = age_of(when(*e));
    auto count = at_path(*e, {"count"});
    if (count != nullptr && count->is_int64() && count->get_int64() > 1)
      age += " (x" + std::to_string(count->get_int64()) + ")";
    rows.push_back({str_at(*e, {"type"}), str_at(*e, {"reason"}), age, from, str_at(*e, {"message"})});
  }
  indent_table(rows);
}

awaitable<int> describe_main(session& s, std::string name) {
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  print_run(doc->run);
  // The Run's Events, oldest first.
  kube::list_options lo;
  lo.field_selector = "involvedObject.name=" + name;
  auto body = co_await s.client->list(kube::resources::events, s.ns, lo);
  if (!body) {
    // A server without that field selector: list all and filter here.
    body = co_await s.client->list(kube::resources::events, s.ns);
  }
  std::cout << "Events:";
  if (!body) {
    std::cout << "  <unavailable: " << describe(s, body.error()) << ">\n";
    co_return 0;
  }
  print_events(*body, name, doc->run.metadata.uid);
  co_return 0;
}

}  // namespace

int cmd_describe(int argc, char** argv) {
  cxxopts::Options o("krt describe", "Show a Run in detail: spec, status, conditions, outputs, artifacts and events.");
  o.custom_help("[flags] <run>");
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1, "the name of a Run")) return rc;
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, describe_main(*s, pos[0]));
}

}  // namespace krt::cli
