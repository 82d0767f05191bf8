#pragma once
// Shared plumbing of the krt commands that talk to the API server: the global
// flags (--kubeconfig, --context, -n, -o), argument parsing with krt's exit
// codes (0 success, 1 any error, usage errors included, as cmd_local), one
// API session per process (an io_context, the client, credentials), error
// sentences, output formats (table, wide, json, yaml) and table printing.
//
// Affinity: single-threaded; everything runs on the session's io_context.

#include <boost/json.hpp>
#include <cxxopts.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/kube/client.hpp"
#include "lib/kube/config.hpp"
#include "lib/reactor/asio.hpp"

namespace krt::cli {

enum class out_format { table, wide, json, yaml };

// --kubeconfig, --context, -n/--namespace, -h/--help; -o/--output when
// output_help is non-empty; -A/--all-namespaces when all_namespaces.
void add_global_flags(cxxopts::Options& o, std::string_view output_help, bool all_namespaces = false);

// Parses argv. Returns false when the command must exit now with `rc`
// (--help: 0; a bad flag or a wrong number of arguments: 1, with a hint).
// `positional` gets the arguments that are not flags.
bool parse_args(cxxopts::Options& o, int argc, char** argv, cxxopts::ParseResult& args, int& rc,
                std::vector<std::string>& positional, std::size_t min_pos, std::size_t max_pos,
                std::string_view pos_name);

// -o value → format; prints `Error: unsupported output format "x"` and
// returns nullopt for anything the command does not accept.
std::optional<out_format> output_of(const cxxopts::ParseResult& args, bool wide_ok);

// Prints "Error: <msg>" (plus an optional hint line) on stderr; returns 1.
int usage_error(std::string_view msg, std::string_view program);
int fail(std::string_view msg);

struct session {
  asio::io_context ctx{1};
  kube::rest_config cfg;
  std::unique_ptr<kube::client> client;
  std::unique_ptr<kube::credentials> creds;
  std::string ns;             // the namespace commands act in
  bool all_namespaces = false;
  std::function<void()> on_finish;  // called when the main coroutine ends
};

// Loads the kubeconfig named by the global flags and connects. On failure
// prints the error and returns nullptr. When nothing names a configuration
// (no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, not in a cluster),
// the local control plane's kubeconfig is used if it exists (`krt local up`
// then needs no `export KUBECONFIG`), or `fallback` when one is given.
std::unique_ptr<session> open_session(const cxxopts::ParseResult& args, const std::string& fallback = "");

// The kubeconfig of the local control plane in its default state directory
// (cmd_local.cpp), whether or not it exists.
std::string local_kubeconfig_fallback();

// Runs `main` on the session's io_context to completion; an escaping
// exception becomes one `Error:` line and exit code 1.
int run_main(session& s, awaitable<int> main);

// The whole of a command whose one argument is a Run's name and whose flags
// are the global ones with -o table|json|yaml (get, outputs, artifact list):
// parses argv, connects, and runs main(session, run name, format).
using run_view_main = awaitable<int> (*)(session&, std::string, out_format);
int run_view_command(int argc, char** argv, const std::string& program, const std::string& description,
                     run_view_main main);

// One line for an API error, without the "Error: " prefix: the Status
// message (`runs.kruntimes.io "x" not found`), or for an unreachable server a
// sentence saying how to start the local control plane.
std::string describe(const session& s, const kube::error& e);
int fail(const session& s, const kube::error& e);

// GET of an object as parsed JSON.
awaitable<kube::result<boost::json::value>> get_json(session& s, const kube::resource& r, std::string ns,
                                                     std::string name);
// GET of a Run, typed and as JSON.
struct run_doc {
  api::run run;
  boost::json::value json;
};
awaitable<kube::result<run_doc>> get_run(session& s, std::string ns, std::string name);
kube::result<run_doc> decode_run_doc(std::string body);

// An authorised raw request to any API path (target includes the query).
kube::http_request raw_request(session& s, std::string method, std::string target);

// Output helpers.
void print_json(const boost::json::value& v);  // indented 2 spaces
void print_yaml(const boost::json::value& v);
std::string to_yaml(const boost::json::value& v);
// Rows of cells, aligned like kubectl (three spaces between columns), each
// line after `indent`; trailing blanks are dropped.
void print_table(const std::vector<std::vector<std::string>>& rows, std::string_view indent = "",
                 std::size_t gap = 3);

std::string age_of(const std::optional<wall_time>& t);
std::string local_time(const std::optional<wall_time>& t);  // "2006-01-02 15:04:05" (UTC)
std::string or_dash(std::string_view s);
std::string quote_args(const std::vector<std::string>& args);

// JSON field access that tolerates absence.
const boost::json::value* at_path(const boost::json::value& v, std::initializer_list<std::string_view> path);
std::string str_at(const boost::json::value& v, std::initializer_list<std::string_view> path);

std::string human_bytes(std::int64_t n);

}  // namespace krt::cli
