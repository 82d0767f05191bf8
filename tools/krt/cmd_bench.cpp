// krt bench: the latency harness (docs/benchmarks.md). Creates its own
// namespace and Runtime, measures the floors (API round trips on Leases, the
// command spawned directly), runs warm-up and measured Runs at a fixed
// concurrency, reads every hop from the Runs' own microsecond timestamps and
// runtimed's per-Run timings (GET /timings behind pods/proxy), and prints a
// table, JSON or an SVG plot. Deletes what it created unless --keep. The
// measuring half (floors, environment, timings, hops) is bench_measure.cpp.
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "bench_state.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"
#include "lib/api/pod.hpp"
#include "lib/core/time.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/watch.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "runs.hpp"
#include "tools/krt/bench/report.hpp"

namespace krt::cli {

namespace bj = boost::json;
using namespace std::chrono_literals;
using namespace benchrun;

namespace {

// 0.1 -> "0.1", 2 -> "2" (for sleep and time.sleep).
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", s);
  return buf;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

// What the Run executes: spec.mode.task.args (and the script, if any).
std::vector<std::string> benchrun::run_args(const bench_options& o) {
  std::vector<std::string> args = o.command;
  if (o.runtime == "python") {
    if (args.empty() && o.script.empty()) {
      if (o.sleep_s > 0) return {"-c", "import time; time.sleep(" + seconds_text(o.sleep_s) + ")"};
      return {"-c", "pass"};
    }
    return args;
  }
  if (o.sleep_s > 0) {
    // One bash -c script: the sleep, then the command with its words quoted.
    std::string joined = "sleep " + seconds_text(o.sleep_s);
    for (const auto& a : args) joined += (&a == &args.front() ? "; " : " ") + shell_quote(a);
    return {joined};
  }
  if (args.empty() && o.script.empty()) return {"true"};
  return args;
}

namespace {

std::string run_body(const bench_options& o, const std::string& name, const std::string& tag) {
  json::writer w;
  w.begin_object().field("apiVersion", std::string(api::api_version)).field("kind", "Run");
  w.key("metadata").begin_object().field("name", name);
  w.key("labels").begin_object().field("kruntimes.io/bench", tag).end_object();
  w.end_object();
  w.key("spec").begin_object().field("runtime", o.runtime);
  if (!o.script.empty()) w.key("source").begin_object().field("inline", o.script).end_object();
  w.key("mode").begin_object().key("task").begin_object().key("args").begin_array();
  for (const auto& a : run_args(o)) w.value(a);
  w.end_array().end_object().end_object();
  w.end_object().end_object();
  return w.take();
}

std::string runtime_body(const bench_options& o) {
  bool py = o.runtime == "python";
  int port = py ? 9092 : 9091;
  std::string image = !o.image.empty() ? o.image : py ? "kruntimes/python-runtime:0.1.0" : "kruntimes/bash-runtime:0.1.0";
  int capacity = o.capacity > 0 ? o.capacity : std::max(1, (o.concurrency + o.replicas - 1) / o.replicas);
  json::writer w;
  w.begin_object().field("apiVersion", std::string(api::api_version)).field("kind", "Runtime");
  w.key("metadata").begin_object().field("name", o.runtime).end_object();
  w.key("spec").begin_object().field("replicas", o.replicas).field("port", port);
  w.key("capacity").begin_object().key("resources").begin_object().field("runs", capacity).end_object().end_object();
  w.key("template").begin_object().key("spec").begin_object().key("containers").begin_array();
  w.begin_object().field("name", "runtime").field("image", image).field("imagePullPolicy", "IfNotPresent");
  w.key("args").begin_array().value("--port=" + std::to_string(port)).value("--work-dir=/workspace").end_array();
  w.end_object();
  w.end_array().end_object().end_object();
  w.end_object().end_object();
  return w.take();
}

bool on_run_event(bench_state& st, kube::event_type t, const api::run& r) {
  if (t == kube::event_type::deleted) return st.stopping;
  auto it = st.runs.find(r.metadata.name);
  if (it == st.runs.end()) return st.stopping;
  auto& tr = it->second;
  tr.last = std::make_shared<const api::run>(r);
  if (!tr.terminal_seen && api::is_terminal(api::phase_of(r.status))) {
    tr.terminal_seen = wall_now();
    if (tr.done) tr.done->set();
  }
  return st.stopping;
}

awaitable<void> run_watch_task(bench_state& st, std::string rv) {
  run_handler h = [&st](kube::event_type t, const api::run& r) { return on_run_event(st, t, r); };
  auto res = co_await watch_runs(*st.s, st.o.ns, "", rv, h);
  if (!res && !st.stopping) std::cerr << "Warning: the Run watch ended: " << describe(*st.s, res.error()) << "\n";
}

// Ctrl-C (or SIGTERM) stops the bench where it is; what it created is still
// deleted.
awaitable<void> signal_task(bench_state& st) {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT, SIGTERM);
  auto [ec, sig] = co_await signals.async_wait(use_nothrow);
  if (ec) co_return;
  std::cerr << "\ninterrupted: stopping and cleaning up (" << st.o.ns << ")\n";
  st.interrupted = true;
  st.stopping = true;
  for (auto& [name, tr] : st.runs)
    if (tr.done) tr.done->set();
  if (st.lease_event) st.lease_event->set();
}

// Sets the done event of Runs past their deadline.
awaitable<void> watchdog_task(bench_state& st) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!st.stopping) {
    t.expires_after(200ms);
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) co_return;
    auto now = std::chrono::steady_clock::now();
    for (auto& [name, tr] : st.runs)
      if (tr.done && !tr.terminal_seen && tr.deadline != std::chrono::steady_clock::time_point{} && now > tr.deadline) {
        tr.timed_out = true;
        tr.done->set();
      }
  }
}

