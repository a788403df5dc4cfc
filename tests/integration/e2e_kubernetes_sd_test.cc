// tender with a kubernetes_sd_configs job against the fake API server: pods of the fixture
// cluster are discovered, relabeling keeps the annotated ones' metrics ports and points
// __address__ at a local fixture, /api/v1/targets shows the __meta_kubernetes_* labels, the
// target is scraped, and pods added or deleted in the API show up and go away.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/tools/fake_receiver.h"
#include "tests/unit/discovery_kubernetes/fixture_cluster.h"

namespace tender::testing {
namespace {

class E2EKubernetesSdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-e2e-k8s-");
    ASSERT_TRUE(api_.Start().ok());
    discovery::testing::LoadFixtureCluster(api_);
    ASSERT_TRUE(receiver_.Start().ok());
    fixture_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      ++scrapes_;
      res.set_content("app_requests_total 7\n", "text/plain; version=0.0.4");
    });
    fixture_port_ = fixture_.bind_to_any_port("127.0.0.1");
    fixture_thread_ = std::thread([this] { fixture_.listen_after_bind(); });
    port_ = FreePort();
    std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 500ms
scrape_configs:
  - job_name: k8s-pods
    kubernetes_sd_configs:
      - role: pod
        api_server: )",
                                                        api_.url(), R"(
        namespaces:
          names: [default]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        action: keep
        regex: metrics
      - target_label: __address__
        replacement: 127.0.0.1:)",
                                                        fixture_port_, R"(
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
remote_write:
  - url: )",
                                                        receiver_.url(), R"(
    queue_config:
      batch_send_deadline: 100ms
)");
  }

  void TearDown() override {
    tender_.reset();
    fixture_.stop();
    fixture_thread_.join();
    api_.Stop();
    if (HasFailure()) std::cerr << ReadFile(dir_ + "/tender.log").substr(0, 20000);
  }

  void StartTender() {
    tender_ =
        std::make_unique<ChildProcess>(testing::TenderArgs(dir_, port_), dir_ + "/tender.log");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = client_->Get("/-/ready");
          return r && r->status == 200;
        },
        absl::Seconds(20)));
  }

  // Active targets as pod name -> (health, discovered labels).
  struct Active {
    std::string health;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> discovered;
  };
  std::map<std::string, Active> ActiveByPod(size_t* dropped = nullptr) {
    std::map<std::string, Active> out;
    auto r = client_->Get("/api/v1/targets");
    if (!r) return out;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    if (!doc.IsObject() || !doc.HasMember("data")) return out;
    for (const auto& t : doc["data"]["activeTargets"].GetArray()) {
      Active a;
      a.health = t["health"].GetString();
      for (auto it = t["labels"].MemberBegin(); it != t["labels"].MemberEnd(); ++it) {
        a.labels[it->name.GetString()] = it->value.GetString();
      }
      for (auto it = t["discoveredLabels"].MemberBegin(); it != t["discoveredLabels"].MemberEnd();
           ++it) {
        a.discovered[it->name.GetString()] = it->value.GetString();
      }
      out[a.labels["pod"]] = a;
    }
    if (dropped != nullptr) *dropped = doc["data"]["droppedTargets"].Size();
    return out;
  }

  std::string dir_;
  test_tools::FakeApiServer api_;
  test_tools::FakeRemoteWriteReceiver receiver_;
  httplib::Server fixture_;
  std::thread fixture_thread_;
  std::atomic<int> scrapes_{0};  // Requests the fixture target served.
  int fixture_port_ = 0;
  int port_ = 0;
  std::unique_ptr<ChildProcess> tender_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(E2EKubernetesSdTest, DiscoversRelabelsAndScrapesPods) {
  StartTender();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = ActiveByPod();
        return a.count("web-1") == 1 && a["web-1"].health == "up";
      },
      absl::Seconds(20)));
  size_t dropped = 0;
  std::map<std::string, Active> active = ActiveByPod(&dropped);
  ASSERT_EQ(active.size(), 1u);
  const Active& web = active["web-1"];
  EXPECT_EQ(web.labels, (std::map<std::string, std::string>{
                            {"instance", absl::StrCat("127.0.0.1:", fixture_port_)},
                            {"job", "k8s-pods"},
                            {"namespace", "default"},
                            {"pod", "web-1"}}));
  EXPECT_EQ(web.discovered.at("__address__"), "10.1.0.5:9090");
  EXPECT_EQ(web.discovered.at("__meta_kubernetes_pod_container_port_name"), "metrics");
  EXPECT_EQ(web.discovered.at("__meta_kubernetes_pod_container_port_number"), "9090");
  EXPECT_EQ(web.discovered.at("__meta_kubernetes_pod_controller_kind"), "ReplicaSet");
  EXPECT_EQ(web.discovered.at("__meta_kubernetes_pod_ready"), "true");
  EXPECT_EQ(web.discovered.at("__meta_kubernetes_namespace"), "default");
  EXPECT_EQ(web.discovered.at("job"), "k8s-pods");
  EXPECT_GT(scrapes_.load(), 0);
  // The scraped series reach remote write with the labels relabeling made.
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& [series, samples] : receiver_.series()) {
          if (absl::StrContains(series, "__name__=\"app_requests_total\"") &&
              absl::StrContains(series, "namespace=\"default\"") &&
              absl::StrContains(series, "pod=\"web-1\"")) {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(20)));
  // web-1's three other containers/ports and pending-1 (no IP: no targets) are not kept;
  // prod is not watched.
  EXPECT_EQ(dropped, 3u);
  for (const std::string& r : api_.requests()) {
    EXPECT_TRUE(absl::StartsWith(r, "/api/v1/namespaces/default/pods?")) << r;
  }

  // A new annotated pod appears, a deleted one goes away.
  api_.Upsert("pods", R"({"metadata": {"name": "web-2", "namespace": "default",
      "annotations": {"prometheus.io/scrape": "true"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1",
      "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]},
    "status": {"phase": "Running", "podIP": "10.1.0.6"}})");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = ActiveByPod();
        return a.count("web-2") == 1 && a["web-2"].health == "up";
      },
      absl::Seconds(20)));
  ASSERT_TRUE(api_.Delete("pods", "default", "web-1"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = ActiveByPod();
        return a.size() == 1 && a.count("web-2") == 1;
      },
      absl::Seconds(20)));

  // tender counts what it saw.
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_TRUE(absl::StrContains(
      metrics->body, "tender_sd_kubernetes_events_total{event=\"delete\",role=\"pod\"} 1"))
      << metrics->body.substr(0, 4000);
  EXPECT_TRUE(absl::StrContains(metrics->body, "tender_sd_discovered_targets{job=\"k8s-pods\"} 1"));
}

}  // namespace
}  // namespace tender::testing
