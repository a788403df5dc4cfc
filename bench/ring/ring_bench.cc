// Hand-off throughput of the ingest ring against a mutex + std::deque queue of the same capacity,
// for std::unique_ptr<Batch> items: 1 and 2 producers into one consumer, both spinning (TryPush /
// TryPop) and blocking (IngestRing Push/Pop vs condition variables). Every run checks that each
// item arrived once and in per-producer order; a wrong result makes the binary exit 1. At the end
// it prints ring / mutex throughput ratios.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "collector/ring/ingest_ring.h"
#include "collector/ring/mpmc_ring.h"
#include "collector/ring/parking.h"

namespace tender::ring {
namespace {

constexpr size_t kCapacity = 1024;
constexpr size_t kItemsPerRun = 1 << 17;

// Stands in for a ScrapeBatch: a header plus a heap buffer, handed over by pointer.
struct Batch {
  uint32_t producer = 0;
  uint64_t seq = 0;
  std::string data;
};
using BatchPtr = std::unique_ptr<Batch>;

bool g_failed = false;

void Fail(benchmark::State& state, const std::string& why) {
  g_failed = true;
  state.SkipWithError(why.c_str());
}

// Spins briefly, then yields: on a 2-core box a spinning thread may be keeping its peer off the
// CPU.
class SpinWait {
 public:
  void Wait() {
    if (++spins_ < 16) {
      internal::CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
  void Reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

// Bounded queue guarded by one mutex: the baseline. Thread-safe.
class MutexDequeQueue {
 public:
  explicit MutexDequeQueue(size_t capacity) : capacity_(capacity) {}

  bool TryPush(BatchPtr&& item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.size() >= capacity_) {
      return false;
    }
    items_.push_back(std::move(item));
    return true;
  }

  bool TryPop(BatchPtr* out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) {
      return false;
    }
    *out = std::move(items_.front());
    items_.pop_front();
    return true;
  }

  void PushBlocking(BatchPtr&& item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(item));
    lock.unlock();
    not_empty_.notify_one();
  }

  void PopBlocking(BatchPtr* out) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    *out = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;  // Covers items_.
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<BatchPtr> items_;
};

// Adapters giving each queue the same Push / Pop shape.
struct RingSpin {
  static constexpr const char* kName = "ring_spin";
  MpmcRing<BatchPtr> q{kCapacity};
  void Push(BatchPtr&& item) {
    SpinWait wait;
    while (!q.TryPush(std::move(item))) {
      wait.Wait();
    }
  }
  void Pop(BatchPtr* out) {
    SpinWait wait;
    while (!q.TryPop(out)) {
      wait.Wait();
    }
  }
};

struct MutexSpin {
  static constexpr const char* kName = "mutex_spin";
  MutexDequeQueue q{kCapacity};
  void Push(BatchPtr&& item) {
    SpinWait wait;
    while (!q.TryPush(std::move(item))) {
      wait.Wait();
    }
  }
  void Pop(BatchPtr* out) {
    SpinWait wait;
    while (!q.TryPop(out)) {
      wait.Wait();
    }
  }
};

struct RingBlocking {
  static constexpr const char* kName = "ring_blocking";
  IngestRing<BatchPtr> q{1, kCapacity};
  void Push(BatchPtr&& item) {
    if (!q.Push(item->producer, std::move(item), absl::InfiniteDuration())) {
      std::abort();  // Only fails after Close, which this benchmark never calls.
    }
  }
  void Pop(BatchPtr* out) {
    if (!q.Pop(0, out, absl::InfiniteDuration())) {
      std::abort();
    }
  }
};

struct MutexBlocking {
  static constexpr const char* kName = "mutex_blocking";
  MutexDequeQueue q{kCapacity};
  void Push(BatchPtr&& item) { q.PushBlocking(std::move(item)); }
  void Pop(BatchPtr* out) { q.PopBlocking(out); }
};

// `producers` threads push kItemsPerRun items in total; this thread pops them all.
template <typename Queue>
void BM_Handoff(benchmark::State& state) {
  const auto producers = static_cast<uint32_t>(state.range(0));
  const size_t per_producer = kItemsPerRun / producers;
  const size_t total = per_producer * producers;
  for (auto _ : state) {
    auto queue = std::make_unique<Queue>();
    std::vector<std::vector<BatchPtr>> inputs(producers);
    for (uint32_t p = 0; p < producers; ++p) {
      inputs[p].reserve(per_producer);
      for (uint64_t seq = 0; seq < per_producer; ++seq) {
        inputs[p].push_back(std::make_unique<Batch>(Batch{p, seq, std::string(64, 'x')}));
      }
    }
    std::vector<BatchPtr> received;
    received.reserve(total);

    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (uint32_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        while (!go.load(std::memory_order_acquire)) {
          std::this_thread::yield();
        }
        for (BatchPtr& item : inputs[p]) {
          queue->Push(std::move(item));
        }
      });
    }
    const auto start = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    BatchPtr item;
    for (size_t i = 0; i < total; ++i) {
      queue->Pop(&item);
      received.push_back(std::move(item));
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    for (auto& t : threads) {
      t.join();
    }
    state.SetIterationTime(std::chrono::duration<double>(elapsed).count());

    // Every item once, each producer's items in order.
    std::vector<uint64_t> next_seq(producers, 0);
    for (const BatchPtr& b : received) {
      if (b == nullptr || b->producer >= producers || b->seq != next_seq[b->producer]++ ||
          b->data.size() != 64) {
        Fail(state, "lost, duplicated or reordered item");
        return;
      }
    }
    for (uint32_t p = 0; p < producers; ++p) {
      if (next_seq[p] != per_producer) {
        Fail(state, "missing items");
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * total));
}

// Uncontended cost of one push plus one pop on the same thread.
template <typename Queue>
void BM_PushPopOneThread(benchmark::State& state) {
  Queue queue;
  auto item = std::make_unique<Batch>(Batch{0, 0, "x"});
  uint64_t seq = 0;
  for (auto _ : state) {
    item->seq = seq;
    queue.Push(std::move(item));
    queue.Pop(&item);
    if (item == nullptr || item->seq != seq) {
      Fail(state, "wrong item");
      return;
    }
    ++seq;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_TEMPLATE(BM_Handoff, RingSpin)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Handoff, MutexSpin)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Handoff, RingBlocking)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Handoff, MutexBlocking)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_PushPopOneThread, RingSpin);
