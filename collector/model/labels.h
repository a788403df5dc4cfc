// Label sets as they travel between stages: a vector of name/value pairs sorted by name.
// Plain values; thread-compatible (no internal synchronisation).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tender::model {

struct Label {
  std::string name;
  std::string value;

  friend bool operator==(const Label&, const Label&) = default;
};

// Sorted by name (byte order), names unique. Empty values mean "absent" and are never stored
// by code that builds a Labels through `LabelsBuilder`.
using Labels = std::vector<Label>;

inline constexpr std::string_view kMetricName = "__name__";
inline constexpr std::string_view kAddressLabel = "__address__";
inline constexpr std::string_view kSchemeLabel = "__scheme__";
inline constexpr std::string_view kMetricsPathLabel = "__metrics_path__";
inline constexpr std::string_view kScrapeIntervalLabel = "__scrape_interval__";
inline constexpr std::string_view kScrapeTimeoutLabel = "__scrape_timeout__";
inline constexpr std::string_view kParamLabelPrefix = "__param_";
inline constexpr std::string_view kJobLabel = "job";
inline constexpr std::string_view kInstanceLabel = "instance";

// Sorts by name and removes labels with empty values; for duplicate names the last one wins.
void Normalize(Labels& labels);

// Returns the value of `name`, or an empty view when absent. `labels` must be sorted. The view
// lives as long as `labels` is not modified.
std::string_view Get(const Labels& labels, std::string_view name);

// Sets `name` to `value` keeping the order; an empty value removes the label.
void Set(Labels& labels, std::string_view name, std::string_view value);

// `{a="1", b="2"}` with Prometheus-style escaping of values; for logs and error messages.
std::string ToString(const Labels& labels);

}  // namespace tender::model
