#include "exporters/remote_write/exporter.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "exporters/queue/shard_queue.h"
#include "exporters/remote_write/curl_poster.h"
#include "exporters/remote_write/request_builder.h"
#include "exporters/remote_write/retry_policy.h"
#include "exporters/remote_write/write_relabel.h"

#ifndef TENDER_VERSION
#define TENDER_VERSION "dev"
#endif

namespace tender::remote_write {
namespace internal {
namespace {

constexpr std::string_view kComponent = "remote_write";
constexpr int kDefaultShards = 8;

// std::mutex rather than absl::Mutex in this file: Debian's abseil is not built with
// ThreadSanitizer annotations, so TSan could not check code synchronised through it.
using Clock = std::chrono::steady_clock;

// Durations are capped at a year so that deadlines computed from them cannot overflow.
Clock::duration ToChrono(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365));
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

// Self metrics of one exporter. prometheus-cpp metrics are thread-safe.
struct Metrics {
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Gauge>* queue_samples = nullptr;
  prometheus::Counter* samples_sent = nullptr;
  prometheus::Counter* samples_retried = nullptr;
  prometheus::Counter* dropped_rejected = nullptr;   // Non-retryable HTTP status.
  prometheus::Counter* dropped_shutdown = nullptr;   // Left when the drain deadline passed.
  prometheus::Counter* dropped_malformed = nullptr;  // Batch data that is not whole entries.
  prometheus::Counter* dropped_too_old = nullptr;    // Older than sample_age_limit.
  prometheus::Counter* dropped_relabel = nullptr;    // Dropped by write_relabel_configs.
  prometheus::Counter* replayed_bytes = nullptr;     // Sent while a backlog was on disk.
  prometheus::Histogram* request_duration = nullptr;
  prometheus::Counter* bytes_sent = nullptr;
  prometheus::Gauge* highest_sent_timestamp = nullptr;
};

// Registers the families; prometheus-cpp reports conflicts by throwing.
Metrics RegisterMetrics(prometheus::Registry& registry, const std::string& remote_name) {
  const prometheus::Labels remote{{"remote_name", remote_name}};
  auto with = [&remote](const char* name, const std::string& value) {
    prometheus::Labels labels = remote;
    labels.emplace(name, value);
    return labels;
  };
  Metrics m;
  m.samples_sent = &prometheus::BuildCounter()
                        .Name("tender_remote_write_samples_sent_total")
                        .Help("Samples acknowledged by the remote-write receiver (2xx).")
                        .Register(registry)
                        .Add(remote);
  m.samples_retried = &prometheus::BuildCounter()
                           .Name("tender_remote_write_samples_retried_total")
                           .Help("Samples in requests that failed and were scheduled again.")
                           .Register(registry)
                           .Add(remote);
  auto& dropped = prometheus::BuildCounter()
                      .Name("tender_remote_write_samples_dropped_total")
                      .Help(
                          "Samples given up on, by reason: rejected (non-retryable HTTP "
                          "status), shutdown (could not be written to disk at shutdown), "
                          "malformed (bad batch data), too_old (sample_age_limit), relabel "
                          "(dropped by write_relabel_configs).")
                      .Register(registry);
  m.dropped_too_old = &dropped.Add(with("reason", "too_old"));
  m.dropped_relabel = &dropped.Add(with("reason", "relabel"));
  m.replayed_bytes = &prometheus::BuildCounter()
                          .Name("tender_remote_write_replayed_bytes_total")
                          .Help(
                              "Compressed bytes sent while the destination had a backlog on "
                              "disk; its rate is the replay rate.")
                          .Register(registry)
                          .Add(remote);
  m.dropped_rejected = &dropped.Add(with("reason", "rejected"));
  m.dropped_shutdown = &dropped.Add(with("reason", "shutdown"));
  m.dropped_malformed = &dropped.Add(with("reason", "malformed"));
  m.requests = &prometheus::BuildCounter()
                    .Name("tender_remote_write_requests_total")
                    .Help("Remote-write HTTP attempts by status code (\"error\": no response).")
                    .Register(registry);
  m.request_duration =
      &prometheus::BuildHistogram()
           .Name("tender_remote_write_request_duration_seconds")
           .Help("Duration of one remote-write HTTP attempt.")
           .Register(registry)
           .Add(remote, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                0.5, 1, 2.5, 5, 10, 30, 60});
  m.bytes_sent = &prometheus::BuildCounter()
                      .Name("tender_remote_write_bytes_sent_total")
                      .Help("Compressed request bytes acknowledged by the receiver.")
                      .Register(registry)
                      .Add(remote);
  m.queue_samples = &prometheus::BuildGauge()
                         .Name("tender_remote_write_queue_samples")
                         .Help("Samples accepted by a shard and not yet sent or dropped.")
                         .Register(registry);
  m.highest_sent_timestamp =
      &prometheus::BuildGauge()
           .Name("tender_remote_write_highest_sent_timestamp_seconds")
           .Help("Newest sample timestamp of batches completely acknowledged by the receiver.")
           .Register(registry)
           .Add(remote);
  return m;
}

std::string Itoa(int64_t v) { return absl::StrCat(v); }

}  // namespace

