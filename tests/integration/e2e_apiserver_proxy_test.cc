// tender with api_server_proxy jobs against the fake API server: node (kubelet cAdvisor), pod
// and service targets are discovered and scraped through the API server's proxy paths with the
// kubeconfig's token, their series reach remote write with the target labels of a direct
// scrape, never more than max_concurrent proxied requests are in flight, and 429/503 answers
// with Retry-After hold the scrapes back (counted) without stopping delivery. Behind nghttpx
// (TLS + HTTP/2 in front of the fake) the scrapes share one multiplexed connection, and when a
// partition black-holes that connection (wan_proxy, SIGUSR1) they recover on a new one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/tools/fake_receiver.h"

namespace tender::testing {
namespace {

constexpr int kNodes = 10;

// True when something accepts TCP connections on 127.0.0.1:`port`.
bool Listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}
constexpr int kMaxConcurrent = 2;

class E2EApiServerProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-e2e-proxy-");
    api_.set_token("s3cret");
    ASSERT_TRUE(api_.Start().ok());
    ASSERT_TRUE(receiver_.Start().ok());
    // One fixture serves every target: /<who>/<path> answers a series naming both.
    fixture_.Get(R"(/([^/]+)(/.*))", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(
          absl::StrCat("# TYPE fixture_up gauge\nfixture_up{who=\"", req.matches[1].str(),
                       "\",path=\"", req.matches[2].str(), "\"} 1\n"),
          "text/plain; version=0.0.4");
    });
    fixture_port_ = fixture_.bind_to_any_port("127.0.0.1");
    fixture_thread_ = std::thread([this] { fixture_.listen_after_bind(); });
    const std::string fixture = absl::StrCat("http://127.0.0.1:", fixture_port_);

    for (int i = 0; i < kNodes; ++i) {
      api_.Upsert("nodes", absl::StrCat(R"({"metadata": {"name": "n)", i, R"("},
          "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.)",
                                        i + 1, R"("}],
                     "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})"));
      // The kubelet form of the node's proxy path (no port).
      api_.SetProxyTarget("nodes", "", absl::StrCat("n", i), absl::StrCat(fixture, "/n", i));
    }
    for (int i = 0; i < 2; ++i) {
      api_.Upsert("pods", absl::StrCat(R"({"metadata": {"name": "web-)", i,
                                       R"(", "namespace": "default"},
          "spec": {"nodeName": "n0", "containers": [{"name": "web", "image": "nginx:1",
            "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]},
          "status": {"phase": "Running", "podIP": "10.1.0.)",
                                       i + 5, R"("}})"));
      api_.SetProxyTarget("pods", "default", absl::StrCat("web-", i, ":9090"),
                          absl::StrCat(fixture, "/web-", i));
    }
    api_.Upsert("services", R"({"metadata": {"name": "kube-state-metrics",
        "namespace": "monitoring"},
      "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
        "ports": [{"name": "http-metrics", "port": 8080, "protocol": "TCP"}]}})");
    api_.SetProxyTarget("services", "monitoring", "kube-state-metrics:8080",
                        absl::StrCat(fixture, "/ksm"));

    // The token comes from a tokenFile, re-read by tender when it changes.
    std::ofstream(dir_ + "/token") << "s3cret\n";
    std::ofstream(dir_ + "/tender.kubeconfig") << absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: test
contexts:
  - name: test
    context: {cluster: fake, user: tender}
clusters:
  - name: fake
    cluster: {server: ")",
                                                               api_.url(), R"("}
