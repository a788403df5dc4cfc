// Durability end to end against the real Prometheus: tender scrapes a fixture whose counter
// counts the scrapes it served, while Prometheus (the remote-write receiver) is stopped and
// started again, tender is restarted gracefully or killed, the queue is bounded, or its files
// are damaged. Afterwards the counter values in Prometheus show exactly what arrived: every
// value 1..N present means no sample was lost; Prometheus's own counters show no out-of-order
// or out-of-bounds rejection.
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/process.h"

namespace tender::testing {
namespace {

constexpr int kSeries = 20;
// Short in CI; TENDER_OUTAGE_SECONDS=120 gives the two-minute outage.
absl::Duration Outage() {
  int seconds = 15;
  const std::string env = Env("TENDER_OUTAGE_SECONDS", "");
  if (!env.empty()) seconds = std::max(1, std::atoi(env.c_str()));
  return absl::Seconds(seconds);
}

class E2EDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-durability-");
    ASSERT_FALSE(dir_.empty());
    fixture_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const int64_t n = served_.fetch_add(1) + 1;
      std::string body = "# TYPE dur_counter counter\n";
      for (int i = 0; i < kSeries; ++i) {
        absl::StrAppend(&body, "dur_counter_total{i=\"", i, "\"} ", n, "\n");
      }
      res.set_content(body, "text/plain; version=0.0.4; charset=utf-8");
    });
    fixture_port_ = fixture_.bind_to_any_port("127.0.0.1");
    fixture_thread_ = std::thread([this] { fixture_.listen_after_bind(); });
    prom_port_ = FreePort();
    StartPrometheus();
    tender_port_ = FreePort();
  }

  void TearDown() override {
    tender_.reset();
    prometheus_.reset();
    fixture_.stop();
    if (fixture_thread_.joinable()) fixture_thread_.join();
    if (HasFailure()) {
      std::cerr << "--- tender.log (tail)\n" << Tail(ReadFile(dir_ + "/tender.log"), 20000);
      std::cerr << "--- prometheus.log (tail)\n" << Tail(ReadFile(dir_ + "/prometheus.log"), 5000);
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  static std::string Tail(const std::string& s, size_t n) {
    return s.size() > n ? s.substr(s.size() - n) : s;
  }

  void StartPrometheus() {
    prometheus_ = StartPrometheusReceiver(dir_, prom_port_);
    ASSERT_NE(prometheus_, nullptr) << ReadFile(dir_ + "/prometheus.log");
    prom_ = std::make_unique<httplib::Client>("127.0.0.1", prom_port_);
    prom_->set_read_timeout(10, 0);
  }

  void StopPrometheus() {
    ASSERT_EQ(prometheus_->Stop(SIGTERM, absl::Seconds(30)), 0);
    prometheus_.reset();
  }

  void WriteConfig(const std::string& storage_section) {
    std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixture
    static_configs:
      - targets: ['127.0.0.1:)",
                                                        fixture_port_, R"(']
remote_write:
  - url: http://127.0.0.1:)",
                                                        prom_port_, R"(/api/v1/write
    queue_config:
      batch_send_deadline: 100ms
      min_backoff: 100ms
      max_backoff: 1s
)",
                                                        storage_section);
  }

  void StartTender() {
    tender_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{Env("TENDER_BINARY_DIR", ".") + "/collector/app/tender",
                                 "--config.file=" + dir_ + "/tender.yml",
                                 absl::StrCat("--web.listen-address=127.0.0.1:", tender_port_),
                                 "--storage.path=" + dir_ + "/tender-data"},
        dir_ + "/tender.log");
    httplib::Client c("127.0.0.1", tender_port_);
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = c.Get("/-/ready");
          return r && r->status == 200;
        },
        absl::Seconds(30)));
  }

  // The raw samples of one series over the last hour, by a range-vector instant query.
  std::vector<double> Values(int i) {
    std::vector<double> out;
    const std::string q = absl::StrCat("dur_counter_total{job=\"fixture\",i=\"", i, "\"}[1h]");
    auto r = prom_->Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
    if (!r || r->status != 200) return out;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    if (!doc.IsObject() || !doc.HasMember("data")) return out;
    const auto& result = doc["data"]["result"];
    if (!result.IsArray() || result.Empty()) return out;
    for (const auto& v : result[0]["values"].GetArray()) {
      out.push_back(std::stod(v[1].GetString()));
    }
    return out;
  }

  // Waits until series `i` holds the value `n` (the queue has caught up to it).
  bool WaitForValue(int i, int64_t n, absl::Duration timeout) {
    return WaitFor(
        [&] {
          const std::vector<double> v = Values(i);
          return !v.empty() && v.back() >= static_cast<double>(n);
        },
        timeout);
  }

  // Sum of every series of `name` in an exposition fetched from `client` (0 when absent).
  static double ScrapeSum(httplib::Client& client, const std::string& name,
                          const std::string& must_contain = "") {
    auto r = client.Get("/metrics");
    if (!r || r->status != 200) return -1;
    double sum = 0;
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) != 0) continue;
      const char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != '{' && next != ' ') continue;
      if (!must_contain.empty() && line.find(must_contain) == std::string::npos) continue;
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  double TenderMetric(const std::string& name, const std::string& must_contain = "") {
    httplib::Client c("127.0.0.1", tender_port_);
    return ScrapeSum(c, name, must_contain);
  }

  // Prometheus rejected nothing: no out-of-order, out-of-bounds or duplicate sample, and no
  // remote-write request answered 400.
  void ExpectPrometheusRejectedNothing() {
    EXPECT_EQ(ScrapeSum(*prom_, "prometheus_tsdb_out_of_order_samples_total"), 0);
    EXPECT_EQ(ScrapeSum(*prom_, "prometheus_tsdb_out_of_bound_samples_total"), 0);
    EXPECT_EQ(ScrapeSum(*prom_, "prometheus_tsdb_too_old_samples_total"), 0);
    EXPECT_EQ(ScrapeSum(*prom_, "prometheus_http_requests_total",
                        "code=\"400\",handler=\"/api/v1/write\""),
              0);
  }

  struct Gaps {
    std::set<int64_t> missing;  // Values in 1..max not in Prometheus.
    int64_t duplicates = 0;     // Values present more than once.
    int64_t max = 0;
  };
  Gaps Check(int i) {
    Gaps g;
    const std::vector<double> values = Values(i);
    std::map<int64_t, int> seen;
    for (double v : values) {
      ++seen[static_cast<int64_t>(v)];
      g.max = std::max(g.max, static_cast<int64_t>(v));
    }
    for (int64_t n = 1; n <= g.max; ++n) {
      auto it = seen.find(n);
      if (it == seen.end()) {
        g.missing.insert(n);
      } else if (it->second > 1) {
        g.duplicates += it->second - 1;
      }
    }
    return g;
  }

  // Waits for the fixture to have served `n` more scrapes.
  void WaitScrapes(int64_t n) {
    const int64_t target = served_.load() + n;
    ASSERT_TRUE(WaitFor([&] { return served_.load() >= target; }, absl::Seconds(60)));
  }

  std::string dir_;
  httplib::Server fixture_;
  std::thread fixture_thread_;
  std::atomic<int64_t> served_{0};
  int fixture_port_ = 0, prom_port_ = 0, tender_port_ = 0;
  std::unique_ptr<ChildProcess> prometheus_, tender_;
  std::unique_ptr<httplib::Client> prom_;
};

