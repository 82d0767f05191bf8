// runtimed's HTTP port (docs/run-path.md "Logs and artifacts through the API
// server"): /healthz, /readyz, /metrics, /runs/<uid>/log and
// /runs/<uid>/artifacts/<name>.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "lib/api/phase.hpp"
#include "sidecar/daemon.hpp"

namespace krt::runtimed {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The last n lines of text (n < 0: all).
std::string tail_lines(const std::string& text, long n) {
  if (n < 0) return text;
  if (n == 0) return {};
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  std::size_t pos = end;
  long count = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++count == n) break;
    --pos;
  }
  return text.substr(pos);
}

// Log files are read in chunks of this size and written out before the next
// read, so serving a log of any size costs runtimed one chunk per request.
constexpr std::size_t log_chunk = 64 * 1024;

// Where each log file starts for the request, and where it ended when the
// request began (a non-follow request stops there).
struct log_files {
  bool exist = false;
  std::uint64_t out_off = 0, out_end = 0, err_off = 0, err_end = 0;
};

std::uint64_t size_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Offset of the first of the last n lines of the first `size` bytes of
// `path` (n < 0: 0), found by reading backwards a chunk at a time.
std::uint64_t tail_offset(const std::string& path, std::uint64_t size, long n) {
  if (n < 0 || size == 0) return 0;
  if (n == 0) return size;
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::uint64_t end = size;
  std::string buf;
  // A final newline ends the last line rather than starting another.
  in.seekg(static_cast<std::streamoff>(size - 1));
  if (in.get() == '\n') --end;
  long count = 0;
  std::uint64_t pos = end;
  while (pos > 0) {
    std::uint64_t from = pos > log_chunk ? pos - log_chunk : 0;
    buf.resize(static_cast<std::size_t>(pos - from));
    in.clear();
    in.seekg(static_cast<std::streamoff>(from));
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() != static_cast<std::streamsize>(buf.size())) return 0;
    for (std::size_t i = buf.size(); i > 0; --i)
      if (buf[i - 1] == '\n' && ++count == n) return from + i;
    pos = from;
  }
  return 0;
}

// Jobs for the pool, built outside coroutine bodies (GCC 12 and temporaries
// across co_await).
std::function<log_files()> open_logs_job(std::string out_path, std::string err_path, long tail) {
  return [out_path = std::move(out_path), err_path = std::move(err_path), tail]() {
    log_files f;
    f.exist = file_exists(out_path) || file_exists(err_path);
    if (!f.exist) return f;
    f.out_end = size_of(out_path);
    f.err_end = size_of(err_path);
    f.out_off = tail_offset(out_path, f.out_end, tail);
    f.err_off = tail_offset(err_path, f.err_end, tail);
    return f;
  };
}

std::function<std::string()> read_chunk_job(std::string file, std::uint64_t off, std::size_t max) {
  return [file = std::move(file), off, max]() {
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(off));
    std::string buf(max, '\0');
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
    return buf;
  };
}

struct log_request {
  bool want_stdout = true;
  bool want_stderr = true;
  bool follow = false;
  long tail = -1;
};

}  // namespace

awaitable<std::optional<std::string>> daemon::runtime_health() {
  if (!rc_) co_return std::string("runtime server not connected");
  auto [st, resp] = co_await rc_->health(2s, false);
  if (!st.ok()) co_return "runtime server Health failed: " + st.error_message();
  if (!resp.healthy()) co_return "runtime server unhealthy: " + resp.message();
  last_healthy_ = std::chrono::steady_clock::now();
  co_return std::nullopt;
}

awaitable<std::optional<std::string>> daemon::readiness() {
  if (!informer_ || !informer_->has_synced() || !ready_) co_return std::string("runs informer not synced");
  co_return co_await runtime_health();
}

