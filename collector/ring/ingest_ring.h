// IngestRing: the bounded hand-off between producers (scrape workers, log readers) and the
// exporters (DESIGN decision 6). Producers on any thread Push without a lock; one consumer per
// shard (normally) Pops, parking on a futex when idle. Thread-safe; see collector/ring/README.md.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "collector/ring/mpmc_ring.h"
#include "collector/ring/parking.h"

namespace tender::ring {

namespace internal {

using SteadyClock = std::chrono::steady_clock;

// The steady-clock deadline `timeout` from now; time_point::max() when it does not fit
// (absl::InfiniteDuration() and anything near it mean "no deadline").
inline SteadyClock::time_point DeadlineAfter(absl::Duration timeout) {
  const SteadyClock::time_point now = SteadyClock::now();
  if (timeout <= absl::ZeroDuration()) {
    return now;
  }
  const std::chrono::nanoseconds wait = absl::ToChronoNanoseconds(timeout);
  if (wait >= SteadyClock::time_point::max() - now) {
    return SteadyClock::time_point::max();
  }
  return now + std::chrono::duration_cast<SteadyClock::duration>(wait);
}

// Makes the thread-sanitizer build accept std::atomic_thread_fence (g++ warns that TSan does not
// model fences). Every fence below only orders a wake-up check; no data is published through a
// fence, so TSan sees all the happens-before edges it needs through the cell sequence numbers.
inline void FullFence() {
#if defined(__GNUC__) && !defined(__clang__) && defined(__SANITIZE_THREAD__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__GNUC__) && !defined(__clang__) && defined(__SANITIZE_THREAD__)
#pragma GCC diagnostic pop
#endif
}

}  // namespace internal

// N shards of MpmcRing; an item with key k goes to shard k % N, so the items of one key (one
// target) travel through one shard in push order. Memory is bounded: shards * capacity cells,
// allocated in the constructor.
//
// Producers: Push from any thread. The fast path is lock-free and makes no syscall unless a
// consumer of the shard is parked. A full shard is backpressure: the producer backs off (spin,
// yield, then parks until a consumer has drained the shard to half full, each park capped at
// kMaxBackoffSleep) until it gets a cell, the timeout passes or the ring closes; a push that
// fails leaves the item with the caller. Nothing is dropped silently.
//
// Consumers: Pop(shard) from any thread; per-key order is only meaningful with one consumer per
// shard (with several, no item is lost or duplicated and at least one parked consumer is woken
// per burst). An idle consumer spins briefly, then parks on the shard's futex word until a
// producer or Close() wakes it.
template <typename T>
class IngestRing {
 public:
  // Longest single park of a producer waiting for space in a full shard: the bound on the delay
  // a missed wake-up can cause (consumers skip the fence that would make wake-ups exact).
  static constexpr std::chrono::microseconds kMaxBackoffSleep{1000};

  // Creates `shards` shards (at least 1) of `capacity_per_shard` items each (rounded as
  // MpmcRing does). All memory is allocated here.
  IngestRing(size_t shards, size_t capacity_per_shard) {
    const size_t n = shards == 0 ? 1 : shards;
    shards_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      shards_.push_back(std::make_unique<Shard>(capacity_per_shard));
    }
  }

  IngestRing(const IngestRing&) = delete;
  IngestRing& operator=(const IngestRing&) = delete;

  // Destroys undrained items. No thread may be inside Push or Pop any more.
  ~IngestRing() = default;

  // Moves `item` into shard `key % shards()` and returns true. When the shard is full, waits up
  // to `timeout` (zero: one attempt; absl::InfiniteDuration(): until space or Close) with
  // bounded backoff, counting one full event. Returns false, with `item` untouched, when the
  // ring is closed or the timeout passes (counted in push_timeouts()). Any thread.
  [[nodiscard]] bool Push(uint64_t key, T&& item, absl::Duration timeout) {
    Shard& shard = *shards_[key % shards_.size()];
    if (!shard.ring.TryPush(std::move(item))) {
      if (shard.ring.closed()) {
        return false;
      }
      full_events_.value.fetch_add(1, std::memory_order_relaxed);
      if (!PushWhenSpace(shard, item, timeout)) {
        return false;
      }
    }
    WakeConsumer(shard);
    return true;
  }

  // Moves the oldest item of `shard` into `*out` and returns true. When the shard is empty,
  // waits up to `timeout` (absl::InfiniteDuration(): no limit) for an item. Returns false on
  // timeout, or once the ring is closed and the shard drained (every item pushed before Close
  // popped); IsDrained() tells the two apart. `shard` must be < shards(). Any thread.
  [[nodiscard]] bool Pop(size_t shard_index, T* out, absl::Duration timeout) {
    if (shard_index >= shards_.size()) {
      return false;
    }
    Shard& shard = *shards_[shard_index];
    const bool popped = PopOrWait(shard, out, timeout);
    if (popped) {
      WakeProducers(shard);
    }
    return popped;
  }

