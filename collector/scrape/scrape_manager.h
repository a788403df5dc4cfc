// Runs the scrape loop of every target (DESIGN decision 3). Threads: one scheduler thread
// gives each target a fixed offset in its interval (hash of its labels) and never lets two
// scrapes of one target overlap; the one fetcher thread drives every request; a small worker
// pool parses, encodes and pushes each scrape's batch into the ingest ring. Public methods are
// thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/model/labels.h"
#include "collector/model/series_batch.h"
#include "collector/ring/ingest_ring.h"
#include "collector/scrape/host_gate.h"
#include "collector/scrape/http/fetcher.h"
#include "collector/scrape/scrape_processor.h"
#include "collector/scrape/target.h"

namespace prometheus {
class Registry;
}

namespace tender::scrape {

using BatchRing = ring::IngestRing<model::SeriesBatch>;

// A target's state as the admin pages show it.
struct TargetStatus {
  std::shared_ptr<const Target> target;
  std::string health = "unknown";  // "up", "down", "unknown"
  std::string last_error;
  absl::Time last_scrape = absl::InfinitePast();
  absl::Duration last_duration;
  uint32_t last_samples = 0;
  // Where the last scrape spent its time (zero for a reused connection's dns/connect/tls).
  struct Phases {
    absl::Duration dns, connect, tls, first_byte, transfer, parse;
  } last_phases;
  bool last_reused_connection = false;
};

class ScrapeManager {
 public:
  struct Settings {
    model::Labels external_labels;
    int workers = 2;
    BatchRing* ring = nullptr;                 // Not owned; outlives the manager.
    prometheus::Registry* registry = nullptr;  // Not owned; may be null in tests.
    std::string user_agent = "tender";
    absl::Duration ring_push_timeout = absl::Seconds(10);
    // Scrapes running at once against one host:port (e.g. an API server proxying many
    // targets); the others wait their turn. <= 0: no limit.
    int max_concurrent_per_host = 16;
    // A scrape whose connection broke early (a reset) is tried once more; false measures what
    // that retry saves (--scrape.retry-on-reset=false).
    bool retry_on_reset = true;
  };

  explicit ScrapeManager(Settings settings);
  ~ScrapeManager();

  absl::Status Start();
  // Stops scheduling, waits for in-flight scrapes to finish and be handed to the ring. Writes
  // no stale markers (as Prometheus on shutdown). Safe before Start and twice.
  void Shutdown();

  // Replaces the set of targets. Targets with the same hash keep their loop and series state;
  // removed ones get stale markers for their series and report series; new ones are scheduled
  // at their offset.
  void ApplyTargets(std::vector<std::shared_ptr<const Target>> targets);

  std::vector<TargetStatus> Snapshot() const;

  // Bytes of series state over all targets and the number of tracked series (for metrics and
  // the memory-per-series figure).
  void StateSize(size_t* bytes, size_t* series) const;

 private:
  struct Loop;
  struct Metrics;
  struct Work {
    std::shared_ptr<Loop> loop;
    FetchResult result;
    int64_t timestamp_ms = 0;
    absl::Time started;
    bool end_of_target = false;
  };

  void SchedulerThread();
  void WorkerThread();
  void StartScrape(const std::shared_ptr<Loop>& loop, absl::Time now);
  // Hands `req` to the fetcher; the completion enqueues the work, or fetches once more when
  // the connection broke early and this was not already the retry (fetcher thread).
  void Fetch(const std::shared_ptr<Loop>& loop, FetchRequest req, absl::Time started, bool retry);
  void Enqueue(Work&& work);
  void Finish(ScrapeProcessor& processor, Work& work);
  void PushBatch(model::SeriesBatch&& batch, const std::string& job);

  const Settings settings_;
  std::unique_ptr<Metrics> metrics_;
  HostGate gate_;
  std::unique_ptr<Fetcher> fetcher_;

  mutable std::mutex mu_;  // Guards loops_, wake_, stopping_ and every Loop's scheduling fields.
  std::condition_variable wake_;
  std::map<uint64_t, std::shared_ptr<Loop>> loops_;
  bool stopping_ = false;
  bool started_ = false;

  std::mutex work_mu_;  // Guards work_ and workers_stop_. Lock order: mu_ before work_mu_.
  std::condition_variable work_cv_;
  std::deque<Work> work_;
  bool workers_stop_ = false;
  std::atomic<int> in_flight_{0};
  std::condition_variable idle_cv_;

  std::thread scheduler_;
  std::vector<std::thread> workers_;
};

// The Accept header Prometheus 3 sends by default (protocols.md §1.4).
inline constexpr std::string_view kAcceptHeader =
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

// "10", "0.5", "2.25": seconds in the shortest decimal form.
std::string FormatSecondsShortest(absl::Duration d);

// The first scrape time at or after `now` for a target with this hash and interval:
// base + (hash mod interval), aligned to the interval.
absl::Time FirstScrapeTime(absl::Time now, absl::Duration interval, uint64_t hash);

}  // namespace tender::scrape
