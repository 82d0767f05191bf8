// krt list: Runs as a table (SPEC §9 columns; -o wide adds attempt, start,
// duration and message), or as a RunList with -o json|yaml.
#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"

namespace krt::cli {

namespace bj = boost::json;

namespace {

struct list_filter {
  std::string runtime;
  std::string phase;  // lower case
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string duration_of(const api::run& r) {
  if (!r.status.start_time) return "-";
  auto end = r.status.completion_time ? *r.status.completion_time : wall_now();
  auto d = end - *r.status.start_time;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 0) ms = 0;
  if (ms < 10000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  return format_age(std::chrono::duration_cast<std::chrono::seconds>(d));
}

awaitable<int> run_list_main(session& s, out_format f, list_filter filter) {
  std::string ns;
  if (!s.all_namespaces) ns = s.ns;
  bj::array items;
  std::vector<api::run> runs;
  std::string cont;
  std::string list_rv;
  for (;;) {
    kube::list_options lo;
    lo.limit = 500;
    lo.continue_token = cont;
    auto body = co_await s.client->list(api::runs, ns, lo);
    if (!body) co_return fail(s, body.error());
    boost::system::error_code ec;
    auto v = bj::parse(*body, ec);
    if (ec || !v.is_object()) co_return fail("the API server sent a Run list that is not JSON");
    list_rv = str_at(v, {"metadata", "resourceVersion"});
    if (const auto* arr = at_path(v, {"items"}); arr != nullptr && arr->is_array())
      for (const auto& item : arr->get_array()) {
        auto text = bj::serialize(item);
        auto r = api::decode_run(text);
        if (!r) continue;
        if (!filter.runtime.empty() && r->spec.runtime != filter.runtime) continue;
        if (!filter.phase.empty() && !iequals(api::to_string(api::phase_of(r->status)), filter.phase)) continue;
        bj::value copy = item;
        if (copy.is_object()) {
          auto& o = copy.get_object();
          if (!o.contains("apiVersion")) o["apiVersion"] = api::api_version;
          if (!o.contains("kind")) o["kind"] = "Run";
        }
        items.push_back(std::move(copy));
        runs.push_back(std::move(*r));
      }
    cont = str_at(v, {"metadata", "continue"});
    if (cont.empty()) break;
  }
  if (f == out_format::json || f == out_format::yaml) {
    bj::object list;
    list["apiVersion"] = api::api_version;
    list["kind"] = "RunList";
    bj::object meta;
    meta["resourceVersion"] = list_rv;
    list["metadata"] = std::move(meta);
    list["items"] = std::move(items);
    bj::value v(std::move(list));
    if (f == out_format::json)
      print_json(v);
    else
      print_yaml(v);
    co_return 0;
  }
  if (runs.empty()) {
    if (s.all_namespaces)
      std::cerr << "No runs found.\n";
    else
      std::cerr << "No runs found in " << s.ns << " namespace.\n";
    co_return 0;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME", "NAMESPACE", "RUNTIME", "PHASE", "ASSIGNED POD", "AGE"};
  if (f == out_format::wide) {
    std::vector<std::string> more = {"ATTEMPT", "START", "DURATION", "MESSAGE"};
    header.insert(header.end(), more.begin(), more.end());
  }
  rows.push_back(header);
  for (const auto& r : runs) {
    std::vector<std::string> row;
    row.push_back(r.metadata.name);
    row.push_back(r.metadata.namespace_);
    row.push_back(r.spec.runtime);
    row.push_back(std::string(api::to_string(api::phase_of(r.status))));
    row.push_back(or_dash(r.status.assigned_pod));
    row.push_back(age_of(r.metadata.creation_timestamp));
    if (f == out_format::wide) {
      row.push_back(std::to_string(r.status.attempt));
      row.push_back(r.status.start_time ? local_time(r.status.start_time) : "-");
      row.push_back(duration_of(r));
      row.push_back(or_dash(r.status.message));
    }
    rows.push_back(std::move(row));
  }
  print_table(rows);
  co_return 0;
}

}  // namespace

int cmd_list(int argc, char** argv) {
  cxxopts::Options o("krt list", "List Runs in a namespace (or every namespace with -A).");
  o.add_options()("runtime", "Only Runs of this Runtime", cxxopts::value<std::string>())(
      "phase", "Only Runs in this phase (Pending, Scheduled, Running, Succeeded, Failed, Timeout, Cancelled)",
      cxxopts::value<std::string>());
  add_global_flags(o, "table, wide, json or yaml", true);
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 0, 0, "")) return rc;
  auto f = output_of(args, true);
  if (!f) return 1;
  list_filter filter;
  if (args.count("runtime")) filter.runtime = args["runtime"].as<std::string>();
  if (args.count("phase")) {
    filter.phase = args["phase"].as<std::string>();
    if (!api::parse_phase(filter.phase)) {
      bool known = false;
      for (auto p : {"pending", "scheduled", "running", "ready", "succeeded", "failed", "timeout", "cancelled"})
        if (iequals(filter.phase, p)) known = true;
      if (!known)
        return usage_error("unknown phase \"" + filter.phase +
                               "\" (use Pending, Scheduled, Running, Ready, Succeeded, Failed, Timeout or Cancelled)",
                           o.program());
    }
  }
  auto s = open_session(args);
  if (!s) return 1;
  s->all_namespaces = args.count("all-namespaces") > 0;
  return run_main(*s, run_list_main(*s, *f, filter));
}

}  // namespace krt::cli
