#include "exporters/queue/shard_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/unit/queue/queue_test_util.h"

namespace tender::queue {
namespace {

using testing_util::Drain;
using testing_util::Ids;
using testing_util::MakeBatch;
using testing_util::MetricValue;
using testing_util::SameBatch;
using testing_util::SegmentFiles;
using testing_util::TempDir;

std::unique_ptr<ShardQueue> MustOpen(const QueueOptions& options,
                                     prometheus::Registry* registry = nullptr) {
  auto q = ShardQueue::Open(options, registry, {{"remote_name", "r"}, {"shard", "0"}});
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? std::move(q).value() : nullptr;
}

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

TEST(ShardQueueTest, RejectsBadOptions) {
  QueueOptions o;
  EXPECT_FALSE(ShardQueue::Open(o, nullptr, {}).ok());
  o.dir = "/tmp/x";
  o.segment_bytes = 4;
  EXPECT_FALSE(ShardQueue::Open(o, nullptr, {}).ok());
}

// Property: whatever the budget, segment size and interleaving of pushes and pops, batches come
// out exactly in push order with their content intact, across memory -> disk -> memory.
TEST(ShardQueueTest, FifoAcrossMemoryAndDiskForManySeeds) {
  int seeds_that_spilled = 0;
  for (uint32_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    TempDir dir;
    QueueOptions o;
    o.dir = dir.path();
    o.memory_budget_bytes = std::uniform_int_distribution<int64_t>(0, 20000)(rng);
    o.segment_bytes = std::uniform_int_distribution<int64_t>(64, 50000)(rng);
    auto q = MustOpen(o);
    ASSERT_NE(q, nullptr);
    uint64_t pushed = 0;
    std::vector<uint64_t> popped;
    bool spilled = false;
    const int ops = 400;
    for (int i = 0; i < ops; ++i) {
      // Phases of fast producer / fast consumer make the queue fill and drain repeatedly.
      const bool producer_phase = (i / 50) % 2 == 0;
      const bool push = std::uniform_int_distribution<int>(0, 9)(rng) < (producer_phase ? 8 : 3);
      if (push) {
        const size_t size = std::uniform_int_distribution<size_t>(0, 3000)(rng);
        q->Push(MakeBatch(pushed++, size));
      } else {
        model::SeriesBatch b;
        if (q->Peek(&b, absl::ZeroDuration())) {
          ASSERT_TRUE(SameBatch(b, MakeBatch(b.shard_key, b.data.size())));
          if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
            // A retried send peeks again and must see the same batch.
            model::SeriesBatch again;
            ASSERT_TRUE(q->Peek(&again, absl::ZeroDuration()));
            ASSERT_EQ(again.shard_key, b.shard_key);
          }
          popped.push_back(b.shard_key);
          q->Pop();
        }
      }
      spilled = spilled || q->disk_bytes() > 0;
      ASSERT_LE(static_cast<int64_t>(q->memory_bytes()), o.memory_budget_bytes);
      ASSERT_EQ(q->batches(), pushed - popped.size());
    }
    for (uint64_t id : Ids(Drain(*q))) popped.push_back(id);
    EXPECT_EQ(popped, Range(0, pushed));
    EXPECT_EQ(q->batches(), 0u);
    EXPECT_EQ(q->disk_bytes(), 0u);
    EXPECT_TRUE(SegmentFiles(dir.path()).empty());
    EXPECT_EQ(q->stats().dropped_batches, 0u);
    if (spilled) ++seeds_that_spilled;
  }
  EXPECT_GT(seeds_that_spilled, 40);
}

TEST(ShardQueueTest, FlushAndReopenReplaysInOrder) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 5000;
  o.segment_bytes = 4000;
  std::vector<model::SeriesBatch> want;
  {
    auto q = MustOpen(o);
    for (uint64_t i = 0; i < 40; ++i) {
      want.push_back(MakeBatch(i, 100 + 37 * i));
      q->Push(MakeBatch(i, 100 + 37 * i));
    }
    ASSERT_GT(q->disk_bytes(), 0u);
    ASSERT_GT(q->memory_bytes(), 0u);
    // Consume a few: they must not come back after the restart.
    model::SeriesBatch b;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(q->Peek(&b, absl::ZeroDuration()));
      q->Pop();
    }
    ASSERT_TRUE(q->Flush(absl::Seconds(10)).ok());
    EXPECT_EQ(q->memory_bytes(), 0u);
    EXPECT_EQ(q->batches(), 37u);
  }
  auto q = MustOpen(o);
  EXPECT_EQ(q->batches(), 37u);
  const auto got = Drain(*q);
  ASSERT_EQ(got.size(), 37u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(SameBatch(got[i], want[i + 3])) << i;
  }
  EXPECT_EQ(q->stats().corrupt_records, 0u);
}

