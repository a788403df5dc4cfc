// RemoteWriteExporter: sends SeriesBatches to one Prometheus remote-write 1.0 endpoint through N
// shard senders. Each shard is a FIFO with one request in flight, so batches of one target
// (same shard_key) are never reordered, while shards send in parallel (DESIGN decision 7).
// Consume may be called from any thread; Start/Shutdown from the owning (main) thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/series_batch.h"
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
  };

  // Number of shard senders for `queue`. There is no dynamic resharding, so the count is fixed:
  // 8, clamped to [min_shards, max_shards]. Each shard has one request of up to
  // max_samples_per_send in flight, so 8 shards carry 8 * 2000 / RTT samples/s with the
  // defaults (≈ 10k/s over a 1.5 s WAN round trip, 160k/s at 100 ms) while buffering at most
  // 8 * capacity samples (8 * 10000 * ~400 B ≈ 32 MB of cAdvisor-sized entries).
  static int ShardCount(const config::QueueConfig& queue);

  explicit RemoteWriteExporter(Settings settings);
  // Calls Shutdown(absl::ZeroDuration()) if the owner did not.
  ~RemoteWriteExporter();

  RemoteWriteExporter(const RemoteWriteExporter&) = delete;
  RemoteWriteExporter& operator=(const RemoteWriteExporter&) = delete;

  // Creates the poster (unless injected) and starts the shard threads. Batches consumed before
  // Start wait in their queues. Fails on a bad URL or when called twice or after Shutdown.
  absl::Status Start();

  // Drains: stops waiting for full requests and keeps sending (and retrying) what is queued
  // until every shard is empty or `deadline` has passed; then cancels in-flight requests and
  // counts what is left as dropped (reason "shutdown"). Safe before Start and twice; a second
  // call returns at once.
  void Shutdown(absl::Duration deadline);

  // Queues `batch` on shard `batch.shard_key % shards()`. Blocks while that shard holds
  // `capacity` samples or more (backpressure), until there is room or Shutdown begins; this
  // holds before Start too, so a caller that feeds batches before Start must not exceed it.
  // After Shutdown has finished, the batch is counted as dropped (reason "shutdown"). Batches
  // without samples are ignored. Thread-safe.
  void Consume(model::SeriesBatch&& batch);

  int shards() const { return static_cast<int>(shards_.size()); }

 private:
  enum class State { kNew, kRunning, kStopped };

  std::unique_ptr<internal::ExporterShared> shared_;
  std::vector<std::unique_ptr<internal::ShardSender>> shards_;
  std::shared_ptr<HttpPoster> poster_;

  std::mutex lifecycle_mu_;  // Serializes Start and Shutdown; covers state_.
  State state_ = State::kNew;
};

}  // namespace tender::remote_write
