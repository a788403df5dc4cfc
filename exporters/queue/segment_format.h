// On-disk format of the queue's segment files: a segment header, then records of
// (u32 length, u32 CRC-32 of the payload, payload). Pure functions; thread-compatible.
// The CRC is zlib's crc32 (CRC-32/ISO-HDLC, polynomial 0x04C11DB7), not CRC32C.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/model/series_batch.h"

namespace tender::queue {

// Segment header: magic "TQSG" then a little-endian u32 version.
inline constexpr std::string_view kSegmentMagic = "TQSG";
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 8;
// Record frame: u32 payload length + u32 CRC-32 of the payload (both little-endian).
inline constexpr size_t kRecordFrameBytes = 8;
// Payload header: u64 shard_key, u32 samples, i64 min ts, i64 max ts, u32 job length.
inline constexpr size_t kPayloadHeaderBytes = 32;
// A length above this is treated as corruption (a real batch is far smaller).
inline constexpr uint32_t kMaxPayloadBytes = 1u << 30;

// The 8-byte segment header.
std::string SegmentHeader();
// True when `file` starts with a valid segment header of a version we read.
bool CheckSegmentHeader(std::string_view file);

// "NNNNNNNNNNNNNNNNNNNN.seg" (20 digits) for `seq`; ParseSegmentFileName is its inverse and
// returns false for any other name.
std::string SegmentFileName(uint64_t seq);
bool ParseSegmentFileName(std::string_view name, uint64_t* seq);

// Bytes `batch` takes as one record on disk (frame + payload). The queue accounts memory with
// the same number, so memory and disk byte counts are comparable.
size_t RecordBytes(const model::SeriesBatch& batch);

// Appends the record for `batch` to `out`.
void AppendRecord(const model::SeriesBatch& batch, std::string* out);

// Where a valid record sits inside a segment, with what the queue needs without reading it.
struct RecordRef {
  uint64_t offset = 0;  // Of the frame, from the start of the segment file.
  uint32_t bytes = 0;   // Frame + payload.
  uint32_t samples = 0;
  int64_t min_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
  uint64_t id = 0;  // The queue's batch id (in memory only; assigned again on replay).
};

// Checks the record whose frame starts at `offset` in `segment` (the whole file content):
// plausible length within the file, matching CRC, sane payload header. Fills `ref` when valid.
bool CheckRecord(std::string_view segment, uint64_t offset, RecordRef* ref);

// Decodes a record (frame + payload, e.g. read with pread at ref.offset, ref.bytes long) into
// `out`, verifying the CRC again. False when it does not check out.
bool DecodeRecord(std::string_view record, model::SeriesBatch* out);

// Scans `segment` (whole file content) from `start` (a record boundary, >= the header) and
// appends every valid record to `out`. A corrupt or torn region is skipped and counted once in
// `*corrupt`: the scan first tries the next record by the damaged record's length, and when that
// does not land on a valid record (or the end of the file) it scans byte by byte for the next
// offset holding a valid record. A damaged tail with no valid record after it ends the scan.
void ScanSegment(std::string_view segment, uint64_t start, std::vector<RecordRef>* out,
                 uint64_t* corrupt);

}  // namespace tender::queue
