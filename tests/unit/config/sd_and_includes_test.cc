// file_sd_configs, scrape limits (with global defaults), track_timestamps_staleness and
// scrape_config_files: values, path resolution, errors with path/line/file, round trip.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "tests/unit/config/test_util.h"

namespace tender::config {
namespace {

using ::testing::HasSubstr;

std::string ErrorsToString(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString("test.yml") + "\n";
  }
  return out;
}

// A fresh directory under the test temp dir.
std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/config_test_XXXXXX";
  const char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

TEST(FileSdConfigTest, ReadsFilesAndRefreshInterval) {
  auto check = [](const std::string& name, const std::string& sd_yaml, const std::string& base,
                  const std::vector<FileSdConfig>& want) {
    SCOPED_TRACE(name);
    LoadResult r = LoadConfigString(
        "scrape_configs:\n  - job_name: j\n    file_sd_configs:\n" + sd_yaml, base);
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    EXPECT_EQ(r.config->scrape_configs[0].file_sd_configs, want);
  };
  check("default refresh 5m, no base dir keeps relative paths", "      - files: [targets.json]\n",
        "", {FileSdConfig{{"targets.json"}, absl::Minutes(5)}});
  check("relative paths join the base dir, absolute ones stay",
        "      - files: [t/*.json, /abs/x.yml, t/node-*.YAML]\n        refresh_interval: 30s\n",
        "/etc/tender",
        {FileSdConfig{{"/etc/tender/t/*.json", "/abs/x.yml", "/etc/tender/t/node-*.YAML"},
                      absl::Seconds(30)}});
  check("base dir with a trailing slash", "      - files: [a.yml]\n", "/cfg/",
        {FileSdConfig{{"/cfg/a.yml"}, absl::Minutes(5)}});
  check("several entries", "      - files: [a.json]\n      - files: [b.yaml]\n", "",
        {FileSdConfig{{"a.json"}, absl::Minutes(5)}, FileSdConfig{{"b.yaml"}, absl::Minutes(5)}});
  check("? and [] are allowed anywhere, * only in the last element",
        "      - files: ['dir?/[ab]/*x*.json']\n", "",
        {FileSdConfig{{"dir?/[ab]/*x*.json"}, absl::Minutes(5)}});
}

TEST(FileSdConfigTest, InvalidEntriesReportPathLineAndMessage) {
  struct Case {
    std::string sd_yaml;  // Under file_sd_configs; the first entry is on line 4.
    std::string path;
    int line;
    std::string message;
  };
  const std::string kEntry = "scrape_configs[0].file_sd_configs[0]";
  const std::vector<Case> cases = {
      {"      - refresh_interval: 1m\n", kEntry + ".files", 4,
       "file service discovery config must contain at least one path name"},
      {"      - files: []\n", kEntry + ".files", 4, "must contain at least one path name"},
      {"      - files: a.json\n", kEntry + ".files", 4,
       "expected a list of file paths or globs, got \"a.json\""},
      {"      - files: [a.txt]\n", kEntry + ".files[0]", 4,
       "path name \"a.txt\" is not valid for file discovery"},
      {"      - files: [a.Json]\n", kEntry + ".files[0]", 4, "is not valid for file discovery"},
      {"      - files:\n          - ok.json\n          - 'dir*/x.json'\n", kEntry + ".files[1]", 6,
       "path name \"dir*/x.json\" is not valid for file discovery"},
      {"      - files: [a.json]\n        refresh_interval: 0s\n", kEntry + ".refresh_interval", 5,
       "must be greater than 0"},
      {"      - files: [a.json]\n        refresh_interval: soon\n", kEntry + ".refresh_interval", 5,
       "not a valid duration string: \"soon\""},
      {"      - files: [a.json]\n        file: [b.json]\n", kEntry + ".file", 5,
       "unknown key \"file\" (did you mean \"files\"?)"},
      {"      -\n", kEntry, 4, "empty file_sd_configs entry"},
      {"      files: [a.json]\n", "scrape_configs[0].file_sd_configs", 4,
       "expected a list of {files, refresh_interval} entries, got a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sd_yaml);
    LoadResult r =
        LoadConfigString("scrape_configs:\n  - job_name: j\n    file_sd_configs:\n" + c.sd_yaml);
    EXPECT_FALSE(r.config.has_value());
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, c.path);
    EXPECT_EQ(r.errors[0].line, c.line);
    EXPECT_THAT(r.errors[0].message, HasSubstr(c.message));
  }
}

TEST(ScrapeLimitsTest, JobValuesAndGlobalDefaults) {
  LoadResult r = LoadConfigString(R"(
global:
  body_size_limit: 1MB
  sample_limit: 1000
  label_limit: 30
  label_name_length_limit: 100
  label_value_length_limit: 200
  target_limit: 50
scrape_configs:
  - job_name: inherits
  - job_name: overrides
    body_size_limit: 2KB
    sample_limit: 5
    label_limit: 6
    label_name_length_limit: 7
    label_value_length_limit: 8
    target_limit: 9
    track_timestamps_staleness: true
  - job_name: zero-means-global
    sample_limit: 0
)");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.global.body_size_limit, 1 << 20);
  EXPECT_EQ(c.global.sample_limit, 1000);
  EXPECT_EQ(c.global.target_limit, 50);
  struct Want {
    int64_t body, samples, labels, name_len, value_len, targets;
    bool track;
  };
  auto check = [&](size_t i, const Want& w) {
    const ScrapeConfig& sc = c.scrape_configs[i];
    SCOPED_TRACE(sc.job_name);
    EXPECT_EQ(sc.body_size_limit, w.body);
    EXPECT_EQ(sc.sample_limit, w.samples);
    EXPECT_EQ(sc.label_limit, w.labels);
    EXPECT_EQ(sc.label_name_length_limit, w.name_len);
    EXPECT_EQ(sc.label_value_length_limit, w.value_len);
    EXPECT_EQ(sc.target_limit, w.targets);
    EXPECT_EQ(sc.track_timestamps_staleness, w.track);
  };
  ASSERT_EQ(c.scrape_configs.size(), 3u);
  check(0, {1 << 20, 1000, 30, 100, 200, 50, false});
  check(1, {2048, 5, 6, 7, 8, 9, true});
  check(2, {1 << 20, 1000, 30, 100, 200, 50, false});

  LoadResult none = LoadConfigString("scrape_configs:\n  - job_name: j\n");
  ASSERT_TRUE(none.errors.empty()) << ErrorsToString(none);
  const ScrapeConfig& d = none.config->scrape_configs[0];
  EXPECT_EQ(d.sample_limit + d.label_limit + d.label_name_length_limit +
                d.label_value_length_limit + d.target_limit + d.body_size_limit,
            0);
  EXPECT_FALSE(d.track_timestamps_staleness);
}

TEST(ScrapeLimitsTest, InvalidLimitsReportPathAndLine) {
  auto check = [](const std::string& yaml, const std::string& path, int line,
                  const std::string& message) {
    SCOPED_TRACE(yaml);
    LoadResult r = LoadConfigString(yaml);
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, path);
    EXPECT_EQ(r.errors[0].line, line);
    EXPECT_THAT(r.errors[0].message, HasSubstr(message));
  };
  check("scrape_configs:\n  - job_name: j\n    sample_limit: -1\n",
        "scrape_configs[0].sample_limit", 3, "must be between 0 and");
  check("scrape_configs:\n  - job_name: j\n    label_limit: many\n",
        "scrape_configs[0].label_limit", 3, "expected an integer, got \"many\"");
  check("scrape_configs:\n  - job_name: j\n    target_limit: 1.5\n",
        "scrape_configs[0].target_limit", 3, "expected an integer");
  check("global:\n  label_value_length_limit: -3\n", "global.label_value_length_limit", 2,
        "must be between 0 and");
  check("global:\n  body_size_limit: 1 GB\n", "global.body_size_limit", 2, "unknown unit");
  check("scrape_configs:\n  - job_name: j\n    track_timestamps_staleness: 'yes'\n",
        "scrape_configs[0].track_timestamps_staleness", 3, "expected true or false");
}

