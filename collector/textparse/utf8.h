// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) and code point
// counting, with an ASCII fast path. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string_view>

namespace tender::textparse {

// True when `s` is well-formed UTF-8. NUL bytes are valid (U+0000).
bool ValidUtf8(std::string_view s);

// Number of code points in `s`, which must be valid UTF-8.
size_t CountCodePoints(std::string_view s);

}  // namespace tender::textparse
