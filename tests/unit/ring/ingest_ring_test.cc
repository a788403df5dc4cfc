#include "collector/ring/ingest_ring.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tender::ring {
namespace {

struct Item {
  uint64_t key = 0;
  int seq = 0;
};
using ItemPtr = std::unique_ptr<Item>;

ItemPtr MakeItem(uint64_t key, int seq) { return std::make_unique<Item>(Item{key, seq}); }

// Polls `condition` until it holds or `limit` passes; the test then asserts on the result.
bool WaitFor(const std::function<bool()>& condition, absl::Duration limit = absl::Seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(limit);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

absl::Duration Since(std::chrono::steady_clock::time_point start) {
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

TEST(IngestRingTest, ShapeFollowsArguments) {
  auto check = [](size_t shards, size_t capacity, size_t want_shards, size_t want_capacity) {
    SCOPED_TRACE(testing::Message() << "shards=" << shards << " capacity=" << capacity);
    IngestRing<ItemPtr> ring(shards, capacity);
    EXPECT_EQ(ring.shards(), want_shards);
    EXPECT_EQ(ring.capacity_per_shard(), want_capacity);
    for (size_t s = 0; s < ring.shards(); ++s) {
      EXPECT_EQ(ring.Depth(s), 0u);
    }
    EXPECT_FALSE(ring.closed());
  };
  check(0, 0, 1, 2);
  check(1, 1, 1, 2);
  check(3, 100, 3, 128);
  check(8, 1024, 8, 1024);
}

TEST(IngestRingTest, KeysKeepTheirShardAndOrder) {
  constexpr size_t kShards = 4;
  constexpr int kPerKey = 20;
  IngestRing<ItemPtr> ring(kShards, 256);
  // Interleave ten keys so that every shard holds several keys mixed together.
  for (int seq = 0; seq < kPerKey; ++seq) {
    for (uint64_t key = 0; key < 10; ++key) {
      ASSERT_TRUE(ring.Push(key * 1'000'003, MakeItem(key * 1'000'003, seq), absl::ZeroDuration()));
    }
  }
  std::map<uint64_t, int> next_seq;
  size_t total = 0;
  for (size_t shard = 0; shard < kShards; ++shard) {
    SCOPED_TRACE(testing::Message() << "shard=" << shard);
    ItemPtr item;
    while (ring.Pop(shard, &item, absl::ZeroDuration())) {
      ASSERT_NE(item, nullptr);
      EXPECT_EQ(item->key % kShards, shard);
      EXPECT_EQ(item->seq, next_seq[item->key]++);
      ++total;
    }
    EXPECT_EQ(ring.Depth(shard), 0u);
  }
  EXPECT_EQ(total, 10u * kPerKey);
  for (const auto& [key, n] : next_seq) {
    EXPECT_EQ(n, kPerKey) << "key " << key;
  }
  EXPECT_EQ(ring.full_events(), 0u);
}

TEST(IngestRingTest, DepthCountsQueuedItems) {
  IngestRing<ItemPtr> ring(2, 8);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ring.Push(1, MakeItem(1, i), absl::ZeroDuration()));
  }
  ASSERT_TRUE(ring.Push(2, MakeItem(2, 0), absl::ZeroDuration()));
  EXPECT_EQ(ring.Depth(0), 1u);
  EXPECT_EQ(ring.Depth(1), 3u);
}

TEST(IngestRingTest, FullShardTimesOutAndCallerKeepsItem) {
  auto check = [](absl::Duration timeout) {
    SCOPED_TRACE(testing::Message() << "timeout=" << timeout);
    IngestRing<ItemPtr> ring(1, 2);
    ASSERT_TRUE(ring.Push(7, MakeItem(7, 0), absl::ZeroDuration()));
    ASSERT_TRUE(ring.Push(7, MakeItem(7, 1), absl::ZeroDuration()));
    ItemPtr extra = MakeItem(7, 2);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ring.Push(7, std::move(extra), timeout));
    EXPECT_GE(Since(start), timeout);
    ASSERT_NE(extra, nullptr);
    EXPECT_EQ(extra->seq, 2);
    EXPECT_EQ(ring.full_events(), 1u);
    EXPECT_EQ(ring.push_timeouts(), 1u);
    EXPECT_EQ(ring.Depth(0), 2u);
    // The queued items are intact and in order.
    ItemPtr out;
    for (int want : {0, 1}) {
      ASSERT_TRUE(ring.Pop(0, &out, absl::ZeroDuration()));
      EXPECT_EQ(out->seq, want);
    }
  };
  check(absl::ZeroDuration());
  check(absl::Milliseconds(1));
  check(absl::Milliseconds(30));
}

