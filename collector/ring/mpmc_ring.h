// MpmcRing: a bounded lock-free multi-producer multi-consumer queue of move-only-friendly items,
// built on per-cell sequence numbers. Thread-safe: any number of threads may call TryPush and
// TryPop at the same time; construction and destruction need exclusive access.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace tender::ring {

// Cache line size used to keep hot atomics apart. 64 bytes on every x86-64 and most ARM cores;
// a fixed constant because std::hardware_destructive_interference_size warns in headers on g++.
inline constexpr size_t kCacheLineSize = 64;

// Bounded MPMC queue. Each cell carries a sequence number that says whose turn it is:
//   seq == pos             the cell is free for the producer that claims position `pos`;
//   seq == pos + 1         the cell holds the item of position `pos`, ready for a consumer;
//   seq == pos + capacity  the consumer of `pos` is done; free for position pos + capacity.
// Producers claim positions with a CAS on `enqueue_pos_`, consumers on `dequeue_pos_`; the two
// counters live on separate cache lines. Items are moved in and out; the cell array is
// allocated once in the constructor and never again.
//
// Close() sets a flag bit in `enqueue_pos_`, so a producer's claim and the close are ordered by
// that one word: a push either claimed its cell before the close (and will publish it) or fails.
// "Closed and every claimed position popped" is therefore final (drained()).
//
// Ordering: items leave in claim order. A thread whose TryPush(a) returned before its
// TryPush(b) started gets a a smaller position for a, so every consumer that pops both pops a
// first. TryPush may report "full" (and TryPop "empty") while another thread is between
// claiming and publishing a cell: a snapshot answer, never a lost item.
template <typename T>
class MpmcRing {
  // A throwing move would leave a claimed cell half-written; batches and pointers never throw.
  static_assert(std::is_nothrow_move_constructible_v<T>, "T must be nothrow move constructible");
  static_assert(std::is_nothrow_move_assignable_v<T>, "T must be nothrow move assignable");
  static_assert(sizeof(size_t) == 8, "positions and the closed bit need 64 bits");

 public:
  // Smallest and largest capacity after rounding. Two cells are the minimum for the sequence
  // scheme: with one cell "published for pos" (pos + 1) equals "free for pos + 1".
  static constexpr size_t kMinCapacity = 2;
  static constexpr size_t kMaxCapacity = size_t{1} << 30;

  // Creates an empty ring holding up to `capacity` items, rounded up to a power of two and
  // clamped to [kMinCapacity, kMaxCapacity]. Allocates capacity() cells.
  explicit MpmcRing(size_t capacity)
      : mask_(RoundCapacity(capacity) - 1), cells_(new Cell[mask_ + 1]) {
    for (size_t i = 0; i <= mask_; ++i) {
      cells_[i].seq.store(i, std::memory_order_relaxed);
    }
  }

  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;

  // Destroys the items still queued. No other thread may use the ring any more.
  ~MpmcRing() {
    const size_t end = enqueue_pos_.value.load(std::memory_order_relaxed) & ~kClosedBit;
    for (size_t pos = dequeue_pos_.value.load(std::memory_order_relaxed); pos != end; ++pos) {
      cells_[pos & mask_].item()->~T();
    }
  }

