#include "exporters/loki/exporter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/tools/fake_loki.h"

namespace tender::loki {
namespace {

using test_tools::FakeLoki;
using test_tools::LokiEntry;
using test_tools::LokiResponse;

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat("tender-loki-test-", getpid(), "-", counter_++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : metric.label) found |= l.name == k && l.value == v;
        match &= found;
      }
      if (!match) continue;
      sum += metric.counter.value + metric.gauge.value;
    }
  }
  return sum;
}

LokiExporter::Settings MakeSettings(const FakeLoki& loki, const std::string& dir,
                                    prometheus::Registry* registry) {
  LokiExporter::Settings s;
  s.config.url = loki.url();
  s.config.name = "test";
  s.config.batch_wait = absl::Milliseconds(50);
  s.config.min_backoff = absl::Milliseconds(10);
  s.config.max_backoff = absl::Milliseconds(100);
  s.registry = registry;
  s.queue_dir = dir;
  return s;
}

model::LogEntry Entry(std::string labels, int64_t ts, std::string line) {
  model::LogEntry e;
  e.labels = std::move(labels);
  e.timestamp_ns = ts;
  e.line = std::move(line);
  return e;
}

constexpr int64_t kT0 = 1700000000000000000;

TEST(LokiExporterTest, BatchesBySizeSortsPerStreamAndSendsProtobuf) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  prometheus::Registry registry;
  LokiExporter::Settings settings = MakeSettings(loki, dir.path(), &registry);
  settings.config.batch_size = 100;  // About ten 10-byte lines per request.
  LokiExporter exporter(std::move(settings));
  ASSERT_TRUE(exporter.Start().ok());
  std::vector<model::LogEntry> entries;
  for (int i = 0; i < 100; ++i) {
    entries.push_back(Entry(R"({job="a"})", kT0 + i, absl::StrCat("line-a-", 100 + i)));
    entries.push_back(Entry(R"({job="b"})", kT0 + i, absl::StrCat("line-b-", 100 + i)));
  }
  // Two entries of one batch out of order: they are sorted before sending.
  entries.push_back(Entry(R"({job="c"})", kT0 + 2, "c2"));
  entries.push_back(Entry(R"({job="c"})", kT0 + 1, "c1"));
  exporter.Consume(std::move(entries));
  ASSERT_TRUE(loki.WaitForEntries(202, absl::Seconds(10)));
  exporter.Shutdown(absl::Seconds(5));
  const std::vector<LokiEntry> a = loki.stream("fake", R"({job="a"})");
  ASSERT_EQ(a.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(a[i], (LokiEntry{kT0 + i, absl::StrCat("line-a-", 100 + i)}));
  }
  EXPECT_EQ(loki.stream("fake", R"({job="c"})"),
            (std::vector<LokiEntry>{{kT0 + 1, "c1"}, {kT0 + 2, "c2"}}));
  EXPECT_GE(loki.requests().size(), 20u);  // 2020 line bytes in batches of at most 100.
  for (const auto& r : loki.requests()) {
    EXPECT_EQ(r.headers.at("content-type"), "application/x-protobuf");
    EXPECT_EQ(r.headers.count("x-scope-orgid"), 0u);
    EXPECT_EQ(r.headers.count("content-encoding"), 0u);
  }
  EXPECT_TRUE(loki.violations().empty());
  EXPECT_EQ(loki.duplicates(), 0u);
  EXPECT_EQ(MetricValue(registry, "tender_loki_entries_sent_total"), 202);
  EXPECT_EQ(MetricValue(registry, "tender_loki_streams"), 3);
  EXPECT_GT(MetricValue(registry, "tender_loki_bytes_sent_total"), 0);
  EXPECT_EQ(MetricValue(registry, "tender_loki_requests_total", {{"code", "204"}}),
            static_cast<double>(loki.requests().size()));
}

