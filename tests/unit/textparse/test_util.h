// Helpers shared by the textparse tests: drain a Parser into plain structs, read fixtures.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "collector/textparse/parser.h"

namespace tender::textparse::testing {

struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  uint64_t bits = 0;
  double value = 0;
  bool has_timestamp = false;
  int64_t timestamp_ms = 0;
  MetricType type = MetricType::kUnknown;
  std::string family;
  bool has_exemplar = false;
  size_t line = 0;
};

struct ParseResult {
  absl::Status status;
  std::vector<ParsedSample> samples;
};

inline ParseResult ParseAll(std::string_view body, Format format, bool strict = false) {
  ParseResult r;
  Parser parser(body, format, ParserOptions{.strict = strict});
  while (parser.Next()) {
    ParsedSample s;
    s.name = std::string(parser.name());
    for (size_t i = 0; i < parser.num_labels(); ++i) {
      s.labels.emplace_back(std::string(parser.label_name(i)), std::string(parser.label_value(i)));
    }
    s.bits = parser.value_bits();
    s.value = parser.value();
    s.has_timestamp = parser.has_timestamp();
    s.timestamp_ms = parser.timestamp_ms();
    s.type = parser.type();
    s.family = std::string(parser.family_name());
    s.has_exemplar = parser.has_exemplar();
    s.line = parser.line();
    r.samples.push_back(std::move(s));
  }
  r.status = parser.status();
  return r;
}

// True when `msg` starts with "LINE:COL: " (decimal, both non-empty) and has a reason after.
inline bool HasPosition(std::string_view msg) {
  size_t i = 0;
  for (int part = 0; part < 2; ++part) {
    size_t start = i;
    while (i < msg.size() && msg[i] >= '0' && msg[i] <= '9') {
      ++i;
    }
    if (i == start || i >= msg.size() || msg[i] != ':') {
      return false;
    }
    ++i;
  }
  return i + 1 < msg.size() && msg[i] == ' ';
}

// Root of the source tree: $TENDER_SOURCE_DIR (set by ctest) or the configure-time path.
inline std::string SourceDir() {
  const char* env = std::getenv("TENDER_SOURCE_DIR");
  return env != nullptr ? std::string(env) : std::string(TENDER_SOURCE_DIR_DEFAULT);
}

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(SourceDir() + "/tests/testdata/expositions/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tender::textparse::testing