TEST(IngestRingTest, BlockedProducerProceedsWhenConsumerMakesRoom) {
  IngestRing<ItemPtr> ring(1, 2);
  ASSERT_TRUE(ring.Push(1, MakeItem(1, 0), absl::ZeroDuration()));
  ASSERT_TRUE(ring.Push(1, MakeItem(1, 1), absl::ZeroDuration()));
  bool pushed = false;
  std::thread producer([&] { pushed = ring.Push(1, MakeItem(1, 2), absl::InfiniteDuration()); });
  ASSERT_TRUE(WaitFor([&] { return ring.full_events() == 1; }));
  ItemPtr out;
  ASSERT_TRUE(ring.Pop(0, &out, absl::ZeroDuration()));
  EXPECT_EQ(out->seq, 0);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(ring.push_timeouts(), 0u);
  for (int want : {1, 2}) {
    ASSERT_TRUE(ring.Pop(0, &out, absl::ZeroDuration()));
    EXPECT_EQ(out->seq, want);
  }
}

TEST(IngestRingTest, PopTimesOutOnEmptyShard) {
  auto check = [](absl::Duration timeout) {
    SCOPED_TRACE(testing::Message() << "timeout=" << timeout);
    IngestRing<ItemPtr> ring(2, 4);
    ItemPtr out;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ring.Pop(1, &out, timeout));
    EXPECT_GE(Since(start), timeout);
    EXPECT_EQ(out, nullptr);
    EXPECT_FALSE(ring.IsDrained(1));  // A timeout, not the end.
    EXPECT_EQ(ring.ParkedConsumers(1), 0u);
  };
  check(absl::ZeroDuration());
  check(absl::Milliseconds(1));
  check(absl::Milliseconds(30));
}

TEST(IngestRingTest, PopOutOfRangeShardFails) {
  IngestRing<ItemPtr> ring(2, 4);
  ASSERT_TRUE(ring.Push(0, MakeItem(0, 0), absl::ZeroDuration()));
  ItemPtr out;
  EXPECT_FALSE(ring.Pop(2, &out, absl::ZeroDuration()));
  EXPECT_EQ(out, nullptr);
}

TEST(IngestRingTest, ParkedConsumerWakesOnPush) {
  IngestRing<ItemPtr> ring(2, 4);
  ItemPtr got;
  bool popped = false;
  std::thread consumer([&] { popped = ring.Pop(1, &got, absl::InfiniteDuration()); });
  ASSERT_TRUE(WaitFor([&] { return ring.ParkedConsumers(1) == 1; }));
  ASSERT_TRUE(ring.Push(3, MakeItem(3, 5), absl::ZeroDuration()));
  consumer.join();
  ASSERT_TRUE(popped);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->key, 3u);
  EXPECT_EQ(got->seq, 5);
  EXPECT_EQ(ring.ParkedConsumers(1), 0u);
}

TEST(IngestRingTest, CloseRejectsPushesAndDrainsTheRest) {
  IngestRing<ItemPtr> ring(2, 4);
  ASSERT_TRUE(ring.Push(0, MakeItem(0, 0), absl::ZeroDuration()));
  ASSERT_TRUE(ring.Push(0, MakeItem(0, 1), absl::ZeroDuration()));
  ASSERT_TRUE(ring.Push(1, MakeItem(1, 0), absl::ZeroDuration()));
  ring.Close();
  ring.Close();  // Idempotent.
  EXPECT_TRUE(ring.closed());

  ItemPtr late = MakeItem(0, 2);
  EXPECT_FALSE(ring.Push(0, std::move(late), absl::InfiniteDuration()));
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->seq, 2);
  EXPECT_EQ(ring.push_timeouts(), 0u);

  EXPECT_FALSE(ring.IsDrained(0));
  ItemPtr out;
  for (int want : {0, 1}) {
    ASSERT_TRUE(ring.Pop(0, &out, absl::InfiniteDuration()));
    EXPECT_EQ(out->seq, want);
  }
  EXPECT_FALSE(ring.Pop(0, &out, absl::InfiniteDuration()));
  EXPECT_TRUE(ring.IsDrained(0));
  ASSERT_TRUE(ring.Pop(1, &out, absl::InfiniteDuration()));
  EXPECT_EQ(out->key, 1u);
  EXPECT_FALSE(ring.Pop(1, &out, absl::InfiniteDuration()));
  EXPECT_TRUE(ring.IsDrained(1));
}

