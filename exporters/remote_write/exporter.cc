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
#include <system_error>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "exporters/remote_write/curl_poster.h"
#include "exporters/remote_write/request_builder.h"
#include "exporters/remote_write/retry_policy.h"

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
                          "status), shutdown (drain deadline), malformed (bad batch data).")
                      .Register(registry);
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
  int64_t capacity;
  Clock::duration batch_send_deadline;
  std::unique_ptr<prometheus::Registry> own_registry;  // When Settings::registry is null.
  Metrics metrics;
  log::Throttle dropped_log{absl::Seconds(10)};
  log::Throttle retry_log{absl::Seconds(10)};
  log::Throttle malformed_log{absl::Seconds(10)};

  std::mutex highest_mu;  // Covers highest_sent_ms and the order of gauge updates.
  int64_t highest_sent_ms = std::numeric_limits<int64_t>::min();

  ExporterShared(const config::RemoteWriteConfig& c, std::string agent)
      : config(c),
        user_agent(std::move(agent)),
        policy(c.queue_config),
        max_samples_per_send(
            static_cast<uint32_t>(std::max(1, c.queue_config.max_samples_per_send))),
        capacity(std::max(1, c.queue_config.capacity)),
        batch_send_deadline(ToChrono(c.queue_config.batch_send_deadline)) {}

  void UpdateHighestSent(int64_t timestamp_ms) {
    std::lock_guard<std::mutex> lock(highest_mu);
    if (timestamp_ms > highest_sent_ms) {
      highest_sent_ms = timestamp_ms;
      metrics.highest_sent_timestamp->Set(static_cast<double>(timestamp_ms) / 1000.0);
    }
  }
};

// One FIFO of batches and the thread that sends it, one request at a time.
// Enqueue: any thread. BeginDrain/WaitFinished/Abort/Join/Start: the exporter's owner thread.
class ShardSender {
 public:
  ShardSender(int index, ExporterShared* shared)
      : index_(index),
        shared_(shared),
        queue_gauge_(&shared->metrics.queue_samples->Add(
            {{"remote_name", shared->config.name}, {"shard", Itoa(index)}})),
        builder_(shared->max_samples_per_send) {}

