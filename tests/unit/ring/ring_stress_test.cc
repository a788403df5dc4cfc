// Stress tests: several producers and consumers hammer small rings for TENDER_STRESS_SECONDS
// (default 2) per case. Every item carries (producer, sequence); the checks are that each item
// arrives exactly once and that each consumer sees each producer's items in order. Run it for
// minutes, and under -DTENDER_TSAN=ON, after touching the ring.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "collector/ring/ingest_ring.h"
#include "collector/ring/mpmc_ring.h"
#include "gtest/gtest.h"

namespace tender::ring {
namespace {

std::chrono::milliseconds StressDuration() {
  double seconds = 2.0;
  if (const char* env = std::getenv("TENDER_STRESS_SECONDS"); env != nullptr && *env != '\0') {
    seconds = std::strtod(env, nullptr);
  }
  if (!(seconds > 0)) {
    seconds = 2.0;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// The payload is heap-allocated and written by the producer only, so TSan checks that the ring
// publishes it (a missing happens-before edge shows up as a race on these fields).
struct Payload {
  uint32_t producer = 0;
  uint64_t seq = 0;
  uint64_t key = 0;
  uint64_t check = 0;
};
using PayloadPtr = std::unique_ptr<Payload>;

uint64_t CheckValue(uint32_t producer, uint64_t seq, uint64_t key) {
  uint64_t x = (uint64_t{producer} << 48) ^ (seq * 0x9e3779b97f4a7c15ULL) ^ (key << 7);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 29);
}

PayloadPtr MakePayload(uint32_t producer, uint64_t seq, uint64_t key) {
  return std::make_unique<Payload>(Payload{producer, seq, key, CheckValue(producer, seq, key)});
}

// One IngestRing load run: producers push items under random keys with random timeouts and
// re-push whatever comes back; one consumer per shard pops with random timeouts; Close() lands
// while producers are still pushing, once `close_now` returns (it gets the number of successful
// pushes so far). Every push that returned true must be popped exactly once, in per-producer
// order within its shard, from shard key % shards. Failures are gtest expectations.
void RunIngestLoad(uint32_t producers_n, size_t shards_n, size_t capacity, uint64_t keys,
                   uint64_t seed, bool report,
                   const std::function<void(const std::atomic<uint64_t>& pushed)>& close_now) {
  IngestRing<PayloadPtr> ring(shards_n, capacity);

  // pushed[p][s]: pushes by producer p into shard s that returned true. Written by producer p.
  std::vector<std::vector<uint64_t>> pushed(producers_n, std::vector<uint64_t>(shards_n, 0));
  // received[s][p]: items of producer p popped from shard s. Written by consumer s only.
  std::vector<std::vector<uint64_t>> received(shards_n, std::vector<uint64_t>(producers_n, 0));
  std::vector<uint64_t> failures(shards_n + producers_n, 0);  // One slot per thread.
  std::atomic<uint64_t> timed_out_pushes{0};
  std::atomic<uint64_t> total_pushed{0};

  std::vector<std::thread> consumers;
  for (size_t s = 0; s < shards_n; ++s) {
    consumers.emplace_back([&, s] {
      std::mt19937_64 rng(seed * 7919 + 1000 + s);
      std::vector<int64_t> last_seq(producers_n, -1);
      uint64_t& fail = failures[s];
      for (;;) {
        PayloadPtr item;
        const bool bounded = rng() % 4 == 0;
        const absl::Duration timeout =
            bounded ? absl::Microseconds(rng() % 500) : absl::InfiniteDuration();
        if (!ring.Pop(s, &item, timeout)) {
          if (!bounded) {
            // Without a timeout, false means closed and drained: nothing may arrive any more.
            fail += ring.IsDrained(s) ? 0 : 1;
            break;
          }
          if (ring.IsDrained(s)) {
            break;
          }
          continue;
        }
        if (item == nullptr || item->producer >= producers_n ||
            item->check != CheckValue(item->producer, item->seq, item->key) ||
            item->key % shards_n != s ||
            static_cast<int64_t>(item->seq) <= last_seq[item->producer]) {
          ++fail;
          continue;
        }
        last_seq[item->producer] = static_cast<int64_t>(item->seq);
        ++received[s][item->producer];
      }
    });
  }

  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < producers_n; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(seed * 7919 + p);
      uint64_t& fail = failures[shards_n + p];
      for (uint64_t seq = 0;; ++seq) {
        const uint64_t key = rng() % keys;
        PayloadPtr item = MakePayload(p, seq, key);
        bool pushed_ok = false;
        while (!pushed_ok) {
          absl::Duration timeout;
          switch (rng() % 3) {
            case 0:
              timeout = absl::ZeroDuration();
              break;
            case 1:
              timeout = absl::Microseconds(rng() % 200);
              break;
            default:
              timeout = absl::InfiniteDuration();
          }
          pushed_ok = ring.Push(key, std::move(item), timeout);
          if (!pushed_ok) {
            // The caller keeps a refused item: it must be intact.
            if (item == nullptr || item->seq != seq) {
              ++fail;
              return;
            }
            if (ring.closed()) {
              return;
            }
            timed_out_pushes.fetch_add(1, std::memory_order_relaxed);
          }
        }
        ++pushed[p][key % shards_n];
        total_pushed.fetch_add(1, std::memory_order_relaxed);
        // Now and then go idle so consumers park and get woken.
        if (rng() % 512 == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        }
      }
    });
  }

