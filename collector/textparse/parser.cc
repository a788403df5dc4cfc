#include "collector/textparse/parser.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/utf8.h"
#include "collector/textparse/number.h"
#include "collector/textparse/om_validator.h"

namespace tender::textparse {
namespace {

// Character classes (Prometheus model/metric.go legacy names; promlex.l / openmetricslex.l).
enum : uint8_t {
  kMetricStart = 1,     // [a-zA-Z_:]
  kMetricChar = 2,      // [a-zA-Z0-9_:]
  kLabelStart = 4,      // [a-zA-Z_]
  kLabelChar = 8,       // [a-zA-Z0-9_]
  kBlank = 16,          // space, tab (text format separators)
  kTextValueEnd = 32,   // ends a text-format value token: blank, '\n', '{'
  kQuotedSpecial = 64,  // stops the quoted-string scan: '"', '\\', '\n', bytes >= 0x80
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || c == '_' || c == ':') v |= kMetricStart | kMetricChar;
    if (digit) v |= kMetricChar | kLabelChar;
    if (alpha || c == '_') v |= kLabelStart | kLabelChar;
    if (c == ' ' || c == '\t') v |= kBlank | kTextValueEnd;
    if (c == '\n' || c == '{') v |= kTextValueEnd;
    if (c == '"' || c == '\\' || c == '\n' || c >= 0x80) v |= kQuotedSpecial;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

inline bool Is(char c, uint8_t cls) { return kClasses[static_cast<unsigned char>(c)] & cls; }

// First byte in [p, end) that is '"', '\\', '\n' or >= 0x80; `end` when none.
inline const char* ScanQuoted(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i newline = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                               _mm_cmpeq_epi8(v, newline));
    unsigned mask =
        static_cast<unsigned>(_mm_movemask_epi8(hit)) | static_cast<unsigned>(_mm_movemask_epi8(v));
    if (mask != 0) {
      return p + __builtin_ctz(mask);
    }
    p += 16;
  }
#endif
  while (p < end && !Is(*p, kQuotedSpecial)) {
    ++p;
  }
  return p;
}

// Shortened, printable excerpt of a token for error messages.
std::string Excerpt(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  if (s.size() > kMax) {
    out += "...";
  }
  return out;
}

bool ParseTypeWord(std::string_view w, bool om, MetricType* out) {
  static constexpr std::pair<std::string_view, MetricType> kText[] = {
      {"counter", MetricType::kCounter},     {"gauge", MetricType::kGauge},
      {"histogram", MetricType::kHistogram}, {"summary", MetricType::kSummary},
      {"untyped", MetricType::kUnknown},
  };
  static constexpr std::pair<std::string_view, MetricType> kOm[] = {
      {"counter", MetricType::kCounter},     {"gauge", MetricType::kGauge},
      {"histogram", MetricType::kHistogram}, {"gaugehistogram", MetricType::kGaugeHistogram},
      {"summary", MetricType::kSummary},     {"info", MetricType::kInfo},
      {"stateset", MetricType::kStateset},   {"unknown", MetricType::kUnknown},
  };
  if (om) {
    for (const auto& [word, type] : kOm) {
      if (w == word) {
        *out = type;
        return true;
      }
    }
    return false;
  }
  for (const auto& [word, type] : kText) {
    if (w == word) {
      *out = type;
      return true;
    }
  }
  return false;
}

// Whether sample-name suffix `rest` (name minus family name) belongs to a family of `type`. An
// exact match is always accepted (lax, as Prometheus's metadata lookup).
bool SuffixBelongs(std::string_view rest, MetricType type, bool om) {
  if (rest.empty()) {
    return true;
  }
  switch (type) {
    case MetricType::kCounter:
      return om && (rest == "_total" || rest == "_created");
    case MetricType::kHistogram:
      return rest == "_bucket" || rest == "_count" || rest == "_sum" || (om && rest == "_created");
    case MetricType::kGaugeHistogram:
      return rest == "_bucket" || rest == "_gcount" || rest == "_gsum";
    case MetricType::kSummary:
      return rest == "_count" || rest == "_sum" || (om && rest == "_created");
    case MetricType::kInfo:
      return rest == "_info";
    case MetricType::kUnknown:
    case MetricType::kGauge:
    case MetricType::kStateset:
      return false;
  }
  return false;
}

