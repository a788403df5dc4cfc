#include "exporters/queue/shard_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/model/absl_compat.h"
#include "collector/model/buffer_pool.h"
#include "collector/model/log.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tender::queue {
namespace {

// Frees a queued batch once its last holder (the queue or a sender) drops it, giving its data
// buffer back to the pool the scrape workers take from.
void RecycleBatch(model::SeriesBatch* batch) {
  model::LargeBufferPool().Give(std::move(batch->data));
  delete batch;
}

SharedBatch ShareBatch(model::SeriesBatch&& batch) {
  return SharedBatch(new model::SeriesBatch(std::move(batch)), RecycleBatch);
}

constexpr char kComponent[] = "queue";
constexpr char kCursorFile[] = "cursor";
// After a failed disk write, batches over the memory budget are dropped without trying the
// disk again for this long, so a full disk costs one failed syscall per second, not per batch.
constexpr absl::Duration kDiskRetryInterval = absl::Seconds(1);

// Reads the whole file; false on any error.
bool ReadFile(const std::string& path, std::string* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool PreadAll(int fd, uint64_t offset, size_t len, std::string* out) {
  out->resize(len);
  size_t done = 0;
  while (done < len) {
    const ssize_t n = pread(fd, out->data() + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ShardQueue::ShardQueue(QueueOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ShardQueue>> ShardQueue::Open(
    QueueOptions options, prometheus::Registry* registry,
    std::map<std::string, std::string> metric_labels) {
  if (options.dir.empty()) return absl::InvalidArgumentError("queue: dir is empty");
  if (options.memory_budget_bytes < 0 || options.max_disk_bytes < 0) {
    return absl::InvalidArgumentError("queue: negative memory_budget_bytes or max_disk_bytes");
  }
  if (options.segment_bytes <= static_cast<int64_t>(kSegmentHeaderBytes)) {
    return absl::InvalidArgumentError("queue: segment_bytes too small");
  }
  if (options.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("queue: negative max_age");
  }
  std::unique_ptr<ShardQueue> q(new ShardQueue(std::move(options)));
  if (registry == nullptr) {
    q->own_registry_ = std::make_unique<prometheus::Registry>();
    registry = q->own_registry_.get();
  }
  const prometheus::Labels& base = metric_labels;
  auto with = [&base](const char* name, const char* value) {
    prometheus::Labels labels = base;
    labels.emplace(name, value);
    return labels;
  };
  auto& bytes = prometheus::BuildGauge()
                    .Name("tender_queue_bytes")
                    .Help("Bytes queued, by where: memory or disk (segment files).")
                    .Register(*registry);
  q->metrics_.memory_bytes = &bytes.Add(with("where", "memory"));
  q->metrics_.disk_bytes = &bytes.Add(with("where", "disk"));
  q->metrics_.batches = &prometheus::BuildGauge()
                             .Name("tender_queue_batches")
                             .Help("Batches queued, in memory and on disk.")
                             .Register(*registry)
                             .Add(base);
  q->metrics_.oldest_age = &prometheus::BuildGauge()
                                .Name("tender_queue_oldest_sample_age_seconds")
                                .Help("Age of the oldest sample of the oldest queued batch.")
                                .Register(*registry)
                                .Add(base);
  auto& dropped = prometheus::BuildCounter()
                      .Name("tender_queue_dropped_bytes_total")
                      .Help(
                          "Queued bytes given up on, by reason: max_bytes (disk bound), max_age, "
                          "memory_full (disk unusable and memory over budget).")
                      .Register(*registry);
  q->metrics_.dropped_max_bytes = &dropped.Add(with("reason", "max_bytes"));
  q->metrics_.dropped_max_age = &dropped.Add(with("reason", "max_age"));
  q->metrics_.dropped_memory_full = &dropped.Add(with("reason", "memory_full"));
  q->metrics_.corrupt = &prometheus::BuildCounter()
                             .Name("tender_queue_corrupt_records_total")
                             .Help("Torn or corrupt regions of segment files that were skipped.")
                             .Register(*registry)
                             .Add(base);
  q->metrics_.disk_errors = &prometheus::BuildCounter()
                                 .Name("tender_queue_disk_errors_total")
                                 .Help("Failed disk operations (create, write, read, delete).")
                                 .Register(*registry)
                                 .Add(base);
  {
    std::lock_guard<std::mutex> lock(q->mu_);
    q->ReplayLocked();
    q->UpdateGaugesLocked(q->Now());
  }
  return q;
}

ShardQueue::~ShardQueue() {
  std::lock_guard<std::mutex> lock(mu_);
  WriteCursorLocked();
  CloseWriterLocked();
  if (read_fd_ >= 0) close(read_fd_);
}

std::string ShardQueue::SegmentPath(uint64_t seq) const {
  return absl::StrCat(options_.dir, "/", SegmentFileName(seq));
}

void ShardQueue::ReplayLocked() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) {
    CountDiskErrorLocked(absl::StrCat("create ", options_.dir), ec.value());
    return;
  }
  std::vector<uint64_t> seqs;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    uint64_t seq = 0;
    if (ParseSegmentFileName(entry.path().filename().string(), &seq)) seqs.push_back(seq);
  }
  if (ec) {
    CountDiskErrorLocked(absl::StrCat("list ", options_.dir), ec.value());
    return;
  }
  dir_ready_ = true;
  std::sort(seqs.begin(), seqs.end());

  // The cursor says where the consumer was: segments before cursor_seq are consumed, and
  // cursor_seq itself is consumed up to cursor_offset.
  uint64_t cursor_seq = 0;
  uint64_t cursor_offset = 0;
  std::string cursor;
  if (ReadFile(absl::StrCat(options_.dir, "/", kCursorFile), &cursor)) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(ToAbsl(cursor), absl::ByAnyChar(" \n"), absl::SkipEmpty());
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &cursor_seq) ||
        !absl::SimpleAtoi(parts[1], &cursor_offset)) {
      cursor_seq = 0;
      cursor_offset = 0;
    }
  }
  next_seq_ = std::max<uint64_t>(next_seq_, cursor_seq + 1);

