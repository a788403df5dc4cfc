#include "collector/scrape/scrape_processor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "absl/time/clock.h"
#include "collector/model/protowire.h"
#include "exporters/proto/remote.pb.h"

namespace tender::scrape {
namespace {

// One decoded sample: "{labels}" -> (value bits, timestamp).
struct Point {
  uint64_t bits;
  int64_t ts;
};
using Decoded = std::multimap<std::string, Point>;

Decoded Decode(const model::SeriesBatch& batch) {
  tender::prompb::WriteRequest req;
  EXPECT_TRUE(req.ParseFromString(batch.data));
  EXPECT_EQ(static_cast<uint32_t>(req.timeseries_size()), batch.samples);
  Decoded out;
  for (const auto& ts : req.timeseries()) {
    std::string key = "{";
    std::string prev;
    for (const auto& l : ts.labels()) {
      EXPECT_LT(prev, l.name()) << "labels not sorted";
      EXPECT_FALSE(l.value().empty());
      prev = l.name();
      if (key.size() > 1) key += ",";
      key += l.name() + "=" + l.value();
    }
    key += "}";
    EXPECT_EQ(ts.samples_size(), 1);
    out.emplace(key,
                Point{protowire::DoubleBits(ts.samples(0).value()), ts.samples(0).timestamp()});
  }
  return out;
}

double Value(const Decoded& d, const std::string& key) {
  auto it = d.find(key);
  EXPECT_NE(it, d.end()) << key;
  return it == d.end() ? -1 : protowire::BitsToDouble(it->second.bits);
}

bool IsStale(const Decoded& d, const std::string& key) {
  auto it = d.find(key);
  return it != d.end() && it->second.bits == model::kStaleNaNBits;
}

class ScrapeProcessorTest : public ::testing::Test {
 protected:
  ScrapeProcessorTest() : processor_(model::Labels{{"cluster", "c1"}}) {
    cfg_ = std::make_shared<config::ScrapeConfig>();
    cfg_->job_name = "j";
    target_.job = "j";
    target_.labels = {{"instance", "h:1"}, {"job", "j"}};
    target_.config = cfg_;
  }

  Decoded Scrape(std::string_view body, int64_t ts, int http_status = 200,
                 std::string_view content_type = "text/plain; version=0.0.4") {
    FetchOutcome f;
    f.http_status = http_status;
    f.body = body;
    f.content_type = content_type;
    model::SeriesBatch batch;
    report_ = processor_.Process(target_, state_, ts, absl::Now(), f, batch);
    return Decode(batch);
  }

