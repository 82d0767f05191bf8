// krt delete <run>... | --all: deletes Runs (kubectl's wording and exit
// code: a missing Run is an error unless --ignore-not-found).
#include <iostream>

#include "commands.hpp"
#include "common.hpp"

namespace krt::cli {

namespace {

awaitable<int> delete_main(session& s, std::vector<std::string> names, bool all, bool ignore_not_found) {
  if (all) {
    auto body = co_await s.client->list(api::runs, s.ns);
    if (!body) co_return fail(s, body.error());
    boost::system::error_code ec;
    auto v = boost::json::parse(*body, ec);
    if (ec) co_return fail("the API server sent a Run list that is not JSON");
    if (const auto* arr = at_path(v, {"items"}); arr != nullptr && arr->is_array())
      for (const auto& item : arr->get_array()) names.push_back(str_at(item, {"metadata", "name"}));
    if (names.empty()) {
      std::cerr << "No runs found in " << s.ns << " namespace.\n";
      co_return 0;
    }
  }
  int rc = 0;
  for (const auto& name : names) {
    kube::delete_options d;
    d.propagation_policy = "Background";
    auto res = co_await s.client->remove(api::runs, s.ns, name, d);
    if (!res) {
      if (ignore_not_found && res.error().code == kube::errc::not_found) continue;
      rc = fail(s, res.error());
      continue;
    }
    std::cout << "run.kruntimes.io \"" << name << "\" deleted\n";
  }
  co_return rc;
}

}  // namespace

int cmd_delete(int argc, char** argv) {
  cxxopts::Options o("krt delete", "Delete Runs by name, or every Run in the namespace with --all.");
  o.custom_help("[flags] <run>...");
  o.add_options()("all", "Delete every Run in the namespace")("ignore-not-found",
                                                              "Treat a Run that does not exist as deleted");
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 0, 1000, "")) return rc;
  bool all = args.count("all") > 0;
  if (all && !pos.empty()) return usage_error("give Run names or --all, not both", o.program());
  if (!all && pos.empty()) return usage_error("krt delete needs the name of a Run (or --all)", o.program());
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, delete_main(*s, pos, all, args.count("ignore-not-found") > 0));
}

}  // namespace krt::cli
