// Side by side with the real Prometheus: Prometheus scrapes a config with target relabeling,
// metric relabeling and honor_labels clashes into its own storage; tender runs the same config
// and remote-writes into a second Prometheus. The series label sets in the two must be the
// same, and /api/v1/targets must agree target for target.
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/process.h"

namespace tender::testing {
namespace {

constexpr char kExposition[] = R"(# TYPE http_requests_total counter
http_requests_total{method="get",code="200",job="scraped-job"} 10
http_requests_total{method="post",code="500",instance="scraped-instance"} 2
# TYPE go_goroutines gauge
go_goroutines 42
debug_noise{level="x"} 1
container_cpu{id="/kubepods/pod1",name="k8s_app",image="nginx",pod="web-1"} 3.5
container_cpu{id="/",name="",image="",pod=""} 9
mixed_Case{Path="/A/B"} 1
)";

// The config both run. Jobs cover the relabel actions a real config uses.
std::string Config(int port_a, int port_b) {
  return absl::StrReplaceAll(
      R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: ['127.0.0.1:PORT_A']
        labels: {env: prod, __tmp_team: core}
  - job_name: relabeled
    honor_labels: false
    metrics_path: /metrics
    params:
      module: [m1]
    static_configs:
      - targets: ['127.0.0.1:PORT_A', '127.0.0.1:PORT_B']
        labels: {__meta_zone: eu-west-1a, __meta_role: worker, drop_me: 'x'}
      - targets: ['127.0.0.1:PORT_B']
        labels: {__meta_zone: us-east-1, __meta_role: master}
    relabel_configs:
      - source_labels: [__meta_role]
        regex: master
        action: drop
      - source_labels: [__meta_zone]
        regex: '([a-z]+)-.*'
        target_label: region
        replacement: '${1}'
      - regex: __meta_(.+)
        action: labelmap
        replacement: meta_$1
      - source_labels: [__address__]
        regex: '(.*):(\d+)'
        target_label: port
        replacement: $2
      - action: labeldrop
        regex: drop_me
      - source_labels: [__address__]
        modulus: 4
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard, region]
        separator: '/'
        target_label: shard
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'debug_.*'
        action: drop
      - action: labeldrop
        regex: 'id|image'
      - source_labels: [name]
        regex: 'k8s_(.*)'
        target_label: container
      - source_labels: [Path]
        target_label: path_lower
        action: lowercase
      - source_labels: [__name__, method]
        separator: '_'
        regex: 'http_requests_total_(.*)'
        target_label: verb
        action: replace
  - job_name: honored
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:PORT_B']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_goroutines|http_requests_total'
        action: keep
)",
      {{"PORT_A", std::to_string(port_a)}, {"PORT_B", std::to_string(port_b)}});
}

