// Semantics follow Prometheus model/relabel (relabel.go, func relabel): the joined source value,
// then one switch on the action; a label set to "" is deleted.
#include "collector/relabel/relabeler.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/relabel/expand.h"
#include "collector/relabel/regex.h"

namespace tender::relabel {

struct Relabeler::Rule {
  Action action;
  std::vector<std::string> source_labels;
  std::string separator;
  std::string target_label;
  uint64_t modulus;
  internal::Regex regex;
  internal::Template target;       // replace: target_label as a template
  internal::Template replacement;  // replace, labelmap
  // Prometheus's shortcut for replace: an empty source value with the default regex and no '$'
  // in target_label or replacement sets target_label to replacement as is.
  bool set_on_empty;
  std::string replacement_text;
};

namespace {

constexpr int kStackGroups = 16;

std::vector<LabelRef>::iterator LowerBound(std::vector<LabelRef>& labels, std::string_view name) {
  return std::lower_bound(labels.begin(), labels.end(), name,
                          [](const LabelRef& l, std::string_view n) { return l.name < n; });
}

std::string_view GetValue(const std::vector<LabelRef>& labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const LabelRef& l, std::string_view n) { return l.name < n; });
  return it != labels.end() && it->name == name ? it->value : std::string_view();
}

// Sets `name` to `value` keeping the order; an empty value deletes the label. Both views must
// outlive their use in `labels`.
void SetLabel(std::vector<LabelRef>& labels, std::string_view name, std::string_view value) {
  auto it = LowerBound(labels, name);
  const bool found = it != labels.end() && it->name == name;
  if (value.empty()) {
    if (found) {
      labels.erase(it);
    }
  } else if (found) {
    it->value = value;
  } else {
    labels.insert(it, LabelRef{name, value});
  }
}

bool HasDollar(const std::string& s) { return s.find('$') != std::string::npos; }

// binary.BigEndian.Uint64(md5(s)[8:]) % modulus, as Prometheus computes hashmod.
uint64_t HashMod(std::string_view s, uint64_t modulus) {
  unsigned char digest[EVP_MAX_MD_SIZE] = {};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), digest, &len, EVP_md5(), nullptr);
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) {
    v = (v << 8) | digest[i];
  }
  return v % modulus;
}

}  // namespace

Relabeler::Relabeler() = default;
Relabeler::Relabeler(Relabeler&&) noexcept = default;
Relabeler& Relabeler::operator=(Relabeler&&) noexcept = default;
Relabeler::~Relabeler() = default;

bool Relabeler::empty() const { return rules_.empty(); }
size_t Relabeler::size() const { return rules_.size(); }

absl::StatusOr<Relabeler> Relabeler::Compile(const std::vector<RuleConfig>& rules,
                                             CompileOptions options) {
  Relabeler out;
  out.rules_.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const RuleConfig& c = rules[i];
    auto error = [&](std::string_view message) {
      return absl::InvalidArgumentError(absl::StrCat(
          "relabel rule ", i, " (", ToAbsl(ActionName(c.action)), "): ", ToAbsl(message)));
    };
    absl::StatusOr<internal::Regex> regex =
        internal::Regex::Compile(c.regex, !options.disable_fast_paths);
    if (!regex.ok()) {
      return error(FromAbsl(regex.status().message()));
    }
    if (c.action == Action::kHashMod && c.modulus == 0) {
      return error("hashmod requires a non-zero modulus");
    }
    const int groups = regex->num_groups();
    const auto& names = regex->named_groups();
    internal::Template target = internal::Template::Parse(c.target_label, groups, names);
    internal::Template replacement = internal::Template::Parse(c.replacement, groups, names);
    const bool set_on_empty =
        c.regex == RuleConfig().regex && !HasDollar(c.target_label) && !HasDollar(c.replacement);
    out.rules_.push_back(Rule{c.action, c.source_labels, c.separator, c.target_label, c.modulus,
                              std::move(*regex), std::move(target), std::move(replacement),
                              set_on_empty, c.replacement});
  }
  return out;
}

