#include "exporters/loki/exporter.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/series_batch.h"
#include "collector/model/status_macros.h"
#include "exporters/loki/push_encoder.h"
#include "exporters/queue/shard_queue.h"
#include "exporters/remote_write/curl_poster.h"
#include "exporters/remote_write/request_builder.h"
#include "exporters/remote_write/retry_policy.h"

#ifndef TENDER_VERSION
#define TENDER_VERSION "dev"
#endif

namespace tender::loki {
namespace internal {
namespace {

constexpr std::string_view kComponent = "loki";
using Clock = std::chrono::steady_clock;

// Streams count towards tender_loki_streams for this long after their last batch.
constexpr absl::Duration kStreamIdle = absl::Hours(1);

Clock::duration ToChrono(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365));
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

std::string Itoa(int64_t v) { return absl::StrCat(v); }

struct Metrics {
  prometheus::Counter* entries_sent = nullptr;
  prometheus::Counter* bytes_sent = nullptr;
  prometheus::Counter* entries_retried = nullptr;
  prometheus::Counter* dropped_rejected = nullptr;
  prometheus::Counter* dropped_shutdown = nullptr;
  prometheus::Counter* dropped_malformed = nullptr;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Gauge* streams = nullptr;
  prometheus::Gauge* queue_entries = nullptr;
};

Metrics RegisterMetrics(prometheus::Registry& registry, const std::string& name) {
  const prometheus::Labels base{{"loki_name", name}};
  auto with = [&base](const char* key, const std::string& value) {
    prometheus::Labels labels = base;
    labels.emplace(key, value);
    return labels;
  };
  Metrics m;
  m.entries_sent = &prometheus::BuildCounter()
                        .Name("tender_loki_entries_sent_total")
                        .Help("Log entries in requests Loki accepted (2xx).")
                        .Register(registry)
                        .Add(base);
  m.bytes_sent = &prometheus::BuildCounter()
                      .Name("tender_loki_bytes_sent_total")
                      .Help("Request body bytes (compressed for protobuf) Loki accepted.")
                      .Register(registry)
                      .Add(base);
  m.entries_retried = &prometheus::BuildCounter()
                           .Name("tender_loki_entries_retried_total")
                           .Help("Log entries in requests that failed and were sent again.")
                           .Register(registry)
                           .Add(base);
  auto& dropped = prometheus::BuildCounter()
                      .Name("tender_loki_entries_dropped_total")
                      .Help(
                          "Log entries given up on, by reason: rejected (Loki answered a "
                          "non-retryable 4xx), shutdown (could not be written to disk at "
                          "shutdown, or consumed after it), malformed (undecodable queue data).")
                      .Register(registry);
  m.dropped_rejected = &dropped.Add(with("reason", "rejected"));
  m.dropped_shutdown = &dropped.Add(with("reason", "shutdown"));
  m.dropped_malformed = &dropped.Add(with("reason", "malformed"));
  m.requests = &prometheus::BuildCounter()
                    .Name("tender_loki_requests_total")
                    .Help("Loki push attempts by status code (\"error\": no response).")
                    .Register(registry);
  m.streams = &prometheus::BuildGauge()
                   .Name("tender_loki_streams")
                   .Help("Streams (label sets) batched within the last hour.")
                   .Register(registry)
                   .Add(base);
  m.queue_entries = &prometheus::BuildGauge()
                         .Name("tender_loki_queue_entries")
                         .Help("Entries batched and not yet answered by Loki.")
                         .Register(registry)
                         .Add(base);
  return m;
}

}  // namespace

// State shared by the exporter and its sender; immutable after construction except the queue
// (thread-safe) and the metrics (thread-safe).
struct Shared {
  config::LokiConfig config;
  std::string user_agent;
  remote_write::RetryPolicy policy;
  std::unique_ptr<prometheus::Registry> own_registry;
  Metrics metrics;
  std::unique_ptr<queue::ShardQueue> queue;
  log::Throttle rejected_log{absl::Seconds(10)};
  log::Throttle retry_log{absl::Seconds(10)};
  log::Throttle malformed_log{absl::Seconds(10)};

  static config::QueueConfig Backoff(const config::LokiConfig& c) {
    config::QueueConfig q;
    q.min_backoff = c.min_backoff;
    q.max_backoff = c.max_backoff;
    q.retry_on_http_429 = true;  // Promtail's default: a rate limit slows us down.
    return q;
  }

  Shared(const config::LokiConfig& c, std::string agent)
      : config(c), user_agent(std::move(agent)), policy(Backoff(c)) {}