  // Closes the ring: every later Push fails, waiting producers give up (keeping their items),
  // parked consumers wake. Pop keeps returning what is left, then false. Idempotent; any thread.
  void Close() {
    for (auto& shard : shards_) {
      shard->ring.Close();
      // Always wake (Close is rare): a consumer that read the old epoch either sees the bump
      // before parking or is woken from it.
      shard->wake_epoch.fetch_add(1, std::memory_order_release);
      internal::UnparkAll(shard->wake_epoch);
      shard->space_epoch.fetch_add(1, std::memory_order_release);
      internal::UnparkAll(shard->space_epoch);
    }
  }

  // True once Close() was called. Any thread.
  bool closed() const { return shards_[0]->ring.closed(); }

  // True when the ring is closed and every item pushed into `shard` has been popped: its consumer
  // can stop. Final once true. Any thread (exact for the shard's consumer).
  bool IsDrained(size_t shard_index) const { return shards_[shard_index]->ring.drained(); }

  size_t shards() const { return shards_.size(); }

  // Cells per shard (the rounded capacity).
  size_t capacity_per_shard() const { return shards_[0]->ring.capacity(); }

  // Approximate number of items queued in `shard`, for gauges. Any thread.
  size_t Depth(size_t shard_index) const { return shards_[shard_index]->ring.SizeApprox(); }

  // Consumers of `shard` parked right now (a gauge, and a condition tests can wait on).
  uint32_t ParkedConsumers(size_t shard_index) const {
    return shards_[shard_index]->parked.load(std::memory_order_relaxed);
  }

  // Pushes that found their shard full (once per Push, however long it then waited).
  uint64_t full_events() const { return full_events_.value.load(std::memory_order_relaxed); }

  // Pushes that failed because the timeout passed while the shard stayed full.
  uint64_t push_timeouts() const { return push_timeouts_.value.load(std::memory_order_relaxed); }

 private:
  static constexpr int kPopSpins = 128;
  static constexpr int kPopYields = 4;
  static constexpr std::chrono::nanoseconds kClosedPoll{std::chrono::microseconds(100)};

  struct alignas(kCacheLineSize) Shard {
    explicit Shard(size_t capacity) : ring(capacity) {}

    MpmcRing<T> ring;  // Holds the closed flag too (see MpmcRing::Close).
    // Consumer parking; written when a consumer parks, read by producers after each push.
    alignas(kCacheLineSize) std::atomic<uint32_t> parked{0};  // Consumers registered to park.
    std::atomic<uint32_t> wake_epoch{0};                      // The futex word consumers park on.
    // Set by the producer that wakes the consumers, cleared by each consumer as it registers:
    // while set, further producers skip the wake syscall (the consumer is already on its way).
    std::atomic<bool> consumer_wake_pending{false};
    // Producer parking on a full shard; the mirror image, read by consumers after each pop.
    alignas(kCacheLineSize) std::atomic<uint32_t> waiting_producers{0};
    std::atomic<uint32_t> space_epoch{0};  // The futex word producers park on.
    std::atomic<bool> producer_wake_pending{false};
  };

  struct alignas(kCacheLineSize) PaddedCounter {
    std::atomic<uint64_t> value{0};
  };

