// krt bench: the latency harness (docs/benchmarks.md). Creates its own
// namespace and Runtime, measures the floors (API round trips on Leases, the
// command spawned directly), runs warm-up and measured Runs at a fixed
// concurrency, reads every hop from the Runs' own microsecond timestamps and
// runtimed's per-Run timings (GET /timings behind pods/proxy), and prints a
// table, JSON or an SVG plot. Deletes what it created unless --keep.
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "commands.hpp"
#include "common.hpp"
#include "krt_build_info.hpp"
#include "krt_commit.hpp"
#include "lib/api/phase.hpp"
#include "lib/core/time.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/watch.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/task_group.hpp"
#include "runs.hpp"
#include "servers/engine/command.hpp"
#include "tools/krt/bench/report.hpp"
#include "tools/krt/bench/spawn.hpp"

namespace krt::cli {

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct bench_options {
  int runs = 100;
  int concurrency = 10;
  int warmup = 10;
  std::string runtime = "bash";
  std::string image;
  int replicas = 1;
  int capacity = 0;  // 0: enough for the concurrency
  double sleep_s = 0;
  std::vector<std::string> command;
  std::string script;  // -f: spec.source.inline
  std::string script_path;
  int floor_samples = 100;
  std::chrono::seconds run_timeout{120};
  std::chrono::seconds setup_timeout{180};
  bool keep = false;
  bool own_namespace = true;
  std::string ns;
  std::string plot;
  bool json = false;
};

double ms_between(wall_time a, wall_time b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

std::string random_suffix() {
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 5; ++i) s += alphabet[rd() % 36];
  return s;
}

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

// What the Run executes: spec.mode.task.args (and the script, if any).
std::vector<std::string> run_args(const bench_options& o) {
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

// ------------------------------------------------------------------ state

struct tracked {
  int index = 0;
  bool measured = false;
  wall_time sent{}, returned{};
  bool created = false;
  std::string create_error;
  std::optional<wall_time> terminal_seen;
  std::shared_ptr<const api::run> last;
  reactor::event* done = nullptr;
  std::chrono::steady_clock::time_point deadline{};
  bool timed_out = false;
};

struct bench_state {
  session* s = nullptr;
  bench_options o;
  std::string tag, prefix;
  std::map<std::string, tracked> runs;
  bool stopping = false;
  bool interrupted = false;  // SIGINT/SIGTERM: stop, clean up, exit 130
  bool created_runtime = false;
  // Lease floor: the watch reports (name, type) pairs here.
  std::string lease_want;
  kube::event_type lease_want_type = kube::event_type::added;
  std::optional<wall_time> lease_seen;
  reactor::event* lease_event = nullptr;
};

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

awaitable<void> lease_watch_task(bench_state& st, std::unique_ptr<kube::body_stream> body) {
  kube::watch_stream ws(std::move(body), kube::codec_of<kube::lease>());
  for (;;) {
    auto ev = co_await ws.next(std::chrono::minutes(5));
    if (!ev || !*ev) co_return;
    auto& e = **ev;
    if (e.type != kube::event_type::added && e.type != kube::event_type::modified) continue;
    auto l = kube::object_as<kube::lease>(e.object);
    if (l && l->metadata.name == st.lease_want && e.type == st.lease_want_type && !st.lease_seen) {
      st.lease_seen = wall_now();
      if (st.lease_event) st.lease_event->set();
    }
  }
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

awaitable<kube::result<std::string>> create_or_fail(session& s, const kube::resource& r, std::string ns,
                                                    std::string body) {
  co_return co_await s.client->create(r, ns, std::move(body));
}

bool is_tty() { return ::isatty(2) == 1; }

// Waits for `replicas` Runtime pods with Ready and a runtimed heartbeat, with
// a progress bar on stderr.
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
      boost::system::error_code ec;
      auto v = bj::parse(*body, ec);
      if (!ec)
        if (const auto* items = at_path(v, {"items"}); items != nullptr && items->is_array())
          for (const auto& p : items->get_array()) {
            ++seen;
            bool r1 = false, r2 = false;
            if (const auto* cs = at_path(p, {"status", "conditions"}); cs != nullptr && cs->is_array())
              for (const auto& c : cs->get_array()) {
                auto type = str_at(c, {"type"});
                bool yes = str_at(c, {"status"}) == "True";
                if (type == "Ready") r1 = yes;
                if (type == "kruntimes.io/RuntimedReady") r2 = yes;
              }
            if (r1 && r2) ++ready;
            else last_state = str_at(p, {"metadata", "name"}) + ": " + or_dash(str_at(p, {"status", "phase"}));
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

// Floor (a): create → ADDED and merge patch → MODIFIED of Leases in the bench
// namespace, one at a time.
awaitable<std::optional<std::string>> measure_api_floor(bench_state& st, bench::report& rep) {
  session& s = *st.s;
  kube::list_options lo;
  lo.timeout_seconds = 600;
  auto body = co_await s.client->watch(kube::resources::leases, st.o.ns, lo);
  if (!body) co_return "cannot watch Leases for the API floor: " + describe(s, body.error());
  auto ex = co_await asio::this_coro::executor;
  reactor::task_group g(ex);
  reactor::event ev(ex);
  st.lease_event = &ev;
  g.spawn(lease_watch_task(st, std::move(*body)), "lease watch");
  std::vector<double> create_rtt, patch_rtt, patch_write, create_call;
  std::optional<std::string> err;
  std::vector<std::string> names;
  for (int i = 0; i < st.o.floor_samples && !err && !st.stopping; ++i) {
    std::string name = st.prefix + "floor-" + std::to_string(i);
    names.push_back(name);
    json::writer w;
    w.begin_object().field("apiVersion", "coordination.k8s.io/v1").field("kind", "Lease");
    w.key("metadata").begin_object().field("name", name).end_object();
    w.key("spec").begin_object().field("holderIdentity", "krt-bench").field("leaseDurationSeconds", 15).end_object();
    w.end_object();
    st.lease_want = name;
    st.lease_want_type = kube::event_type::added;
    st.lease_seen.reset();
    ev.reset();
    auto t0 = wall_now();
    auto c = co_await s.client->create(kube::resources::leases, st.o.ns, w.take());
    auto t1 = wall_now();
    if (!c) {
      err = "creating a Lease for the API floor: " + describe(s, c.error());
      break;
    }
    co_await ev.wait();
    if (!st.lease_seen) break;  // interrupted
    create_rtt.push_back(ms_between(t0, *st.lease_seen));
    create_call.push_back(ms_between(t0, t1));
    st.lease_want_type = kube::event_type::modified;
    st.lease_seen.reset();
    ev.reset();
    std::string patch = R"({"spec":{"holderIdentity":"krt-bench-)" + std::to_string(i) + R"("}})";
    auto t2 = wall_now();
    auto p = co_await s.client->patch(kube::resources::leases, st.o.ns, name, kube::patch_type::merge, patch);
    auto t3 = wall_now();
    if (!p) {
      err = "patching a Lease for the API floor: " + describe(s, p.error());
      break;
    }
    co_await ev.wait();
    if (!st.lease_seen) break;
    patch_rtt.push_back(ms_between(t2, *st.lease_seen));
    patch_write.push_back(ms_between(t2, t3));
  }
  st.lease_event = nullptr;
  co_await g.close();
  if (!st.o.own_namespace)
    for (const auto& n : names) (void)co_await s.client->remove(kube::resources::leases, st.o.ns, n);
  rep.create_rtt = bench::summarize(create_rtt);
  rep.patch_rtt = bench::summarize(patch_rtt);
  rep.patch_write = bench::summarize(patch_write);
  bench::hop h1;
  h1.key = "leaseCreate";
  h1.what = "client: create a Lease (floor object), request to response";
  h1.samples = create_call;
  bench::hop h2;
  h2.key = "leasePatch";
  h2.what = "client: merge-patch a Lease, request to response";
  h2.samples = patch_write;
  rep.api.push_back(std::move(h1));
  rep.api.push_back(std::move(h2));
  co_return err;
}

// Floor (b): the command the Runtime Server would start, spawned here.
std::optional<std::string> measure_spawn_floor(const bench_options& o, bench::report& rep) {
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec) / ("krt-bench-" + random_suffix());
  fs::create_directories(dir, ec);
  if (ec) return "cannot create a directory for the spawn floor: " + ec.message();
  bool script = !o.script.empty();
  if (script) {
    std::ofstream(dir / "script") << o.script;
  }
  servers::command_request req;
  req.kind = o.runtime == "python" ? servers::runtime_kind::python : servers::runtime_kind::bash;
  req.interpreter = o.runtime == "python" ? "python3" : "bash";
  req.working_dir = dir.string();
  req.args = run_args(o);
  std::function<bool(const std::string&)> is_file = [script](const std::string&) { return script; };
  auto argv = servers::select_command(req, is_file);
  std::optional<std::string> err;
  if (!argv) {
    err = "the command would not start on the Runtime Server: " + argv.error();
  } else {
    int total = std::clamp(o.runs, 20, 2000);
    auto r = bench::measure_spawn(*argv, dir.string(), o.floor_samples, total, o.concurrency);
    rep.spawn = bench::summarize(r.latencies_ms);
    rep.spawn_rate = r.rate;
    std::string shown;
    for (const auto& a : *argv) shown += (shown.empty() ? "" : " ") + a;
    rep.environment["directSpawnCommand"] = shown;
    if (r.failures > 0)
      rep.notes.push_back("the direct spawn failed " + std::to_string(r.failures) + " times (" + r.error +
                          "); the floor counts only successful spawns");
  }
  fs::remove_all(dir, ec);
  return err;
}

std::string first_line_of_file(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        return v;
      }
    }
  return "";
}

awaitable<void> collect_environment(session& s, bench::report& rep) {
  auto& e = rep.environment;
  e["krtVersion"] = KRT_VERSION;
  e["krtCommit"] = KRT_GIT_COMMIT_TAG;
  e["krtBuildType"] = KRT_BUILD_TYPE;
  e["compiler"] = KRT_COMPILER;
  e["cores"] = std::thread::hardware_concurrency();
  e["cpu"] = first_line_of_file("/proc/cpuinfo", "model name");
  struct utsname u {};
  if (::uname(&u) == 0) e["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  e["server"] = s.cfg.server;
  std::string git_version;
  auto v = co_await s.client->request(raw_request(s, "GET", "/version"));
  if (v) {
    boost::system::error_code ec;
    auto j = bj::parse(*v, ec);
    if (!ec) git_version = str_at(j, {"gitVersion"});
  }
  e["serverVersion"] = git_version;
  std::string kind = "kubernetes";
  if (git_version.find("-krt") != std::string::npos) kind = "krt-local";
  else if (git_version.find("k3s") != std::string::npos) kind = "k3s";
  else if (git_version.find("kind") != std::string::npos) kind = "kind";
  e["clusterKind"] = kind;
  e["startedAt"] = format_rfc3339_micro(wall_now());
}

bool loopback_server(const std::string& url) {
  return url.find("://127.") != std::string::npos || url.find("://localhost") != std::string::npos ||
         url.find("://[::1]") != std::string::npos;
}

awaitable<bool> fetch_timings_once(session& s, const bench_options& o, bench::report& rep,
                                   std::map<std::string, std::uint64_t>& next, std::map<std::string, bj::object>& out,
                                   bool first);

// runtimed's per-Run timings from every pod of the Runtime, by Run UID.
// runtimed records a Run once its terminal write is acknowledged, which the
// client's watch may see first: read again (from where each pod's reply
// ended) until every UID in `want` has a record, for up to 3 s.
awaitable<std::map<std::string, bj::object>> fetch_timings(session& s, const bench_options& o, bench::report& rep,
                                                           std::set<std::string> want) {
  std::map<std::string, bj::object> out;
  std::map<std::string, std::uint64_t> next;  // per pod
  auto deadline = std::chrono::steady_clock::now() + 3s;
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int round = 0;; ++round) {
    bool ok = co_await fetch_timings_once(s, o, rep, next, out, round == 0);
    for (auto it = want.begin(); it != want.end();) it = out.count(*it) ? want.erase(it) : std::next(it);
    if (!ok || want.empty() || std::chrono::steady_clock::now() > deadline) break;
    t.expires_after(50ms);
    auto [ec] = co_await t.async_wait(use_nothrow);
    if (ec) break;
  }
  if (!want.empty())
    rep.notes.push_back("runtimed timings missing for " + std::to_string(want.size()) +
                        " Run(s): claim-to-execute, execution and the rt.* steps leave them out");
  co_return out;
}

// One read of every pod's /timings after `next`; false when it cannot read
// any (the reasons go to the notes on the first round).
awaitable<bool> fetch_timings_once(session& s, const bench_options& o, bench::report& rep,
                                   std::map<std::string, std::uint64_t>& next, std::map<std::string, bj::object>& out,
                                   bool first) {
  kube::list_options lo;
  lo.label_selector = "runtime=" + o.runtime;
  auto body = co_await s.client->list(kube::resources::pods, o.ns, lo);
  if (!body) {
    if (first) rep.notes.push_back("cannot list the Runtime's pods for runtimed timings: " + describe(s, body.error()));
    co_return false;
  }
  boost::system::error_code ec;
  auto v = bj::parse(*body, ec);
  std::vector<std::string> pods;
  if (!ec)
    if (const auto* items = at_path(v, {"items"}); items != nullptr && items->is_array())
      for (const auto& p : items->get_array()) pods.push_back(str_at(p, {"metadata", "name"}));
  bool any = false;
  for (const auto& pod : pods) {
    std::string target = "/api/v1/namespaces/" + o.ns + "/pods/" + pod + ":" + std::to_string(runtimed_http_port) +
                         "/proxy/timings?after=" + std::to_string(next[pod]);
    auto r = co_await s.client->request(raw_request(s, "GET", target));
    if (!r) {
      if (first)
        rep.notes.push_back("runtimed timings of pod " + pod + " unavailable (" + describe(s, r.error()) +
                            "): claim-to-execute and execution are missing for its Runs");
      continue;
    }
    auto j = bj::parse(*r, ec);
    if (ec || !j.is_object()) {
      if (first) rep.notes.push_back("runtimed timings of pod " + pod + " are not JSON");
      continue;
    }
    any = true;
    if (const auto* n = j.get_object().if_contains("next"); n != nullptr && n->is_number())
      next[pod] = n->to_number<std::uint64_t>();
    if (const auto* d = j.get_object().if_contains("dropped"); d != nullptr && d->is_number())
      rep.timings_dropped += d->to_number<std::size_t>();
    if (const auto* runs = j.get_object().if_contains("runs"); runs != nullptr && runs->is_array())
      for (const auto& t : runs->get_array())
        if (t.is_object()) out[str_at(t, {"uid"})] = t.get_object();
  }
  co_return any;
}

std::optional<wall_time> time_at(const bj::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return parse_rfc3339(std::string_view(v->get_string()));
}

void build_hops(const bench_state& st, const std::map<std::string, bj::object>& timings, bench::report& rep) {
  bench::hop schedule, dispatch, c2e, execution, complete, create;
  schedule.key = "schedule";
  schedule.what = "create sent -> Scheduled condition (scheduler's assignment)";
  schedule.floor_name = "create";
  dispatch.key = "dispatch";
  dispatch.what = "create sent -> status.startTime (runtimed's claim)";
  dispatch.floor_name = "create+patch";
  c2e.key = "claimToExecute";
  c2e.what = "claim (startTime) -> Execute returned, process started (runtimed timings)";
  c2e.floor_name = "spawn";
  execution.key = "execution";
  execution.what = "process started -> runtimed saw it finish (runtimed timings)";
  execution.floor_name = "spawn";
  complete.key = "complete";
  complete.what = "create sent -> the client's watch shows a terminal phase";
  complete.floor_name = "critical path";
  create.key = "createRun";
  create.what = "client: create a Run, request to response";
  // runtimed's own steps (docs/runtimed.md, GET /timings).
  std::vector<bench::hop> steps(6);
  const char* step_keys[] = {"rt.claimWrite", "rt.prepare", "rt.executeCall", "rt.outputs", "rt.terminalWrite",
                             "rt.toClient"};
  const char* step_what[] = {"claim decided -> claim write acknowledged",
                             "claim decided -> workspace prepared (alongside the claim write)",
                             "workspace prepared -> Execute returned",
                             "runtimed saw the exit -> terminal status decided (outputs, artifacts)",
                             "terminal status decided -> its write acknowledged",
                             "terminal status decided -> the client's watch saw it (write 4 + hop 3)"};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    steps[i].key = step_keys[i];
    steps[i].what = step_what[i];
  }
  std::optional<wall_time> first_sent, last_done;
  std::vector<std::pair<double, double>> running;
  std::vector<wall_time> done_times;
  for (const auto& [name, tr] : st.runs) {
    if (!tr.measured) continue;
    ++rep.measured;
    if (!tr.created) {
      ++rep.failed;
      if (rep.failures.size() < 5) rep.failures.push_back(name + ": create failed: " + tr.create_error);
      continue;
    }
    create.samples.push_back(ms_between(tr.sent, tr.returned));
    if (!first_sent || tr.sent < *first_sent) first_sent = tr.sent;
    if (!tr.terminal_seen || !tr.last) {
      ++rep.failed;
      if (rep.failures.size() < 5)
        rep.failures.push_back(name + ": no terminal phase within " + std::to_string(st.o.run_timeout.count()) +
                               " s (phase " +
                               (tr.last ? std::string(api::to_string(api::phase_of(tr.last->status))) : "unknown") +
                               ")");
      continue;
    }
    const api::run& r = *tr.last;
    auto ph = api::phase_of(r.status);
    if (ph == api::phase::succeeded) {
      ++rep.succeeded;
    } else {
      ++rep.failed;
      if (rep.failures.size() < 5)
        rep.failures.push_back(name + ": " + std::string(api::to_string(ph)) + ": " + r.status.message);
    }
    if (!last_done || *tr.terminal_seen > *last_done) last_done = *tr.terminal_seen;
    done_times.push_back(*tr.terminal_seen);
    complete.samples.push_back(ms_between(tr.sent, *tr.terminal_seen));
    for (const auto& c : r.status.conditions)
      if (c.type == "Scheduled" && c.last_transition_time)
        schedule.samples.push_back(ms_between(tr.sent, *c.last_transition_time));
    if (r.status.start_time) dispatch.samples.push_back(ms_between(tr.sent, *r.status.start_time));
    if (r.status.start_time && r.status.completion_time)
      running.emplace_back(static_cast<double>(r.status.start_time->time_since_epoch().count()),
                           static_cast<double>(r.status.completion_time->time_since_epoch().count()));
    auto t = timings.find(r.metadata.uid);
    if (t != timings.end()) {
      auto claim = time_at(t->second, "claim");
      auto started = time_at(t->second, "execStarted");
      auto exited = time_at(t->second, "exited");
      if (claim && started) c2e.samples.push_back(ms_between(*claim, *started));
      if (started && exited) execution.samples.push_back(ms_between(*started, *exited));
      auto claimed = time_at(t->second, "claimed");
      auto prepared = time_at(t->second, "prepared");
      auto completion = time_at(t->second, "completion");
      auto completed = time_at(t->second, "completed");
      if (claim && claimed) steps[0].samples.push_back(ms_between(*claim, *claimed));
      if (claim && prepared) steps[1].samples.push_back(ms_between(*claim, *prepared));
      if (prepared && started) steps[2].samples.push_back(ms_between(*prepared, *started));
      if (exited && completion) steps[3].samples.push_back(ms_between(*exited, *completion));
      if (completion && completed) steps[4].samples.push_back(ms_between(*completion, *completed));
      if (completion) steps[5].samples.push_back(ms_between(*completion, *tr.terminal_seen));
    }
  }
  rep.hops = {std::move(schedule), std::move(dispatch), std::move(c2e), std::move(execution), std::move(complete)};
  rep.api.insert(rep.api.begin(), std::move(create));
  rep.breakdown = std::move(steps);
  rep.peak_running = bench::peak_overlap(running);
  if (first_sent && last_done && *last_done > *first_sent) {
    rep.window_s = ms_between(*first_sent, *last_done) / 1000;
    rep.throughput = static_cast<double>(done_times.size()) / rep.window_s;
    rep.rate_bucket_s = std::max(0.1, rep.window_s / 30);
    std::vector<double> rel;
    for (auto t : done_times) rel.push_back(ms_between(*first_sent, t) / 1000);
    rep.rate_over_time = bench::rate_series(rel, 0, rep.window_s, rep.rate_bucket_s);
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
    auto r = co_await create_or_fail(s, kube::resources::namespaces, "", w.take());
    if (!r) co_return fail("creating namespace " + st.o.ns + ": " + describe(s, r.error()));
  }
  int rc = 0;
  std::optional<std::string> err;
  auto ex = co_await asio::this_coro::executor;
  reactor::task_group bg(ex);
  bg.spawn(signal_task(st), "signals");
  {
    auto r = co_await create_or_fail(s, api::runtimes, st.o.ns, runtime_body(st.o));
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
                     "Creates a namespace krt-bench-XXXXX with its own Runtime, waits for its pods, runs warm-up "
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
  auto s = open_session(args, local_kubeconfig_fallback());
  if (!s) return 1;
  return run_main(*s, bench_main(*s, std::move(b)));
}

}  // namespace krt::cli