awaitable<void> daemon::handle_http(net::http_request& req, net::response_writer& w) {
  if (req.method != "GET" && req.method != "HEAD") {
    const std::vector<std::pair<std::string, std::string>> allow = {{"Allow", "GET, HEAD"}};
    co_await w.respond(405, "text/plain", "method not allowed\n", allow);
    co_return;
  }
  const std::string& path = req.path;
  if (path == "/healthz" || path == "/livez") {
    co_await w.respond(200, "text/plain; charset=utf-8", "ok");
    co_return;
  }
  if (path == "/readyz" || path == "/runtimez") {
    // /runtimez is the Runtime Server's probe (the controller points the
    // runtime container's liveness and readiness here): its Health answered.
    const bool ready = path == "/readyz";
    std::optional<std::string> why;
    if (ready) {
      why = co_await readiness();
    } else {
      why = co_await runtime_health();
    }
    if (!why) {
      co_await w.respond(200, "text/plain; charset=utf-8", "ok");
    } else {
      co_await w.respond(503, "text/plain; charset=utf-8",
                         std::string(ready ? "[-]ready failed: " : "[-]runtime server failed: ") + *why +
                             (ready ? "\nreadyz check failed\n" : "\n"));
    }
    co_return;
  }
  if (path == "/metrics") {
    co_await w.respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render());
    co_return;
  }
  if (path == "/timings") {
    std::uint64_t after = 0;
    bool bad = false;
    if (auto v = req.query_param("after")) {
      try {
        std::size_t used = 0;
        after = std::stoull(*v, &used);
        bad = used != v->size() || v->front() == '-';
      } catch (const std::exception&) {
        bad = true;  // no co_await inside a handler (GCC 12)
      }
    }
    if (bad) {
      co_await w.respond(400, "text/plain",
                         "after must be a non-negative integer (the \"next\" of a previous reply)\n");
      co_return;
    }
    co_await w.respond(200, "application/json", timings_.render_after(after));
    co_return;
  }
  constexpr std::string_view prefix = "/runs/";
  if (path.rfind(prefix, 0) == 0) {
    std::string rest = path.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos && slash > 0) {
      std::string uid = rest.substr(0, slash);
      std::string what = rest.substr(slash + 1);
      if (what == "log") {
        co_await serve_log(std::move(uid), req, w);
        co_return;
      }
      constexpr std::string_view art = "artifacts/";
      if (what.rfind(art, 0) == 0 && what.size() > art.size()) {
        co_await serve_artifact(std::move(uid), what.substr(art.size()), w);
        co_return;
      }
    }
  }
  co_await w.respond(404, "text/plain",
                     "not found: try /healthz, /readyz, /runtimez, /metrics, /timings, /runs/<uid>/log or "
                     "/runs/<uid>/artifacts/<name>\n");
}

awaitable<void> daemon::serve_log(std::string uid, net::http_request& req, net::response_writer& w) {
  log_request lr;
  if (auto s = req.query_param("stream")) {
    if (*s == "stdout") {
      lr.want_stderr = false;
    } else if (*s == "stderr") {
      lr.want_stdout = false;
    } else if (*s != "all" && !s->empty()) {
      co_await w.respond(400, "text/plain", "stream must be stdout, stderr or all\n");
      co_return;
    }
  }
  if (auto f = req.query_param("follow")) lr.follow = (*f == "true" || *f == "1");
  if (auto t = req.query_param("tail")) {
    bool bad = false;
    try {
      lr.tail = std::stol(*t);
    } catch (const std::exception&) {
      bad = true;  // no co_await inside a handler (GCC 12)
    }
    if (bad) {
      co_await w.respond(400, "text/plain", "tail must be an integer\n");
      co_return;
    }
  }
  auto select = [&](const std::string& out, const std::string& err) {
    std::string text;
    if (lr.want_stdout) text += tail_lines(out, lr.tail);
    if (lr.want_stderr) text += tail_lines(err, lr.tail);
    return text;
  };

  // A finished Run's output is kept from its terminal status (the server's
  // files may already be forgotten while its cleanup runs).
  if (auto f = finished_.get(uid)) {
    co_await w.respond(200, "text/plain; charset=utf-8", select(f->stdout_text, f->stderr_text));
    co_return;
  }
  if (!active_.count(uid)) {
    co_await w.respond(404, "text/plain", "run " + uid + " has no output on this pod\n");
    co_return;
  }

  // Running: the Runtime Server's full log files, streamed a chunk at a time
  // (issue #14 item 8: a 400 MB log once cost runtimed 1.5 GB per request),
  // else its Status output (at most --max-output-bytes each).
  const std::string base = (std::filesystem::path(opts_.workspace_dir) / ".logs" / uid).string();
  const std::string out_path = base + ".stdout";
  const std::string err_path = base + ".stderr";
  std::function<log_files()> open_job = open_logs_job(out_path, err_path, lr.tail);
  auto files = co_await blocking<log_files>(std::move(open_job));
  std::uint64_t out_off = 0, err_off = 0;
  if (!files.exist) {
    std::string out, err;
    if (rc_) {
      auto [st, resp] = co_await rc_->status(uid, 2s);
      if (st.ok()) {
        out = resp.stdout();
        err = resp.stderr();
      }
    }
    if (!lr.follow) {
      co_await w.respond(200, "text/plain; charset=utf-8", select(out, err));
      co_return;
    }
    if (co_await w.start_stream(200, "text/plain; charset=utf-8")) co_return;
    if (co_await w.write(select(out, err))) co_return;
    out_off = out.size();
    err_off = err.size();
  } else {
    if (co_await w.start_stream(200, "text/plain; charset=utf-8")) co_return;
    out_off = files.out_off;
    err_off = files.err_off;
    // The offsets move only by what was sent: a file removed meanwhile (the
    // Run finished and was cleaned up) leaves the rest to the kept output.
    if (lr.want_stdout && !co_await copy_log(out_path, out_off, files.out_end, w)) co_return;
    if (lr.want_stderr && !co_await copy_log(err_path, err_off, files.err_end, w)) co_return;
    if (!lr.follow) {
      const bool short_out = lr.want_stdout && out_off < files.out_end;
      const bool short_err = lr.want_stderr && err_off < files.err_end;
      if (short_out || short_err)
        if (auto f = finished_.get(uid)) {
          std::string chunk;
          if (short_out && f->stdout_text.size() > out_off) chunk += f->stdout_text.substr(out_off);
          if (short_err && f->stderr_text.size() > err_off) chunk += f->stderr_text.substr(err_off);
          if (!chunk.empty() && co_await w.write(chunk)) co_return;
        }
      (void)co_await w.finish();
      co_return;
    }
  }
  // Follows until the Run ends; new bytes come from the log files (or from
  // the finished Run's kept output at the end).
  while (active_.count(uid) && !stopping_) {
    asio::steady_timer t(ex_, 100ms);
    co_await (t.async_wait(asio::use_awaitable) || stop_ev_.wait());
    if (!files.exist) continue;
    constexpr std::uint64_t to_end = std::numeric_limits<std::uint64_t>::max();
    if (lr.want_stdout && !co_await copy_log(out_path, out_off, to_end, w)) co_return;
    if (lr.want_stderr && !co_await copy_log(err_path, err_off, to_end, w)) co_return;
  }
  if (auto f = finished_.get(uid)) {
    std::string chunk;
    if (lr.want_stdout && f->stdout_text.size() > out_off) chunk += f->stdout_text.substr(out_off);
    if (lr.want_stderr && f->stderr_text.size() > err_off) chunk += f->stderr_text.substr(err_off);
    if (!chunk.empty() && co_await w.write(chunk)) co_return;
  }
  (void)co_await w.finish();
}

