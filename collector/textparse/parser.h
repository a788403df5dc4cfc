// Pull parser for one scraped exposition body: Prometheus text 0.0.4 (and 1.0.0 quoted names) or
// OpenMetrics 1.0, zero-copy over a contiguous body, no allocation per line in steady state.
// One Parser per body; not thread-safe (called from the scrape worker that owns the body).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tender::textparse {

class OmValidator;

enum class Format { kText, kOpenMetrics };

// One label of the current sample; views into the body or the parser's scratch buffer.
struct LabelPair {
  std::string_view name;
  std::string_view value;
};

// Maps a Content-Type header to a parser by media type only (parameters such as `version` and
// `charset` are ignored, case-insensitive): "text/plain" -> kText,
// "application/openmetrics-text" -> kOpenMetrics, anything else (or empty) -> nullopt.
std::optional<Format> FormatFromContentType(std::string_view content_type);

// Text format "untyped" is kUnknown.
enum class MetricType {
  kUnknown,
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateset
};

// "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown".
std::string_view MetricTypeName(MetricType type);

struct ParserOptions {
  // OpenMetrics only: enforce every MUST of OpenMetrics 1.0 (family grouping and ordering, type
  // rules for counters/histograms/summaries/info/stateset, units, exemplars, timestamp order,
  // clashing names). Off, the parser is as lax as Prometheus's own OpenMetrics parser. Strict
  // mode keeps per-family state and may allocate per family; the lax path does not.
  bool strict = false;
};

class Parser {
 public:
  // `body` must outlive the parser; every view returned below points into it or into the
  // parser's scratch buffers.
  Parser(std::string_view body, Format format, ParserOptions options = {});
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Advances to the next sample. Returns false at the clean end of the body or on the first
  // error (then status() says which); after false, every later call returns false too.
  bool Next();

  // OK while parsing and at a clean end; InvalidArgument "LINE:COL: reason" (1-based, column in
  // bytes) after an error. Any error invalidates the whole body.
  absl::Status status() const { return status_; }

  // Accessors for the current sample; only valid after Next() returned true. Views stay valid
  // until the next call to Next().

  // Metric name (unescaped when it was written quoted).
  std::string_view name() const { return name_; }
  // Labels in exposition order: not sorted, and duplicates are kept (the caller detects them).
  size_t num_labels() const { return labels_.size(); }
  std::string_view label_name(size_t i) const { return labels_[i].name; }
  // Unescaped (\\ \" \n decoded), valid UTF-8.
  std::string_view label_value(size_t i) const { return labels_[i].value; }
  // IEEE-754 bits of the value; any NaN is canonicalised to kCanonicalNaNBits (number.h).
  uint64_t value_bits() const { return value_bits_; }
  double value() const;
  bool has_timestamp() const { return has_timestamp_; }
  // Text: integer milliseconds. OpenMetrics: float seconds converted as int64(ts * 1000), i.e.
  // truncated toward zero like Prometheus.
  int64_t timestamp_ms() const { return timestamp_ms_; }
  // Type of the family the sample belongs to (from # TYPE; kUnknown when it has none).
  MetricType type() const { return sample_type_; }
  // Family name as given in # TYPE ("foo" for an OpenMetrics counter sample "foo_total"); empty
  // when the sample belongs to no typed family.
  std::string_view family_name() const { return sample_family_; }
  // OpenMetrics only: the sample carried an exemplar (parsed, validated, otherwise skipped).
  bool has_exemplar() const { return has_exemplar_; }
  // 1-based line of the current sample.
  size_t line() const { return sample_line_; }

 private:
  // A view that was unescaped into scratch_ and must be re-pointed once the line is parsed
  // (scratch_ may reallocate while the line is being parsed).
  struct Fixup {
    int32_t label;  // index into labels_, or -1 for the metric name
    bool is_value;
    uint32_t offset;
    uint32_t size;
  };

  bool Fail(const char* at, std::string_view reason);
  bool FailUnexpected(const char* at, std::string_view expected);
  bool ParseLine(bool* is_sample);
  bool ParseTextComment(const char* p);
  bool ParseOmComment(const char* p);
  bool ParseMetadataName(const char** p, std::string_view* name);
  bool ParseSample(const char* p);
  bool ParseLabels(const char** p, bool allow_metric_name, bool exemplar);
  bool ParseQuoted(const char** p, std::string_view* out, bool* escaped, int32_t label,
                   bool is_value);
  bool ParseOmExemplar(const char** p);
  void UpdateFamily(std::string_view name, bool is_type, MetricType type);
  void ResolveSampleFamily();

  const char* const begin_;
  const char* const end_;
  const char* cur_;         // start of the next line to parse
  const char* line_start_;  // start of the line being parsed (for columns)
  size_t line_no_ = 0;      // 1-based number of the line being parsed
  const bool om_;
  const bool strict_;
  bool done_ = false;
  bool saw_eof_ = false;
  absl::Status status_;

  // Current sample.
  std::string_view name_;
  std::vector<LabelPair> labels_;
  std::vector<LabelPair> exemplar_labels_;
  std::vector<Fixup> fixups_;
  std::string scratch_;
  uint64_t value_bits_ = 0;
  int64_t timestamp_ms_ = 0;
  double timestamp_s_ = 0;  // OpenMetrics: the timestamp as written (strict ordering checks)
  bool has_timestamp_ = false;
  bool has_exemplar_ = false;
  double exemplar_value_ = 0;
  bool exemplar_has_timestamp_ = false;
  size_t exemplar_code_points_ = 0;
  MetricType sample_type_ = MetricType::kUnknown;
  std::string_view sample_family_;
  size_t sample_line_ = 0;

  // Current family (the last # TYPE/HELP/UNIT name).
  std::string_view family_name_;
  std::string family_storage_;  // owns family_name_
  std::string meta_name_;       // unescaped quoted name of the current metadata line
  MetricType family_type_ = MetricType::kUnknown;
  bool family_typed_ = false;

  std::unique_ptr<OmValidator> validator_;  // strict OpenMetrics only
};

}  // namespace tender::textparse
