#include "servers/engine/server_main.hpp"

#include <signal.h>

#include <boost/asio/ip/address.hpp>
#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>

#include "lib/core/time.hpp"
#include "lib/obs/log.hpp"
#include "lib/reactor/engine.hpp"
#include "servers/engine/engine.hpp"
#include "servers/engine/grpc_server.hpp"

namespace krt::servers {
namespace {

namespace fs = std::filesystem;

struct config {
  std::string program;
  engine_options engine;
  listen_options listen;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// Where an opt-in TCP listener binds without --host: never a routable
// address, since nothing authenticates a caller (issue #14 item 6). On the
// local plane every pod has its own 127.x address in $POD_IP; use it, so two
// pods' listeners do not collide on the host's network.
std::string default_host(const std::string& pod_ip) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(pod_ip, ec);
  if (!ec && addr.is_loopback()) return pod_ip;
  return "127.0.0.1";
}

// Logging lives outside the coroutine (no initializer lists in its frame).
void log_start_failure(const obs::logger& log, const std::string& error) {
  log.error("cannot start the gRPC server", {{"error", error}});
}

void log_serving(const obs::logger& log, const config& cfg, const exec_engine& engine, int port) {
  std::string host = cfg.listen.port != 0 ? cfg.listen.host : std::string();
  log.info("serving executor.v1.Runtime and kruntimes.executor.v1.ExecutionEvents",
           {{"socket", cfg.listen.socket},
            {"host", host},
            {"port", port},
            {"work_dir", engine.options().work_dir},
            {"interpreter", engine.options().interpreter}});
}

void log_stopping(const obs::logger& log, const exec_engine& engine) {
  log.info("shutting down: cancelling running executions", {{"executions", engine.list().size()}});
}

void log_stopped(const obs::logger& log) { log.info("stopped"); }

awaitable<int> serve(reactor::engine& eng, config cfg) {
  obs::logger log(cfg.program);
  executor ex = eng.get_executor(0);
  exec_engine engine(ex, cfg.engine);
  runtime_server server(engine, ex);
  auto started = server.start(cfg.listen);
  if (!started) {
    log_start_failure(log, started.error());
    co_await engine.stop();
    co_return 1;
  }
  log_serving(log, cfg, engine, server.tcp_port());
  co_await eng.shutdown_requested().wait();
  log_stopping(log, engine);
  co_await server.stop();
  co_await engine.stop();
  log_stopped(log);
  co_return 0;
}

}  // namespace

int server_main(int argc, char** argv, const server_defaults& defaults) {
  bool bash = defaults.kind == runtime_kind::bash;
  const char* interp_flag = bash ? "bash" : "python";
  cxxopts::Options o(defaults.program, std::string("The built-in ") + (bash ? "Bash" : "Python") +
                                           " Runtime Server of kruntimes: serves executor.v1.Runtime "
                                           "(and the ExecutionEvents push extension) over gRPC.");
  o.add_options()("port",
                  "TCP port, off by default (runtimed uses the socket). The listener has no authentication: "
                  "it binds a loopback address unless --host says otherwise. Go kruntimes used " +
                      std::to_string(defaults.port),
                  cxxopts::value<int>()->default_value("0"))(
      "host",
      "TCP host to bind when --port is set (default: $POD_IP when it is a loopback address, as on the local "
      "plane, else 127.0.0.1). Anything else exposes Execute to whoever reaches that address",
      cxxopts::value<std::string>())(
      "socket",
      "gRPC address of the pod-local socket, e.g. unix-abstract:kruntimes-<pod uid> or unix:/path "
      "(default: $KRUNTIMES_RUNTIME_SOCKET; empty: none)",
      cxxopts::value<std::string>())("work-dir", "Directory for executions and their logs (created if missing)",
                                     cxxopts::value<std::string>()->default_value("/workspace"))(
      "grace-period", "Time between SIGTERM and SIGKILL on timeout and cancel (Go duration)",
      cxxopts::value<std::string>()->default_value("2s"))(
      "max-output-bytes", "Bytes of stdout and of stderr kept for Status (the log files keep everything)",
      cxxopts::value<std::size_t>()->default_value("1048576"))(
      interp_flag, std::string("Interpreter to run (a path, or a name looked up in PATH)"),
      cxxopts::value<std::string>()->default_value(bash ? "bash" : "python3"))(
      "log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
      "h,help", "Show this help");
  cxxopts::ParseResult args;
  try {
    args = o.parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun '" << defaults.program << " --help' for the flags.\n";
    return 2;
  }
  if (args.count("help")) {
    std::cout << o.help() << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front() << "\"\n";
    return 2;
  }
  config cfg;
  cfg.program = defaults.program;
  cfg.engine.kind = defaults.kind;
  cfg.engine.interpreter = args[interp_flag].as<std::string>();
  cfg.engine.work_dir = args["work-dir"].as<std::string>();
  cfg.engine.max_output_bytes = args["max-output-bytes"].as<std::size_t>();
  auto grace = parse_go_duration(args["grace-period"].as<std::string>());
  if (!grace || grace->count() < 0) {
    std::cerr << "Error: --grace-period wants a duration such as 2s or 500ms, got \""
              << args["grace-period"].as<std::string>() << "\"\n";
    return 2;
  }
  cfg.engine.grace_period = std::chrono::duration_cast<std::chrono::milliseconds>(*grace);
  int port = args["port"].as<int>();
  if (port < 0 || port > 65535) {
    std::cerr << "Error: --port must be between 0 and 65535 (0 disables TCP)\n";
    return 2;
  }
  cfg.listen.port = port;
  cfg.listen.host = args.count("host") ? args["host"].as<std::string>() : default_host(env_or("POD_IP", ""));
  cfg.listen.socket =
      args.count("socket") ? args["socket"].as<std::string>() : env_or("KRUNTIMES_RUNTIME_SOCKET", "");
  if (cfg.listen.socket.empty() && port == 0) {
    std::cerr << "Error: nothing to listen on: give --socket (or set $KRUNTIMES_RUNTIME_SOCKET, as the controller "
                 "does in a Runtime Pod) or a non-zero --port\n";
    return 2;
  }
  obs::level lvl;
  if (!obs::parse_level(args["log-level"].as<std::string>(), lvl)) {
    std::cerr << "Error: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  obs::set_level(lvl);
  std::error_code ec;
  fs::create_directories(cfg.engine.work_dir, ec);
  if (ec) {
    std::cerr << "Error: cannot create --work-dir " << cfg.engine.work_dir << ": " << ec.message() << "\n";
    return 1;
  }
  obs::logger log(cfg.program);
  obs::install_task_exception_logging(log);
  // A client that goes away mid-write must not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  reactor::engine_options eo;
  eo.shards = 1;
  reactor::engine eng(eo);
  return eng.run([&eng, &cfg] { return serve(eng, cfg); });
}

}  // namespace krt::servers
