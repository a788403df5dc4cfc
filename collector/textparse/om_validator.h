// Strict OpenMetrics 1.0 checks that need state across lines: family grouping and metadata
// order, clashing names, per-type sample rules (counter _total, histogram buckets, summary
// quantiles, info, stateset), units, exemplar placement and size, timestamp order. Internal to
// the parser; fed one line at a time by the Parser that owns it. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "collector/textparse/parser.h"

namespace tender::textparse {

// One sample line as the validator sees it.
struct OmSample {
  std::string_view name;
  const LabelPair* labels = nullptr;
  size_t num_labels = 0;
  double value = 0;  // as parsed (NaN not canonicalised)
  bool has_timestamp = false;
  double timestamp_s = 0;
  bool has_exemplar = false;
  double exemplar_value = 0;
  size_t exemplar_code_points = 0;  // label names + values of the exemplar
};

class OmValidator {
 public:
  // Each call returns an empty string when the line is acceptable, else the reason it is not.
  std::string OnType(std::string_view family, MetricType type);
  std::string OnHelp(std::string_view family);
  std::string OnUnit(std::string_view family, std::string_view unit);
  // `type`/`family` receive the family the sample was attributed to.
  std::string OnSample(const OmSample& sample);
  // At "# EOF": closes the last family.
  std::string OnEof();

 private:
  struct HistogramPoint {
    bool active = false;
    bool closed = false;  // +Inf bucket or a non-bucket sample seen: next bucket starts a point
    bool has_bucket = false;
    double last_le = 0;
    double last_count = 0;
    bool has_inf = false;
    double inf_count = 0;
    bool has_negative_le = false;
    bool has_count = false;
    double count = 0;
    bool has_sum = false;
    double sum = 0;
  };

  std::string StartFamily(std::string_view name);
  std::string ClaimNames(MetricType type);
  std::string FinishMetric();
  std::string FinishPoint();
  std::string CheckHistogramSample(std::string_view suffix, const OmSample& s);

  // Current family.
  bool active_ = false;
  std::string name_;
  MetricType type_ = MetricType::kUnknown;
  bool typed_ = false;
  bool has_help_ = false;
  bool has_unit_ = false;
  std::string unit_;
  bool has_samples_ = false;

  // Current metric (label set without le/quantile/state label) within the family.
  bool metric_active_ = false;
  std::string metric_key_;
  absl::flat_hash_set<std::string> finished_metrics_;
  bool metric_has_timestamps_ = false;
  double metric_last_timestamp_ = 0;
  HistogramPoint point_;

  // Family names and the sample names their types generate, across the whole exposition.
  absl::flat_hash_set<std::string> claimed_;

  // Scratch for building metric keys.
  std::vector<size_t> order_;
  std::string key_;
};

}  // namespace tender::textparse
