// tender with node, pod and endpoints jobs against a generated cluster of realistic objects
// (the reduced form of bench/k8s/scale): every target is discovered, each resource is listed
// and watched once for all jobs, an added pod becomes a target through one watch event,
// without a re-list, and a reload that removes a job keeps the informers the others share.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/tools/fake_cluster.h"

namespace tender::testing {
namespace {

// The value of the sample `series` (name{labels} exactly as exposed) in /metrics, or -1.
double Metric(httplib::Client& client, const std::string& series) {
  auto r = client.Get("/metrics");
  if (!r || r->status != 200) return -1;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return -1;
}

TEST(E2EKubernetesScaleTest, GeneratedClusterIsDiscoveredAndFollowed) {
  test_tools::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  test_tools::ClusterShape shape;
  shape.nodes = 20;
  shape.pods = 500;
  test_tools::LoadFakeCluster(api, shape);

  const std::string dir = MakeTempDir("tender-e2e-k8s-scale-");
  const std::string config = absl::StrCat(R"(global:
  scrape_interval: 1h
scrape_configs:
  - job_name: nodes
    kubernetes_sd_configs:
      - role: node
        api_server: )",
                                          api.url(), R"(
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: )",
                                          api.url(), R"(
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
  - job_name: endpoints
    kubernetes_sd_configs:
      - role: endpoints
        api_server: )",
                                          api.url(), R"(
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
remote_write:
  - url: http://127.0.0.1:1/api/v1/write
)");
  std::ofstream(dir + "/tender.yml") << config;
  const int port = FreePort();
  ChildProcess tender(testing::TenderArgs(dir, port, {"--web.enable-lifecycle"}),
                      dir + "/tender.log");
  httplib::Client client("127.0.0.1", port);
  auto discovered = [&](const std::string& job) {
    return Metric(client, "tender_sd_discovered_targets{job=\"" + job + "\"}");
  };
  // Before relabeling: one target per node; three container ports per pod; per endpoints
  // object 5 addresses × 2 ports plus the 5 pods' proxy ports that no endpoint port covers.
  const double pod_targets = test_tools::FakePodTargets(shape);
  ASSERT_TRUE(WaitFor(
      [&] {
        return discovered("nodes") == shape.nodes && discovered("pods") == pod_targets &&
               discovered("endpoints") == 3.0 * shape.pods;
      },
      absl::Seconds(60)))
      << "nodes " << discovered("nodes") << " pods " << discovered("pods") << " endpoints "
      << discovered("endpoints") << "\n"
      << ReadFile(dir + "/tender.log").substr(0, 20000);
  // nodes, pods, services, endpoints: one informer each, the pod one shared by two jobs.
  EXPECT_TRUE(
      WaitFor([&] { return Metric(client, "tender_k8s_informers") == 4; }, absl::Seconds(10)));
  EXPECT_TRUE(api.WaitForOpenWatches(4, absl::Seconds(10)));
  const int lists = api.list_requests();
  EXPECT_EQ(api.watch_requests(), 4);
  // One page each (500 pods fill exactly one page of 500).
  EXPECT_EQ(lists, 4);

  // A pod of a new deployment arrives as one watch event; no re-list.
  test_tools::ClusterShape grown = shape;
  grown.pods = shape.pods + 1;
  api.Upsert("pods", test_tools::FakePodJson(grown, shape.pods));
  ASSERT_TRUE(WaitFor([&] { return discovered("pods") == pod_targets + 3; }, absl::Seconds(30)));
  EXPECT_TRUE(WaitFor(
      [&] {
        return Metric(client, "tender_k8s_watch_events_total{resource=\"/api/v1/pods\"}") == 1;
      },
      absl::Seconds(15)));
  EXPECT_EQ(api.list_requests(), lists);
  EXPECT_EQ(api.watch_requests(), 4);
  EXPECT_EQ(discovered("endpoints"), 3.0 * shape.pods);  // The new pod has no service.

  // A reload without the endpoints job: its services and endpoints informers stop, the nodes
  // and pods informers the other jobs share keep running (no new list).
  const size_t cut = config.find("  - job_name: endpoints");
  std::ofstream(dir + "/tender.yml")
      << config.substr(0, cut) << config.substr(config.find("remote_write:"));
  auto reload = client.Post("/-/reload");
  ASSERT_TRUE(reload && reload->status == 200) << (reload ? reload->body : "no answer");
  EXPECT_TRUE(
      WaitFor([&] { return Metric(client, "tender_k8s_informers") == 2; }, absl::Seconds(15)));
  EXPECT_TRUE(WaitFor([&] { return discovered("pods") == pod_targets + 3; }, absl::Seconds(15)));
  EXPECT_EQ(discovered("endpoints"), -1);  // The job is gone.
  EXPECT_EQ(api.list_requests(), lists);
  EXPECT_EQ(api.watch_requests(), 4);
  EXPECT_EQ(tender.Stop(SIGTERM, absl::Seconds(20)), 0);
  api.Stop();
}

}  // namespace
}  // namespace tender::testing