TEST(IngestRingTest, CloseWakesParkedConsumers) {
  IngestRing<ItemPtr> ring(1, 4);
  constexpr int kConsumers = 3;
  std::vector<std::thread> consumers;
  std::vector<int> results(kConsumers, -1);
  for (int i = 0; i < kConsumers; ++i) {
    consumers.emplace_back([&ring, &results, i] {
      ItemPtr out;
      results[i] = ring.Pop(0, &out, absl::InfiniteDuration()) ? 1 : 0;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ring.ParkedConsumers(0) == kConsumers; }));
  ring.Close();
  for (auto& t : consumers) {
    t.join();
  }
  for (int i = 0; i < kConsumers; ++i) {
    EXPECT_EQ(results[i], 0) << "consumer " << i;
  }
  EXPECT_TRUE(ring.IsDrained(0));
}

TEST(IngestRingTest, CloseReleasesWaitingProducerWithItsItem) {
  IngestRing<ItemPtr> ring(1, 2);
  ASSERT_TRUE(ring.Push(1, MakeItem(1, 0), absl::ZeroDuration()));
  ASSERT_TRUE(ring.Push(1, MakeItem(1, 1), absl::ZeroDuration()));
  bool pushed = true;
  ItemPtr kept;
  std::thread producer([&] {
    ItemPtr item = MakeItem(1, 2);
    pushed = ring.Push(1, std::move(item), absl::InfiniteDuration());
    kept = std::move(item);
  });
  ASSERT_TRUE(WaitFor([&] { return ring.full_events() == 1; }));
  ring.Close();
  producer.join();
  EXPECT_FALSE(pushed);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->seq, 2);
  EXPECT_EQ(ring.push_timeouts(), 0u);  // Closed, not timed out.
  EXPECT_EQ(ring.Depth(0), 2u);
}

// An item whose move constructor stalls until its gate opens: it holds a producer between
// claiming its cell and publishing it, the window Close() and Pop must not lose an item in.
struct Gate {
  std::atomic<bool> entered{false};
  std::atomic<bool> open{false};
};

struct GatedItem {
  int value = 0;
  Gate* gate = nullptr;  // Moving from an item with a gate waits for the gate to open.

  GatedItem() = default;
  GatedItem(int v, Gate* g) : value(v), gate(g) {}
  GatedItem(GatedItem&& other) noexcept : value(other.value) {
    if (other.gate != nullptr) {
      other.gate->entered.store(true);
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!other.gate->open.load() && std::chrono::steady_clock::now() < limit) {
        std::this_thread::yield();
      }
    }
  }
  GatedItem& operator=(GatedItem&& other) noexcept {
    value = other.value;
    gate = nullptr;
    return *this;
  }
};

TEST(IngestRingTest, CloseWaitsForPushThatClaimedItsCell) {
  IngestRing<GatedItem> ring(1, 4);
  ASSERT_TRUE(ring.Push(0, GatedItem(1, nullptr), absl::ZeroDuration()));
  Gate gate;
  bool pushed = false;
  std::thread producer([&] { pushed = ring.Push(0, GatedItem(2, &gate), absl::ZeroDuration()); });
  ASSERT_TRUE(WaitFor([&] { return gate.entered.load(); }));  // Cell claimed, not published.
  ring.Close();

  GatedItem out;
  ASSERT_TRUE(ring.Pop(0, &out, absl::ZeroDuration()));
  EXPECT_EQ(out.value, 1);
  // The second item is on its way: Pop must wait for it, not report the shard drained.
  EXPECT_FALSE(ring.Pop(0, &out, absl::Milliseconds(20)));
  EXPECT_FALSE(ring.IsDrained(0));

  gate.open.store(true);
  ASSERT_TRUE(ring.Pop(0, &out, absl::InfiniteDuration()));
  EXPECT_EQ(out.value, 2);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_FALSE(ring.Pop(0, &out, absl::InfiniteDuration()));
  EXPECT_TRUE(ring.IsDrained(0));
}

TEST(IngestRingTest, DestructorReleasesUndrainedItems) {
  auto tracker = std::make_shared<int>(1);
  {
    IngestRing<std::shared_ptr<int>> ring(3, 4);
    for (uint64_t key = 0; key < 6; ++key) {
      ASSERT_TRUE(ring.Push(key, std::shared_ptr<int>(tracker), absl::ZeroDuration()));
    }
    EXPECT_EQ(tracker.use_count(), 7);
  }
  EXPECT_EQ(tracker.use_count(), 1);
}

}  // namespace
}  // namespace tender::ring
