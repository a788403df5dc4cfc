#include "collector/scrape/scrape_manager.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"
#include "collector/model/buffer_pool.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "collector/scrape/api_server_proxy.h"

namespace tender::scrape {

struct ScrapeManager::Loop {
  std::shared_ptr<const Target> target;
  // Scheduling fields, guarded by ScrapeManager::mu_.
  absl::Time next;
  bool in_flight = false;
  bool removed = false;
  // Guarded by ScrapeManager::mu_ too (read by Snapshot).
  TargetStatus status;
  // Touched only by the worker that holds the loop's one in-flight scrape.
  SeriesState state;
  size_t last_batch_bytes = 0;  // Size of the last scrape's batch, to size the next one.
};

struct ScrapeManager::Metrics {
  explicit Metrics(prometheus::Registry* r)
      : owned(r == nullptr ? std::make_shared<prometheus::Registry>() : nullptr),
        registry(r == nullptr ? owned.get() : r),
        scrapes(prometheus::BuildCounter()
                    .Name("tender_scrapes_total")
                    .Help("Scrapes completed, by job.")
                    .Register(*registry)),
        failures(prometheus::BuildCounter()
                     .Name("tender_scrape_failures_total")
                     .Help("Scrapes that failed (up 0), by job.")
                     .Register(*registry)),
        skipped(prometheus::BuildCounter()
                    .Name("tender_scrape_skipped_total")
                    .Help("Scheduled scrapes skipped because the previous one was still running.")
                    .Register(*registry)),
        duration(prometheus::BuildHistogram()
                     .Name("tender_scrape_duration_seconds")
                     .Help("Scrape duration (fetch, parse, encode), by job.")
                     .Register(*registry)),
        samples(prometheus::BuildCounter()
                    .Name("tender_scrape_samples_total")
                    .Help("Samples scraped, by job.")
                    .Register(*registry)),
        dropped_samples(prometheus::BuildCounter()
                            .Name("tender_scrape_samples_dropped_total")
                            .Help("Samples dropped at scrape, by job and reason.")
                            .Register(*registry)),
        stale_markers(prometheus::BuildCounter()
                          .Name("tender_scrape_stale_markers_total")
                          .Help("Stale markers written, by job.")
                          .Register(*registry)),
        limit_hits(prometheus::BuildCounter()
                       .Name("tender_scrape_limit_hits_total")
                       .Help("Scrapes failed by a limit, by job and limit.")
                       .Register(*registry)),
        retries(prometheus::BuildCounter()
                    .Name("tender_scrape_retries_total")
                    .Help("Scrapes retried once after the connection broke early in their "
                          "timeout, by job.")
                    .Register(*registry)),
        throttled(prometheus::BuildCounter()
                      .Name("tender_scrape_throttled_total")
                      .Help("Scrapes held back to protect their host, by job and reason: "
                            "concurrency (waited for a slot), retry_after (not sent: the host "
                            "had answered 429/503 with Retry-After), rejected (the host answered "
                            "this scrape with 429/503, or an API server with 5xx, and "
                            "Retry-After).")
                      .Register(*registry)),
        connection_resets(prometheus::BuildCounter()
                              .Name("tender_scrape_connection_resets_total")
                              .Help("API-server connections shut down because a proxied scrape "
                                    "timed out while the API server sent nothing back (the next "
                                    "scrapes use a new connection), by job.")
                              .Register(*registry)),
        ring_dropped(prometheus::BuildCounter()
                         .Name("tender_scrape_batches_dropped_total")
                         .Help("Scrape batches dropped because the ingest ring stayed full.")
                         .Register(*registry)
                         .Add({})),
        targets(prometheus::BuildGauge()
                    .Name("tender_scrape_targets")
                    .Help("Active scrape targets.")
                    .Register(*registry)
                    .Add({})) {}

