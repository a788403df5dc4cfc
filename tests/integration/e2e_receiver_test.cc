// End to end against a decoding fake receiver: tender (as a subprocess) scrapes a fixture whose
// series change, while the receiver fails some requests with 500. Checks the stale-marker bit
// pattern, that per-series timestamps only increase, and that no sample is lost or repeated.
#include <gtest/gtest.h>
#include <httplib.h>

#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_receiver.h"

namespace tender::testing {
namespace {

constexpr uint64_t kStaleNaN = 0x7ff0000000000002ULL;

TEST(E2EReceiverTest, StaleMarkersOrderAndRetries) {
  const std::string dir = MakeTempDir("tender-e2e-rw-");
  test_tools::FakeRemoteWriteReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  std::mt19937 rng(42);
  absl::Mutex rng_mu;
  receiver.SetResponder([&](const test_tools::ReceivedRequest&) {
    absl::MutexLock lock(&rng_mu);
    test_tools::ReceiverResponse r;
    r.status = (rng() % 10 == 0) ? 500 : 204;
    return r;
  });

  // The fixture: a counter that counts scrapes, and a series that vanishes after scrape 3.
  std::atomic<int> scrapes{0};
  httplib::Server fixture;
  fixture.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const int n = ++scrapes;
    std::string body = absl::StrCat("# TYPE scrapes_total counter\nscrapes_total ", n, "\n");
    if (n <= 3) body += "vanishing{kind=\"early\"} 1\n";
    res.set_content(body, "text/plain; version=0.0.4");
  });
  const int fixture_port = fixture.bind_to_any_port("127.0.0.1");
  std::thread fixture_thread([&] { fixture.listen_after_bind(); });

  std::ofstream(dir + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
scrape_configs:
  - job_name: fixture
    static_configs:
      - targets: ['127.0.0.1:)",
                                                     fixture_port, R"(']
remote_write:
  - url: )",
                                                     receiver.url(), R"(
    queue_config:
      batch_send_deadline: 100ms
      min_backoff: 10ms
      max_backoff: 200ms
)");
  {
    ChildProcess tender(testing::TenderArgs(dir, FreePort()), dir + "/tender.log");
    ASSERT_TRUE(WaitFor([&] { return scrapes.load() >= 8; }, absl::Seconds(30)))
        << ReadFile(dir + "/tender.log");
    EXPECT_EQ(tender.Stop(SIGTERM, absl::Seconds(20)), 0) << ReadFile(dir + "/tender.log");
  }
  fixture.stop();
  fixture_thread.join();
  const int total = scrapes.load();

  EXPECT_TRUE(receiver.violations().empty()) << receiver.violations().front();
  EXPECT_EQ(receiver.order_violations(), 0u);
  const auto series = receiver.series();
  auto find = [&](const std::string& name) -> std::vector<test_tools::ReceivedSample> {
    for (const auto& [key, samples] : series) {
      if (absl::StartsWith(key, "{__name__=\"" + name + "\"")) return samples;
    }
    return {};
  };
  // Every scrape's counter value arrived exactly once, in order (retries included).
  const auto counter = find("scrapes_total");
  ASSERT_EQ(static_cast<int>(counter.size()), total) << ReadFile(dir + "/tender.log");
  for (size_t i = 0; i < counter.size(); ++i) {
    double v;
    std::memcpy(&v, &counter[i].value_bits, 8);
    EXPECT_EQ(v, static_cast<double>(i + 1));
    if (i > 0) {
      EXPECT_GT(counter[i].timestamp_ms, counter[i - 1].timestamp_ms);
    }
  }
  // The vanished series: three values, then one stale marker with the exact bit pattern.
  const auto vanishing = find("vanishing");
  ASSERT_EQ(vanishing.size(), 4u);
  EXPECT_EQ(vanishing[3].value_bits, kStaleNaN);
  EXPECT_EQ(vanishing[3].timestamp_ms, counter[3].timestamp_ms);
  const auto up = find("up");
  ASSERT_EQ(static_cast<int>(up.size()), total);
  for (const auto& s : up) EXPECT_EQ(s.value_bits, 0x3ff0000000000000ULL);  // 1.0
  // Some requests failed and were retried.
  size_t failed = 0;
  for (const auto& r : receiver.requests()) failed += r.status == 500;
  EXPECT_GT(receiver.request_count(), failed);
}

