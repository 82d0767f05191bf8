#include "common.hpp"

#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>

#include "lib/json/writer.hpp"

namespace krt::cli {

namespace bj = boost::json;

void add_global_flags(cxxopts::Options& o, std::string_view output_help, bool all_namespaces) {
  o.add_options("Global")("kubeconfig", "Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the local plane's)",
                          cxxopts::value<std::string>())(
      "context", "The kubeconfig context to use (default: the current context)", cxxopts::value<std::string>())(
      "n,namespace", "The namespace (default: the context's namespace, else \"default\")",
      cxxopts::value<std::string>())("h,help", "Show this help");
  if (!output_help.empty())
    o.add_options("Global")("o,output", std::string("Output format: ") + std::string(output_help),
                            cxxopts::value<std::string>()->default_value("table"));
  if (all_namespaces) o.add_options("Global")("A,all-namespaces", "List across all namespaces");
}

bool parse_args(cxxopts::Options& o, int argc, char** argv, cxxopts::ParseResult& args, int& rc,
                std::vector<std::string>& positional, std::size_t min_pos, std::size_t max_pos,
                std::string_view pos_name) {
  try {
    args = o.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun '" << o.program() << " --help' for usage.\n";
    rc = 1;
    return false;
  }
  if (args.count("help")) {
    std::cout << o.help() << "\n";
    rc = 0;
    return false;
  }
  positional = args.unmatched();
  if (positional.size() < min_pos) {
    std::cerr << "Error: " << o.program() << " needs " << pos_name << "\nRun '" << o.program()
              << " --help' for usage.\n";
    rc = 1;
    return false;
  }
  if (positional.size() > max_pos) {
    std::cerr << "Error: unexpected argument \"" << positional[max_pos] << "\"\nRun '" << o.program()
              << " --help' for usage.\n";
    rc = 1;
    return false;
  }
  return true;
}

std::optional<out_format> output_of(const cxxopts::ParseResult& args, bool wide_ok) {
  std::string f = args["output"].as<std::string>();
  if (f == "table" || f.empty()) return out_format::table;
  if (f == "wide" && wide_ok) return out_format::wide;
  if (f == "json") return out_format::json;
  if (f == "yaml") return out_format::yaml;
  std::cerr << "Error: unsupported output format \"" << f << "\" (use table" << (wide_ok ? ", wide" : "")
            << ", json or yaml)\n";
  return std::nullopt;
}

int usage_error(std::string_view msg, std::string_view program) {
  std::cerr << "Error: " << msg << "\nRun '" << program << " --help' for usage.\n";
  return 1;
}

int fail(std::string_view msg) {
  std::cerr << "Error: " << msg << "\n";
  return 1;
}

std::unique_ptr<session> open_session(const cxxopts::ParseResult& args, const std::string& given_fallback) {
  const std::string fallback = given_fallback.empty() ? local_kubeconfig_fallback() : given_fallback;
  kube::load_options lo;
  if (args.count("kubeconfig")) lo.kubeconfig = args["kubeconfig"].as<std::string>();
  auto env_set = [](const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
  };
  if (lo.kubeconfig.empty() && !fallback.empty() && !env_set("KUBECONFIG") &&
      !env_set("KUBERNETES_SERVICE_HOST")) {
    const char* home = std::getenv("HOME");
    std::string user_config = home != nullptr ? std::string(home) + "/.kube/config" : std::string();
    if ((user_config.empty() || ::access(user_config.c_str(), F_OK) != 0) && ::access(fallback.c_str(), R_OK) == 0)
      lo.kubeconfig = fallback;
  }
  if (args.count("context")) lo.context = args["context"].as<std::string>();
  auto cfg = kube::load_config(lo);
  if (!cfg) {
    std::cerr << "Error: " << cfg.error() << "\n";
    return nullptr;
  }
  auto s = std::make_unique<session>();
  s->cfg = *cfg;
  s->ns = args.count("namespace") ? args["namespace"].as<std::string>() : s->cfg.namespace_;
  if (s->ns.empty()) s->ns = "default";
  kube::client_options co;
  co.qps = 0;
  co.max_retries = 2;
  co.user_agent = "krt";
  auto c = kube::client::connect(s->ctx.get_executor(), s->cfg, co);
  if (!c) {
    std::cerr << "Error: " << c.error() << "\n";
    return nullptr;
  }
  s->client = std::move(*c);
  s->creds = std::make_unique<kube::credentials>(s->cfg);
  return s;
}

int run_main(session& s, awaitable<int> main) {
  int rc = 1;
  asio::co_spawn(s.ctx, std::move(main), [&rc, &s](std::exception_ptr ep, int r) {
    if (s.on_finish) s.on_finish();
    if (!ep) {
      rc = r;
      return;
    }
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::cerr << "Error: " << e.what() << "\n";
    }
    rc = 1;
  });
  s.ctx.run();
  std::cout.flush();
  return rc;
}

int run_view_command(int argc, char** argv, const std::string& program, const std::string& description,
                     run_view_main main) {
  cxxopts::Options o(program, description);
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
  return run_main(*s, main(*s, pos[0], *f));
}