// Decodes \\ \" \n; any other backslash pair is kept as written (Prometheus behaviour).
void Unescape(std::string_view raw, std::string* out) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      char n = raw[i + 1];
      if (n == '\\' || n == '"') {
        out->push_back(n);
        ++i;
        continue;
      }
      if (n == 'n') {
        out->push_back('\n');
        ++i;
        continue;
      }
    }
    out->push_back(c);
  }
}

}  // namespace

std::optional<Format> FormatFromContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  media = FromAbsl(absl::StripAsciiWhitespace(ToAbsl(media)));
  if (absl::EqualsIgnoreCase(ToAbsl(media), "text/plain")) {
    return Format::kText;
  }
  if (absl::EqualsIgnoreCase(ToAbsl(media), "application/openmetrics-text")) {
    return Format::kOpenMetrics;
  }
  return std::nullopt;
}

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGaugeHistogram:
      return "gaugehistogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kInfo:
      return "info";
    case MetricType::kStateset:
      return "stateset";
    case MetricType::kUnknown:
      break;
  }
  return "unknown";
}

Parser::Parser(std::string_view body, Format format, ParserOptions options)
    : begin_(body.data()),
      end_(body.data() + body.size()),
      cur_(body.data()),
      line_start_(body.data()),
      om_(format == Format::kOpenMetrics),
      strict_(options.strict && format == Format::kOpenMetrics) {
  labels_.reserve(16);
  if (strict_) {
    validator_ = std::make_unique<OmValidator>();
  }
}

Parser::~Parser() = default;

double Parser::value() const {
  double v;
  std::memcpy(&v, &value_bits_, sizeof(v));
  return v;
}

bool Parser::Fail(const char* at, std::string_view reason) {
  // Position from the byte offset: errors are rare, and this stays right even when a quoted
  // value spanned raw newlines.
  size_t line = 1;
  const char* line_start = begin_;
  for (const char* p = begin_; p < at;) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(at - p));
    if (nl == nullptr) {
      break;
    }
    ++line;
    p = static_cast<const char*>(nl) + 1;
    line_start = p;
  }
  size_t col = static_cast<size_t>(at - line_start) + 1;
  status_ = absl::InvalidArgumentError(absl::StrCat(line, ":", col, ": ", ToAbsl(reason)));
  done_ = true;
  return false;
}

bool Parser::FailUnexpected(const char* at, std::string_view expected) {
  if (at >= end_) {
    return Fail(at, absl::StrCat("unexpected end of data, expected ", ToAbsl(expected)));
  }
  if (*at == '\n') {
    return Fail(at, absl::StrCat("unexpected end of line, expected ", ToAbsl(expected)));
  }
  return Fail(at, absl::StrCat("unexpected \"", Excerpt(std::string_view(at, 1)), "\", expected ",
                               ToAbsl(expected)));
}

bool Parser::Next() {
  if (done_) {
    return false;
  }
  while (true) {
    if (cur_ >= end_) {
      done_ = true;
      if (om_ && !saw_eof_) {
        ++line_no_;
        line_start_ = cur_;
        return Fail(cur_, "data does not end with # EOF");
      }
      return false;
    }
    bool is_sample = false;
    if (!ParseLine(&is_sample)) {
      return false;
    }
    if (is_sample) {
      return true;
    }
  }
}

bool Parser::ParseLine(bool* is_sample) {
  line_start_ = cur_;
  ++line_no_;
  const char* p = cur_;
  if (!om_) {
    while (p < end_ && Is(*p, kBlank)) {
      ++p;
    }
    if (p == end_) {  // trailing blanks at the very end
      cur_ = p;
      return true;
    }
    if (*p == '\n') {  // blank line
      cur_ = p + 1;
      return true;
    }
  }
  if (*p == '#') {
    return om_ ? ParseOmComment(p) : ParseTextComment(p);
  }
  if (om_ && *p == '\n') {
    return Fail(p, "blank lines are not allowed in OpenMetrics");
  }
  sample_line_ = line_no_;
  if (!ParseSample(p)) {
    return false;
  }
  *is_sample = true;
  return true;
}