BENCHMARK_TEMPLATE(BM_PushPopOneThread, MutexSpin);
BENCHMARK_TEMPLATE(BM_PushPopOneThread, RingBlocking);
BENCHMARK_TEMPLATE(BM_PushPopOneThread, MutexBlocking);

// Console output plus a record of items/s per benchmark name, for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    // With --benchmark_repetitions the median wins (it is reported after the repetitions).
    for (const Run& run : runs) {
      const auto it = run.counters.find("items_per_second");
      const bool usable = run.run_type == Run::RT_Iteration ||
                          (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median");
      if (!run.error_occurred && usable && it != run.counters.end()) {
        items_per_second_[run.run_name.str()] = it->second.value;
      }
    }
  }

  // Prints ring / mutex for every pair of benchmarks that both ran.
  void PrintRatios() const {
    const std::pair<const char*, const char*> pairs[] = {
        {"BM_Handoff<RingSpin>/1/manual_time", "BM_Handoff<MutexSpin>/1/manual_time"},
        {"BM_Handoff<RingSpin>/2/manual_time", "BM_Handoff<MutexSpin>/2/manual_time"},
        {"BM_Handoff<RingBlocking>/1/manual_time", "BM_Handoff<MutexBlocking>/1/manual_time"},
        {"BM_Handoff<RingBlocking>/2/manual_time", "BM_Handoff<MutexBlocking>/2/manual_time"},
        {"BM_PushPopOneThread<RingSpin>", "BM_PushPopOneThread<MutexSpin>"},
        {"BM_PushPopOneThread<RingBlocking>", "BM_PushPopOneThread<MutexBlocking>"},
    };
    std::printf("\nthroughput ratio ring / mutex+deque (same capacity %zu):\n", kCapacity);
    for (const auto& [ring, mutex] : pairs) {
      const auto r = items_per_second_.find(ring);
      const auto m = items_per_second_.find(mutex);
      if (r == items_per_second_.end() || m == items_per_second_.end() || m->second <= 0) {
        continue;
      }
      std::printf("  %-40s %6.2fx  (%.3g vs %.3g items/s)\n", ring, r->second / m->second,
                  r->second, m->second);
    }
  }

 private:
  std::map<std::string, double> items_per_second_;
};

}  // namespace
}  // namespace tender::ring

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  tender::ring::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  reporter.PrintRatios();
  if (tender::ring::g_failed) {
    std::fprintf(stderr, "ring_bench: a benchmark received wrong items\n");
    return 1;
  }
  return 0;
}
