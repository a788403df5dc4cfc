#include "exporters/remote_write/exporter.h"

#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/tools/fake_receiver.h"
#include "tests/unit/remote_write/batch_util.h"

namespace tender::remote_write {
namespace {

using test_tools::FakeRemoteWriteReceiver;
using test_tools::ReceivedRequest;
using test_tools::ReceivedSample;
using test_tools::ReceiverResponse;
using testing_util::AppendSample;

constexpr absl::Duration kWait = absl::Seconds(20);

// A one-shot event on std primitives (absl::Notification is opaque to ThreadSanitizer here).
class Event {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool WaitFor(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// Value of a counter/gauge (or a histogram's count) with exactly these extra labels besides
// remote_name="test"; 0 when absent.
double Metric(prometheus::Registry& registry, const std::string& name,
              std::map<std::string, std::string> labels = {}) {
  labels["remote_name"] = "test";
  for (const auto& family : registry.Collect()) {
    if (family.name != name) {
      continue;
    }
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& label : metric.label) {
        got[label.name] = label.value;
      }
      if (got != labels) {
        continue;
      }
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return 0;
      }
    }
  }
  return 0;
}

// The series key FakeRemoteWriteReceiver uses for metric `name` of target `target`, series `i`.
std::string Key(const std::string& name, int target, int i) {
  return absl::StrCat("{__name__=\"", name, "\", i=\"", i, "\", target=\"t", target, "\"}");
}

// One scrape of `target`: `series` entries at `timestamp_ms`, value = timestamp.
model::SeriesBatch Scrape(int target, int series, int64_t timestamp_ms,
                          const std::string& name = "m") {
  model::SeriesBatch batch;
  batch.shard_key = static_cast<uint64_t>(target) * 0x9e3779b97f4a7c15ULL;
  batch.job = "job";
  for (int i = 0; i < series; ++i) {
    AppendSample(
        &batch, {{"__name__", name}, {"i", absl::StrCat(i)}, {"target", absl::StrCat("t", target)}},
        timestamp_ms, static_cast<double>(timestamp_ms));
  }
  return batch;
}

class ExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    char tmpl[] = "/tmp/tender-exporter-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Bytes in the queue files of every shard.
  double DiskBytes() {
    double total = 0;
    for (int shard = 0; shard < 8; ++shard) {
      total += Metric(registry_, "tender_queue_bytes",
                      {{"shard", absl::StrCat(shard)}, {"where", "disk"}});
    }
    return total;
  }

  config::RemoteWriteConfig Config(int shards = 1) {
    config::RemoteWriteConfig c;
    c.url = receiver_.url();
    c.name = "test";
    c.remote_timeout = absl::Seconds(10);
    c.queue_config.min_shards = shards;
    c.queue_config.max_shards = shards;
    c.queue_config.max_samples_per_send = 50;
    c.queue_config.capacity = 1000;
    c.queue_config.batch_send_deadline = absl::Milliseconds(5);
    c.queue_config.min_backoff = absl::Milliseconds(1);
    c.queue_config.max_backoff = absl::Milliseconds(20);
    return c;
  }

  std::unique_ptr<RemoteWriteExporter> Make(const config::RemoteWriteConfig& c,
                                            prometheus::Registry* registry = nullptr,
                                            config::StorageConfig storage = {}) {
    RemoteWriteExporter::Settings settings;
    settings.config = c;
    settings.registry = registry != nullptr ? registry : &registry_;
    settings.user_agent = "tender/test";
    settings.queue_dir = dir_ + "/queue";
    settings.storage = storage;
    return std::make_unique<RemoteWriteExporter>(std::move(settings));
  }

  void ExpectNoViolations() {
    const auto violations = receiver_.violations();
    EXPECT_TRUE(violations.empty())
        << violations.size()
        << " violations, first: " << (violations.empty() ? "" : violations.front());
  }

  prometheus::Registry registry_;
  FakeRemoteWriteReceiver receiver_;
  std::string dir_;
};

TEST_F(ExporterTest, ShardCountIsEightClampedToConfig) {
  struct Case {
    int min, max, want;
  };
  for (const Case& c :
       std::vector<Case>{{1, 50, 8}, {1, 4, 4}, {12, 50, 12}, {0, 0, 1}, {3, 2, 3}, {-1, 8, 8}}) {
    SCOPED_TRACE(absl::StrCat("min ", c.min, " max ", c.max));
    config::QueueConfig q;
    q.min_shards = c.min;
    q.max_shards = c.max;
    EXPECT_EQ(RemoteWriteExporter::ShardCount(q), c.want);
  }
}