// State shared by the exporter and its shards; immutable after construction except where
// noted.
struct ExporterShared {
  config::RemoteWriteConfig config;
  std::string user_agent;
  RetryPolicy policy;
  uint32_t max_samples_per_send;
  absl::Duration batch_send_deadline;
  absl::Duration sample_age_limit;
  int64_t replay_bytes_per_second;                     // 0 = no cap.
  std::unique_ptr<prometheus::Registry> own_registry;  // When Settings::registry is null.
  Metrics metrics;
  log::Throttle dropped_log{absl::Seconds(10)};
  log::Throttle retry_log{absl::Seconds(10)};
  log::Throttle malformed_log{absl::Seconds(10)};
  log::Throttle old_log{absl::Minutes(1)};

  std::mutex pace_mu;  // Covers pace_next.
  absl::Time pace_next = absl::InfinitePast();

  std::mutex highest_mu;  // Covers highest_sent_ms and the order of gauge updates.
  int64_t highest_sent_ms = std::numeric_limits<int64_t>::min();

  ExporterShared(const config::RemoteWriteConfig& c, std::string agent)
      : config(c),
        user_agent(std::move(agent)),
        policy(c.queue_config),
        max_samples_per_send(
            static_cast<uint32_t>(std::max(1, c.queue_config.max_samples_per_send))),
        batch_send_deadline(c.queue_config.batch_send_deadline),
        sample_age_limit(c.queue_config.sample_age_limit),
        replay_bytes_per_second(0) {}

  // Token bucket of the replay byte-rate cap, shared by the shards: reserves `bytes` and
  // returns how long the caller must wait before sending them.
  absl::Duration ReserveReplayBytes(size_t bytes) {
    if (replay_bytes_per_second <= 0) return absl::ZeroDuration();
    std::lock_guard<std::mutex> lock(pace_mu);
    const absl::Time now = absl::Now();
    // At most one second of unused allowance is kept, so an idle period allows a short burst.
    pace_next = std::max(pace_next, now - absl::Seconds(1));
    const absl::Time at = pace_next;
    pace_next +=
        absl::Seconds(static_cast<double>(bytes) / static_cast<double>(replay_bytes_per_second));
    return at - now;
  }

  void UpdateHighestSent(int64_t timestamp_ms) {
    std::lock_guard<std::mutex> lock(highest_mu);
    if (timestamp_ms > highest_sent_ms) {
      highest_sent_ms = timestamp_ms;
      metrics.highest_sent_timestamp->Set(static_cast<double>(timestamp_ms) / 1000.0);
    }
  }
};