awaitable<bool> daemon::copy_log(const std::string& path, std::uint64_t& off, std::uint64_t end,
                                 net::response_writer& w) {
  while (off < end) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(log_chunk, end - off));
    std::function<std::string()> job = read_chunk_job(path, off, want);
    auto chunk = co_await blocking<std::string>(std::move(job));
    if (chunk.empty()) break;
    off += chunk.size();
    if (co_await w.write(chunk)) co_return false;
  }
  co_return true;
}

awaitable<void> daemon::serve_artifact(std::string uid, std::string name, net::response_writer& w) {
  if (!store_) {
    co_await w.respond(404, "text/plain", "this runtimed has no artifact store\n");
    co_return;
  }
  // Find the ref: a Run this pod finished recently, else the namespace's Runs
  // (only Runs of this namespace and runtime are served).
  std::optional<api::artifact_ref> ref;
  if (auto f = finished_.get(uid))
    for (const auto& a : f->artifacts)
      if (a.name == name) ref = a;
  if (!ref) {
    auto body = co_await kc_.list(api::runs, opts_.pod_namespace);
    if (!body) {
      co_await w.respond(503, "text/plain", "listing Runs failed: " + body.error().describe() + "\n");
      co_return;
    }
    auto list = kube::decode_list(kube::codec_of<api::run>(), *body);
    if (list)
      for (const auto& item : list->items) {
        auto r = kube::object_as<api::run>(item);
        if (r->metadata.uid != uid) continue;
        if (!opts_.runtime_name.empty() && r->spec.runtime != opts_.runtime_name) {
          co_await w.respond(403, "text/plain", "run " + uid + " does not belong to runtime " + opts_.runtime_name + "\n");
          co_return;
        }
        for (const auto& a : r->status.artifact_refs)
          if (a.name == name) ref = a;
      }
  }
  if (!ref) {
    co_await w.respond(404, "text/plain", "artifact " + name + " of run " + uid + " not found\n");
    co_return;
  }
  auto where = artifact_path(*store_, opts_.pod_namespace, uid, name);
  if (!where) {
    co_await w.respond(404, "text/plain", where.error() + "\n");
    co_return;
  }
  std::string content_type = ref->content_type.empty() ? "application/octet-stream" : ref->content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("X-Kruntimes-Digest", ref->digest);
  // Streamed in 64 KiB chunks read off the shard.
  std::string file = *where;
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    co_await w.respond(404, "text/plain", "artifact file missing\n");
    co_return;
  }
  if (size <= (8u << 20)) {
    std::function<std::string()> all_job = read_chunk_job(file, 0, static_cast<std::size_t>(size));
    auto data = co_await blocking<std::string>(std::move(all_job));
    co_await w.respond(200, content_type, std::move(data), headers);
    co_return;
  }
  if (co_await w.start_stream(200, content_type, headers)) co_return;
  std::uint64_t off = 0;
  while (off < size) {
    std::function<std::string()> chunk_job = read_chunk_job(file, off, 64 * 1024);
    auto chunk = co_await blocking<std::string>(std::move(chunk_job));
    if (chunk.empty()) break;
    off += chunk.size();
    if (co_await w.write(chunk)) co_return;
  }
  (void)co_await w.finish();
}

}  // namespace krt::runtimed
