// Applies a destination's write_relabel_configs to a SeriesBatch: each entry's labels are
// decoded, relabeled with Prometheus's semantics and encoded again; dropped series leave the
// batch. Thread-compatible: one instance per calling thread (it keeps reusable buffers), the
// compiled rules are shared read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "collector/model/series_batch.h"
#include "collector/relabel/relabeler.h"
#include "collector/relabel/scratch.h"

namespace tender::remote_write {

class WriteRelabeler {
 public:
  // `rules` must outlive this object.
  explicit WriteRelabeler(const relabel::Relabeler* rules) : rules_(rules) {}

  struct Result {
    uint32_t dropped = 0;    // Series dropped by a rule (or left without labels).
    uint32_t malformed = 0;  // Entries that could not be decoded (the rest of the batch).
  };

  // Rewrites `batch` in place. A no-op for an empty rule list.
  Result Apply(model::SeriesBatch* batch);

 private:
  const relabel::Relabeler* rules_;
  relabel::Scratch scratch_;
  std::vector<relabel::LabelRef> labels_;
  model::SeriesBatch out_;
};

}  // namespace tender::remote_write