awaitable<void> worker(bench_state& st, int* next, int end, bool measured) {
  reactor::event done(co_await asio::this_coro::executor);
  while (*next < end && !st.stopping) {
    int i = (*next)++;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%05d", i);
    std::string name = st.prefix + buf;
    auto& tr = st.runs[name];
    tr.index = i;
    tr.measured = measured;
    done.reset();
    tr.done = &done;
    std::string body = run_body(st.o, name, st.tag);
    tr.sent = wall_now();
    auto created = co_await st.s->client->create(api::runs, st.o.ns, std::move(body));
    tr.returned = wall_now();
    if (!created) {
      tr.create_error = describe(*st.s, created.error());
      tr.done = nullptr;
      continue;
    }
    tr.created = true;
    tr.deadline = std::chrono::steady_clock::now() + st.o.run_timeout;
    if (!tr.terminal_seen) co_await done.wait();
    tr.done = nullptr;
  }
}

// Runs [first, end) with the bench's concurrency; returns when all are done.
awaitable<void> run_batch(bench_state& st, int first, int end, bool measured) {
  reactor::task_group g(co_await asio::this_coro::executor);
  int next = first;
  for (int c = 0; c < st.o.concurrency; ++c) g.spawn(worker(st, &next, end, measured), "bench worker");
  co_await g.drain();
  co_await g.close();
}

// ------------------------------------------------------------------ setup

bool is_tty() { return ::isatty(2) == 1; }

// Waits for `replicas` Runtime pods the scheduler would use (Running, Ready,
// a fresh runtimed heartbeat), with a progress bar on stderr.
awaitable<std::optional<std::string>> wait_runtime(session& s, const bench_options& o, const bool* stop) {
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + o.setup_timeout;
  asio::steady_timer t(co_await asio::this_coro::executor);
  int last_ready = -1;
  auto last_line = start - 1h;
  std::string last_state;
  for (;;) {
    kube::list_options lo;
    lo.label_selector = "runtime=" + o.runtime;
    auto body = co_await s.client->list(kube::resources::pods, o.ns, lo);
    int ready = 0;
    int seen = 0;
    if (body) {
      auto pods = kube::decode_list(kube::codec_of<api::pod_view>(), *body);
      if (pods)
        for (const auto& item : pods->items) {
          auto p = kube::object_as<api::pod_view>(item);
          ++seen;
          // What the scheduler requires of a pod (SPEC §3; heartbeat fresh within 15 s).
          if (api::pod_available(*p, wall_now(), std::chrono::seconds{15})) ++ready;
          else last_state = p->metadata.name + ": " + or_dash(p->phase);
        }
    }
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - start).count();
    if (is_tty()) {
      int width = 30;
      int filled = o.replicas > 0 ? width * ready / o.replicas : width;
      std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
                << std::string(static_cast<std::size_t>(width - filled), '.') << "] Runtime " << o.runtime << ": "
                << ready << "/" << o.replicas << " pods ready (" << seen << " created), " << static_cast<int>(secs)
                << " s" << std::flush;
    } else if (ready != last_ready || now - last_line > 5s) {
      std::cerr << "waiting for Runtime " << o.runtime << ": " << ready << "/" << o.replicas << " pods ready ("
                << static_cast<int>(secs) << " s)\n";
      last_line = now;
    }
    last_ready = ready;
    if (ready >= o.replicas) {
      if (is_tty()) std::cerr << "\n";
      co_return std::nullopt;
    }
    if (*stop) co_return "interrupted";
    if (now > deadline) {
      if (is_tty()) std::cerr << "\n";
      co_return "the Runtime's pods were not ready within " + std::to_string(o.setup_timeout.count()) +
          " s (last: " + (last_state.empty() ? std::string("no pod created yet") : last_state) +
          "). Check: kubectl -n " + o.ns + " describe pods -l runtime=" + o.runtime;
    }
    t.expires_after(200ms);
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) co_return "cancelled while waiting for the Runtime";
  }
}

