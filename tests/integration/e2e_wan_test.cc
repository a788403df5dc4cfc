// The remote-cluster acceptance run: 200 targets, each serving a ~200 KB exposition (gzip when
// asked), reached through tests/tools/wan_proxy.py with 0.75 s each way (1.5 s round trip,
// spread over 0.5 s by jitter that keeps the byte order), scraped every 15 s by the real tender
// binary writing to FakeRemoteWriteReceiver. Checks: every scrape succeeds (up == 1 for every
// target after its first scrape), scrapes start on schedule (±10 % of the interval, from the
// sample timestamps), about one connection per target goes through the proxy, and the median
// scrape_duration_seconds is at most the round trip + 0.5 s.
//
// Environment (for the longer runs behind docs/benchmarks.md; bench/wan/run sets them):
//   TENDER_WAN_SECONDS      how long tender scrapes (default 60)
//   TENDER_WAN_RESET_PROB   reset about this fraction of scrapes' connections (default 0);
//                           the run then reports the scrapes lost instead of asserting none are
//   TENDER_WAN_RETRY        "false" runs tender with --scrape.retry-on-reset=false
//   TENDER_WAN_GZIP         "false" serves the body uncompressed (200 KB in several chunks,
//                           so that a reset can land in the middle of a body: libcurl itself
//                           retries a request whose reused connection died before any byte
//                           of the answer arrived)
#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_receiver.h"

namespace tender::testing {
namespace {

constexpr int kTargets = 200;
constexpr double kIntervalSeconds = 15;
constexpr double kOneWaySeconds = 0.625;  // Plus jitter 0..0.25: 0.75 s each way on average.
constexpr double kJitterSeconds = 0.25;
constexpr double kRoundTripSeconds = 1.5;

// ~200 KB of exposition: 2,000 series with realistic label sets.
std::string Body() {
  std::string body;
  body.reserve(210 * 1024);
  body +=
      "# HELP wan_http_requests_total Requests served.\n# TYPE wan_http_requests_total counter\n";
  for (int i = 0; body.size() < 200 * 1024; ++i) {
    absl::StrAppendFormat(&body,
                          "wan_http_requests_total{handler=\"/api/v1/resource/%04d\",method=\"%s\","
                          "code=\"%d\",instance_id=\"a%08x\"} %d\n",
                          i, i % 3 == 0 ? "POST" : "GET", 200 + (i % 5), i * 2654435761u, i * 37);
  }
  return body;
}

std::string Gzip(const std::string& in) {
  z_stream z;
  std::memset(&z, 0, sizeof(z));
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 16: gzip.
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// The value of label `name` in a receiver series key ({__name__="up", instance="..."}).
std::string LabelOf(const std::string& series, const std::string& name) {
  const std::string needle = name + "=\"";
  size_t at = series.find(needle);
  if (at == std::string::npos) return "";
  at += needle.size();
  return series.substr(at, series.find('"', at) - at);
}

double ValueOf(const test_tools::ReceivedSample& s) {
  double v;
  std::memcpy(&v, &s.value_bits, sizeof(v));
  return v;
}

// An integer field of the proxy's stats file, -1 when missing.
int64_t StatsField(const std::string& json, const std::string& name) {
  const std::string needle = "\"" + name + "\": ";
  size_t at = json.find(needle);
  if (at == std::string::npos) return -1;
  at += needle.size();
  int64_t v = -1;
  (void)absl::SimpleAtoi(json.substr(at, json.find_first_of(",}", at) - at), &v);
  return v;
}

std::vector<int> ListenPorts(const std::string& json) {
  std::vector<int> ports;
  size_t at = json.find("\"listen_ports\": [");
  if (at == std::string::npos) return ports;
  at += std::strlen("\"listen_ports\": [");
  const std::string list = json.substr(at, json.find(']', at) - at);
  for (size_t i = 0; i < list.size();) {
    size_t end = list.find(',', i);
    if (end == std::string::npos) end = list.size();
    int p = 0;
    std::string item = list.substr(i, end - i);
    item.erase(0, item.find_first_not_of(' '));
    if (absl::SimpleAtoi(item, &p)) ports.push_back(p);
    i = end + 1;
  }
  return ports;
}

TEST(E2EWanTest, TwoHundredTargetsBehindAWanLinkAreScrapedOnSchedule) {
  const std::string dir = MakeTempDir("tender-e2e-wan-");
  int seconds = 60;
  (void)absl::SimpleAtoi(Env("TENDER_WAN_SECONDS", "60"), &seconds);
  double reset_prob = 0;
  (void)absl::SimpleAtod(Env("TENDER_WAN_RESET_PROB", "0"), &reset_prob);
  const bool retry = Env("TENDER_WAN_RETRY", "true") != "false";
  const bool gzip = Env("TENDER_WAN_GZIP", "true") != "false";

  // The targets: one server, 200 proxy routes to it. Keep-alive connections each hold a server
  // thread, and must outlive the 15 s between scrapes.
  const std::string body = Body();
  const std::string gzipped = Gzip(body);
  std::atomic<int> served{0};
  httplib::Server targets;
  targets.new_task_queue = [] { return new httplib::ThreadPool(2 * kTargets + 16); };
  targets.set_keep_alive_max_count(1000000);
  targets.set_keep_alive_timeout(600);
  targets.Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    ++served;
    if (gzip && req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gzipped, "text/plain; version=0.0.4");
    } else {
      res.set_content(body, "text/plain; version=0.0.4");
    }
  });
  const int upstream = targets.bind_to_any_port("127.0.0.1");
  ASSERT_GT(upstream, 0);
  std::thread serve([&] { targets.listen_after_bind(); });