bool Parser::ParseMetadataName(const char** pp, std::string_view* name) {
  const char* p = *pp;
  if (p < end_ && Is(*p, kMetricStart)) {
    const char* start = p;
    while (p < end_ && Is(*p, kMetricChar)) {
      ++p;
    }
    *name = std::string_view(start, static_cast<size_t>(p - start));
    *pp = p;
    return true;
  }
  if (p < end_ && *p == '"') {
    if (strict_) {
      return Fail(p, "quoted metric names are not part of OpenMetrics 1.0");
    }
    bool escaped = false;
    std::string_view raw;
    scratch_.clear();
    if (!ParseQuoted(&p, &raw, &escaped, -2, false)) {
      return false;
    }
    if (raw.empty()) {
      return Fail(*pp, "empty metric name");
    }
    meta_name_.assign(raw.data(), raw.size());
    *name = meta_name_;
    *pp = p;
    return true;
  }
  return FailUnexpected(p, "a metric name");
}

// Prometheus text 0.0.4: "# HELP name text", "# TYPE name type"; every other comment is ignored.
bool Parser::ParseTextComment(const char* p) {
  const char* q = p + 1;
  if (q < end_ && Is(*q, kBlank)) {
    while (q < end_ && Is(*q, kBlank)) {
      ++q;
    }
    bool help = false;
    bool type = false;
    if (end_ - q > 4 && Is(q[4], kBlank)) {
      help = std::memcmp(q, "HELP", 4) == 0;
      type = std::memcmp(q, "TYPE", 4) == 0;
    }
    if (help || type) {
      q += 4;
      while (q < end_ && Is(*q, kBlank)) {
        ++q;
      }
      std::string_view name;
      if (!ParseMetadataName(&q, &name)) {
        return false;
      }
      if (q < end_ && Is(*q, kBlank)) {
        ++q;  // one separating blank; the rest of the line is the text
      } else if (q < end_ && *q != '\n') {
        return FailUnexpected(q, "a blank after the metric name");
      }
      const char* eol =
          static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
      if (eol == nullptr) {
        return Fail(end_, "unexpected end of data, expected a newline");
      }
      std::string_view text(q, static_cast<size_t>(eol - q));
      if (type) {
        MetricType t;
        if (!ParseTypeWord(text, false, &t)) {
          return Fail(q, absl::StrCat("invalid metric type \"", Excerpt(text), "\""));
        }
        UpdateFamily(name, true, t);
      } else {
        if (!model::ValidUtf8(text)) {
          return Fail(q, "HELP text is not valid UTF-8");
        }
        UpdateFamily(name, false, MetricType::kUnknown);
      }
      cur_ = eol + 1;
      return true;
    }
  }
  // Any other comment. NUL is only accepted inside quoted label values and HELP text.
  const char* eol = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
  if (eol == nullptr) {
    return Fail(end_, "unexpected end of data, expected a newline");
  }
  if (const void* nul = std::memchr(q, '\0', static_cast<size_t>(eol - q)); nul != nullptr) {
    return Fail(static_cast<const char*>(nul), "NUL byte in comment");
  }
  cur_ = eol + 1;
  return true;
}