  std::shared_ptr<prometheus::Registry> owned;
  prometheus::Registry* registry;
  prometheus::Family<prometheus::Counter>& scrapes;
  prometheus::Family<prometheus::Counter>& failures;
  prometheus::Family<prometheus::Counter>& skipped;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Counter>& samples;
  prometheus::Family<prometheus::Counter>& dropped_samples;
  prometheus::Family<prometheus::Counter>& stale_markers;
  prometheus::Family<prometheus::Counter>& limit_hits;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Counter>& throttled;
  prometheus::Family<prometheus::Counter>& connection_resets;
  prometheus::Counter& ring_dropped;
  prometheus::Gauge& targets;
};

namespace {

// The longest a host's Retry-After holds its scrapes back.
constexpr absl::Duration kMaxRetryAfter = absl::Minutes(5);

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30};
  return *b;
}

}  // namespace

std::string FormatSecondsShortest(absl::Duration d) {
  std::string s = absl::StrFormat("%.3f", absl::ToDoubleSeconds(d));
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

absl::Time FirstScrapeTime(absl::Time now, absl::Duration interval, uint64_t hash) {
  const int64_t iv = absl::ToInt64Nanoseconds(interval);
  if (iv <= 0) return now;
  const int64_t now_ns = absl::ToUnixNanos(now);
  const auto offset = static_cast<int64_t>(hash % static_cast<uint64_t>(iv));
  int64_t base = now_ns - (now_ns % iv);
  int64_t next = base + offset;
  if (next < now_ns) next += iv;
  return absl::FromUnixNanos(next);
}

ScrapeManager::ScrapeManager(Settings settings)
    : settings_(std::move(settings)),
      metrics_(std::make_unique<Metrics>(settings_.registry)),
      gate_(settings_.max_concurrent_per_host) {
  Fetcher::Settings fs;
  fs.user_agent = settings_.user_agent;
  fetcher_ = std::make_unique<Fetcher>(fs);
}

ScrapeManager::~ScrapeManager() { Shutdown(); }

absl::Status ScrapeManager::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return absl::OkStatus();
  if (settings_.ring == nullptr) return absl::InvalidArgumentError("scrape manager needs a ring");
  RETURN_IF_ERROR(fetcher_->Start());
  started_ = true;
  for (int i = 0; i < std::max(1, settings_.workers); ++i) {
    workers_.emplace_back([this] { WorkerThread(); });
  }
  scheduler_ = std::thread([this] { SchedulerThread(); });
  return absl::OkStatus();
}

void ScrapeManager::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
  }
  wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  // Let in-flight scrapes complete and reach the ring (bounded by their timeouts).
  {
    std::unique_lock<std::mutex> lock(work_mu_);
    idle_cv_.wait(lock, [&] { return in_flight_.load() == 0 && work_.empty(); });
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  fetcher_->Shutdown();
}

void ScrapeManager::ApplyTargets(std::vector<std::shared_ptr<const Target>> targets) {
  std::vector<Work> ends;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<uint64_t, std::shared_ptr<Loop>> next;
    const absl::Time now = absl::Now();
    for (auto& t : targets) {
      auto it = loops_.find(t->hash);
      if (it != loops_.end() && !next.count(t->hash)) {
        // Same identity: keep the loop and its series state. New settings of the job (interval,
        // timeout, auth) are taken unless a scrape is running, which reads the old ones.
        if (!it->second->in_flight) {
          it->second->target = t;
          it->second->status.target = t;
        }
        next.emplace(t->hash, std::move(it->second));
        loops_.erase(it);
        continue;
      }
      if (next.count(t->hash)) continue;  // Duplicate target: scraped once.
      auto loop = std::make_shared<Loop>();
      loop->target = t;
      loop->status.target = t;
      loop->next = FirstScrapeTime(now, t->interval, t->hash);
      next.emplace(t->hash, std::move(loop));
    }
    for (auto& [hash, loop] : loops_) {
      loop->removed = true;
      if (!loop->in_flight) {
        loop->in_flight = true;
        Work w;
        w.loop = loop;
        w.end_of_target = true;
        w.timestamp_ms = absl::ToUnixMillis(now);
        ends.push_back(std::move(w));
      }
      // An in-flight loop ends when its scrape finishes (see Finish).
    }
    loops_ = std::move(next);
    metrics_->targets.Set(static_cast<double>(loops_.size()));
  }
  for (auto& w : ends) {
    in_flight_.fetch_add(1);
    Enqueue(std::move(w));
  }
  wake_.notify_all();
}

std::vector<TargetStatus> ScrapeManager::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TargetStatus> out;
  out.reserve(loops_.size());
  for (const auto& [hash, loop] : loops_) out.push_back(loop->status);
  return out;
}

