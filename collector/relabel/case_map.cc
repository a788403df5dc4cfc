// Unicode helpers: Go-compatible UTF-8 decoding and case mapping. Non-ASCII case mapping and
// letter tests use glibc's C.UTF-8 locale (always present on Debian: libc-bin), whose simple
// case mappings are Unicode's, as Go's unicode tables are. Thread-safe: the locale object is
// created once and only read (the *_l functions do not touch the global locale).
#include <locale.h>
#include <wctype.h>

#include "collector/relabel/expand.h"

namespace tender::relabel::internal {
namespace {

constexpr char32_t kRuneError = 0xFFFD;

locale_t Utf8Locale() {
  static const locale_t kLocale = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (l == static_cast<locale_t>(nullptr)) {
      l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    }
    return l;
  }();
  return kLocale;
}

bool IsCont(unsigned char c) { return (c & 0xC0) == 0x80; }

void AppendRune(char32_t r, std::string* out) {
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

char32_t MapRune(char32_t r, bool upper) {
  if (r < 0x80) {
    if (upper && r >= 'a' && r <= 'z') {
      return r - ('a' - 'A');
    }
    if (!upper && r >= 'A' && r <= 'Z') {
      return r + ('a' - 'A');
    }
    return r;
  }
  const locale_t l = Utf8Locale();
  if (l == static_cast<locale_t>(nullptr)) {
    return r;
  }
  const wint_t mapped =
      upper ? towupper_l(static_cast<wint_t>(r), l) : towlower_l(static_cast<wint_t>(r), l);
  return static_cast<char32_t>(mapped);
}

}  // namespace

char32_t DecodeRune(std::string_view s, size_t* width) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  const unsigned char b0 = p[0];
  *width = 1;
  if (b0 < 0x80) {
    return b0;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (n >= 2 && IsCont(p[1])) {
      *width = 2;
      return (char32_t{b0} & 0x1F) << 6 | (p[1] & 0x3F);
    }
    return kRuneError;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (n >= 3 && p[1] >= lo && p[1] <= hi && IsCont(p[2])) {
      *width = 3;
      return (char32_t{b0} & 0x0F) << 12 | (char32_t{p[1]} & 0x3F) << 6 | (p[2] & 0x3F);
    }
    return kRuneError;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (n >= 4 && p[1] >= lo && p[1] <= hi && IsCont(p[2]) && IsCont(p[3])) {
      *width = 4;
      return (char32_t{b0} & 0x07) << 18 | (char32_t{p[1]} & 0x3F) << 12 |
             (char32_t{p[2]} & 0x3F) << 6 | (p[3] & 0x3F);
    }
    return kRuneError;
  }
  return kRuneError;
}

bool IsLetterOrDigit(char32_t r) {
  if (r < 0x80) {
    return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9');
  }
  if (r == kRuneError) {
    return false;
  }
  const locale_t l = Utf8Locale();
  return l != static_cast<locale_t>(nullptr) && iswalnum_l(static_cast<wint_t>(r), l) != 0;
}

bool CaseMappingIsIdentity(std::string_view s, bool upper) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
    if (upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) {
      return false;
    }
  }
  return true;
}

void AppendCaseMapped(std::string_view in, bool upper, std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out->push_back(static_cast<char>(MapRune(b, upper)));
      ++i;
      continue;
    }
    size_t width = 0;
    const char32_t r = DecodeRune(in.substr(i), &width);
    AppendRune(MapRune(r, upper), out);
    i += width;
  }
}

}  // namespace tender::relabel::internal