users:
  - name: tender
    user: {tokenFile: token}
)");
    port_ = FreePort();
    const std::string kc = dir_ + "/tender.kubeconfig";
    std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kubelet-cadvisor
    metrics_path: /metrics/cadvisor
    kubernetes_sd_configs: [{role: node, kubeconfig_file: )",
                                                        kc, R"(}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_node_name]
        target_label: node
    api_server_proxy: {max_concurrent: )",
                                                        kMaxConcurrent, R"(}
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: )",
                                                        kc, R"(
        namespaces: {names: [default]}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        action: keep
        regex: metrics
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
    api_server_proxy: {max_concurrent: )",
                                                        kMaxConcurrent, R"(}
  - job_name: kube-state-metrics
    honor_labels: true
    kubernetes_sd_configs:
      - role: service
        kubeconfig_file: )",
                                                        kc, R"(
        namespaces: {names: [monitoring]}
    api_server_proxy: {max_concurrent: )",
                                                        kMaxConcurrent, R"(}
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

  // Active targets: instance -> (job, health).
  std::map<std::string, std::pair<std::string, std::string>> Active() {
    std::map<std::string, std::pair<std::string, std::string>> out;
    auto r = client_->Get("/api/v1/targets");
    if (!r) return out;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    if (!doc.IsObject() || !doc.HasMember("data")) return out;
    for (const auto& t : doc["data"]["activeTargets"].GetArray()) {
      out[t["labels"]["instance"].GetString()] = {t["labels"]["job"].GetString(),
                                                  t["health"].GetString()};
    }
    return out;
  }

  bool AllUp() {
    auto active = Active();
    if (active.size() != kNodes + 3) return false;
    for (const auto& [instance, jh] : active) {
      if (jh.second != "up") return false;
    }
    return true;
  }

  // fixture_up samples received, per `who`.
  std::map<std::string, size_t> FixtureSamples() {
    std::map<std::string, size_t> out;
    for (const auto& [series, samples] : receiver_.series()) {
      if (!absl::StrContains(series, "__name__=\"fixture_up\"")) continue;
      const size_t at = series.find("who=\"");
      if (at == std::string::npos) continue;
      const size_t end = series.find('"', at + 5);
      out[series.substr(at + 5, end - at - 5)] += samples.size();
    }
    return out;
  }

  // Sum of a tender counter over the label sets whose text contains `filter`.
  double Counter(const std::string& name, const std::string& filter = "") {
    auto r = client_->Get("/metrics");
    if (!r) return -1;
    double sum = 0;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      if (!absl::StartsWith(line, name + "{") && !absl::StartsWith(line, name + " ")) continue;
      if (!filter.empty() && !absl::StrContains(line, filter)) continue;
      double v = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
    }
    return sum;
  }

  std::string dir_;
  test_tools::FakeApiServer api_;
  test_tools::FakeRemoteWriteReceiver receiver_;
  httplib::Server fixture_;
  std::thread fixture_thread_;
  int fixture_port_ = 0;
  int port_ = 0;
  std::unique_ptr<ChildProcess> tender_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(E2EApiServerProxyTest, ScrapesThroughTheProxyWithinTheCapAndBacksOffOn429) {
  // Each proxied request takes 100 ms at the "kubelet", so scrapes overlap: 13 targets a second
  // need 1.3 request-seconds per second, more than one slot.
  api_.set_proxy_delay(absl::Milliseconds(100));
  StartTender();
  ASSERT_TRUE(WaitFor([&] { return AllUp(); }, absl::Seconds(30)));

  // The target labels are those of a direct scrape: instance is what discovery set (the node
  // name for nodes, as in Prometheus; the address for the others).
  auto active = Active();
  EXPECT_EQ(active["n0"].first, "kubelet-cadvisor");
  EXPECT_EQ(active["10.1.0.5:9090"].first, "pods");
  EXPECT_EQ(active["kube-state-metrics.monitoring.svc:8080"].first, "kube-state-metrics");

  // Every target's series arrive with the right labels.
  ASSERT_TRUE(WaitFor([&] { return FixtureSamples().size() == kNodes + 3; }, absl::Seconds(20)));
  bool node_labels = false, pod_labels = false, ksm_labels = false;
  for (const auto& [series, samples] : receiver_.series()) {
    if (!absl::StrContains(series, "fixture_up")) continue;
    node_labels |= absl::StrContains(series, "instance=\"n2\"") &&
                   absl::StrContains(series, "job=\"kubelet-cadvisor\"") &&
                   absl::StrContains(series, "node=\"n2\"") &&
                   absl::StrContains(series, "path=\"/metrics/cadvisor\"") &&
                   absl::StrContains(series, "who=\"n2\"");
    pod_labels |= absl::StrContains(series, "instance=\"10.1.0.6:9090\"") &&
                  absl::StrContains(series, "job=\"pods\"") &&
                  absl::StrContains(series, "pod=\"web-1\"") &&
                  absl::StrContains(series, "who=\"web-1\"") &&
                  absl::StrContains(series, "path=\"/metrics\"");
    ksm_labels |=
        absl::StrContains(series, "instance=\"kube-state-metrics.monitoring.svc:8080\"") &&
        absl::StrContains(series, "job=\"kube-state-metrics\"") &&
        absl::StrContains(series, "who=\"ksm\"");
  }
  EXPECT_TRUE(node_labels);
  EXPECT_TRUE(pod_labels);
  EXPECT_TRUE(ksm_labels);

  // The proxy paths of protocols.md §7.4, each with the kubeconfig's token (no 401).
  test_tools::FakeApiServer::ProxyStats stats = api_.proxy_stats();
  EXPECT_GT(stats.by_path["/api/v1/nodes/n0/proxy/metrics/cadvisor"], 0);
  EXPECT_GT(stats.by_path["/api/v1/namespaces/default/pods/web-0:9090/proxy/metrics"], 0);
  EXPECT_GT(stats.by_path["/api/v1/namespaces/monitoring/services/kube-state-metrics:8080/proxy/"
                          "metrics"],
            0);
  EXPECT_EQ(stats.unauthorized, 0);
  EXPECT_LE(stats.max_in_flight, kMaxConcurrent);
  EXPECT_GE(stats.max_in_flight, 1);
  std::cerr << "phase 1: proxy requests " << stats.requests << ", max in flight "
            << stats.max_in_flight << " (cap " << kMaxConcurrent << "), waited for a slot "
            << Counter("tender_scrape_throttled_total", "reason=\"concurrency\"") << "\n";

  // 20 % of the proxy requests answered 429 with Retry-After: 1.
  const auto before = FixtureSamples();
  size_t before_total = 0;
  for (const auto& [who, n] : before) before_total += n;
  api_.FailProxyFraction(429, 0.2);
  ASSERT_TRUE(WaitFor([&] { return api_.proxy_stats().failed >= 10; }, absl::Seconds(60)));
  // Scrapes still deliver meanwhile.
  size_t during_total = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        during_total = 0;
        for (const auto& [who, n] : FixtureSamples()) during_total += n;
        return during_total >= before_total + 2 * (kNodes + 3);
      },
      absl::Seconds(30)));
  // Every 429 answer is counted (the counter follows the answer by a moment).
  ASSERT_TRUE(
      WaitFor([&] { return Counter("tender_scrape_throttled_total", "reason=\"rejected\"") >= 10; },
              absl::Seconds(10)));
  const double rejected = Counter("tender_scrape_throttled_total", "reason=\"rejected\"");
  const double held = Counter("tender_scrape_throttled_total", "reason=\"retry_after\"");
  const int failed_429 = api_.proxy_stats().failed;
  EXPECT_GT(held, 0);  // Scrapes not sent while the API server asked to be left alone.
  // 503 with Retry-After too.
  api_.FailProxyFraction(0, 0);
  api_.FailNextProxy(503, 3);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter("tender_scrape_throttled_total", "reason=\"rejected\"") >= rejected + 3;
      },
      absl::Seconds(30)));

  // Back to normal: every target up again and delivering.
  ASSERT_TRUE(WaitFor([&] { return AllUp(); }, absl::Seconds(30)));
  const auto after_recovery = FixtureSamples();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = FixtureSamples();
        for (const auto& [who, n] : after_recovery) {
          if (now[who] <= n) return false;
        }
        return true;
      },
      absl::Seconds(20)));
  stats = api_.proxy_stats();
  EXPECT_LE(stats.max_in_flight, kMaxConcurrent);
  size_t total = 0;
  for (const auto& [who, n] : FixtureSamples()) total += n;
  std::cerr << "phase 2: proxy requests " << stats.requests << ", answered 429/503 " << stats.failed
            << " (429: " << failed_429 << "), tender_scrape_throttled_total "
            << "rejected=" << Counter("tender_scrape_throttled_total", "reason=\"rejected\"")
            << " retry_after=" << Counter("tender_scrape_throttled_total", "reason=\"retry_after\"")
            << " concurrency=" << Counter("tender_scrape_throttled_total", "reason=\"concurrency\"")
            << ", max in flight " << stats.max_in_flight << " (cap " << kMaxConcurrent
            << "), fixture_up samples delivered " << total << " (before 429s " << before_total
            << ", during " << during_total << ")\n";
  EXPECT_EQ(receiver_.order_violations(), 0u);

  // The token rotates: the API server takes only the new one, the token file gets it, and the
  // scrapes carry it without a reload (the file is re-read when it changes; a 401 forces it).
  api_.set_token("r0tated");
  {
    std::ofstream(dir_ + "/token.new") << "r0tated\n";
    ASSERT_EQ(std::rename((dir_ + "/token.new").c_str(), (dir_ + "/token").c_str()), 0);
  }
  const int forwarded = api_.proxy_stats().forwarded;
  ASSERT_TRUE(WaitFor([&] { return api_.proxy_stats().forwarded >= forwarded + 2 * (kNodes + 3); },
                      absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return AllUp(); }, absl::Seconds(20)));
  std::cerr << "token rotation: " << api_.proxy_stats().unauthorized
            << " proxy requests answered 401 meanwhile\n";
}