  void UpdateQueueGauge() { metrics.queue_entries->Set(static_cast<double>(queue->samples())); }
};

// The sender thread: takes the oldest queued batch, posts it until Loki answers, removes it.
// Start/BeginDrain/WaitFinished/Abort/Join: the exporter's owner thread.
class Sender {
 public:
  explicit Sender(Shared* shared) : shared_(shared) {}

  absl::Status Start(remote_write::HttpPoster* poster) {
    poster_ = poster;
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("starting loki sender: ", e.what()));
    }
    return absl::OkStatus();
  }

  void BeginDrain() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_ = true;
    }
    shared_->queue->Wake();
    cv_.notify_all();
  }

  void WaitFinished(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, until, [this] { return finished_ || !thread_.joinable(); });
  }

  void Abort() {
    cancel_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    shared_->queue->Wake();
    cv_.notify_all();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  enum class Result { kDone, kStopped };

  void Run() {
    model::SeriesBatch batch;
    while (true) {
      bool draining = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (abort_) break;
        draining = draining_;
      }
      if (!shared_->queue->Peek(&batch, draining ? absl::ZeroDuration() : absl::Seconds(1))) {
        // A drain that began during Peek used up its wake-up there: look again.
        std::lock_guard<std::mutex> lock(mu_);
        if (draining || abort_) break;
        continue;
      }
      if (Send(batch) == Result::kStopped) break;
      shared_->queue->Pop();
      shared_->UpdateQueueGauge();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }

  // Posts one queued batch: `data` is a PushRequest body (protobuf, first byte 0x0a) or a
  // JSON body (first byte '{'), `job` its tenant.
  Result Send(const model::SeriesBatch& batch) {
    Metrics& m = shared_->metrics;
    std::string_view body;
    headers_.clear();
    if (!batch.data.empty() && batch.data[0] == '{') {
      body = batch.data;
      headers_.push_back("Content-Type: application/json");
    } else if (!batch.data.empty() && batch.data[0] == '\x0a') {
      remote_write::SnappyCompress(batch.data, &compressed_);
      body = compressed_;
      headers_.push_back("Content-Type: application/x-protobuf");
    } else {
      m.dropped_malformed->Increment(batch.samples);
      if (uint64_t suppressed = 0; shared_->malformed_log.Allow(&suppressed)) {
        log::Error(kComponent, "dropping undecodable queued batch",
                   {{"loki_name", shared_->config.name},
                    {"entries", Itoa(batch.samples)},
                    {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
      }
      return Result::kDone;
    }
    if (!batch.job.empty()) headers_.push_back(absl::StrCat("X-Scope-OrgID: ", batch.job));
    absl::Duration backoff = absl::ZeroDuration();
    for (int attempt = 1;; ++attempt) {
      remote_write::PostRequest request{0, body, attempt - 1, &cancel_, &headers_};
      const remote_write::PostResponse response = poster_->Post(request);
      if (response.status == 0 && cancel_.load(std::memory_order_relaxed)) {
        return Result::kStopped;
      }
      RequestCounter(response.status).Increment();
      remote_write::RetryInput input;
      input.http_status = response.status;
      input.retry_after = response.retry_after;
      input.now = absl::Now();
      input.attempt = attempt;
      input.previous_backoff = backoff;
      input.jitter = absl::Uniform(rng_, 0.0, 1.0);
      const remote_write::RetryDecision decision = shared_->policy.Decide(input);
      using Action = remote_write::RetryDecision::Action;
      if (decision.action == Action::kSuccess) {
        m.entries_sent->Increment(batch.samples);
        m.bytes_sent->Increment(static_cast<double>(body.size()));
        return Result::kDone;
      }
      if (decision.action == Action::kDrop) {
        // Loki keeps the valid entries of a 400 (partial success); we cannot tell which, so
        // the whole batch is counted as rejected.
        m.dropped_rejected->Increment(batch.samples);
        if (uint64_t suppressed = 0; shared_->rejected_log.Allow(&suppressed)) {
          log::Warn(kComponent, "Loki rejected a batch; not retrying it",
                    {{"loki_name", shared_->config.name},
                     {"tenant", batch.job},
                     {"status", Itoa(response.status)},
                     {"entries", Itoa(batch.samples)},
                     {"response", response.body},
                     {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
        }
        return Result::kDone;
      }
      m.entries_retried->Increment(batch.samples);
      backoff = decision.backoff;
      if (uint64_t suppressed = 0; shared_->retry_log.Allow(&suppressed)) {
        log::Warn(kComponent, "push failed; retrying",
                  {{"loki_name", shared_->config.name},
                   {"status", Itoa(response.status)},
                   {"error", response.error},
                   {"response", response.body},
                   {"attempt", Itoa(attempt)},
                   {"delay", absl::FormatDuration(decision.delay)},
                   {"suppressed", Itoa(static_cast<int64_t>(suppressed))}});
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, ToChrono(decision.delay), [this] { return abort_; })) {
        return Result::kStopped;
      }
    }
  }

  prometheus::Counter& RequestCounter(int status) {
    auto it = request_counters_.find(status);
    if (it == request_counters_.end()) {
      const std::string code = status == 0 ? "error" : Itoa(status);
      prometheus::Counter& counter =
          shared_->metrics.requests->Add({{"loki_name", shared_->config.name}, {"code", code}});
      it = request_counters_.emplace(status, &counter).first;
    }
    return *it->second;
  }

  Shared* const shared_;
  std::thread thread_;
  remote_write::HttpPoster* poster_ = nullptr;
  std::atomic<bool> cancel_{false};  // Set by Abort; read by the poster during a request.

  // mu_ covers the flags below; a leaf lock.
  std::mutex mu_;
  std::condition_variable cv_;
  bool draining_ = false;
  bool abort_ = false;
  bool finished_ = false;

  // Sender thread only.
  std::string compressed_;
  std::vector<std::string> headers_;
  absl::BitGen rng_;
  absl::flat_hash_map<int, prometheus::Counter*> request_counters_;
};

}  // namespace internal

LokiExporter::LokiExporter(Settings settings) : poster_(std::move(settings.poster)) {
  std::string agent = settings.user_agent.empty() ? std::string("tender/" TENDER_VERSION)
                                                  : std::move(settings.user_agent);
  shared_ = std::make_unique<internal::Shared>(settings.config, std::move(agent));
  prometheus::Registry* registry = settings.registry;
  try {
    if (registry == nullptr) {
      shared_->own_registry = std::make_unique<prometheus::Registry>();
      registry = shared_->own_registry.get();
    }
    shared_->metrics = internal::RegisterMetrics(*registry, shared_->config.name);
  } catch (const std::exception& e) {
    log::Error(internal::kComponent, "cannot register self metrics; using a private registry",
               {{"loki_name", shared_->config.name}, {"error", e.what()}});
    shared_->own_registry = std::make_unique<prometheus::Registry>();
    registry = shared_->own_registry.get();
    shared_->metrics = internal::RegisterMetrics(*registry, shared_->config.name);
  }
  queue::QueueOptions options;
  options.dir = settings.queue_dir;
  // Every closed batch goes to the segment files at once (log volumes are small next to
  // metrics): a kill -9 then loses at most the batch still being filled (batch_wait), never a
  // backlog the sources' positions and cursors have already passed. storage.memory_bytes
  // bounds what is kept in memory while the disk fails.
  options.write_through = true;
  options.memory_budget_bytes = std::max<int64_t>(settings.storage.memory_bytes, 0);
  options.max_disk_bytes = std::max<int64_t>(settings.max_disk_bytes, 0);
  options.max_age = settings.storage.max_age;
  // The bound drops whole segments, so a segment is a small part of it.
  options.segment_bytes = options.max_disk_bytes > 0
                              ? std::clamp<int64_t>(options.max_disk_bytes / 16, 4 << 10, 64 << 20)
                              : int64_t{64} << 20;
  absl::StatusOr<std::unique_ptr<queue::ShardQueue>> q =
      options.dir.empty()
          ? absl::InvalidArgumentError("loki exporter: queue_dir is empty")
          : queue::ShardQueue::Open(options, registry, {{"loki_name", shared_->config.name}});
  if (!q.ok()) {
    init_status_ = q.status();
    // A memory-only queue under a path that is never created keeps Consume working.
    options.dir = "/nonexistent/tender-queue/loki";
    options.max_disk_bytes = 0;
    q = queue::ShardQueue::Open(options, nullptr, {});
  }
  shared_->queue = std::move(*q);
  shared_->UpdateQueueGauge();
  if (const size_t backlog = shared_->queue->samples(); backlog > 0) {
    log::Info(internal::kComponent, "sending queued log entries before new ones",
              {{"loki_name", shared_->config.name},
               {"entries", internal::Itoa(static_cast<int64_t>(backlog))}});
  }
  sender_ = std::make_unique<internal::Sender>(shared_.get());
}

LokiExporter::~LokiExporter() { Shutdown(absl::ZeroDuration()); }

absl::Status LokiExporter::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("loki exporter already started or shut down");
  }
  RETURN_IF_ERROR(init_status_);
  if (poster_ == nullptr) {
    config::RemoteWriteConfig http;
    http.url = shared_->config.url;
    http.name = shared_->config.name;
    http.remote_timeout = shared_->config.timeout;
    http.headers = shared_->config.headers;
    http.http = shared_->config.http;
    remote_write::CurlHttpPoster::Protocol protocol;
    protocol.reserved = {"content-type", "content-encoding", "x-scope-orgid"};
    protocol.retry_attempt_header = false;
    protocol.component = "loki";
    ASSIGN_OR_RETURN(
        std::unique_ptr<remote_write::CurlHttpPoster> curl,
        remote_write::CurlHttpPoster::Create(http, shared_->user_agent, 1, std::move(protocol)));
    poster_ = std::move(curl);
  }
  state_ = State::kRunning;
  try {
    batch_thread_ = std::thread([this] { BatchLoop(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("starting loki batcher: ", e.what()));
  }
  RETURN_IF_ERROR(sender_->Start(poster_.get()));
  log::Info(internal::kComponent, "loki exporter started",
            {{"loki_name", shared_->config.name}, {"url", shared_->config.url}});
  return absl::OkStatus();
}

void LokiExporter::Shutdown(absl::Duration deadline) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ == State::kStopped) return;
  state_ = State::kStopped;
  const absl::Time start = absl::Now();
  stopped_.store(true);
  {
    std::lock_guard<std::mutex> batch_lock(mu_);
    stop_batching_ = true;
  }
  batch_cv_.notify_all();
  if (batch_thread_.joinable()) batch_thread_.join();
  {
    // A Consume that passed the stopped_ check before it was set is either sealed here or
    // sees closed_ and counts its entries as dropped.
    std::lock_guard<std::mutex> batch_lock(mu_);
    for (auto& [tenant, pending] : pending_) SealLocked(tenant, &pending);
    closed_ = true;
  }
  const internal::Clock::time_point until =
      internal::Clock::now() + internal::ToChrono(deadline / 2);
  sender_->BeginDrain();
  sender_->WaitFinished(until);
  sender_->Abort();
  sender_->Join();
  const absl::Duration flush = std::max(absl::Seconds(1), deadline - (absl::Now() - start));
  const absl::Status status = shared_->queue->Flush(flush);
  const size_t left = shared_->queue->samples();
  shared_->UpdateQueueGauge();
  if (!status.ok() && shared_->queue->memory_bytes() > 0) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(left));
    log::Error(internal::kComponent, "queued log entries could not be written to disk",
               {{"loki_name", shared_->config.name},
                {"entries", internal::Itoa(static_cast<int64_t>(left))},
                {"error", FromAbsl(status.message())}});
  } else if (left > 0) {
    log::Info(internal::kComponent, "unsent log entries kept on disk for the next start",
              {{"loki_name", shared_->config.name},
               {"entries", internal::Itoa(static_cast<int64_t>(left))}});
  }
}