TEST_F(ExporterTest, SendsEverySampleOnceAndCountsIt) {
  auto exporter = Make(Config(4));
  ASSERT_EQ(exporter->shards(), 4);
  ASSERT_TRUE(exporter->Start().ok());
  int total = 0;
  for (int scrape = 0; scrape < 3; ++scrape) {
    for (int target = 0; target < 6; ++target) {
      exporter->Consume(Scrape(target, 20, 1000 * (scrape + 1)));
      total += 20;
    }
  }
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(total, kWait));
  exporter->Shutdown(absl::Seconds(5));

  const auto series = receiver_.series();
  EXPECT_EQ(series.size(), 6u * 20u);
  const auto& points = series.at(Key("m", 5, 19));
  EXPECT_EQ(points, (std::vector<ReceivedSample>{{1000, protowire::DoubleBits(1000)},
                                                 {2000, protowire::DoubleBits(2000)},
                                                 {3000, protowire::DoubleBits(3000)}}));
  for (const ReceivedRequest& r : receiver_.requests()) {
    EXPECT_LE(r.samples, 50u);  // max_samples_per_send.
    EXPECT_EQ(r.headers.at("user-agent"), "tender/test");
  }
  ExpectNoViolations();
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), total);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_retried_total"), 0);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "204"}}),
            receiver_.request_count());
  EXPECT_EQ(Metric(registry_, "tender_remote_write_request_duration_seconds"),
            receiver_.request_count());
  EXPECT_GT(Metric(registry_, "tender_remote_write_bytes_sent_total"), 0);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_highest_sent_timestamp_seconds"), 3.0);
  for (int shard = 0; shard < 4; ++shard) {
    EXPECT_EQ(
        Metric(registry_, "tender_remote_write_queue_samples", {{"shard", absl::StrCat(shard)}}),
        0);
  }
}

TEST_F(ExporterTest, SplitsLargeBatchesAndMergesSmallOnesInOrder) {
  auto c = Config(1);
  c.queue_config.batch_send_deadline = absl::Hours(1);  // Only full requests, then the drain.
  auto exporter = Make(c);
  // Queued before Start: 120 entries in one batch, then five 6-entry batches.
  exporter->Consume(Scrape(0, 120, 1000));
  for (int i = 0; i < 5; ++i) {
    exporter->Consume(Scrape(1, 6, 1000 + i));
  }
  ASSERT_TRUE(exporter->Start().ok());
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(150, kWait));
  exporter->Shutdown(absl::Seconds(5));
  std::vector<size_t> sizes;
  for (const ReceivedRequest& r : receiver_.requests()) {
    sizes.push_back(r.samples);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{50, 50, 50}));
  EXPECT_EQ(receiver_.series().at(Key("m", 1, 5)).size(), 5u);
  ExpectNoViolations();
}

TEST_F(ExporterTest, Answers200And204AreSuccess) {
  receiver_.ScriptResponses({ReceiverResponse{200}, ReceiverResponse{204}});
  auto exporter = Make(Config(1));
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 1000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(10, kWait));
  exporter->Consume(Scrape(0, 10, 2000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(20, kWait));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "200"}}), 1);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "204"}}), 1);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), 20);
  EXPECT_EQ(receiver_.request_count(), 2u);
}

TEST_F(ExporterTest, SamplesOfA500ArriveLaterExactlyOnce) {
  receiver_.ScriptResponses({ReceiverResponse{500, "", "oops"}, ReceiverResponse{503}});
  auto exporter = Make(Config(1));
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 1000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(10, kWait));
  exporter->Consume(Scrape(0, 10, 2000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(20, kWait));
  exporter->Shutdown(absl::Seconds(5));

  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].status, 500);
  EXPECT_EQ(requests[1].status, 503);
  EXPECT_EQ(requests[2].status, 204);
  EXPECT_EQ(requests[0].retry_attempt, 0);
  EXPECT_EQ(requests[1].retry_attempt, 1);
  EXPECT_EQ(requests[2].retry_attempt, 2);
  EXPECT_EQ(requests[3].retry_attempt, 0);
  for (const auto& [key, points] : receiver_.series()) {
    SCOPED_TRACE(key);
    EXPECT_EQ(points.size(), 2u);  // Once per scrape: nothing lost, nothing duplicated.
  }
  ExpectNoViolations();
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_retried_total"), 20);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), 20);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "500"}}), 1);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "503"}}), 1);
}

