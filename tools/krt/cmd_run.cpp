// krt run [flags] -- <args...>: creates a Run, then (unless --detach) follows
// it to the end with a watch, streaming its output, and exits with the Run's
// exit code.
//
// Exit code after waiting: the process exit code when known (an exit_code in
// the runtimed log lines, or "exit code N" in status.message); otherwise 0
// for Succeeded and 1 for Failed, Timeout and Cancelled. 130 when interrupted
// (the Run keeps going). 1 for every error before the Run ends.
#include <signal.h>
#include <boost/asio/signal_set.hpp>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/phase.hpp"
#include "lib/api/validation.hpp"
#include "lib/reactor/deadline.hpp"
#include "lib/reactor/event.hpp"
#include "runs.hpp"

namespace krt::cli {

namespace {

std::string random_name() {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937 gen(rd());
  std::uniform_int_distribution<int> pick(0, 35);
  std::string s = "run-";
  for (int i = 0; i < 8; ++i) s += alphabet[pick(gen)];
  return s;
}

struct follow_state {
  std::string name;
  std::string ns;
  std::string uid;
  api::run last;
  bool tty = false;
  std::string progress;       // the last progress text shown
  bool progress_drawn = false;  // a \r line is on the terminal
  bool terminal = false;
  bool deleted = false;
  bool aborted = false;
  std::string pod;
  bool logs_started = false;
  std::unique_ptr<reactor::event> wake;        // pod known, or the end
  std::unique_ptr<reactor::event> logs_done;
  log_stream_state out_st, err_st;
  std::optional<int> exit_code;
};

void clear_progress(follow_state& st) {
  if (st.tty && st.progress_drawn) {
    std::cerr << "\r\033[K" << std::flush;
    st.progress_drawn = false;
  }
}

void show_progress(follow_state& st, const api::run& r) {
  auto p = api::phase_of(r.status);
  std::string text;
  switch (p) {
    case api::phase::pending:
      // The scheduler says why it waits ("waiting for available runtime pods ...").
      text = r.status.message.empty() ? "Pending..." : "Pending: " + r.status.message + "...";
      break;
    case api::phase::scheduled:
      text = "Scheduled to " + r.status.assigned_pod + "...";
      break;
    case api::phase::running:
      text = "Running on " + r.status.assigned_pod + "...";
      break;
    case api::phase::ready:
      text = "Ready on " + r.status.assigned_pod + "...";
      break;
    default:
      return;
  }
  if (text == st.progress) return;
  st.progress = text;
  if (st.tty) {
    // Once output streams, the progress line would fight with it.
    if (st.logs_started) return;
    std::cerr << "\r\033[K" << text << std::flush;
    st.progress_drawn = true;
  } else {
    std::cerr << text << std::endl;
  }
}

// Reads the Run's output until it ends: follow streams while it runs, then
// whatever is left after it ended (the endpoint without follow, else the
// runtimed container log).
awaitable<void> pump_logs(session& s, follow_state& st) {
  using namespace asio::experimental::awaitable_operators;
  co_await st.wake->wait();
  if (st.pod.empty()) {
    st.logs_done->set();
    co_return;
  }
  bool complete = false;
  while (!st.terminal) {
    if (!st.logs_started) clear_progress(st);
    st.logs_started = true;
    auto both = co_await (proxy_log(s, st.ns, st.pod, st.uid, "stdout", true, -1, std::cout, st.out_st) &&
                          proxy_log(s, st.ns, st.pod, st.uid, "stderr", true, -1, std::cerr, st.err_st));
    if (std::get<0>(both) && std::get<1>(both)) {
      complete = true;
      break;
    }
    if (st.terminal) break;
    // Not reachable yet (or the proxy gave up on a long Run): try again
    // shortly, continuing after what was printed.
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
    co_await t.async_wait(use_nothrow);
  }
  if (!complete && !st.aborted) {
    clear_progress(st);
    auto out = co_await proxy_log(s, st.ns, st.pod, st.uid, "stdout", false, -1, std::cout, st.out_st);
    kube::result<void> err;
    if (out) err = co_await proxy_log(s, st.ns, st.pod, st.uid, "stderr", false, -1, std::cerr, st.err_st);
    if (!out || !err) {
      auto fb = co_await runtimed_container_log(s, st.ns, st.pod, st.uid, -1, st.out_st, st.err_st);
      if (fb && fb->exit_code) st.exit_code = fb->exit_code;
    }
  }
  st.logs_done->set();
}

awaitable<void> follow_run(session& s, follow_state& st, std::string rv) {
  run_handler h = [&st](kube::event_type t, const api::run& r) {
    st.last = r;
    if (t == kube::event_type::deleted) {
      st.deleted = true;
      st.terminal = true;
      st.wake->set();
      return true;
    }
    show_progress(st, r);
    auto p = api::phase_of(r.status);
    if (!r.status.assigned_pod.empty() && (p == api::phase::running || p == api::phase::ready || api::is_terminal(p)))
      st.pod = r.status.assigned_pod;
    if (api::is_terminal(p)) st.terminal = true;
    if (!st.pod.empty() || st.terminal) st.wake->set();
    return st.terminal;
  };
  if (h(kube::event_type::added, st.last)) {
    // Already over.
  } else {
    auto res = co_await watch_runs(s, st.ns, st.name, rv, h);
    if (!res) {
      clear_progress(st);
      std::cerr << "Error: watching run " << st.name << ": " << describe(s, res.error()) << "\n";
      st.aborted = true;
      st.terminal = true;
      st.wake->set();
    }
  }
  // Give the output a moment to drain after the end, then stop reading.
  bool drained = co_await reactor::with_timeout(st.logs_done->wait(), std::chrono::seconds(10));
  if (!drained) {
    if (st.out_st.open) st.out_st.open->close();
    if (st.err_st.open) st.err_st.open->close();
    co_await st.logs_done->wait();
  }
}

awaitable<int> run_and_follow(session& s, std::string body, std::string name, bool generated, bool detach) {
  using namespace asio::experimental::awaitable_operators;
  kube::result<std::string> created = co_await s.client->create(api::runs, s.ns, body);
  for (int i = 0; generated && i < 3 && !created && created.error().code == kube::errc::already_exists; ++i) {
    auto old_name = name;
    name = random_name();
    auto at = body.find("\"name\":\"" + old_name + "\"");
    if (at != std::string::npos) body.replace(at, 9 + old_name.size(), "\"name\":\"" + name + "\"");
    created = co_await s.client->create(api::runs, s.ns, body);
  }
  if (!created) co_return fail(s, created.error());
  auto doc = decode_run_doc(std::move(*created));
  if (!doc) co_return fail(s, doc.error());
  if (detach) {
    std::cout << "Task " << name << " created" << std::endl;
    co_return 0;
  }
  std::cerr << "Task " << name << " created" << std::endl;
  follow_state st;
  st.name = name;
  st.ns = s.ns;
  st.uid = doc->run.metadata.uid;
  st.last = doc->run;
  st.tty = ::isatty(2) != 0;
  auto ex = co_await asio::this_coro::executor;
  st.wake = std::make_unique<reactor::event>(ex);
  st.logs_done = std::make_unique<reactor::event>(ex);
  co_await (follow_run(s, st, doc->run.metadata.resource_version) && pump_logs(s, st));
  clear_progress(st);
  std::cout.flush();
  if (st.aborted) co_return 1;
  if (st.deleted) co_return fail("run " + name + " was deleted before it finished");
  const auto& r = st.last;
  auto p = api::phase_of(r.status);
  if (p == api::phase::succeeded) co_return st.exit_code.value_or(0);
  if (!r.status.message.empty()) std::cerr << r.status.message << "\n";
  std::string what = p == api::phase::timeout ? "run timed out" : p == api::phase::cancelled ? "run cancelled" : "run failed";
  std::cerr << "Error: " << what << "\n";
  auto code = st.exit_code ? st.exit_code : exit_code_in(r.status.message);
  co_return code && *code != 0 ? *code : 1;
}

std::string read_file(const std::string& path, bool& ok) {
  ok = true;
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ok = false;
    return {};
  }
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Quotes words for bash so that `bash -c` sees exactly these words.
static std::string shell_join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    bool plain = !w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                   "_-./=:,+@%") == std::string::npos;
    if (plain) {
      out += w;
      continue;
    }
    out += '\'';
    for (char c : w) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

int cmd_run(int argc, char** argv) {
  // Everything after "--" is the command, never flags.
  std::vector<char*> own;
  std::vector<std::string> command;
  bool after = false;
  for (int i = 0; i < argc; ++i) {
    if (after) {
      command.emplace_back(argv[i]);
    } else if (i > 0 && std::string_view(argv[i]) == "--") {
      after = true;
    } else {
      own.push_back(argv[i]);
    }
  }
  cxxopts::Options o("krt run",
                     "Create a Run and follow it to the end, streaming its output; exits with its exit code.\n"
                     "  krt run -- echo hello\n"
                     "  krt run -r python -f script.py --env KEY=VALUE\n"
                     "  krt run --detach --timeout 5m -- ./long-job.sh");
  o.custom_help("[flags] -- <command> [args...]");
  o.add_options()("r,runtime", "The Runtime to run on", cxxopts::value<std::string>()->default_value("bash"))(
      "f,file", "A script to run as the inline source (- reads stdin)", cxxopts::value<std::string>())(
      "env", "An environment variable KEY=VALUE (repeatable; a bare KEY gets an empty value)",
      cxxopts::value<std::vector<std::string>>())("timeout", "Limit per attempt (Go duration: 30s, 5m)",
                                                  cxxopts::value<std::string>())(
      "retry-attempts", "Attempts in total, 1-100 (sets spec.retryPolicy.maxAttempts)", cxxopts::value<int>())(
      "retry-backoff", "Pause between attempts (default 1s with --retry-attempts)", cxxopts::value<std::string>())(
      "entrypoint", "The program to run, relative to the source root", cxxopts::value<std::string>())(
      "handler", "Function mode: the handler to serve (no command args)", cxxopts::value<std::string>())(
      "repo-url", "Fetch the source from this Git repository", cxxopts::value<std::string>())(
      "commit-sha", "The commit of --repo-url to check out", cxxopts::value<std::string>())(
      "name", "The Run's name (default run-<8 random characters>)", cxxopts::value<std::string>())(
      "wait", "Wait for the Run to finish (the default)")("detach", "Print the Run's name and exit at once")(
      "raw-args", "bash runtime: send the command's words as separate args (run as script lines) instead of "
                  "one quoted command line");
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, static_cast<int>(own.size()), own.data(), args, rc, pos, 0, 100000, "")) return rc;
  // Arguments before "--" that are not flags also belong to the command.
  command.insert(command.begin(), pos.begin(), pos.end());
  auto prog = o.program();
  bool has_file = args.count("file") > 0, has_repo = args.count("repo-url") > 0;
  bool has_entry = args.count("entrypoint") > 0, has_handler = args.count("handler") > 0;
  const char* because = " because the file is the program that runs; put the script's arguments in the file";
  if (has_file && has_repo) return usage_error("-f/--file and --repo-url are mutually exclusive", prog);
  if (has_entry && has_handler) return usage_error("--entrypoint cannot be used with --handler", prog);
  if (!command.empty() && has_handler) return usage_error("command args cannot be used with --handler", prog);
  if (has_entry && has_file) return usage_error(std::string("--entrypoint cannot be used with --file") + because, prog);
  if (!command.empty() && has_file)
    return usage_error(std::string("command args cannot be used with --file") + because, prog);
  if (args.count("commit-sha") && !has_repo) return usage_error("--commit-sha requires --repo-url", prog);
  if (args.count("wait") && args.count("detach")) return usage_error("--wait and --detach are mutually exclusive", prog);
  if (!has_file && !has_repo && !has_handler && !has_entry && command.empty())
    return usage_error("nothing to run: give a command after --, a script with -f/--file, or --repo-url", prog);

  api::run r;
  bool generated = !args.count("name");
  r.metadata.name = generated ? random_name() : args["name"].as<std::string>();
  r.spec.runtime = args["runtime"].as<std::string>();
  if (has_file) {
    bool ok = false;
    std::string path = args["file"].as<std::string>();
    std::string text = read_file(path, ok);
    if (!ok) return fail("cannot read " + path + ": no such file or not readable");
    if (!text.empty()) {
      api::run_source src;
      src.inline_ = std::move(text);
      r.spec.source = std::move(src);
    }
  }
  if (has_repo) {
    api::run_source src;
    src.repo_url = args["repo-url"].as<std::string>();
    if (args.count("commit-sha")) src.commit_sha = args["commit-sha"].as<std::string>();
    r.spec.source = std::move(src);
  }
  api::run_mode mode;
  if (has_handler) {
    api::function_mode fm;
    fm.handler = args["handler"].as<std::string>();
    mode.function = std::move(fm);
  } else {
    api::task_mode tm;
    if (has_entry) tm.entrypoint = args["entrypoint"].as<std::string>();
    tm.args = command;
    // The bash Runtime Server runs several args as the lines of a script
    // (SPEC §5), so `echo hello` would be two commands. For the bash runtime
    // krt quotes the words into one command line instead, as a shell would
    // have seen them; --raw-args sends them as given (the Go krt's way).
    if (r.spec.runtime == "bash" && !args.count("raw-args") && !has_entry && !has_repo && command.size() > 1 &&
        !((command[0] == "sh" || command[0] == "bash") && command[1] == "-c"))
      tm.args = {shell_join(command)};
    mode.task = std::move(tm);
  }
  r.spec.mode = std::move(mode);
  if (args.count("env")) {
    std::vector<api::env_var> env;
    for (const auto& kv : args["env"].as<std::vector<std::string>>()) {
      api::env_var e;
      auto eq = kv.find('=');
      e.name = kv.substr(0, eq);
      e.value = eq == std::string::npos ? std::string() : kv.substr(eq + 1);
      if (e.name.empty()) return usage_error("--env wants KEY=VALUE, got \"" + kv + "\"", prog);
      env.push_back(std::move(e));
    }
    r.spec.env = std::move(env);
  }
  if (args.count("timeout")) {
    auto t = args["timeout"].as<std::string>();
    auto d = parse_go_duration(t);
    if (!d || d->count() <= 0)
      return usage_error("invalid --timeout \"" + t + "\": use a positive duration like 30s, 5m or 1h30m", prog);
    r.spec.timeout = t;
  }
  if (args.count("retry-attempts")) {
    int n = args["retry-attempts"].as<int>();
    if (n < 1 || n > 100) return usage_error("--retry-attempts must be between 1 and 100", prog);
    api::retry_policy rp;
    rp.max_attempts = n;
    rp.backoff = args.count("retry-backoff") ? args["retry-backoff"].as<std::string>() : "1s";
    auto d = parse_go_duration(*rp.backoff);
    if (!d || d->count() < 0)
      return usage_error("invalid --retry-backoff \"" + *rp.backoff + "\": use a duration like 1s or 500ms", prog);
    r.spec.retry = std::move(rp);
  } else if (args.count("retry-backoff")) {
    return usage_error("--retry-backoff needs --retry-attempts", prog);
  }
  auto s = open_session(args);
  if (!s) return 1;
  r.metadata.namespace_ = s->ns;
  // The server validates too; checking here gives the same answer sooner.
  auto problems = api::validate_run(r);
  if (!problems.empty()) {
    std::string msg = "invalid run: ";
    for (std::size_t i = 0; i < problems.size(); ++i)
      msg += (i ? "; " : "") + problems[i].field + ": " + problems[i].message;
    return fail(msg);
  }
  bool detach = args.count("detach") > 0;
  std::string name = r.metadata.name;
  asio::signal_set sigs(s->ctx, SIGINT, SIGTERM);
  if (!detach) {
    sigs.async_wait([name](const error_code& ec, int) {
      if (ec) return;
      std::cout.flush();
      std::cerr << "\nStopped waiting; run " << name << " keeps going.\n"
                << "  Follow its output: krt logs -f " << name << "\n"
                << "  Cancel it:         krt cancel " << name << "\n"
                << std::flush;
      std::_Exit(130);
    });
  }
  s->on_finish = [&sigs] {
    error_code ignored;
    sigs.cancel(ignored);
  };
  return run_main(*s, run_and_follow(*s, api::encode(r), name, generated, detach));
}

}  // namespace krt::cli
