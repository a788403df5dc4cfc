// Structured logging to stderr in logfmt (default) or JSON, with a level filter and a
// throttle for lines that a bad peer could repeat thousands of times a second.
// Thread-safe: any thread may log; one line is written with one write(2).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/time/time.h"

namespace tender::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

// Parses "debug|info|warn|error" / "logfmt|json"; false when unknown.
bool ParseLevel(std::string_view text, Level* out);
bool ParseFormat(std::string_view text, Format* out);

void SetLevel(Level level);
void SetFormat(Format format);
bool Enabled(Level level);

using Field = std::pair<std::string_view, std::string_view>;

// Writes `ts=… level=… component=… msg="…" k=v…`. Values are quoted/escaped as needed.
void Write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void Debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, c, m, f);
}
inline void Info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, c, m, f);
}
inline void Warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, c, m, f);
}
inline void Error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, c, m, f);
}

// Lets one line through per interval and counts the rest. Typical use:
//   static log::Throttle throttle(absl::Seconds(10));
//   if (uint64_t suppressed; throttle.Allow(&suppressed)) log::Warn(..., {{"suppressed", ...}});
// Thread-safe, lock-free.
class Throttle {
 public:
  explicit Throttle(absl::Duration interval) : interval_ns_(absl::ToInt64Nanoseconds(interval)) {}

  // True when a line may be written now; `*suppressed` gets how many were held back since the
  // last line that was let through.
  bool Allow(uint64_t* suppressed);

 private:
  const int64_t interval_ns_;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace tender::log
