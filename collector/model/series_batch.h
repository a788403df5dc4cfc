// SeriesBatch: what one scrape hands to the exporters, already encoded as remote-write 1.0
// TimeSeries entries so that the exporter only frames and compresses (DESIGN decision 5).
// SeriesEncoder writes those entries straight from string_views into the batch buffer.
// Thread-compatible: one thread builds a batch, then moves it on.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "collector/model/protowire.h"

namespace tender::model {

// Stale marker: a signalling NaN reserved for staleness (protocols.md §3.1). Compare by bits.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;
// Canonical quiet NaN that every parsed NaN becomes, so a target cannot inject a stale marker.
inline constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ULL;

inline bool IsStaleNaN(double v) { return protowire::DoubleBits(v) == kStaleNaNBits; }
inline double StaleNaN() { return protowire::BitsToDouble(kStaleNaNBits); }

// The samples of one scrape (or of one replayed record): a concatenation of entries
//   0x0a varint(len) TimeSeries{ 1: Label... (sorted by name), 2: Sample{1: value, 2: ts_ms} }
// i.e. exactly the bytes of field 1 of a prometheus.WriteRequest, one sample per TimeSeries
// as Prometheus itself sends (protocols.md §4.2). Any prefix cut at an entry boundary is a
// valid WriteRequest body.
struct SeriesBatch {
  uint64_t shard_key = 0;  // Hash of the target; every batch of one target carries the same key.
  std::string job;         // Job name, for per-job counters.
  std::string data;        // Concatenated entries.
  uint32_t samples = 0;    // Number of entries in `data`.
  int64_t min_timestamp_ms = std::numeric_limits<int64_t>::max();
  int64_t max_timestamp_ms = std::numeric_limits<int64_t>::min();
  // Entry marks, recorded by SeriesEncoder so that a sender can cut `data` into requests without
  // walking every entry: marks[k] is the byte offset at which entry (k + 1) * kEntryMarkStride
  // starts (data.size() when that is the end). They are usable only while EntryMarksValid();
  // whoever rewrites `data` other than through SeriesEncoder must call RebuildEntryMarks (or
  // clear `marks`). Not stored on disk.
  std::vector<uint32_t> marks;
};

inline constexpr uint32_t kEntryMarkStride = 32;

// True when `marks` has one offset per kEntryMarkStride entries of `samples`. A cleared `marks`
// is never valid once the batch has kEntryMarkStride entries or more.
inline bool EntryMarksValid(const SeriesBatch& batch) {
  return batch.marks.size() == batch.samples / kEntryMarkStride;
}

// Recomputes `marks` by walking the entries of `data`; clears them when the walk does not find
// exactly `samples` whole entries.
inline void RebuildEntryMarks(SeriesBatch* batch) {
  batch->marks.clear();
  const char* const begin = batch->data.data();
  const char* const end = begin + batch->data.size();
  const char* p = begin;
  uint32_t entries = 0;
  while (p < end) {
    uint64_t len = 0;
    if (*p++ != static_cast<char>(protowire::Tag(1, protowire::kLengthDelimited)) ||
        !protowire::ReadVarint(&p, end, &len) || len > static_cast<uint64_t>(end - p)) {
      break;
    }
    p += len;
    ++entries;
    if (entries % kEntryMarkStride == 0 &&
        static_cast<size_t>(p - begin) <= std::numeric_limits<uint32_t>::max()) {
      batch->marks.push_back(static_cast<uint32_t>(p - begin));
    }
  }
  if (p != end || entries != batch->samples) batch->marks.clear();
}

// Encoded size of one Label message as a TimeSeries field (tag + length + payload).
constexpr size_t LabelFieldSize(size_t name_len, size_t value_len) {
  return protowire::LengthDelimitedSize(protowire::LengthDelimitedSize(name_len) +
                                        protowire::LengthDelimitedSize(value_len));
}

// Appends entries to a SeriesBatch. Usage per series:
//   size_t n = sum of LabelFieldSize(...) over the series' labels;
//   enc.Begin(n, ts); enc.AddLabel(...) (in name order, exactly those labels);
//   enc.Finish(value_bits)  or  enc.Abandon();
// The encoder trusts the caller on order and sizes (checked in debug builds).
class SeriesEncoder {
 public:
  explicit SeriesEncoder(SeriesBatch* batch) : batch_(batch) {}

