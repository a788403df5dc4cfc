// ShardQueue: the FIFO of SeriesBatches of one remote-write shard. Batches stay in memory while
// under a byte budget and spill to append-only segment files when over it; the disk is replayed
// first on start-up. Thread-safe: any number of producer threads Push; one consumer thread
// Peeks and Pops. See exporters/queue/README.md for the format and the invariants.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/model/series_batch.h"
#include "exporters/queue/segment_format.h"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace tender::queue {

struct QueueOptions {
  // Directory of this shard's segment files (created when missing). One queue per directory.
  std::string dir;
  // Bytes (RecordBytes of each batch) kept in memory before spilling the oldest to disk.
  // 0 = every batch goes to disk. This is also what a kill -9 can lose.
  int64_t memory_budget_bytes = 16 << 20;
  // Every pushed batch is written to disk at once (a kill -9 then loses nothing already
  // pushed); memory holds batches only while the disk fails, up to memory_budget_bytes.
  bool write_through = false;
  // Bound on the segment files' total size; the oldest segments are dropped first. 0 = none.
  int64_t max_disk_bytes = 0;
  // Batches whose max timestamp is older than now - max_age are dropped. 0 = off.
  absl::Duration max_age = absl::ZeroDuration();
  // A segment is closed and a new one started once it would grow past this.
  int64_t segment_bytes = 64 << 20;
  // Wall clock (for max_age and the oldest-sample-age gauge); nullptr = absl::Now.
  std::function<absl::Time()> clock;
};

// A queued batch as the consumer sees it: shared with the queue, never modified once pushed.
using SharedBatch = std::shared_ptr<const model::SeriesBatch>;

class ShardQueue {
 public:
  // Counters, also exported as metrics.
  struct Stats {
    uint64_t dropped_bytes_max_bytes = 0;    // Disk bound hit: oldest segments dropped.
    uint64_t dropped_bytes_max_age = 0;      // Batches older than max_age.
    uint64_t dropped_bytes_memory_full = 0;  // Disk unusable and memory over budget.
    uint64_t dropped_batches = 0;            // All reasons together.
    uint64_t corrupt_records = 0;            // Damaged regions skipped (replay or read).
    uint64_t disk_errors = 0;                // Failed writes, opens, reads, deletes.
  };

  // Opens the queue in `options.dir`, scanning the segment files left there (oldest first, from
  // the persisted read cursor). A directory that cannot be created or listed is not an error:
  // the queue runs in memory, counts a disk error and retries the disk on later spills. Errors:
  // InvalidArgument for bad options. `registry` (may be null) must outlive the queue; its
  // metrics carry `metric_labels` (e.g. remote_name, shard) and are left registered afterwards.
  static absl::StatusOr<std::unique_ptr<ShardQueue>> Open(
      QueueOptions options, prometheus::Registry* registry,
      std::map<std::string, std::string> metric_labels);

  // Persists the read cursor (so a restart does not replay what was popped); does not flush
  // memory: call Flush first for that.
  ~ShardQueue();

  ShardQueue(const ShardQueue&) = delete;
  ShardQueue& operator=(const ShardQueue&) = delete;

  // Appends `batch` as the newest. Never waits for the consumer; may write to disk (page
  // cache, no fsync). When memory goes over budget the oldest in-memory batches are written to
  // disk; when the disk fails they are dropped (counted as memory_full) instead.
  void Push(model::SeriesBatch&& batch);

  // Copies the oldest batch into `*out` without removing it, waiting up to `wait` for one.
  // False when the queue stayed empty. Repeated Peeks without Pop return the same batch unless
  // it was dropped (max_age, max_disk_bytes, memory_full) in between.
  bool Peek(model::SeriesBatch* out, absl::Duration wait);

  // Removes the batch returned by the last Peek (after it was sent or given up). A no-op when
  // that batch was already dropped by a bound, so a newer batch is never removed unsent.
  void Pop();

  // Puts the oldest batches into `*out` (cleared first) without removing them: at least one,
  // then more while their samples add up to at most `max_samples` (or, when the first batch
  // alone is larger, to the next multiple of `max_samples`, so that its last request can be
  // filled up), and at most `max_batches`. In-memory batches are shared, not copied (the
  // consumer should drop them once sent, so that popped batches are freed); disk records are
  // read into new batches.
  // Waits up to `wait` for a first batch. Returns the id of the last batch returned, to pass to
  // PopThrough once they are sent; nullopt when the queue stayed empty.
  std::optional<uint64_t> PeekMany(size_t max_samples, size_t max_batches,
                                   std::vector<SharedBatch>* out, absl::Duration wait);
  // The same, with copies of the batches.
  std::optional<uint64_t> PeekMany(size_t max_samples, size_t max_batches,
                                   std::vector<model::SeriesBatch>* out, absl::Duration wait);

