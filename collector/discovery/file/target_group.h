// Target groups as file service discovery produces them, and the parser for one target-group
// file (Prometheus file_sd format, JSON or YAML). Pure functions and plain values: any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/model/labels.h"

namespace tender::discovery {

// One group of targets sharing labels.
struct TargetGroup {
  std::string source;                // "<file path>:<index in the file>", as Prometheus names it.
  model::Labels labels;              // The group's labels plus __meta_filepath; normalized.
  std::vector<std::string> targets;  // host:port addresses, in file order.
  // Labels of each target beyond its address (parallel to `targets`, normalized), for
  // discoverers that label targets one by one (Kubernetes); empty when only the group labels
  // apply. A target's own labels win over the group's.
  std::vector<model::Labels> target_labels;

  friend bool operator==(const TargetGroup&, const TargetGroup&) = default;
};

// The label file SD adds to every group: the path of the file it came from.
inline constexpr std::string_view kFilePathLabel = "__meta_filepath";

// Parses the text of a target-group file:
//   [{"targets": ["host:port", ...], "labels": {"name": "value", ...}}, ...]
// as JSON when `path` ends in .json (any case), else as YAML. As in Prometheus, unknown keys
// are ignored in JSON and rejected in YAML, a null document is no groups, and a null group is
// an error. Every target must pass config::ValidateTargetAddress, label names must match
// [a-zA-Z_][a-zA-Z0-9_]* and values be UTF-8. Each group gets source "<path>:<index>" and
// the label __meta_filepath=<path>. On any problem returns InvalidArgument naming the group
// (and target or label) at fault; no partial result. Never throws.
absl::StatusOr<std::vector<TargetGroup>> ParseTargetGroupFile(std::string_view path,
                                                              std::string_view content);

}  // namespace tender::discovery
