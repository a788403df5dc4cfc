#include "collector/ring/mpmc_ring.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tender::ring {
namespace {

TEST(MpmcRingTest, CapacityRoundsUpToPowerOfTwo) {
  auto check = [](size_t requested, size_t want) {
    SCOPED_TRACE(testing::Message() << "requested=" << requested);
    EXPECT_EQ(MpmcRing<int>::RoundCapacity(requested), want);
    if (want <= 4096) {
      MpmcRing<int> ring(requested);
      EXPECT_EQ(ring.capacity(), want);
    }
  };
  check(0, 2);
  check(1, 2);
  check(2, 2);
  check(3, 4);
  check(4, 4);
  check(5, 8);
  check(1000, 1024);
  check(1024, 1024);
  check(1025, 2048);
  check(MpmcRing<int>::kMaxCapacity - 1, MpmcRing<int>::kMaxCapacity);
  check(MpmcRing<int>::kMaxCapacity * 4, MpmcRing<int>::kMaxCapacity);
}

TEST(MpmcRingTest, EmptyRingPopsNothing) {
  MpmcRing<int> ring(4);
  int out = 42;
  EXPECT_FALSE(ring.TryPop(&out));
  EXPECT_EQ(out, 42);
  EXPECT_EQ(ring.SizeApprox(), 0u);
}

TEST(MpmcRingTest, FullRingRefusesAndLeavesItemAlone) {
  MpmcRing<std::unique_ptr<int>> ring(3);  // Rounded to 4.
  ASSERT_EQ(ring.capacity(), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.TryPush(std::make_unique<int>(i)));
    EXPECT_EQ(ring.SizeApprox(), static_cast<size_t>(i + 1));
  }
  auto extra = std::make_unique<int>(99);
  EXPECT_FALSE(ring.TryPush(std::move(extra)));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*extra, 99);
  EXPECT_EQ(ring.SizeApprox(), 4u);

  // One pop makes room for exactly one more, and order is FIFO.
  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(*out, 0);
  EXPECT_TRUE(ring.TryPush(std::move(extra)));
  EXPECT_EQ(extra, nullptr);
  auto another = std::make_unique<int>(100);
  EXPECT_FALSE(ring.TryPush(std::move(another)));
  EXPECT_NE(another, nullptr);
  for (int want : {1, 2, 3, 99}) {
    ASSERT_TRUE(ring.TryPop(&out));
    EXPECT_EQ(*out, want);
  }
  EXPECT_FALSE(ring.TryPop(&out));
}

TEST(MpmcRingTest, WrapsAroundManyLapsInFifoOrder) {
  MpmcRing<uint64_t> ring(4);
  uint64_t next_in = 0;
  uint64_t next_out = 0;
  // Fill levels 1..4 in turn so head and tail cross every cell at every offset.
  for (int lap = 0; lap < 1000; ++lap) {
    const int fill = 1 + lap % 4;
    for (int i = 0; i < fill; ++i) {
      ASSERT_TRUE(ring.TryPush(uint64_t{next_in++}));
    }
    EXPECT_EQ(ring.SizeApprox(), static_cast<size_t>(fill));
    uint64_t out = 0;
    for (int i = 0; i < fill; ++i) {
      ASSERT_TRUE(ring.TryPop(&out));
      ASSERT_EQ(out, next_out++);
    }
    EXPECT_FALSE(ring.TryPop(&out));
  }
  EXPECT_EQ(next_out, next_in);
}

TEST(MpmcRingTest, CloseRefusesPushesAndDrains) {
  MpmcRing<std::unique_ptr<int>> ring(4);
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(1)));
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(2)));
  EXPECT_FALSE(ring.closed());
  EXPECT_FALSE(ring.drained());
  ring.Close();
  ring.Close();  // Idempotent.
  EXPECT_TRUE(ring.closed());
  auto late = std::make_unique<int>(3);
  EXPECT_FALSE(ring.TryPush(std::move(late)));
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(ring.SizeApprox(), 2u);
  EXPECT_EQ(ring.capacity(), 4u);

  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(*out, 1);
  EXPECT_FALSE(ring.drained());
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(*out, 2);
  EXPECT_TRUE(ring.drained());
  EXPECT_FALSE(ring.TryPop(&out));
  EXPECT_EQ(ring.SizeApprox(), 0u);
}

TEST(MpmcRingTest, CloseOnEmptyRingIsDrainedAtOnce) {
  MpmcRing<int> ring(2);
  for (int i = 0; i < 5; ++i) {  // Move the positions off zero first.
    ASSERT_TRUE(ring.TryPush(int{i}));
    int out = -1;
    ASSERT_TRUE(ring.TryPop(&out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(ring.drained());
  ring.Close();
  EXPECT_TRUE(ring.drained());
}

TEST(MpmcRingTest, MovesStringsWithoutCopying) {
  MpmcRing<std::string> ring(2);
  std::string big(1000, 'x');
  const char* data = big.data();
  ASSERT_TRUE(ring.TryPush(std::move(big)));
  std::string out;
  ASSERT_TRUE(ring.TryPop(&out));
  EXPECT_EQ(out.size(), 1000u);
  EXPECT_EQ(out.data(), data);  // The heap buffer moved through the ring.
}

TEST(MpmcRingTest, DestructorReleasesQueuedItems) {
  auto tracker = std::make_shared<int>(7);
  {
    MpmcRing<std::shared_ptr<int>> ring(8);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(ring.TryPush(std::shared_ptr<int>(tracker)));
    }
    std::shared_ptr<int> out;
    ASSERT_TRUE(ring.TryPop(&out));
    out.reset();
    EXPECT_EQ(tracker.use_count(), 5);  // Four in the ring plus ours.
  }
  EXPECT_EQ(tracker.use_count(), 1);
}

}  // namespace
}  // namespace tender::ring
