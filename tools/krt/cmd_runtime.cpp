// krt runtime list [-A] | get <name>: the Runtimes (pools of runtime Pods).
#include <iostream>

#include "commands.hpp"
#include "common.hpp"

namespace krt::cli {

namespace bj = boost::json;

namespace {

const bj::value* first_container(const bj::value& rt) {
  const auto* cs = at_path(rt, {"spec", "template", "spec", "containers"});
  if (cs == nullptr || !cs->is_array() || cs->get_array().empty()) return nullptr;
  return &cs->get_array()[0];
}

std::string words(const bj::value* v) {
  if (v == nullptr || !v->is_array()) return "";
  std::string out;
  for (const auto& e : v->get_array())
    if (e.is_string()) out += (out.empty() ? "" : " ") + std::string(e.get_string());
  return out;
}

awaitable<int> runtime_list_main(session& s, out_format f) {
  std::string ns;
  if (!s.all_namespaces) ns = s.ns;
  auto body = co_await s.client->list(api::runtimes, ns);
  if (!body) co_return fail(s, body.error());
  boost::system::error_code ec;
  auto v = bj::parse(*body, ec);
  if (ec) co_return fail("the API server sent a Runtime list that is not JSON");
  if (f == out_format::json || f == out_format::yaml) {
    if (v.is_object()) {
      v.get_object()["apiVersion"] = api::api_version;
      v.get_object()["kind"] = "RuntimeList";
    }
    if (f == out_format::json)
      print_json(v);
    else
      print_yaml(v);
    co_return 0;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME", "NAMESPACE", "IMAGE", "REPLICAS", "READY", "PORT", "AGE"};
  rows.push_back(header);
  if (const auto* items = at_path(v, {"items"}); items != nullptr && items->is_array())
    for (const auto& item : items->get_array()) {
      auto text = bj::serialize(item);
      auto rt = api::decode_runtime(text);
      if (!rt) continue;
      std::vector<std::string> row;
      row.push_back(rt->metadata.name);
      row.push_back(rt->metadata.namespace_);
      row.push_back(or_dash(rt->spec.template_facts.first_image));
      row.push_back(std::to_string(rt->spec.replicas));
      row.push_back(std::to_string(rt->status.ready_replicas));
      row.push_back(std::to_string(rt->spec.port));
      row.push_back(age_of(rt->metadata.creation_timestamp));
      rows.push_back(std::move(row));
    }
  if (rows.size() == 1) {
    if (s.all_namespaces)
      std::cerr << "No runtimes found.\n";
    else
      std::cerr << "No runtimes found in " << s.ns << " namespace.\n";
    co_return 0;
  }
  print_table(rows);
  co_return 0;
}

void rt_line(std::string_view key, std::string_view value) {
  std::string k(key);
  k += ":";
  std::cout << k << std::string(k.size() < 17 ? 17 - k.size() : 1, ' ') << value << "\n";
}

awaitable<int> runtime_get_main(session& s, std::string name, out_format f) {
  auto body = co_await s.client->get(api::runtimes, s.ns, name);
  if (!body) co_return fail(s, body.error());
  boost::system::error_code ec;
  auto v = bj::parse(*body, ec);
  if (ec) co_return fail("the API server sent a Runtime that is not JSON");
  if (f == out_format::json) {
    print_json(v);
    co_return 0;
  }
  if (f == out_format::yaml) {
    print_yaml(v);
    co_return 0;
  }
  auto rt = api::decode_runtime(*body);
  if (!rt) co_return fail("cannot decode the Runtime: " + rt.error().describe());
  rt_line("Name", rt->metadata.name);
  rt_line("Namespace", rt->metadata.namespace_);
  rt_line("Image", rt->spec.template_facts.first_image);
  rt_line("Port", std::to_string(rt->spec.port));
  rt_line("Replicas", std::to_string(rt->spec.replicas));
  rt_line("Ready", std::to_string(rt->status.ready_replicas));
  if (!rt->spec.daemon_image.empty()) rt_line("Daemon Image", rt->spec.daemon_image);
  if (!rt->spec.template_facts.service_account_name.empty())
    rt_line("ServiceAccount", rt->spec.template_facts.service_account_name);
  const auto* c = first_container(v);
  if (c != nullptr) {
    auto cmd = words(at_path(*c, {"command"}));
    if (!cmd.empty()) rt_line("Command", cmd);
    auto a = words(at_path(*c, {"args"}));
    if (!a.empty()) rt_line("Args", a);
  }
  rt_line("Age", age_of(rt->metadata.creation_timestamp));
  co_return 0;
}

int runtime_list(int argc, char** argv) {
  cxxopts::Options o("krt runtime list", "List Runtimes in a namespace (or every namespace with -A).");
  add_global_flags(o, "table, json or yaml", true);
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 0, 0, "")) return rc;
  auto f = output_of(args, false);
  if (!f) return 1;
  auto s = open_session(args);
  if (!s) return 1;
  s->all_namespaces = args.count("all-namespaces") > 0;
  return run_main(*s, runtime_list_main(*s, *f));
}

int runtime_get(int argc, char** argv) {
  cxxopts::Options o("krt runtime get", "Show one Runtime.");
  o.custom_help("[flags] <runtime>");
  add_global_flags(o, "table, json or yaml");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1, "the name of a Runtime")) return rc;
  auto f = output_of(args, false);
  if (!f) return 1;
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, runtime_get_main(*s, pos[0], *f));
}

void runtime_usage(std::ostream& out) {
  out << "Runtimes: the pools of runtime Pods that execute Runs.\n\nUsage:\n  krt runtime <command> [flags]\n\n"
         "Commands:\n"
         "  list        List Runtimes\n"
         "  get         Show one Runtime\n\n"
         "Run 'krt runtime <command> --help' for the flags of a command.\n";
}

}  // namespace

int cmd_runtime(int argc, char** argv) {
  if (argc < 2) {
    runtime_usage(std::cerr);
    return 1;
  }
  std::string_view sub = argv[1];
  if (sub == "-h" || sub == "--help" || sub == "help") {
    runtime_usage(std::cout);
    return 0;
  }
  if (sub == "list" || sub == "ls") return runtime_list(argc - 1, argv + 1);
  if (sub == "get") return runtime_get(argc - 1, argv + 1);
  std::cerr << "Error: unknown command \"" << sub << "\" for \"krt runtime\"\n\n";
  runtime_usage(std::cerr);
  return 1;
}

}  // namespace krt::cli