void LokiExporter::Consume(model::LogEntry&& entry) {
  if (stopped_.load(std::memory_order_relaxed)) {
    shared_->metrics.dropped_shutdown->Increment();
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) {
    shared_->metrics.dropped_shutdown->Increment();
    return;
  }
  ConsumeLocked(std::move(entry), absl::Now());
}

void LokiExporter::Consume(std::vector<model::LogEntry>&& entries) {
  if (entries.empty()) return;
  if (stopped_.load(std::memory_order_relaxed)) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(entries.size()));
    return;
  }
  const absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) {
    shared_->metrics.dropped_shutdown->Increment(static_cast<double>(entries.size()));
    return;
  }
  for (model::LogEntry& e : entries) ConsumeLocked(std::move(e), now);
}

void LokiExporter::SplitMetadata(model::LogEntry* entry, model::Labels* metadata) const {
  const std::vector<std::string>& names = shared_->config.structured_metadata;
  if (names.empty()) return;
  absl::StatusOr<model::Labels> labels = ParseSelector(entry->labels);
  if (!labels.ok()) return;  // Sent as it is; the encoder or Loki rejects it.
  model::Labels kept;
  for (model::Label& l : *labels) {
    const bool move = std::find(names.begin(), names.end(), l.name) != names.end();
    (move ? *metadata : kept).push_back(std::move(l));
  }
  if (metadata->empty()) return;
  if (kept.empty()) {
    metadata->clear();  // A stream needs at least one label.
    return;
  }
  entry->labels = model::ToString(kept);
}

