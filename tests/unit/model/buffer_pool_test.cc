#include "collector/model/buffer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace tender::model {
namespace {

std::string Buffer(size_t capacity, char fill = 'x') {
  std::string s;
  s.reserve(capacity);
  s.assign(10, fill);
  return s;
}

TEST(BufferPoolTest, EmptyPoolGivesEmptyString) {
  BufferPool pool(BufferPool::Options{});
  EXPECT_EQ(pool.Take(1000).capacity(), std::string().capacity());
  EXPECT_EQ(pool.buffers(), 0u);
}

TEST(BufferPoolTest, TakesSmallestThatHoldsWantAndClearsIt) {
  BufferPool pool(BufferPool::Options{.max_bytes = 1 << 20, .min_capacity = 16});
  pool.Give(Buffer(8000));
  pool.Give(Buffer(40000));
  pool.Give(Buffer(20000));
  EXPECT_EQ(pool.buffers(), 3u);
  const size_t kept = pool.bytes();
  EXPECT_GE(kept, 68000u);

  std::string b = pool.Take(15000);
  EXPECT_GE(b.capacity(), 20000u);
  EXPECT_LT(b.capacity(), 40000u);  // Not the largest.
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.buffers(), 2u);
  EXPECT_EQ(pool.bytes(), kept - b.capacity());
}

TEST(BufferPoolTest, TakesOnlyCloseFits) {
  BufferPool pool(BufferPool::Options{.max_bytes = 1 << 20, .min_capacity = 16});
  pool.Give(Buffer(8000));
  pool.Give(Buffer(40000));
  // Nothing holds 100 KB: a miss, and both stay (they and 100 KB fit the budget).
  EXPECT_EQ(pool.Take(100000).capacity(), std::string().capacity());
  EXPECT_EQ(pool.buffers(), 2u);
  // 40 KB is more than twice 5 KB: a small request does not take (and pin) the large buffer.
  const std::string small = pool.Take(5000);
  EXPECT_GE(small.capacity(), 8000u);
  EXPECT_LT(small.capacity(), 40000u);
  EXPECT_EQ(pool.Take(5000).capacity(), std::string().capacity());
  // Size unknown: any buffer.
  EXPECT_GE(pool.Take(0).capacity(), 40000u);
  EXPECT_EQ(pool.buffers(), 0u);
}

TEST(BufferPoolTest, KeepsWithinBudgetAndAboveMinimum) {
  BufferPool pool(BufferPool::Options{.max_bytes = 50000, .min_capacity = 4096});
  pool.Give(Buffer(1000));  // Below min_capacity: freed.
  EXPECT_EQ(pool.buffers(), 0u);
  pool.Give(Buffer(30000));
  pool.Give(Buffer(30000));  // Over the budget: freed.
  EXPECT_EQ(pool.buffers(), 1u);
  EXPECT_LE(pool.bytes(), 50000u);
  pool.Give(Buffer(10000));
  EXPECT_EQ(pool.buffers(), 2u);
  EXPECT_LE(pool.bytes(), 50000u);
}

TEST(BufferPoolTest, MissMakesRoomForTheBufferAboutToBeAllocated) {
  absl::Time now = absl::FromUnixSeconds(1000);
  BufferPool pool(BufferPool::Options{.max_bytes = 100000, .min_capacity = 1000},
                  [&] { return now; });
  pool.Give(Buffer(30000));  // Oldest.
  now += absl::Seconds(1);
  pool.Give(Buffer(30000));
  now += absl::Seconds(1);
  pool.Give(Buffer(30000));
  ASSERT_EQ(pool.buffers(), 3u);
  // 50 KB fits none: the caller allocates 50 KB, so only 50 KB of the 90 KB may stay.
  EXPECT_EQ(pool.Take(50000).capacity(), std::string().capacity());
  EXPECT_EQ(pool.buffers(), 1u);
  EXPECT_LE(pool.bytes() + 50000, 100000u);
  // A hit frees nothing.
  pool.Give(Buffer(20000));
  EXPECT_GE(pool.Take(15000).capacity(), 15000u);
  EXPECT_EQ(pool.buffers(), 1u);
}

TEST(BufferPoolTest, FreesBuffersIdleForMaxIdle) {
  absl::Time now = absl::FromUnixSeconds(1000);
  BufferPool pool(
      BufferPool::Options{.max_bytes = 1 << 20, .min_capacity = 16, .max_idle = absl::Seconds(2)},
      [&] { return now; });
  pool.Give(Buffer(10000));
  now += absl::Seconds(1);
  pool.Give(Buffer(20000));
  now += absl::Milliseconds(1500);  // The first is 2.5 s old, the second 1.5 s.
  EXPECT_EQ(pool.buffers(), 2u);    // Expiry happens on Take and Give.
  std::string b = pool.Take(0);
  EXPECT_GE(b.capacity(), 20000u);  // The 10 KB one expired; only the newer one was left.
  EXPECT_EQ(pool.buffers(), 0u);
  EXPECT_EQ(pool.bytes(), 0u);
}

TEST(BufferPoolTest, ManyThreadsTakeAndGive) {
  BufferPool pool(BufferPool::Options{.max_bytes = 4 << 20, .min_capacity = 16});
  std::atomic<int> reused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string b = pool.Take(64 << 10);
        if (b.capacity() >= (64u << 10)) reused.fetch_add(1);
        b.reserve(64 << 10);
        b.assign(100, static_cast<char>('a' + t));  // Written by this thread only.
        EXPECT_EQ(b[99], static_cast<char>('a' + t));
        pool.Give(std::move(b));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(reused.load(), 7000);  // At most one fresh buffer per thread at a time.
  EXPECT_LE(pool.bytes(), 4u << 20);
  EXPECT_LE(pool.buffers(), 4u);
}

TEST(BufferPoolTest, LargePoolIsShared) {
  BufferPool& pool = LargeBufferPool();
  EXPECT_EQ(&pool, &LargeBufferPool());
  std::string b;
  b.reserve(1 << 20);
  const char* data = b.data();
  pool.Give(std::move(b));
  const std::string again = pool.Take(1 << 20);
  EXPECT_EQ(again.data(), data);  // The same allocation, pages and all.
}

}  // namespace
}  // namespace tender::model