  std::vector<std::string> proxy_args = {
      "/usr/bin/python3",
      Env("TENDER_SOURCE_DIR", ".") + "/tests/tools/wan_proxy.py",
      absl::StrCat("--delay=", kOneWaySeconds),
      absl::StrCat("--jitter=", kJitterSeconds),
      "--stats-file=" + dir + "/proxy.json",
      "--seed=1"};
  for (int i = 0; i < kTargets; ++i) {
    proxy_args.push_back(absl::StrCat("--route=127.0.0.1:0=127.0.0.1:", upstream));
  }
  if (reset_prob > 0) {
    // One check per scrape's worth of bytes (the gzipped body and the request).
    proxy_args.push_back(
        absl::StrCat("--reset-every-bytes=", (gzip ? gzipped.size() : body.size()) + 300));
    proxy_args.push_back(absl::StrCat("--reset-prob=", reset_prob));
  }
  auto proxy = std::make_unique<ChildProcess>(proxy_args, dir + "/proxy.log");
  std::vector<int> ports;
  ASSERT_TRUE(WaitFor(
      [&] {
        ports = ListenPorts(ReadFile(dir + "/proxy.json"));
        return ports.size() == kTargets;
      },
      absl::Seconds(20)))
      << ReadFile(dir + "/proxy.log");