// 1,000 series from 10 targets while the receiver answers after a random delay of up to 5 s
// and fails 10% of requests with 500: per-series timestamps only increase at the receiver, and
// every scrape's value arrives exactly once.
TEST(E2EReceiverTest, ThousandSeriesThroughSlowFailingReceiver) {
  constexpr int kTargets = 10;
  constexpr int kSeriesPerTarget = 100;
  const std::string dir = MakeTempDir("tender-e2e-stress-");
  test_tools::FakeRemoteWriteReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  std::mt19937 rng(7);
  absl::Mutex rng_mu;
  receiver.SetResponder([&](const test_tools::ReceivedRequest&) {
    absl::MutexLock lock(&rng_mu);
    test_tools::ReceiverResponse r;
    r.status = (rng() % 10 == 0) ? 500 : 204;
    r.delay = absl::Milliseconds(rng() % 5000);
    return r;
  });

  std::atomic<bool> frozen{false};
  std::array<std::atomic<int>, kTargets> scrapes{};
  httplib::Server fixture;
  fixture.Get(R"(/t/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    if (frozen.load()) {
      res.status = 503;
      return;
    }
    const int t = std::stoi(req.matches[1]);
    const int n = ++scrapes[t];
    std::string body = "# TYPE stress_total counter\n";
    for (int i = 0; i < kSeriesPerTarget; ++i) {
      absl::StrAppend(&body, "stress_total{i=\"", i, "\"} ", n, "\n");
    }
    res.set_content(body, "text/plain; version=0.0.4");
  });
  const int fixture_port = fixture.bind_to_any_port("127.0.0.1");
  std::thread fixture_thread([&] { fixture.listen_after_bind(); });

  std::string jobs;
  for (int t = 0; t < kTargets; ++t) {
    absl::StrAppend(&jobs, "  - job_name: t", t, "\n    metrics_path: /t/", t,
                    "\n    static_configs:\n      - targets: ['127.0.0.1:", fixture_port, "']\n");
  }
  std::ofstream(dir + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
)",
                                                     jobs, R"(remote_write:
  - url: )",
                                                     receiver.url(), R"(
    remote_timeout: 10s
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 1s
)");
  {
    ChildProcess tender(testing::TenderArgs(dir, FreePort()), dir + "/tender.log");
    ASSERT_TRUE(WaitFor([&] { return scrapes[kTargets - 1].load() >= 15; }, absl::Seconds(60)))
        << ReadFile(dir + "/tender.log");
    frozen = true;
    // Every series ends with a stale marker once its target fails; wait for all of them.
    const bool all_stale = WaitFor(
        [&] {
          const auto series = receiver.series();
          int stale = 0;
          for (const auto& [key, samples] : series) {
            if (absl::StartsWith(key, "{__name__=\"stress_total\"") && !samples.empty() &&
                samples.back().value_bits == kStaleNaN) {
              ++stale;
            }
          }
          return stale == kTargets * kSeriesPerTarget;
        },
        absl::Seconds(120));
    EXPECT_TRUE(all_stale) << ReadFile(dir + "/tender.log").substr(0, 20000);
    EXPECT_EQ(tender.Stop(SIGTERM, absl::Seconds(30)), 0);
  }
  fixture.stop();
  fixture_thread.join();

  EXPECT_EQ(receiver.order_violations(), 0u);
  EXPECT_TRUE(receiver.violations().empty()) << receiver.violations().front();
  const auto series = receiver.series();
  int checked = 0;
  for (const auto& [key, samples] : series) {
    if (!absl::StartsWith(key, "{__name__=\"stress_total\"")) continue;
    ++checked;
    const size_t pos = key.find("job=\"t");
    ASSERT_NE(pos, std::string::npos) << key;
    const int t = std::stoi(key.substr(pos + 6));
    // Values 1..n, each once, then the stale marker.
    ASSERT_EQ(static_cast<int>(samples.size()), scrapes[t].load() + 1) << key;
    for (size_t i = 0; i + 1 < samples.size(); ++i) {
      double v;
      std::memcpy(&v, &samples[i].value_bits, 8);
      ASSERT_EQ(v, static_cast<double>(i + 1)) << key;
    }
  }
  EXPECT_EQ(checked, kTargets * kSeriesPerTarget);
  size_t failed = 0;
  for (const auto& r : receiver.requests()) failed += r.status == 500;
  EXPECT_GT(failed, 0u);
  std::cout << "stress: " << receiver.request_count() << " requests (" << failed
            << " answered 500), " << receiver.accepted_samples() << " samples accepted\n";
}

