// RemoteWriteExporter: sends SeriesBatches to one Prometheus remote-write 1.0 endpoint through N
// shard senders. Each shard is a disk-backed FIFO (queue::ShardQueue) with one request in
// flight, so batches of one target (same shard_key) are never reordered, while shards send in
// parallel (DESIGN decisions 7 and 8). A batch leaves its queue only once the receiver has
// answered for it; what is unsent at shutdown is written to disk and sent after the restart.
// Consume may be called from any thread; Start/Shutdown from the owning (main) thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/series_batch.h"
#include "collector/relabel/relabeler.h"
#include "exporters/remote_write/http_poster.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::remote_write {

namespace internal {
class ShardSender;
struct ExporterShared;
}  // namespace internal

class RemoteWriteExporter {
 public:
  struct Settings {
    config::RemoteWriteConfig config;
    // Self metrics (tender_remote_write_*, label remote_name = config.name) are registered
    // here; null keeps them in a private registry. Must outlive the exporter.
    prometheus::Registry* registry = nullptr;
    std::string user_agent;              // Empty: "tender/<version>".
    std::shared_ptr<HttpPoster> poster;  // Null: libcurl (CurlHttpPoster), created by Start.
    // Directory of this destination's queue (one subdirectory per shard); required. Queued
    // data found there is sent before anything consumed later.
    std::string queue_dir;
    // memory_bytes, max_age and replay_bytes_per_second apply; max_bytes is resolved by the
    // caller into max_disk_bytes (0 = no bound).
    config::StorageConfig storage;
    int64_t max_disk_bytes = 0;
  };

  // Number of shard senders for `queue`. There is no dynamic resharding, so the count is fixed:
  // 8, clamped to [min_shards, max_shards]. Each shard has one request of up to
  // max_samples_per_send in flight, so 8 shards carry 8 * 2000 / RTT samples/s with the
  // defaults (≈ 10k/s over a 1.5 s WAN round trip, 160k/s at 100 ms). Memory is bounded by
  // storage.memory_bytes (split across the shards), not by queue_config.capacity: beyond it
  // batches wait on disk. Changing the count between runs re-routes targets to other shards,
  // so their queued and new batches may then reach the receiver out of order.
  static int ShardCount(const config::QueueConfig& queue);

  explicit RemoteWriteExporter(Settings settings);
  // Calls Shutdown(absl::ZeroDuration()) if the owner did not.
  ~RemoteWriteExporter();

  RemoteWriteExporter(const RemoteWriteExporter&) = delete;
  RemoteWriteExporter& operator=(const RemoteWriteExporter&) = delete;

  // Creates the poster (unless injected) and starts the shard threads. Batches consumed before
  // Start wait in their queues. Fails on a bad URL, bad write_relabel_configs, an empty
  // queue_dir, or when called twice or after Shutdown.
  absl::Status Start();

  // Sends (and retries) what is queued for up to half of `deadline`; then
  // cancels the request in flight (its batches stay queued) and writes every queue's memory to
  // disk (bounded by the rest of the deadline, at least a second). What cannot be written is
  // counted as dropped (reason "shutdown"). Safe before Start and twice.
  void Shutdown(absl::Duration deadline);

  // Applies write_relabel_configs and queues `batch` on shard `batch.shard_key % shards()`.
  // Never waits for the receiver: beyond the memory budget the queue spills to disk. Batches
  // without samples are ignored. Thread-safe.
  void Consume(model::SeriesBatch&& batch);

  // Samples queued in memory and on disk, over all shards.
  size_t queued_samples() const;

  int shards() const { return static_cast<int>(shards_.size()); }

 private:
  enum class State { kNew, kRunning, kStopped };

  std::unique_ptr<internal::ExporterShared> shared_;
  std::vector<std::unique_ptr<internal::ShardSender>> shards_;
  std::shared_ptr<HttpPoster> poster_;
  relabel::Relabeler write_relabel_;
  absl::Status init_status_;          // A construction error, reported by Start.
  std::atomic<bool> stopped_{false};  // Set once Shutdown has flushed; Consume then drops.

  std::mutex lifecycle_mu_;  // Serializes Start and Shutdown; covers state_.
  State state_ = State::kNew;
};

}  // namespace tender::remote_write