  // Starts an entry whose labels take `labels_size` encoded bytes (sum of LabelFieldSize) and
  // whose one sample has `timestamp_ms`.
  void Begin(size_t labels_size, int64_t timestamp_ms) {
    std::string& d = batch_->data;
    timestamp_ms_ = timestamp_ms;
    const auto ts = static_cast<uint64_t>(timestamp_ms);
    sample_payload_ = 1 + 8 + 1 + protowire::VarintSize(ts);
    const size_t series_len = labels_size + 2 + sample_payload_;
    start_ = d.size();
    d.resize(start_ + 1 + protowire::VarintSize(series_len) + series_len);
    char* p = d.data() + start_;
    *p++ = static_cast<char>(protowire::Tag(1, protowire::kLengthDelimited));
    p = protowire::WriteVarint(p, series_len);
    labels_start_ = p - d.data();
    pos_ = labels_start_;
    labels_end_ = labels_start_ + labels_size;
  }

  void AddLabel(std::string_view name, std::string_view value) {
    char* p = batch_->data.data() + pos_;
    const size_t payload =
        protowire::LengthDelimitedSize(name.size()) + protowire::LengthDelimitedSize(value.size());
    *p++ = static_cast<char>(protowire::Tag(1, protowire::kLengthDelimited));
    p = protowire::WriteVarint(p, payload);
    p = protowire::WriteBytesField(p, protowire::Tag(1, protowire::kLengthDelimited), name);
    p = protowire::WriteBytesField(p, protowire::Tag(2, protowire::kLengthDelimited), value);
    pos_ = p - batch_->data.data();
  }

  // The encoded labels of the entry being built (complete after the last AddLabel), for
  // hashing series identity. Valid until the next call on this encoder or the batch.
  std::string_view CurrentLabels() const {
    return std::string_view(batch_->data.data() + labels_start_, pos_ - labels_start_);
  }

  // Finishes the entry with its sample value given as a raw IEEE-754 bit pattern.
  void Finish(uint64_t value_bits) {
    char* p = batch_->data.data() + pos_;
    *p++ = static_cast<char>(protowire::Tag(2, protowire::kLengthDelimited));
    *p++ = static_cast<char>(sample_payload_);
    *p++ = static_cast<char>(protowire::Tag(1, protowire::kFixed64));
    p = protowire::WriteFixed64(p, value_bits);
    *p++ = static_cast<char>(protowire::Tag(2, protowire::kVarint));
    p = protowire::WriteVarint(p, static_cast<uint64_t>(timestamp_ms_));
    if (++batch_->samples % kEntryMarkStride == 0) {
      const size_t end = static_cast<size_t>(p - batch_->data.data());
      // A batch past 4 GiB stops recording; its marks then stay invalid.
      if (end <= std::numeric_limits<uint32_t>::max()) {
        batch_->marks.push_back(static_cast<uint32_t>(end));
      }
    }
    if (timestamp_ms_ < batch_->min_timestamp_ms) batch_->min_timestamp_ms = timestamp_ms_;
    if (timestamp_ms_ > batch_->max_timestamp_ms) batch_->max_timestamp_ms = timestamp_ms_;
  }

  void FinishDouble(double value) { Finish(protowire::DoubleBits(value)); }

  // Drops the entry being built (after Begin, instead of Finish).
  void Abandon() { batch_->data.resize(start_); }

  // True when the labels written match the size announced to Begin (for debug checks).
  bool LabelsComplete() const { return pos_ == labels_end_; }

 private:
  SeriesBatch* batch_;
  size_t start_ = 0;
  size_t labels_start_ = 0;
  size_t labels_end_ = 0;
  size_t pos_ = 0;
  size_t sample_payload_ = 0;
  int64_t timestamp_ms_ = 0;
};

}  // namespace tender::model