// Two destinations, one of them down: the live one gets every sample as it comes, the dead one
// queues; neither holds back the other.
TEST(E2EReceiverTest, DeadDestinationDoesNotHoldBackTheOther) {
  const std::string dir = MakeTempDir("tender-e2e-two-");
  test_tools::FakeRemoteWriteReceiver live;
  test_tools::FakeRemoteWriteReceiver dead;
  ASSERT_TRUE(live.Start().ok());
  ASSERT_TRUE(dead.Start().ok());
  dead.SetResponder(
      [](const test_tools::ReceivedRequest&) { return test_tools::ReceiverResponse{503}; });
  std::atomic<int> scrapes{0};
  httplib::Server fixture;
  fixture.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("# TYPE two_total counter\ntwo_total ", ++scrapes, "\n"),
                    "text/plain; version=0.0.4");
  });
  const int fixture_port = fixture.bind_to_any_port("127.0.0.1");
  std::thread fixture_thread([&] { fixture.listen_after_bind(); });
  const int admin_port = FreePort();
  std::ofstream(dir + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
scrape_configs:
  - job_name: fixture
    static_configs:
      - targets: ['127.0.0.1:)",
                                                     fixture_port, R"(']
remote_write:
  - name: dead
    url: )",
                                                     dead.url(), R"(
    queue_config: {batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 200ms}
  - name: live
    url: )",
                                                     live.url(), R"(
    queue_config: {batch_send_deadline: 100ms}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: two_total
        action: keep
)");
  ChildProcess tender(testing::TenderArgs(dir, admin_port), dir + "/tender.log");
  // The live destination keeps up with every scrape while the dead one refuses everything.
  ASSERT_TRUE(WaitFor([&] { return scrapes.load() >= 6; }, absl::Seconds(30)));
  const int seen = scrapes.load();
  ASSERT_TRUE(WaitFor([&] { return live.accepted_samples() >= static_cast<size_t>(seen); },
                      absl::Seconds(10)))
      << ReadFile(dir + "/tender.log");
  EXPECT_GT(dead.request_count(), 0u);
  EXPECT_EQ(dead.accepted_samples(), 0u);
  // write_relabel_configs of the live destination kept only the counter.
  for (const auto& [key, samples] : live.series()) {
    EXPECT_TRUE(absl::StartsWith(key, "{__name__=\"two_total\"")) << key;
  }
  httplib::Client admin("127.0.0.1", admin_port);
  auto metrics = admin.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("tender_queue_batches{remote_name=\"dead\""), std::string::npos);
  EXPECT_EQ(tender.Stop(SIGTERM, absl::Seconds(30)), 0);
  fixture.stop();
  fixture_thread.join();
  EXPECT_TRUE(live.violations().empty());
}

}  // namespace
}  // namespace tender::testing