bool Relabeler::Apply(std::vector<LabelRef>& labels, Scratch& scratch) const {
  std::string_view stack_groups[kStackGroups];
  std::vector<std::string_view> heap_groups;

  for (const Rule& r : rules_) {
    // The joined source value. `stable` says whether it outlives the next rule (a label's own
    // value) or lives in scratch.join_ (reused by the next rule).
    std::string_view val;
    bool stable = true;
    if (r.source_labels.size() == 1) {
      val = GetValue(labels, r.source_labels[0]);
    } else if (r.source_labels.size() > 1) {
      std::string& buf = scratch.join_;
      buf.clear();
      for (size_t i = 0; i < r.source_labels.size(); ++i) {
        if (i > 0) {
          buf.append(r.separator);
        }
        buf.append(GetValue(labels, r.source_labels[i]));
      }
      val = buf;
      stable = false;
    }

    std::string_view* groups = stack_groups;
    if (r.regex.num_groups() + 1 > kStackGroups) {
      heap_groups.resize(r.regex.num_groups() + 1);
      groups = heap_groups.data();
    }

    switch (r.action) {
      case Action::kDrop:
        if (r.regex.Match(val)) {
          return false;
        }
        break;
      case Action::kKeep:
        if (!r.regex.Match(val)) {
          return false;
        }
        break;
      case Action::kDropEqual:
        if (GetValue(labels, r.target_label) == val) {
          return false;
        }
        break;
      case Action::kKeepEqual:
        if (GetValue(labels, r.target_label) != val) {
          return false;
        }
        break;
      case Action::kReplace: {
        if (val.empty() && r.set_on_empty) {
          SetLabel(labels, r.target_label, r.replacement_text);
          break;
        }
        if (!r.regex.MatchGroups(val, groups)) {
          break;  // no match: no replacement
        }
        std::string_view target;
        if (r.target.is_literal()) {
          target = r.target.literal();
        } else {
          scratch.expand_name_.clear();
          r.target.Expand(groups, &scratch.expand_name_);
          target = scratch.expand_name_;
        }
        if (!internal::IsValidLabelName(target)) {
          break;
        }
        std::string_view value;
        if (r.replacement.is_literal()) {
          value = r.replacement.literal();
        } else {
          scratch.expand_.clear();
          r.replacement.Expand(groups, &scratch.expand_);
          value = scratch.Copy(scratch.expand_);
        }
        if (!value.empty() && !r.target.is_literal()) {
          target = scratch.Copy(target);
        }
        SetLabel(labels, target, value);
        break;
      }
      case Action::kLowercase:
      case Action::kUppercase: {
        const bool upper = r.action == Action::kUppercase;
        std::string_view value = val;
        if (!internal::CaseMappingIsIdentity(val, upper)) {
          scratch.expand_.clear();
          internal::AppendCaseMapped(val, upper, &scratch.expand_);
          value = scratch.Copy(scratch.expand_);
        } else if (!stable) {
          value = scratch.Copy(val);
        }
        SetLabel(labels, r.target_label, value);
        break;
      }
      case Action::kHashMod: {
        char buf[24];
        const auto res = std::to_chars(buf, buf + sizeof(buf), HashMod(val, r.modulus));
        SetLabel(labels, r.target_label, scratch.Copy(std::string_view(buf, res.ptr - buf)));
        break;
      }
      case Action::kLabelMap: {
        // Like Prometheus's Builder.Range: iterate a snapshot, so names set here are not
        // matched again by this rule.
        scratch.snapshot_.assign(labels.begin(), labels.end());
        for (const LabelRef& l : scratch.snapshot_) {
          if (!r.regex.MatchGroups(l.name, groups)) {
            continue;
          }
          std::string_view name;
          if (r.replacement.is_literal()) {
            name = r.replacement.literal();
          } else {
            scratch.expand_.clear();
            r.replacement.Expand(groups, &scratch.expand_);
            name = scratch.Copy(scratch.expand_);
          }
          // Prometheus does not validate the new name; an empty one cannot be stored anywhere.
          if (!name.empty()) {
            SetLabel(labels, name, l.value);
          }
        }
        break;
      }
      case Action::kLabelDrop:
        std::erase_if(labels, [&](const LabelRef& l) { return r.regex.Match(l.name); });
        break;
      case Action::kLabelKeep:
        std::erase_if(labels, [&](const LabelRef& l) { return !r.regex.Match(l.name); });
        break;
    }
  }
  return true;
}

bool Relabeler::Apply(model::Labels& labels) const {
  std::vector<LabelRef> refs;
  refs.reserve(labels.size());
  for (const model::Label& l : labels) {
    if (!l.value.empty()) {
      refs.push_back(LabelRef{l.name, l.value});
    }
  }
  // Sorted and unique is the precondition; keep the last of equal names as model::Normalize.
  std::stable_sort(refs.begin(), refs.end(),
                   [](const LabelRef& a, const LabelRef& b) { return a.name < b.name; });
  std::vector<LabelRef> unique;
  unique.reserve(refs.size());
  for (const LabelRef& l : refs) {
    if (!unique.empty() && unique.back().name == l.name) {
      unique.back() = l;
    } else {
      unique.push_back(l);
    }
  }
  Scratch scratch;
  if (!Apply(unique, scratch)) {
    return false;
  }
  model::Labels out;
  out.reserve(unique.size());
  for (const LabelRef& l : unique) {
    out.push_back(model::Label{std::string(l.name), std::string(l.value)});
  }
  labels = std::move(out);
  return true;
}

}  // namespace tender::relabel
