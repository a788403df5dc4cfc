#include "collector/textparse/number.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace tender::textparse {
namespace {

// Exact powers of ten representable in a double: 10^0 .. 10^22.
constexpr double kExactPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// Length of the common case-insensitive prefix of `s` and the lowercase word `w`.
size_t CommonPrefixFold(std::string_view s, std::string_view w) {
  size_t n = 0;
  while (n < s.size() && n < w.size() && (s[n] | 0x20) == w[n]) {
    ++n;
  }
  return n;
}

// inf / infinity / nan with Go's rules. True when `s` is one of them (then sets *out).
bool ParseSpecial(std::string_view s, double* out) {
  bool negative = false;
  size_t sign = 0;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    sign = 1;
  } else if ((s[0] | 0x20) == 'n') {
    if (s.size() == 3 && CommonPrefixFold(s, "nan") == 3) {
      *out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    return false;
  }
  std::string_view rest = s.substr(sign);
  size_t n = CommonPrefixFold(rest, "infinity");
  if ((n == 3 && rest.size() == 3) || (n == 8 && rest.size() == 8)) {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  return false;
}

}  // namespace

bool ParseGoFloat(std::string_view s, double* out) {
  if (s.empty()) {
    return false;
  }
  const char* p = s.data();
  const char* const end = p + s.size();
  bool negative = false;
  if (*p == '+' || *p == '-') {
    negative = *p == '-';
    ++p;
  }
  if (p == end) {
    return false;
  }
  if (!IsDigit(*p) && *p != '.') {
    return ParseSpecial(s, out);
  }
  // Validate the decimal syntax and collect the mantissa for the exact fast path.
  uint64_t mantissa = 0;
  int mantissa_digits = 0;   // significant digits in `mantissa` (leading zeros skipped)
  bool truncated = false;    // more than 19 significant digits: no fast path
  int frac_in_mantissa = 0;  // fraction digits that went into `mantissa`
  int int_digits = 0;
  int frac_digits = 0;
  int first_nonzero = 0;  // decimal exponent of the first nonzero digit (for range errors)
  bool nonzero = false;
  bool saw_dot = false;
  for (; p < end; ++p) {
    char c = *p;
    if (IsDigit(c)) {
      if (saw_dot) {
        ++frac_digits;
      } else {
        ++int_digits;
      }
      if (!nonzero && c != '0') {
        nonzero = true;
        first_nonzero = saw_dot ? -frac_digits : int_digits;  // int case fixed up below
      }
      if (!nonzero) {
        if (saw_dot) {
          ++frac_in_mantissa;  // leading fraction zeros still scale the mantissa
        }
        continue;
      }
      if (mantissa_digits < 19) {
        mantissa = mantissa * 10 + static_cast<uint64_t>(c - '0');
        ++mantissa_digits;
        if (saw_dot) {
          ++frac_in_mantissa;
        }
      } else {
        truncated = true;
      }
    } else if (c == '.') {
      if (saw_dot) {
        return false;
      }
      saw_dot = true;
    } else {
      break;
    }
  }
  if (int_digits + frac_digits == 0) {
    return false;
  }
  if (nonzero && first_nonzero > 0) {
    // The first nonzero digit was the first_nonzero-th integer digit.
    first_nonzero = int_digits - first_nonzero;
  }
  int exp10 = 0;
  if (p < end) {
    if ((*p | 0x20) != 'e') {
      return false;
    }
    ++p;
    bool exp_negative = false;
    if (p < end && (*p == '+' || *p == '-')) {
      exp_negative = *p == '-';
      ++p;
    }
    if (p == end) {
      return false;
    }
    int e = 0;
    for (; p < end; ++p) {
      if (!IsDigit(*p)) {
        return false;
      }
      if (e < 100000) {
        e = e * 10 + (*p - '0');
      }
    }
    exp10 = exp_negative ? -e : e;
  }
  if (!nonzero) {
    *out = negative ? -0.0 : 0.0;
    return true;
  }
  // Clinger's fast path: an exactly representable mantissa scaled by an exact power of ten is
  // correctly rounded by a single multiplication or division.
  if (!truncated && mantissa <= (uint64_t{1} << 53)) {
    int scale = exp10 - frac_in_mantissa;
    double m = static_cast<double>(mantissa);
    if (scale >= 0 && scale <= 22) {
      double v = m * kExactPow10[scale];
      *out = negative ? -v : v;
      return true;
    }
    if (scale < 0 && scale >= -22) {
      double v = m / kExactPow10[-scale];
      *out = negative ? -v : v;
      return true;
    }
  }
  // from_chars does not take a leading '+'; the sign was validated above.
  const char* from = s.data() + ((s[0] == '+') ? 1 : 0);
  double v = 0;
  auto [ptr, ec] = std::from_chars(from, end, v, std::chars_format::general);
  if (ec == std::errc() && ptr == end) {
    *out = v;
    return true;
  }
  if (ec == std::errc::result_out_of_range && ptr == end) {
    // Overflow or underflow: the decimal exponent of the first significant digit decides.
    if (static_cast<int64_t>(exp10) + first_nonzero < 0) {
      *out = negative ? -0.0 : 0.0;
      return true;
    }
    return false;
  }
  return false;
}

bool ParseDecimalInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 19 + 8) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) {
      return false;
    }
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / 10) {
      return false;
    }
    v = v * 10 + d;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

uint64_t CanonicalBits(double v) {
  if (std::isnan(v)) {
    return kCanonicalNaNBits;
  }
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

}  // namespace tender::textparse