TEST(ShardQueueTest, WriteThroughPutsEveryBatchOnDiskAtOnce) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.write_through = true;
  o.segment_bytes = 4000;
  std::vector<model::SeriesBatch> want;
  {
    auto q = MustOpen(o);
    for (uint64_t i = 0; i < 20; ++i) {
      want.push_back(MakeBatch(i, 100 + 37 * i));
      q->Push(MakeBatch(i, 100 + 37 * i));
      ASSERT_EQ(q->memory_bytes(), 0u) << i;
    }
    model::SeriesBatch b;
    ASSERT_TRUE(q->Peek(&b, absl::ZeroDuration()));
    EXPECT_TRUE(SameBatch(b, want[0]));
    q->Pop();
    // Gone without Flush, as after a kill -9: what was pushed is on disk.
  }
  auto q = MustOpen(o);
  const auto got = Drain(*q);
  ASSERT_EQ(got.size(), 19u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(SameBatch(got[i], want[i + 1])) << i;
}

TEST(ShardQueueTest, ReopenAfterPartialConsumptionOfASegment) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 0;  // Everything to disk, one segment.
  {
    auto q = MustOpen(o);
    for (uint64_t i = 0; i < 10; ++i) q->Push(MakeBatch(i, 64));
    model::SeriesBatch b;
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(q->Peek(&b, absl::ZeroDuration()));
      q->Pop();
    }
    ASSERT_EQ(SegmentFiles(dir.path()).size(), 1u);
  }  // Destroyed without Flush: the cursor is still persisted.
  auto q = MustOpen(o);
  EXPECT_EQ(Ids(Drain(*q)), Range(4, 10));
  // New segments never reuse a sequence number the cursor may point into.
  q->Push(MakeBatch(99, 10));
  ASSERT_EQ(SegmentFiles(dir.path()).size(), 1u);
  EXPECT_GT(SegmentFiles(dir.path())[0], dir.path() + "/00000000000000000001.seg");
}

TEST(ShardQueueTest, PeekManyFillsUpToMaxSamplesAcrossDiskAndMemory) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 3 * static_cast<int64_t>(RecordBytes(MakeBatch(0, 100)));
  auto q = MustOpen(o);
  // MakeBatch(id) has id % 1000 samples: ids 10..19 have 10..19 samples.
  for (uint64_t i = 10; i < 20; ++i) q->Push(MakeBatch(i, 100));
  ASSERT_GT(q->disk_bytes(), 0u);
  EXPECT_EQ(q->samples(), 145u);
  EXPECT_EQ(q->memory_samples(), 17u + 18u + 19u);  // The budget holds the newest three.
  std::vector<model::SeriesBatch> got;
  // 10 + 11 + 12 = 33 <= 40 < 33 + 13.
  std::optional<uint64_t> last = q->PeekMany(40, 100, &got, absl::ZeroDuration());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(Ids(got), Range(10, 13));
  // Peeking again without popping returns the same batches.
  EXPECT_EQ(q->PeekMany(40, 100, &got, absl::ZeroDuration()), last);
  EXPECT_EQ(Ids(got), Range(10, 13));
  q->PopThrough(*last);
  EXPECT_EQ(q->samples(), 112u);
  // A batch larger than max_samples still comes out (13 samples take 3 requests of 5; the
  // next batch, 14, does not fit into the 2 left); max_batches bounds the count.
  last = q->PeekMany(5, 100, &got, absl::ZeroDuration());
  EXPECT_EQ(Ids(got), Range(13, 14));
  last = q->PeekMany(1000, 4, &got, absl::ZeroDuration());
  EXPECT_EQ(Ids(got), Range(13, 17));
  q->PopThrough(*last);
  // Everything left, across the disk/memory boundary, in order.
  last = q->PeekMany(1000, 100, &got, absl::ZeroDuration());
  EXPECT_EQ(Ids(got), Range(17, 20));
  q->PopThrough(*last);
  EXPECT_EQ(q->batches(), 0u);
  EXPECT_EQ(q->samples(), 0u);
  EXPECT_FALSE(q->PeekMany(1000, 100, &got, absl::ZeroDuration()).has_value());

  // What fills the last request of a large first batch comes with it: 12 samples take 3
  // requests of 5, and 3 more fit; 4 more would not.
  q->Push(MakeBatch(1012, 100));
  q->Push(MakeBatch(1003, 100));
  q->Push(MakeBatch(1004, 100));
  q->PeekMany(5, 100, &got, absl::ZeroDuration());
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{1012, 1003}));
}