TEST(ScrapeConfigFilesTest, TheFullFixtureLoadsMergesAndResolvesPaths) {
  const std::string dir = TestdataPath("full");
  LoadResult r = LoadConfigFile(dir + "/prometheus.yml");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const Config& c = *r.config;
  ASSERT_EQ(c.scrape_configs.size(), 3u);
  EXPECT_EQ(c.scrape_configs[0].job_name, "files");
  EXPECT_EQ(c.scrape_configs[1].job_name, "included-a");
  EXPECT_EQ(c.scrape_configs[2].job_name, "included-b");

  const ScrapeConfig& files = c.scrape_configs[0];
  EXPECT_EQ(files.file_sd_configs,
            (std::vector<FileSdConfig>{
                FileSdConfig{{dir + "/targets/*.json", "/etc/tender/targets/extra.yaml"},
                             absl::Minutes(1)},
                FileSdConfig{{dir + "/targets/static.yml"}, absl::Minutes(5)}}));
  EXPECT_EQ(files.sample_limit, 100);
  EXPECT_EQ(files.label_limit, 64);
  EXPECT_EQ(files.label_value_length_limit, 2048);
  EXPECT_EQ(files.body_size_limit, 10 << 20);
  EXPECT_TRUE(files.track_timestamps_staleness);
  ASSERT_EQ(files.relabel_configs.size(), 4u);
  EXPECT_EQ(files.relabel_configs[1].action, relabel::Action::kHashMod);
  EXPECT_EQ(files.relabel_configs[1].modulus, 4u);
  EXPECT_EQ(files.relabel_configs[3].action, relabel::Action::kLabelDrop);
  ASSERT_EQ(files.metric_relabel_configs.size(), 1u);
  EXPECT_EQ(files.metric_relabel_configs[0].regex, "go_gc_.*");

  // An included file's relative paths resolve against its own directory; its jobs inherit the
  // main file's global section.
  const ScrapeConfig& a = c.scrape_configs[1];
  EXPECT_EQ(a.file_sd_configs,
            (std::vector<FileSdConfig>{FileSdConfig{{dir + "/jobs/sd/*.json"}, absl::Minutes(5)}}));
  EXPECT_EQ(a.scrape_interval, absl::Seconds(15));
  EXPECT_EQ(a.sample_limit, 5000);
  const ScrapeConfig& b = c.scrape_configs[2];
  EXPECT_EQ(b.label_limit, 64);
  EXPECT_EQ(b.sample_limit, 10);

  ASSERT_EQ(c.remote_write.size(), 1u);
  ASSERT_EQ(c.remote_write[0].write_relabel_configs.size(), 1u);
  EXPECT_EQ(c.remote_write[0].write_relabel_configs[0].regex, "up|node_.*");

  // The rendered config carries the merged jobs (not the include) and loads back equal.
  const std::string yaml = RedactedYaml(c);
  EXPECT_THAT(yaml, Not(HasSubstr("scrape_config_files")));
  LoadResult back = LoadConfigString(yaml);
  ASSERT_TRUE(back.errors.empty()) << ErrorsToString(back) << yaml;
  EXPECT_EQ(*back.config, c) << yaml;
  EXPECT_EQ(RedactedYaml(*back.config), yaml);
}