// Labels named in structured_metadata leave the stream selector and travel with each entry,
// in both encodings; entries that differ only in them share one stream.
TEST(LokiExporterTest, StructuredMetadataMovesLabelsOutOfTheStream) {
  for (const auto encoding :
       {config::LokiConfig::Encoding::kProtobuf, config::LokiConfig::Encoding::kJson}) {
    SCOPED_TRACE(encoding == config::LokiConfig::Encoding::kJson ? "json" : "protobuf");
    FakeLoki loki;
    ASSERT_TRUE(loki.Start().ok());
    TempDir dir;
    LokiExporter::Settings settings = MakeSettings(loki, dir.path(), nullptr);
    settings.config.encoding = encoding;
    settings.config.structured_metadata = {"pod", "request_id"};
    LokiExporter exporter(std::move(settings));
    ASSERT_TRUE(exporter.Start().ok());
    std::vector<model::LogEntry> entries;
    entries.push_back(Entry(R"({job="web", pod="web-1"})", kT0, "from one"));
    entries.push_back(Entry(R"({job="web", pod="web-2", request_id="r7"})", kT0 + 1, "from two"));
    entries.push_back(Entry(R"({job="web"})", kT0 + 2, "no pod"));
    // Only a metadata label: kept as the stream label, since a stream needs one.
    entries.push_back(Entry(R"({pod="lonely"})", kT0 + 3, "only pod"));
    exporter.Consume(std::move(entries));
    ASSERT_TRUE(loki.WaitForEntries(4, absl::Seconds(10)));
    exporter.Shutdown(absl::Seconds(5));
    const auto all = loki.entries();
    ASSERT_EQ(all.count("fake"), 1u);
    std::vector<std::string> selectors;
    for (const auto& [selector, unused] : all.at("fake")) selectors.push_back(selector);
    EXPECT_EQ(selectors, (std::vector<std::string>{R"({job="web"})", R"({pod="lonely"})"}));
    EXPECT_EQ(
        loki.stream("fake", R"({job="web"})"),
        (std::vector<LokiEntry>{{kT0, "from one", {{"pod", "web-1"}}},
                                {kT0 + 1, "from two", {{"pod", "web-2"}, {"request_id", "r7"}}},
                                {kT0 + 2, "no pod", {}}}));
    EXPECT_EQ(loki.stream("fake", R"({pod="lonely"})"),
              (std::vector<LokiEntry>{{kT0 + 3, "only pod", {}}}));
    EXPECT_TRUE(loki.violations().empty());
  }
}

// Metadata bytes count towards batch_size.
TEST(LokiExporterTest, StructuredMetadataCountsTowardsBatchSize) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  LokiExporter::Settings settings = MakeSettings(loki, dir.path(), nullptr);
  settings.config.structured_metadata = {"pod"};
  settings.config.batch_size = 30;  // One entry of 1 + 3 + 20 bytes per batch.
  LokiExporter exporter(std::move(settings));
  ASSERT_TRUE(exporter.Start().ok());
  const std::string pod(20, 'p');
  std::vector<model::LogEntry> entries;
  for (int i = 0; i < 4; ++i) {
    entries.push_back(Entry(absl::StrCat(R"({job="a", pod=")", pod, R"("})"), kT0 + i, "x"));
  }
  exporter.Consume(std::move(entries));
  ASSERT_TRUE(loki.WaitForEntries(4, absl::Seconds(10)));
  exporter.Shutdown(absl::Seconds(5));
  EXPECT_EQ(loki.requests().size(), 4u);
}

TEST(LokiExporterTest, BatchWaitSendsASmallBatch) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  LokiExporter exporter(MakeSettings(loki, dir.path(), nullptr));
  ASSERT_TRUE(exporter.Start().ok());
  exporter.Consume(Entry(R"({job="a"})", kT0, "lonely line"));
  EXPECT_TRUE(loki.WaitForEntries(1, absl::Seconds(5)));
  exporter.Shutdown(absl::Seconds(5));
}

TEST(LokiExporterTest, JsonEncodingAndTenants) {
  FakeLoki loki(FakeLoki::Options{.multi_tenant = true});
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  LokiExporter::Settings settings = MakeSettings(loki, dir.path(), nullptr);
  settings.config.encoding = config::LokiConfig::Encoding::kJson;
  settings.config.tenant_id = "team-a";
  LokiExporter exporter(std::move(settings));
  ASSERT_TRUE(exporter.Start().ok());
  exporter.Consume(Entry(R"({job="a", path="x\"y"})", kT0, "to team a \xc3\xbc"));
  model::LogEntry other = Entry(R"({job="a"})", kT0 + 1, "to team b");
  other.tenant = "team-b";
  exporter.Consume(std::move(other));
  ASSERT_TRUE(loki.WaitForEntries(2, absl::Seconds(5)));
  exporter.Shutdown(absl::Seconds(5));
  EXPECT_EQ(loki.stream("team-a", R"({job="a", path="x\"y"})"),
            (std::vector<LokiEntry>{{kT0, "to team a \xc3\xbc"}}));
  EXPECT_EQ(loki.stream("team-b", R"({job="a"})"),
            (std::vector<LokiEntry>{{kT0 + 1, "to team b"}}));
  for (const auto& r : loki.requests()) {
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
  }
  EXPECT_TRUE(loki.violations().empty());
}

