// Prometheus durations, Base2Bytes sizes and scrape target addresses: parsing and printing.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/absl_compat.h"

namespace tender::config {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

struct DurationUnit {
  std::string_view name;
  int position;  // Units must appear in strictly increasing position (largest first).
  uint64_t nanos;
};

constexpr uint64_t kMillisecond = 1'000'000;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
constexpr uint64_t kDay = 24 * kHour;
constexpr uint64_t kWeek = 7 * kDay;
constexpr uint64_t kYear = 365 * kDay;

constexpr DurationUnit kDurationUnits[] = {
    {"y", 1, kYear},   {"w", 2, kWeek},   {"d", 3, kDay},          {"h", 4, kHour},
    {"m", 5, kMinute}, {"s", 6, kSecond}, {"ms", 7, kMillisecond},
};

absl::Status InvalidDuration(std::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("not a valid duration string: \"", ToAbsl(text),
                                                 "\" (examples: 15s, 1m30s, 100ms, 1d)"));
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  if (text == "0") {
    return absl::ZeroDuration();
  }
  if (text.empty()) {
    return absl::InvalidArgumentError("empty duration string");
  }
  std::string_view rest = text;
  uint64_t total = 0;
  int last_position = 0;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  while (!rest.empty()) {
    if (!IsDigit(rest[0])) {
      return InvalidDuration(text);
    }
    size_t i = 0;
    uint64_t value = 0;
    bool overflow = false;
    for (; i < rest.size() && IsDigit(rest[i]); ++i) {
      const uint64_t digit = static_cast<uint64_t>(rest[i] - '0');
      if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        overflow = true;
      } else {
        value = value * 10 + digit;
      }
    }
    rest.remove_prefix(i);
    size_t j = 0;
    while (j < rest.size() && !IsDigit(rest[j])) {
      ++j;
    }
    if (j == 0) {
      return InvalidDuration(text);  // A number without a unit.
    }
    const std::string_view unit_name = rest.substr(0, j);
    rest.remove_prefix(j);
    const DurationUnit* unit = nullptr;
    for (const DurationUnit& u : kDurationUnits) {
      if (u.name == unit_name) {
        unit = &u;
      }
    }
    if (unit == nullptr && unit_name[0] == '.') {
      return absl::InvalidArgumentError(absl::StrCat("not a valid duration string: \"",
                                                     ToAbsl(text),
                                                     "\" (no fractions: write 1500ms, not 1.5s)"));
    }
    if (unit == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown unit \"", ToAbsl(unit_name),
                                                     "\" in duration \"", ToAbsl(text),
                                                     "\" (units: y w d h m s ms)"));
    }
    if (unit->position <= last_position) {
      return InvalidDuration(text);  // Each unit once, largest first.
    }
    last_position = unit->position;
    if (overflow || value > kMax / unit->nanos || total > kMax - value * unit->nanos) {
      return absl::OutOfRangeError(absl::StrCat("duration out of range: \"", ToAbsl(text), "\""));
    }
    total += value * unit->nanos;
  }
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

std::string FormatDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) {
    return absl::StrCat("-", config::FormatDuration(-d));
  }
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  auto emit = [&](std::string_view unit, int64_t unit_ms, bool only_if_exact) {
    if (only_if_exact && ms % unit_ms != 0) {
      return;
    }
    if (const int64_t v = ms / unit_ms; v > 0) {
      absl::StrAppend(&out, v, ToAbsl(unit));
      ms -= v * unit_ms;
    }
  };
  // Years and weeks only when they divide exactly: "90d" reads better than "12w6d".
  constexpr int64_t kMs = static_cast<int64_t>(kMillisecond);
  emit("y", static_cast<int64_t>(kYear) / kMs, true);
  emit("w", static_cast<int64_t>(kWeek) / kMs, true);
  emit("d", static_cast<int64_t>(kDay) / kMs, false);
  emit("h", static_cast<int64_t>(kHour) / kMs, false);
  emit("m", static_cast<int64_t>(kMinute) / kMs, false);
  emit("s", static_cast<int64_t>(kSecond) / kMs, false);
  emit("ms", 1, false);
  return out;
}