  std::string content;
  for (const uint64_t seq : seqs) {
    next_seq_ = std::max(next_seq_, seq + 1);
    const std::string path = SegmentPath(seq);
    if (seq < cursor_seq) {
      if (unlink(path.c_str()) != 0) CountDiskErrorLocked(absl::StrCat("unlink ", path), errno);
      continue;
    }
    if (!ReadFile(path, &content)) {
      CountDiskErrorLocked(absl::StrCat("read ", path), errno);
      continue;
    }
    if (!content.empty() && !CheckSegmentHeader(content)) {
      // A damaged header does not make the records unreadable: they check themselves.
      CountCorruptLocked(1);
    }
    uint64_t start = kSegmentHeaderBytes;
    if (seq == cursor_seq && cursor_offset > start && cursor_offset <= content.size()) {
      start = cursor_offset;
    }
    std::vector<RecordRef> refs;
    uint64_t corrupt = 0;
    ScanSegment(content, start, &refs, &corrupt);
    CountCorruptLocked(corrupt);
    if (refs.empty()) {
      if (unlink(path.c_str()) != 0) CountDiskErrorLocked(absl::StrCat("unlink ", path), errno);
      continue;
    }
    Segment segment;
    segment.seq = seq;
    segment.file_bytes = static_cast<int64_t>(content.size());
    for (RecordRef& ref : refs) {
      ref.id = next_id_++;
      samples_ += ref.samples;
    }
    segment.records.assign(refs.begin(), refs.end());
    disk_bytes_ += segment.file_bytes;
    disk_records_ += refs.size();
    segments_.push_back(std::move(segment));
  }
  if (!segments_.empty()) {
    log::Info(kComponent, "replaying queued batches from disk",
              {{"dir", options_.dir},
               {"batches", FromAbsl(absl::StrCat(disk_records_))},
               {"bytes", FromAbsl(absl::StrCat(disk_bytes_))}});
  }
}

absl::Status ShardQueue::OpenSegmentLocked() {
  if (!dir_ready_) {
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) {
      CountDiskErrorLocked(absl::StrCat("create ", options_.dir), ec.value());
      return absl::UnavailableError(absl::StrCat("queue: cannot create ", options_.dir));
    }
    dir_ready_ = true;
  }
  const uint64_t seq = next_seq_++;
  const std::string path = SegmentPath(seq);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    CountDiskErrorLocked(absl::StrCat("create ", path), errno);
    return absl::UnavailableError(absl::StrCat("queue: cannot create ", path));
  }
  if (!WriteAll(fd, SegmentHeader())) {
    CountDiskErrorLocked(absl::StrCat("write ", path), errno);
    close(fd);
    unlink(path.c_str());
    return absl::UnavailableError(absl::StrCat("queue: cannot write ", path));
  }
  Segment segment;
  segment.seq = seq;
  segment.file_bytes = kSegmentHeaderBytes;
  disk_bytes_ += segment.file_bytes;
  segments_.push_back(std::move(segment));
  write_fd_ = fd;
  return absl::OkStatus();
}

