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
  cxxopts::Options o("krt outputs", "Print a Run's outputs (status.outputs) as KEY=VALUE lines.");
  o.custom_help("[flags] <run>");
  add_global_flags(o, "table, json or yaml");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1, "the name of a Run")) return rc;
  auto f = output_of(args, false);
  if (!f) return 1;
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, outputs_main(*s, pos[0], *f));
}

}  // namespace krt::cli