awaitable<void> cleanup(bench_state& st) {
  session& s = *st.s;
  if (st.o.keep) {
    std::cerr << "kept namespace " << st.o.ns << " (--keep); delete it with: kubectl delete namespace " << st.o.ns
              << "\n";
    co_return;
  }
  if (st.o.own_namespace) {
    auto r = co_await s.client->remove(kube::resources::namespaces, "", st.o.ns);
    if (!r && r.error().code != kube::errc::not_found)
      std::cerr << "Warning: deleting namespace " << st.o.ns << ": " << describe(s, r.error()) << "\n";
    co_return;
  }
  for (const auto& [name, tr] : st.runs)
    if (tr.created) (void)co_await s.client->remove(api::runs, st.o.ns, name);
  if (st.created_runtime) (void)co_await s.client->remove(api::runtimes, st.o.ns, st.o.runtime);
}

awaitable<int> bench_main(session& s, bench_options o) {
  bench_state st;
  st.s = &s;
  st.o = std::move(o);
  st.tag = random_suffix();
  st.prefix = "bench-" + st.tag + "-";
  bench::report rep;
  auto& p = rep.parameters;
  p["runs"] = st.o.runs;
  p["concurrency"] = st.o.concurrency;
  p["warmup"] = st.o.warmup;
  p["runtime"] = st.o.runtime;
  p["replicas"] = st.o.replicas;
  p["capacityPerPod"] = st.o.capacity > 0 ? st.o.capacity : std::max(1, (st.o.concurrency + st.o.replicas - 1) /
                                                                              st.o.replicas);
  p["sleepSeconds"] = st.o.sleep_s;
  bj::array cmd;
  for (const auto& a : run_args(st.o)) cmd.emplace_back(a);
  p["command"] = cmd;
  p["script"] = st.o.script_path;
  p["floorSamples"] = st.o.floor_samples;
  p["namespace"] = st.o.ns;
  co_await collect_environment(s, rep);
  if (!loopback_server(s.cfg.server))
    rep.notes.push_back("the API server is not on this machine: hops that start at the client's create (schedule, "
                        "dispatch, complete) include the offset between this clock and the cluster's");

  std::cerr << "krt bench: namespace " << st.o.ns << ", Runtime " << st.o.runtime << " (" << st.o.replicas
            << " pod(s), capacity " << p["capacityPerPod"].as_int64() << " each)\n";
  if (st.o.own_namespace) {
    json::writer w;
    w.begin_object().field("apiVersion", "v1").field("kind", "Namespace");
    w.key("metadata").begin_object().field("name", st.o.ns);
    w.key("labels").begin_object().field("kruntimes.io/bench", st.tag).end_object().end_object().end_object();
    auto r = co_await s.client->create(kube::resources::namespaces, "", w.take());
    if (!r) co_return fail("creating namespace " + st.o.ns + ": " + describe(s, r.error()));
  }
  int rc = 0;
  std::optional<std::string> err;
  auto ex = co_await asio::this_coro::executor;
  reactor::task_group bg(ex);
  bg.spawn(signal_task(st), "signals");
  {
    auto r = co_await s.client->create(api::runtimes, st.o.ns, runtime_body(st.o));
    if (r) {
      st.created_runtime = true;
    } else if (!st.o.own_namespace && r.error().code == kube::errc::already_exists) {
      // -n with an existing Runtime: bench it as it is, and leave it.
      rep.notes.push_back("benched the existing Runtime " + st.o.ns + "/" + st.o.runtime +
                          "; --replicas, --capacity and --image did not apply");
      p["capacityPerPod"] = nullptr;
    } else {
      err = "creating Runtime " + st.o.runtime + ": " + describe(s, r.error());
    }
  }
  if (!err) err = co_await wait_runtime(s, st.o, &st.stopping);
  if (!err) {
    // Watch the namespace's Runs from the current state.
    kube::list_options lo;
    lo.limit = 1;
    auto l = co_await s.client->list(api::runs, st.o.ns, lo);
    std::string rv;
    if (l) {
      boost::system::error_code ec;
      auto v = bj::parse(*l, ec);
      if (!ec) rv = str_at(v, {"metadata", "resourceVersion"});
    }
    bg.spawn(run_watch_task(st, rv), "run watch");
    bg.spawn(watchdog_task(st), "watchdog");
    if (st.o.warmup > 0) {
      std::cerr << "warm-up: " << st.o.warmup << " Runs\n";
      co_await run_batch(st, 0, st.o.warmup, false);
    }
    std::cerr << "floors: " << st.o.floor_samples << " Lease create/patch round trips, " << st.o.floor_samples
              << " direct spawns\n";
    if (!st.stopping) err = co_await measure_api_floor(st, rep);
    if (!err && !st.stopping) err = measure_spawn_floor(st.o, rep);
  }
  if (!err && !st.stopping) {
    std::cerr << "measuring: " << st.o.runs << " Runs, concurrency " << st.o.concurrency << "\n";
    co_await run_batch(st, st.o.warmup, st.o.warmup + st.o.runs, true);
    std::set<std::string> want;
    for (const auto& [name, tr] : st.runs)
      if (tr.measured && tr.last && tr.terminal_seen) want.insert(tr.last->metadata.uid);
    auto timings = co_await fetch_timings(s, st.o, rep, std::move(want));
    rep.warmup = static_cast<std::size_t>(st.o.warmup);
    build_hops(st, timings, rep);
    bench::finish(rep);
  }
  st.stopping = true;
  co_await bg.close();
  co_await cleanup(st);
  if (st.interrupted) co_return 130;
  if (err) co_return fail(*err);
  if (!st.o.plot.empty()) {
    std::ofstream out(st.o.plot);
    out << bench::render_svg(rep);
    if (!out) {
      std::cerr << "Error: cannot write " << st.o.plot << "\n";
      rc = 1;
    } else {
      std::cerr << "plot written to " << st.o.plot << "\n";
    }
  }
  if (st.o.json)
    print_json(bench::to_json(rep));
  else
    std::cout << bench::render_table(rep);
  if (rep.failed > 0) rc = 1;
  co_return rc;
}