// One shard: its disk-backed queue and the thread that sends it, one request at a time.
// Batches are removed from the queue only once the receiver has answered for them, so what a
// shutdown or a crash interrupts is sent again after the restart (DESIGN decision 8).
// Enqueue: any thread. Start/BeginDrain/WaitFinished/Abort/Join/Flush: the exporter's owner.
class ShardSender {
 public:
  ShardSender(int index, ExporterShared* shared, std::unique_ptr<queue::ShardQueue> q)
      : index_(index),
        shared_(shared),
        queue_(std::move(q)),
        queue_gauge_(&shared->metrics.queue_samples->Add(
            {{"remote_name", shared->config.name}, {"shard", Itoa(index)}})),
        builder_(shared->max_samples_per_send) {
    queue_gauge_->Set(static_cast<double>(queue_->samples()));
  }

  // Starts the sender thread. `poster` must outlive Join.
  absl::Status Start(HttpPoster* poster) {
    poster_ = poster;
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("starting shard thread: ", e.what()));
    }
    return absl::OkStatus();
  }

  // Never blocks on the receiver: over the memory budget, the queue spills to disk.
  void Enqueue(model::SeriesBatch&& batch) {
    queue_->Push(std::move(batch));
    queue_gauge_->Set(static_cast<double>(queue_->samples()));
  }

  // Stops waiting for full requests; the thread sends what is queued and exits when the queue
  // is empty (or at Abort: what is left stays queued, for the next start).
  void BeginDrain() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_ = true;
    }
    queue_->Wake();
    cv_.notify_all();
  }

  void WaitFinished(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, until, [this] { return finished_ || !thread_.joinable(); });
  }

  // Gives up: interrupts backoff waits and cancels the request in flight (its batches stay
  // queued).
  void Abort() {
    cancel_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    queue_->Wake();
    cv_.notify_all();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // Writes what is in memory to disk. Returns the samples that could not be written.
  int64_t Flush(absl::Duration deadline) {
    const absl::Status status = queue_->Flush(deadline);
    const int64_t left = static_cast<int64_t>(queue_->samples());
    queue_gauge_->Set(static_cast<double>(left));
    if (status.ok()) return 0;
    log::Error(kComponent, "cannot write the queue to disk at shutdown",
               {{"remote_name", shared_->config.name},
                {"shard", Itoa(index_)},
                {"error", FromAbsl(status.message())}});
    return static_cast<int64_t>(queue_->memory_samples());  // Lost with the process.
  }

  queue::ShardQueue& queue() { return *queue_; }

 private:
  enum class SendResult { kDone, kStopped };

  void Run() {
    const size_t max = shared_->max_samples_per_send;
    std::vector<queue::SharedBatch> batches;
    std::optional<absl::Time> waiting_since;
    while (true) {
      bool draining = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (abort_) break;
        draining = draining_;
      }
      // Wait (without reading the queue) for something to send, then for a full request but
      // not longer than batch_send_deadline. A drain's Wake ends either wait; the loop then
      // sees draining_.
      const size_t queued = queue_->samples();
      if (queued == 0) {
        waiting_since.reset();
        if (draining) break;
        queue_->WaitForSamples(1, absl::Seconds(1));
        continue;
      }
      if (!draining && queued < max) {
        const absl::Time now = absl::Now();
        if (!waiting_since.has_value()) waiting_since = now;
        const absl::Duration left = *waiting_since + shared_->batch_send_deadline - now;
        if (left > absl::ZeroDuration()) {
          queue_->WaitForSamples(max, left);
          continue;
        }
      }
      const std::optional<uint64_t> last =
          queue_->PeekMany(max, kMaxBatchesPerPeek, &batches, absl::ZeroDuration());
      if (!last.has_value()) continue;  // Dropped by a bound meanwhile.
      waiting_since.reset();
      if (SendBatches(batches) == SendResult::kStopped) break;
      // Let go of the sent batches now rather than at the next peek: the queue no longer
      // holds them, so this frees them while the shard waits.
      batches.clear();
      queue_->PopThrough(*last);
      queue_gauge_->Set(static_cast<double>(queue_->samples()));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }

  // Sends `batches` in requests of up to max_samples_per_send. kStopped when the shard was
  // aborted: the batches stay queued.
  SendResult SendBatches(const std::vector<queue::SharedBatch>& peeked) {
    const bool backlog = queue_->disk_bytes() > 0;
    std::vector<const model::SeriesBatch*>* batches = &to_send_;
    to_send_.clear();
    for (const queue::SharedBatch& b : peeked) to_send_.push_back(b.get());
    // Batches older than sample_age_limit are not sent: the receiver would reject them.
    if (shared_->sample_age_limit > absl::ZeroDuration()) {
      const int64_t cutoff = absl::ToUnixMillis(absl::Now() - shared_->sample_age_limit);
      int64_t too_old = 0;
      for (const model::SeriesBatch*& b : to_send_) {
        if (b->samples > 0 && b->max_timestamp_ms < cutoff) {
          too_old += b->samples;
          b = &kEmptyBatch;
        }
      }
      if (too_old > 0) {
        shared_->metrics.dropped_too_old->Increment(static_cast<double>(too_old));
        if (uint64_t suppressed = 0; shared_->dropped_log.Allow(&suppressed)) {
          log::Warn(kComponent, "dropping samples older than sample_age_limit",
                    {{"remote_name", shared_->config.name},
                     {"samples", Itoa(too_old)},
                     {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
        }
      }
    }
    // A Prometheus receiver without an out-of-order window rejects samples more than about an
    // hour behind its newest one; say so before sending such a backlog.
    if (backlog && !batches->empty() && batches->front()->samples > 0 &&
        batches->front()->min_timestamp_ms < absl::ToUnixMillis(absl::Now() - absl::Hours(1))) {
      if (uint64_t suppressed = 0; shared_->old_log.Allow(&suppressed)) {
        log::Warn(
            kComponent,
            "replaying samples older than 1h: a Prometheus receiver accepts them only "
            "within its out_of_order_time_window (set queue_config.sample_age_limit to "
            "drop them instead)",
            {{"remote_name", shared_->config.name},
             {"oldest", absl::FormatTime(absl::FromUnixMillis(batches->front()->min_timestamp_ms))},
             {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
      }
    }
    size_t i = 0;
    size_t offset = 0;
    uint32_t taken = 0;
    while (i < batches->size()) {
      builder_.Clear();
      int64_t malformed = 0;
      int64_t completed_max_ts = std::numeric_limits<int64_t>::min();
      while (i < batches->size() && !builder_.full()) {
        const model::SeriesBatch& b = *(*batches)[i];
        const RequestBuilder::AppendResult r = builder_.Append(b, taken, &offset);
        taken += r.entries;
        if (!r.malformed && offset < b.data.size()) break;  // Request full.
        if (taken < b.samples) {
          malformed += b.samples - taken;
        } else {
          completed_max_ts = std::max(completed_max_ts, b.max_timestamp_ms);
        }
        ++i;
        offset = 0;
        taken = 0;
      }
      if (malformed > 0) {
        shared_->metrics.dropped_malformed->Increment(static_cast<double>(malformed));
        if (uint64_t suppressed = 0; shared_->malformed_log.Allow(&suppressed)) {
          log::Error(kComponent, "dropping malformed batch data",
                     {{"remote_name", shared_->config.name},
                      {"samples", Itoa(malformed)},
                      {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
        }
      }
      const int64_t n = builder_.samples();
      if (n == 0) continue;
      const std::string_view body = builder_.Compress();
      if (backlog && !Pace(body.size())) return SendResult::kStopped;
      if (Send(body, n, completed_max_ts) == SendResult::kStopped) {
        return SendResult::kStopped;
      }
      if (backlog) shared_->metrics.replayed_bytes->Increment(static_cast<double>(body.size()));
    }
    return SendResult::kDone;
  }

  // Waits for the replay byte-rate cap; false when aborted meanwhile.
  bool Pace(size_t bytes) {
    const absl::Duration wait = shared_->ReserveReplayBytes(bytes);
    if (wait <= absl::ZeroDuration()) return true;
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, ToChrono(wait), [this] { return abort_; });
  }

  SendResult Send(std::string_view body, int64_t samples, int64_t completed_max_ts) {
    Metrics& m = shared_->metrics;
    absl::Duration backoff = absl::ZeroDuration();
    for (int attempt = 1;; ++attempt) {
      const absl::Time start = absl::Now();
      const PostResponse response = poster_->Post(PostRequest{index_, body, attempt - 1, &cancel_});
      const absl::Time end = absl::Now();
      if (response.status == 0 && cancel_.load(std::memory_order_relaxed)) {
        return SendResult::kStopped;
      }
      m.request_duration->Observe(absl::ToDoubleSeconds(end - start));
      RequestCounter(response.status).Increment();

      RetryInput input;
      input.http_status = response.status;
      input.retry_after = response.retry_after;
      input.now = end;
      input.attempt = attempt;
      input.previous_backoff = backoff;
      input.jitter = absl::Uniform(rng_, 0.0, 1.0);
      const RetryDecision decision = shared_->policy.Decide(input);
      switch (decision.action) {
        case RetryDecision::Action::kSuccess:
          m.samples_sent->Increment(static_cast<double>(samples));
          m.bytes_sent->Increment(static_cast<double>(body.size()));
          if (completed_max_ts != std::numeric_limits<int64_t>::min()) {
            shared_->UpdateHighestSent(completed_max_ts);
          }
          return SendResult::kDone;
        case RetryDecision::Action::kDrop:
          m.dropped_rejected->Increment(static_cast<double>(samples));
          if (uint64_t suppressed = 0; shared_->dropped_log.Allow(&suppressed)) {
            log::Warn(kComponent, "receiver rejected request; dropping its samples",
                      {{"remote_name", shared_->config.name},
                       {"status", Itoa(response.status)},
                       {"samples", Itoa(samples)},
                       {"response", response.body},
                       {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
          }
          return SendResult::kDone;
        case RetryDecision::Action::kRetry:
          break;
      }
      m.samples_retried->Increment(static_cast<double>(samples));
      backoff = decision.backoff;
      if (uint64_t suppressed = 0; shared_->retry_log.Allow(&suppressed)) {
        log::Warn(kComponent, "request failed; retrying",
                  {{"remote_name", shared_->config.name},
                   {"status", Itoa(response.status)},
                   {"error", response.error},
                   {"response", response.body},
                   {"attempt", Itoa(attempt)},
                   {"delay", absl::FormatDuration(decision.delay)},
                   {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
      }
      // Retries go on while draining; Abort (the end of the drain) leaves the batches in the
      // queue, to be written to disk and sent after the restart.
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, ToChrono(decision.delay), [this] { return abort_; })) {
        return SendResult::kStopped;
      }
    }
  }

  prometheus::Counter& RequestCounter(int status) {
    auto it = request_counters_.find(status);
    if (it == request_counters_.end()) {
      const std::string code = status == 0 ? "error" : Itoa(status);
      prometheus::Counter& counter =
          shared_->metrics.requests->Add({{"remote_name", shared_->config.name}, {"code", code}});
      it = request_counters_.emplace(status, &counter).first;
    }
    return *it->second;
  }

  // Enough batches per peek to fill a request of small scrapes without reading far ahead.
  static constexpr size_t kMaxBatchesPerPeek = 256;

  const int index_;
  ExporterShared* const shared_;
  const std::unique_ptr<queue::ShardQueue> queue_;
  prometheus::Gauge* const queue_gauge_;
  std::thread thread_;
  HttpPoster* poster_ = nullptr;
  std::atomic<bool> cancel_{false};  // Set by Abort; read by the poster during a request.

  // mu_ covers the flags below. It is a leaf lock.
  mutable std::mutex mu_;
  std::condition_variable cv_;  // Drain, abort, finished.
  bool draining_ = false;
  bool abort_ = false;
  bool finished_ = false;

  // Sender thread only.
  RequestBuilder builder_;
  std::vector<const model::SeriesBatch*> to_send_;  // The peeked batches that are sent.
  // Stands in for a batch that is not sent (too old).
  static inline const model::SeriesBatch kEmptyBatch{};
  absl::BitGen rng_;
  absl::flat_hash_map<int, prometheus::Counter*> request_counters_;
};

}  // namespace internal

int RemoteWriteExporter::ShardCount(const config::QueueConfig& queue) {
  const int lo = std::max(1, queue.min_shards);
  const int hi = std::max(lo, queue.max_shards);
  return std::clamp(internal::kDefaultShards, lo, hi);
}

RemoteWriteExporter::RemoteWriteExporter(Settings settings) : poster_(std::move(settings.poster)) {
  std::string agent = settings.user_agent.empty() ? std::string("tender/" TENDER_VERSION)
                                                  : std::move(settings.user_agent);
  shared_ = std::make_unique<internal::ExporterShared>(settings.config, std::move(agent));
  shared_->replay_bytes_per_second = settings.storage.replay_bytes_per_second;
  prometheus::Registry* registry = settings.registry;
  try {
    if (registry == nullptr) {
      shared_->own_registry = std::make_unique<prometheus::Registry>();
      registry = shared_->own_registry.get();
    }
    shared_->metrics = internal::RegisterMetrics(*registry, shared_->config.name);
  } catch (const std::exception& e) {
    // A name clash in the caller's registry: keep working with private metrics.
    log::Error(internal::kComponent, "cannot register self metrics; using a private registry",
               {{"remote_name", shared_->config.name}, {"error", e.what()}});
    shared_->own_registry = std::make_unique<prometheus::Registry>();
    registry = shared_->own_registry.get();
    shared_->metrics = internal::RegisterMetrics(*registry, shared_->config.name);
  }
  absl::StatusOr<relabel::Relabeler> rules =
      relabel::Relabeler::Compile(shared_->config.write_relabel_configs);
  if (rules.ok()) {
    write_relabel_ = std::move(*rules);
  } else {
    init_status_ = rules.status();
  }
  if (settings.queue_dir.empty()) {
    init_status_ = absl::InvalidArgumentError("remote-write exporter: queue_dir is empty");
  }
  const int n = ShardCount(shared_->config.queue_config);
  const int64_t memory = std::max<int64_t>(settings.storage.memory_bytes, 0) / n;
  const int64_t disk = std::max<int64_t>(settings.max_disk_bytes, 0) / n;
  shards_.reserve(n);
  for (int i = 0; i < n; ++i) {
    queue::QueueOptions options;
    options.dir =
        settings.queue_dir.empty() ? std::string() : absl::StrCat(settings.queue_dir, "/", i);
    options.memory_budget_bytes = memory;
    options.max_disk_bytes = disk;
    options.max_age = settings.storage.max_age;
    // The bound drops whole segments, so a segment is a small part of it (1/16: at most about
    // 6% of the bound goes at once).
    options.segment_bytes =
        disk > 0 ? std::clamp<int64_t>(disk / 16, 4 << 10, 64 << 20) : int64_t{64} << 20;
    absl::StatusOr<std::unique_ptr<queue::ShardQueue>> q =
        options.dir.empty() ? absl::InvalidArgumentError("no queue directory")
                            : queue::ShardQueue::Open(options, registry,
                                                      {{"remote_name", shared_->config.name},
                                                       {"shard", internal::Itoa(i)}});
    if (!q.ok()) {
      if (init_status_.ok()) init_status_ = q.status();
      // A memory-only queue under a path that is never created keeps Consume working.
      options.dir = absl::StrCat("/nonexistent/tender-queue/", i);
      options.max_disk_bytes = 0;
      q = queue::ShardQueue::Open(options, nullptr, {});
    }
    shards_.push_back(std::make_unique<internal::ShardSender>(i, shared_.get(), std::move(*q)));
  }
  size_t backlog = 0;
  for (auto& shard : shards_) backlog += shard->queue().samples();
  if (backlog > 0) {
    log::Info(internal::kComponent, "replaying queued samples before new ones",
              {{"remote_name", shared_->config.name},
               {"samples", internal::Itoa(static_cast<int64_t>(backlog))}});
  }
}

RemoteWriteExporter::~RemoteWriteExporter() { Shutdown(absl::ZeroDuration()); }

absl::Status RemoteWriteExporter::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("remote-write exporter already started or shut down");
  }
  RETURN_IF_ERROR(init_status_);
  if (poster_ == nullptr) {
    ASSIGN_OR_RETURN(std::unique_ptr<CurlHttpPoster> curl,
                     CurlHttpPoster::Create(shared_->config, shared_->user_agent, shards()));
    poster_ = std::move(curl);
  }
  state_ = State::kRunning;
  for (auto& shard : shards_) {
    RETURN_IF_ERROR(shard->Start(poster_.get()));
  }
  log::Info(internal::kComponent, "remote write started",
            {{"remote_name", shared_->config.name},
             {"url", shared_->config.url},
             {"shards", internal::Itoa(shards())}});
  return absl::OkStatus();
}

void RemoteWriteExporter::Shutdown(absl::Duration deadline) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ == State::kStopped) {
    return;
  }
  state_ = State::kStopped;
  // Half of the deadline for sending what is queued while the receiver takes it; the rest,
  // and at least a second, for writing what is left in memory to disk.
  const absl::Time start = absl::Now();
  const internal::Clock::time_point until =
      internal::Clock::now() + internal::ToChrono(deadline / 2);
  stopped_.store(true);
  for (auto& shard : shards_) shard->BeginDrain();
  for (auto& shard : shards_) shard->WaitFinished(until);
  for (auto& shard : shards_) shard->Abort();
  for (auto& shard : shards_) shard->Join();
  const absl::Duration flush = std::max(absl::Seconds(1), deadline - (absl::Now() - start));
  int64_t lost = 0;
  size_t queued = 0;
  for (auto& shard : shards_) {
    lost += shard->Flush(flush);
    queued += shard->queue().samples();
  }
  if (lost > 0) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(lost));
    log::Error(internal::kComponent, "queued samples could not be written to disk at shutdown",
               {{"remote_name", shared_->config.name}, {"samples", internal::Itoa(lost)}});
  }
  if (queued > 0) {
    log::Info(internal::kComponent, "unsent samples kept on disk for the next start",
              {{"remote_name", shared_->config.name},
               {"samples", internal::Itoa(static_cast<int64_t>(queued))}});
  }
}

void RemoteWriteExporter::Consume(model::SeriesBatch&& batch) {
  if (batch.samples == 0) {
    return;
  }
  if (stopped_.load(std::memory_order_relaxed)) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(batch.samples));
    return;
  }
  if (!write_relabel_.empty()) {
    WriteRelabeler relabeler(&write_relabel_);
    const WriteRelabeler::Result r = relabeler.Apply(&batch);
    if (r.dropped > 0) shared_->metrics.dropped_relabel->Increment(r.dropped);
    if (r.malformed > 0) shared_->metrics.dropped_malformed->Increment(r.malformed);
    if (batch.samples == 0) return;
  }
  const size_t shard = batch.shard_key % shards_.size();
  shards_[shard]->Enqueue(std::move(batch));
}

size_t RemoteWriteExporter::queued_samples() const {
  size_t n = 0;
  for (const auto& shard : shards_) n += shard->queue().samples();
  return n;
}

}  // namespace tender::remote_write
