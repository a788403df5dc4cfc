// The admin surface of a running tender: /targets, /api/v1/targets, /config (redacted),
// reload by SIGHUP and POST /-/reload (lifecycle flag), a bad config kept out, and no stale
// markers or scrape gap for targets a reload did not change.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_receiver.h"

namespace tender::testing {
namespace {

constexpr uint64_t kStaleNaN = 0x7ff0000000000002ULL;

class E2EAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-e2e-admin-");
    ASSERT_TRUE(receiver_.Start().ok());
    fixture_.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("steady 1\n", "text/plain; version=0.0.4");
    });
    fixture_port_ = fixture_.bind_to_any_port("127.0.0.1");
    fixture_thread_ = std::thread([this] { fixture_.listen_after_bind(); });
    port_ = FreePort();
    WriteConfig(false);
  }
  void TearDown() override {
    tender_.reset();
    fixture_.stop();
    fixture_thread_.join();
    if (HasFailure()) std::cerr << ReadFile(dir_ + "/tender.log").substr(0, 20000);
  }

  void WriteConfig(bool second_job, const std::string& extra = "") {
    std::string cfg = absl::StrCat(R"(global:
  scrape_interval: 500ms
scrape_configs:
  - job_name: steady
    basic_auth:
      username: user
      password: hunter2-secret
    static_configs:
      - targets: ['127.0.0.1:)",
                                   fixture_port_, "']\n");
    if (second_job) {
      absl::StrAppend(&cfg,
                      "  - job_name: added\n    static_configs:\n      - targets: ['127.0.0.1:",
                      fixture_port_, "']\n");
    }
    absl::StrAppend(&cfg, "remote_write:\n  - url: ", receiver_.url(),
                    "\n    queue_config:\n      batch_send_deadline: 100ms\n", extra);
    std::ofstream(dir_ + "/tender.yml") << cfg;
  }

  void StartTender(bool lifecycle) {
    std::vector<std::string> argv = testing::TenderArgs(dir_, port_);
    if (lifecycle) argv.push_back("--web.enable-lifecycle");
    tender_ = std::make_unique<ChildProcess>(argv, dir_ + "/tender.log");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = client_->Get("/-/ready");
          return r && r->status == 200;
        },
        absl::Seconds(20)));
  }

  std::string Get(const std::string& path) {
    auto r = client_->Get(path.c_str());
    return r ? r->body : "";
  }

  std::vector<std::string> ActiveJobs() {
    rapidjson::Document doc;
    doc.Parse(Get("/api/v1/targets").c_str());
    std::vector<std::string> jobs;
    if (!doc.IsObject()) return jobs;
    for (const auto& t : doc["data"]["activeTargets"].GetArray()) {
      jobs.push_back(t["scrapePool"].GetString());
    }
    std::sort(jobs.begin(), jobs.end());
    return jobs;
  }

  double Metric(const std::string& name) {
    const std::string body = Get("/metrics");
    for (absl::string_view line : absl::StrSplit(body, '\n')) {
      if (absl::StartsWith(line, name + " ")) {
        return std::stod(std::string(line.substr(name.size() + 1)));
      }
    }
    return -1;
  }

  std::string dir_;
  test_tools::FakeRemoteWriteReceiver receiver_;
  httplib::Server fixture_;
  std::thread fixture_thread_;
  int fixture_port_ = 0;
  int port_ = 0;
  std::unique_ptr<ChildProcess> tender_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(E2EAdminTest, TargetsConfigAndReload) {
  StartTender(/*lifecycle=*/true);
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(Get("/targets"), ">UP<"); }, absl::Seconds(20)));

  // /api/v1/targets in Prometheus's shape.
  rapidjson::Document doc;
  doc.Parse(Get("/api/v1/targets").c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["status"].GetString(), "success");
  const auto& t = doc["data"]["activeTargets"][0];
  for (const char* field :
       {"discoveredLabels", "labels", "scrapePool", "scrapeUrl", "globalUrl", "lastError",
        "lastScrape", "lastScrapeDuration", "health", "scrapeInterval", "scrapeTimeout"}) {
    EXPECT_TRUE(t.HasMember(field)) << field;
  }
  EXPECT_STREQ(t["health"].GetString(), "up");
  EXPECT_STREQ(t["scrapeInterval"].GetString(), "500ms");
  EXPECT_STREQ(t["labels"]["job"].GetString(), "steady");
  EXPECT_TRUE(doc["data"]["droppedTargets"].IsArray());

  // /config: the running config with secrets redacted.
  const std::string config = Get("/config");
  EXPECT_TRUE(absl::StrContains(config, "job_name: \"steady\"")) << config;
  EXPECT_TRUE(absl::StrContains(config, "<secret>")) << config;
  EXPECT_FALSE(absl::StrContains(config, "hunter2-secret")) << config;

  // Reload over HTTP picks up a new job; the unchanged target keeps running.
  WriteConfig(true);
  auto r = client_->Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(ActiveJobs(), (std::vector<std::string>{"added", "steady"}));
  EXPECT_EQ(Metric("tender_config_last_reload_successful"), 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [key, samples] : receiver_.series()) {
          if (absl::StrContains(key, "job=\"added\"")) return true;
        }
        return false;
      },
      absl::Seconds(10)));

  // A bad config is kept out, over HTTP and by SIGHUP; the running one goes on.
  std::ofstream(dir_ + "/tender.yml") << "scrape_configs:\n  - job_name: x\n    nope: 1\n";
  r = client_->Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(absl::StrContains(r->body, "nope")) << r->body;
  EXPECT_EQ(Metric("tender_config_last_reload_successful"), 0);
  kill(tender_->pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(tender_->running());
  EXPECT_EQ(ActiveJobs(), (std::vector<std::string>{"added", "steady"}));

  // SIGHUP with a good config removes the added job again.
  WriteConfig(false);
  kill(tender_->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return ActiveJobs() == std::vector<std::string>{"steady"}; },
                      absl::Seconds(10)));
  EXPECT_EQ(Metric("tender_config_last_reload_successful"), 1);
  const size_t before = receiver_.accepted_samples();
  ASSERT_TRUE(receiver_.WaitForAcceptedSamples(before + 20, absl::Seconds(10)));
  EXPECT_EQ(tender_->Stop(SIGTERM, absl::Seconds(20)), 0);

  // The steady target never got a stale marker and its scrapes kept their rhythm; the removed
  // job's series did get one.
  bool steady_seen = false;
  bool added_stale = false;
  for (const auto& [key, samples] : receiver_.series()) {
    if (absl::StrContains(key, "job=\"steady\"") && absl::StartsWith(key, "{__name__=\"steady\"")) {
      steady_seen = true;
      for (size_t i = 0; i < samples.size(); ++i) {
        EXPECT_NE(samples[i].value_bits, kStaleNaN) << key;
        if (i > 0) {
          EXPECT_LE(samples[i].timestamp_ms - samples[i - 1].timestamp_ms, 1000) << key;
        }
      }
    }
    if (absl::StrContains(key, "job=\"added\"") && absl::StartsWith(key, "{__name__=\"steady\"")) {
      added_stale = !samples.empty() && samples.back().value_bits == kStaleNaN;
      EXPECT_TRUE(added_stale) << key << " has " << samples.size() << " samples";
    }
  }
  EXPECT_TRUE(steady_seen);
  EXPECT_TRUE(added_stale);
  EXPECT_TRUE(receiver_.violations().empty());
}

