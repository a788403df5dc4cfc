// Relabeler: a list of relabel rules (relabel_configs, metric_relabel_configs,
// write_relabel_configs) compiled once and applied to label sets with Prometheus's semantics
// (model/relabel). Immutable after Compile: Apply may run on any number of threads at once, each
// with its own Scratch.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "collector/model/labels.h"
#include "collector/relabel/rule_config.h"
#include "collector/relabel/scratch.h"

namespace tender::relabel {

struct CompileOptions {
  // Match every regex with RE2 even when a fast matcher applies (tests and benchmarks compare
  // the two paths).
  bool disable_fast_paths = false;
};

class Relabeler {
 public:
  // An empty relabeler (no rules): Apply keeps every set unchanged.
  Relabeler();

  // Compiles `rules` in order. Each regex is anchored as Prometheus anchors it (^(?s:regex)$)
  // and compiled once; literal, alternation, prefix, suffix, contains, `.*` and `.+` regexes
  // are matched without RE2. Errors (InvalidArgument): "relabel rule N (action): invalid regex
  // \"...\": reason" with N 0-based, or a hashmod rule with modulus 0.
  static absl::StatusOr<Relabeler> Compile(const std::vector<RuleConfig>& rules,
                                           CompileOptions options = {});

  Relabeler(Relabeler&&) noexcept;
  Relabeler& operator=(Relabeler&&) noexcept;
  ~Relabeler();

  // True when there are no rules.
  bool empty() const;
  size_t size() const;

  // Applies every rule in order to `labels`, which must be sorted by name, unique and free of
  // empty values, and keeps it so. Returns false as soon as a rule drops the set (the contents
  // of `labels` are then unspecified). Names and values written by a rule are views into
  // `scratch` (valid until scratch.Clear()) or into this Relabeler (valid while it lives; a move
  // keeps them valid); the other views are the caller's. No allocation in steady state for
  // keep/drop, labeldrop/labelkeep and replace with a literal replacement; the others reuse
  // `scratch`'s buffers.
  bool Apply(std::vector<LabelRef>& labels, Scratch& scratch) const;

  // Convenience for target relabeling (not hot): `labels` must be sorted with unique names (as
  // model::Normalize leaves it). Returns false when dropped (then `labels` is unchanged).
  bool Apply(model::Labels& labels) const;

 private:
  struct Rule;

  std::vector<Rule> rules_;
};

}  // namespace tender::relabel