  // Pop without the producer wake-up: TryPop, a short spin, then park until an item, the
  // deadline, or closed-and-drained.
  bool PopOrWait(Shard& shard, T* out, absl::Duration timeout) {
    if (shard.ring.TryPop(out)) {
      return true;
    }
    // A short spin, then a few yields, catch the next item of a busy producer without a
    // park/unpark round trip (two syscalls and two context switches). The yields matter when
    // threads outnumber cores: they let a preempted producer run. Measured in bench/ring: with
    // the spin alone the consumer parked every 10-25 items under load; with the yields, almost
    // never.
    for (int i = 0; i < kPopSpins; ++i) {
      internal::CpuRelax();
      if (shard.ring.TryPop(out)) {
        return true;
      }
    }
    for (int i = 0; i < kPopYields; ++i) {
      std::this_thread::yield();
      if (shard.ring.TryPop(out)) {
        return true;
      }
    }
    const auto deadline = internal::DeadlineAfter(timeout);
    for (;;) {
      const uint32_t epoch = shard.wake_epoch.load(std::memory_order_acquire);
      shard.parked.fetch_add(1, std::memory_order_seq_cst);
      // Release pairs with the waker's exchange: a waker that sees this clear also bumps the
      // epoch after our read of it, so the park below returns at once.
      shard.consumer_wake_pending.store(false, std::memory_order_release);
      // Pairs with the fence in WakeConsumer (store-buffering): either this TryPop sees the
      // producer's item, or the producer sees our registration (parked > 0, pending cleared).
      internal::FullFence();
      if (shard.ring.TryPop(out)) {
        shard.parked.fetch_sub(1, std::memory_order_relaxed);
        return true;
      }
      const bool closed = shard.ring.closed();
      if (closed && shard.ring.drained()) {
        shard.parked.fetch_sub(1, std::memory_order_relaxed);
        return false;  // Final: nothing was pushed after Close and everything before is popped.
      }
      const auto now = internal::SteadyClock::now();
      if (now >= deadline) {
        shard.parked.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      std::chrono::nanoseconds wait{-1};  // No limit.
      if (deadline != internal::SteadyClock::time_point::max()) {
        wait = deadline - now;
      }
      if (closed) {
        // A push that claimed its cell before Close publishes it and wakes us. Polling as well
        // keeps consumers of a shared shard from sleeping on a stale "not drained".
        wait =
            wait.count() < 0 ? kClosedPoll : std::min<std::chrono::nanoseconds>(wait, kClosedPoll);
      }
      internal::ParkWhileEqual(shard.wake_epoch, epoch, wait);
      shard.parked.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Backoff loop for a full shard. Returns true once `item` was pushed; false on timeout
  // (counted) or close. Leaves `item` untouched on failure.
  bool PushWhenSpace(Shard& shard, T& item, absl::Duration timeout) {
    constexpr int kSpinRounds = 16;  // ~16 * 32 pause instructions: a few microseconds.
    constexpr int kYieldRounds = 8;  // Then let the consumer run if it shares our core.
    const auto deadline = internal::DeadlineAfter(timeout);
    for (int round = 0;; ++round) {
      if (round < kSpinRounds) {
        for (int i = 0; i < 32; ++i) {
          internal::CpuRelax();
        }
      } else if (round < kSpinRounds + kYieldRounds) {
        std::this_thread::yield();
      } else {
        // Park until a consumer has drained the shard to half, for at most kMaxBackoffSleep.
        const uint32_t epoch = shard.space_epoch.load(std::memory_order_acquire);
        shard.waiting_producers.fetch_add(1, std::memory_order_seq_cst);
        shard.producer_wake_pending.store(false, std::memory_order_release);
        internal::FullFence();
        const bool pushed = shard.ring.TryPush(std::move(item));
        const auto now = internal::SteadyClock::now();
        if (!pushed && now < deadline && !shard.ring.closed()) {
          internal::ParkWhileEqual(
              shard.space_epoch, epoch,
              std::min<std::chrono::nanoseconds>(deadline - now, kMaxBackoffSleep));
        }
        shard.waiting_producers.fetch_sub(1, std::memory_order_relaxed);
        if (pushed) {
          return true;
        }
      }
      if (shard.ring.TryPush(std::move(item))) {
        return true;
      }
      if (shard.ring.closed()) {
        return false;
      }
      if (internal::SteadyClock::now() >= deadline) {
        push_timeouts_.value.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
  }

  // After a successful pop: wakes the producers parked on a full `shard` once it is at most half
  // full, so that they find room for a run of pushes. No fence here on purpose (it would cost
  // every pop): a wake-up missed in that race costs the producer at most one kMaxBackoffSleep.
  static void WakeProducers(Shard& shard) {
    if (shard.waiting_producers.load(std::memory_order_relaxed) != 0 &&
        shard.ring.SizeApprox() <= shard.ring.capacity() / 2 &&
        ClaimWake(shard.producer_wake_pending)) {
      shard.space_epoch.fetch_add(1, std::memory_order_release);
      internal::UnparkAll(shard.space_epoch);
    }
  }

  // After a successful push: wakes one parked consumer of `shard`, if any and if no other
  // producer already did since it registered. The fence pairs with the one in PopOrWait; without
  // a parked consumer this costs a fence and a load, no syscall.
  static void WakeConsumer(Shard& shard) {
    internal::FullFence();
    if (shard.parked.load(std::memory_order_relaxed) != 0 &&
        ClaimWake(shard.consumer_wake_pending)) {
      shard.wake_epoch.fetch_add(1, std::memory_order_release);
      internal::Unpark(shard.wake_epoch, 1);
    }
  }

  // True for the one waker that flips `pending` from false to true; the others skip their
  // syscall until a sleeper registers again and clears it. Acquire pairs with that clear.
  static bool ClaimWake(std::atomic<bool>& pending) {
    return !pending.load(std::memory_order_relaxed) &&
           !pending.exchange(true, std::memory_order_acquire);
  }

  std::vector<std::unique_ptr<Shard>> shards_;
  PaddedCounter full_events_;
  PaddedCounter push_timeouts_;
};

}  // namespace tender::ring
