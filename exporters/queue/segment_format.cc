#include "exporters/queue/segment_format.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>

namespace tender::queue {
namespace {

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Crc(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; payloads are capped at kMaxPayloadBytes (< 4 GiB).
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  return static_cast<uint32_t>(crc);
}

// Decodes the fixed payload header; false when it is inconsistent with `payload_len`.
bool ParsePayloadHeader(const char* p, uint32_t payload_len, RecordRef* ref, uint32_t* job_len) {
  if (payload_len < kPayloadHeaderBytes) return false;
  ref->samples = GetU32(p + 8);
  ref->min_timestamp_ms = static_cast<int64_t>(GetU64(p + 12));
  ref->max_timestamp_ms = static_cast<int64_t>(GetU64(p + 20));
  *job_len = GetU32(p + 28);
  return *job_len <= payload_len - kPayloadHeaderBytes;
}

}  // namespace

std::string SegmentHeader() {
  std::string h(kSegmentMagic);
  h.resize(kSegmentHeaderBytes);
  PutU32(h.data() + 4, kSegmentVersion);
  return h;
}

bool CheckSegmentHeader(std::string_view file) {
  return file.size() >= kSegmentHeaderBytes && file.substr(0, 4) == kSegmentMagic &&
         GetU32(file.data() + 4) == kSegmentVersion;
}

std::string SegmentFileName(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu.seg", static_cast<unsigned long long>(seq));
  return buf;
}

bool ParseSegmentFileName(std::string_view name, uint64_t* seq) {
  if (name.size() != 24 || name.substr(20) != ".seg") return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *seq = v;
  return true;
}

size_t RecordBytes(const model::SeriesBatch& batch) {
  return kRecordFrameBytes + kPayloadHeaderBytes + batch.job.size() + batch.data.size();
}

void AppendRecord(const model::SeriesBatch& batch, std::string* out) {
  const size_t start = out->size();
  const size_t payload_len = kPayloadHeaderBytes + batch.job.size() + batch.data.size();
  out->resize(start + kRecordFrameBytes + kPayloadHeaderBytes);
  char* p = out->data() + start;
  PutU32(p, static_cast<uint32_t>(payload_len));
  char* h = p + kRecordFrameBytes;
  PutU64(h, batch.shard_key);
  PutU32(h + 8, batch.samples);
  PutU64(h + 12, static_cast<uint64_t>(batch.min_timestamp_ms));
  PutU64(h + 20, static_cast<uint64_t>(batch.max_timestamp_ms));
  PutU32(h + 28, static_cast<uint32_t>(batch.job.size()));
  out->append(batch.job);
  out->append(batch.data);
  const uint32_t crc = Crc(std::string_view(out->data() + start + kRecordFrameBytes, payload_len));
  PutU32(out->data() + start + 4, crc);
}

bool CheckRecord(std::string_view segment, uint64_t offset, RecordRef* ref) {
  if (offset > segment.size() || segment.size() - offset < kRecordFrameBytes) return false;
  const char* p = segment.data() + offset;
  const uint32_t len = GetU32(p);
  if (len < kPayloadHeaderBytes || len > kMaxPayloadBytes) return false;
  if (len > segment.size() - offset - kRecordFrameBytes) return false;
  uint32_t job_len = 0;
  if (!ParsePayloadHeader(p + kRecordFrameBytes, len, ref, &job_len)) return false;
  if (Crc(std::string_view(p + kRecordFrameBytes, len)) != GetU32(p + 4)) return false;
  ref->offset = offset;
  ref->bytes = static_cast<uint32_t>(kRecordFrameBytes + len);
  return true;
}

bool DecodeRecord(std::string_view record, model::SeriesBatch* out) {
  RecordRef ref;
  if (!CheckRecord(record, 0, &ref) || ref.bytes != record.size()) return false;
  const char* h = record.data() + kRecordFrameBytes;
  const uint32_t job_len = GetU32(h + 28);
  out->shard_key = GetU64(h);
  out->samples = ref.samples;
  out->min_timestamp_ms = ref.min_timestamp_ms;
  out->max_timestamp_ms = ref.max_timestamp_ms;
  const char* job = h + kPayloadHeaderBytes;
  out->job.assign(job, job_len);
  const char* data = job + job_len;
  out->data.assign(data, record.data() + record.size() - data);
  return true;
}

void ScanSegment(std::string_view segment, uint64_t start, std::vector<RecordRef>* out,
                 uint64_t* corrupt) {
  uint64_t pos = start;
  const uint64_t size = segment.size();
  while (pos < size) {
    RecordRef ref;
    if (CheckRecord(segment, pos, &ref)) {
      out->push_back(ref);
      pos += ref.bytes;
      continue;
    }
    ++*corrupt;
    // A damaged payload leaves its length intact: try the record right after it first.
    uint64_t next = UINT64_MAX;
    if (size - pos >= kRecordFrameBytes) {
      const uint64_t len = GetU32(segment.data() + pos);
      const uint64_t candidate = pos + kRecordFrameBytes + len;
      RecordRef probe;
      if (candidate == size || (candidate < size && CheckRecord(segment, candidate, &probe))) {
        next = candidate;
      }
    }
    // Otherwise the length itself may be damaged: look for the next valid record.
    for (uint64_t c = pos + 1; next == UINT64_MAX && c + kRecordFrameBytes <= size; ++c) {
      RecordRef probe;
      if (CheckRecord(segment, c, &probe)) next = c;
    }
    if (next == UINT64_MAX) return;
    pos = next;
  }
}

}  // namespace tender::queue