  // Moves `item` into the ring and returns true, or returns false when the ring is full or
  // closed; `item` is left untouched then. Lock-free; any thread.
  [[nodiscard]] bool TryPush(T&& item) {
    Cell* cell;
    size_t pos = enqueue_pos_.value.load(std::memory_order_relaxed);
    for (;;) {
      if ((pos & kClosedBit) != 0) {
        return false;
      }
      cell = &cells_[pos & mask_];
      // Acquire pairs with the consumer's release in TryPop: the previous item in this cell has
      // been moved out and destroyed before we construct over it.
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::intptr_t>(seq - pos);
      if (diff == 0) {
        // Relaxed is enough: the position only picks a cell; the cell's seq carries the data. The
        // CAS fails if Close() set its bit meanwhile, and the next round sees the bit.
        if (enqueue_pos_.value.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          break;
        }
      } else if (diff < 0) {
        return false;  // The cell still holds the item from one lap ago: full.
      } else {
        pos = enqueue_pos_.value.load(std::memory_order_relaxed);  // Lost a race; catch up.
      }
    }
    ::new (static_cast<void*>(cell->storage)) T(std::move(item));
    // Release publishes the constructed item to the consumer that acquires seq == pos + 1.
    cell->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  // Moves the oldest item into `*out` and returns true, or returns false when the ring is empty
  // (`*out` untouched). Lock-free; any thread.
  [[nodiscard]] bool TryPop(T* out) {
    Cell* cell;
    size_t pos = dequeue_pos_.value.load(std::memory_order_relaxed);
    for (;;) {
      cell = &cells_[pos & mask_];
      // Acquire pairs with the producer's release in TryPush: the item is fully constructed.
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::intptr_t>(seq - (pos + 1));
      if (diff == 0) {
        if (dequeue_pos_.value.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          break;
        }
      } else if (diff < 0) {
        return false;  // Not yet published for this lap: empty (or a producer mid-publish).
      } else {
        pos = dequeue_pos_.value.load(std::memory_order_relaxed);
      }
    }
    T* item = cell->item();
    *out = std::move(*item);
    item->~T();
    // Release hands the now-empty cell to the producer one lap ahead.
    cell->seq.store(pos + mask_ + 1, std::memory_order_release);
    return true;
  }

  // Closes the ring to producers: every later TryPush fails. Items pushed before, including
  // pushes that had claimed their cell and publish it after this call, stay poppable.
  // Idempotent; any thread.
  void Close() { enqueue_pos_.value.fetch_or(kClosedBit, std::memory_order_acq_rel); }

  // True once Close() was called. Any thread.
  bool closed() const {
    return (enqueue_pos_.value.load(std::memory_order_acquire) & kClosedBit) != 0;
  }

  // True when the ring is closed and every item pushed before has been popped; then it stays
  // true. Exact for a single consumer; with several, a `false` may be briefly stale.
  bool drained() const {
    const size_t tail = enqueue_pos_.value.load(std::memory_order_acquire);
    if ((tail & kClosedBit) == 0) {
      return false;
    }
    return dequeue_pos_.value.load(std::memory_order_acquire) == (tail & ~kClosedBit);
  }

  // Number of queued items, in [0, capacity()]. Exact only when no other thread is pushing or
  // popping; otherwise a recent value, good for gauges and heuristics. Any thread.
  size_t SizeApprox() const {
    // Load the consumer side first: both counters only grow, so enqueue read later is >= it
    // unless a wrap of size_t happened, which takes centuries.
    const size_t head = dequeue_pos_.value.load(std::memory_order_relaxed);
    const size_t tail = enqueue_pos_.value.load(std::memory_order_relaxed) & ~kClosedBit;
    const auto diff = static_cast<std::intptr_t>(tail - head);
    if (diff <= 0) {
      return 0;
    }
    return static_cast<size_t>(diff) > capacity() ? capacity() : static_cast<size_t>(diff);
  }

  // Number of cells: the requested capacity rounded up to a power of two.
  size_t capacity() const { return mask_ + 1; }

  // The capacity a ring constructed with `requested` will have.
  static constexpr size_t RoundCapacity(size_t requested) {
    if (requested <= kMinCapacity) {
      return kMinCapacity;
    }
    if (requested >= kMaxCapacity) {
      return kMaxCapacity;
    }
    return std::bit_ceil(requested);
  }

 private:
  // Set in enqueue_pos_ by Close(). Positions count pushes, so they never reach bit 63.
  static constexpr size_t kClosedBit = size_t{1} << 63;

  struct Cell {
    std::atomic<size_t> seq{0};
    alignas(T) unsigned char storage[sizeof(T)];

    T* item() { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  // A counter alone on its cache line, so producers and consumers do not invalidate each other.
  struct alignas(kCacheLineSize) PaddedCounter {
    std::atomic<size_t> value{0};
  };

  const size_t mask_;
  const std::unique_ptr<Cell[]> cells_;
  PaddedCounter enqueue_pos_;  // Tail: next position a producer claims.
  PaddedCounter dequeue_pos_;  // Head: next position a consumer claims.
};

}  // namespace tender::ring