TEST(LokiExporterTest, RetriesRateLimitsAndServerErrorsDropsBadRequests) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  prometheus::Registry registry;
  LokiExporter exporter(MakeSettings(loki, dir.path(), &registry));
  loki.ScriptResponses({{429, "", "rate limited"}, {503, "", ""}, {500, "", ""}});
  ASSERT_TRUE(exporter.Start().ok());
  exporter.Consume(Entry(R"({job="a"})", kT0, "retried"));
  ASSERT_TRUE(loki.WaitForEntries(1, absl::Seconds(10)));
  EXPECT_EQ(loki.requests().size(), 4u);
  EXPECT_EQ(MetricValue(registry, "tender_loki_entries_retried_total"), 3);
  EXPECT_EQ(MetricValue(registry, "tender_loki_requests_total", {{"code", "429"}}), 1);

  // A 400 is not retried: the batch is dropped and counted, and the next one goes through.
  loki.ScriptResponses({{400, "", "entry too far behind"}});
  exporter.Consume(Entry(R"({job="a"})", kT0 + 1, "rejected"));
  ASSERT_TRUE(loki.WaitForRequests(5, absl::Seconds(10)));
  exporter.Consume(Entry(R"({job="a"})", kT0 + 2, "accepted"));
  ASSERT_TRUE(loki.WaitForEntries(2, absl::Seconds(10)));
  exporter.Shutdown(absl::Seconds(5));
  EXPECT_EQ(loki.requests().size(), 6u);
  EXPECT_EQ(MetricValue(registry, "tender_loki_entries_dropped_total", {{"reason", "rejected"}}),
            1);
  EXPECT_EQ(loki.stream("fake", R"({job="a"})"),
            (std::vector<LokiEntry>{{kT0, "retried"}, {kT0 + 2, "accepted"}}));
}

TEST(LokiExporterTest, RetryAfterIsHonoured) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  LokiExporter exporter(MakeSettings(loki, dir.path(), nullptr));
  loki.ScriptResponses({{429, "1", ""}});
  ASSERT_TRUE(exporter.Start().ok());
  exporter.Consume(Entry(R"({job="a"})", kT0, "x"));
  ASSERT_TRUE(loki.WaitForEntries(1, absl::Seconds(10)));
  exporter.Shutdown(absl::Seconds(5));
  const auto requests = loki.requests();
  ASSERT_EQ(requests.size(), 2u);
  // The computed backoff would be 10 ms; Retry-After asked for a second.
  EXPECT_GE(requests[1].received - requests[0].received, absl::Milliseconds(900));
}

TEST(LokiExporterTest, OutageAcrossShutdownLosesNothing) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  loki.SetResponder([](const test_tools::LokiRequest&) { return LokiResponse{503}; });
  {
    prometheus::Registry registry;
    LokiExporter exporter(MakeSettings(loki, dir.path(), &registry));
    ASSERT_TRUE(exporter.Start().ok());
    for (int i = 0; i < 50; ++i) {
      exporter.Consume(Entry(R"({job="a"})", kT0 + i, absl::StrCat("line ", i)));
    }
    ASSERT_TRUE(loki.WaitForRequests(2, absl::Seconds(10)));
    exporter.Shutdown(absl::Milliseconds(200));
    EXPECT_EQ(exporter.queued_entries(), 50u);
    EXPECT_EQ(MetricValue(registry, "tender_loki_entries_dropped_total"), 0);
  }
  EXPECT_EQ(loki.accepted_entries(), 0u);
  loki.SetResponder(nullptr);
  LokiExporter exporter(MakeSettings(loki, dir.path(), nullptr));
  EXPECT_EQ(exporter.queued_entries(), 50u);
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(loki.WaitForEntries(50, absl::Seconds(10)));
  exporter.Shutdown(absl::Seconds(5));
  const std::vector<LokiEntry> got = loki.stream("fake", R"({job="a"})");
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i].line, absl::StrCat("line ", i));
  EXPECT_EQ(exporter.queued_entries(), 0u);
}

TEST(LokiExporterTest, BeforeStartEntriesWaitAfterShutdownTheyAreCounted) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  TempDir dir;
  prometheus::Registry registry;
  LokiExporter exporter(MakeSettings(loki, dir.path(), &registry));
  exporter.Consume(Entry(R"({job="a"})", kT0, "before start"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(loki.WaitForEntries(1, absl::Seconds(5)));
  exporter.Shutdown(absl::Seconds(5));
  exporter.Consume(Entry(R"({job="a"})", kT0 + 1, "after shutdown"));
  EXPECT_EQ(MetricValue(registry, "tender_loki_entries_dropped_total", {{"reason", "shutdown"}}),
            1);
  EXPECT_EQ(loki.accepted_entries(), 1u);
}

}  // namespace
}  // namespace tender::loki