// OpenMetrics: only "# TYPE name type", "# HELP name text", "# UNIT name unit" and "# EOF".
bool Parser::ParseOmComment(const char* p) {
  constexpr std::string_view kAllowed =
      "comment: only # TYPE, # HELP, # UNIT and # EOF are allowed in OpenMetrics";
  if (end_ - p < 5 || p[1] != ' ') {
    return Fail(p, absl::StrCat("invalid ", ToAbsl(kAllowed)));
  }
  const char* q = p + 2;
  if (std::memcmp(q, "EOF", 3) == 0 && (q + 3 == end_ || q[3] == '\n')) {
    q += 3;
    if (q < end_) {
      ++q;
    }
    saw_eof_ = true;
    if (q != end_) {
      ++line_no_;
      line_start_ = q;
      return Fail(q, "unexpected data after # EOF");
    }
    if (strict_) {
      if (std::string err = validator_->OnEof(); !err.empty()) {
        return Fail(p, err);
      }
    }
    cur_ = q;
    return true;
  }
  enum class Kind { kHelp, kType, kUnit } kind;
  if (end_ - q > 5 && std::memcmp(q, "HELP ", 5) == 0) {
    kind = Kind::kHelp;
  } else if (end_ - q > 5 && std::memcmp(q, "TYPE ", 5) == 0) {
    kind = Kind::kType;
  } else if (end_ - q > 5 && std::memcmp(q, "UNIT ", 5) == 0) {
    kind = Kind::kUnit;
  } else {
    return Fail(p, absl::StrCat("invalid ", ToAbsl(kAllowed)));
  }
  q += 5;
  std::string_view name;
  if (!ParseMetadataName(&q, &name)) {
    return false;
  }
  if (q >= end_ || *q != ' ') {
    return FailUnexpected(q, "a space and text after the metric name");
  }
  ++q;
  const char* eol = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(end_ - q)));
  if (eol == nullptr) {
    return Fail(end_, "unexpected end of data, expected a newline");
  }
  std::string_view text(q, static_cast<size_t>(eol - q));
  std::string err;
  switch (kind) {
    case Kind::kType: {
      MetricType t;
      if (!ParseTypeWord(text, true, &t)) {
        return Fail(q, absl::StrCat("invalid metric type \"", Excerpt(text), "\""));
      }
      UpdateFamily(name, true, t);
      if (strict_) {
        err = validator_->OnType(family_name_, t);
      }
      break;
    }
    case Kind::kHelp:
      if (!model::ValidUtf8(text)) {
        return Fail(q, "HELP text is not valid UTF-8");
      }
      UpdateFamily(name, false, MetricType::kUnknown);
      if (strict_) {
        err = validator_->OnHelp(family_name_);
      }
      break;
    case Kind::kUnit: {
      std::string_view fam = name;
      if (!text.empty() &&
          (fam.size() <= text.size() || fam.substr(fam.size() - text.size()) != text ||
           fam[fam.size() - text.size() - 1] != '_')) {
        return Fail(q, absl::StrCat("unit \"", Excerpt(text), "\" is not a suffix of metric \"",
                                    Excerpt(fam), "\""));
      }
      UpdateFamily(name, false, MetricType::kUnknown);
      if (strict_) {
        err = validator_->OnUnit(family_name_, text);
      }
      break;
    }
  }
  if (!err.empty()) {
    return Fail(p, err);
  }
  cur_ = eol + 1;
  return true;
}

bool Parser::ParseQuoted(const char** pp, std::string_view* out, bool* escaped, int32_t label,
                         bool is_value) {
  const char* open = *pp;
  const char* p = open + 1;
  bool non_ascii = false;
  bool has_escape = false;
  while (true) {
    p = ScanQuoted(p, end_);
    if (p >= end_) {
      return Fail(open, "unterminated quoted string");
    }
    char c = *p;
    if (c == '"') {
      break;
    }
    if (c == '\\') {
      if (p + 1 >= end_ || p[1] == '\n') {
        return Fail(p, "invalid escape at end of line in quoted string");
      }
      has_escape = true;
      p += 2;
      continue;
    }
    if (c == '\n') {
      if (om_) {
        return Fail(p, "newline in quoted string");
      }
      // The 0.0.4 lexer accepts a raw newline inside a quoted label value.
      ++line_no_;
      line_start_ = p + 1;
      ++p;
      continue;
    }
    non_ascii = true;
    ++p;
  }
  std::string_view raw(open + 1, static_cast<size_t>(p - open - 1));
  if (non_ascii && !model::ValidUtf8(raw)) {
    return Fail(open, "quoted string is not valid UTF-8");
  }
  *pp = p + 1;
  *escaped = has_escape;
  if (!has_escape) {
    *out = raw;
    return true;
  }
  size_t offset = scratch_.size();
  Unescape(raw, &scratch_);
  *out = std::string_view(scratch_.data() + offset, scratch_.size() - offset);
  if (label >= -1) {
    fixups_.push_back(Fixup{label, is_value, static_cast<uint32_t>(offset),
                            static_cast<uint32_t>(scratch_.size() - offset)});
  }
  return true;
}