void ShardQueue::CloseWriterLocked() {
  if (write_fd_ >= 0) {
    close(write_fd_);
    write_fd_ = -1;
  }
}

absl::Status ShardQueue::WriteLocked(const model::SeriesBatch& batch, uint64_t id) {
  const int64_t bytes = static_cast<int64_t>(RecordBytes(batch));
  const int64_t header = kSegmentHeaderBytes;
  if (options_.max_disk_bytes > 0 && bytes + header > options_.max_disk_bytes) {
    return absl::ResourceExhaustedError("queue: batch larger than max_disk_bytes");
  }
  auto needs_new_segment = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return write_fd_ < 0 || segments_.back().file_bytes + bytes > options_.segment_bytes;
  };
  if (options_.max_disk_bytes > 0) {
    while (!segments_.empty() &&
           disk_bytes_ + bytes + (needs_new_segment() ? header : 0) > options_.max_disk_bytes) {
      DropFrontSegmentLocked();
    }
  }
  if (needs_new_segment()) {
    CloseWriterLocked();
    absl::Status status = OpenSegmentLocked();
    if (!status.ok()) return status;
  }
  Segment& segment = segments_.back();
  std::string record;
  record.reserve(static_cast<size_t>(bytes));
  AppendRecord(batch, &record);
  if (!WriteAll(write_fd_, record)) {
    const int err = errno;
    CountDiskErrorLocked(absl::StrCat("write ", SegmentPath(segment.seq)), err);
    // Cut the torn record off so the segment stays valid; if even that fails, stop appending
    // to this segment (a replay would skip the torn tail and count it).
    if (ftruncate(write_fd_, segment.file_bytes) != 0) CloseWriterLocked();
    if (segment.records.empty()) {
      CloseWriterLocked();
      unlink(SegmentPath(segment.seq).c_str());
      disk_bytes_ -= segment.file_bytes;
      segments_.pop_back();
    }
    return absl::UnavailableError(absl::StrCat("queue: write failed: ", std::strerror(err)));
  }
  RecordRef ref;
  ref.offset = static_cast<uint64_t>(segment.file_bytes);
  ref.bytes = static_cast<uint32_t>(bytes);
  ref.samples = batch.samples;
  ref.min_timestamp_ms = batch.min_timestamp_ms;
  ref.max_timestamp_ms = batch.max_timestamp_ms;
  ref.id = id;
  segment.records.push_back(ref);
  segment.file_bytes += bytes;
  disk_bytes_ += bytes;
  ++disk_records_;
  return absl::OkStatus();
}

void ShardQueue::DeleteFrontSegmentLocked() {
  Segment& segment = segments_.front();
  if (read_fd_ >= 0 && read_seq_ == segment.seq) {
    close(read_fd_);
    read_fd_ = -1;
  }
  if (segments_.size() == 1) CloseWriterLocked();
  const std::string path = SegmentPath(segment.seq);
  if (unlink(path.c_str()) != 0) CountDiskErrorLocked(absl::StrCat("unlink ", path), errno);
  disk_bytes_ -= segment.file_bytes;
  disk_records_ -= segment.records.size();
  for (const RecordRef& ref : segment.records) samples_ -= ref.samples;
  segments_.pop_front();
}

void ShardQueue::DropFrontSegmentLocked() {
  const Segment& segment = segments_.front();
  uint64_t bytes = 0;
  for (const RecordRef& ref : segment.records) bytes += ref.bytes;
  CountDropLocked(DropReason::kMaxBytes, bytes, segment.records.size());
  DeleteFrontSegmentLocked();
}

void ShardQueue::RemoveOldestLocked() {
  if (!segments_.empty()) {
    Segment& segment = segments_.front();
    samples_ -= segment.records.front().samples;
    segment.records.pop_front();
    --disk_records_;
    if (segment.records.empty()) DeleteFrontSegmentLocked();
  } else if (!memory_.empty()) {
    memory_bytes_ -= static_cast<int64_t>(RecordBytes(*memory_.front().batch));
    samples_ -= memory_.front().batch->samples;
    memory_.pop_front();
  }
}