TEST_F(ExporterTest, SamplesOfA400AreDroppedNeverResent) {
  receiver_.ScriptResponses({ReceiverResponse{400, "", "out of order sample"}});
  auto exporter = Make(Config(1));
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 1000));
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  exporter->Consume(Scrape(0, 10, 2000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(10, kWait));
  exporter->Shutdown(absl::Seconds(5));

  EXPECT_EQ(receiver_.request_count(), 2u);
  for (const auto& [key, points] : receiver_.series()) {
    SCOPED_TRACE(key);
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].timestamp_ms, 2000);
  }
  EXPECT_EQ(
      Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "rejected"}}), 10);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_retried_total"), 0);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), 10);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_requests_total", {{"code", "400"}}), 1);
}

TEST_F(ExporterTest, Http429IsRetriedOnlyWhenEnabled) {
  auto check = [this](bool retry_429) {
    SCOPED_TRACE(absl::StrCat("retry_on_http_429=", retry_429));
    FakeRemoteWriteReceiver receiver;
    ASSERT_TRUE(receiver.Start().ok());
    receiver.ScriptResponses({ReceiverResponse{429}});
    prometheus::Registry registry;
    auto c = Config(1);
    c.url = receiver.url();
    c.queue_config.retry_on_http_429 = retry_429;
    RemoteWriteExporter::Settings settings;
    settings.config = c;
    settings.registry = &registry;
    settings.queue_dir = absl::StrCat(dir_, "/queue-429-", retry_429);
    RemoteWriteExporter exporter(std::move(settings));
    ASSERT_TRUE(exporter.Start().ok());
    exporter.Consume(Scrape(0, 10, 1000));
    ASSERT_TRUE(receiver.WaitForRequests(1, kWait));
    exporter.Consume(Scrape(0, 10, 2000));
    ASSERT_TRUE(receiver.WaitForAcceptedSamples(retry_429 ? 20 : 10, kWait));
    exporter.Shutdown(absl::Seconds(5));
    EXPECT_EQ(
        Metric(registry, "tender_remote_write_samples_dropped_total", {{"reason", "rejected"}}),
        retry_429 ? 0 : 10);
    EXPECT_EQ(Metric(registry, "tender_remote_write_samples_sent_total"), retry_429 ? 20 : 10);
    EXPECT_TRUE(receiver.violations().empty());
  };
  check(true);
  check(false);
}

TEST_F(ExporterTest, HonorsRetryAfter) {
  receiver_.ScriptResponses({ReceiverResponse{503, "1"}});
  auto exporter = Make(Config(1));
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 5, 1000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(5, kWait));
  exporter->Shutdown(absl::Seconds(5));
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u);
  // max_backoff is 20ms; only Retry-After explains a one-second pause.
  EXPECT_GE(requests[1].received - requests[0].received, absl::Milliseconds(950));
}

TEST_F(ExporterTest, KeepsPerTargetOrderAcrossShardsWhileReceiverFailsRandomly) {
  constexpr int kTargets = 40;
  constexpr int kScrapes = 15;
  constexpr int kSeries = 12;
  constexpr int kProducers = 4;
  std::mutex rng_mu;
  std::mt19937 rng(12345);
  receiver_.SetResponder([&](const ReceivedRequest&) {
    std::lock_guard<std::mutex> lock(rng_mu);
    ReceiverResponse r;
    const int roll = static_cast<int>(rng() % 100);
    if (roll < 4) {
      r.status = 500;
    } else if (roll < 7) {
      r.status = 503;
    } else if (roll < 10) {
      r.status = 429;
    }
    r.delay = absl::Microseconds(rng() % 3000);  // Uneven latency across shards.
    return r;
  });
  auto c = Config(6);
  c.queue_config.max_samples_per_send = 40;
  c.queue_config.capacity = 200;  // Small, so producers also hit backpressure.
  auto exporter = Make(c);
  ASSERT_TRUE(exporter->Start().ok());

  // Each producer owns some targets and hands their scrapes over in time order, as the ring
  // does; targets of different producers interleave freely.
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int scrape = 0; scrape < kScrapes; ++scrape) {
        for (int target = p; target < kTargets; target += kProducers) {
          exporter->Consume(Scrape(target, kSeries, 1000 + 1000 * scrape));
        }
      }
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  constexpr int kTotal = kTargets * kScrapes * kSeries;
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(kTotal, kWait));
  exporter->Shutdown(absl::Seconds(5));

  ExpectNoViolations();
  EXPECT_EQ(receiver_.order_violations(), 0u);
  const auto series = receiver_.series();
  ASSERT_EQ(series.size(), static_cast<size_t>(kTargets * kSeries));
  for (const auto& [key, points] : series) {
    SCOPED_TRACE(key);
    ASSERT_EQ(points.size(), static_cast<size_t>(kScrapes));
    for (int s = 0; s < kScrapes; ++s) {
      EXPECT_EQ(points[s].timestamp_ms, 1000 + 1000 * s);
    }
  }
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), kTotal);
  EXPECT_GT(Metric(registry_, "tender_remote_write_samples_retried_total"), 0);
  EXPECT_EQ(
      Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "rejected"}}), 0);
}

