#include "exporters/remote_write/write_relabel.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "collector/model/protowire.h"

namespace tender::remote_write {
namespace {

namespace pw = ::tender::protowire;

// Reads one length-delimited field with tag `tag` at *p; false when the bytes are not that.
bool ReadField(const char** p, const char* end, uint32_t tag, std::string_view* out) {
  uint64_t t = 0;
  uint64_t len = 0;
  if (!pw::ReadVarint(p, end, &t) || t != tag || !pw::ReadVarint(p, end, &len) ||
      len > static_cast<uint64_t>(end - *p)) {
    return false;
  }
  *out = std::string_view(*p, len);
  *p += len;
  return true;
}

// Splits a TimeSeries (labels, then one Sample) as SeriesEncoder writes it.
bool DecodeSeries(std::string_view series, std::vector<relabel::LabelRef>* labels,
                  std::string_view* sample) {
  labels->clear();
  const char* p = series.data();
  const char* end = p + series.size();
  constexpr uint32_t kLabelTag = pw::Tag(1, pw::kLengthDelimited);
  constexpr uint32_t kSampleTag = pw::Tag(2, pw::kLengthDelimited);
  while (p < end) {
    if (static_cast<uint8_t>(*p) == kSampleTag) {
      if (!ReadField(&p, end, kSampleTag, sample)) return false;
      return p == end;
    }
    std::string_view label;
    if (!ReadField(&p, end, kLabelTag, &label)) return false;
    const char* q = label.data();
    const char* qend = q + label.size();
    relabel::LabelRef ref;
    if (!ReadField(&q, qend, pw::Tag(1, pw::kLengthDelimited), &ref.name) ||
        !ReadField(&q, qend, pw::Tag(2, pw::kLengthDelimited), &ref.value) || q != qend) {
      return false;
    }
    labels->push_back(ref);
  }
  return false;  // No sample.
}

// Reads the timestamp of an encoded Sample{1: fixed64 value, 2: varint ts}.
bool DecodeSample(std::string_view sample, uint64_t* bits, int64_t* ts) {
  const char* p = sample.data();
  const char* end = p + sample.size();
  if (end - p < 9 || static_cast<uint8_t>(*p) != pw::Tag(1, pw::kFixed64)) return false;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[1 + i])) << (8 * i);
  p += 9;
  uint64_t t = 0;
  uint64_t raw = 0;
  if (!pw::ReadVarint(&p, end, &t) || t != pw::Tag(2, pw::kVarint) ||
      !pw::ReadVarint(&p, end, &raw) || p != end) {
    return false;
  }
  *bits = v;
  *ts = static_cast<int64_t>(raw);
  return true;
}

}  // namespace

WriteRelabeler::Result WriteRelabeler::Apply(model::SeriesBatch* batch) {
  Result result;
  if (rules_ == nullptr || rules_->empty() || batch->samples == 0) return result;
  out_.data.clear();
  out_.marks.clear();
  out_.samples = 0;
  out_.min_timestamp_ms = std::numeric_limits<int64_t>::max();
  out_.max_timestamp_ms = std::numeric_limits<int64_t>::min();
  model::SeriesEncoder enc(&out_);
  const char* p = batch->data.data();
  const char* end = p + batch->data.size();
  uint32_t seen = 0;
  while (p < end) {
    std::string_view series;
    std::string_view sample;
    uint64_t bits = 0;
    int64_t ts = 0;
    if (!ReadField(&p, end, pw::Tag(1, pw::kLengthDelimited), &series) ||
        !DecodeSeries(series, &labels_, &sample) || !DecodeSample(sample, &bits, &ts)) {
      result.malformed = batch->samples > seen ? batch->samples - seen : 1;
      break;
    }
    ++seen;
    scratch_.Clear();
    if (!rules_->Apply(labels_, scratch_) || labels_.empty()) {
      ++result.dropped;
      continue;
    }
    size_t size = 0;
    for (const relabel::LabelRef& l : labels_)
      size += model::LabelFieldSize(l.name.size(), l.value.size());
    enc.Begin(size, ts);
    for (const relabel::LabelRef& l : labels_) enc.AddLabel(l.name, l.value);
    enc.Finish(bits);
  }
  batch->data.swap(out_.data);
  batch->marks.swap(out_.marks);
  batch->samples = out_.samples;
  batch->min_timestamp_ms = out_.min_timestamp_ms;
  batch->max_timestamp_ms = out_.max_timestamp_ms;
  return result;
}

}  // namespace tender::remote_write
