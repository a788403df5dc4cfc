// RequestBuilder assembles one remote-write 1.0 request body from queued SeriesBatch data, whole
// entries only, up to a sample budget, then snappy-compresses it (block format) into a reused
// buffer. One builder per shard sender thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

  // Starts a new, empty request. Keeps the memory of both buffers.
  void Clear();

  struct AppendResult {
    uint32_t entries = 0;    // Entries appended by this call.
    bool malformed = false;  // `data` is broken at the new `*offset`; nothing after it is usable.
  };

  // Appends whole entries of `data` from `*offset` on, as many as the remaining budget allows,
  // and advances `*offset` past them. `remaining_entries` is the number of entries `data` holds
  // from `*offset` (SeriesBatch::samples minus those already taken): when they all fit, the rest
  // is copied in one piece without walking it; otherwise the split point is found by skipping
  // entries. The batch is never re-encoded.
  AppendResult Append(std::string_view data, uint32_t remaining_entries, size_t* offset);

  uint32_t samples() const { return samples_; }
  uint32_t max_samples() const { return max_samples_; }
  bool full() const { return samples_ >= max_samples_; }

  // The uncompressed WriteRequest built so far. Valid until the next Clear or Append.
  std::string_view body() const { return body_; }

  // Compresses body() with snappy (block format). The returned view points into a buffer owned
  // by the builder and stays valid until the next call of Compress or Clear.
  std::string_view Compress();

 private:
  const uint32_t max_samples_;
  uint32_t samples_ = 0;
  std::string body_;
  // Compressed output; a raw buffer so that growing it does not zero-fill.
  std::unique_ptr<char[]> compressed_;
  size_t compressed_capacity_ = 0;
  size_t compressed_size_ = 0;
};

}  // namespace tender::remote_write
