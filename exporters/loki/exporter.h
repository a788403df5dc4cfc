// LokiExporter: sends log entries to one Loki push endpoint (protocols.md §6, DESIGN
// decision 9). Entries are batched per tenant by bytes and time (batch_size / batch_wait,
// Promtail's 1 MiB / 1 s), grouped into one stream per label set with each stream's entries
// sorted by time (labels named in structured_metadata moved out of the stream selector into
// each entry's structured metadata), encoded (protobuf + snappy, or JSON) and handed to a
// disk-backed queue (queue::ShardQueue under the queue directory). One sender thread posts one
// request at a time, oldest first, retrying 429, 5xx and connection errors with backoff
// (Retry-After honoured) until Loki takes the batch; other 4xx are logged with Loki's message and
// counted as dropped. A batch leaves the queue only once Loki answered for it; graceful shutdown
// writes what is unsent to disk and the next start sends it first.
// Consume may be called from any thread; Start/Shutdown from the owning (main) thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/log_entry.h"
#include "exporters/remote_write/http_poster.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::queue {
class ShardQueue;
}  // namespace tender::queue

namespace tender::loki {

namespace internal {
struct Shared;
class Sender;
}  // namespace internal

class LokiExporter {
 public:
  struct Settings {
    config::LokiConfig config;
    // Self metrics (tender_loki_*, label loki_name = config.name) are registered here; null
    // keeps them in a private registry. Must outlive the exporter.
    prometheus::Registry* registry = nullptr;
    std::string user_agent;  // Empty: "tender/<version>".
    // Null: libcurl (remote_write::CurlHttpPoster with Loki's headers), created by Start.
    std::shared_ptr<remote_write::HttpPoster> poster;
    // Directory of this destination's queue; required. Queued batches found there are sent
    // before anything consumed later.
    std::string queue_dir;
    // max_age applies, memory_bytes only while the disk fails (batches are written through);
    // max_bytes is resolved by the caller into max_disk_bytes
    // (0 = no bound).
    config::StorageConfig storage;
    int64_t max_disk_bytes = 0;
  };

  explicit LokiExporter(Settings settings);
  // Calls Shutdown(absl::ZeroDuration()) if the owner did not.
  ~LokiExporter();

  LokiExporter(const LokiExporter&) = delete;
  LokiExporter& operator=(const LokiExporter&) = delete;

  // Creates the poster (unless injected) and starts the batching and sender threads. Entries
  // consumed before Start are batched and wait in the queue. Fails on a bad URL, an empty
  // queue_dir, or when called twice or after Shutdown.
  absl::Status Start();

  // Seals the batches being built, sends what is queued for up to half of `deadline`, then
  // cancels the request in flight (its batch stays queued) and writes the queue's memory to
  // disk (bounded by the rest of the deadline, at least a second). What cannot be written is
  // counted as dropped (reason "shutdown"). Safe before Start and twice.
  void Shutdown(absl::Duration deadline);

  // Adds entries to the batch of their tenant. Never waits for Loki: a full batch goes to the
  // queue, which spills to disk beyond its memory budget. After Shutdown, entries are dropped
  // (counted, reason "shutdown"). Thread-safe.
  void Consume(model::LogEntry&& entry);
  void Consume(std::vector<model::LogEntry>&& entries);

  // Seals every batch being built into the queue now, whatever its age. Thread-safe.
  void SealAll();

  // Entries queued (sealed, in memory and on disk) and not yet answered by Loki.
  size_t queued_entries() const;

 private:
  struct PendingEntry {
    int64_t timestamp_ns;
    std::string line;
    model::Labels metadata;  // Structured metadata, sorted by name.
  };
  struct Pending {
    std::map<std::string, std::vector<PendingEntry>> streams;  // By selector.
    int64_t bytes = 0;  // Line bytes plus structured metadata name and value bytes.
    size_t entries = 0;
    absl::Time started;  // When the first entry arrived.
  };
  enum class State { kNew, kRunning, kStopped };

  void ConsumeLocked(model::LogEntry&& entry, absl::Time now);
  // Moves the labels named in config.structured_metadata out of `entry->labels` into
  // `*metadata`. Leaves the entry alone when its selector does not parse or when no stream
  // label would be left.
  void SplitMetadata(model::LogEntry* entry, model::Labels* metadata) const;
  void SealLocked(const std::string& tenant, Pending* pending);
  void BatchLoop();

  std::unique_ptr<internal::Shared> shared_;
  std::unique_ptr<internal::Sender> sender_;
  std::shared_ptr<remote_write::HttpPoster> poster_;
  absl::Status init_status_;  // A construction error, reported by Start.

  // mu_ covers pending_, streams_seen_, stop_batching_ and closed_. Lock order: mu_, then the
  // queue's.
  mutable std::mutex mu_;
  std::condition_variable batch_cv_;
  std::map<std::string, Pending> pending_;          // By tenant.
  std::map<std::string, absl::Time> streams_seen_;  // Selector → last sealed; for the gauge.
  bool stop_batching_ = false;
  bool closed_ = false;  // Shutdown sealed the last batches; later entries are dropped.
  std::atomic<bool> stopped_{false};  // Set once Shutdown began; Consume then drops.
  std::thread batch_thread_;

  std::mutex lifecycle_mu_;  // Serializes Start and Shutdown; covers state_.
  State state_ = State::kNew;
};

}  // namespace tender::loki
