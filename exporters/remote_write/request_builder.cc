#include "exporters/remote_write/request_builder.h"

#include <snappy-sinksource.h>
#include <snappy.h>

#include <algorithm>

#include "collector/model/protowire.h"

namespace tender::remote_write {
namespace {

constexpr char kEntryTag = static_cast<char>(protowire::Tag(1, protowire::kLengthDelimited));

// Feeds snappy the request body as the run of entry views it is, without joining them. snappy
// compresses each 64 KiB block straight from a view that holds it whole and copies only the
// blocks that span two views into its scratch buffer, so the output is the same as compressing
// the joined body.
class PiecesSource : public snappy::Source {
 public:
  PiecesSource(const std::vector<std::string_view>& pieces, size_t total)
      : pieces_(pieces), left_(total) {}

  size_t Available() const override { return left_; }

  const char* Peek(size_t* len) override {
    while (index_ < pieces_.size() && offset_ == pieces_[index_].size()) {
      ++index_;
      offset_ = 0;
    }
    if (index_ == pieces_.size()) {
      *len = 0;
      return nullptr;
    }
    *len = pieces_[index_].size() - offset_;
    return pieces_[index_].data() + offset_;
  }

  void Skip(size_t n) override {
    left_ -= n;
    while (n > 0) {
      const size_t here = pieces_[index_].size() - offset_;
      if (n < here) {
        offset_ += n;
        return;
      }
      n -= here;
      ++index_;
      offset_ = 0;
    }
  }

 private:
  const std::vector<std::string_view>& pieces_;
  size_t left_;
  size_t index_ = 0;
  size_t offset_ = 0;
};

}  // namespace

EntryRun SkipEntries(std::string_view data, size_t offset, uint32_t max_entries) {
  EntryRun run;
  run.end = std::min(offset, data.size());
  const char* const end = data.data() + data.size();
  while (run.entries < max_entries && run.end < data.size()) {
    const char* p = data.data() + run.end;
    uint64_t len = 0;
    if (*p++ != kEntryTag || !protowire::ReadVarint(&p, end, &len) ||
        len > static_cast<uint64_t>(end - p)) {
      run.malformed = true;
      break;
    }
    run.end = static_cast<size_t>(p - data.data()) + static_cast<size_t>(len);
    ++run.entries;
  }
  return run;
}

void SnappyCompress(std::string_view input, std::string* out) {
  out->resize(snappy::MaxCompressedLength(input.size()));
  size_t length = 0;
  snappy::RawCompress(input.data(), input.size(), out->data(), &length);
  out->resize(length);
}

RequestBuilder::RequestBuilder(uint32_t max_samples)
    : max_samples_(std::max<uint32_t>(1, max_samples)) {}

void RequestBuilder::Clear() {
  samples_ = 0;
  pieces_.clear();
  body_size_ = 0;
  compressed_size_ = 0;
}

RequestBuilder::AppendResult RequestBuilder::Append(std::string_view data,
                                                    uint32_t remaining_entries, size_t* offset) {
  AppendResult result;
  if (*offset >= data.size() || full()) {
    return result;
  }
  const uint32_t room = max_samples_ - samples_;
  size_t end = data.size();
  if (remaining_entries <= room) {
    // The common case: the rest of the batch fits. Trust the batch's count; the receiver sees
    // the same bytes either way.
    result.entries = remaining_entries;
  } else {
    const EntryRun run = SkipEntries(data, *offset, room);
    end = run.end;
    result.entries = run.entries;
    result.malformed = run.malformed;
  }
  if (end > *offset) {
    pieces_.push_back(data.substr(*offset, end - *offset));
    body_size_ += end - *offset;
  }
  *offset = end;
  samples_ += result.entries;
  return result;
}

RequestBuilder::AppendResult RequestBuilder::Append(const model::SeriesBatch& batch, uint32_t taken,
                                                    size_t* offset) {
  const std::string_view data = batch.data;
  const uint32_t remaining = batch.samples - taken;
  const uint32_t room = max_samples_ - std::min(samples_, max_samples_);
  if (*offset >= data.size() || room == 0 || remaining <= room || !model::EntryMarksValid(batch)) {
    return Append(data, remaining, offset);
  }
  // The request ends before entry `cut`. Start the walk at the last mark at or before it when
  // that mark is past `*offset`; at most kEntryMarkStride - 1 entries are then walked.
  const uint32_t cut = taken + room;
  const uint32_t strides = cut / model::kEntryMarkStride;
  const uint32_t marked_entry = strides * model::kEntryMarkStride;
  if (strides == 0 || marked_entry <= taken) return Append(data, remaining, offset);
  const size_t mark = batch.marks[strides - 1];
  if (mark <= *offset || mark > data.size() || (mark < data.size() && data[mark] != kEntryTag)) {
    return Append(data, remaining, offset);  // Marks that do not fit the data: walk instead.
  }
  const EntryRun run = SkipEntries(data, mark, cut - marked_entry);
  AppendResult result;
  result.entries = (marked_entry - taken) + run.entries;
  result.malformed = run.malformed;
  pieces_.push_back(data.substr(*offset, run.end - *offset));
  body_size_ += run.end - *offset;
  *offset = run.end;
  samples_ += result.entries;
  return result;
}

std::string RequestBuilder::body() const {
  std::string out;
  out.reserve(body_size_);
  for (std::string_view piece : pieces_) out.append(piece);
  return out;
}

std::string_view RequestBuilder::Compress() {
  const size_t needed = snappy::MaxCompressedLength(body_size_);
  if (needed > compressed_capacity_) {
    compressed_capacity_ = std::max(needed, compressed_capacity_ * 2);
    compressed_ = std::make_unique_for_overwrite<char[]>(compressed_capacity_);
  }
  PiecesSource source(pieces_, body_size_);
  snappy::UncheckedByteArraySink sink(compressed_.get());
  compressed_size_ = snappy::Compress(&source, &sink);
  return std::string_view(compressed_.get(), compressed_size_);
}

}  // namespace tender::remote_write
