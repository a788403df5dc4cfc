#include "collector/textparse/check.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace tender::textparse {
namespace {

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          *out += buf;
        } else {
          out->push_back(c);  // the parser guarantees valid UTF-8
        }
    }
  }
  out->push_back('"');
}

void AppendJsonNumber(double v, std::string* out) {
  if (std::isnan(v)) {
    *out += "\"NaN\"";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "\"+Inf\"" : "\"-Inf\"";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
    out->append(buf, static_cast<size_t>(end - buf));
  }
}

}  // namespace

Format DetectFormat(std::string_view body) {
  size_t end = body.size();
  while (end > 0) {
    size_t start = body.rfind('\n', end - 1);
    start = (start == std::string_view::npos) ? 0 : start + 1;
    std::string_view line = body.substr(start, end - start);
    if (!line.empty()) {
      return line == "# EOF" ? Format::kOpenMetrics : Format::kText;
    }
    if (start == 0) {
      break;
    }
    end = start - 1;
  }
  return Format::kText;
}

absl::Status CheckExposition(std::string_view body, std::optional<Format> format, bool strict,
                             bool print, std::string* out) {
  Parser parser(body, format.value_or(DetectFormat(body)), ParserOptions{.strict = strict});
  while (parser.Next()) {
    if (!print) {
      continue;
    }
    *out += "{\"name\":";
    AppendJsonString(parser.name(), out);
    *out += ",\"labels\":{";
    for (size_t i = 0; i < parser.num_labels(); ++i) {
      if (i > 0) {
        out->push_back(',');
      }
      AppendJsonString(parser.label_name(i), out);
      out->push_back(':');
      AppendJsonString(parser.label_value(i), out);
    }
    *out += "},\"value\":";
    AppendJsonNumber(parser.value(), out);
    *out += ",\"timestamp_ms\":";
    if (parser.has_timestamp()) {
      absl::StrAppend(out, parser.timestamp_ms());
    } else {
      *out += "null";
    }
    *out += ",\"type\":";
    AppendJsonString(MetricTypeName(parser.type()), out);
    *out += "}\n";
  }
  return parser.status();
}

}  // namespace tender::textparse