  // Starts the sender thread. `poster` must outlive Join.
  absl::Status Start(HttpPoster* poster) {
    poster_ = poster;
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("starting shard thread: ", e.what()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    return absl::OkStatus();
  }

  void Enqueue(model::SeriesBatch&& batch) {
    const int64_t n = batch.samples;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [this] { return HasRoomOrStoppingLocked(); });
      if (!finished_) {
        queue_.push_back(Queued{std::move(batch), Clock::now()});
        queued_samples_ += n;
        unsent_samples_ += n;
        queue_gauge_->Set(static_cast<double>(queued_samples_));
        lock.unlock();
        work_cv_.notify_one();
        return;
      }
    }
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(n));
  }

  // Stops waiting for full requests; the thread exits once everything queued is finished.
  void BeginDrain() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_ = true;
      if (!started_) {
        finished_ = true;  // No thread: nothing will send what was queued before Start.
      }
    }
    work_cv_.notify_all();
    space_cv_.notify_all();
  }

  void WaitFinished(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    space_cv_.wait_until(lock, until, [this] { return finished_; });
  }

  // Gives up: interrupts backoff waits and cancels the request in flight.
  void Abort() {
    cancel_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    work_cv_.notify_all();
  }

  // Joins the thread and counts what was never sent as dropped. Returns the number of samples
  // this shard dropped because of the shutdown.
  int64_t Join() {
    if (thread_.joinable()) {
      thread_.join();
    }
    pending_.clear();
    int64_t left = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
      left = queued_samples_;
      queued_samples_ = 0;
      unsent_samples_ = 0;
      queue_.clear();
      queue_gauge_->Set(0);
    }
    if (left > 0) {
      shared_->metrics.dropped_shutdown->Increment(static_cast<double>(left));
    }
    return left + aborted_in_flight_;
  }

 private:
  struct Queued {
    model::SeriesBatch batch;
    Clock::time_point arrival;
    size_t offset = 0;   // Bytes of batch.data already put into requests.
    uint32_t taken = 0;  // Entries already put into requests.
  };

  // Predicates for the condition variables; mu_ must be held.
  bool HasRoomOrStoppingLocked() const {
    return queued_samples_ < shared_->capacity || draining_ || finished_;
  }
  bool HasWorkOrStoppingLocked() const { return unsent_samples_ > 0 || draining_ || abort_; }
  bool FullOrStoppingLocked() const {
    return unsent_samples_ >= shared_->max_samples_per_send || draining_ || abort_;
  }

  // Arrival time of the oldest sample not yet in a request. Requires unsent_samples_ > 0.
  Clock::time_point OldestArrivalLocked() const {
    if (!pending_.empty()) {
      return pending_.front().arrival;
    }
    return queue_.empty() ? Clock::now() : queue_.front().arrival;
  }

  // Waits until a request should be sent: a full one is queued, the oldest sample has waited
  // batch_send_deadline, or a drain wants everything now. Returns false, marking the shard
  // finished, when it should stop instead (abort, or drained).
  bool WaitForRequestLocked(std::unique_lock<std::mutex>& lock) {
    while (true) {
      if (abort_ || (draining_ && unsent_samples_ == 0)) {
        finished_ = true;
        lock.unlock();
        space_cv_.notify_all();  // WaitFinished, and producers that must now drop.
        lock.lock();
        return false;
      }
      if (unsent_samples_ == 0) {
        work_cv_.wait(lock, [this] { return HasWorkOrStoppingLocked(); });
        continue;
      }
      if (unsent_samples_ >= shared_->max_samples_per_send || draining_) {
        return true;
      }
      const Clock::time_point flush_at = OldestArrivalLocked() + shared_->batch_send_deadline;
      if (!work_cv_.wait_until(lock, flush_at, [this] { return FullOrStoppingLocked(); })) {
        return true;  // Deadline: send what we have.
      }
    }
  }

  void Run() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!WaitForRequestLocked(lock)) {
          break;
        }
        while (!queue_.empty()) {
          pending_.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      SendNextRequest();
    }
  }

  // Builds one request from the front of pending_ and sends it until it succeeds, is
  // rejected, or the shard is aborted.
  void SendNextRequest() {
    builder_.Clear();
    int64_t malformed = 0;
    int64_t completed_max_ts = std::numeric_limits<int64_t>::min();
    while (!pending_.empty() && !builder_.full()) {
      Queued& q = pending_.front();
      const RequestBuilder::AppendResult r =
          builder_.Append(q.batch.data, q.batch.samples - q.taken, &q.offset);
      q.taken += r.entries;
      if (!r.malformed && q.offset < q.batch.data.size()) {
        break;  // Request full; the rest of this batch goes into the next one.
      }
      if (q.taken < q.batch.samples) {
        malformed += q.batch.samples - q.taken;
      } else {
        completed_max_ts = std::max(completed_max_ts, q.batch.max_timestamp_ms);
      }
      pending_.pop_front();
    }
    const int64_t n = builder_.samples();
    {
      std::lock_guard<std::mutex> lock(mu_);
      unsent_samples_ -= n + malformed;
      queued_samples_ -= malformed;
    }
    if (malformed > 0) {
      space_cv_.notify_all();
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
    if (n > 0) {
      Send(builder_.Compress(), n, completed_max_ts);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued_samples_ -= n;
      queue_gauge_->Set(static_cast<double>(queued_samples_));
    }
    space_cv_.notify_all();
  }

  void Send(std::string_view body, int64_t samples, int64_t completed_max_ts) {
    Metrics& m = shared_->metrics;
    absl::Duration backoff = absl::ZeroDuration();
    for (int attempt = 1;; ++attempt) {
      const absl::Time start = absl::Now();
      const PostResponse response = poster_->Post(PostRequest{index_, body, attempt - 1, &cancel_});
      const absl::Time end = absl::Now();
      if (response.status == 0 && cancel_.load(std::memory_order_relaxed)) {
        DropForShutdown(samples);
        return;
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
          return;
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
          return;
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
      std::unique_lock<std::mutex> lock(mu_);
      if (work_cv_.wait_for(lock, ToChrono(decision.delay), [this] { return abort_; })) {
        lock.unlock();
        DropForShutdown(samples);
        return;
      }
    }
  }

  void DropForShutdown(int64_t samples) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(samples));
    aborted_in_flight_ += samples;
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

  const int index_;
  ExporterShared* const shared_;
  prometheus::Gauge* const queue_gauge_;
  std::thread thread_;
  HttpPoster* poster_ = nullptr;
  std::atomic<bool> cancel_{false};  // Set by Abort; read by the poster during a request.

  // mu_ covers the fields below it up to pending_. Lock order: mu_ is a leaf (nothing else is
  // locked while holding it, except the metrics' own internal locks).
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // To the sender: new work, drain, abort.
  std::condition_variable space_cv_;  // To producers and Shutdown: room freed, finished.
  std::deque<Queued> queue_;          // Handed over, not yet seen by the thread.
  int64_t queued_samples_ = 0;        // Accepted, not yet sent or dropped.
  int64_t unsent_samples_ = 0;        // Accepted, not yet in a request.
  bool started_ = false;
  bool draining_ = false;
  bool abort_ = false;
  bool finished_ = false;  // No more sending; Enqueue drops.

  // Sender thread only (OldestArrivalLocked reads pending_ from that thread too).
  std::deque<Queued> pending_;
  RequestBuilder builder_;
  absl::BitGen rng_;
  absl::flat_hash_map<int, prometheus::Counter*> request_counters_;
  int64_t aborted_in_flight_ = 0;  // Samples of requests given up at the deadline.
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
    shared_->metrics = internal::RegisterMetrics(*shared_->own_registry, shared_->config.name);
  }
  const int n = ShardCount(shared_->config.queue_config);
  shards_.reserve(n);
  for (int i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<internal::ShardSender>(i, shared_.get()));
  }
}

RemoteWriteExporter::~RemoteWriteExporter() { Shutdown(absl::ZeroDuration()); }

absl::Status RemoteWriteExporter::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("remote-write exporter already started or shut down");
  }
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
  const internal::Clock::time_point until = internal::Clock::now() + internal::ToChrono(deadline);
  for (auto& shard : shards_) {
    shard->BeginDrain();
  }
  for (auto& shard : shards_) {
    shard->WaitFinished(until);
  }
  for (auto& shard : shards_) {
    shard->Abort();
  }
  int64_t dropped = 0;
  for (auto& shard : shards_) {
    dropped += shard->Join();
  }
  if (dropped > 0) {
    log::Warn(internal::kComponent, "shutdown deadline passed; unsent samples dropped",
              {{"remote_name", shared_->config.name}, {"samples", internal::Itoa(dropped)}});
  }
}

void RemoteWriteExporter::Consume(model::SeriesBatch&& batch) {
  if (batch.samples == 0) {
    return;
  }
  const size_t shard = batch.shard_key % shards_.size();
  shards_[shard]->Enqueue(std::move(batch));
}

}  // namespace tender::remote_write