void LokiExporter::ConsumeLocked(model::LogEntry&& entry, absl::Time now) {
  model::Labels metadata;
  SplitMetadata(&entry, &metadata);
  int64_t size = static_cast<int64_t>(entry.line.size());
  for (const model::Label& l : metadata) {
    size += static_cast<int64_t>(l.name.size() + l.value.size());
  }
  const std::string& tenant = entry.tenant.empty() ? shared_->config.tenant_id : entry.tenant;
  auto it = pending_.find(tenant);
  if (it == pending_.end()) it = pending_.emplace(tenant, Pending{}).first;
  Pending& p = it->second;
  // Promtail's rule: a batch is sent before the entry that would take it past batch_size.
  if (p.entries > 0 && p.bytes + size > shared_->config.batch_size) {
    SealLocked(tenant, &p);
  }
  if (p.entries == 0) {
    p.started = now;
    batch_cv_.notify_all();  // The batcher may now have an earlier deadline.
  }
  p.bytes += size;
  ++p.entries;
  p.streams[std::move(entry.labels)].push_back(
      {entry.timestamp_ns, std::move(entry.line), std::move(metadata)});
}

// Encodes one tenant's batch as a queue record. The queue's SeriesBatch carries it unchanged:
// `data` is the whole uncompressed push body (protobuf PushRequest, or JSON), `samples` the
// number of entries, `job` the tenant, min/max timestamps in ms; the queue's format is the same
// as for remote write.
void LokiExporter::SealLocked(const std::string& tenant, Pending* pending) {
  if (pending->entries == 0) return;
  std::vector<StreamView> views;
  views.reserve(pending->streams.size());
  model::SeriesBatch batch;
  batch.job = tenant;
  const absl::Time now = absl::Now();
  for (auto& [selector, entries] : pending->streams) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const PendingEntry& a, const PendingEntry& b) {
                       return a.timestamp_ns < b.timestamp_ns;
                     });
    StreamView view;
    view.labels = selector;
    view.entries.reserve(entries.size());
    for (const PendingEntry& e : entries) {
      view.entries.push_back({e.timestamp_ns, e.line, e.metadata});
      const int64_t ms = e.timestamp_ns / 1000000;
      batch.min_timestamp_ms = std::min(batch.min_timestamp_ms, ms);
      batch.max_timestamp_ms = std::max(batch.max_timestamp_ms, ms);
    }
    views.push_back(std::move(view));
    streams_seen_[selector] = now;
  }
  if (shared_->config.encoding == config::LokiConfig::Encoding::kJson) {
    size_t bad = 0;
    AppendJsonPush(views, &batch.data, &bad);
    size_t kept = 0;
    if (bad > 0) {
      for (const StreamView& v : views) {
        if (ParseSelector(v.labels).ok()) kept += v.entries.size();
      }
      shared_->metrics.dropped_malformed->Increment(static_cast<double>(pending->entries - kept));
    } else {
      kept = pending->entries;
    }
    batch.samples = static_cast<uint32_t>(kept);
  } else {
    AppendProtobufPush(views, &batch.data);
    batch.samples = static_cast<uint32_t>(pending->entries);
  }
  *pending = Pending{};
  for (auto it = streams_seen_.begin(); it != streams_seen_.end();) {
    it = now - it->second > internal::kStreamIdle ? streams_seen_.erase(it) : std::next(it);
  }
  shared_->metrics.streams->Set(static_cast<double>(streams_seen_.size()));
  if (batch.samples == 0) return;
  shared_->queue->Push(std::move(batch));
  shared_->UpdateQueueGauge();
}

void LokiExporter::SealAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [tenant, pending] : pending_) SealLocked(tenant, &pending);
}

void LokiExporter::BatchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_batching_) {
    const absl::Time now = absl::Now();
    absl::Time next = now + absl::Seconds(1);
    for (auto& [tenant, pending] : pending_) {
      if (pending.entries == 0) continue;
      const absl::Time due = pending.started + shared_->config.batch_wait;
      if (due <= now) {
        SealLocked(tenant, &pending);
      } else {
        next = std::min(next, due);
      }
    }
    batch_cv_.wait_for(lock, internal::ToChrono(next - now));
  }
}

size_t LokiExporter::queued_entries() const { return shared_->queue->samples(); }

}  // namespace tender::loki
