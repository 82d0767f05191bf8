// krt cancel <run>: asks for cancellation by setting spec.cancelRequested to
// true with a merge patch (the scheduler or runtimed does the rest).
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"

namespace krt::cli {

namespace {

awaitable<int> cancel_main(session& s, std::vector<std::string> names) {
  int rc = 0;
  for (const auto& name : names) {
    auto res = co_await s.client->patch(api::runs, s.ns, name, kube::patch_type::merge,
                                        R"({"spec":{"cancelRequested":true}})");
    if (!res) {
      rc = fail(s, res.error());
      continue;
    }
    std::cout << "Cancellation requested for run " << name << "\n";
    auto doc = decode_run_doc(std::move(*res));
    if (doc && api::is_terminal(api::phase_of(doc->run.status)))
      std::cerr << "Note: run " << name << " already finished (" << api::to_string(api::phase_of(doc->run.status))
                << "), so there is nothing left to cancel\n";
  }
  co_return rc;
}

}  // namespace

int cmd_cancel(int argc, char** argv) {
  cxxopts::Options o("krt cancel", "Request cancellation of one or more Runs (sets spec.cancelRequested=true).");
  o.custom_help("[flags] <run>...");
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1000, "the name of a Run")) return rc;
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, cancel_main(*s, pos));
}

}  // namespace krt::cli