std::optional<double> parse_seconds(const std::string& s) {
  if (s.empty()) return std::nullopt;
  auto d = parse_go_duration(s);
  if (d) return std::chrono::duration<double>(*d).count();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != nullptr && *end == '\0' && v >= 0) return v;
  return std::nullopt;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  cxxopts::Options o("krt bench",
                     "Measure the latency of Runs end to end, hop by hop, against measured floors.\n\n"
                     "Creates a namespace krt-bench-XXX with its own Runtime, waits for its pods, runs warm-up "
                     "Runs, measures the floors (API create/patch -> watch round trips on Leases, the same command "
                     "spawned directly on this machine), then runs the measured Runs at a fixed concurrency and "
                     "reports p50/p90/p99/max per hop, throughput and peak concurrency. Deletes what it created "
                     "unless --keep.\n\nUsage: krt bench [flags] [-- command [args...]]\n"
                     "Examples:\n  krt bench --runs 1000 -c 50\n  krt bench --runs 200 -c 50 --capacity 8 "
                     "--sleep 100ms\n  krt bench -r python -- -c 'print(1)'\n  krt bench -o json --plot bench.svg");
  add_global_flags(o, "table or json");
  o.add_options("Bench")("runs", "Measured Runs", cxxopts::value<int>()->default_value("100"))(
      "c,concurrency", "Runs in flight at once", cxxopts::value<int>()->default_value("10"))(
      "warmup", "Runs before measuring (not counted)", cxxopts::value<int>()->default_value("10"))(
      "r,runtime", "Built-in Runtime to bench: bash or python", cxxopts::value<std::string>()->default_value("bash"))(
      "image", "Runtime Server image (default: the built-in one of --runtime)", cxxopts::value<std::string>())(
      "replicas", "Runtime pods", cxxopts::value<int>()->default_value("1"))(
      "capacity", "Runs per pod (default: enough for --concurrency)", cxxopts::value<int>()->default_value("0"))(
      "sleep", "Workload: sleep this long in each Run (Go duration or seconds, e.g. 100ms)",
      cxxopts::value<std::string>())("f,file", "Run this script (spec.source.inline) instead of a command",
                                     cxxopts::value<std::string>())(
      "floor-samples", "Samples of each floor", cxxopts::value<int>()->default_value("100"))(
      "run-timeout", "Give up on a Run after this long", cxxopts::value<std::string>()->default_value("2m"))(
      "setup-timeout", "Give up waiting for the Runtime's pods after this long",
      cxxopts::value<std::string>()->default_value("3m"))(
      "keep", "Keep the namespace (or, with -n, the Runs and Runtime) afterwards")(
      "plot", "Write latency CDFs and throughput over time to this SVG file", cxxopts::value<std::string>());
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 0, 1 << 20, "")) return rc;
  bench_options b;
  b.runs = args["runs"].as<int>();
  b.concurrency = args["concurrency"].as<int>();
  b.warmup = args["warmup"].as<int>();
  b.runtime = args["runtime"].as<std::string>();
  b.replicas = args["replicas"].as<int>();
  b.capacity = args["capacity"].as<int>();
  b.floor_samples = args["floor-samples"].as<int>();
  b.keep = args.count("keep") > 0;
  b.command = pos;
  if (args.count("image")) b.image = args["image"].as<std::string>();
  if (args.count("plot")) b.plot = args["plot"].as<std::string>();
  if (b.runs < 1) return usage_error("--runs must be at least 1", "krt bench");
  if (b.concurrency < 1) return usage_error("--concurrency must be at least 1", "krt bench");
  if (b.warmup < 0) return usage_error("--warmup must not be negative", "krt bench");
  if (b.replicas < 1) return usage_error("--replicas must be at least 1", "krt bench");
  if (b.capacity < 0) return usage_error("--capacity must not be negative", "krt bench");
  if (b.floor_samples < 1) return usage_error("--floor-samples must be at least 1", "krt bench");
  if (b.runtime != "bash" && b.runtime != "python")
    return usage_error("--runtime must be bash or python (the built-in Runtimes; --image runs another server)",
                       "krt bench");
  if (args.count("sleep")) {
    auto v = parse_seconds(args["sleep"].as<std::string>());
    if (!v) return usage_error("--sleep takes a duration such as 100ms, 1.5s or 0.1", "krt bench");
    b.sleep_s = *v;
  }
  if (b.runtime == "python" && b.sleep_s > 0 && (!b.command.empty() || args.count("file")))
    return usage_error("--sleep with -r python replaces the command: give one or the other", "krt bench");
  for (auto [flag, out] : {std::pair{"run-timeout", &b.run_timeout}, std::pair{"setup-timeout", &b.setup_timeout}}) {
    auto v = parse_seconds(args[flag].as<std::string>());
    if (!v || *v < 1) return usage_error(std::string("--") + flag + " takes a duration of at least 1s", "krt bench");
    *out = std::chrono::seconds(static_cast<long>(*v));
  }
  if (args.count("file")) {
    b.script_path = args["file"].as<std::string>();
    std::ifstream in(b.script_path);
    if (!in) return fail("cannot read " + b.script_path);
    b.script.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (b.script.empty()) return fail(b.script_path + " is empty");
  }
  auto f = args["output"].as<std::string>();
  if (f == "json") b.json = true;
  else if (f != "table" && !f.empty())
    return fail("unsupported output format \"" + f + "\" (use table or json)");
  if (args.count("namespace")) {
    b.ns = args["namespace"].as<std::string>();
    b.own_namespace = false;
  } else {
    b.ns = "krt-bench-" + random_suffix();
  }
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, bench_main(*s, std::move(b)));
}

}  // namespace krt::cli
