// Number syntax of the exposition formats: Go strconv.ParseFloat rules as Prometheus applies them
// (decimal only; no hex, no '_' and no 'p'), integer millisecond timestamps, and the NaN
// canonicalisation every parsed value goes through. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace tender::textparse {

// Bits of the NaN that every parsed NaN becomes, so a target can never inject the staleness
// marker 0x7ff0000000000002 (Prometheus model/value.NormalNaN).
inline constexpr uint64_t kCanonicalNaNBits = 0x7ff8000000000001ULL;

// Parses `text` with Go's ParseFloat syntax: optional sign, digits with at most one '.', at least
// one digit, optional exponent [eE][+-]?digits; or (case-insensitive) "inf", "infinity" with an
// optional sign, or "nan" without one. Rejects hex floats, '_' separators, anything else and
// overflow (|x| > max double, as Go's ErrRange); underflow rounds to 0 like Go. Returns false on
// error; `*out` is then unspecified. NaN results are NOT canonicalised here.
bool ParseGoFloat(std::string_view text, double* out);

// Parses `[0-9]+` as an int64 (text-format timestamps). False on anything else or overflow.
bool ParseDecimalInt64(std::string_view text, int64_t* out);

// Returns the IEEE-754 bits of `v`, with any NaN replaced by kCanonicalNaNBits.
uint64_t CanonicalBits(double v);

}  // namespace tender::textparse
