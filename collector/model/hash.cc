#include "collector/model/hash.h"

#include <cstring>

namespace tender::model {
namespace {

constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ULL;

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// 64x64 -> 128 multiply folded to 64 bits: the mixing step.
inline uint64_t MulFold(uint64_t a, uint64_t b) {
  __extension__ using U128 = unsigned __int128;
  const U128 r = static_cast<U128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

uint64_t Hash64(std::string_view data, uint64_t seed) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t h = seed ^ MulFold(seed ^ kP0, n ^ kP1);
  if (n > 32) {
    // Two independent lanes so the multiplies overlap (series label sets are ~100-400 bytes).
    uint64_t h2 = h ^ kP2;
    while (n > 32) {
      h = MulFold(Load64(p) ^ kP1, Load64(p + 8) ^ h);
      h2 = MulFold(Load64(p + 16) ^ kP2, Load64(p + 24) ^ h2);
      p += 32;
      n -= 32;
    }
    h ^= h2;
  }
  while (n >= 16) {
    h = MulFold(Load64(p) ^ kP1, Load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0;
  uint64_t b = 0;
  if (n >= 8) {
    a = Load64(p);
    b = Load64(p + n - 8);
  } else if (n > 0) {
    // 1..7 bytes: spread them into two words without reading past the end.
    char tmp[8] = {};
    std::memcpy(tmp, p, n);
    a = Load64(tmp);
    b = static_cast<uint64_t>(n) << 56;
  }
  h = MulFold(a ^ kP1 ^ h, b ^ kP2);
  return Mix64(h ^ data.size());
}

}  // namespace tender::model
