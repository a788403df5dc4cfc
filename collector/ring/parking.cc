#include "collector/ring/parking.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace tender::ring::internal {
namespace {

// The kernel compares and waits on the 32-bit word itself; std::atomic<uint32_t> is that word
// (the same assumption libstdc++ makes for its own atomic wait).
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(std::atomic<uint32_t>::is_always_lock_free);

uint32_t* Address(const std::atomic<uint32_t>& word) {
  return reinterpret_cast<uint32_t*>(const_cast<std::atomic<uint32_t>*>(&word));
}

}  // namespace

void ParkWhileEqual(const std::atomic<uint32_t>& word, uint32_t expected,
                    std::chrono::nanoseconds timeout) {
  timespec ts{};
  timespec* ts_ptr = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    ts_ptr = &ts;
  }
  // FUTEX_WAIT takes a relative timeout on CLOCK_MONOTONIC. EAGAIN (value changed), EINTR and
  // ETIMEDOUT all mean "return and let the caller re-check", so the result is not inspected.
  syscall(SYS_futex, Address(word), FUTEX_WAIT_PRIVATE, expected, ts_ptr, nullptr, 0);
}

void Unpark(const std::atomic<uint32_t>& word, int count) {
  syscall(SYS_futex, Address(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

void UnparkAll(const std::atomic<uint32_t>& word) { Unpark(word, INT_MAX); }

}  // namespace tender::ring::internal