TEST_F(E2EDurabilityTest, ReceiverOutageLosesNothing) {
  WriteConfig("");
  StartTender();
  WaitScrapes(3);
  ASSERT_TRUE(WaitForValue(0, 2, absl::Seconds(30)));
  StopPrometheus();
  const int64_t before = served_.load();
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(Outage()));
  const int64_t during = served_.load() - before;
  EXPECT_GT(TenderMetric("tender_queue_batches"), 0);
  StartPrometheus();
  WaitScrapes(2);
  const int64_t last = served_.load();
  ASSERT_TRUE(WaitForValue(0, last, absl::Seconds(60)));
  for (int i = 0; i < kSeries; ++i) {
    const Gaps g = Check(i);
    EXPECT_TRUE(g.missing.empty()) << "series " << i << ": " << g.missing.size() << " missing";
    EXPECT_EQ(g.duplicates, 0);
  }
  ExpectPrometheusRejectedNothing();
  EXPECT_EQ(TenderMetric("tender_remote_write_samples_dropped_total"), 0);
  EXPECT_EQ(TenderMetric("tender_queue_dropped_bytes_total"), 0);
  std::cout << "outage " << absl::FormatDuration(Outage()) << ": " << during
            << " scrapes queued, all " << last << " values of every series arrived\n";
}

TEST_F(E2EDurabilityTest, GracefulRestartDuringOutageLosesNothing) {
  WriteConfig("");
  StartTender();
  WaitScrapes(3);
  ASSERT_TRUE(WaitForValue(0, 2, absl::Seconds(30)));
  StopPrometheus();
  WaitScrapes(5);
  ASSERT_EQ(tender_->Stop(SIGTERM, absl::Seconds(30)), 0);
  // Everything queued is on disk now.
  StartTender();
  WaitScrapes(5);
  StartPrometheus();
  WaitScrapes(2);
  const int64_t last = served_.load();
  ASSERT_TRUE(WaitForValue(0, last, absl::Seconds(60)));
  for (int i = 0; i < kSeries; ++i) {
    const Gaps g = Check(i);
    EXPECT_TRUE(g.missing.empty()) << "series " << i << ": " << g.missing.size() << " missing";
    EXPECT_EQ(g.duplicates, 0);
  }
  ExpectPrometheusRejectedNothing();
}