TEST_F(ExporterTest, ShutdownDrainsWithoutWaitingForFullRequests) {
  auto c = Config(2);
  c.queue_config.batch_send_deadline = absl::Hours(1);
  c.queue_config.max_samples_per_send = 1000;
  auto exporter = Make(c);
  ASSERT_TRUE(exporter->Start().ok());
  for (int target = 0; target < 4; ++target) {
    exporter->Consume(Scrape(target, 7, 1000));
  }
  const absl::Time start = absl::Now();
  exporter->Shutdown(absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(receiver_.accepted_samples(), 28u);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), 28);
  EXPECT_EQ(
      Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "shutdown"}}), 0);
  ExpectNoViolations();
}

TEST_F(ExporterTest, ShutdownKeepsWhatTheReceiverRefusedForTheNextStart) {
  std::atomic<bool> down{true};
  receiver_.SetResponder([&](const ReceivedRequest&) {
    return down.load() ? ReceiverResponse{503} : ReceiverResponse{};
  });
  {
    auto exporter = Make(Config(2));
    ASSERT_TRUE(exporter->Start().ok());
    exporter->Consume(Scrape(0, 10, 1000));
    exporter->Consume(Scrape(1, 10, 1000));
    exporter->Consume(Scrape(0, 10, 2000));
    ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
    const absl::Time start = absl::Now();
    exporter->Shutdown(absl::Milliseconds(50));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    exporter->Consume(Scrape(2, 10, 1000));  // After shutdown: counted, not queued.
    exporter->Shutdown(absl::Seconds(1));    // Second call: no-op.
    EXPECT_EQ(
        Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "shutdown"}}),
        10);
    EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_sent_total"), 0);
    EXPECT_EQ(exporter->queued_samples(), 30u);
    EXPECT_GT(DiskBytes(), 0);
    EXPECT_FALSE(exporter->Start().ok());
  }
  EXPECT_EQ(receiver_.accepted_samples(), 0u);

  // The next start sends the queued samples, oldest first, exactly once.
  down = false;
  prometheus::Registry second;
  auto exporter = Make(Config(2), &second);
  EXPECT_EQ(exporter->queued_samples(), 30u);
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 3000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(40, kWait));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(receiver_.accepted_samples(), 40u);
  EXPECT_EQ(receiver_.series().at(Key("m", 0, 3)).size(), 3u);
  EXPECT_EQ(exporter->queued_samples(), 0u);
  ExpectNoViolations();
}

TEST_F(ExporterTest, ShutdownBeforeStartIsSafe) {
  {
    auto exporter = Make(Config(2));
    exporter->Consume(Scrape(0, 3, 1000));
    exporter->Shutdown(absl::Seconds(1));
    exporter->Shutdown(absl::Seconds(1));
    EXPECT_EQ(
        Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "shutdown"}}),
        0);
    EXPECT_FALSE(exporter->Start().ok());
    EXPECT_EQ(receiver_.request_count(), 0u);
  }
  prometheus::Registry second;
  auto exporter = Make(Config(2), &second);
  ASSERT_TRUE(exporter->Start().ok());
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(3, kWait));
  exporter->Shutdown(absl::Seconds(5));
  ExpectNoViolations();
}

TEST_F(ExporterTest, StartTwiceFails) {
  auto exporter = Make(Config(1));
  ASSERT_TRUE(exporter->Start().ok());
  EXPECT_FALSE(exporter->Start().ok());
}

TEST_F(ExporterTest, BadUrlFailsStart) {
  auto c = Config(1);
  c.url = "ftp://127.0.0.1/write";
  auto exporter = Make(c);
  EXPECT_FALSE(exporter->Start().ok());
}

