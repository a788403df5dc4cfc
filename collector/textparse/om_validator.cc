#include "collector/textparse/om_validator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/textparse/number.h"

namespace tender::textparse {
namespace {

// Sample-name suffixes each OpenMetrics type allows (OpenMetrics 1.0, "Metric types").
const std::vector<std::string_view>& Suffixes(MetricType type) {
  static const std::vector<std::string_view> kPlain = {""};
  static const std::vector<std::string_view> kCounter = {"_total", "_created"};
  static const std::vector<std::string_view> kHistogram = {"_bucket", "_count", "_sum", "_created"};
  static const std::vector<std::string_view> kGaugeHistogram = {"_bucket", "_gcount", "_gsum"};
  static const std::vector<std::string_view> kSummary = {"", "_count", "_sum", "_created"};
  static const std::vector<std::string_view> kInfo = {"_info"};
  switch (type) {
    case MetricType::kCounter:
      return kCounter;
    case MetricType::kHistogram:
      return kHistogram;
    case MetricType::kGaugeHistogram:
      return kGaugeHistogram;
    case MetricType::kSummary:
      return kSummary;
    case MetricType::kInfo:
      return kInfo;
    case MetricType::kUnknown:
    case MetricType::kGauge:
    case MetricType::kStateset:
      break;
  }
  return kPlain;
}

bool IsMetricNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

void AppendSized(std::string* out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(s.data(), s.size());
}

std::string Str(std::string_view a, std::string_view b = {}, std::string_view c = {},
                std::string_view d = {}, std::string_view e = {}) {
  return absl::StrCat(ToAbsl(a), ToAbsl(b), ToAbsl(c), ToAbsl(d), ToAbsl(e));
}

}  // namespace

std::string OmValidator::StartFamily(std::string_view name) {
  if (active_) {
    if (std::string err = FinishMetric(); !err.empty()) {
      return err;
    }
  }
  finished_metrics_.clear();
  active_ = true;
  name_.assign(name.data(), name.size());
  type_ = MetricType::kUnknown;
  typed_ = false;
  has_help_ = false;
  has_unit_ = false;
  unit_.clear();
  has_samples_ = false;
  if (!claimed_.insert(name_).second) {
    return Str("family \"", name,
               "\" appears twice or clashes with another family's sample names (families must "
               "not be interleaved)");
  }
  return {};
}

std::string OmValidator::ClaimNames(MetricType type) {
  for (std::string_view suffix : Suffixes(type)) {
    if (suffix.empty()) {
      continue;
    }
    std::string sample = name_ + std::string(suffix);
    if (!claimed_.insert(sample).second) {
      return Str("sample name \"", sample, "\" of family \"", name_) +
             "\" clashes with another family";
    }
  }
  return {};
}

std::string OmValidator::OnType(std::string_view family, MetricType type) {
  if (!active_ || family != name_) {
    if (std::string err = StartFamily(family); !err.empty()) {
      return err;
    }
  } else if (has_samples_) {
    return Str("TYPE for \"", family, "\" after its samples");
  } else if (typed_) {
    return Str("repeated TYPE for \"", family, "\"");
  }
  typed_ = true;
  type_ = type;
  if (has_unit_ && !unit_.empty() && (type == MetricType::kInfo || type == MetricType::kStateset)) {
    return Str("info and stateset families must not have a unit (\"", family, "\")");
  }
  return ClaimNames(type);
}

std::string OmValidator::OnHelp(std::string_view family) {
  if (!active_ || family != name_) {
    if (std::string err = StartFamily(family); !err.empty()) {
      return err;
    }
  } else if (has_samples_) {
    return Str("HELP for \"", family, "\" after its samples");
  } else if (has_help_) {
    return Str("repeated HELP for \"", family, "\"");
  }
  has_help_ = true;
  return {};
}

std::string OmValidator::OnUnit(std::string_view family, std::string_view unit) {
  if (!active_ || family != name_) {
    if (std::string err = StartFamily(family); !err.empty()) {
      return err;
    }
  } else if (has_samples_) {
    return Str("UNIT for \"", family, "\" after its samples");
  } else if (has_unit_) {
    return Str("repeated UNIT for \"", family, "\"");
  }
  has_unit_ = true;
  unit_.assign(unit.data(), unit.size());
  for (char c : unit) {
    if (!IsMetricNameChar(c)) {
      return Str("invalid character in unit \"", unit, "\"");
    }
  }
  if (!unit.empty() && typed_ && (type_ == MetricType::kInfo || type_ == MetricType::kStateset)) {
    return Str("info and stateset families must not have a unit (\"", family, "\")");
  }
  return {};
}

std::string OmValidator::FinishPoint() {
  HistogramPoint p = point_;
  point_ = HistogramPoint();
  if (!p.active) {
    return {};
  }
  const bool gauge = type_ == MetricType::kGaugeHistogram;
  std::string_view count = gauge ? "_gcount" : "_count";
  std::string_view sum = gauge ? "_gsum" : "_sum";
  if (!p.has_inf) {
    return Str("histogram \"", name_, "\" has a point without a le=\"+Inf\" bucket");
  }
  if (p.has_count && p.count != p.inf_count) {
    return Str("histogram \"", name_, "\": ", count) + " differs from the +Inf bucket";
  }
  if (p.has_count != p.has_sum) {
    return Str("histogram \"", name_, "\": ", count) + Str(" and ", sum, " must appear together");
  }
  if (!gauge && p.has_negative_le && p.has_sum) {
    return Str("histogram \"", name_, "\" has negative buckets and must not have _sum");
  }
  if (p.has_sum && !p.has_negative_le && p.sum < 0) {
    return Str("histogram \"", name_, "\": negative ", sum, " without negative buckets");
  }
  return {};
}

std::string OmValidator::FinishMetric() {
  if (std::string err = FinishPoint(); !err.empty()) {
    return err;
  }
  if (metric_active_) {
    finished_metrics_.insert(metric_key_);
    metric_active_ = false;
  }
  return {};
}

std::string OmValidator::CheckHistogramSample(std::string_view suffix, const OmSample& s) {
  if (suffix == "_bucket") {
    if (point_.active && point_.closed) {
      if (std::string err = FinishPoint(); !err.empty()) {
        return err;
      }
    }
    point_.active = true;
    std::string_view le_text;
    for (size_t i = 0; i < s.num_labels; ++i) {
      if (s.labels[i].name == "le") {
        le_text = s.labels[i].value;
      }
    }
    double le = 0;
    if (!ParseGoFloat(le_text, &le) || std::isnan(le)) {
      return Str("histogram bucket le=\"", le_text, "\" is not a number");
    }
    const bool inf = std::isinf(le) && le > 0;
    if (inf && le_text != "+Inf") {
      return Str("the +Inf bucket must be written le=\"+Inf\", not \"", le_text, "\"");
    }
    if (std::isnan(s.value) || s.value < 0) {
      return "histogram bucket counts must be non-negative numbers";
    }
    if (point_.has_bucket) {
      if (le <= point_.last_le) {
        return "histogram buckets must be sorted by le, without duplicates";
      }
      if (s.value < point_.last_count) {
        return "histogram buckets must be cumulative";
      }
    }
    if (s.has_exemplar) {
      if (!(s.exemplar_value <= le) || (point_.has_bucket && s.exemplar_value <= point_.last_le)) {
        return "exemplar value lies outside its bucket";
      }
    }
    point_.has_bucket = true;
    point_.last_le = le;
    point_.last_count = s.value;
    point_.has_negative_le |= le < 0;
    if (inf) {
      point_.has_inf = true;
      point_.inf_count = s.value;
      point_.closed = true;
    }
    return {};
  }
  point_.active = true;
  point_.closed = true;
  if (suffix == "_count" || suffix == "_gcount") {
    if (std::isnan(s.value) || s.value < 0) {
      return Str("histogram ", suffix, " must be a non-negative number");
    }
    if (point_.has_count) {
      return Str("repeated ", suffix, " in one histogram point");
    }
    point_.has_count = true;
    point_.count = s.value;
  } else if (suffix == "_sum" || suffix == "_gsum") {
    if (std::isnan(s.value)) {
      return Str("histogram ", suffix, " must not be NaN");
    }
    if (point_.has_sum) {
      return Str("repeated ", suffix, " in one histogram point");
    }
    point_.has_sum = true;
    point_.sum = s.value;
  }
  return {};
}

std::string OmValidator::OnSample(const OmSample& s) {
  std::string_view suffix;
  bool belongs = false;
  if (active_ && s.name.size() >= name_.size() && s.name.compare(0, name_.size(), name_) == 0) {
    std::string_view rest = s.name.substr(name_.size());
    for (std::string_view allowed : Suffixes(type_)) {
      if (rest == allowed) {
        belongs = true;
        suffix = rest;
        break;
      }
    }
  }
  if (!belongs) {
    if (active_ && typed_ && s.name == name_) {
      return Str("sample \"", s.name, "\" is not a valid sample name for a ",
                 MetricTypeName(type_)) +
             " family";
    }
    if (std::string err = StartFamily(s.name); !err.empty()) {
      return err;
    }
  }
  has_samples_ = true;

  const bool histogram = type_ == MetricType::kHistogram || type_ == MetricType::kGaugeHistogram;
  const bool bucket = histogram && suffix == "_bucket";
  const bool quantile_sample = type_ == MetricType::kSummary && suffix.empty();

  // Label rules and the metric key (label set without le / quantile / the state label).
  order_.clear();
  bool has_le = false;
  bool has_quantile = false;
  bool has_state = false;
  std::string_view quantile_text;
  for (size_t i = 0; i < s.num_labels; ++i) {
    std::string_view n = s.labels[i].name;
    if (n == "le") {
      has_le = true;
      if (bucket) {
        continue;
      }
    } else if (n == "quantile") {
      has_quantile = true;
      quantile_text = s.labels[i].value;
      if (quantile_sample) {
        continue;
      }
    } else if (type_ == MetricType::kStateset && n == name_) {
      has_state = true;
      continue;
    }
    order_.push_back(i);
  }
  if (histogram && has_le != bucket) {
    return bucket ? std::string("histogram bucket without le label")
                  : Str("histogram sample \"", s.name, "\" must not have a le label");
  }
  if (type_ == MetricType::kSummary && has_quantile != quantile_sample) {
    return quantile_sample ? std::string("summary quantile sample without quantile label")
                           : Str("summary sample \"", s.name, "\" must not have a quantile label");
  }
  if (type_ == MetricType::kStateset && !has_state) {
    return Str("stateset sample without its state label \"", name_, "\"");
  }
  std::sort(order_.begin(), order_.end(),
            [&s](size_t a, size_t b) { return s.labels[a].name < s.labels[b].name; });
  key_.clear();
  for (size_t j = 0; j < order_.size(); ++j) {
    const LabelPair& l = s.labels[order_[j]];
    if (j > 0 && s.labels[order_[j - 1]].name == l.name) {
      return Str("duplicate label name \"", l.name, "\"");
    }
    AppendSized(&key_, l.name);
    AppendSized(&key_, l.value);
  }

  // Grouping of metrics and timestamp order within one metric.
  if (!metric_active_ || key_ != metric_key_) {
    if (std::string err = FinishMetric(); !err.empty()) {
      return err;
    }
    if (finished_metrics_.contains(key_)) {
      return Str("metric of family \"", name_, "\" is interleaved with another metric");
    }
    metric_active_ = true;
    metric_key_ = key_;
    metric_has_timestamps_ = s.has_timestamp;
    metric_last_timestamp_ = s.timestamp_s;
  } else {
    if (s.has_timestamp != metric_has_timestamps_) {
      return "a metric must not mix points with and without timestamps";
    }
    if (s.has_timestamp) {
      if (s.timestamp_s < metric_last_timestamp_) {
        return "timestamps of a metric must not decrease";
      }
      metric_last_timestamp_ = s.timestamp_s;
    }
  }

  // Exemplars: only on counter _total and (gauge)histogram _bucket samples, <= 128 code points.
  if (s.has_exemplar) {
    const bool allowed = (type_ == MetricType::kCounter && suffix == "_total") || bucket;
    if (!allowed) {
      return Str("exemplar not allowed on sample \"", s.name, "\"");
    }
    if (s.exemplar_code_points > 128) {
      return "exemplar labels exceed 128 code points";
    }
    if (std::isnan(s.exemplar_value) && bucket) {
      return "exemplar value lies outside its bucket";
    }
  }

  switch (type_) {
    case MetricType::kCounter:
      if (suffix == "_total" && (std::isnan(s.value) || s.value < 0)) {
        return "counter _total must be a non-negative number";
      }
      break;
    case MetricType::kInfo:
      if (s.value != 1) {
        return "info sample value must be 1";
      }
      break;
    case MetricType::kStateset:
      if (s.value != 0 && s.value != 1) {
        return "stateset sample value must be 0 or 1";
      }
      break;
    case MetricType::kSummary:
      if (quantile_sample) {
        double q = 0;
        if (!ParseGoFloat(quantile_text, &q) || !(q >= 0 && q <= 1)) {
          return Str("summary quantile \"", quantile_text, "\" is not a number in [0,1]");
        }
        if (s.value < 0) {
          return "summary quantile values must not be negative";
        }
      } else if ((suffix == "_count" || suffix == "_sum") && (std::isnan(s.value) || s.value < 0)) {
        return Str("summary ", suffix, " must be a non-negative number");
      }
      break;
    case MetricType::kHistogram:
    case MetricType::kGaugeHistogram:
      return CheckHistogramSample(suffix, s);
    case MetricType::kGauge:
    case MetricType::kUnknown:
      break;
  }
  return {};
}

std::string OmValidator::OnEof() {
  if (!active_) {
    return {};
  }
  return FinishMetric();
}

}  // namespace tender::textparse