  close_now(total_pushed);
  ring.Close();
  for (auto& t : producers) {
    t.join();
  }
  for (auto& t : consumers) {
    t.join();
  }

  uint64_t total = 0;
  for (size_t s = 0; s < shards_n; ++s) {
    EXPECT_TRUE(ring.IsDrained(s)) << "shard " << s;
    EXPECT_EQ(ring.Depth(s), 0u) << "shard " << s;
    for (uint32_t p = 0; p < producers_n; ++p) {
      SCOPED_TRACE(testing::Message() << "shard=" << s << " producer=" << p);
      EXPECT_EQ(received[s][p], pushed[p][s]);
      total += received[s][p];
    }
  }
  for (size_t i = 0; i < failures.size(); ++i) {
    EXPECT_EQ(failures[i], 0u) << "thread " << i;
  }
  // A refused push seen with the ring still open was a timeout. One seen after Close (at most one
  // per producer: its last) may have been either.
  EXPECT_GE(ring.push_timeouts(), timed_out_pushes.load());
  EXPECT_LE(ring.push_timeouts(), timed_out_pushes.load() + producers_n);
  EXPECT_EQ(total, total_pushed.load());
  if (report) {
    std::printf("ingest ring stress: %llu items, %llu full events, %llu push timeouts\n",
                static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(ring.full_events()),
                static_cast<unsigned long long>(ring.push_timeouts()));
  }
}

// The long run: 4 producers, 3 shards of 8 cells, 12 keys, for the whole stress duration.
TEST(RingStressTest, IngestRingManyProducersOneConsumerPerShard) {
  const auto until = std::chrono::steady_clock::now() + StressDuration();
  RunIngestLoad(4, 3, 8, 12, /*seed=*/1, /*report=*/true, [&](const std::atomic<uint64_t>&) {
    std::this_thread::sleep_until(until);  // The load runs until then.
  });
}

// Many short runs whose Close() lands a few pushes in, while producers are mid-push: the window
// where a push registered before Close must still reach a consumer.
TEST(RingStressTest, IngestRingCloseRacesPushes) {
  const auto until = std::chrono::steady_clock::now() + StressDuration();
  uint64_t rounds = 0;
  while (std::chrono::steady_clock::now() < until && !HasFailure()) {
    const uint64_t close_after = rounds % 64;
    RunIngestLoad(3, 2, 4, 5, /*seed=*/rounds + 100, /*report=*/false,
                  [&](const std::atomic<uint64_t>& pushed) {
                    // Wait until `close_after` pushes went through: producers never stop
                    // before Close and consumers keep making room, so this takes microseconds.
                    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
                    while (pushed.load(std::memory_order_relaxed) < close_after) {
                      if (std::chrono::steady_clock::now() >= limit) {
                        ADD_FAILURE() << "producers made no progress";
                        return;
                      }
                      std::this_thread::yield();
                    }
                  });
    ++rounds;
  }
  std::printf("ingest ring close races: %llu rounds\n", static_cast<unsigned long long>(rounds));
  EXPECT_GT(rounds, 0u);
}

