#include "runs.hpp"

#include <iostream>
#include <regex>
#include <sstream>

namespace krt::cli {

namespace bj = boost::json;

awaitable<kube::result<void>> watch_runs(session& s, std::string ns, std::string name, std::string rv,
                                         run_handler h) {
  const auto& codec = kube::codec_of<api::run>();
  int transport_failures = 0;
  bool relist = false;  // after 410 Gone: start again from the current state
  for (;;) {
    if (relist) {
      relist = false;
      rv.clear();
      if (!name.empty()) {
        auto cur = co_await get_run(s, ns, name);
        if (!cur) co_return krt::unexpected(std::move(cur).error());
        rv = cur->run.metadata.resource_version;
        if (h(kube::event_type::modified, cur->run)) co_return kube::result<void>{};
      }
    }
    kube::list_options lo;
    if (!name.empty()) lo.field_selector = "metadata.name=" + name;
    lo.resource_version = rv;
    lo.allow_watch_bookmarks = true;
    lo.timeout_seconds = 600;
    auto body = co_await s.client->watch(api::runs, ns, lo);
    if (!body) {
      auto err = std::move(body).error();
      if (err.code == kube::errc::gone) {
        relist = true;
        continue;
      }
      co_return krt::unexpected(std::move(err));
    }
    kube::watch_stream ws(std::move(*body), codec);
    for (;;) {
      auto ev = co_await ws.next(std::chrono::minutes(11));
      if (!ev) {
        auto err = std::move(ev).error();
        if (err.code == kube::errc::cancelled) co_return krt::unexpected(std::move(err));
        // The stream broke: reconnect from the last version seen, a few times.
        if (++transport_failures > 5) co_return krt::unexpected(std::move(err));
        break;
      }
      if (!*ev) break;  // the server ended the watch: resume
      transport_failures = 0;
      auto& e = **ev;
      if (e.type == kube::event_type::bookmark) {
        rv = e.resource_version;
        continue;
      }
      if (e.type == kube::event_type::error) {
        if (e.status.code == kube::errc::gone) {
          relist = true;
          break;
        }
        co_return krt::unexpected(std::move(e.status));
      }
      if (!e.resource_version.empty()) rv = e.resource_version;
      auto r = kube::object_as<api::run>(e.object);
      if (h(e.type, *r)) {
        ws.close();
        co_return kube::result<void>{};
      }
    }
  }
}

namespace {

// Writes the part of `data` past what was already printed.
void emit_new(std::string_view data, std::size_t& consumed, log_stream_state& st, std::ostream& out) {
  std::size_t end = consumed + data.size();
  if (end > st.printed) {
    std::size_t from = st.printed > consumed ? st.printed - consumed : 0;
    out.write(data.data() + from, static_cast<std::streamsize>(data.size() - from));
    out.flush();
    st.printed = end;
  }
  consumed = end;
}

}  // namespace

awaitable<kube::result<void>> proxy_log(session& s, std::string ns, std::string pod, std::string uid,
                                        std::string stream, bool follow, int tail, std::ostream& out,
                                        log_stream_state& st) {
  std::string target = "/api/v1/namespaces/" + ns + "/pods/" + pod + ":" + std::to_string(runtimed_http_port) +
                       "/proxy/runs/" + uid + "/log?stream=" + stream;
  if (follow) target += "&follow=true";
  if (tail >= 0) target += "&tail=" + std::to_string(tail);
  auto req = raw_request(s, "GET", target);
  req.timeout = std::chrono::seconds(60);
  auto opened = co_await s.client->get_transport().open_stream(std::move(req));
  if (!opened) co_return krt::unexpected(std::move(opened).error());
  if (!opened->body) co_return krt::unexpected(kube::error_from_response(opened->status, opened->error_body,
                                                                          opened->retry_after));
  auto body = std::move(opened->body);
  st.open = body.get();
  std::size_t consumed = 0;
  char buf[16384];
  for (;;) {
    auto n = co_await body->read_some(buf, sizeof buf, std::chrono::hours(24));
    if (!n) {
      st.open = nullptr;
      co_return krt::unexpected(std::move(n).error());
    }
    if (*n == 0) break;
    emit_new(std::string_view(buf, *n), consumed, st, out);
  }
  st.open = nullptr;
  st.ended = true;
  co_return kube::result<void>{};
}

awaitable<kube::result<fallback_result>> runtimed_container_log(session& s, std::string ns, std::string pod,
                                                                std::string uid, int tail, log_stream_state& out_st,
                                                                log_stream_state& err_st) {
  auto req = raw_request(s, "GET", "/api/v1/namespaces/" + ns + "/pods/" + pod + "/log?container=runtimed");
  auto body = co_await s.client->request(std::move(req));
  if (!body) co_return krt::unexpected(std::move(body).error());
  fallback_result res;
  std::vector<std::string> out_lines, err_lines;
  std::istringstream in(*body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() != '{') continue;
    boost::system::error_code ec;
    auto v = bj::parse(line, ec);
    if (ec || !v.is_object()) continue;
    if (str_at(v, {"run_uid"}) != uid) continue;
    for (const char* k : {"exit_code", "exitCode"})
      if (const auto* c = at_path(v, {k}); c != nullptr && c->is_int64())
        res.exit_code = static_cast<int>(c->get_int64());
    std::string msg = str_at(v, {"msg"});
    if (msg.empty()) msg = str_at(v, {"message"});
    if (msg.empty()) continue;
    (str_at(v, {"stream"}) == "stderr" ? err_lines : out_lines).push_back(msg);
  }
  auto write = [&](std::vector<std::string>& lines, log_stream_state& st, std::ostream& out) {
    std::size_t from = tail >= 0 && lines.size() > static_cast<std::size_t>(tail) ? lines.size() - tail : 0;
    std::string text;
    for (std::size_t i = from; i < lines.size(); ++i) text += lines[i] + "\n";
    std::size_t consumed = 0;
    if (!text.empty()) res.any = true;
    emit_new(text, consumed, st, out);
  };
  write(out_lines, out_st, std::cout);
  write(err_lines, err_st, std::cerr);
  co_return res;
}

std::optional<int> exit_code_in(std::string_view message) {
  static const std::regex re(R"((?:exit(?:ed with)? (?:code|status)|exit_code[=:])\s*(-?\d+))", std::regex::icase);
  std::cmatch m;
  std::string msg(message);
  if (std::regex_search(msg.c_str(), m, re)) return std::atoi(m[1].str().c_str());
  return std::nullopt;
}

}  // namespace krt::cli