bool Parser::ParseLabels(const char** pp, bool allow_metric_name, bool exemplar) {
  const char* p = *pp;  // just after '{'
  const bool text = !om_;
  std::vector<LabelPair>& labels = exemplar ? exemplar_labels_ : labels_;
  bool after_comma = false;
  while (true) {
    if (text) {
      while (p < end_ && Is(*p, kBlank)) {
        ++p;
      }
    }
    if (p >= end_) {
      return FailUnexpected(p, "a label name or '}'");
    }
    if (*p == '}') {
      if (after_comma && strict_) {
        return Fail(p, "trailing comma in label set");
      }
      *pp = p + 1;
      return true;
    }
    std::string_view lname;
    const char* name_at = p;
    if (*p == '"') {
      if (strict_) {
        return Fail(p, "quoted names are not part of OpenMetrics 1.0");
      }
      bool escaped = false;
      if (!ParseQuoted(&p, &lname, &escaped, exemplar ? -2 : static_cast<int32_t>(labels.size()),
                       false)) {
        return false;
      }
      if (text) {
        while (p < end_ && Is(*p, kBlank)) {
          ++p;
        }
      }
      if (p < end_ && (*p == ',' || *p == '}')) {
        // A quoted string on its own is the metric name: {"my.metric", a="b"}.
        if (!allow_metric_name || exemplar) {
          return FailUnexpected(p, "'=' after the label name");
        }
        if (!name_.empty()) {
          return Fail(name_at, "metric name given twice");
        }
        if (lname.empty()) {
          return Fail(name_at, "empty metric name");
        }
        if (escaped) {
          fixups_.back().label = -1;
        }
        name_ = lname;
        if (*p == ',') {
          ++p;
          after_comma = true;
        }
        continue;
      }
      if (lname.empty()) {
        return Fail(name_at, "empty label name");
      }
    } else if (Is(*p, kLabelStart)) {
      const char* start = p;
      while (p < end_ && Is(*p, kLabelChar)) {
        ++p;
      }
      lname = std::string_view(start, static_cast<size_t>(p - start));
    } else {
      return FailUnexpected(p, "a label name");
    }
    if (text) {
      while (p < end_ && Is(*p, kBlank)) {
        ++p;
      }
    }
    if (p >= end_ || *p != '=') {
      return FailUnexpected(p, "'=' after the label name");
    }
    ++p;
    if (text) {
      while (p < end_ && Is(*p, kBlank)) {
        ++p;
      }
    }
    if (p >= end_ || *p != '"') {
      return FailUnexpected(p, "a double-quoted label value");
    }
    std::string_view lvalue;
    bool escaped = false;
    if (!ParseQuoted(&p, &lvalue, &escaped, exemplar ? -2 : static_cast<int32_t>(labels.size()),
                     true)) {
      return false;
    }
    if (exemplar) {
      exemplar_code_points_ += model::CountCodePoints(lname) + model::CountCodePoints(lvalue);
    }
    labels.push_back(LabelPair{lname, lvalue});
    if (text) {
      while (p < end_ && Is(*p, kBlank)) {
        ++p;
      }
    }
    after_comma = false;
    if (p < end_ && *p == ',') {
      ++p;
      after_comma = true;
    } else if (p >= end_ || *p != '}') {
      return FailUnexpected(p, "',' or '}'");
    }
  }
}

