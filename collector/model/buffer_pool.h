// BufferPool keeps large std::string buffers (their capacity) for reuse. Buffers of megabytes
// written once per scrape (bodies, encoded batches) otherwise take fresh pages from the system
// each time, at one page fault and one zeroed page per 4 KiB written, and give them back when
// freed (glibc maps buffers of M_MMAP_THRESHOLD and more on their own; see app.cc).
//
// A byte budget (over the buffers' capacity), not a count, bounds what is kept, so that a few
// large buffers cannot pin much memory; buffers unused for `max_idle` are freed, so that memory
// kept for a burst goes back once it is over.
//
// Thread-safe: every method may be called from any thread (one mutex, held for a scan of the
// few buffers kept; the buffers themselves are freed outside it).
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tender::model {

class BufferPool {
 public:
  struct Options {
    size_t max_bytes = 16 << 20;  // Capacity kept over all buffers.
    size_t min_capacity = 4096;   // Smaller buffers are not worth keeping.
    absl::Duration max_idle = absl::InfiniteDuration();
  };
  explicit BufferPool(Options options, std::function<absl::Time()> clock = nullptr);

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A cleared buffer: the smallest kept one of at least `want` bytes and at most twice that
  // (plus min_capacity), or any kept one when `want` is 0 (size unknown); else an empty string.
  // A buffer keeps every page it ever held, so a large one handed to a small request would keep
  // its pages unused; and small requests must not take the large buffers. When none fits, the
  // buffers unused longest are freed until the rest plus `want` fit the budget: the caller is
  // about to allocate that much, and it comes back here.
  std::string Take(size_t want);

  // Keeps `buffer` (whatever it holds) when it is large enough and fits the budget.
  void Give(std::string&& buffer);

  size_t bytes() const;    // Capacity kept.
  size_t buffers() const;  // Buffers kept.

 private:
  struct Kept {
    std::string buffer;
    absl::Time since;  // When it was given back.
  };
  absl::Time Now() const { return clock_ ? clock_() : absl::Now(); }
  // Takes kept_[i] out (the last entry moves into its place).
  std::string RemoveLocked(size_t i);
  // Moves buffers idle for longer than max_idle into `*freed`.
  void ExpireLocked(absl::Time now, std::vector<std::string>* freed);

  const Options options_;
  const std::function<absl::Time()> clock_;
  mutable std::mutex mu_;
  std::vector<Kept> kept_;  // Guarded by mu_.
  size_t bytes_ = 0;        // Their capacity; guarded by mu_.
};

// The process-wide pool of large buffers: scrape bodies and SeriesBatch data. The fetcher takes
// bodies from it, the scrape workers give bodies back once parsed and take batch buffers, and
// queued batches give theirs back when their last holder drops them after sending. One budget
// of 8 MiB for both kinds (a cAdvisor body is about 2.1 MB, its batch 2.3 MB): 16 MiB saved a
// little more CPU but added 7-11 MiB to the peak RSS at small scale (docs/benchmarks.md).
// Buffers under 64 KiB come from malloc's heaps anyway; a buffer unused for 2 s is freed.
BufferPool& LargeBufferPool();

}  // namespace tender::model
