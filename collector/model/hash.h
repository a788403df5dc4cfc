// A fast, non-cryptographic 64-bit hash for series identity and shard selection. Stable for
// the life of the process (not across versions: never persist it). Stateless; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace tender::model {

// Hashes `data` with `seed`. Quality: every input bit affects every output bit (tested for
// avalanche and for no collisions over a large series corpus).
uint64_t Hash64(std::string_view data, uint64_t seed = 0);

// Mixes a 64-bit value into a well-distributed 64-bit value.
constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace tender::model
