// Debian's abseil is built with its own absl::string_view and absl::optional (not the std
// ones), so std::string_view does not convert implicitly. These helpers cross the boundary.
// Header-only; any thread.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace tender {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view FromAbsl(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace tender
