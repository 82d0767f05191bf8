// krt bench's measuring half (docs/benchmarks.md): the floors, the
// environment facts, runtimed's per-Run timings and the hops built from them.
#include <sys/utsname.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "bench_state.hpp"
#include "krt_build_info.hpp"
#include "krt_commit.hpp"
#include "lib/api/phase.hpp"
#include "lib/json/writer.hpp"
#include "lib/reactor/task_group.hpp"
#include "runs.hpp"
#include "servers/engine/command.hpp"
#include "tools/krt/bench/spawn.hpp"

namespace krt::cli::benchrun {

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

double ms_between(wall_time a, wall_time b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

std::string random_suffix() {
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 5; ++i) s += alphabet[rd() % 36];
  return s;
}

namespace {

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

}  // namespace

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

}  // namespace krt::cli::benchrun
