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

std::shared_ptr<const TargetGroup> PodGroup(const std::string& name, const std::string& address,
                                            const std::string& keep) {
  TargetGroup g;
  g.source = "pod/ns/" + name;
  g.labels = {{"__meta_keep", keep}, {"__meta_pod", name}};
  g.targets = {address};
  return std::make_shared<const TargetGroup>(std::move(g));
}

TEST(JobTargetBuilderTest, KeepsTheTargetsOfUnchangedGroups) {
  config::ScrapeConfig sc;
  sc.job_name = "pods";
  sc.static_configs.push_back({{"s:1"}, {}});
  relabel::RuleConfig keep;
  keep.source_labels = {"__meta_keep"};
  keep.regex = "yes";
  keep.action = relabel::Action::kKeep;
  relabel::RuleConfig pod;
  pod.source_labels = {"__meta_pod"};
  pod.target_label = "pod";
  sc.relabel_configs = {keep, pod};
  sc.static_configs[0].labels = {{"__meta_keep", "yes"}};
  JobTargetBuilder builder(sc, nullptr);
  JobTargetBuilder::Groups groups = {PodGroup("a", "10.0.0.1:80", "yes"),
                                     PodGroup("b", "10.0.0.2:80", "no"),
                                     PodGroup("c", "10.0.0.3:80", "yes")};
  EXPECT_EQ(builder.Build({&groups}), 3u);
  std::vector<std::shared_ptr<const scrape::Target>> first;
  builder.AppendActive(&first);
  ASSERT_EQ(first.size(), 3u);  // s:1, a, c.
  EXPECT_EQ(model::Get(first[1]->labels, "pod"), "a");
  EXPECT_EQ(model::Get(first[2]->labels, "pod"), "c");
  std::vector<scrape::DroppedTarget> dropped;
  builder.AppendDropped(&dropped);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(model::Get(dropped[0].discovered_labels, "__meta_pod"), "b");

  // c changes (now dropped), d is added, a and b are the same objects.
  groups[2] = PodGroup("c", "10.0.0.3:80", "no");
  groups.push_back(PodGroup("d", "10.0.0.4:80", "yes"));
  EXPECT_EQ(builder.Build({&groups}), 4u);
  std::vector<std::shared_ptr<const scrape::Target>> second;
  builder.AppendActive(&second);
  ASSERT_EQ(second.size(), 3u);    // s:1, a, d.
  EXPECT_EQ(second[0], first[0]);  // The same objects: not relabeled again.
  EXPECT_EQ(second[1], first[1]);
  EXPECT_EQ(model::Get(second[2]->labels, "pod"), "d");
  dropped.clear();
  builder.AppendDropped(&dropped);
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(model::Get(dropped[0].discovered_labels, "__meta_pod"), "b");
  EXPECT_EQ(model::Get(dropped[1].discovered_labels, "__meta_pod"), "c");
  EXPECT_EQ(model::Get(dropped[1].discovered_labels, "job"), "pods");

  // The same result as building from scratch.
  std::vector<TargetGroup> plain;
  for (const auto& g : groups) plain.push_back(*g);
  const scrape::TargetSet fresh = BuildJobTargets(sc, {&plain});
  ASSERT_EQ(fresh.active.size(), second.size());
  for (size_t i = 0; i < second.size(); ++i) {
    EXPECT_EQ(fresh.active[i]->labels, second[i]->labels);
    EXPECT_EQ(fresh.active[i]->hash, second[i]->hash);
  }
  ASSERT_EQ(fresh.dropped.size(), dropped.size());
  for (size_t i = 0; i < dropped.size(); ++i) {
    EXPECT_EQ(fresh.dropped[i].discovered_labels, dropped[i].discovered_labels);
  }

  // A removed group's targets go.
  groups.erase(groups.begin());
  EXPECT_EQ(builder.Build({&groups}), 3u);
  std::vector<std::shared_ptr<const scrape::Target>> third;
  builder.AppendActive(&third);
  ASSERT_EQ(third.size(), 2u);
  EXPECT_EQ(third[1], second[2]);
}

TEST(JobTargetBuilderTest, TargetLimitCountsEveryGroupOnEachBuild) {
  config::ScrapeConfig sc;
  sc.job_name = "limited";
  sc.target_limit = 2;
  JobTargetBuilder builder(sc, nullptr);
  JobTargetBuilder::Groups groups = {PodGroup("a", "10.0.0.1:80", "yes"),
                                     PodGroup("b", "10.0.0.2:80", "yes")};
  builder.Build({&groups});
  std::vector<std::shared_ptr<const scrape::Target>> active;
  builder.AppendActive(&active);
  ASSERT_EQ(active.size(), 2u);
  EXPECT_TRUE(active[0]->forced_error.empty());
  groups.push_back(PodGroup("c", "10.0.0.3:80", "yes"));
  builder.Build({&groups});
  active.clear();
  builder.AppendActive(&active);
  ASSERT_EQ(active.size(), 3u);
  for (const auto& t : active) {
    EXPECT_EQ(t->forced_error, "target_limit exceeded (number of targets: 3, limit: 2)");
  }
  groups.pop_back();
  builder.Build({&groups});
  active.clear();
  builder.AppendActive(&active);
  ASSERT_EQ(active.size(), 2u);
  for (const auto& t : active) EXPECT_TRUE(t->forced_error.empty());
}

}  // namespace
}  // namespace tender::discovery