bool Parser::ParseOmExemplar(const char** pp) {
  const char* p = *pp;  // at '#'
  if (end_ - p < 3 || p[1] != ' ' || p[2] != '{') {
    return FailUnexpected(p, "an exemplar \"# {...} value\"");
  }
  p += 3;
  exemplar_labels_.clear();
  exemplar_code_points_ = 0;
  if (!ParseLabels(&p, false, true)) {
    return false;
  }
  if (p >= end_ || *p != ' ') {
    return FailUnexpected(p, "a space and the exemplar value");
  }
  ++p;
  const char* start = p;
  while (p < end_ && *p != ' ' && *p != '\n') {
    ++p;
  }
  std::string_view token(start, static_cast<size_t>(p - start));
  double v;
  if (token.empty() || token.find_first_of("pP_") != std::string_view::npos ||
      !ParseGoFloat(token, &v)) {
    return Fail(start, absl::StrCat("invalid exemplar value \"", Excerpt(token), "\""));
  }
  exemplar_value_ = v;
  exemplar_has_timestamp_ = false;
  if (p < end_ && *p == ' ') {
    ++p;
    start = p;
    while (p < end_ && *p != ' ' && *p != '\n') {
      ++p;
    }
    token = std::string_view(start, static_cast<size_t>(p - start));
    double ts;
    if (token.empty() || token.find_first_of("pP_") != std::string_view::npos ||
        !ParseGoFloat(token, &ts) || !std::isfinite(ts)) {
      return Fail(start, absl::StrCat("invalid exemplar timestamp \"", Excerpt(token), "\""));
    }
    exemplar_has_timestamp_ = true;
  }
  has_exemplar_ = true;
  *pp = p;
  return true;
}

