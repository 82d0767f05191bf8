// krt get <run>: one Run as key/value lines (SPEC §9), or the whole object
// with -o json|yaml.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"

namespace krt::cli {

namespace {

void get_line(std::string_view key, std::string_view value) {
  std::string k(key);
  k += ":";
  std::cout << k << std::string(k.size() < 17 ? 17 - k.size() : 1, ' ') << value << "\n";
}

awaitable<int> get_main(session& s, std::string name, out_format f) {
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  if (f == out_format::json) {
    print_json(doc->json);
    co_return 0;
  }
  if (f == out_format::yaml) {
    print_yaml(doc->json);
    co_return 0;
  }
  const auto& r = doc->run;
  get_line("Name", r.metadata.name);
  get_line("Namespace", r.metadata.namespace_);
  get_line("Runtime", r.spec.runtime);
  get_line("Phase", api::to_string(api::phase_of(r.status)));
  get_line("Assigned Pod", r.status.assigned_pod);
  get_line("Message", r.status.message);
  const api::task_mode* task = r.spec.mode && r.spec.mode->task ? &*r.spec.mode->task : nullptr;
  static const std::vector<std::string> no_args;
  get_line("Args", quote_args(task ? task->args : no_args));
  if (task && !task->entrypoint.empty()) get_line("Entrypoint", task->entrypoint);
  if (r.spec.mode && r.spec.mode->function) get_line("Handler", r.spec.mode->function->handler);
  if (r.spec.source) {
    if (r.spec.source->inline_) get_line("Source Inline", std::to_string(r.spec.source->inline_->size()) + " bytes");
    if (r.spec.source->repo_url) get_line("Source Repo", *r.spec.source->repo_url);
    if (r.spec.source->commit_sha) get_line("Source Commit", *r.spec.source->commit_sha);
  }
  if (r.status.start_time) get_line("Start Time", local_time(r.status.start_time));
  if (r.status.completion_time) get_line("Completion Time", local_time(r.status.completion_time));
  co_return 0;
}

}  // namespace

int cmd_get(int argc, char** argv) {
  return run_view_command(argc, argv, "krt get",
                          "Show one Run: its spec and status as key/value lines, or the object as JSON/YAML.", get_main);
}

}  // namespace krt::cli
