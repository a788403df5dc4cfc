// End to end against the real Prometheus (remote-write receiver) and the real node-exporter
// from Debian: tender scrapes a fixture target and node-exporter and every sample of the
// fixture arrives in Prometheus with exactly the expected labels and values.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <atomic>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/process.h"

namespace tender::testing {
namespace {

// The fixture exposition and, below, what Prometheus must hold for it.
constexpr char kFixture[] = R"(# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027
http_requests_total{method="post",code="500"} 3
# TYPE temperature gauge
temperature{room="a \"quoted\" \\ room"} -12.5
temperature{room="line\nbreak"} 1e-3
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.1"} 5
rpc_seconds_bucket{le="1"} 9
rpc_seconds_bucket{le="+Inf"} 10
rpc_seconds_sum 4.25
rpc_seconds_count 10
# TYPE q summary
q{quantile="0.5"} 0.25
q_sum 17
q_count 40
big 1.5e+06
inf_value +Inf
neg_inf_value -Inf
empty_label{a="",b="x"} 7
utf8_value{name="Grüße ✓"} 2
)";

struct Expected {
  std::map<std::string, std::string> labels;  // Besides job, instance and the external label.
  std::string value;
};

std::vector<std::pair<std::string, Expected>> ExpectedSeries() {
  return {
      {"http_requests_total", {{{"method", "get"}, {"code", "200"}}, "1027"}},
      {"http_requests_total", {{{"method", "post"}, {"code", "500"}}, "3"}},
      {"temperature", {{{"room", "a \"quoted\" \\ room"}}, "-12.5"}},
      {"temperature", {{{"room", "line\nbreak"}}, "0.001"}},
      {"rpc_seconds_bucket", {{{"le", "0.1"}}, "5"}},
      {"rpc_seconds_bucket", {{{"le", "1"}}, "9"}},
      {"rpc_seconds_bucket", {{{"le", "+Inf"}}, "10"}},
      {"rpc_seconds_sum", {{}, "4.25"}},
      {"rpc_seconds_count", {{}, "10"}},
      {"q", {{{"quantile", "0.5"}}, "0.25"}},
      {"q_sum", {{}, "17"}},
      {"q_count", {{}, "40"}},
      {"big", {{}, "1500000"}},
      {"inf_value", {{}, "+Inf"}},
      {"neg_inf_value", {{}, "-Inf"}},
      {"empty_label", {{{"b", "x"}}, "7"}},
      {"utf8_value", {{{"name", "Grüße ✓"}}, "2"}},
  };
}

std::string Key(const std::map<std::string, std::string>& labels) {
  std::string k;
  for (const auto& [n, v] : labels) absl::StrAppend(&k, n, "=", v, ",");
  return k;
}

class E2EPrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-e2e-");
    ASSERT_FALSE(dir_.empty());
    // Fixture target.
    fixture_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      if (fail_.load()) {
        res.status = 500;
        res.set_content("boom", "text/plain");
        return;
      }
      res.set_content(kFixture, "text/plain; version=0.0.4; charset=utf-8");
    });
    fixture_port_ = fixture_.bind_to_any_port("127.0.0.1");
    fixture_thread_ = std::thread([this] { fixture_.listen_after_bind(); });

    // Real Prometheus with the remote-write receiver.
    prom_port_ = FreePort();
    prometheus_ = StartPrometheusReceiver(dir_, prom_port_);
    ASSERT_NE(prometheus_, nullptr) << ReadFile(dir_ + "/prometheus.log");
    prom_ = std::make_unique<httplib::Client>("127.0.0.1", prom_port_);

    // Real node-exporter.
    node_port_ = FreePort();
    node_exporter_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{Env("NODE_EXPORTER_BIN", "prometheus-node-exporter"),
                                 absl::StrCat("--web.listen-address=127.0.0.1:", node_port_)},
        dir_ + "/node-exporter.log");

    // tender.
    tender_port_ = FreePort();
    std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    cluster: e2e
scrape_configs:
  - job_name: fixture
    static_configs:
      - targets: ['127.0.0.1:)",
                                                        fixture_port_, R"(']
        labels:
          env: ci
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:)",
                                                        node_port_, R"(']