TEST(ShardQueueTest, SharedPeekReturnsTheQueuedBytesWithoutCopyingThem) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 2 * static_cast<int64_t>(RecordBytes(MakeBatch(0, 100)));
  auto q = MustOpen(o);
  for (uint64_t i = 1; i <= 4; ++i) q->Push(MakeBatch(i, 100));  // 1, 2 on disk; 3, 4 in memory.
  ASSERT_GT(q->disk_bytes(), 0u);
  std::vector<SharedBatch> shared;
  const std::optional<uint64_t> last = q->PeekMany(1000, 100, &shared, absl::ZeroDuration());
  ASSERT_EQ(last, std::optional<uint64_t>(4));
  ASSERT_EQ(shared.size(), 4u);
  for (uint64_t i = 1; i <= 4; ++i) {
    SCOPED_TRACE(i);
    ASSERT_NE(shared[i - 1], nullptr);
    EXPECT_TRUE(SameBatch(*shared[i - 1], MakeBatch(i, 100)));
  }
  // An in-memory batch comes out as the queue's own bytes: a second peek shares them too.
  std::vector<SharedBatch> again;
  q->PeekMany(1000, 100, &again, absl::ZeroDuration());
  ASSERT_EQ(again.size(), 4u);
  EXPECT_EQ(again[3].get(), shared[3].get());
  EXPECT_EQ(again[3]->data.data(), shared[3]->data.data());
  // Popped batches stay readable for as long as the consumer holds them.
  q->PopThrough(*last);
  EXPECT_EQ(q->batches(), 0u);
  EXPECT_TRUE(SameBatch(*shared[3], MakeBatch(4, 100)));
}

TEST(ShardQueueTest, PopThroughNeverRemovesABatchNewerThanThePeek) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 0;
  const size_t rec = RecordBytes(MakeBatch(0, 300));
  o.segment_bytes = static_cast<int64_t>(kSegmentHeaderBytes + 2 * rec);
  o.max_disk_bytes = 2 * o.segment_bytes;
  auto q = MustOpen(o);
  for (uint64_t i = 1; i <= 4; ++i) q->Push(MakeBatch(i, 300));
  std::vector<model::SeriesBatch> got;
  const std::optional<uint64_t> last = q->PeekMany(1000, 2, &got, absl::ZeroDuration());
  ASSERT_EQ(Ids(got), Range(1, 3));
  // While 1 and 2 are being sent, the disk bound drops their segment, and newer batches come.
  for (uint64_t i = 5; i <= 6; ++i) q->Push(MakeBatch(i, 300));
  q->PopThrough(*last);
  EXPECT_EQ(Ids(Drain(*q)), Range(3, 7));
}

// The cursor moves with every pop of a disk record, so a process killed without a shutdown
// replays only what it had not yet removed.
TEST(ShardQueueTest, CrashWithoutShutdownReplaysOnlyUnpoppedBatches) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 0;
  {
    auto q = MustOpen(o);
    for (uint64_t i = 0; i < 10; ++i) q->Push(MakeBatch(i, 64));
    std::vector<model::SeriesBatch> got;
    const std::optional<uint64_t> last = q->PeekMany(1000, 6, &got, absl::ZeroDuration());
    ASSERT_EQ(Ids(got), Range(0, 6));
    q->PopThrough(*last);
    // Simulated kill -9: the destructor (which also persists the cursor) never runs.
    [[maybe_unused]] ShardQueue* leaked = q.release();
  }
  auto q = MustOpen(o);
  EXPECT_EQ(Ids(Drain(*q)), Range(6, 10));
}