  // Removes every batch from the head up to and including the one with id `last_id`. Batches
  // already dropped by a bound are skipped; a newer batch is never removed. When this moves the
  // read position on disk, the cursor file is rewritten (so a kill -9 replays at most what was
  // being sent).
  void PopThrough(uint64_t last_id);

  // Waits until the queue holds at least `min_samples` samples, `wait` has passed, or Wake was
  // called since the last wait. True when the samples are there.
  bool WaitForSamples(size_t min_samples, absl::Duration wait);
  // Ends the current and the next WaitForSamples and Peek/PeekMany waits early (for shutdown).
  void Wake();

  // Writes every in-memory batch to disk (in order, after what is there), fsyncs, and persists
  // the read cursor. For graceful shutdown. Errors: DeadlineExceeded when `deadline` passed
  // first, or the disk error; what was not written stays in memory.
  absl::Status Flush(absl::Duration deadline);

  size_t memory_bytes() const;
  size_t disk_bytes() const;      // Size of the segment files, headers included.
  size_t batches() const;         // In memory and on disk.
  size_t samples() const;         // In memory and on disk.
  size_t memory_samples() const;  // In memory only (what a Flush has not written yet).
  Stats stats() const;

 private:
  struct Segment {
    uint64_t seq = 0;
    int64_t file_bytes = 0;
    std::deque<RecordRef> records;  // Not yet consumed, oldest first.
  };
  struct Metrics {
    prometheus::Gauge* memory_bytes = nullptr;
    prometheus::Gauge* disk_bytes = nullptr;
    prometheus::Gauge* batches = nullptr;
    prometheus::Gauge* oldest_age = nullptr;
    prometheus::Counter* dropped_max_bytes = nullptr;
    prometheus::Counter* dropped_max_age = nullptr;
    prometheus::Counter* dropped_memory_full = nullptr;
    prometheus::Counter* corrupt = nullptr;
    prometheus::Counter* disk_errors = nullptr;
  };
  enum class DropReason { kMaxBytes, kMaxAge, kMemoryFull };

  explicit ShardQueue(QueueOptions options);

  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  std::string SegmentPath(uint64_t seq) const;
  void ReplayLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteLocked(const model::SeriesBatch& batch, uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OpenSegmentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseWriterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteFrontSegmentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropFrontSegmentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountDropLocked(DropReason reason, uint64_t bytes, uint64_t batches = 1)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountDiskErrorLocked(const std::string& what, int err) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountCorruptLocked(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteCursorLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Oldest batch id still queued (memory or disk); next_id_ when empty.
  uint64_t HeadIdLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads and decodes disk record `ref` of segment `seq`; false on a read or CRC error.
  bool ReadRecordLocked(uint64_t seq, const RecordRef& ref, model::SeriesBatch* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const QueueOptions options_;
  std::unique_ptr<prometheus::Registry> own_registry_;  // When the caller passes none.
  Metrics metrics_;

  // Covers everything below. Disk I/O happens under it (one shard, sequential page-cache I/O).
  // std::mutex rather than absl::Mutex so that ThreadSanitizer sees it (Debian's abseil is not
  // instrumented).
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  // Order of the queue: segments_ (oldest first), then memory_. Everything on disk is older
  // than everything in memory.
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);
  struct MemoryEntry {
    uint64_t id = 0;
    SharedBatch batch;  // Never null.
  };
  std::deque<MemoryEntry> memory_ ABSL_GUARDED_BY(mu_);
  int64_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t disk_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t disk_records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t samples_ ABSL_GUARDED_BY(mu_) = 0;  // In memory and on disk.
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;  // Id of the next batch pushed or replayed.
  uint64_t wake_ ABSL_GUARDED_BY(mu_) = 0;     // Incremented by Wake.
  uint64_t wake_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int write_fd_ ABSL_GUARDED_BY(mu_) = -1;  // Appends to segments_.back() when >= 0.
  int read_fd_ ABSL_GUARDED_BY(mu_) = -1;   // Reads segments_.front() (seq read_seq_).
  uint64_t read_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  bool dir_ready_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time disk_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Id of the last batch returned by Peek, for Pop.
  std::optional<uint64_t> peeked_id_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tender::queue