bool Parser::ParseSample(const char* p) {
  name_ = {};
  labels_.clear();
  fixups_.clear();
  scratch_.clear();
  has_exemplar_ = false;
  has_timestamp_ = false;
  const bool text = !om_;

  if (Is(*p, kMetricStart)) {
    const char* start = p;
    while (p < end_ && Is(*p, kMetricChar)) {
      ++p;
    }
    name_ = std::string_view(start, static_cast<size_t>(p - start));
    const char* q = p;
    if (text) {
      while (q < end_ && Is(*q, kBlank)) {
        ++q;
      }
    }
    if (q < end_ && *q == '{') {
      p = q + 1;
      if (!ParseLabels(&p, true, false)) {
        return false;
      }
    } else if (text) {
      p = q;
    }
  } else if (*p == '{') {
    if (strict_) {
      return Fail(p, "a sample must start with its metric name in OpenMetrics 1.0");
    }
    const char* open = p;
    ++p;
    if (!ParseLabels(&p, true, false)) {
      return false;
    }
    if (name_.empty()) {
      return Fail(open, "metric name not set (a quoted name must come first inside the braces)");
    }
  } else {
    return FailUnexpected(p, "a metric name");
  }

  // Value.
  if (text) {
    while (p < end_ && Is(*p, kBlank)) {
      ++p;
    }
  } else {
    if (p >= end_ || *p != ' ') {
      return FailUnexpected(p, "a space and the sample value");
    }
    ++p;
  }
  const char* vstart = p;
  if (text) {
    while (p < end_ && !Is(*p, kTextValueEnd)) {
      ++p;
    }
  } else {
    while (p < end_ && *p != ' ' && *p != '\n') {
      ++p;
    }
  }
  std::string_view token(vstart, static_cast<size_t>(p - vstart));
  if (token.empty()) {
    return FailUnexpected(p, "a sample value");
  }
  double v;
  // Prometheus keeps to pre-Go-1.13 float syntax: no hex floats, no '_' separators.
  if (token.find_first_of("pP_") != std::string_view::npos || !ParseGoFloat(token, &v)) {
    return Fail(vstart, absl::StrCat("invalid sample value \"", Excerpt(token), "\""));
  }
  value_bits_ = CanonicalBits(v);

  // Timestamp and line end.
  if (text) {
    while (p < end_ && Is(*p, kBlank)) {
      ++p;
    }
    if (p < end_ && *p >= '0' && *p <= '9') {
      const char* tstart = p;
      while (p < end_ && *p >= '0' && *p <= '9') {
        ++p;
      }
      if (!ParseDecimalInt64(std::string_view(tstart, static_cast<size_t>(p - tstart)),
                             &timestamp_ms_)) {
        return Fail(tstart, "timestamp out of range");
      }
      has_timestamp_ = true;
      while (p < end_ && Is(*p, kBlank)) {
        ++p;
      }
    }
    if (p >= end_ || *p != '\n') {
      return FailUnexpected(
          p, has_timestamp_ ? "a newline after the timestamp" : "a timestamp or a newline");
    }
  } else {
    if (p < end_ && *p == ' ') {
      ++p;
      if (p < end_ && *p == '#') {
        if (!ParseOmExemplar(&p)) {
          return false;
        }
      } else {
        const char* tstart = p;
        while (p < end_ && *p != ' ' && *p != '\n') {
          ++p;
        }
        token = std::string_view(tstart, static_cast<size_t>(p - tstart));
        double ts;
        if (token.empty() || token.find_first_of("pP_") != std::string_view::npos ||
            !ParseGoFloat(token, &ts)) {
          return Fail(tstart, absl::StrCat("invalid timestamp \"", Excerpt(token), "\""));
        }
        if (!std::isfinite(ts)) {
          return Fail(tstart, "timestamp must be finite");
        }
        double ms = ts * 1000;
        // int64(ts*1000) truncates toward zero; outside int64 the Go conversion is undefined.
        if (!(ms > -9.2e18 && ms < 9.2e18)) {
          return Fail(tstart, "timestamp out of range");
        }
        timestamp_ms_ = static_cast<int64_t>(ms);
        timestamp_s_ = ts;
        has_timestamp_ = true;
        if (p < end_ && *p == ' ') {
          ++p;
          if (!ParseOmExemplar(&p)) {
            return false;
          }
        }
      }
    }
    if (p >= end_) {
      return Fail(p, "data does not end with # EOF");
    }
    if (*p != '\n') {
      return FailUnexpected(p, "a newline");
    }
  }
  cur_ = p + 1;

  if (!fixups_.empty()) {
    for (const Fixup& f : fixups_) {
      std::string_view view(scratch_.data() + f.offset, f.size);
      if (f.label < 0) {
        name_ = view;
      } else if (f.is_value) {
        labels_[static_cast<size_t>(f.label)].value = view;
      } else {
        labels_[static_cast<size_t>(f.label)].name = view;
      }
    }
  }
  ResolveSampleFamily();

  if (strict_) {
    OmSample s;
    s.name = name_;
    s.labels = labels_.data();
    s.num_labels = labels_.size();
    s.value = v;
    s.has_timestamp = has_timestamp_;
    s.timestamp_s = timestamp_s_;
    s.has_exemplar = has_exemplar_;
    s.exemplar_value = exemplar_value_;
    s.exemplar_code_points = exemplar_code_points_;
    if (std::string err = validator_->OnSample(s); !err.empty()) {
      return Fail(line_start_, err);
    }
  }
  return true;
}

void Parser::UpdateFamily(std::string_view name, bool is_type, MetricType type) {
  // `name` points into the body or meta_name_, never into family_storage_.
  if (is_type || name != family_name_) {
    family_storage_.assign(name.data(), name.size());
    family_name_ = family_storage_;
    family_type_ = type;
    family_typed_ = is_type;
  }
}

void Parser::ResolveSampleFamily() {
  sample_type_ = MetricType::kUnknown;
  sample_family_ = {};
  if (!family_typed_) {
    return;
  }
  std::string_view fam = family_name_;
  if (name_.size() >= fam.size() && std::memcmp(name_.data(), fam.data(), fam.size()) == 0 &&
      SuffixBelongs(name_.substr(fam.size()), family_type_, om_)) {
    sample_type_ = family_type_;
    sample_family_ = fam;
  }
}

}  // namespace tender::textparse
