#pragma once
// What several commands share about one Run: following it with a watch
// (run, wait, watch), and reading its output (run, logs) through the API
// server — runtimed's log endpoint behind pods/proxy, else the runtimed
// container's log filtered by run_uid (docs/run-path.md).
//
// Affinity: the session's io_context.

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "common.hpp"
#include "lib/kube/watch.hpp"

namespace krt::cli {

// Called for every observed state; returning true ends the watch.
using run_handler = std::function<bool(kube::event_type, const api::run&)>;

// Watches Runs in `ns` ("" with all_namespaces: every namespace), or only the
// one named `name`, from resourceVersion `rv` ("" sends the current objects
// first). Reconnects when the server ends the stream; after 410 Gone it
// re-reads the named Run (or restarts the listing). Returns when the handler
// says so, or with the first error that a reconnect cannot fix.
awaitable<kube::result<void>> watch_runs(session& s, std::string ns, std::string name, std::string rv,
                                         run_handler h);

// The port runtimed's HTTP server listens on in a runtime Pod.
inline constexpr int runtimed_http_port = 9094;

// One stream ("stdout" or "stderr") of a Run's output from the log endpoint.
// Bytes already printed (`printed`) are skipped, so a reconnect continues
// where the last one stopped; `printed` grows with what is written. When
// `hold` is set it points at the open body while reading, so another
// coroutine can close it.
struct log_stream_state {
  std::size_t printed = 0;
  kube::body_stream* open = nullptr;
  bool ended = false;  // the endpoint finished the stream cleanly (2xx)
};
awaitable<kube::result<void>> proxy_log(session& s, std::string ns, std::string pod, std::string uid,
                                        std::string stream, bool follow, int tail, std::ostream& out,
                                        log_stream_state& st);

// The fallback: the runtimed container's log of `pod`, lines whose run_uid
// is `uid`; each line's "msg" (or "message") goes to stdout, or to stderr
// when its "stream" is "stderr". Bytes already printed per stream are
// skipped. Returns the process exit code when a line carried one
// ("exit_code" or "exitCode").
struct fallback_result {
  std::optional<int> exit_code;
  bool any = false;
};
awaitable<kube::result<fallback_result>> runtimed_container_log(session& s, std::string ns, std::string pod,
                                                                std::string uid, int tail, log_stream_state& out_st,
                                                                log_stream_state& err_st);

// "exit code 3" / "exit status 3" / "exited with code 3" in a status message.
std::optional<int> exit_code_in(std::string_view message);

}  // namespace krt::cli
