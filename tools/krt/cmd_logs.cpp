// krt logs <run> [-f] [--tail N]: a Run's stdout and stderr through the API
// server — runtimed's log endpoint behind pods/proxy, else (the Run is no
// longer there, or runtimed is unreachable) the runtimed container's log
// filtered by the Run's UID (docs/run-path.md).
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"
#include "runs.hpp"

namespace krt::cli {

namespace {

awaitable<int> logs_main(session& s, std::string name, bool follow, int tail) {
  using namespace asio::experimental::awaitable_operators;
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  const auto& r = doc->run;
  if (r.status.assigned_pod.empty()) co_return fail("run " + name + " not yet assigned");
  std::string pod = r.status.assigned_pod, uid = r.metadata.uid;
  log_stream_state out_st, err_st;
  kube::result<void> out_res, err_res;
  while (follow) {
    auto both = co_await (proxy_log(s, s.ns, pod, uid, "stdout", true, tail, std::cout, out_st) &&
                          proxy_log(s, s.ns, pod, uid, "stderr", true, tail, std::cerr, err_st));
    if (std::get<0>(both) && std::get<1>(both)) co_return 0;
    // A broken or refused stream while the Run still runs on that Pod (a
    // proxy that gave up on a long request, runtimed restarting): resume
    // after what was printed. Otherwise read what is left below.
    auto cur = co_await get_run(s, s.ns, name);
    if (!cur || api::is_terminal(api::phase_of(cur->run.status)) || cur->run.status.assigned_pod != pod ||
        cur->run.metadata.uid != uid)
      break;
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
    co_await t.async_wait(use_nothrow);
  }
  out_res = co_await proxy_log(s, s.ns, pod, uid, "stdout", false, tail, std::cout, out_st);
  if (out_res) err_res = co_await proxy_log(s, s.ns, pod, uid, "stderr", false, tail, std::cerr, err_st);
  if (out_res && err_res) co_return 0;
  // The endpoint does not have it (or cannot be reached): the container log.
  kube::error first = out_res ? err_res.error() : out_res.error();
  auto fb = co_await runtimed_container_log(s, s.ns, pod, uid, tail, out_st, err_st);
  if (fb) co_return 0;
  co_return fail("cannot read the logs of run " + name + " from pod " + pod + ": " + describe(s, first) +
                 "; the runtimed container log is not available either: " + describe(s, fb.error()));
}

}  // namespace

int cmd_run_logs(int argc, char** argv) {
  cxxopts::Options o("krt logs", "Print a Run's output: stdout to stdout, stderr to stderr.");
  o.custom_help("[flags] <run>");
  o.add_options()("f,follow", "Keep streaming until the Run finishes")(
      "tail", "Lines from the end of each stream to print (-1: all)", cxxopts::value<int>()->default_value("-1"))(
      "status-port", "Accepted for compatibility with the Go krt and ignored: logs go through the API server",
      cxxopts::value<int>());
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 1, 1, "the name of a Run")) return rc;
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, logs_main(*s, pos[0], args.count("follow") > 0, args["tail"].as<int>()));
}

}  // namespace krt::cli