  std::shared_ptr<config::ScrapeConfig> cfg_;
  Target target_;
  SeriesState state_;
  ScrapeProcessor processor_;
  ScrapeReport report_;
};

constexpr char kUp[] = "{__name__=up,cluster=c1,instance=h:1,job=j}";
constexpr char kAdded[] = "{__name__=scrape_series_added,cluster=c1,instance=h:1,job=j}";
constexpr char kScraped[] = "{__name__=scrape_samples_scraped,cluster=c1,instance=h:1,job=j}";

TEST_F(ScrapeProcessorTest, MergesTargetAndExternalLabelsAndReports) {
  const Decoded d = Scrape("# TYPE a counter\na 1\nb{x=\"y\",e=\"\"} 2.5\n", 1000);
  ASSERT_TRUE(report_.status.ok()) << report_.status;
  EXPECT_EQ(Value(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"), 1);
  EXPECT_EQ(Value(d, "{__name__=b,cluster=c1,instance=h:1,job=j,x=y}"), 2.5);
  EXPECT_EQ(Value(d, kUp), 1);
  EXPECT_EQ(Value(d, kScraped), 2);
  EXPECT_EQ(Value(d, kAdded), 2);
  EXPECT_EQ(d.count("{__name__=tender_scrape_phase_seconds,cluster=c1,instance=h:1,job=j,"
                    "phase=connect}"),
            1u);
  EXPECT_EQ(d.count("{__name__=tender_scrape_phase_seconds,cluster=c1,instance=h:1,job=j,"
                    "phase=parse}"),
            1u);
  for (const auto& [k, p] : d) EXPECT_EQ(p.ts, 1000) << k;
}

TEST_F(ScrapeProcessorTest, VanishedSeriesGetStaleMarkersOnce) {
  Scrape("a 1\nb 2\nc 3\n", 1000);
  Decoded d = Scrape("a 1\n", 2000);
  EXPECT_TRUE(IsStale(d, "{__name__=b,cluster=c1,instance=h:1,job=j}"));
  EXPECT_TRUE(IsStale(d, "{__name__=c,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(report_.stale_markers, 2u);
  EXPECT_EQ(Value(d, kAdded), 0);
  EXPECT_EQ(d.find("{__name__=b,cluster=c1,instance=h:1,job=j}")->second.ts, 2000);
  // Next scrape: nothing more vanished, b comes back as added.
  d = Scrape("a 1\nb 5\n", 3000);
  EXPECT_EQ(report_.stale_markers, 0u);
  EXPECT_EQ(Value(d, kAdded), 1);
  EXPECT_EQ(Value(d, "{__name__=b,cluster=c1,instance=h:1,job=j}"), 5);
}

TEST_F(ScrapeProcessorTest, FailedScrapeMarksEverythingStale) {
  Scrape("a 1\nb 2\n", 1000);
  Decoded d = Scrape("ignored 1\n", 2000, 500);
  EXPECT_FALSE(report_.status.ok());
  EXPECT_EQ(Value(d, kUp), 0);
  EXPECT_TRUE(IsStale(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"));
  EXPECT_TRUE(IsStale(d, "{__name__=b,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(d.count("{__name__=ignored,cluster=c1,instance=h:1,job=j}"), 0u);
  // A parse error is a failed scrape too, and nothing of that body is sent.
  Scrape("a 1\n", 3000);
  d = Scrape("a 1\nb{ 2\n", 4000);
  EXPECT_EQ(Value(d, kUp), 0);
  EXPECT_TRUE(IsStale(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j}"), 1u);
}

TEST_F(ScrapeProcessorTest, HonorLabelsFalseRenamesClashes) {
  const Decoded d = Scrape("m{job=\"x\",exported_job=\"z\",instance=\"i\"} 1\n", 1000);
  EXPECT_EQ(Value(d,
                  "{__name__=m,cluster=c1,exported_exported_job=x,exported_instance=i,"
                  "exported_job=z,instance=h:1,job=j}"),
            1);
}

TEST_F(ScrapeProcessorTest, HonorLabelsTrueKeepsScraped) {
  cfg_->honor_labels = true;
  const Decoded d = Scrape("m{job=\"x\",cluster=\"mine\"} 1\n", 1000);
  EXPECT_EQ(Value(d, "{__name__=m,cluster=mine,instance=h:1,job=x}"), 1);
}

TEST_F(ScrapeProcessorTest, ExplicitTimestampsOnlyAdvanceAndAreNotStaleTracked) {
  Decoded d = Scrape("a 1 5000\nb 1\n", 10000);
  EXPECT_EQ(d.find("{__name__=a,cluster=c1,instance=h:1,job=j}")->second.ts, 5000);
  d = Scrape("a 1 5000\nb 1\n", 20000);  // Same timestamp: dropped.
  EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j}"), 0u);
  EXPECT_EQ(report_.dropped_stale_timestamp, 1u);
  d = Scrape("a 2 4000\nb 1\n", 30000);  // Older: dropped.
  EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j}"), 0u);
  d = Scrape("a 3 6000\nb 1\n", 40000);  // Newer: kept.
  EXPECT_EQ(Value(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"), 3);
  d = Scrape("b 1\n", 50000);  // a vanished, but it carried timestamps: no marker.
  EXPECT_EQ(report_.stale_markers, 0u);
  // honor_timestamps false: the scrape time is used and the series is tracked.
  cfg_->honor_timestamps = false;
  d = Scrape("a 1 5000\n", 60000);
  EXPECT_EQ(d.find("{__name__=a,cluster=c1,instance=h:1,job=j}")->second.ts, 60000);
}

TEST_F(ScrapeProcessorTest, ReorderedExpositionIsNotAChange) {
  Scrape("a 1\nb 1\n", 1000);
  const Decoded d = Scrape("b 2\na 2\n", 2000);
  EXPECT_EQ(report_.stale_markers, 0u);
  EXPECT_EQ(Value(d, kAdded), 0);
  EXPECT_EQ(Value(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"), 2);
  // Back to the first order, then one series more and one less.
  Scrape("a 3\nb 3\n", 3000);
  const Decoded e = Scrape("c 4\nb 4\n", 4000);
  EXPECT_EQ(Value(e, kAdded), 1);
  EXPECT_TRUE(IsStale(e, "{__name__=a,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(report_.stale_markers, 1u);
}

TEST_F(ScrapeProcessorTest, ExplicitTimestampsFollowReorderedSeries) {
  Scrape("a 1 100\nb 1 100\n", 1000);
  Decoded d = Scrape("b 2 200\na 2 200\n", 2000);
  EXPECT_EQ(Value(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"), 2);
  EXPECT_EQ(Value(d, "{__name__=b,cluster=c1,instance=h:1,job=j}"), 2);
  EXPECT_EQ(Value(d, kAdded), 0);
  d = Scrape("x 1 300\nb 3 300\na 3 200\n", 3000);
  EXPECT_EQ(Value(d, kAdded), 1);
  EXPECT_EQ(Value(d, "{__name__=b,cluster=c1,instance=h:1,job=j}"), 3);
  EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j}"), 0u);  // 200 is not newer.
  EXPECT_EQ(report_.dropped_stale_timestamp, 1u);
  // Duplicated explicitly-stamped series: the first is kept.
  d = Scrape("x 1 400\nx 2 400\n", 4000);
  EXPECT_EQ(report_.dropped_duplicate, 1u);
  EXPECT_EQ(Value(d, "{__name__=x,cluster=c1,instance=h:1,job=j}"), 1);
}

TEST_F(ScrapeProcessorTest, LimitsFailTheScrapeAsPrometheusDoes) {
  struct Case {
    std::string name;
    std::function<void(config::ScrapeConfig&)> set;
    std::string body;
    bool ok;
    std::string error;
    std::string limit;
  };
  const std::vector<Case> cases = {
      {"sample_limit under", [](auto& c) { c.sample_limit = 2; }, "a 1\nb 1\n", true, "", ""},
      {"sample_limit over", [](auto& c) { c.sample_limit = 2; }, "a 1\nb 1\nc 1\n", false,
       "sample limit exceeded", "sample_limit"},
      // Target labels count: __name__, instance, job, x and the external cluster = 5.
      {"label_limit at", [](auto& c) { c.label_limit = 5; }, "a{x=\"1\"} 1\n", true, "", ""},
      {"label_limit over", [](auto& c) { c.label_limit = 4; }, "a{x=\"1\"} 1\n", false,
       "label_limit exceeded (metric: a, number of labels: 5, limit: 4)", "label_limit"},
      {"name length", [](auto& c) { c.label_name_length_limit = 8; }, "a{abcdefghi=\"1\"} 1\n",
       false, "label_name_length_limit exceeded (metric: a, label name: abcdefghi, length: 9",
       "label_name_length_limit"},
      {"value length", [](auto& c) { c.label_value_length_limit = 3; }, "a{x=\"abcd\"} 1\n", false,
       "label_value_length_limit exceeded (metric: a, label name: x, value: \"abcd\"",
       "label_value_length_limit"},
      {"value length ok", [](auto& c) { c.label_value_length_limit = 4; }, "a{x=\"abcd\"} 1\n",
       true, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    *cfg_ = config::ScrapeConfig{};
    cfg_->job_name = "j";
    c.set(*cfg_);
    state_ = SeriesState{};
    const Decoded d = Scrape(c.body, 1000);
    EXPECT_EQ(report_.status.ok(), c.ok) << report_.status;
    EXPECT_EQ(Value(d, kUp), c.ok ? 1 : 0);
    EXPECT_NE(std::string(report_.status.message()).find(c.error), std::string::npos)
        << report_.status;
    EXPECT_EQ(report_.limit_hit, c.limit);
    if (!c.ok) {
      EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j}"), 0u);
    }
  }
}

TEST_F(ScrapeProcessorTest, TrackTimestampsStaleness) {
  cfg_->track_timestamps_staleness = true;
  Scrape("a 1 100\nb 1\n", 1000);
  const Decoded d = Scrape("b 1\n", 2000);
  EXPECT_TRUE(IsStale(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(d.find("{__name__=a,cluster=c1,instance=h:1,job=j}")->second.ts, 2000);
}

TEST_F(ScrapeProcessorTest, DuplicateSeriesKeepsTheFirst) {
  const Decoded d = Scrape("a{x=\"1\"} 1\na{x=\"1\"} 2\na{x=\"2\"} 3\n", 1000);
  EXPECT_EQ(d.count("{__name__=a,cluster=c1,instance=h:1,job=j,x=1}"), 1u);
  EXPECT_EQ(Value(d, "{__name__=a,cluster=c1,instance=h:1,job=j,x=1}"), 1);
  EXPECT_EQ(report_.dropped_duplicate, 1u);
  EXPECT_EQ(Value(d, kScraped), 3);
}

TEST_F(ScrapeProcessorTest, RepeatedLabelNameFailsTheScrape) {
  const Decoded d = Scrape("a{x=\"1\",x=\"2\"} 1\n", 1000);
  EXPECT_FALSE(report_.status.ok());
  EXPECT_EQ(Value(d, kUp), 0);
}

TEST_F(ScrapeProcessorTest, NaNIsCanonicalAndNeverStale) {
  const Decoded d = Scrape("a NaN\n", 1000);
  EXPECT_EQ(d.find("{__name__=a,cluster=c1,instance=h:1,job=j}")->second.bits,
            model::kNormalNaNBits);
}

TEST_F(ScrapeProcessorTest, EndOfTargetMarksSeriesAndReportSeries) {
  Scrape("a 1\nb 1 5\n", 1000);
  model::SeriesBatch batch;
  const uint32_t n = processor_.EndOfTarget(target_, state_, 2000, batch);
  const Decoded d = Decode(batch);
  EXPECT_TRUE(IsStale(d, "{__name__=a,cluster=c1,instance=h:1,job=j}"));
  EXPECT_EQ(d.count("{__name__=b,cluster=c1,instance=h:1,job=j}"), 0u);
  EXPECT_TRUE(IsStale(d, kUp));
  EXPECT_TRUE(IsStale(d, kAdded));
  EXPECT_EQ(n, batch.samples);
  EXPECT_TRUE(state_.tracked.empty());
}

TEST_F(ScrapeProcessorTest, OpenMetricsByContentType) {
  const Decoded d = Scrape("# TYPE a counter\na_total 1\n# EOF\n", 1000, 200,
                           "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ASSERT_TRUE(report_.status.ok()) << report_.status;
  EXPECT_EQ(Value(d, "{__name__=a_total,cluster=c1,instance=h:1,job=j}"), 1);
}

}  // namespace
}  // namespace tender::scrape