// MpmcRing alone with several consumers: items carry (producer, seq); each consumer must see each
// producer's items in increasing order, and the union must be every item exactly once (checked
// by count and by a sum of per-item hashes, which a loss plus a duplicate cannot cancel out).
TEST(RingStressTest, MpmcRingManyProducersManyConsumers) {
  constexpr uint32_t kProducers = 3;
  constexpr uint32_t kConsumers = 3;
  MpmcRing<PayloadPtr> ring(16);

  std::atomic<bool> stop{false};
  std::atomic<uint32_t> producers_done{0};
  std::vector<uint64_t> produced(kProducers, 0);
  struct ConsumerResult {
    std::vector<uint64_t> count = std::vector<uint64_t>(kProducers, 0);
    std::vector<uint64_t> hash_sum = std::vector<uint64_t>(kProducers, 0);
    uint64_t failures = 0;
  };
  std::vector<ConsumerResult> results(kConsumers);

  std::vector<std::thread> threads;
  for (uint32_t c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      ConsumerResult& r = results[c];
      std::vector<int64_t> last_seq(kProducers, -1);
      for (;;) {
        PayloadPtr item;
        if (!ring.TryPop(&item)) {
          // Read `done` before the final empty check, so nothing pushed earlier is missed.
          if (producers_done.load(std::memory_order_acquire) == kProducers && !ring.TryPop(&item)) {
            break;
          }
          if (item == nullptr) {
            std::this_thread::yield();
            continue;
          }
        }
        if (item->producer >= kProducers ||
            item->check != CheckValue(item->producer, item->seq, item->key) ||
            static_cast<int64_t>(item->seq) <= last_seq[item->producer]) {
          ++r.failures;
          continue;
        }
        last_seq[item->producer] = static_cast<int64_t>(item->seq);
        ++r.count[item->producer];
        r.hash_sum[item->producer] += item->check;
      }
    });
  }
  for (uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        PayloadPtr item = MakePayload(p, seq, seq % 7);
        while (!ring.TryPush(std::move(item))) {
          std::this_thread::yield();
        }
        ++seq;
      }
      produced[p] = seq;
      producers_done.fetch_add(1, std::memory_order_release);
    });
  }

  std::this_thread::sleep_for(StressDuration());  // The load runs for this long.
  stop.store(true);
  for (auto& t : threads) {
    t.join();
  }

  uint64_t total = 0;
  for (uint32_t p = 0; p < kProducers; ++p) {
    SCOPED_TRACE(testing::Message() << "producer=" << p);
    uint64_t want_hash = 0;
    for (uint64_t seq = 0; seq < produced[p]; ++seq) {
      want_hash += CheckValue(p, seq, seq % 7);
    }
    uint64_t count = 0;
    uint64_t hash = 0;
    for (const ConsumerResult& r : results) {
      count += r.count[p];
      hash += r.hash_sum[p];
    }
    EXPECT_EQ(count, produced[p]);
    EXPECT_EQ(hash, want_hash);
    total += count;
  }
  for (uint32_t c = 0; c < kConsumers; ++c) {
    EXPECT_EQ(results[c].failures, 0u) << "consumer " << c;
  }
  EXPECT_EQ(ring.SizeApprox(), 0u);
  EXPECT_GT(total, 0u);
  std::printf("mpmc ring stress: %llu items\n", static_cast<unsigned long long>(total));
}

}  // namespace
}  // namespace tender::ring
