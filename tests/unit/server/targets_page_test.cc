#include "collector/server/targets_page.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "absl/strings/match.h"

namespace tender::server {
namespace {

scrape::TargetStatus Status(const std::string& job, const std::string& health,
                            const std::string& error) {
  auto t = std::make_shared<scrape::Target>();
  t->job = job;
  t->url = "http://h:1/metrics";
  t->labels = {{"instance", "h:1"}, {"job", job}};
  t->discovered_labels = {{"__address__", "h:1"}, {"__meta_x", "<y>"}};
  t->interval = absl::Seconds(60);
  t->timeout = absl::Seconds(10);
  scrape::TargetStatus s;
  s.target = t;
  s.health = health;
  s.last_error = error;
  s.last_scrape = absl::FromUnixMillis(1700000000123);
  s.last_duration = absl::Milliseconds(250);
  s.last_phases = {absl::Milliseconds(3),    absl::Milliseconds(1500), absl::Milliseconds(1600),
                   absl::Milliseconds(1520), absl::Milliseconds(40),   absl::Microseconds(2500)};
  return s;
}

TEST(TargetsPageTest, JsonHasPrometheusShape) {
  const std::vector<scrape::TargetStatus> active = {Status("node", "up", ""),
                                                    Status("api", "down", "boom")};
  const std::vector<scrape::DroppedTarget> dropped = {{"node", {{"__address__", "gone:1"}}}};
  rapidjson::Document doc;
  doc.Parse(TargetsJson(active, dropped).c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["status"].GetString(), "success");
  const auto& a = doc["data"]["activeTargets"];
  ASSERT_EQ(a.Size(), 2u);
  EXPECT_STREQ(a[0]["scrapePool"].GetString(), "node");
  EXPECT_STREQ(a[0]["labels"]["instance"].GetString(), "h:1");
  EXPECT_STREQ(a[0]["discoveredLabels"]["__address__"].GetString(), "h:1");
  EXPECT_STREQ(a[0]["scrapeUrl"].GetString(), "http://h:1/metrics");
  EXPECT_STREQ(a[0]["lastScrape"].GetString(), "2023-11-14T22:13:20.123Z");
  EXPECT_DOUBLE_EQ(a[0]["lastScrapeDuration"].GetDouble(), 0.25);
  EXPECT_STREQ(a[0]["scrapeInterval"].GetString(), "1m");
  EXPECT_STREQ(a[0]["scrapeTimeout"].GetString(), "10s");
  EXPECT_STREQ(a[1]["health"].GetString(), "down");
  EXPECT_STREQ(a[1]["lastError"].GetString(), "boom");
  ASSERT_EQ(doc["data"]["droppedTargets"].Size(), 1u);
  EXPECT_STREQ(doc["data"]["droppedTargets"][0]["discoveredLabels"]["__address__"].GetString(),
               "gone:1");
  // ?state= filters.
  doc.Parse(TargetsJson(active, dropped, "dropped").c_str());
  EXPECT_EQ(doc["data"]["activeTargets"].Size(), 0u);
  EXPECT_EQ(doc["data"]["droppedTargets"].Size(), 1u);
  doc.Parse(TargetsJson(active, dropped, "active").c_str());
  EXPECT_EQ(doc["data"]["activeTargets"].Size(), 2u);
  EXPECT_EQ(doc["data"]["droppedTargets"].Size(), 0u);
}

TEST(TargetsPageTest, HtmlListsJobsStatesErrorsAndEscapes) {
  const std::string html =
      TargetsHtml({Status("node", "up", ""), Status("api", "down", "connection <refused>")},
                  {{"node", {{"__address__", "gone:1"}}}}, absl::FromUnixMillis(1700000010123));
  EXPECT_TRUE(absl::StrContains(html, "<h2 id=\"job-node\">node (1/1 up)</h2>"));
  EXPECT_TRUE(absl::StrContains(html, "<h2 id=\"job-api\">api (0/1 up)</h2>"));
  EXPECT_TRUE(absl::StrContains(html, ">UP<"));
  EXPECT_TRUE(absl::StrContains(html, ">DOWN<"));
  EXPECT_TRUE(absl::StrContains(html, "connection &lt;refused&gt;"));
  EXPECT_TRUE(absl::StrContains(html, "__meta_x=\"&lt;y&gt;\""));
  EXPECT_TRUE(absl::StrContains(html, "10.000s ago"));
  EXPECT_TRUE(absl::StrContains(html, "Dropped targets (1)"));
  EXPECT_FALSE(absl::StrContains(html, "<refused>"));
  // The phase timings of the last scrape, for a slow link.
  EXPECT_TRUE(absl::StrContains(html,
                                "dns 3.0 ms · connect 1500.0 ms · tls 1600.0 ms · "
                                "first byte 1520.0 ms · transfer 40.0 ms · parse 2.5 ms"));
}

}  // namespace
}  // namespace tender::server