namespace {

// Powers of 1024 by unit prefix: "" (B) = 0, K = 1, M = 2 ... E = 6.
int PrefixPower(char prefix) {
  switch (prefix) {
    case 'K':
      return 1;
    case 'M':
      return 2;
    case 'G':
      return 3;
    case 'T':
      return 4;
    case 'P':
      return 5;
    case 'E':
      return 6;
    default:
      return -1;
  }
}

enum class ByteFamily { kEither, kDecimalNames, kBinaryNames };

// Parses a unit name into its power of 1024 and its family; false when unknown.
bool ParseByteUnit(std::string_view unit, int* power, ByteFamily* family) {
  if (unit == "B") {
    *power = 0;
    *family = ByteFamily::kEither;
    return true;
  }
  if (unit.size() == 2 && unit[1] == 'B') {
    *power = PrefixPower(unit[0]);
    *family = ByteFamily::kDecimalNames;
    return *power > 0;
  }
  if (unit.size() == 3 && unit[1] == 'i' && unit[2] == 'B') {
    *power = PrefixPower(unit[0]);
    *family = ByteFamily::kBinaryNames;
    return *power > 0;
  }
  return false;
}

absl::Status InvalidByteSize(std::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "not a valid byte size: \"", ToAbsl(text),
      "\" (examples: 0, 1024, 512KB, 10MiB, 1.5GB; units B KB MB GB TB PB EB or KiB MiB ...)"));
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(std::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError("empty byte size");
  }
  // A plain integer is a number of bytes.
  bool all_digits = true;
  for (char c : text) {
    all_digits = all_digits && IsDigit(c);
  }
  if (all_digits) {
    int64_t value = 0;
    for (char c : text) {
      if (value > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) {
        return absl::OutOfRangeError(
            absl::StrCat("byte size out of range: \"", ToAbsl(text), "\""));
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }
  // Sum of <number>[.<fraction>]<unit> terms, computed in long double as alecthomas/units does
  // in double; long double keeps every integer below 2^63 exact.
  std::string_view rest = text;
  long double total = 0;
  ByteFamily family = ByteFamily::kEither;
  while (!rest.empty()) {
    if (rest[0] != '.' && !IsDigit(rest[0])) {
      return InvalidByteSize(text);
    }
    long double term = 0;
    size_t i = 0;
    for (; i < rest.size() && IsDigit(rest[i]); ++i) {
      term = term * 10 + (rest[i] - '0');
    }
    bool digits = i > 0;
    if (i < rest.size() && rest[i] == '.') {
      ++i;
      // Fraction digits as one integer divided once by a power of ten, so exact binary
      // fractions (".5", ".0009765625") stay exact. Digits past the 18th cannot matter.
      uint64_t fraction = 0;
      long double scale = 1;
      for (; i < rest.size() && IsDigit(rest[i]); ++i) {
        if (scale < 1e18L) {
          fraction = fraction * 10 + static_cast<uint64_t>(rest[i] - '0');
          scale *= 10;
        }
        digits = true;
      }
      term += static_cast<long double>(fraction) / scale;
    }
    if (!digits) {
      return InvalidByteSize(text);
    }
    rest.remove_prefix(i);
    size_t j = 0;
    while (j < rest.size() && rest[j] != '.' && !IsDigit(rest[j])) {
      ++j;
    }
    const std::string_view unit = rest.substr(0, j);
    rest.remove_prefix(j);
    int power = 0;
    ByteFamily unit_family;
    if (!ParseByteUnit(unit, &power, &unit_family)) {
      return unit.empty() ? InvalidByteSize(text)
                          : absl::InvalidArgumentError(absl::StrCat(
                                "unknown unit \"", ToAbsl(unit), "\" in byte size \"", ToAbsl(text),
                                "\" (units: B KB MB GB TB PB EB or KiB MiB ...)"));
    }
    if (unit_family != ByteFamily::kEither) {
      if (family != ByteFamily::kEither && family != unit_family) {
        return absl::InvalidArgumentError(
            absl::StrCat("byte size \"", ToAbsl(text), "\" mixes KB-style and KiB-style units"));
      }
      family = unit_family;
    }
    for (int p = 0; p < power; ++p) {
      term *= 1024;
    }
    total += term;
  }
  // 2^63 is exactly representable; anything at or above it does not fit.
  if (total >= 9223372036854775808.0L) {
    return absl::OutOfRangeError(absl::StrCat("byte size out of range: \"", ToAbsl(text), "\""));
  }
  return static_cast<int64_t>(total);
}

std::string FormatByteSize(int64_t bytes) {
  if (bytes <= 0) {
    return "0B";
  }
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::string out;
  for (int power = 6; power >= 0; --power) {
    const int64_t unit = int64_t{1} << (10 * power);
    if (bytes >= unit) {
      absl::StrAppend(&out, bytes / unit, ToAbsl(kUnits[power]));
      bytes %= unit;
    }
  }
  return out;
}

absl::Status ValidateTargetAddress(std::string_view address) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", ToAbsl(address), "\" is not a valid target address: ", ToAbsl(why)));
  };
  if (address.empty()) {
    return absl::InvalidArgumentError("empty target address");
  }
  if (address.find("://") != std::string_view::npos) {
    return invalid("write host:port without a scheme (set `scheme:` on the job)");
  }
  for (unsigned char c : address) {
    if (c <= ' ' || c == 0x7f) {
      return invalid("it contains whitespace or a control character");
    }
    if (c == '/' || c == '?' || c == '#') {
      return invalid("write host:port without a path (set `metrics_path:` on the job)");
    }
  }
  std::string_view host = address;
  std::string_view port;
  bool has_port = false;
  if (address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return invalid("missing ']' after an IPv6 address");
    }
    host = address.substr(1, close - 1);
    std::string_view after = address.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return invalid("expected ':port' after ']'");
      }
      port = after.substr(1);
      has_port = true;
    }
    if (host.find(':') == std::string_view::npos) {
      return invalid("brackets are only for IPv6 addresses");
    }
  } else {
    const size_t colon = address.find(':');
    if (colon != std::string_view::npos) {
      if (address.find(':', colon + 1) != std::string_view::npos) {
        return invalid("an IPv6 address must be written in brackets, e.g. [::1]:9100");
      }
      host = address.substr(0, colon);
      port = address.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) {
    return invalid("missing host");
  }
  if (has_port) {
    if (port.empty() || port.size() > 5) {
      return invalid("the port must be a number from 1 to 65535");
    }
    int value = 0;
    for (char c : port) {
      if (!IsDigit(c)) {
        return invalid("the port must be a number from 1 to 65535");
      }
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) {
      return invalid("the port must be a number from 1 to 65535");
    }
  }
  return absl::OkStatus();
}

}  // namespace tender::config
