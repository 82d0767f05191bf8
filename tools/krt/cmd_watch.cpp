// krt watch [run]: one line per change of the Runs in a namespace (or every
// namespace with -A), or of one Run, from a watch (no polling). Watching one
// Run ends when it reaches a terminal phase or is deleted; watching many
// runs until interrupted.
#include <cstdio>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"
#include "runs.hpp"

namespace krt::cli {

namespace {

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s += std::string(w - s.size(), ' ');
  return s + "   ";
}

std::string event_name(kube::event_type t) {
  switch (t) {
    case kube::event_type::added:
      return "ADDED";
    case kube::event_type::modified:
      return "MODIFIED";
    case kube::event_type::deleted:
      return "DELETED";
    default:
      return "OTHER";
  }
}

struct watch_printer {
  bool show_ns = false;
  std::map<std::string, std::string> last;  // key → last printed row (without event)

  void header() const {
    std::string h = pad("EVENT", 8);
    if (show_ns) h += pad("NAMESPACE", 16);
    h += pad("NAME", 24) + pad("RUNTIME", 10) + pad("PHASE", 9) + pad("ASSIGNED POD", 24) + pad("ATTEMPT", 7) +
         "MESSAGE";
    std::cout << h << std::endl;
  }

  void print(kube::event_type t, const api::run& r) {
    std::string row;
    if (show_ns) row += pad(r.metadata.namespace_, 16);
    row += pad(r.metadata.name, 24) + pad(r.spec.runtime, 10) + pad(std::string(api::to_string(api::phase_of(r.status))), 9) +
           pad(or_dash(r.status.assigned_pod), 24) + pad(std::to_string(r.status.attempt), 7) + r.status.message;
    auto key = r.metadata.namespace_ + "/" + r.metadata.name;
    if (t == kube::event_type::modified) {
      auto it = last.find(key);
      if (it != last.end() && it->second == row) return;  // nothing visible changed
    }
    if (t == kube::event_type::deleted)
      last.erase(key);
    else
      last[key] = row;
    std::string line = pad(event_name(t), 8) + row;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << std::endl;
  }
};

awaitable<int> watch_main(session& s, std::string name) {
  watch_printer p;
  p.show_ns = s.all_namespaces;
  std::string rv;
  if (!name.empty()) {
    auto doc = co_await get_run(s, s.ns, name);
    if (!doc) co_return fail(s, doc.error());
    p.header();
    p.print(kube::event_type::added, doc->run);
    if (api::is_terminal(api::phase_of(doc->run.status))) co_return 0;
    rv = doc->run.metadata.resource_version;
  } else {
    p.header();
  }
  bool single = !name.empty();
  run_handler h = [&p, single](kube::event_type t, const api::run& r) {
    p.print(t, r);
    return single && (t == kube::event_type::deleted || api::is_terminal(api::phase_of(r.status)));
  };
  std::string ns;
  if (!s.all_namespaces) ns = s.ns;
  auto res = co_await watch_runs(s, ns, name, rv, h);
  if (!res) co_return fail(s, res.error());
  co_return 0;
}

}  // namespace

int cmd_watch(int argc, char** argv) {
  cxxopts::Options o("krt watch",
                     "Print a line for every change of Runs (or of one Run, until it finishes), from a watch.");
  o.custom_help("[flags] [run]");
  add_global_flags(o, "", true);
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 0, 1, "")) return rc;
  auto s = open_session(args);
  if (!s) return 1;
  s->all_namespaces = args.count("all-namespaces") > 0 && pos.empty();
  return run_main(*s, watch_main(*s, pos.empty() ? std::string() : pos[0]));
}

}  // namespace krt::cli
