#include "exporters/remote_write/request_builder.h"

#include <snappy.h>

#include <algorithm>

#include "collector/model/protowire.h"

namespace tender::remote_write {
namespace {

constexpr char kEntryTag = static_cast<char>(protowire::Tag(1, protowire::kLengthDelimited));

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
  body_.clear();
  compressed_size_ = 0;
}

RequestBuilder::AppendResult RequestBuilder::Append(std::string_view data,
                                                    uint32_t remaining_entries, size_t* offset) {
  AppendResult result;
  if (*offset >= data.size() || full()) {
    return result;
  }
  const uint32_t room = max_samples_ - samples_;
  if (remaining_entries <= room) {
    // The common case: the rest of the batch fits. Trust the batch's count; the receiver sees
    // the same bytes either way.
    body_.append(data.substr(*offset));
    *offset = data.size();
    result.entries = remaining_entries;
  } else {
    const EntryRun run = SkipEntries(data, *offset, room);
    body_.append(data.substr(*offset, run.end - *offset));
    *offset = run.end;
    result.entries = run.entries;
    result.malformed = run.malformed;
  }
  samples_ += result.entries;
  return result;
}

std::string_view RequestBuilder::Compress() {
  const size_t needed = snappy::MaxCompressedLength(body_.size());
  if (needed > compressed_capacity_) {
    compressed_capacity_ = std::max(needed, compressed_capacity_ * 2);
    compressed_ = std::make_unique_for_overwrite<char[]>(compressed_capacity_);
  }
  snappy::RawCompress(body_.data(), body_.size(), compressed_.get(), &compressed_size_);
  return std::string_view(compressed_.get(), compressed_size_);
}

}  // namespace tender::remote_write
