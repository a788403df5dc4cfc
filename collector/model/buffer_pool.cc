#include "collector/model/buffer_pool.h"

#include <cstdint>
#include <utility>

namespace tender::model {

BufferPool::BufferPool(Options options, std::function<absl::Time()> clock)
    : options_(options), clock_(std::move(clock)) {}

std::string BufferPool::RemoveLocked(size_t i) {
  std::string buffer = std::move(kept_[i].buffer);
  kept_[i] = std::move(kept_.back());
  kept_.pop_back();
  bytes_ -= buffer.capacity();
  return buffer;
}

void BufferPool::ExpireLocked(absl::Time now, std::vector<std::string>* freed) {
  if (options_.max_idle == absl::InfiniteDuration()) return;
  for (size_t i = 0; i < kept_.size();) {
    if (now - kept_[i].since > options_.max_idle) {
      freed->push_back(RemoveLocked(i));
    } else {
      ++i;
    }
  }
}

std::string BufferPool::Take(size_t want) {
  std::string buffer;
  std::vector<std::string> freed;  // Freed outside the lock.
  {
    std::lock_guard<std::mutex> lock(mu_);
    ExpireLocked(Now(), &freed);
    const size_t most = want == 0 ? SIZE_MAX : 2 * want + options_.min_capacity;
    size_t best = kept_.size();
    for (size_t i = 0; i < kept_.size(); ++i) {
      const size_t c = kept_[i].buffer.capacity();
      if (c >= want && c <= most && (best == kept_.size() || c < kept_[best].buffer.capacity())) {
        best = i;
      }
    }
    if (best != kept_.size()) {
      buffer = RemoveLocked(best);
    } else if (want >= options_.min_capacity) {
      // The caller allocates `want` bytes afresh, and that buffer comes back here later: free
      // the buffers unused longest so that what is kept plus it stays within the budget, rather
      // than holding a full pool beside every large buffer that found no match.
      while (!kept_.empty() && bytes_ + want > options_.max_bytes) {
        size_t oldest = 0;
        for (size_t i = 1; i < kept_.size(); ++i) {
          if (kept_[i].since < kept_[oldest].since) oldest = i;
        }
        freed.push_back(RemoveLocked(oldest));
      }
    }
  }
  buffer.clear();
  return buffer;
}

void BufferPool::Give(std::string&& buffer) {
  const size_t capacity = buffer.capacity();
  if (capacity < options_.min_capacity) return;
  std::vector<std::string> freed;  // Freed outside the lock.
  std::string dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = Now();
    ExpireLocked(now, &freed);
    if (bytes_ + capacity <= options_.max_bytes) {
      bytes_ += capacity;
      kept_.push_back(Kept{std::move(buffer), now});
    } else {
      dropped = std::move(buffer);
    }
  }
}

size_t BufferPool::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t BufferPool::buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kept_.size();
}

BufferPool& LargeBufferPool() {
  static BufferPool* const pool = new BufferPool(BufferPool::Options{
      .max_bytes = 8 << 20, .min_capacity = 64 << 10, .max_idle = absl::Seconds(2)});
  return *pool;
}

}  // namespace tender::model