TEST(ShardQueueWaitTest, WaitForSamplesAndWake) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  auto q = ShardQueue::Open(o, nullptr, {});
  ASSERT_TRUE(q.ok());
  ShardQueue& queue = **q;
  EXPECT_FALSE(queue.WaitForSamples(20, absl::Milliseconds(20)));
  std::thread producer([&] {
    queue.Push(MakeBatch(12, 10));
    queue.Push(MakeBatch(13, 10));
  });
  EXPECT_TRUE(queue.WaitForSamples(25, absl::Seconds(20)));
  producer.join();
  // Wake ends a wait that could otherwise last for minutes.
  std::thread waker([&] { queue.Wake(); });
  EXPECT_FALSE(queue.WaitForSamples(1000, absl::Minutes(10)));
  waker.join();
}

// kill -9 while appending: the last record is cut at every byte offset. Everything before it
// replays; a partial record is counted as corrupt, a record cut at its very start is just absent.
TEST(ShardQueueTest, TornLastRecordAtEveryOffset) {
  TempDir src;
  QueueOptions o;
  o.dir = src.path();
  o.memory_budget_bytes = 0;
  const int kRecords = 6;
  {
    auto q = MustOpen(o);
    for (int i = 0; i < kRecords; ++i) q->Push(MakeBatch(i, 40 + i));
  }
  const auto files = SegmentFiles(src.path());
  ASSERT_EQ(files.size(), 1u);
  const auto size = std::filesystem::file_size(files[0]);
  const auto last = size - RecordBytes(MakeBatch(kRecords - 1, 40 + kRecords - 1));
  for (auto cut = last; cut <= size; ++cut) {
    SCOPED_TRACE(cut - last);
    TempDir dst;
    std::filesystem::copy(src.path(), dst.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    const std::string seg = dst.path() + "/" + std::filesystem::path(files[0]).filename().string();
    std::filesystem::resize_file(seg, cut);
    QueueOptions reopen = o;
    reopen.dir = dst.path();
    auto q = MustOpen(reopen);
    const bool whole = cut == size;
    const bool torn = cut != last && !whole;
    EXPECT_EQ(Ids(Drain(*q)), Range(0, whole ? kRecords : kRecords - 1));
    EXPECT_EQ(q->stats().corrupt_records, torn ? 1u : 0u);
  }
}

// One damaged byte: that record is skipped and counted, all others replay.
TEST(ShardQueueTest, BitFlipSkipsOneRecord) {
  const int kRecords = 8;
  auto check = [&](const char* name, int victim, size_t byte_in_record, uint8_t mask) {
    SCOPED_TRACE(name);
    TempDir dir;
    QueueOptions o;
    o.dir = dir.path();
    o.memory_budget_bytes = 0;
    std::vector<uint64_t> offsets;
    uint64_t offset = kSegmentHeaderBytes;
    {
      auto q = MustOpen(o);
      for (int i = 0; i < kRecords; ++i) {
        offsets.push_back(offset);
        offset += RecordBytes(MakeBatch(i, 200));
        q->Push(MakeBatch(i, 200));
      }
    }
    const auto files = SegmentFiles(dir.path());
    ASSERT_EQ(files.size(), 1u);
    {
      std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(static_cast<std::streamoff>(offsets[victim] + byte_in_record));
      char c = 0;
      f.get(c);
      c = static_cast<char>(c ^ mask);
      f.seekp(static_cast<std::streamoff>(offsets[victim] + byte_in_record));
      f.put(c);
    }
    auto q = MustOpen(o);
    std::vector<uint64_t> want;
    for (int i = 0; i < kRecords; ++i) {
      if (i != victim) want.push_back(i);
    }
    EXPECT_EQ(Ids(Drain(*q)), want);
    EXPECT_EQ(q->stats().corrupt_records, 1u);
  };
  check("payload data, middle record", 3, 150, 0x04);
  check("payload header, first record", 0, 9, 0x80);
  check("crc field", 5, 5, 0x01);
  check("length low bit", 4, 0, 0x01);
  check("length high bit", 2, 3, 0x40);
  check("last record data", kRecords - 1, 100, 0x20);
  check("last record length", kRecords - 1, 1, 0x02);
}

TEST(ShardQueueTest, MaxDiskBytesDropsOldestFirstAndCountsBytes) {
  TempDir dir;
  prometheus::Registry registry;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 0;
  const size_t rec = RecordBytes(MakeBatch(0, 300));
  o.segment_bytes = static_cast<int64_t>(kSegmentHeaderBytes + 2 * rec);  // 2 records each.
  o.max_disk_bytes = 5 * o.segment_bytes;
  auto q = MustOpen(o, &registry);
  for (uint64_t i = 0; i < 50; ++i) {
    q->Push(MakeBatch(i, 300));
    ASSERT_LE(static_cast<int64_t>(q->disk_bytes()), o.max_disk_bytes);
  }
  const auto ids = Ids(Drain(*q));
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids, Range(50 - ids.size(), 50));  // A contiguous newest suffix.
  const uint64_t dropped = 50 - ids.size();
  EXPECT_GE(dropped, 38u);  // At most 5 segments of 2 records remain (+1 being filled).
  EXPECT_EQ(q->stats().dropped_batches, dropped);
  EXPECT_EQ(q->stats().dropped_bytes_max_bytes, dropped * rec);
  EXPECT_EQ(MetricValue(registry, "tender_queue_dropped_bytes_total",
                        {{"reason", "max_bytes"}, {"remote_name", "r"}, {"shard", "0"}}),
            static_cast<double>(dropped * rec));
}

