// krt outputs <run>: status.outputs as KEY=VALUE lines (sorted by key), or
// as a JSON/YAML map.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"

namespace krt::cli {

namespace {

awaitable<int> outputs_main(session& s, std::string name, out_format f) {
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  if (f == out_format::json || f == out_format::yaml) {
    boost::json::object m;
    for (const auto& [k, v] : doc->run.status.outputs) m[k] = v;
    boost::json::value v(std::move(m));
    if (f == out_format::json)
      print_json(v);
    else
      print_yaml(v);
    co_return 0;
  }
  for (const auto& [k, v] : doc->run.status.outputs) std::cout << k << "=" << v << "\n";
  co_return 0;
}

}  // namespace

int cmd_outputs(int argc, char** argv) {
  return run_view_command(argc, argv, "krt outputs", "Print a Run's outputs (status.outputs) as KEY=VALUE lines.",
                          outputs_main);
}

}  // namespace krt::cli
