// `tender check metrics`: parses a whole exposition the way a scrape would and optionally prints
// every sample as one JSON object per line. Pure function; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "collector/textparse/parser.h"

namespace tender::textparse {

// Parses `body` in `format`; nullopt means auto: OpenMetrics when the last non-empty line is
// "# EOF", text otherwise. `strict` applies the OpenMetrics 1.0 MUSTs (ParserOptions::strict).
// When `print` is set, appends to `*out` one JSON object per sample, each on its own line:
//   {"name":"x","labels":{"a":"b"},"value":1.5,"timestamp_ms":123,"type":"counter"}
// value is a JSON number in shortest round-trip form, or one of the strings "NaN", "+Inf",
// "-Inf"; timestamp_ms is null without a timestamp; labels keep exposition order. Samples
// before an error are still printed. Returns OK, or InvalidArgument "line:column: reason" for
// the first error. `out` may be null when `print` is false.
absl::Status CheckExposition(std::string_view body, std::optional<Format> format, bool strict,
                             bool print, std::string* out);

// The format CheckExposition picks for `body` when none is given.
Format DetectFormat(std::string_view body);

}  // namespace tender::textparse
