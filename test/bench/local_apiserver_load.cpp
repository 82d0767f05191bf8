// Load generator for the local control plane's API server (issue #3's
// performance report): create → watch-event latency (p50/p99) with one writer,
// and sustained create throughput with N concurrent writers, against a
// running server over HTTPS through our own Kubernetes client.
//
// Usage: local_apiserver_load --kubeconfig PATH [--writers 100] [--writes 20000]
//                             [--samples 1000]
// scripts/bench-local.sh starts a server, runs this, and stops it.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <map>
#include <vector>

#include "lib/kube/client.hpp"
#include "lib/kube/config.hpp"
#include "lib/reactor/engine.hpp"
#include "lib/reactor/task_group.hpp"

namespace {

using namespace krt;
using clock_type = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string configmap(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"("},"data":{"k":"v"}})";
}

awaitable<bool> ensure_namespace(kube::client& c, const std::string& ns) {
  kube::resource nsr{"", "v1", "namespaces", "Namespace", false};
  std::string body = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + R"("}})";
  auto r = co_await c.create(nsr, "", body);
  co_return r || r.error().code == kube::errc::already_exists;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options o("local_apiserver_load", "Latency and throughput of the local control plane's API server.");
  o.add_options()("kubeconfig", "kubeconfig of the server", cxxopts::value<std::string>())(
      "writers", "concurrent writers", cxxopts::value<int>()->default_value("100"))(
      "writes", "creates in the throughput phase", cxxopts::value<int>()->default_value("20000"))(
      "samples", "creates in the latency phase", cxxopts::value<int>()->default_value("1000"))(
      "watchers", "concurrent watches in the fan-out phase", cxxopts::value<int>()->default_value("2000"))(
      "h,help", "help");
  auto args = o.parse(argc, argv);
  if (args.count("help") || !args.count("kubeconfig")) {
    std::cout << o.help() << "\n";
    return args.count("help") ? 0 : 1;
  }
  kube::load_options lo;
  lo.kubeconfig = args["kubeconfig"].as<std::string>();
  auto cfg = kube::load_config(lo);
  if (!cfg) {
    std::cerr << "error: " << cfg.error() << "\n";
    return 1;
  }
  const int writers = args["writers"].as<int>();
  const int writes = args["writes"].as<int>();
  const int samples = args["samples"].as<int>();
  const int watchers = args["watchers"].as<int>();
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  reactor::engine_options eo;
  eo.shards = 1;
  reactor::engine eng(eo);
  return eng.run([&]() -> awaitable<int> {
    auto ex = eng.get_executor(0);
    kube::client_options co;
    co.qps = 0;
    auto c = kube::client::connect(ex, *cfg, co);
    if (!c) {
      std::cerr << "error: " << c.error() << "\n";
      co_return 1;
    }
    kube::client& cl = **c;
    kube::resource cm{"", "v1", "configmaps", "ConfigMap", true};
    std::string run_id = std::to_string(::getpid());
    std::string lat_ns = "bench-lat-" + run_id, tput_ns = "bench-tput-" + run_id;
    if (!co_await ensure_namespace(cl, lat_ns) || !co_await ensure_namespace(cl, tput_ns)) {
      std::cerr << "error: cannot create the benchmark namespaces\n";
      co_return 1;
    }

    // Phase 1: create → watch event, one create at a time.
    auto listed = co_await cl.list(cm, lat_ns);
    std::string rv;
    if (listed) {
      auto p = listed->find("\"resourceVersion\":\"");
      if (p != std::string::npos) rv = listed->substr(p + 19, listed->find('"', p + 19) - p - 19);
    }
    kube::list_options wo;
    wo.resource_version = rv;
    wo.timeout_seconds = 600;
    auto stream = co_await cl.watch(cm, lat_ns, wo);
    if (!stream) {
      std::cerr << "error: watch failed: " << stream.error().message << "\n";
      co_return 1;
    }
    std::map<std::string, clock_type::time_point> sent;
    std::vector<double> latency_ms;
    reactor::task_group tasks(ex, "bench");
    bool reading = true;
    tasks.spawn([](kube::body_stream& s, std::map<std::string, clock_type::time_point>& sent,
                   std::vector<double>& out, bool& reading) -> awaitable<void> {
      std::string buf;
      char chunk[65536];
      while (reading) {
        auto n = co_await s.read_some(chunk, sizeof chunk, std::chrono::milliseconds(10000));
        if (!n || *n == 0) break;
        auto now = clock_type::now();
        buf.append(chunk, *n);
        std::size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          auto p = line.find("\"name\":\"lat-");
          if (p == std::string::npos) continue;
          std::string name = line.substr(p + 8, line.find('"', p + 8) - p - 8);
          auto it = sent.find(name);
          if (it != sent.end()) {
            out.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
            sent.erase(it);
          }
        }
      }
    }(**stream, sent, latency_ms, reading), "watch reader");
    std::vector<double> create_ms;
    for (int i = 0; i < samples; ++i) {
      std::string name = "lat-" + std::to_string(i);
      auto t0 = clock_type::now();
      sent[name] = t0;
      auto r = co_await cl.create(cm, lat_ns, configmap(name));
      if (!r) {
        std::cerr << "error: create failed: " << r.error().message << "\n";
        co_return 1;
      }
      create_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
      // Wait for the event before the next create, so each sample is unloaded.
      for (int spin = 0; spin < 2000 && sent.count(name) != 0; ++spin) {
        asio::steady_timer t(ex, std::chrono::microseconds(50));
        co_await t.async_wait(use_nothrow);
      }
    }
    reading = false;
    (*stream)->close();
    co_await tasks.close();

    // Phase 2: throughput with concurrent writers.
    int next = 0, failures = 0;
    auto t0 = clock_type::now();
    reactor::task_group writers_group(ex, "writers");
    for (int w = 0; w < writers; ++w)
      writers_group.spawn([](kube::client& cl, const kube::resource& cm, const std::string& ns, int& next, int total,
                             int& failures) -> awaitable<void> {
        while (next < total) {
          int i = next++;
          auto r = co_await cl.create(cm, ns, configmap("t-" + std::to_string(i)));
          if (!r) ++failures;
        }
      }(cl, cm, tput_ns, next, writes, failures), "writer");
    co_await writers_group.drain();
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();

    // Phase 3: fan-out to many concurrent watchers of one namespace.
    std::string fan_ns = "bench-fan-" + run_id;
    co_await ensure_namespace(cl, fan_ns);
    std::vector<std::unique_ptr<kube::body_stream>> streams;
    int opened = 0;
    for (int i = 0; i < watchers; ++i) {
      kube::list_options fo;
      fo.resource_version = "0";
      fo.timeout_seconds = 300;
      auto st = co_await cl.watch(cm, fan_ns, fo);
      if (!st) break;
      streams.push_back(std::move(*st));
      ++opened;
    }
    int delivered = 0;
    auto f0 = clock_type::now();
    double fan_ms = 0;
    {
      reactor::task_group readers(ex, "fan-out readers");
      for (auto& st : streams)
        readers.spawn([](kube::body_stream& s, int& delivered) -> awaitable<void> {
          char chunk[4096];
          std::string buf;
          for (;;) {
            auto n = co_await s.read_some(chunk, sizeof chunk, std::chrono::milliseconds(20000));
            if (!n || *n == 0) co_return;
            buf.append(chunk, *n);
            if (buf.find("\"name\":\"fan\"") != std::string::npos) {
              ++delivered;
              co_return;
            }
          }
        }(*st, delivered), "fan-out reader");
      f0 = clock_type::now();
      co_await cl.create(cm, fan_ns, configmap("fan"));
      co_await readers.drain();
      fan_ms = std::chrono::duration<double, std::milli>(clock_type::now() - f0).count();
    }
    for (auto& st : streams) st->close();

    std::cout << "fan-out: " << opened << " concurrent watches open; one create reached " << delivered << " of them in "
              << fan_ms << " ms\n";
    std::cout << "create -> watch event latency (" << latency_ms.size() << " samples): p50 "
              << percentile(latency_ms, 0.5) << " ms, p99 " << percentile(latency_ms, 0.99) << " ms, max "
              << percentile(latency_ms, 1.0) << " ms\n"
              << "create round trip (client-side): p50 " << percentile(create_ms, 0.5) << " ms, p99 "
              << percentile(create_ms, 0.99) << " ms\n"
              << "throughput: " << writes << " creates by " << writers << " concurrent writers in " << secs << " s = "
              << static_cast<long>(writes / secs) << " writes/s (" << failures << " failures)\n";
    co_return failures == 0 && static_cast<int>(latency_ms.size()) == samples && delivered == watchers ? 0 : 1;
  });
}