std::string describe(const session& s, const kube::error& e) {
  if (e.code == kube::errc::transport || (e.code == kube::errc::timeout && e.http_status == 0))
    return "cannot reach the API server at " + s.cfg.server + ": " + e.message +
           ". Is the local control plane running? Try: krt local up";
  if (!e.message.empty()) return e.message;
  return e.describe();
}

int fail(const session& s, const kube::error& e) { return fail(describe(s, e)); }

kube::result<run_doc> decode_run_doc(std::string body) {
  run_doc d;
  boost::system::error_code ec;
  d.json = bj::parse(body, ec);
  if (ec) return kube::fail(kube::errc::decode, "the API server sent a Run that is not JSON: " + ec.message());
  auto r = api::decode_run(body);
  if (!r) return kube::fail(kube::errc::decode, "cannot decode the Run: " + r.error().describe());
  d.run = std::move(*r);
  return d;
}

awaitable<kube::result<bj::value>> get_json(session& s, const kube::resource& r, std::string ns, std::string name) {
  auto body = co_await s.client->get(r, ns, name);
  if (!body) co_return krt::unexpected(std::move(body).error());
  boost::system::error_code ec;
  auto v = bj::parse(*body, ec);
  if (ec) co_return kube::fail(kube::errc::decode, "the API server sent something that is not JSON");
  co_return v;
}

awaitable<kube::result<run_doc>> get_run(session& s, std::string ns, std::string name) {
  auto body = co_await s.client->get(api::runs, ns, name);
  if (!body) co_return krt::unexpected(std::move(body).error());
  co_return decode_run_doc(std::move(*body));
}

kube::http_request raw_request(session& s, std::string method, std::string target) {
  kube::http_request req;
  req.method = std::move(method);
  req.target = s.cfg.base_path + target;
  req.authorization = s.creds->authorization();
  req.accept = "*/*";
  return req;
}

void print_json(const bj::value& v) { std::cout << json::pretty(bj::serialize(v), 2) << "\n"; }

namespace {

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* special[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : special)
    if (lower == w) return true;
  // Anything a YAML reader could take for a number.
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  if (end != nullptr && *end == '\0') return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  // Timestamps and dates would be read back as dates, not strings.
  if (s.size() >= 10 && std::isdigit(static_cast<unsigned char>(s[0])) && s[4] == '-' && s[7] == '-') return true;
  if (s.find_first_of(":#") != std::string::npos && s.find_first_of(" ") != std::string::npos) return true;
  return false;
}

void emit(YAML::Emitter& out, const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::object:
      if (v.get_object().empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& kv : v.get_object()) {
        out << YAML::Key;
        std::string k(kv.key());
        if (needs_quotes(k))
          out << YAML::DoubleQuoted << k;
        else
          out << k;
        out << YAML::Value;
        emit(out, kv.value());
      }
      out << YAML::EndMap;
      return;
    case bj::kind::array:
      if (v.get_array().empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& e : v.get_array()) emit(out, e);
      out << YAML::EndSeq;
      return;
    case bj::kind::string: {
      std::string s(v.get_string());
      if (s.find('\n') != std::string::npos)
        out << YAML::Literal << s;
      else if (needs_quotes(s))
        out << YAML::DoubleQuoted << s;
      else
        out << s;
      return;
    }
    case bj::kind::bool_:
      out << (v.get_bool() ? "true" : "false");
      return;
    case bj::kind::int64:
      out << v.get_int64();
      return;
    case bj::kind::uint64:
      out << v.get_uint64();
      return;
    case bj::kind::double_:
      out << v.get_double();
      return;
    case bj::kind::null:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::string to_yaml(const bj::value& v) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  emit(out, v);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += "\n";
  return s;
}

void print_yaml(const bj::value& v) { std::cout << to_yaml(v); }

void print_table(const std::vector<std::vector<std::string>>& rows, std::string_view indent, std::size_t gap) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + gap, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

std::string age_of(const std::optional<wall_time>& t) {
  if (!t) return "<unknown>";
  auto d = std::chrono::duration_cast<std::chrono::seconds>(wall_now() - *t);
  return format_age(d);
}

std::string local_time(const std::optional<wall_time>& t) {
  if (!t) return "";
  std::time_t tt = std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(*t));
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string or_dash(std::string_view s) { return s.empty() ? "-" : std::string(s); }

std::string quote_args(const std::vector<std::string>& args) {
  std::string out = "[";
  for (std::size_t i = 0; i < args.size(); ++i) out += (i ? " " : "") + args[i];
  return out + "]";
}

const bj::value* at_path(const bj::value& v, std::initializer_list<std::string_view> path) {
  const bj::value* cur = &v;
  for (auto k : path) {
    if (!cur->is_object()) return nullptr;
    cur = cur->get_object().if_contains(k);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::string str_at(const bj::value& v, std::initializer_list<std::string_view> path) {
  const auto* p = at_path(v, path);
  if (p == nullptr) return "";
  if (p->is_string()) return std::string(p->get_string());
  if (p->is_int64()) return std::to_string(p->get_int64());
  if (p->is_uint64()) return std::to_string(p->get_uint64());
  if (p->is_bool()) return p->get_bool() ? "true" : "false";
  return "";
}

std::string human_bytes(std::int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace krt::cli