TEST_F(E2EAdminTest, FileDiscoveryPicksUpChangesWithoutRestart) {
  auto write_targets = [&](int n) {
    std::string json = "[";
    for (int i = 0; i < n; ++i) {
      absl::StrAppend(&json, i ? "," : "", R"({"targets": ["127.0.0.1:)", fixture_port_,
                      R"("], "labels": {"group": "g)", i, R"("}})");
    }
    json += "]";
    std::ofstream(dir_ + "/targets.json.tmp") << json;
    std::rename((dir_ + "/targets.json.tmp").c_str(), (dir_ + "/targets.json").c_str());
  };
  write_targets(1);
  std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 500ms
scrape_configs:
  - job_name: files
    file_sd_configs:
      - files: [')",
                                                      dir_, R"(/*.json']
        refresh_interval: 1m
remote_write:
  - url: )",
                                                      receiver_.url(), "\n");
  StartTender(/*lifecycle=*/false);
  auto groups = [&] {
    rapidjson::Document doc;
    doc.Parse(Get("/api/v1/targets").c_str());
    std::vector<std::string> out;
    if (!doc.IsObject()) return out;
    for (const auto& t : doc["data"]["activeTargets"].GetArray()) {
      out.push_back(t["labels"]["group"].GetString());
      EXPECT_EQ(std::string(t["discoveredLabels"]["__meta_filepath"].GetString()),
                dir_ + "/targets.json");
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ASSERT_TRUE(
      WaitFor([&] { return groups() == std::vector<std::string>{"g0"}; }, absl::Seconds(10)))
      << Get("/api/v1/targets");
  write_targets(2);  // Picked up from the file change, long before refresh_interval.
  ASSERT_TRUE(WaitFor(
      [&] {
        return groups() == std::vector<std::string>{"g0", "g1"};
      },
      absl::Seconds(10)))
      << Get("/api/v1/targets");
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [key, samples] : receiver_.series()) {
          if (absl::StrContains(key, "group=\"g1\"")) return true;
        }
        return false;
      },
      absl::Seconds(10)));
}

TEST_F(E2EAdminTest, ReloadEndpointNeedsLifecycleFlag) {
  StartTender(/*lifecycle=*/false);
  auto r = client_->Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(absl::StrContains(Get("/-/healthy"), "Healthy"));
}

}  // namespace
}  // namespace tender::testing
