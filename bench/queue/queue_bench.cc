// Queue throughput: push + peek + pop of 64 KiB batches, in memory only and spilling every
// batch to disk (written, read back with pread, CRC-checked). Each batch read back is compared
// with what was pushed, so a fast wrong path fails the run.
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "exporters/queue/shard_queue.h"

namespace tender::queue {
namespace {

model::SeriesBatch Template(size_t size) {
  model::SeriesBatch b;
  b.job = "node";
  b.samples = 100;
  b.min_timestamp_ms = 1;
  b.max_timestamp_ms = 2;
  std::mt19937_64 rng(42);
  b.data.resize(size);
  for (char& c : b.data) c = static_cast<char>(rng());
  return b;
}

// state.range(0): memory budget in bytes (0 = every batch spills to disk).
void BM_PushPeekPop(benchmark::State& state) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/queue_bench_XXXXXX";
  const std::string dir = mkdtemp(tmpl.data());
  QueueOptions o;
  o.dir = dir;
  o.memory_budget_bytes = state.range(0);
  o.segment_bytes = 16 << 20;
  auto q = ShardQueue::Open(o, nullptr, {});
  if (!q.ok()) {
    state.SkipWithError("open failed");
    return;
  }
  const model::SeriesBatch batch = Template(64 << 10);
  constexpr int kInFlight = 32;  // Batches queued before the consumer catches up.
  uint64_t next_key = 0;
  uint64_t want_key = 0;
  int64_t bytes = 0;
  model::SeriesBatch out;
  for (auto _ : state) {
    for (int i = 0; i < kInFlight; ++i) {
      model::SeriesBatch b = batch;
      b.shard_key = next_key++;
      (*q)->Push(std::move(b));
    }
    for (int i = 0; i < kInFlight; ++i) {
      if (!(*q)->Peek(&out, absl::ZeroDuration()) || out.shard_key != want_key++ ||
          out.data != batch.data) {
        state.SkipWithError("wrong batch read back");
        break;
      }
      bytes += static_cast<int64_t>(out.data.size());
      (*q)->Pop();
    }
  }
  if ((*q)->batches() != 0) state.SkipWithError("queue not empty");
  state.SetBytesProcessed(bytes);
  q->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PushPeekPop)->Arg(int64_t{1} << 30)->ArgName("memory_budget")->UseRealTime();
BENCHMARK(BM_PushPeekPop)->Arg(0)->ArgName("memory_budget")->UseRealTime();

}  // namespace
}  // namespace tender::queue

BENCHMARK_MAIN();
