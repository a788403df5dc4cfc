// Test helpers: build SeriesBatches with the production encoder and decode request bodies with
// the generated classes. Header-only; thread-compatible.
#pragma once

#include <snappy.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "collector/model/labels.h"
#include "collector/model/series_batch.h"
#include "exporters/proto/remote.pb.h"

namespace tender::remote_write::testing_util {

// Appends one entry (one sample of the series `labels`, which must be sorted) to `batch`.
inline void AppendSample(model::SeriesBatch* batch, const model::Labels& labels,
                         int64_t timestamp_ms, uint64_t value_bits) {
  size_t size = 0;
  for (const auto& label : labels) {
    size += model::LabelFieldSize(label.name.size(), label.value.size());
  }
  model::SeriesEncoder encoder(batch);
  encoder.Begin(size, timestamp_ms);
  for (const auto& label : labels) {
    encoder.AddLabel(label.name, label.value);
  }
  encoder.Finish(value_bits);
}

inline void AppendSample(model::SeriesBatch* batch, const model::Labels& labels,
                         int64_t timestamp_ms, double value) {
  AppendSample(batch, labels, timestamp_ms, protowire::DoubleBits(value));
}

// Decodes an uncompressed WriteRequest body; returns false when it does not parse.
inline bool Decode(std::string_view body, tender::prompb::WriteRequest* out) {
  return out->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

// Decodes a snappy-compressed WriteRequest body.
inline bool DecodeCompressed(std::string_view body, tender::prompb::WriteRequest* out) {
  std::string raw;
  return snappy::Uncompress(body.data(), body.size(), &raw) && Decode(raw, out);
}

}  // namespace tender::remote_write::testing_util