TEST(ShardQueueTest, MaxAgeDropsExpiredBatchesFromMemoryAndDisk) {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 3 * static_cast<int64_t>(RecordBytes(MakeBatch(0, 100)));
  o.max_age = absl::Minutes(10);
  o.clock = [&now] { return now; };
  auto q = MustOpen(o);
  const int64_t now_ms = absl::ToUnixMillis(now);
  // Ten batches one minute apart, batch i's newest sample (9 - i) minutes old: 7 on disk, 3 in
  // memory.
  for (int64_t i = 0; i < 10; ++i) {
    q->Push(MakeBatch(i, 100, now_ms - (9 - i) * 60'000 - 10));
  }
  ASSERT_GT(q->disk_bytes(), 0u);
  now += absl::Minutes(5) + absl::Seconds(30);  // Batches 0..4 are now older than 10 minutes.
  model::SeriesBatch b;
  ASSERT_TRUE(q->Peek(&b, absl::ZeroDuration()));
  EXPECT_EQ(b.shard_key, 5u);
  EXPECT_EQ(q->stats().dropped_bytes_max_age, 5 * RecordBytes(MakeBatch(0, 100)));
  now += absl::Minutes(4);  // All but batch 9 expired, including those in memory (7, 8).
  EXPECT_EQ(Ids(Drain(*q)), std::vector<uint64_t>{9});
  EXPECT_EQ(q->stats().dropped_batches, 9u);
}

// A path under a regular file cannot become a directory (even for root): the queue runs in
// memory within its budget, dropping the oldest and counting.
TEST(ShardQueueTest, UnwritableDirectoryKeepsRunningInMemory) {
  TempDir dir;
  const std::string file = dir.path() + "/plain_file";
  std::ofstream(file) << "x";
  prometheus::Registry registry;
  QueueOptions o;
  o.dir = file + "/queue";
  const size_t rec = RecordBytes(MakeBatch(0, 500));
  o.memory_budget_bytes = static_cast<int64_t>(4 * rec);
  auto q = MustOpen(o, &registry);
  ASSERT_NE(q, nullptr);
  // The consumer holds batch 0 for sending while it gets dropped: Pop must not remove batch 1..
  model::SeriesBatch held;
  q->Push(MakeBatch(0, 500));
  ASSERT_TRUE(q->Peek(&held, absl::ZeroDuration()));
  for (uint64_t i = 1; i < 20; ++i) {
    q->Push(MakeBatch(i, 500));
    ASSERT_LE(q->memory_bytes(), 4 * rec);
  }
  q->Pop();  // Batch 0 is gone already; nothing newer is removed unsent.
  EXPECT_EQ(Ids(Drain(*q)), Range(16, 20));
  EXPECT_EQ(q->stats().dropped_bytes_memory_full, 16 * rec);
  EXPECT_GE(q->stats().disk_errors, 1u);
  EXPECT_EQ(MetricValue(registry, "tender_queue_dropped_bytes_total", {{"reason", "memory_full"}}),
            static_cast<double>(16 * rec));
  // Flush cannot persist either: it reports the error and keeps the batch in memory.
  q->Push(MakeBatch(20, 500));
  EXPECT_FALSE(q->Flush(absl::Seconds(1)).ok());
  EXPECT_EQ(Ids(Drain(*q)), std::vector<uint64_t>{20});
}

TEST(ShardQueueTest, GaugesFollowTheQueue) {
  TempDir dir;
  prometheus::Registry registry;
  absl::Time now = absl::FromUnixSeconds(2'000'000);
  QueueOptions o;
  o.dir = dir.path();
  const size_t rec = RecordBytes(MakeBatch(0, 1000));
  o.memory_budget_bytes = static_cast<int64_t>(2 * rec);
  o.clock = [&now] { return now; };
  auto q = MustOpen(o, &registry);
  const int64_t now_ms = absl::ToUnixMillis(now);
  for (uint64_t i = 0; i < 5; ++i) q->Push(MakeBatch(i, 1000, now_ms - 30'000));
  const std::map<std::string, std::string> shard{{"remote_name", "r"}, {"shard", "0"}};
  auto with = [&shard](const char* k, const char* v) {
    auto labels = shard;
    labels.emplace(k, v);
    return labels;
  };
  EXPECT_EQ(MetricValue(registry, "tender_queue_bytes", with("where", "memory")), 2.0 * rec);
  EXPECT_EQ(MetricValue(registry, "tender_queue_bytes", with("where", "disk")),
            static_cast<double>(q->disk_bytes()));
  EXPECT_EQ(q->disk_bytes(), kSegmentHeaderBytes + 3 * rec);
  EXPECT_EQ(MetricValue(registry, "tender_queue_batches", shard), 5.0);
  EXPECT_EQ(MetricValue(registry, "tender_queue_oldest_sample_age_seconds", shard), 30.0);
  EXPECT_EQ(MetricValue(registry, "tender_queue_corrupt_records_total", shard), 0.0);
}

TEST(ShardQueueTest, ConcurrentProducerAndConsumerKeepOrder) {
  TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 20000;
  o.segment_bytes = 30000;
  auto q = MustOpen(o);
  const uint64_t kBatches = 3000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kBatches; ++i) q->Push(MakeBatch(i, i % 900));
  });
  std::vector<uint64_t> got;
  model::SeriesBatch b;
  while (got.size() < kBatches && q->Peek(&b, absl::Seconds(30))) {
    ASSERT_TRUE(SameBatch(b, MakeBatch(b.shard_key, b.shard_key % 900)));
    got.push_back(b.shard_key);
    q->Pop();
  }
  producer.join();
  EXPECT_EQ(got, Range(0, kBatches));
}

}  // namespace
}  // namespace tender::queue