class Prom {
 public:
  Prom(const std::string& dir, const std::string& name, const std::string& config, bool receiver)
      : port_(FreePort()) {
    std::ofstream(dir + "/" + name + ".yml") << config;
    std::vector<std::string> argv = {Env("PROMETHEUS_BIN", "prometheus"),
                                     "--config.file=" + dir + "/" + name + ".yml",
                                     "--storage.tsdb.path=" + dir + "/" + name + "-data",
                                     absl::StrCat("--web.listen-address=127.0.0.1:", port_)};
    if (receiver) argv.push_back("--web.enable-remote-write-receiver");
    proc_ = std::make_unique<ChildProcess>(argv, dir + "/" + name + ".log");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  bool WaitReady() {
    return WaitFor(
        [&] {
          auto r = client_->Get("/-/ready");
          return r && r->status == 200;
        },
        absl::Seconds(60));
  }
  // Every series' label set (sorted "k=v,…"), without tender's own report series.
  std::set<std::string> Series() {
    std::set<std::string> out;
    auto r = client_->Get("/api/v1/series", httplib::Params{{"match[]", "{job=~\".+\"}"}},
                          httplib::Headers{});
    if (!r || r->status != 200) return out;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    for (const auto& s : doc["data"].GetArray()) {
      std::map<std::string, std::string> labels;
      for (const auto& m : s.GetObject()) labels[m.name.GetString()] = m.value.GetString();
      if (absl::StartsWith(labels["__name__"], "tender_")) continue;
      std::string key;
      for (const auto& [k, v] : labels) absl::StrAppend(&key, k, "=", v, ",");
      out.insert(key);
    }
    return out;
  }
  std::string Get(const std::string& path) {
    auto r = client_->Get(path.c_str());
    return r ? r->body : "";
  }
  int port() const { return port_; }

 private:
  int port_;
  std::unique_ptr<ChildProcess> proc_;
  std::unique_ptr<httplib::Client> client_;
};

// Targets as "pool|scrapeUrl|health|labels|discoveredLabels" lines, and dropped targets.
std::set<std::string> TargetLines(const std::string& json) {
  std::set<std::string> out;
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (!doc.IsObject()) return out;
  auto labels = [](const rapidjson::Value& v) {
    std::map<std::string, std::string> m;
    for (const auto& kv : v.GetObject()) m[kv.name.GetString()] = kv.value.GetString();
    std::string s;
    for (const auto& [k, val] : m) absl::StrAppend(&s, k, "=", val, ",");
    return s;
  };
  for (const auto& t : doc["data"]["activeTargets"].GetArray()) {
    out.insert(absl::StrCat("active|", t["scrapePool"].GetString(), "|", t["scrapeUrl"].GetString(),
                            "|", t["health"].GetString(), "|", t["scrapeInterval"].GetString(), "|",
                            t["scrapeTimeout"].GetString(), "|", labels(t["labels"]), "|",
                            labels(t["discoveredLabels"])));
  }
  for (const auto& t : doc["data"]["droppedTargets"].GetArray()) {
    out.insert(absl::StrCat("dropped|", labels(t["discoveredLabels"])));
  }
  return out;
}

TEST(E2ESideBySideTest, SameTargetsAndLabelSetsAsPrometheus) {
  const std::string dir = MakeTempDir("tender-e2e-sbs-");
  httplib::Server a, b;
  for (auto* s : {&a, &b}) {
    s->Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kExposition, "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  const int port_a = a.bind_to_any_port("127.0.0.1");
  const int port_b = b.bind_to_any_port("127.0.0.1");
  std::thread ta([&] { a.listen_after_bind(); });
  std::thread tb([&] { b.listen_after_bind(); });

  const std::string config = Config(port_a, port_b);
  Prom scraper(dir, "scraper", config, /*receiver=*/false);
  Prom receiver(dir, "receiver", "global:\n  scrape_interval: 1m\n", /*receiver=*/true);
  ASSERT_TRUE(scraper.WaitReady()) << ReadFile(dir + "/scraper.log");
  ASSERT_TRUE(receiver.WaitReady()) << ReadFile(dir + "/receiver.log");

  std::ofstream(dir + "/tender.yml")
      << config << "remote_write:\n  - url: http://127.0.0.1:" << receiver.port()
      << "/api/v1/write\n    queue_config:\n      batch_send_deadline: 100ms\n";
  const int tender_port = FreePort();
  ChildProcess tender({Env("TENDER_BINARY_DIR", ".") + "/collector/app/tender",
                       "--config.file=" + dir + "/tender.yml",
                       absl::StrCat("--web.listen-address=127.0.0.1:", tender_port),
                       "--storage.path=" + dir + "/tender-data"},
                      dir + "/tender.log");
  httplib::Client tender_client("127.0.0.1", tender_port);

  // Both have scraped every target at least twice once the label sets stop changing.
  std::set<std::string> want, got;
  const bool same = WaitFor(
      [&] {
        want = scraper.Series();
        got = receiver.Series();
        return !want.empty() && want == got;
      },
      absl::Seconds(30));
  EXPECT_TRUE(same) << [&] {
    std::string diff;
    for (const auto& s : want) {
      if (!got.count(s)) absl::StrAppend(&diff, "only in Prometheus: ", s, "\n");
    }
    for (const auto& s : got) {
      if (!want.count(s)) absl::StrAppend(&diff, "only in tender:     ", s, "\n");
    }
    return diff + ReadFile(dir + "/tender.log").substr(0, 4000);
  }();
  EXPECT_GT(want.size(), 20u);

  // /api/v1/targets, target for target.
  std::set<std::string> prom_targets, tender_targets;
  const bool targets_same = WaitFor(
      [&] {
        prom_targets = TargetLines(scraper.Get("/api/v1/targets"));
        auto r = tender_client.Get("/api/v1/targets");
        tender_targets = TargetLines(r ? r->body : "");
        return !prom_targets.empty() && prom_targets == tender_targets;
      },
      absl::Seconds(15));
  EXPECT_TRUE(targets_same) << [&] {
    std::string diff;
    for (const auto& s : prom_targets) {
      if (!tender_targets.count(s)) absl::StrAppend(&diff, "only in Prometheus: ", s, "\n");
    }
    for (const auto& s : tender_targets) {
      if (!prom_targets.count(s)) absl::StrAppend(&diff, "only in tender:     ", s, "\n");
    }
    return diff;
  }();

  a.stop();
  b.stop();
  ta.join();
  tb.join();
}

}  // namespace
}  // namespace tender::testing