void ScrapeManager::StateSize(size_t* bytes, size_t* series) const {
  // Series state belongs to whichever worker runs the loop's scrape; reading sizes while one
  // runs would race, so only idle loops are counted (an estimate, refreshed every call).
  std::lock_guard<std::mutex> lock(mu_);
  *bytes = 0;
  *series = 0;
  for (const auto& [hash, loop] : loops_) {
    if (loop->in_flight) continue;
    *bytes += loop->state.MemoryBytes();
    *series += loop->state.tracked.size() + loop->state.explicit_ts.size();
  }
}

void ScrapeManager::SchedulerThread() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time earliest = absl::InfiniteFuture();
    std::vector<std::shared_ptr<Loop>> due;
    for (auto& [hash, loop] : loops_) {
      if (loop->next <= now) {
        due.push_back(loop);
      } else {
        earliest = std::min(earliest, loop->next);
      }
    }
    for (auto& loop : due) {
      const absl::Duration iv = loop->target->interval;
      // Next tick on the target's grid, skipping ticks that have passed.
      while (loop->next <= now) loop->next += iv;
      earliest = std::min(earliest, loop->next);
      if (loop->in_flight) {
        metrics_->skipped.Add({{"job", loop->target->job}}).Increment();
        continue;
      }
      loop->in_flight = true;
      in_flight_.fetch_add(1);
      lock.unlock();
      StartScrape(loop, now);
      lock.lock();
    }
    if (earliest == absl::InfiniteFuture()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, absl::ToChronoTime(earliest));
    }
  }
}

void ScrapeManager::StartScrape(const std::shared_ptr<Loop>& loop, absl::Time now) {
  const Target& t = *loop->target;
  if (!t.forced_error.empty()) {
    Work w;
    w.loop = loop;
    w.result.status = absl::FailedPreconditionError(t.forced_error);
    w.timestamp_ms = absl::ToUnixMillis(now);
    w.started = now;
    Enqueue(std::move(w));
    return;
  }
  FetchRequest req;
  req.url = t.url;
  req.headers = {{"Accept", std::string(kAcceptHeader)},
                 {"X-Prometheus-Scrape-Timeout-Seconds", FormatSecondsShortest(t.timeout)}};
  req.http = t.config ? &t.config->http : nullptr;
  req.timeout = t.timeout;
  req.body_size_limit = t.config ? t.config->body_size_limit : 0;
  req.accept_gzip = t.config ? t.config->enable_compression : true;
  req.connection_key = t.hash;
  int host_limit = 0;  // The gate's default.
  if (t.api_server_proxy != nullptr) {
    absl::StatusOr<std::shared_ptr<const ApiServerConnection>> conn =
        t.api_server_proxy->Connection();
    if (!conn.ok()) {
      Work w;
      w.loop = loop;
      w.result.status = conn.status();
      w.timestamp_ms = absl::ToUnixMillis(now);
      w.started = now;
      Enqueue(std::move(w));
      return;
    }
    req.api_server = *std::move(conn);
    req.http = nullptr;
    host_limit = t.api_server_proxy->max_concurrent();
  }
  const std::string host = HostKey(t.url);
  if (const absl::Time until = gate_.BlockedUntil(host); until > now) {
    metrics_->throttled.Add({{"job", t.job}, {"reason", "retry_after"}}).Increment();
    Work w;
    w.loop = loop;
    w.result.status = absl::UnavailableError(absl::StrCat(
        "not scraped: ", host, " asked to be left alone until ",
        absl::FormatTime(absl::RFC3339_sec, until, absl::UTCTimeZone()), " (Retry-After)"));
    w.timestamp_ms = absl::ToUnixMillis(now);
    w.started = now;
    Enqueue(std::move(w));
    return;
  }
  // A scrape that waits for a slot starts (and is timestamped) when it gets one.
  std::function<void()> start = [this, loop, req = std::move(req)]() {
    Fetch(loop, req, absl::Now(), /*retry=*/false);
  };
  if (gate_.Acquire(host, start, host_limit)) {
    start();
  } else {
    metrics_->throttled.Add({{"job", t.job}, {"reason", "concurrency"}}).Increment();
  }
}

