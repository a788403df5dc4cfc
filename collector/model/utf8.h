// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) and code point
// counting, with an ASCII fast path; Prometheus's legacy label-name rule. The one copy of these
// checks for every stage (parser, config, discovery, relabeling). Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string_view>

namespace tender::model {

// True when `s` is well-formed UTF-8. NUL bytes are valid (U+0000).
bool ValidUtf8(std::string_view s);

// Number of code points in `s`, which must be valid UTF-8.
size_t CountCodePoints(std::string_view s);

// True when `name` matches [a-zA-Z_][a-zA-Z0-9_]* (Prometheus's legacy label names).
inline bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace tender::model