remote_write:
  - url: http://127.0.0.1:)",
                                                        prom_port_, R"(/api/v1/write
    queue_config:
      batch_send_deadline: 200ms
)");
    tender_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{Env("TENDER_BINARY_DIR", ".") + "/collector/app/tender",
                                 "--config.file=" + dir_ + "/tender.yml",
                                 absl::StrCat("--web.listen-address=127.0.0.1:", tender_port_),
                                 "--storage.path=" + dir_ + "/tender-data", "--log.level=debug"},
        dir_ + "/tender.log");
  }

  void TearDown() override {
    tender_.reset();
    node_exporter_.reset();
    prometheus_.reset();
    fixture_.stop();
    if (fixture_thread_.joinable()) fixture_thread_.join();
    if (HasFailure()) {
      std::cerr << "--- tender.log\n" << ReadFile(dir_ + "/tender.log").substr(0, 20000);
    }
  }

  // Runs an instant query; returns the result array (empty on error).
  std::vector<std::pair<std::map<std::string, std::string>, std::string>> Query(
      const std::string& q) {
    std::vector<std::pair<std::map<std::string, std::string>, std::string>> out;
    auto r = prom_->Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
    if (!r || r->status != 200) return out;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    if (!doc.IsObject() || !doc.HasMember("data")) return out;
    for (const auto& s : doc["data"]["result"].GetArray()) {
      std::map<std::string, std::string> labels;
      for (const auto& m : s["metric"].GetObject()) {
        labels[m.name.GetString()] = m.value.GetString();
      }
      out.emplace_back(labels, s["value"][1].GetString());
    }
    return out;
  }

  std::string QueryOne(const std::string& q) {
    auto r = Query(q);
    return r.size() == 1 ? r[0].second : "";
  }

  std::string dir_;
  httplib::Server fixture_;
  std::thread fixture_thread_;
  std::atomic<bool> fail_{false};
  int fixture_port_ = 0, prom_port_ = 0, node_port_ = 0, tender_port_ = 0;
  std::unique_ptr<ChildProcess> prometheus_, node_exporter_, tender_;
  std::unique_ptr<httplib::Client> prom_;
};

TEST_F(E2EPrometheusTest, EverySampleArrivesWithExactLabels) {
  const std::string instance = absl::StrCat("127.0.0.1:", fixture_port_);
  const auto expected = ExpectedSeries();
  const std::string selector = R"({job="fixture",__name__!~"up|scrape_.*|tender_.*"})";
  ASSERT_TRUE(WaitFor([&] { return Query(selector).size() == expected.size(); }, absl::Seconds(60)))
      << "got " << Query(selector).size() << " series\n"
      << ReadFile(dir_ + "/tender.log");

  std::map<std::string, std::string> want;
  for (const auto& [name, e] : expected) {
    auto labels = e.labels;
    labels["__name__"] = name;
    labels["job"] = "fixture";
    labels["instance"] = instance;
    labels["env"] = "ci";
    labels["cluster"] = "e2e";
    want[Key(labels)] = e.value;
  }
  std::map<std::string, std::string> got;
  for (const auto& [labels, value] : Query(selector)) got[Key(labels)] = value;
  EXPECT_EQ(got, want);

  EXPECT_EQ(QueryOne(R"(up{job="fixture"})"), "1");
  EXPECT_EQ(QueryOne(R"(scrape_samples_scraped{job="fixture"})"), std::to_string(expected.size()));
  EXPECT_EQ(QueryOne(R"(scrape_samples_post_metric_relabeling{job="fixture"})"),
            std::to_string(expected.size()));

  // The real node-exporter arrives too.
  ASSERT_TRUE(WaitFor([&] { return QueryOne(R"(up{job="node"})") == "1"; }, absl::Seconds(30)));
  const std::string node_series = QueryOne(R"(count({job="node",__name__=~"node_.+"}))");
  EXPECT_GT(std::atoi(node_series.c_str()), 100) << node_series;
  EXPECT_EQ(QueryOne(R"(count(node_cpu_seconds_total{job="node",cluster="e2e"}) > 0)"),
            QueryOne(R"(count(node_cpu_seconds_total{job="node"}))"));

  // The target starts failing: up drops to 0 and its series are marked stale.
  fail_.store(true);
  ASSERT_TRUE(WaitFor([&] { return QueryOne(R"(up{job="fixture"})") == "0"; }, absl::Seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return Query(selector).empty(); }, absl::Seconds(10)))
      << "series still visible after the target failed: stale markers missing";

  // tender stops cleanly on SIGTERM.
  EXPECT_EQ(tender_->Stop(SIGTERM, absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace tender::testing