void ScrapeManager::Fetch(const std::shared_ptr<Loop>& loop, FetchRequest req, absl::Time started,
                          bool retry) {
  // Kept for a retry: the request is moved into the fetcher.
  FetchRequest again = req;
  fetcher_->Fetch(std::move(req), [this, loop, started, retry,
                                   again = std::move(again)](FetchResult&& result) mutable {
    // A connection that broke early (a reset on a flaky link) gets one more try while at
    // least half of the timeout remains; the sample timestamp stays the scheduled one.
    const Target& t = *loop->target;
    const absl::Duration elapsed = absl::Now() - started;
    if (!retry && settings_.retry_on_reset && result.connection_lost &&
        t.timeout > absl::ZeroDuration() && elapsed <= t.timeout / 2) {
      metrics_->retries.Add({{"job", t.job}}).Increment();
      again.timeout = t.timeout - elapsed;
      Fetch(loop, std::move(again), started, /*retry=*/true);
      return;
    }
    // An overloaded host (an API server throttling its proxy) is left alone as it asks.
    const std::string host = HostKey(t.url);
    const bool proxied = t.api_server_proxy != nullptr;
    const bool overloaded = result.http_status == 429 || result.http_status == 503 ||
                            (proxied && result.http_status >= 500);
    if (overloaded && result.retry_after > absl::ZeroDuration()) {
      gate_.Block(host, absl::Now() + std::min(result.retry_after, kMaxRetryAfter));
      metrics_->throttled.Add({{"job", t.job}, {"reason", "rejected"}}).Increment();
    }
    if (proxied && result.http_status == 401) {
      t.api_server_proxy->Unauthorized();  // A rotated token or an expired exec credential.
    }
    if (result.connection_reset) {
      metrics_->connection_resets.Add({{"job", t.job}}).Increment();
    }
    Work w;
    w.loop = loop;
    w.result = std::move(result);
    w.timestamp_ms = absl::ToUnixMillis(started);
    w.started = started;
    Enqueue(std::move(w));
    gate_.Release(host);  // May start the next scrape waiting for this host.
  });
}

void ScrapeManager::Enqueue(Work&& work) {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    work_.push_back(std::move(work));
  }
  work_cv_.notify_one();
}

void ScrapeManager::WorkerThread() {
  ScrapeProcessor processor(settings_.external_labels);
  while (true) {
    Work work;
    {
      std::unique_lock<std::mutex> lock(work_mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !work_.empty(); });
      if (work_.empty()) return;
      work = std::move(work_.front());
      work_.pop_front();
    }
    Finish(processor, work);
    {
      std::lock_guard<std::mutex> lock(work_mu_);
      in_flight_.fetch_sub(1);
    }
    idle_cv_.notify_all();
  }
}