uint64_t ShardQueue::HeadIdLocked() const {
  if (!segments_.empty()) return segments_.front().records.front().id;
  if (!memory_.empty()) return memory_.front().id;
  return next_id_;
}

bool ShardQueue::ReadRecordLocked(uint64_t seq, const RecordRef& ref, model::SeriesBatch* out) {
  if (read_fd_ < 0 || read_seq_ != seq) {
    if (read_fd_ >= 0) close(read_fd_);
    read_seq_ = seq;
    read_fd_ = open(SegmentPath(seq).c_str(), O_RDONLY | O_CLOEXEC);
  }
  std::string record;
  if (read_fd_ < 0 || !PreadAll(read_fd_, ref.offset, ref.bytes, &record)) {
    CountDiskErrorLocked(absl::StrCat("read ", SegmentPath(seq)), errno);
    return false;
  }
  if (!DecodeRecord(record, out)) {
    CountCorruptLocked(1);
    return false;
  }
  return true;
}

void ShardQueue::ExpireLocked(absl::Time now) {
  if (options_.max_age <= absl::ZeroDuration()) return;
  const int64_t cutoff_ms = absl::ToUnixMillis(now - options_.max_age);
  // Batches of a shard arrive roughly in time order, so expiry looks at the head only.
  while (true) {
    int64_t max_ts = 0;
    uint64_t bytes = 0;
    if (!segments_.empty()) {
      const RecordRef& ref = segments_.front().records.front();
      max_ts = ref.max_timestamp_ms;
      bytes = ref.bytes;
    } else if (!memory_.empty()) {
      max_ts = memory_.front().batch->max_timestamp_ms;
      bytes = RecordBytes(*memory_.front().batch);
    } else {
      return;
    }
    if (max_ts >= cutoff_ms) return;
    RemoveOldestLocked();
    CountDropLocked(DropReason::kMaxAge, bytes);
  }
}

void ShardQueue::CountDropLocked(DropReason reason, uint64_t bytes, uint64_t batches) {
  stats_.dropped_batches += batches;
  const double value = static_cast<double>(bytes);
  switch (reason) {
    case DropReason::kMaxBytes:
      stats_.dropped_bytes_max_bytes += bytes;
      metrics_.dropped_max_bytes->Increment(value);
      break;
    case DropReason::kMaxAge:
      stats_.dropped_bytes_max_age += bytes;
      metrics_.dropped_max_age->Increment(value);
      break;
    case DropReason::kMemoryFull:
      stats_.dropped_bytes_memory_full += bytes;
      metrics_.dropped_memory_full->Increment(value);
      break;
  }
}

void ShardQueue::CountDiskErrorLocked(const std::string& what, int err) {
  ++stats_.disk_errors;
  metrics_.disk_errors->Increment();
  static log::Throttle throttle(absl::Seconds(10));
  if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
    log::Warn(kComponent, "disk operation failed",
              {{"op", what},
               {"error", std::strerror(err)},
               {"suppressed", FromAbsl(absl::StrCat(suppressed))}});
  }
}

void ShardQueue::CountCorruptLocked(uint64_t n) {
  if (n == 0) return;
  stats_.corrupt_records += n;
  metrics_.corrupt->Increment(static_cast<double>(n));
  static log::Throttle throttle(absl::Seconds(10));
  if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
    log::Warn(kComponent, "skipped corrupt queue records",
              {{"dir", options_.dir},
               {"records", FromAbsl(absl::StrCat(n))},
               {"suppressed", FromAbsl(absl::StrCat(suppressed))}});
  }
}

void ShardQueue::UpdateGaugesLocked(absl::Time now) {
  metrics_.memory_bytes->Set(static_cast<double>(memory_bytes_));
  metrics_.disk_bytes->Set(static_cast<double>(disk_bytes_));
  metrics_.batches->Set(static_cast<double>(disk_records_ + memory_.size()));
  int64_t oldest_ms = std::numeric_limits<int64_t>::max();
  if (!segments_.empty()) {
    oldest_ms = segments_.front().records.front().min_timestamp_ms;
  } else if (!memory_.empty()) {
    oldest_ms = memory_.front().batch->min_timestamp_ms;
  }
  double age = 0;
  if (oldest_ms != std::numeric_limits<int64_t>::max()) {
    age = std::max(0.0, static_cast<double>(absl::ToUnixMillis(now) - oldest_ms) / 1000.0);
  }
  metrics_.oldest_age->Set(age);
}

