#include "collector/discovery/static/static_targets.h"

#include <gtest/gtest.h>

namespace tender::discovery {
namespace {

TEST(StaticTargetsTest, PrometheusTargetLabels) {
  config::Config cfg;
  config::ScrapeConfig sc;
  sc.job_name = "node";
  sc.scrape_interval = absl::Seconds(15);
  sc.scrape_timeout = absl::Seconds(10);
  sc.scheme = "https";
  sc.metrics_path = "/m";
  sc.params = {{"collect[]", {"cpu", "mem"}}};
  sc.static_configs.push_back({{"a:9100", "b:9100"}, {{"env", "prod"}}});
  config::StaticConfig own_job;
  own_job.targets = {"c:1"};
  own_job.labels = {{"instance", "custom"}, {"job", "override"}};
  sc.static_configs.push_back(own_job);
  cfg.scrape_configs.push_back(sc);

  const auto targets = StaticTargets(cfg).active;
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0]->url, "https://a:9100/m?collect%5B%5D=cpu&collect%5B%5D=mem");
  EXPECT_EQ(targets[0]->labels,
            (model::Labels{{"env", "prod"}, {"instance", "a:9100"}, {"job", "node"}}));
  EXPECT_EQ(targets[0]->job, "node");
  EXPECT_EQ(targets[0]->interval, absl::Seconds(15));
  EXPECT_NE(targets[0]->hash, targets[1]->hash);
  EXPECT_EQ(targets[2]->labels, (model::Labels{{"instance", "custom"}, {"job", "override"}}));
  EXPECT_EQ(model::Get(targets[0]->discovered_labels, "__address__"), "a:9100");
}

TEST(StaticTargetsTest, TargetLimitFailsEveryTargetOfTheJob) {
  config::Config cfg;
  config::ScrapeConfig sc;
  sc.job_name = "many";
  sc.target_limit = 2;
  sc.static_configs.push_back({{"a:1", "b:1", "c:1"}, {}});
  config::ScrapeConfig ok = sc;
  ok.job_name = "few";
  ok.static_configs[0].targets = {"a:1", "b:1"};
  cfg.scrape_configs = {sc, ok};
  const auto set = StaticTargets(cfg);
  ASSERT_EQ(set.active.size(), 5u);
  for (const auto& t : set.active) {
    SCOPED_TRACE(t->job + " " + t->url);
    if (t->job == "many") {
      EXPECT_EQ(t->forced_error, "target_limit exceeded (number of targets: 3, limit: 2)");
    } else {
      EXPECT_TRUE(t->forced_error.empty());
    }
  }
}

TEST(StaticTargetsTest, DiscoveredTargetLabelsOverrideGroupLabels) {
  config::Config cfg;
  config::ScrapeConfig sc;
  sc.job_name = "k";
  relabel::RuleConfig keep_zone;
  keep_zone.source_labels = {"__meta_zone"};
  keep_zone.target_label = "zone";
  sc.relabel_configs = {keep_zone};
  cfg.scrape_configs.push_back(sc);
  TargetGroup g;
  g.source = "pod/ns/p";
  g.labels = {{"__meta_zone", "group"}, {"team", "a"}};
  g.targets = {"10.0.0.1:80", "10.0.0.2:80"};
  g.target_labels = {{{"__meta_zone", "own"}}, {}};
  const auto targets = BuildTargets(cfg, {{"k", {g}}}).active;
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(
      targets[0]->labels,
      (model::Labels{{"instance", "10.0.0.1:80"}, {"job", "k"}, {"team", "a"}, {"zone", "own"}}));
  EXPECT_EQ(model::Get(targets[1]->labels, "zone"), "group");
  EXPECT_EQ(model::Get(targets[0]->discovered_labels, "__meta_zone"), "own");
}

TEST(StaticTargetsTest, EmptyAddressIsDropped) {
  auto job = std::make_shared<config::ScrapeConfig>();
  job->job_name = "x";
  EXPECT_EQ(MakeTarget({{"__address__", ""}}, job), nullptr);
  EXPECT_NE(MakeTarget({{"__address__", "h:1"}}, job), nullptr);
}

}  // namespace
}  // namespace tender::discovery