TEST_F(E2EApiServerProxyTest, Http2SharesOneConnectionAndRecoversFromAPartition) {
  const std::string nghttpx = "/usr/sbin/nghttpx";
  if (access(nghttpx.c_str(), X_OK) != 0) GTEST_SKIP() << "nghttpx (nghttp2-proxy) missing";
  // tender -> wan_proxy -> nghttpx (TLS, h2) -> fake API server (HTTP/1.1).
  ASSERT_EQ(std::system(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
                                     "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout ",
                                     dir_, "/key.pem -out ", dir_, "/cert.pem 2>/dev/null")
                            .c_str()),
            0);
  const int h2_port = FreePort();
  ChildProcess front(
      {nghttpx, absl::StrCat("--frontend=127.0.0.1,", h2_port),
       absl::StrCat("--backend=127.0.0.1,", api_.port()), "--workers=1", "--no-ocsp",
       "--accesslog-file=" + dir_ + "/access.log",
       "--accesslog-format=$alpn $remote_port $status $path",
       "--errorlog-file=" + dir_ + "/nghttpx.log", dir_ + "/key.pem", dir_ + "/cert.pem"},
      dir_ + "/nghttpx.out");
  const int wan_port = FreePort();
  ChildProcess wan({"python3", Env("TENDER_SOURCE_DIR", ".") + "/tests/tools/wan_proxy.py",
                    "--route", absl::StrCat("127.0.0.1:", wan_port, "=127.0.0.1:", h2_port)},
                   dir_ + "/wan_proxy.log");
  ASSERT_TRUE(
      WaitFor([&] { return Listening(h2_port) && Listening(wan_port); }, absl::Seconds(20)));
  std::ofstream(dir_ + "/tender.kubeconfig") << absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: test