void ScrapeManager::Finish(ScrapeProcessor& processor, Work& work) {
  Loop& loop = *work.loop;
  const Target& t = *loop.target;
  model::SeriesBatch batch;
  batch.shard_key = t.hash;
  batch.job = t.job;
  if (work.end_of_target) {
    const uint32_t n = processor.EndOfTarget(t, loop.state, work.timestamp_ms, batch);
    metrics_->stale_markers.Add({{"job", t.job}}).Increment(n);
    if (batch.samples > 0) PushBatch(std::move(batch), t.job);
    return;
  }
  // One allocation of about the right size instead of a doubling series of copies while the
  // batch grows (a cAdvisor batch is over 2 MB): the size of the target's last batch, or for a
  // first scrape twice the body (entries take 1.1-2 times the exposition's bytes; pages a
  // large buffer never writes are never mapped in, so the slack costs no memory).
  const size_t want = loop.last_batch_bytes > 0
                          ? loop.last_batch_bytes + loop.last_batch_bytes / 16 + 1024
                          : 2 * work.result.body.size() + 1024;
  if (want >= 64 << 10) {
    // A buffer given back by a sent batch keeps its pages: writing a fresh one of megabytes
    // costs a page fault per 4 KiB (docs/benchmarks.md).
    batch.data = model::LargeBufferPool().Take(want);
  }
  batch.data.reserve(want);
  batch.marks.reserve(want / 64 / model::kEntryMarkStride + 1);
  FetchOutcome fetch;
  fetch.status = work.result.status;
  fetch.http_status = work.result.http_status;
  fetch.content_type = work.result.content_type;
  fetch.body = work.result.body;
  const PhaseTimings& pt = work.result.timings;
  fetch.dns = pt.dns;
  fetch.connect = pt.connect;
  fetch.tls = pt.tls;
  fetch.first_byte = pt.first_byte;
  fetch.total = pt.total;
  const ScrapeReport report =
      processor.Process(t, loop.state, work.timestamp_ms, work.started, fetch, batch);

  const prometheus::Labels job{{"job", t.job}};
  metrics_->scrapes.Add(job).Increment();
  metrics_->duration.Add(job, DurationBuckets()).Observe(absl::ToDoubleSeconds(report.duration));
  metrics_->samples.Add(job).Increment(report.samples_scraped);
  if (report.stale_markers > 0) metrics_->stale_markers.Add(job).Increment(report.stale_markers);
  if (report.dropped_stale_timestamp > 0) {
    metrics_->dropped_samples.Add({{"job", t.job}, {"reason", "timestamp_not_newer"}})
        .Increment(report.dropped_stale_timestamp);
  }
  if (report.dropped_duplicate > 0) {
    metrics_->dropped_samples.Add({{"job", t.job}, {"reason", "duplicate"}})
        .Increment(report.dropped_duplicate);
  }
  if (!report.limit_hit.empty()) {
    metrics_->limit_hits.Add({{"job", t.job}, {"limit", report.limit_hit}}).Increment();
  }
  if (!report.status.ok()) {
    metrics_->failures.Add(job).Increment();
    static log::Throttle throttle(absl::Seconds(10));
    uint64_t suppressed = 0;
    if (throttle.Allow(&suppressed)) {
      const std::string s = std::to_string(suppressed);
      log::Warn("scrape", "scrape failed",
                {{"job", t.job},
                 {"target", t.url},
                 {"err", FromAbsl(report.status.message())},
                 {"suppressed", s}});
    }
  }
  fetcher_->RecycleBuffer(std::move(work.result.body));
  loop.last_batch_bytes = batch.data.size();
  // The status first, so that whoever sees this scrape's samples also sees its outcome.
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop.status.health = report.status.ok() ? "up" : "down";
    loop.status.last_error = report.status.ok() ? "" : std::string(report.status.message());
    loop.status.last_scrape = absl::FromUnixMillis(work.timestamp_ms);
    loop.status.last_duration = report.duration;
    loop.status.last_samples = report.samples_scraped;
    TargetStatus::Phases& ph = loop.status.last_phases;
    ph.dns = pt.dns;
    ph.connect = pt.connect;
    ph.tls = pt.tls;
    ph.first_byte = pt.first_byte;
    const absl::Duration before_body = pt.dns + pt.connect + pt.tls + pt.first_byte;
    ph.transfer = pt.total > before_body ? pt.total - before_body : absl::ZeroDuration();
    ph.parse = report.duration > pt.total ? report.duration - pt.total : absl::ZeroDuration();
    loop.status.last_reused_connection = work.result.reused_connection;
  }
  PushBatch(std::move(batch), t.job);

  std::lock_guard<std::mutex> lock(mu_);
  loop.in_flight = false;
  if (loop.removed && !stopping_) {
    // Removed while this scrape ran: end it now, in order after this batch.
    loop.in_flight = true;
    Work end;
    end.loop = work.loop;
    end.end_of_target = true;
    end.timestamp_ms = absl::ToUnixMillis(absl::Now());
    in_flight_.fetch_add(1);
    Enqueue(std::move(end));
  }
}

void ScrapeManager::PushBatch(model::SeriesBatch&& batch, const std::string& job) {
  const uint64_t key = batch.shard_key;
  if (!settings_.ring->Push(key, std::move(batch), settings_.ring_push_timeout)) {
    metrics_->ring_dropped.Increment();
    static log::Throttle throttle(absl::Seconds(10));
    uint64_t suppressed = 0;
    if (throttle.Allow(&suppressed)) {
      log::Error("scrape", "ingest ring full: scrape batch dropped",
                 {{"job", job}, {"suppressed", std::to_string(suppressed)}});
    }
  }
}

}  // namespace tender::scrape
