// Cross-shard message passing cost (DESIGN §3): a submit_to round trip from
// shard 0 to shard 1 and back, against the same-shard (inline) call and a bare
// Asio post round trip on one thread.
#include <benchmark/benchmark.h>

#include "lib/reactor/engine.hpp"
#include "lib/reactor/event.hpp"
#include "lib/reactor/submit.hpp"

namespace {

using namespace krt;

awaitable<int> cross_shard_loop(benchmark::State& state, unsigned target) {
  std::int64_t sum = 0;
  for (auto _ : state) sum += co_await reactor::submit_to(target, [] { return 1; });
  benchmark::DoNotOptimize(sum);
  co_return 0;
}

void BM_SubmitToOtherShard(benchmark::State& state) {
  reactor::engine e({.shards = 2, .stop_signals = {}});
  e.run([&]() { return cross_shard_loop(state, 1); });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SubmitToOtherShard)->UseRealTime();

// The same with shards polling for 200 µs before they block (engine idle_spin).
void BM_SubmitToOtherShardSpinning(benchmark::State& state) {
  reactor::engine e({.shards = 2, .idle_spin = std::chrono::microseconds(200), .stop_signals = {}});
  e.run([&]() { return cross_shard_loop(state, 1); });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SubmitToOtherShardSpinning)->UseRealTime();

void BM_SubmitToSameShard(benchmark::State& state) {
  reactor::engine e({.shards = 2, .stop_signals = {}});
  e.run([&]() { return cross_shard_loop(state, 0); });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SubmitToSameShard)->UseRealTime();

awaitable<int> post_loop(benchmark::State& state) {
  for (auto _ : state) co_await reactor::yield();
  co_return 0;
}

void BM_PostRoundTripOneThread(benchmark::State& state) {
  reactor::engine e({.shards = 1, .stop_signals = {}});
  e.run([&]() { return post_loop(state); });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PostRoundTripOneThread)->UseRealTime();

}  // namespace