void ShardQueue::WriteCursorLocked() {
  if (!dir_ready_) return;
  uint64_t seq = next_seq_ - 1;
  uint64_t offset = 0;
  if (!segments_.empty()) {
    seq = segments_.front().seq;
    offset = segments_.front().records.front().offset;
  }
  const std::string tmp = absl::StrCat(options_.dir, "/", kCursorFile, ".tmp");
  const std::string path = absl::StrCat(options_.dir, "/", kCursorFile);
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    CountDiskErrorLocked(absl::StrCat("create ", tmp), errno);
    return;
  }
  const bool ok = WriteAll(fd, absl::StrCat(seq, " ", offset, "\n"));
  const int err = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    CountDiskErrorLocked(absl::StrCat("write ", path), ok ? errno : err);
  }
}

void ShardQueue::Push(model::SeriesBatch&& batch) {
  const absl::Time now = Now();
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  memory_bytes_ += static_cast<int64_t>(RecordBytes(batch));
  samples_ += batch.samples;
  memory_.push_back(MemoryEntry{next_id_++, ShareBatch(std::move(batch))});
  // Spill the oldest in-memory batches: they go after what is on disk, so order is kept.
  // Write-through spills everything while the disk works.
  while (!memory_.empty()) {
    const bool over_budget = memory_bytes_ > options_.memory_budget_bytes;
    if (!over_budget && !(options_.write_through && now >= disk_retry_at_)) break;
    const MemoryEntry& front = memory_.front();
    const uint64_t bytes = RecordBytes(*front.batch);
    absl::Status status = absl::UnavailableError("disk failed recently");
    if (now >= disk_retry_at_) status = WriteLocked(*front.batch, front.id);
    if (absl::IsResourceExhausted(status)) {
      CountDropLocked(DropReason::kMaxBytes, bytes);
    } else if (!status.ok()) {
      if (now >= disk_retry_at_) disk_retry_at_ = now + kDiskRetryInterval;
      if (!over_budget) break;  // Write-through: kept in memory while within the budget.
      CountDropLocked(DropReason::kMemoryFull, bytes);
    }
    memory_bytes_ -= static_cast<int64_t>(bytes);
    if (!status.ok()) samples_ -= front.batch->samples;
    memory_.pop_front();
  }
  UpdateGaugesLocked(now);
  not_empty_.notify_all();
}

std::optional<uint64_t> ShardQueue::PeekMany(size_t max_samples, size_t max_batches,
                                             std::vector<SharedBatch>* out, absl::Duration wait) {
  out->clear();
  std::unique_lock<std::mutex> lock(mu_);
  if (wait > absl::ZeroDuration()) {
    // Clamped so that an infinite wait does not overflow the steady clock's arithmetic.
    const absl::Duration bounded = std::min(wait, absl::Hours(24 * 365));
    not_empty_.wait_for(lock, absl::ToChronoNanoseconds(bounded),
                        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                          return !segments_.empty() || !memory_.empty() || wake_ != wake_seen_;
                        });
  }
  wake_seen_ = wake_;
  const absl::Time now = Now();
  ExpireLocked(now);
  size_t samples = 0;
  uint64_t last_id = 0;
  // The first batch sets how many requests of max_samples this peek fills.
  size_t limit = max_samples;
  auto fits = [&](uint32_t n) {
    if (out->empty()) {
      if (max_samples > 0 && n > max_samples)
        limit = (n + max_samples - 1) / max_samples * max_samples;
      return true;
    }
    return out->size() < max_batches && samples + n <= limit;
  };
  // Disk records first. A damaged record at the head is dropped (counted); one further on
  // ends this peek, and is dropped when it reaches the head.
  bool stopped = false;
  while (!segments_.empty() && !stopped) {
    bool head_removed = false;
    for (const Segment& segment : segments_) {
      for (const RecordRef& ref : segment.records) {
        if (!fits(ref.samples)) {
          stopped = true;
          break;
        }
        auto batch = std::shared_ptr<model::SeriesBatch>(new model::SeriesBatch, RecycleBatch);
        if (!ReadRecordLocked(segment.seq, ref, batch.get())) {
          if (out->empty()) {
            RemoveOldestLocked();
            head_removed = true;
          } else {
            stopped = true;
          }
          break;
        }
        samples += batch->samples;
        last_id = ref.id;
        out->push_back(std::move(batch));
      }
      if (stopped || head_removed) break;
    }
    if (!head_removed) break;
  }
  if (!stopped && (segments_.empty() || !out->empty())) {
    for (const MemoryEntry& entry : memory_) {
      if (!fits(entry.batch->samples)) break;
      samples += entry.batch->samples;
      last_id = entry.id;
      out->push_back(entry.batch);  // Shares the bytes; no copy.
    }
  }
  UpdateGaugesLocked(now);
  if (out->empty()) return std::nullopt;
  return last_id;
}

