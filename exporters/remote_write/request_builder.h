// RequestBuilder assembles one remote-write 1.0 request body from queued SeriesBatch data, whole
// entries only, up to a sample budget, then snappy-compresses it (block format) into a reused
// buffer. The body is never copied: the builder keeps views of the batches' entries and snappy
// reads them in place. One builder per shard sender thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/model/series_batch.h"

namespace tender::remote_write {

// A run of whole entries found by SkipEntries.
struct EntryRun {
  size_t end = 0;          // Offset just after the last whole entry of the run.
  uint32_t entries = 0;    // Number of whole entries in the run.
  bool malformed = false;  // The walk stopped at bytes that are not a whole field-1 entry.
};

// Walks the entries of SeriesBatch data (each `0x0a varint(len) TimeSeries`, protocols.md §4.1)
// starting at `offset` and stops after `max_entries` entries or at the end of `data`. Entries
// are not decoded, only skipped by their length prefix. When the bytes at some point are not a
// whole entry, the run ends before them and `malformed` is set.
EntryRun SkipEntries(std::string_view data, size_t offset, uint32_t max_entries);

// Snappy block-format compression (not the framed format; protocols.md Appendix B) of `input`
// into `*out`, which is resized to the compressed length.
void SnappyCompress(std::string_view input, std::string* out);

class RequestBuilder {
 public:
  // `max_samples` is the budget of one request (queue_config.max_samples_per_send); values
  // below 1 are treated as 1.
  explicit RequestBuilder(uint32_t max_samples);

  RequestBuilder(const RequestBuilder&) = delete;
  RequestBuilder& operator=(const RequestBuilder&) = delete;

  // Starts a new, empty request. Keeps the memory of the compressed buffer.
  void Clear();

  struct AppendResult {
    uint32_t entries = 0;    // Entries appended by this call.
    bool malformed = false;  // `data` is broken at the new `*offset`; nothing after it is usable.
  };

  // Appends whole entries of `data` from `*offset` on, as many as the remaining budget allows,
  // and advances `*offset` past them. `remaining_entries` is the number of entries `data` holds
  // from `*offset` (SeriesBatch::samples minus those already taken): when they all fit, the rest
  // is taken in one piece without walking it; otherwise the split point is found by skipping
  // entries. The bytes are not copied: `data` must stay valid and unchanged until the next
  // Compress or Clear.
  AppendResult Append(std::string_view data, uint32_t remaining_entries, size_t* offset);

  // The same for a whole batch of which `taken` entries (ending at `*offset`) were appended
  // before. When the batch's entry marks are valid, the split point is found from the nearest
  // mark instead of walking every entry from `*offset`. `batch` must outlive the request as
  // above.
  AppendResult Append(const model::SeriesBatch& batch, uint32_t taken, size_t* offset);

  uint32_t samples() const { return samples_; }
  uint32_t max_samples() const { return max_samples_; }
  bool full() const { return samples_ >= max_samples_; }

  // Size of the uncompressed WriteRequest built so far.
  size_t body_size() const { return body_size_; }
  // A copy of the uncompressed WriteRequest built so far (for tests and checks; the send path
  // never materialises it).
  std::string body() const;

  // Compresses the body with snappy (block format) straight from the appended entries. The
  // returned view points into a buffer owned by the builder and stays valid until the next call
  // of Compress or Clear.
  std::string_view Compress();

 private:
  const uint32_t max_samples_;
  uint32_t samples_ = 0;
  // The body: views of whole entries of the appended batches, in order.
  std::vector<std::string_view> pieces_;
  size_t body_size_ = 0;
  // Compressed output; a raw buffer so that growing it does not zero-fill.
  std::unique_ptr<char[]> compressed_;
  size_t compressed_capacity_ = 0;
  size_t compressed_size_ = 0;
};

}  // namespace tender::remote_write