TEST(ScrapeConfigFilesTest, ErrorsNameTheIncludedFile) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/main.yml", R"(scrape_config_files:
  - inc/*.yml
scrape_configs:
  - job_name: main-job
)");
  ::mkdir((dir + "/inc").c_str(), 0755);
  WriteFile(dir + "/inc/1.yml", R"(scrape_configs:
  - job_name: one
    scrape_interval: 10x
  - job_name: main-job
)");
  WriteFile(dir + "/inc/2.yml", R"(
scrape_configs:
  - job_name: one
global:
  scrape_interval: 1s
)");
  LoadResult r = LoadConfigFile(dir + "/main.yml");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 4u) << ErrorsToString(r);
  const std::string one = dir + "/inc/1.yml";
  const std::string two = dir + "/inc/2.yml";
  struct Want {
    std::string file;
    int line;
    std::string path;
    std::string message;
  };
  const std::vector<Want> want = {
      {one, 3, "scrape_configs[0].scrape_interval", "unknown unit \"x\""},
      {one, 4, "scrape_configs[1].job_name",
       "found multiple scrape configs with job name \"main-job\" (first in the main config "
       "file, line 4)"},
      {two, 3, "scrape_configs[0].job_name",
       "found multiple scrape configs with job name \"one\" (first in " + one + ", line 2)"},
      {two, 4, "global", "unknown key \"global\""},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(r.errors[i].ToString("main.yml"));
    EXPECT_EQ(r.errors[i].file, want[i].file);
    EXPECT_EQ(r.errors[i].line, want[i].line);
    EXPECT_EQ(r.errors[i].path, want[i].path);
    EXPECT_THAT(r.errors[i].message, HasSubstr(want[i].message));
  }
  // ToString names the included file, not the main one.
  EXPECT_EQ(r.errors[3].ToString("main.yml"), two + ":4: global: " + r.errors[3].message);
}

TEST(ScrapeConfigFilesTest, PatternsAndUnreadableFiles) {
  const std::string dir = MakeTempDir();
  auto load = [&](const std::string& main) {
    WriteFile(dir + "/main.yml", main);
    return LoadConfigFile(dir + "/main.yml");
  };
  {
    SCOPED_TRACE("a glob that matches nothing is fine");
    LoadResult r = load("scrape_config_files: [none/*.yml]\n");
    EXPECT_TRUE(r.errors.empty()) << ErrorsToString(r);
    EXPECT_TRUE(r.config->scrape_configs.empty());
  }
  {
    SCOPED_TRACE("* outside the last element");
    LoadResult r = load("scrape_config_files:\n  - 'a*/b.yml'\n");
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, "scrape_config_files[0]");
    EXPECT_EQ(r.errors[0].line, 2);
    EXPECT_THAT(r.errors[0].message, HasSubstr("invalid scrape config file path \"a*/b.yml\""));
  }
  {
    SCOPED_TRACE("not a list");
    LoadResult r = load("scrape_config_files: a.yml\n");
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_THAT(r.errors[0].message, HasSubstr("expected a list of file paths or globs"));
  }
  {
    SCOPED_TRACE("invalid YAML in an included file");
    WriteFile(dir + "/bad.yml", "scrape_configs: [\n");
    LoadResult r = load("scrape_config_files: [bad.yml]\n");
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].file, dir + "/bad.yml");
    EXPECT_THAT(r.errors[0].message, HasSubstr("invalid YAML"));
  }
  {
    SCOPED_TRACE("an exact path and an absolute one load in order");
    WriteFile(dir + "/x.yml", "scrape_configs: [{job_name: x}]\n");
    WriteFile(dir + "/y.yml", "scrape_configs: [{job_name: y}]\n");
    LoadResult r = load("scrape_config_files: [y.yml, '" + dir +
                        "/x.yml']\nscrape_configs: [{job_name: m}]\n");
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    ASSERT_EQ(r.config->scrape_configs.size(), 3u);
    EXPECT_EQ(r.config->scrape_configs[0].job_name, "m");
    EXPECT_EQ(r.config->scrape_configs[1].job_name, "y");
    EXPECT_EQ(r.config->scrape_configs[2].job_name, "x");
  }
}

}  // namespace
}  // namespace tender::config
