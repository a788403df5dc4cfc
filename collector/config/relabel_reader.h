// Internal to collector/config: reads relabel rule lists (relabel_configs,
// metric_relabel_configs, write_relabel_configs) and validates each rule as Prometheus's
// relabel.Config.Validate does, with RE2 checking every regex. Pure; any thread.
#pragma once

#include <string_view>
#include <vector>

#include "collector/config/yaml_reader.h"
#include "collector/relabel/rule_config.h"

namespace tender::config::internal {

// Reads a list of relabel rules from `field` (null = no rules). A null item is an error with
// `empty_item_message` (Prometheus's wording differs per list). Each problem is recorded in
// `diag` with its YAML path and line; only rules without problems are appended to `out`.
void ReadRelabelRules(const Field& field, std::string_view empty_item_message, Diagnostics* diag,
                      std::vector<relabel::RuleConfig>* out);

}  // namespace tender::config::internal
