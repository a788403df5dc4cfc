// Relabel rules: YAML -> relabel::RuleConfig, validated like Prometheus's relabel.Config
// (model/relabel/relabel.go: UnmarshalYAML for the field types, then Validate).

#include "collector/config/relabel_reader.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "re2/re2.h"

namespace tender::config::internal {
namespace {

using relabel::Action;

std::string Quote(std::string_view s) { return absl::StrCat("\"", ToAbsl(s), "\""); }

RE2::Options QuietOptions() {
  RE2::Options options;
  options.set_log_errors(false);  // Errors are reported through Diagnostics, not stderr.
  return options;
}

// A label name that may contain $1 / ${name} references, as Prometheus (legacy names) accepts
// for a replace target_label and a labelmap replacement:
// ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$.
bool IsValidLabelTemplate(std::string_view s) {
  static const RE2* const kTemplate =
      new RE2(R"(^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$)", QuietOptions());
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *kTemplate);
}

// Checks that `regex` compiles the way the relabel engine will use it: anchored at both ends,
// `.` matching newlines (Prometheus: "^(?s:" + regex + ")$"). On failure returns RE2's
// message for the regex as written (not the wrapped one), so the user sees their own text.
bool CheckRegex(const std::string& regex, std::string* error) {
  const RE2 anchored(absl::StrCat("^(?s:", regex, ")$"), QuietOptions());
  if (anchored.ok()) {
    return true;
  }
  const RE2 plain(regex, QuietOptions());
  *error = plain.ok() ? anchored.error() : plain.error();
  return false;
}

bool NeedsTargetLabel(Action a) {
  return a == Action::kReplace || a == Action::kHashMod || a == Action::kLowercase ||
         a == Action::kUppercase || a == Action::kKeepEqual || a == Action::kDropEqual;
}

bool IsCaseOrEqual(Action a) {
  return a == Action::kLowercase || a == Action::kUppercase || a == Action::kKeepEqual ||
         a == Action::kDropEqual;
}

// The fields of one rule as found in the YAML (nullptr when absent).
struct RuleFields {
  const Field* source_labels = nullptr;
  const Field* separator = nullptr;
  const Field* target_label = nullptr;
  const Field* regex = nullptr;
  const Field* modulus = nullptr;
  const Field* replacement = nullptr;
  const Field* action = nullptr;
};

// Prometheus's Validate, in its order; reports the first problem only, as Prometheus does.
// Errors point at the offending field when there is one, else at the rule.
void Validate(const relabel::RuleConfig& rule, const RuleFields& f, const MapReader& r,
              Diagnostics* diag) {
  const relabel::RuleConfig defaults;
  const std::string action(relabel::ActionName(rule.action));
  auto error = [&](const Field* at, std::string message) {
    if (at != nullptr) {
      diag->Error(at->line, at->path, std::move(message));
    } else {
      diag->Error(r.line(), r.path(), std::move(message));
    }
  };
  const Action a = rule.action;
  if (a == Action::kHashMod && rule.modulus == 0) {
    error(f.modulus != nullptr ? f.modulus : f.action,
          "relabel configuration for hashmod requires non-zero modulus");
    return;
  }
  if (NeedsTargetLabel(a) && rule.target_label.empty()) {
    error(f.action, absl::StrCat("relabel configuration for ", action,
                                 " action requires 'target_label' value"));
    return;
  }
  const bool target_has_ref = rule.target_label.find('$') != std::string::npos;
  const bool target_ok = a == Action::kReplace && target_has_ref
                             ? IsValidLabelTemplate(rule.target_label)
                             : IsValidLabelName(rule.target_label);
  if ((a == Action::kReplace || a == Action::kHashMod || IsCaseOrEqual(a)) && !target_ok) {
    error(f.target_label, absl::StrCat(Quote(rule.target_label), " is invalid 'target_label' for ",
                                       action, " action"));
    return;
  }
  if (IsCaseOrEqual(a) && rule.replacement != defaults.replacement) {
    error(f.replacement, absl::StrCat("'replacement' can not be set for ", action, " action"));
    return;
  }
  if (a == Action::kLabelMap && !IsValidLabelTemplate(rule.replacement)) {
    error(f.replacement, absl::StrCat(Quote(rule.replacement), " is invalid 'replacement' for ",
                                      action, " action"));
    return;
  }
  if (a == Action::kKeepEqual || a == Action::kDropEqual) {
    if (rule.regex != defaults.regex || rule.modulus != defaults.modulus ||
        rule.separator != defaults.separator || rule.replacement != defaults.replacement) {
      error(f.action, absl::StrCat(action,
                                   " action requires only 'source_labels' and `target_label`, "
                                   "and no other fields"));
      return;
    }
  }
  if (a == Action::kLabelDrop || a == Action::kLabelKeep) {
    const bool sources_set = f.source_labels != nullptr && !f.source_labels->IsNull();
    if (sources_set || rule.target_label != defaults.target_label ||
        rule.modulus != defaults.modulus || rule.separator != defaults.separator ||
        rule.replacement != defaults.replacement) {
      error(f.action, absl::StrCat(action, " action requires only 'regex', and no other fields"));
      return;
    }
  }
}

// Reads one rule; false when it had any problem.
bool ReadRule(const Field& field, Diagnostics* diag, relabel::RuleConfig* rule) {
  MapReader r(field, diag);
  if (!r.ok()) {
    return false;
  }
  const size_t errors_before = diag->error_count();
  RuleFields f;
  f.source_labels = r.Take("source_labels");
  f.separator = r.Take("separator");
  f.target_label = r.Take("target_label");
  f.regex = r.Take("regex");
  f.modulus = r.Take("modulus");
  f.replacement = r.Take("replacement");
  f.action = r.Take("action");

  if (f.source_labels != nullptr && !f.source_labels->IsNull()) {
    if (!f.source_labels->value.IsSequence()) {
      diag->Error(f.source_labels->line, f.source_labels->path,
                  absl::StrCat("expected a list of label names, got ",
                               DescribeType(f.source_labels->value)));
    } else {
      for (const Field& item : SequenceItems(*f.source_labels, *diag)) {
        std::string name;
        if (!ReadString(item, diag, &name)) {
          continue;
        }
        if (!IsValidLabelName(name)) {
          diag->Error(item.line, item.path,
                      absl::StrCat(Quote(name),
                                   " is not a valid label name (must match "
                                   "[a-zA-Z_][a-zA-Z0-9_]*)"));
          continue;
        }
        rule->source_labels.push_back(std::move(name));
      }
    }
  }
  if (f.separator != nullptr) {
    ReadString(*f.separator, diag, &rule->separator);
  }
  if (f.target_label != nullptr) {
    ReadString(*f.target_label, diag, &rule->target_label);
  }
  if (f.regex != nullptr && ReadString(*f.regex, diag, &rule->regex)) {
    if (std::string message; !CheckRegex(rule->regex, &message)) {
      diag->Error(f.regex->line, f.regex->path,
                  absl::StrCat("invalid regex ", Quote(rule->regex), ": ", message));
    }
  }
  if (f.modulus != nullptr) {
    int64_t modulus = 0;
    if (ReadInt(*f.modulus, diag, int64_t{0}, std::numeric_limits<int64_t>::max(), &modulus)) {
      rule->modulus = static_cast<uint64_t>(modulus);
    }
  }
  if (f.replacement != nullptr) {
    ReadString(*f.replacement, diag, &rule->replacement);
  }
  if (f.action != nullptr && !f.action->IsNull()) {
    std::string name;
    if (ReadString(*f.action, diag, &name)) {
      // Prometheus lowercases the action before looking it up.
      if (auto parsed = relabel::ParseAction(absl::AsciiStrToLower(name))) {
        rule->action = *parsed;
      } else {
        diag->Error(f.action->line, f.action->path,
                    absl::StrCat("unknown relabel action ", Quote(name)));
      }
    }
  }
  r.Finish(
      {"source_labels", "separator", "target_label", "regex", "modulus", "replacement", "action"},
      {});
  if (diag->error_count() != errors_before) {
    return false;  // Validation on half-read values would only add noise.
  }
  Validate(*rule, f, r, diag);
  return diag->error_count() == errors_before;
}

}  // namespace

void ReadRelabelRules(const Field& field, std::string_view empty_item_message, Diagnostics* diag,
                      std::vector<relabel::RuleConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag->Error(field.line, field.path,
                absl::StrCat("expected a list of relabel rules, got ", DescribeType(field.value)));
    return;
  }
  for (const Field& item : SequenceItems(field, *diag)) {
    if (item.IsNull()) {
      diag->Error(item.line, item.path, std::string(empty_item_message));
      continue;
    }
    relabel::RuleConfig rule;
    if (ReadRule(item, diag, &rule)) {
      out->push_back(std::move(rule));
    }
  }
}

}  // namespace tender::config::internal
