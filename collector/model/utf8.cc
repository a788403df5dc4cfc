#include "collector/model/utf8.h"

#include <cstdint>
#include <cstring>

namespace tender::model {

bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // ASCII fast path, eight bytes at a time.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if (word & 0x8080808080808080ULL) {
        break;
      }
      p += 8;
    }
    if (p == end) {
      break;
    }
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) {
        lo = 0xA0;  // no overlongs
      } else if (c == 0xED) {
        hi = 0x9F;  // no surrogates
      }
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) {
        lo = 0x90;
      } else if (c == 0xF4) {
        hi = 0x8F;  // nothing above U+10FFFF
      }
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n) {
      return false;
    }
    if (p[1] < lo || p[1] > hi) {
      return false;
    }
    for (size_t i = 2; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) {
        return false;
      }
    }
    p += n + 1;
  }
  return true;
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }
  return n;
}

}  // namespace tender::model
