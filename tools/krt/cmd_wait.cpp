// krt wait <run> --for=phase=<Phase> | --for=condition=<Type>[=<Status>]:
// blocks (on a watch) until the Run gets there, like kubectl wait. Exits 1
// with a message on timeout, when the Run ends in another terminal phase, or
// when it is deleted.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"
#include "lib/reactor/deadline.hpp"
#include "runs.hpp"

namespace krt::cli {

namespace {

struct wait_goal {
  bool phase = true;
  std::string value;   // phase name, or condition type
  std::string status;  // condition status (default True)
};

enum class verdict { waiting, met, impossible };

verdict check(const api::run& r, const wait_goal& g) {
  auto p = api::phase_of(r.status);
  if (g.phase) {
    if (api::to_string(p) == g.value) return verdict::met;
  } else {
    const auto* c = api::find_condition(r.status.conditions, g.value);
    if (c != nullptr && c->status == g.status) return verdict::met;
  }
  return api::is_terminal(p) ? verdict::impossible : verdict::waiting;
}

std::string goal_text(const wait_goal& g) {
  return g.phase ? "phase " + g.value : "condition " + g.value + "=" + g.status;
}

awaitable<int> wait_main(session& s, std::string name, wait_goal goal, std::chrono::nanoseconds timeout) {
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  api::run last = doc->run;
  verdict v = check(last, goal);
  bool deleted = false;
  if (v == verdict::waiting && timeout > std::chrono::nanoseconds::zero()) {
    run_handler h = [&](kube::event_type t, const api::run& r) {
      last = r;
      if (t == kube::event_type::deleted) {
        deleted = true;
        return true;
      }
      v = check(r, goal);
      return v != verdict::waiting;
    };
    auto res = co_await reactor::with_timeout(watch_runs(s, s.ns, name, doc->run.metadata.resource_version, h),
                                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
    if (res && !*res) co_return fail(s, res->error());
  }
  auto phase = api::to_string(api::phase_of(last.status));
  if (deleted) co_return fail("run " + name + " was deleted while waiting for " + goal_text(goal));
  if (v == verdict::met) {
    std::cout << "run.kruntimes.io/" << name << " condition met\n";
    co_return 0;
  }
  if (v == verdict::impossible) {
    std::string msg = "run " + name + " finished in phase " + std::string(phase) + ", not " + goal_text(goal);
    if (!last.status.message.empty()) msg += ": " + last.status.message;
    co_return fail(msg);
  }
  co_return fail("timed out waiting for run " + name + " to reach " + goal_text(goal) + " (it is " +
                 std::string(phase) + ")");
}

}  // namespace

int cmd_wait(int argc, char** argv) {
  cxxopts::Options o("krt wait",
                     "Wait until a Run reaches a phase or condition, e.g.\n"
                     "  krt wait my-run --for=phase=Succeeded --timeout=2m\n"
                     "  krt wait my-run --for=condition=Completed");
  o.custom_help("[flags] <run>");
  o.add_options()("for", "phase=<Phase> or condition=<Type>[=<Status>]",
                  cxxopts::value<std::string>()->default_value("phase=Succeeded"))(
      "timeout", "How long to wait (Go duration: 30s, 5m, 1h; 0 checks once)",
      cxxopts::value<std::string>()->default_value("60s"));
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1, "the name of a Run")) return rc;
  wait_goal g;
  std::string f = args["for"].as<std::string>();
  if (f.starts_with("phase=")) {
    auto p = api::parse_phase(f.substr(6));
    if (!p || f.size() == 6)
      return usage_error("unknown phase in --for=" + f +
                             " (use Pending, Scheduled, Running, Ready, Succeeded, Failed, Timeout or Cancelled)",
                         o.program());
    g.value = std::string(api::to_string(*p));
  } else if (f.starts_with("condition=")) {
    g.phase = false;
    std::string rest = f.substr(10);
    auto eq = rest.find('=');
    g.value = rest.substr(0, eq);
    g.status = eq == std::string::npos ? "True" : rest.substr(eq + 1);
    if (g.value.empty()) return usage_error("--for=condition= needs a condition type", o.program());
  } else {
    return usage_error("--for must be phase=<Phase> or condition=<Type>[=<Status>], not \"" + f + "\"",
                       o.program());
  }
  auto timeout = parse_go_duration(args["timeout"].as<std::string>());
  if (!timeout || timeout->count() < 0)
    return usage_error("invalid --timeout \"" + args["timeout"].as<std::string>() + "\" (use a duration like 30s)",
                       o.program());
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, wait_main(*s, pos[0], g, *timeout));
}

}  // namespace krt::cli