std::optional<uint64_t> ShardQueue::PeekMany(size_t max_samples, size_t max_batches,
                                             std::vector<model::SeriesBatch>* out,
                                             absl::Duration wait) {
  std::vector<SharedBatch> shared;
  const std::optional<uint64_t> last = PeekMany(max_samples, max_batches, &shared, wait);
  out->clear();
  out->reserve(shared.size());
  for (const SharedBatch& b : shared) out->push_back(*b);
  return last;
}

void ShardQueue::PopThrough(uint64_t last_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool had_disk = !segments_.empty();
  const uint64_t seq_before = had_disk ? segments_.front().seq : 0;
  const size_t left_before = had_disk ? segments_.front().records.size() : 0;
  while ((!segments_.empty() || !memory_.empty()) && HeadIdLocked() <= last_id) {
    RemoveOldestLocked();
  }
  const bool moved = had_disk && (segments_.empty() || segments_.front().seq != seq_before ||
                                  segments_.front().records.size() != left_before);
  if (moved) WriteCursorLocked();
  UpdateGaugesLocked(Now());
}

bool ShardQueue::Peek(model::SeriesBatch* out, absl::Duration wait) {
  std::vector<model::SeriesBatch> batches;
  const std::optional<uint64_t> id = PeekMany(0, 1, &batches, wait);
  std::lock_guard<std::mutex> lock(mu_);
  peeked_id_ = id;
  if (!id.has_value()) return false;
  *out = std::move(batches.front());
  return true;
}

void ShardQueue::Pop() {
  std::optional<uint64_t> id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = peeked_id_;
    peeked_id_.reset();
  }
  if (id.has_value()) PopThrough(*id);
}

bool ShardQueue::WaitForSamples(size_t min_samples, absl::Duration wait) {
  std::unique_lock<std::mutex> lock(mu_);
  const absl::Duration bounded = std::clamp(wait, absl::ZeroDuration(), absl::Hours(24 * 365));
  not_empty_.wait_for(lock, absl::ToChronoNanoseconds(bounded),
                      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                        return samples_ >= min_samples || wake_ != wake_seen_;
                      });
  wake_seen_ = wake_;
  return samples_ >= min_samples;
}

void ShardQueue::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_;
  }
  not_empty_.notify_all();
}

absl::Status ShardQueue::Flush(absl::Duration deadline) {
  const absl::Time end = absl::Now() + deadline;
  std::lock_guard<std::mutex> lock(mu_);
  while (!memory_.empty()) {
    if (absl::Now() > end) {
      return absl::DeadlineExceededError(
          absl::StrCat("queue: flush deadline passed with ", memory_.size(), " batches left"));
    }
    const MemoryEntry& front = memory_.front();
    const uint64_t bytes = RecordBytes(*front.batch);
    absl::Status status = WriteLocked(*front.batch, front.id);
    if (absl::IsResourceExhausted(status)) {
      CountDropLocked(DropReason::kMaxBytes, bytes);
      samples_ -= front.batch->samples;
    } else if (!status.ok()) {
      UpdateGaugesLocked(Now());
      return status;
    }
    memory_bytes_ -= static_cast<int64_t>(bytes);
    memory_.pop_front();
  }
  if (write_fd_ >= 0 && fsync(write_fd_) != 0) {
    CountDiskErrorLocked("fsync segment", errno);
    return absl::UnavailableError("queue: fsync failed");
  }
  if (dir_ready_) {
    const int dir_fd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      fsync(dir_fd);
      close(dir_fd);
    }
  }
  WriteCursorLocked();
  UpdateGaugesLocked(Now());
  return absl::OkStatus();
}

size_t ShardQueue::memory_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(memory_bytes_);
}

size_t ShardQueue::disk_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(disk_bytes_);
}

size_t ShardQueue::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return disk_records_ + memory_.size();
}

size_t ShardQueue::memory_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const MemoryEntry& e : memory_) n += e.batch->samples;
  return n;
}

size_t ShardQueue::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(samples_);
}

ShardQueue::Stats ShardQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace tender::queue
