// One relabel rule as users write it (relabel_configs, metric_relabel_configs,
// write_relabel_configs), with Prometheus's defaults. Plain value; thread-compatible.
// The config loader fills and validates it; relabel::Relabeler compiles a list of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tender::relabel {

enum class Action {
  kReplace,
  kKeep,
  kDrop,
  kHashMod,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
  kKeepEqual,
  kDropEqual,
};

struct RuleConfig {
  std::vector<std::string> source_labels;
  std::string separator = ";";
  std::string target_label;
  std::string regex = "(.*)";  // Fully anchored when compiled: ^(?:regex)$.
  uint64_t modulus = 0;
  std::string replacement = "$1";
  Action action = Action::kReplace;

  friend bool operator==(const RuleConfig&, const RuleConfig&) = default;
};

// "replace", "keep", ... (lowercase, as in Prometheus configs). nullopt when unknown.
inline std::optional<Action> ParseAction(std::string_view s) {
  struct Entry {
    std::string_view name;
    Action action;
  };
  static constexpr Entry kActions[] = {
      {"replace", Action::kReplace},     {"keep", Action::kKeep},
      {"drop", Action::kDrop},           {"hashmod", Action::kHashMod},
      {"labelmap", Action::kLabelMap},   {"labeldrop", Action::kLabelDrop},
      {"labelkeep", Action::kLabelKeep}, {"lowercase", Action::kLowercase},
      {"uppercase", Action::kUppercase}, {"keepequal", Action::kKeepEqual},
      {"dropequal", Action::kDropEqual},
  };
  for (const auto& e : kActions) {
    if (e.name == s) return e.action;
  }
  return std::nullopt;
}

inline std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kReplace:
      return "replace";
    case Action::kKeep:
      return "keep";
    case Action::kDrop:
      return "drop";
    case Action::kHashMod:
      return "hashmod";
    case Action::kLabelMap:
      return "labelmap";
    case Action::kLabelDrop:
      return "labeldrop";
    case Action::kLabelKeep:
      return "labelkeep";
    case Action::kLowercase:
      return "lowercase";
    case Action::kUppercase:
      return "uppercase";
    case Action::kKeepEqual:
      return "keepequal";
    case Action::kDropEqual:
      return "dropequal";
  }
  return "replace";
}

}  // namespace tender::relabel