  test_tools::FakeRemoteWriteReceiver receiver;
  ASSERT_TRUE(receiver.Start().ok());
  std::vector<std::string> addresses;
  for (int p : ports) addresses.push_back(absl::StrCat("\"127.0.0.1:", p, "\""));
  std::ofstream(dir + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 15s
  scrape_timeout: 10s
scrape_configs:
  - job_name: wan
    static_configs:
      - targets: [)",
                                                     absl::StrJoin(addresses, ", "), R"(]
    # The body's series are parsed and dropped: the run measures the scrapes.
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: wan_.*
        action: drop
remote_write:
  - url: )",
                                                     receiver.url(), R"(
    queue_config:
      batch_send_deadline: 1s
)");
  const int port = FreePort();
  auto tender = std::make_unique<ChildProcess>(
      testing::TenderArgs(dir, port,
                          {absl::StrCat("--scrape.retry-on-reset=", retry ? "true" : "false")}),
      dir + "/tender.log");
  absl::SleepFor(absl::Seconds(seconds));  // The run itself: nothing to wait for but time.
  EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0) << ReadFile(dir + "/tender.log");
  const std::string stats = ReadFile(dir + "/proxy.json");
  proxy.reset();
  targets.stop();
  serve.join();

  // Per target: up and scrape_duration_seconds samples in timestamp order.
  std::map<std::string, std::vector<test_tools::ReceivedSample>> up, duration;
  for (const auto& [series, samples] : receiver.series()) {
    const std::string name = LabelOf(series, "__name__");
    const std::string instance = LabelOf(series, "instance");
    if (name == "up") up[instance] = samples;
    if (name == "scrape_duration_seconds") duration[instance] = samples;
  }
  EXPECT_EQ(up.size(), static_cast<size_t>(kTargets));
  int64_t scrapes = 0, failed = 0, failed_after_first = 0;
  double worst_offset = 0;  // Largest |gap - interval| between consecutive scrapes, seconds.
  std::vector<double> durations;
  for (auto& [instance, samples] : up) {
    SCOPED_TRACE(instance);
    std::sort(samples.begin(), samples.end(),
              [](const auto& a, const auto& b) { return a.timestamp_ms < b.timestamp_ms; });
    // At least the first scrape and every interval after it until the end of the run.
    EXPECT_GE(samples.size(), static_cast<size_t>(seconds / kIntervalSeconds) - 1);
    for (size_t i = 0; i < samples.size(); ++i) {
      ++scrapes;
      if (ValueOf(samples[i]) != 1.0) {
        ++failed;
        if (i > 0) ++failed_after_first;
      }
      if (i > 0) {
        const double gap = (samples[i].timestamp_ms - samples[i - 1].timestamp_ms) / 1000.0;
        worst_offset = std::max(worst_offset, std::abs(gap - kIntervalSeconds));
      }
    }
  }
  for (const auto& [instance, samples] : duration) {
    for (const auto& s : samples) durations.push_back(ValueOf(s));
  }
  const int64_t accepted = StatsField(stats, "accepted");
  const int64_t resets = StatsField(stats, "resets");
  const double median = Median(durations);
  std::printf(
      "wan: %d targets, %d s, reset_prob %.3f, retry %s: %lld scrapes, %lld failed (%.3f %%), "
      "%lld failed after the first; schedule off by at most %.3f s; scrape_duration_seconds "
      "median %.3f s, p90 %.3f s, max %.3f s; proxy: %lld connections, %lld resets; body %zu B, "
      "gzipped %zu B; target served %d\n",
      kTargets, seconds, reset_prob, retry ? "on" : "off", static_cast<long long>(scrapes),
      static_cast<long long>(failed), scrapes > 0 ? 100.0 * failed / scrapes : 0.0,
      static_cast<long long>(failed_after_first), worst_offset, median, Quantile(durations, 0.9),
      Quantile(durations, 1.0), static_cast<long long>(accepted), static_cast<long long>(resets),
      body.size(), gzipped.size(), served.load());
  std::ofstream(Env("TENDER_WAN_RESULT", dir + "/result.json")) << absl::StrFormat(
      "{\"targets\": %d, \"seconds\": %d, \"reset_prob\": %g, \"retry\": %s, "
      "\"scrapes\": %d, \"failed\": %d, \"failed_after_first\": %d, "
      "\"schedule_worst_offset_s\": %.3f, \"duration_median_s\": %.3f, "
      "\"duration_p90_s\": %.3f, \"duration_max_s\": %.3f, \"connections\": %d, "
      "\"resets\": %d, \"served\": %d, \"gzip\": %s}\n",
      kTargets, seconds, reset_prob, retry ? "true" : "false", scrapes, failed, failed_after_first,
      worst_offset, median, Quantile(durations, 0.9), Quantile(durations, 1.0), accepted, resets,
      served.load(), gzip ? "true" : "false");
  EXPECT_TRUE(receiver.violations().empty()) << receiver.violations().front();
  EXPECT_LE(worst_offset, 0.1 * kIntervalSeconds);
  EXPECT_LE(median, kRoundTripSeconds + 0.5);
  if (reset_prob > 0) return;  // The lost scrapes are the measurement.
  EXPECT_EQ(failed_after_first, 0);
  // About one connection per target: a few may be re-opened, not one per scrape.
  EXPECT_GE(accepted, kTargets);
  EXPECT_LE(accepted, kTargets + kTargets / 10);
}

}  // namespace
}  // namespace tender::testing
