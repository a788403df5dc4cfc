// Low-level waiting primitives for the ingest ring: a CPU spin hint and a futex-style park /
// unpark on a 32-bit atomic word. Stateless; any thread may call any function.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tender::ring::internal {

// Tells the CPU that the caller is spinning (x86 PAUSE, ARM YIELD); a no-op elsewhere.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Blocks the calling thread while `word` holds `expected`, for at most `timeout` (a negative
// timeout means no limit). Returns at once when the value differs, on a wake, on timeout, or
// spuriously: callers re-check their condition in a loop. Never throws.
void ParkWhileEqual(const std::atomic<uint32_t>& word, uint32_t expected,
                    std::chrono::nanoseconds timeout);

// Wakes up to `count` threads parked on `word` (a syscall; callers skip it when nobody parks).
void Unpark(const std::atomic<uint32_t>& word, int count);

// Wakes every thread parked on `word`.
void UnparkAll(const std::atomic<uint32_t>& word);

}  // namespace tender::ring::internal