TEST_F(ExporterTest, ConsumeNeverWaitsForTheReceiverAndSpillsToDisk) {
  Event first_request_arrived;
  Event release;
  std::atomic<int> seen{0};
  receiver_.SetResponder([&](const ReceivedRequest&) {
    if (seen.fetch_add(1) == 0) {
      first_request_arrived.Notify();
      release.WaitFor(kWait);
    }
    return ReceiverResponse{};
  });
  auto c = Config(1);
  c.queue_config.max_samples_per_send = 10;
  config::StorageConfig storage;
  storage.memory_bytes = 4096;  // A few batches; the rest goes to disk.
  auto exporter = Make(c, nullptr, storage);
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 1000));  // Its request hangs.
  ASSERT_TRUE(first_request_arrived.WaitFor(kWait));
  // The producer is never held up by the hanging receiver.
  for (int i = 2; i <= 100; ++i) exporter->Consume(Scrape(0, 10, 1000 * i));
  EXPECT_EQ(exporter->queued_samples(), 1000u);
  EXPECT_GT(DiskBytes(), 0);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_queue_samples", {{"shard", "0"}}), 1000);
  release.Notify();
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(1000, kWait));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(receiver_.series().at(Key("m", 0, 9)).size(), 100u);
  EXPECT_EQ(exporter->queued_samples(), 0u);
  EXPECT_EQ(DiskBytes(), 0);
  ExpectNoViolations();
}

TEST_F(ExporterTest, WriteRelabelConfigsApplyPerDestination) {
  auto c = Config(1);
  relabel::RuleConfig drop;
  drop.source_labels = {"i"};
  drop.regex = "[0-4]";
  drop.action = relabel::Action::kDrop;
  relabel::RuleConfig add;
  add.target_label = "dest";
  add.replacement = "a";
  c.write_relabel_configs = {drop, add};
  auto exporter = Make(c);
  ASSERT_TRUE(exporter->Start().ok());
  exporter->Consume(Scrape(0, 10, 1000));
  exporter->Consume(Scrape(0, 10, 2000));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(10, kWait));
  exporter->Shutdown(absl::Seconds(5));
  const auto series = receiver_.series();
  ASSERT_EQ(series.size(), 5u);
  for (int i = 5; i < 10; ++i) {
    const std::string key =
        absl::StrCat("{__name__=\"m\", dest=\"a\", i=\"", i, "\", target=\"t0\"}");
    ASSERT_TRUE(series.count(key)) << key;
    EXPECT_EQ(series.at(key).size(), 2u);
  }
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "relabel"}}),
            10);
  ExpectNoViolations();
}

TEST_F(ExporterTest, SampleAgeLimitDropsWhatTheReceiverWouldReject) {
  auto c = Config(1);
  c.queue_config.sample_age_limit = absl::Minutes(10);
  auto exporter = Make(c);
  ASSERT_TRUE(exporter->Start().ok());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  exporter->Consume(Scrape(0, 5, now - 3600 * 1000));
  exporter->Consume(Scrape(0, 5, now));
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(5, kWait));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(receiver_.accepted_samples(), 5u);
  EXPECT_EQ(Metric(registry_, "tender_remote_write_samples_dropped_total", {{"reason", "too_old"}}),
            5);
  ExpectNoViolations();
}

TEST_F(ExporterTest, ReplayRateCapPacesTheBacklog) {
  auto c = Config(2);
  config::StorageConfig storage;
  storage.memory_bytes = 0;  // Every batch waits on disk: all of it is backlog.
  storage.replay_bytes_per_second = 4 << 10;
  auto exporter = Make(c, nullptr, storage);
  for (int i = 0; i < 40; ++i) exporter->Consume(Scrape(i % 4, 50, 1000 * (i + 1)));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(exporter->Start().ok());
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(2000, kWait));
  const absl::Duration took = absl::Now() - start;
  exporter->Shutdown(absl::Seconds(5));
  const double bytes = Metric(registry_, "tender_remote_write_bytes_sent_total");
  EXPECT_EQ(Metric(registry_, "tender_remote_write_replayed_bytes_total"), bytes);
  // The bucket starts with one second of allowance; the rest cannot go faster than the cap
  // (the last request is reserved before it is sent).
  const double floor_seconds = (bytes - 2 * (4 << 10)) / (4 << 10);
  ASSERT_GT(floor_seconds, 0.5) << "not enough bytes to see the cap: " << bytes;
  EXPECT_GE(absl::ToDoubleSeconds(took), floor_seconds);
  ExpectNoViolations();
}

TEST_F(ExporterTest, BadWriteRelabelConfigFailsStart) {
  auto c = Config(1);
  relabel::RuleConfig bad;
  bad.source_labels = {"i"};
  bad.regex = "(";
  c.write_relabel_configs = {bad};
  auto exporter = Make(c);
  EXPECT_FALSE(exporter->Start().ok());
}

}  // namespace
}  // namespace tender::remote_write