contexts:
  - name: test
    context: {cluster: fake, user: tender}
clusters:
  - name: fake
    cluster: {server: "https://127.0.0.1:)",
                                                             wan_port, R"(",
              certificate-authority: cert.pem}
users:
  - name: tender
    user: {tokenFile: token}
)");
  StartTender();
  ASSERT_TRUE(WaitFor([&] { return AllUp(); }, absl::Seconds(30)));

  // Every proxied request went over HTTP/2, all on one or two connections.
  auto connections = [&] {
    std::set<std::string> ports;
    int h2 = 0, other = 0;
    for (absl::string_view line : absl::StrSplit(ReadFile(dir_ + "/access.log"), '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() < 4 || !absl::StrContains(f[3], "/proxy/")) continue;
      (f[0] == "h2" ? h2 : other) += 1;
      ports.insert(f[1]);
    }
    return std::make_tuple(ports.size(), h2, other);
  };
  ASSERT_TRUE(
      WaitFor([&] { return std::get<1>(connections()) >= 3 * (kNodes + 3); }, absl::Seconds(20)));
  const auto [conns_before, h2_before, other_before] = connections();
  EXPECT_EQ(other_before, 0);
  EXPECT_LE(conns_before, 2u);

  // The partition: the open connection now swallows everything. Scrapes on it time out, it is
  // shut down, and the next scrapes go over a new connection.
  const int forwarded_before = api_.proxy_stats().forwarded;
  const absl::Time cut = absl::Now();
  ASSERT_EQ(kill(wan.pid(), SIGUSR1), 0);
  ASSERT_TRUE(
      WaitFor([&] { return api_.proxy_stats().forwarded >= forwarded_before + 2 * (kNodes + 3); },
              absl::Seconds(30)));
  const absl::Duration recovery = absl::Now() - cut;
  ASSERT_TRUE(WaitFor([&] { return AllUp(); }, absl::Seconds(20)));
  const double resets = Counter("tender_scrape_connection_resets_total");
  EXPECT_GE(resets, 1);
  EXPECT_LE(resets, 3);  // The replacement connections are not given up in turn.
  const auto [conns_after, h2_after, other_after] = connections();
  EXPECT_GT(conns_after, conns_before);
  EXPECT_EQ(other_after, 0);
  // Scrape timeout (1 s) + detection + one interval (1 s), with room for a slow machine.
  EXPECT_LT(recovery, absl::Seconds(15));
  std::cerr << "h2: " << h2_before << " proxied requests over " << conns_before
            << " connection(s) before the partition; recovered " << 2 * (kNodes + 3) << " scrapes "
            << recovery << " after it over " << conns_after - conns_before
            << " new connection(s); tender_scrape_connection_resets_total " << resets << "\n";
}

}  // namespace
}  // namespace tender::testing
