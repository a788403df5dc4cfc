// Protocol-buffer wire primitives (protobuf.dev "Encoding"): varints, tags, fixed64, and the
// exact sizes of encoded fields, so that callers can write length prefixes without a second
// pass. Header-only, stateless; usable from any thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tender::protowire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

constexpr uint32_t Tag(uint32_t field, WireType type) { return (field << 3) | type; }

// Number of bytes the varint encoding of `v` takes (1..10).
constexpr size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Size of a length-delimited field with a one-byte tag and a payload of `len` bytes.
constexpr size_t LengthDelimitedSize(size_t len) { return 1 + VarintSize(len) + len; }

// Writes the varint of `v` at `p` and returns the position after it. `p` needs 10 bytes.
inline char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void AppendVarint(std::string& out, uint64_t v) {
  char buf[10];
  out.append(buf, WriteVarint(buf, v) - buf);
}

// Appends the IEEE-754 bit pattern of `v` little-endian: NaN payloads (the stale marker)
// survive unchanged.
inline char* WriteFixed64(char* p, uint64_t bits) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(bits >> (8 * i));
  }
  return p + 8;
}

inline uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

inline double BitsToDouble(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// Copies `n` bytes. Label names and values are mostly under 32 bytes, where a call into libc's
// memmove costs more than the copy: those are done with two overlapping fixed-size moves (each
// only within [src, src + n) and [dst, dst + n)).
inline void CopyBytes(char* dst, const char* src, size_t n) {
  if (n >= 8 && n <= 32) {
    uint64_t a, b, c, d;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + (n - 8), 8);
    if (n > 16) {
      std::memcpy(&c, src + 8, 8);
      std::memcpy(&d, src + (n - 16), 8);
      std::memcpy(dst + 8, &c, 8);
      std::memcpy(dst + (n - 16), &d, 8);
    }
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + (n - 8), &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + (n - 4), 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + (n - 4), &b, 4);
  } else if (n > 0 && n < 4) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  } else if (n > 32) {
    std::memcpy(dst, src, n);
  }
}

inline char* WriteBytesField(char* p, uint32_t tag, std::string_view bytes) {
  p = WriteVarint(p, tag);
  p = WriteVarint(p, bytes.size());
  CopyBytes(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

// Reads a varint from [*p, end); advances *p. Returns false on truncation or overlong input.
inline bool ReadVarint(const char** p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const auto b = static_cast<uint8_t>(*(*p)++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

}  // namespace tender::protowire