// kill -9 loses at most what was in memory: storage.memory_bytes per destination, split over
// its 8 shards. One fixture scrape is a record of about 3.5 KiB; with 64 KiB per destination
// a shard holds 8 KiB, so at most 2 scrapes can be lost (plus the one being scraped).
TEST_F(E2EDurabilityTest, KillDuringOutageLosesAtMostTheMemoryBound) {
  WriteConfig("storage:\n  memory_bytes: 64KiB\n");
  StartTender();
  WaitScrapes(3);
  ASSERT_TRUE(WaitForValue(0, 2, absl::Seconds(30)));
  StopPrometheus();
  WaitScrapes(6);
  tender_->Stop(SIGKILL, absl::Seconds(10));
  StartTender();
  WaitScrapes(3);
  StartPrometheus();
  WaitScrapes(2);
  const int64_t last = served_.load();
  ASSERT_TRUE(WaitForValue(0, last, absl::Seconds(60)));
  size_t worst = 0;
  for (int i = 0; i < kSeries; ++i) {
    const Gaps g = Check(i);
    worst = std::max(worst, g.missing.size());
    EXPECT_LE(g.missing.size(), 3u) << "series " << i;  // Two in memory, one being scraped.
    EXPECT_EQ(g.duplicates, 0);
  }
  ExpectPrometheusRejectedNothing();
  std::cout << "kill -9 during an outage: at most " << worst << " of " << last
            << " scrapes lost per series (memory_bytes 64KiB)\n";
}

TEST_F(E2EDurabilityTest, ByteBoundDropsOldestFirstAndCountsIt) {
  // 8 shards of 16 KiB: about four fixture scrapes (3.5 KiB each) per shard.
  WriteConfig("storage:\n  max_bytes: 128KiB\n  memory_bytes: 8KiB\n");
  StartTender();
  WaitScrapes(3);
  ASSERT_TRUE(WaitForValue(0, 2, absl::Seconds(30)));
  StopPrometheus();
  const int64_t first_queued = served_.load() + 1;
  WaitScrapes(12);
  const int64_t newest_queued = served_.load();
  StartPrometheus();
  WaitScrapes(2);
  const int64_t last = served_.load();
  ASSERT_TRUE(WaitForValue(0, last, absl::Seconds(60)));
  const double dropped = TenderMetric("tender_queue_dropped_bytes_total", "reason=\"max_bytes\"");
  EXPECT_GT(dropped, 0);
  size_t lost = 0;
  for (int i = 0; i < kSeries; ++i) {
    const Gaps g = Check(i);
    ASSERT_FALSE(g.missing.empty()) << "series " << i;
    // What is missing is one contiguous run of the oldest queued scrapes; the newest data
    // arrived complete.
    EXPECT_GE(*g.missing.begin(), first_queued - 1);
    EXPECT_EQ(*g.missing.rbegin() - *g.missing.begin() + 1, static_cast<int64_t>(g.missing.size()));
    EXPECT_LT(*g.missing.rbegin(), newest_queued);
    EXPECT_EQ(g.duplicates, 0);
    lost = std::max(lost, g.missing.size());
  }
  ExpectPrometheusRejectedNothing();
  std::cout << "max_bytes 128KiB: oldest " << lost << " of " << newest_queued - first_queued + 1
            << " queued scrapes dropped (" << dropped << " bytes counted), newest "
            << last - (first_queued + static_cast<int64_t>(lost)) + 1 << " complete\n";
}

TEST_F(E2EDurabilityTest, CorruptSegmentTailIsSkippedAndCounted) {
  WriteConfig("storage:\n  memory_bytes: 0\n");  // Every batch goes to disk at once.
  StartTender();
  WaitScrapes(3);
  ASSERT_TRUE(WaitForValue(0, 2, absl::Seconds(30)));
  StopPrometheus();
  WaitScrapes(6);
  ASSERT_EQ(tender_->Stop(SIGTERM, absl::Seconds(30)), 0);
  // Flip one byte in the middle of the last record of the newest segment of every shard, and
  // cut the newest segment of the shard that holds the fixture's batches in the middle of
  // its last record too (a torn tail).
  int damaged = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir_ + "/tender-data/queue")) {
    if (entry.path().extension() != ".seg") continue;
    const std::string path = entry.path().string();
    std::string content = ReadFile(path);
    if (content.size() < 200) continue;
    // The last record: find it by walking the frames (u32 length, u32 crc, payload).
    size_t off = 8, last = 0;
    while (off + 8 <= content.size()) {
      uint32_t len = 0;
      std::memcpy(&len, content.data() + off, 4);
      if (off + 8 + len > content.size()) break;
      last = off;
      off += 8 + len;
    }
    if (last == 0) continue;
    content[last + 8 + 20] ^= 0x40;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  StartTender();
  StartPrometheus();
  WaitScrapes(2);
  const int64_t last = served_.load();
  ASSERT_TRUE(WaitForValue(0, last, absl::Seconds(60)));
  EXPECT_GE(TenderMetric("tender_queue_corrupt_records_total"), 1);
  for (int i = 0; i < kSeries; ++i) {
    const Gaps g = Check(i);
    // Only the damaged record's scrape is gone; everything before it was replayed.
    EXPECT_EQ(g.missing.size(), 1u) << "series " << i;
    EXPECT_EQ(g.duplicates, 0);
  }
  ExpectPrometheusRejectedNothing();
}

}  // namespace
}  // namespace tender::testing