namespace tender::queue {
namespace {

TEST(ShardQueueWaitTest, PeekWaitsForAPushAndTimesOutWhenEmpty) {
  testing_util::TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  auto q = ShardQueue::Open(o, nullptr, {});
  ASSERT_TRUE(q.ok());
  model::SeriesBatch b;
  EXPECT_FALSE((*q)->Peek(&b, absl::Milliseconds(1)));
  std::thread producer([&q] { (*q)->Push(testing_util::MakeBatch(5, 10)); });
  // Generous deadline: the wait ends as soon as the push lands.
  ASSERT_TRUE((*q)->Peek(&b, absl::Seconds(30)));
  EXPECT_EQ(b.shard_key, 5u);
  producer.join();
}

// A record damaged after it was written (bit rot) fails its CRC when read back: it is skipped
// and counted, and the next record is returned instead.
TEST(ShardQueueWaitTest, RecordCorruptedOnDiskIsSkippedWhenRead) {
  testing_util::TempDir dir;
  QueueOptions o;
  o.dir = dir.path();
  o.memory_budget_bytes = 0;
  auto q = ShardQueue::Open(o, nullptr, {});
  ASSERT_TRUE(q.ok());
  for (uint64_t i = 0; i < 3; ++i) (*q)->Push(testing_util::MakeBatch(i, 100));
  const auto files = testing_util::SegmentFiles(dir.path());
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    const auto pos = static_cast<std::streamoff>(kSegmentHeaderBytes + 60);  // In record 0.
    f.seekp(pos);
    f.put('\xff');
  }
  EXPECT_EQ(testing_util::Ids(testing_util::Drain(**q)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ((*q)->stats().corrupt_records, 1u);
}

}  // namespace
}  // namespace tender::queue
