// KubernetesDiscoverer against FakeApiServer and the fixture cluster: every role's targets with
// their full label sets (written by hand from Prometheus's documented kubernetes_sd labels),
// watch events adding and removing targets, recovery from an expired watch, and the
// namespaces and selectors sent to the API server.

#include "collector/discovery/kubernetes/kubernetes_discoverer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "collector/discovery/kubernetes/target_builder.h"
#include "collector/model/labels.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/unit/discovery_kubernetes/fixture_cluster.h"

namespace tender::discovery {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;
using namespace ::tender::discovery::testing;  // NOLINT: fixture objects.

// A label set; names starting with '~' get the __meta_kubernetes_ prefix.
model::Labels L(std::initializer_list<std::pair<std::string, std::string>> labels) {
  model::Labels out;
  for (const auto& [name, value] : labels) {
    out.push_back({name[0] == '~' ? "__meta_kubernetes_" + name.substr(1) : name, value});
  }
  model::Normalize(out);
  return out;
}

model::Labels Merge(model::Labels a, const model::Labels& b) {
  a.insert(a.end(), b.begin(), b.end());
  model::Normalize(a);
  return a;
}

// Every target of `groups` as one label set (group labels, own labels, __address__), in
// label-set order.
std::vector<model::Labels> Flatten(const std::vector<TargetGroup>& groups) {
  std::vector<model::Labels> out;
  for (const TargetGroup& g : groups) {
    for (size_t i = 0; i < g.targets.size(); ++i) {
      model::Labels l = g.labels;
      if (i < g.target_labels.size()) {
        l.insert(l.end(), g.target_labels[i].begin(), g.target_labels[i].end());
      }
      l.push_back({"__address__", g.targets[i]});
      model::Normalize(l);
      out.push_back(std::move(l));
    }
  }
  return out;
}

std::vector<std::string> Sources(const std::vector<TargetGroup>& groups) {
  std::vector<std::string> out;
  for (const TargetGroup& g : groups) out.push_back(g.source);
  return out;
}

// Keeps the last report of a discoverer and lets a test wait for a condition on it.
class Reports {
 public:
  std::function<void(std::vector<TargetGroup>)> Callback() {
    return [this](std::vector<TargetGroup> groups) {
      std::lock_guard<std::mutex> lock(mu_);
      groups_ = std::move(groups);
      ++count_;
      cv_.notify_all();
    };
  }
  // Waits (up to 20 s) until a report satisfies `pred`; returns the matching groups, or the
  // last ones seen when none did (and fails the test).
  std::vector<TargetGroup> WaitFor(
      const std::function<bool(const std::vector<TargetGroup>&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok =
        cv_.wait_for(lock, std::chrono::seconds(20), [&] { return count_ > 0 && pred(groups_); });
    EXPECT_TRUE(ok) << "condition not reached; last report has " << groups_.size() << " groups";
    return groups_;
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::vector<TargetGroup> WaitForFirst() {
    return WaitFor([](const std::vector<TargetGroup>&) { return true; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TargetGroup> groups_;
  int count_ = 0;
};

class KubernetesDiscovererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    LoadFixtureCluster(api_);
  }

  config::KubernetesSdConfig Config(const std::string& role) {
    config::KubernetesSdConfig c;
    c.role = role;
    c.api_server = api_.url();
    return c;
  }

  // Starts a discoverer for `config` and returns its first report.
  std::vector<TargetGroup> Run(const config::KubernetesSdConfig& config) {
    discoverer_ = std::make_unique<KubernetesDiscoverer>(config, reports_.Callback(), &registry_);
    EXPECT_TRUE(discoverer_->Start().ok());
    return reports_.WaitForFirst();
  }

  void TearDown() override {
    if (discoverer_) discoverer_->Shutdown();
    api_.Stop();
  }

  test_tools::FakeApiServer api_;
  prometheus::Registry registry_;
  Reports reports_;
  std::unique_ptr<KubernetesDiscoverer> discoverer_;
};

// Pod labels of web-1 without namespace (pod, endpoints and endpointslice share them).
model::Labels Web1PodLabels() {
  return L({{"~pod_name", "web-1"},
            {"~pod_ip", "10.1.0.5"},
            {"~pod_uid", "uid-web-1"},
            {"~pod_phase", "Running"},
            {"~pod_ready", "true"},
            {"~pod_node_name", "n1"},
            {"~pod_host_ip", "10.0.0.1"},
            {"~pod_controller_kind", "ReplicaSet"},
            {"~pod_controller_name", "web-5d8f"},
            {"~pod_label_app", "web"},
            {"~pod_labelpresent_app", "true"},
            {"~pod_label_app_kubernetes_io_version", "1.2"},
            {"~pod_labelpresent_app_kubernetes_io_version", "true"},
            {"~pod_annotation_prometheus_io_scrape", "true"},
            {"~pod_annotationpresent_prometheus_io_scrape", "true"}});
}

model::Labels ServiceWebLabels() {
  return L({{"~namespace", "default"},
            {"~service_name", "web"},
            {"~service_label_app", "web"},
            {"~service_labelpresent_app", "true"},
            {"~service_annotation_prometheus_io_probe", "true"},
            {"~service_annotationpresent_prometheus_io_probe", "true"}});
}

TEST_F(KubernetesDiscovererTest, NodeRole) {
  std::vector<TargetGroup> groups = Run(Config("node"));
  EXPECT_EQ(Sources(groups), (std::vector<std::string>{"node/n1", "node/n2"}));
  const model::Labels n1 = L({{"~node_name", "n1"},
                              {"~node_provider_id", "aws:///z1/i-1"},
                              {"~node_condition_ready", "true"},
                              {"~node_condition_memorypressure", "false"},
                              {"~node_label_kubernetes_io_hostname", "n1"},
                              {"~node_labelpresent_kubernetes_io_hostname", "true"},
                              {"~node_label_topology_kubernetes_io_zone", "z1"},
                              {"~node_labelpresent_topology_kubernetes_io_zone", "true"},
                              {"~node_annotation_node_alpha_kubernetes_io_ttl", "0"},
                              {"~node_annotationpresent_node_alpha_kubernetes_io_ttl", "true"},
                              {"~node_address_Hostname", "n1"},
                              {"~node_address_InternalIP", "10.0.0.1"},
                              {"~node_address_ExternalIP", "1.2.3.4"},
                              {"__address__", "10.0.0.1:10250"},
                              {"instance", "n1"}});
  const model::Labels n2 = L({{"~node_name", "n2"},
                              {"~node_condition_ready", "unknown"},
                              {"~node_address_Hostname", "n2"},
                              {"~node_address_InternalDNS", "n2.internal"},
                              {"__address__", "n2.internal:10255"},
                              {"instance", "n2"}});
  EXPECT_THAT(Flatten(groups), UnorderedElementsAreArray({n1, n2}));
}

TEST_F(KubernetesDiscovererTest, PodRole) {
  std::vector<TargetGroup> groups = Run(Config("pod"));
  EXPECT_EQ(Sources(groups), (std::vector<std::string>{"pod/default/pending-1", "pod/default/web-1",
                                                       "pod/prod/api-1"}));
  const model::Labels web = Merge(Web1PodLabels(), L({{"~namespace", "default"}}));
  const model::Labels api = L({{"~namespace", "prod"},
                               {"~pod_name", "api-1"},
                               {"~pod_ip", "fd00::9"},
                               {"~pod_uid", "uid-api-1"},
                               {"~pod_phase", "Pending"},
                               {"~pod_ready", "unknown"},
                               {"~pod_node_name", "n2"},
                               {"~pod_host_ip", "10.0.0.2"},
                               {"~pod_label_app", "api"},
                               {"~pod_labelpresent_app", "true"}});
  EXPECT_THAT(Flatten(groups), UnorderedElementsAreArray({
                                   Merge(web, L({{"__address__", "10.1.0.5:8080"},
                                                 {"~pod_container_name", "web"},
                                                 {"~pod_container_id", "containerd://aaa"},
                                                 {"~pod_container_image", "nginx:1"},
                                                 {"~pod_container_init", "false"},
                                                 {"~pod_container_port_name", "http"},
                                                 {"~pod_container_port_number", "8080"},
                                                 {"~pod_container_port_protocol", "TCP"}})),
                                   Merge(web, L({{"__address__", "10.1.0.5:9090"},
                                                 {"~pod_container_name", "web"},
                                                 {"~pod_container_id", "containerd://aaa"},
                                                 {"~pod_container_image", "nginx:1"},
                                                 {"~pod_container_init", "false"},
                                                 {"~pod_container_port_name", "metrics"},
                                                 {"~pod_container_port_number", "9090"},
                                                 {"~pod_container_port_protocol", "TCP"}})),
                                   Merge(web, L({{"__address__", "10.1.0.5"},
                                                 {"~pod_container_name", "sidecar"},
                                                 {"~pod_container_id", "containerd://bbb"},
                                                 {"~pod_container_image", "envoy:1"},
                                                 {"~pod_container_init", "false"}})),
                                   Merge(web, L({{"__address__", "10.1.0.5:7000"},
                                                 {"~pod_container_name", "init"},
                                                 {"~pod_container_id", "containerd://iii"},
                                                 {"~pod_container_image", "busybox:1"},
                                                 {"~pod_container_init", "true"},
                                                 {"~pod_container_port_number", "7000"},
                                                 {"~pod_container_port_protocol", "UDP"}})),
                                   Merge(api, L({{"__address__", "[fd00::9]:8443"},
                                                 {"~pod_container_name", "api"},
                                                 {"~pod_container_image", "api:2"},
                                                 {"~pod_container_init", "false"},
                                                 {"~pod_container_port_number", "8443"},
                                                 {"~pod_container_port_protocol", "TCP"}})),
                               }));
}

TEST_F(KubernetesDiscovererTest, PodRoleWithNodeAndNamespaceMetadata) {
  config::KubernetesSdConfig c = Config("pod");
  c.attach_node_metadata = true;
  c.attach_namespace_metadata = true;
  std::vector<TargetGroup> groups = Run(c);
  const model::Labels extra = L({{"~node_name", "n1"},
                                 {"~node_label_kubernetes_io_hostname", "n1"},
                                 {"~node_labelpresent_kubernetes_io_hostname", "true"},
                                 {"~node_label_topology_kubernetes_io_zone", "z1"},
                                 {"~node_labelpresent_topology_kubernetes_io_zone", "true"},
                                 {"~node_annotation_node_alpha_kubernetes_io_ttl", "0"},
                                 {"~node_annotationpresent_node_alpha_kubernetes_io_ttl", "true"},
                                 {"~namespace_label_team", "a"},
                                 {"~namespace_labelpresent_team", "true"},
                                 {"~namespace_annotation_owner_contact", "ops@example.com"},
                                 {"~namespace_annotationpresent_owner_contact", "true"}});
  const model::Labels want =
      Merge(Merge(Web1PodLabels(), extra), L({{"~namespace", "default"},
                                              {"__address__", "10.1.0.5"},
                                              {"~pod_container_name", "sidecar"},
                                              {"~pod_container_id", "containerd://bbb"},
                                              {"~pod_container_image", "envoy:1"},
                                              {"~pod_container_init", "false"}}));
  EXPECT_THAT(Flatten(groups), Contains(want));

  // A node label change reaches the pods on that node.
  api_.Upsert("nodes", R"({"metadata": {"name": "n1", "labels": {"pool": "big"}},
    "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}})");
  groups = reports_.WaitFor([](const std::vector<TargetGroup>& g) {
    for (const auto& l : Flatten(g)) {
      if (model::Get(l, "__meta_kubernetes_node_label_pool") == "big") return true;
    }
    return false;
  });
  for (const auto& l : Flatten(groups)) {
    if (model::Get(l, "__meta_kubernetes_pod_name") == "web-1") {
      EXPECT_EQ(model::Get(l, "__meta_kubernetes_node_label_pool"), "big");
      EXPECT_EQ(model::Get(l, "__meta_kubernetes_node_label_topology_kubernetes_io_zone"), "");
    }
  }
}

TEST_F(KubernetesDiscovererTest, ServiceRole) {
  std::vector<TargetGroup> groups = Run(Config("service"));
  EXPECT_EQ(Sources(groups),
            (std::vector<std::string>{"svc/default/web", "svc/prod/ext", "svc/prod/lb"}));
  EXPECT_THAT(Flatten(groups),
              UnorderedElementsAreArray({
                  Merge(ServiceWebLabels(), L({{"__address__", "web.default.svc:80"},
                                               {"~service_port_name", "http"},
                                               {"~service_port_number", "80"},
                                               {"~service_port_protocol", "TCP"},
                                               {"~service_type", "ClusterIP"},
                                               {"~service_cluster_ip", "10.96.0.10"}})),
                  Merge(ServiceWebLabels(), L({{"__address__", "web.default.svc:9090"},
                                               {"~service_port_name", "metrics"},
                                               {"~service_port_number", "9090"},
                                               {"~service_port_protocol", "TCP"},
                                               {"~service_type", "ClusterIP"},
                                               {"~service_cluster_ip", "10.96.0.10"}})),
                  L({{"~namespace", "prod"},
                     {"~service_name", "ext"},
                     {"__address__", "ext.prod.svc:443"},
                     {"~service_port_name", "https"},
                     {"~service_port_number", "443"},
                     {"~service_port_protocol", "TCP"},
                     {"~service_type", "ExternalName"},
                     {"~service_external_name", "api.example.com"}}),
                  L({{"~namespace", "prod"},
                     {"~service_name", "lb"},
                     {"__address__", "lb.prod.svc:8443"},
                     {"~service_port_number", "8443"},
                     {"~service_port_protocol", "TCP"},
                     {"~service_type", "LoadBalancer"},
                     {"~service_cluster_ip", "10.96.0.20"},
                     {"~service_loadbalancer_ip", "5.6.7.8"}}),
              }));
}

TEST_F(KubernetesDiscovererTest, EndpointsRole) {
  std::vector<TargetGroup> groups = Run(Config("endpoints"));
  EXPECT_EQ(Sources(groups), std::vector<std::string>{"endpoints/default/web"});
  const model::Labels group =
      Merge(ServiceWebLabels(), L({{"~endpoints_name", "web"},
                                   {"~endpoints_label_app", "web"},
                                   {"~endpoints_labelpresent_app", "true"}}));
  EXPECT_THAT(
      Flatten(groups),
      UnorderedElementsAreArray({
          Merge(Merge(group, Web1PodLabels()), L({{"__address__", "10.1.0.5:8080"},
                                                  {"~endpoint_port_name", "http"},
                                                  {"~endpoint_port_protocol", "TCP"},
                                                  {"~endpoint_ready", "true"},
                                                  {"~endpoint_node_name", "n1"},
                                                  {"~endpoint_address_target_kind", "Pod"},
                                                  {"~endpoint_address_target_name", "web-1"},
                                                  {"~pod_container_name", "web"},
                                                  {"~pod_container_image", "nginx:1"},
                                                  {"~pod_container_port_name", "http"},
                                                  {"~pod_container_port_number", "8080"},
                                                  {"~pod_container_port_protocol", "TCP"}})),
          Merge(group, L({{"__address__", "10.1.0.77:8080"},
                          {"~endpoint_port_name", "http"},
                          {"~endpoint_port_protocol", "TCP"},
                          {"~endpoint_ready", "false"},
                          {"~endpoint_hostname", "h77"}})),
          // A container port of the pod that no endpoint port covers.
          Merge(Merge(group, Web1PodLabels()), L({{"__address__", "10.1.0.5:9090"},
                                                  {"~pod_container_name", "web"},
                                                  {"~pod_container_image", "nginx:1"},
                                                  {"~pod_container_port_name", "metrics"},
                                                  {"~pod_container_port_number", "9090"},
                                                  {"~pod_container_port_protocol", "TCP"}})),
      }));

  // A service label change reaches the endpoints' group.
  api_.Upsert("services", R"({"metadata": {"name": "web", "namespace": "default",
    "labels": {"app": "web2"}}, "spec": {"type": "ClusterIP"}})");
  groups = reports_.WaitFor([](const std::vector<TargetGroup>& g) {
    return g.size() == 1 &&
           model::Get(g[0].labels, "__meta_kubernetes_service_label_app") == "web2";
  });
}

TEST_F(KubernetesDiscovererTest, EndpointSliceRole) {
  std::vector<TargetGroup> groups = Run(Config("endpointslice"));
  EXPECT_EQ(Sources(groups), std::vector<std::string>{"endpointslice/default/web-abc"});
  const model::Labels group = Merge(
      ServiceWebLabels(), L({{"~endpointslice_name", "web-abc"},
                             {"~endpointslice_address_type", "IPv4"},
                             {"~endpointslice_label_kubernetes_io_service_name", "web"},
                             {"~endpointslice_labelpresent_kubernetes_io_service_name", "true"}}));
  const model::Labels port = L({{"~endpointslice_port_name", "http"},
                                {"~endpointslice_port_protocol", "TCP"},
                                {"~endpointslice_port", "8080"},
                                {"~endpointslice_port_app_protocol", "http"}});
  EXPECT_THAT(
      Flatten(groups),
      UnorderedElementsAreArray({
          Merge(Merge(Merge(group, port), Web1PodLabels()),
                L({{"__address__", "10.1.0.5:8080"},
                   {"~endpointslice_endpoint_conditions_ready", "true"},
                   {"~endpointslice_endpoint_conditions_serving", "true"},
                   {"~endpointslice_endpoint_conditions_terminating", "false"},
                   {"~endpointslice_endpoint_node_name", "n1"},
                   {"~endpointslice_endpoint_zone", "z1"},
                   {"~endpointslice_address_target_kind", "Pod"},
                   {"~endpointslice_address_target_name", "web-1"},
                   {"~pod_container_name", "web"},
                   {"~pod_container_image", "nginx:1"},
                   {"~pod_container_port_name", "http"},
                   {"~pod_container_port_number", "8080"},
                   {"~pod_container_port_protocol", "TCP"},
                   {"~pod_container_init", "false"}})),
          Merge(Merge(group, port),
                L({{"__address__", "10.1.0.78:8080"},
                   {"~endpointslice_endpoint_conditions_ready", "false"},
                   {"~endpointslice_endpoint_hostname", "h78"},
                   {"~endpointslice_endpoint_topology_kubernetes_io_hostname", "n9"},
                   {"~endpointslice_endpoint_topology_present_kubernetes_io_hostname", "true"}})),
          Merge(Merge(group, Web1PodLabels()), L({{"__address__", "10.1.0.5:9090"},
                                                  {"~pod_container_name", "web"},
                                                  {"~pod_container_image", "nginx:1"},
                                                  {"~pod_container_port_name", "metrics"},
                                                  {"~pod_container_port_number", "9090"},
                                                  {"~pod_container_port_protocol", "TCP"},
                                                  {"~pod_container_init", "false"}})),
          Merge(Merge(group, Web1PodLabels()), L({{"__address__", "10.1.0.5:7000"},
                                                  {"~pod_container_name", "init"},
                                                  {"~pod_container_image", "busybox:1"},
                                                  {"~pod_container_port_number", "7000"},
                                                  {"~pod_container_port_protocol", "UDP"},
                                                  {"~pod_container_init", "true"}})),
      }));
}

TEST_F(KubernetesDiscovererTest, IngressRole) {
  std::vector<TargetGroup> groups = Run(Config("ingress"));
  EXPECT_EQ(Sources(groups), std::vector<std::string>{"ingress/default/web"});
  const model::Labels group = L({{"~namespace", "default"},
                                 {"~ingress_name", "web"},
                                 {"~ingress_label_app", "web"},
                                 {"~ingress_labelpresent_app", "true"},
                                 {"~ingress_class_name", "nginx"}});
  EXPECT_THAT(Flatten(groups), UnorderedElementsAreArray({
                                   Merge(group, L({{"__address__", "secure.example.com"},
                                                   {"~ingress_scheme", "https"},
                                                   {"~ingress_host", "secure.example.com"},
                                                   {"~ingress_path", "/api"}})),
                                   Merge(group, L({{"__address__", "secure.example.com"},
                                                   {"~ingress_scheme", "https"},
                                                   {"~ingress_host", "secure.example.com"},
                                                   {"~ingress_path", "/"}})),
                                   Merge(group, L({{"__address__", "plain.example.com"},
                                                   {"~ingress_scheme", "http"},
                                                   {"~ingress_host", "plain.example.com"},
                                                   {"~ingress_path", "/"}})),
                               }));
}

std::string PodJson(const std::string& ns, const std::string& name, const std::string& ip) {
  return R"({"metadata": {"name": ")" + name + R"(", "namespace": ")" + ns +
         R"("}, "spec": {"containers": [{"name": "c", "image": "i",
         "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
         "status": {"phase": "Running", "podIP": ")" +
         ip + R"("}})";
}

bool HasAddress(const std::vector<TargetGroup>& groups, const std::string& address) {
  for (const TargetGroup& g : groups) {
    if (std::find(g.targets.begin(), g.targets.end(), address) != g.targets.end()) return true;
  }
  return false;
}

TEST_F(KubernetesDiscovererTest, PodsAddedAndRemovedFollowWatchEvents) {
  Run(Config("pod"));
  ASSERT_TRUE(api_.WaitForOpenWatches(1, absl::Seconds(10)));
  api_.Upsert("pods", PodJson("default", "new-1", "10.1.9.1"));
  std::vector<TargetGroup> groups =
      reports_.WaitFor([](const auto& g) { return HasAddress(g, "10.1.9.1:80"); });
  EXPECT_THAT(Sources(groups), Contains("pod/default/new-1"));
  EXPECT_EQ(Flatten(groups).size(), 6u);  // 5 fixture targets + 1.

  ASSERT_TRUE(api_.Delete("pods", "default", "web-1"));
  groups = reports_.WaitFor([](const auto& g) { return !HasAddress(g, "10.1.0.5:8080"); });
  EXPECT_EQ(Sources(groups), (std::vector<std::string>{"pod/default/new-1", "pod/default/pending-1",
                                                       "pod/prod/api-1"}));
  EXPECT_EQ(Flatten(groups).size(), 2u);

  // An IP change replaces the target in the same group.
  api_.Upsert("pods", PodJson("default", "new-1", "10.1.9.2"));
  groups = reports_.WaitFor([](const auto& g) { return HasAddress(g, "10.1.9.2:80"); });
  EXPECT_FALSE(HasAddress(groups, "10.1.9.1:80"));
  EXPECT_EQ(Flatten(groups).size(), 2u);

  // Events are counted by role and kind.
  const std::string metrics = prometheus::TextSerializer().Serialize(registry_.Collect());
  EXPECT_THAT(metrics, ::testing::HasSubstr(
                           "tender_sd_kubernetes_events_total{event=\"add\",role=\"pod\"} 4"));
  EXPECT_THAT(metrics, ::testing::HasSubstr(
                           "tender_sd_kubernetes_events_total{event=\"delete\",role=\"pod\"} 1"));
  EXPECT_THAT(metrics, ::testing::HasSubstr(
                           "tender_sd_kubernetes_events_total{event=\"update\",role=\"pod\"} 1"));
}

TEST_F(KubernetesDiscovererTest, BurstOfEventsIsCoalesced) {
  Run(Config("pod"));
  ASSERT_TRUE(api_.WaitForOpenWatches(1, absl::Seconds(10)));
  const int before = reports_.count();
  for (int i = 0; i < 50; ++i) {
    api_.Upsert("pods", PodJson("default", "burst-" + std::to_string(i),
                                "10.3.0." + std::to_string(i + 1)));
  }
  std::vector<TargetGroup> groups =
      reports_.WaitFor([](const auto& g) { return HasAddress(g, "10.3.0.50:80"); });
  EXPECT_EQ(Flatten(groups).size(), 55u);
  // 50 events within a report delay (500 ms) make a handful of reports, not 50.
  EXPECT_LE(reports_.count() - before, 5);
}

TEST_F(KubernetesDiscovererTest, ExpiredWatchRecoversWithoutLossOrDuplicates) {
  Run(Config("pod"));
  ASSERT_TRUE(api_.WaitForOpenWatches(1, absl::Seconds(10)));
  api_.Upsert("pods", PodJson("default", "a", "10.2.0.1"));
  reports_.WaitFor([](const auto& g) { return HasAddress(g, "10.2.0.1:80"); });
  const int lists_before = api_.list_requests();

  // The watch gets a 410 ERROR event; changes land while the informer re-lists.
  api_.ExpireWatches();
  api_.Upsert("pods", PodJson("default", "b", "10.2.0.2"));
  ASSERT_TRUE(api_.Delete("pods", "default", "a"));
  api_.Upsert("pods", PodJson("prod", "c", "10.2.0.3"));

  std::vector<TargetGroup> groups = reports_.WaitFor([](const auto& g) {
    return HasAddress(g, "10.2.0.2:80") && HasAddress(g, "10.2.0.3:80") &&
           !HasAddress(g, "10.2.0.1:80");
  });
  EXPECT_GT(api_.list_requests(), lists_before);
  EXPECT_EQ(Sources(groups),
            (std::vector<std::string>{"pod/default/b", "pod/default/pending-1", "pod/default/web-1",
                                      "pod/prod/api-1", "pod/prod/c"}));
  std::vector<std::string> addresses;
  for (const auto& l : Flatten(groups)) addresses.emplace_back(model::Get(l, "__address__"));
  std::sort(addresses.begin(), addresses.end());
  EXPECT_EQ(addresses,
            (std::vector<std::string>{"10.1.0.5", "10.1.0.5:7000", "10.1.0.5:8080", "10.1.0.5:9090",
                                      "10.2.0.2:80", "10.2.0.3:80", "[fd00::9]:8443"}));
  // Events after the recovery still arrive.
  api_.Upsert("pods", PodJson("default", "d", "10.2.0.4"));
  reports_.WaitFor([](const auto& g) { return HasAddress(g, "10.2.0.4:80"); });

  // The informer's requests are counted once per informer, by resource (whichever roles
  // share it), published at the latest when its last subscriber leaves.
  discoverer_->Shutdown();
  const std::string metrics = prometheus::TextSerializer().Serialize(registry_.Collect());
  auto value = [&](const std::string& name) {
    const std::string key = name + "{resource=\"/api/v1/pods\"} ";
    const size_t at = metrics.find(key);
    return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + key.size()));
  };
  EXPECT_GE(value("tender_k8s_watch_expired_total"), 1);
  EXPECT_GE(value("tender_k8s_lists_total"), 2);  // The first list and the re-list.
  EXPECT_GE(value("tender_k8s_watches_total"), 2);
  EXPECT_GE(value("tender_k8s_watch_events_total"), 2);
  EXPECT_EQ(value("tender_k8s_request_errors_total"), 0);
}

TEST_F(KubernetesDiscovererTest, NamespacesAndSelectorsReachTheApiServer) {
  config::KubernetesSdConfig c = Config("endpoints");
  c.namespaces = {"default", "prod"};
  c.selectors = {{"endpoints", "app=web", ""},
                 {"pod", "app in (web,api)", "spec.nodeName=n1"},
                 {"service", "", "metadata.name!=kubernetes"}};
  c.attach_namespace_metadata = true;
  Run(c);
  std::vector<std::string> lists;
  for (const std::string& r : api_.requests()) {
    if (r.find("watch=") == std::string::npos) lists.push_back(r);
  }
  EXPECT_THAT(
      lists,
      UnorderedElementsAreArray({
          "/api/v1/namespaces/default/endpoints?labelSelector=app=web&limit=500",
          "/api/v1/namespaces/prod/endpoints?labelSelector=app=web&limit=500",
          "/api/v1/namespaces/default/services?fieldSelector=metadata.name!=kubernetes&limit=500",
          "/api/v1/namespaces/prod/services?fieldSelector=metadata.name!=kubernetes&limit=500",
          "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName=n1&labelSelector=app in "
          "(web,api)&limit=500",
          "/api/v1/namespaces/prod/pods?fieldSelector=spec.nodeName=n1&labelSelector=app in "
          "(web,api)&limit=500",
          "/api/v1/namespaces?limit=500",
      }));
  // Watches carry the same selectors.
  ASSERT_TRUE(api_.WaitForOpenWatches(7, absl::Seconds(10)));
  bool pod_watch = false;
  for (const std::string& r : api_.requests()) {
    if (r.rfind("/api/v1/namespaces/prod/pods?", 0) == 0 &&
        r.find("watch=1") != std::string::npos) {
      pod_watch = true;
      EXPECT_THAT(r, ::testing::HasSubstr("fieldSelector=spec.nodeName=n1"));
      EXPECT_THAT(r, ::testing::HasSubstr("labelSelector=app in (web,api)"));
    }
  }
  EXPECT_TRUE(pod_watch);
  EXPECT_EQ(discoverer_->WatchedPaths().size(), 7u);
}

TEST(KubeConfigForTest, ApiServerWithHttpClientSettings) {
  config::KubernetesSdConfig c;
  c.role = "pod";
  c.api_server = "https://k8s.example:6443";
  c.proxy_url = "http://proxy:3128";
  c.http.authorization = config::Authorization{"Bearer", "tok", ""};
  c.http.tls_config.ca_file = "/ca.pem";
  c.http.tls_config.server_name = "kubernetes";
  c.http.tls_config.insecure_skip_verify = true;
  auto kc = KubeConfigFor(c);
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->cluster.server, "https://k8s.example:6443");
  EXPECT_EQ(kc->cluster.proxy_url, "http://proxy:3128");
  EXPECT_EQ(kc->cluster.ca_file, "/ca.pem");
  EXPECT_EQ(kc->cluster.tls_server_name, "kubernetes");
  EXPECT_TRUE(kc->cluster.insecure_skip_tls_verify);
  EXPECT_EQ(kc->user.token, "tok");

  c.http.authorization = config::Authorization{"Token", "tok", ""};
  EXPECT_EQ(KubeConfigFor(c).status().code(), absl::StatusCode::kUnimplemented);

  config::KubernetesSdConfig in_cluster;
  in_cluster.role = "pod";
  EXPECT_FALSE(KubeConfigFor(in_cluster, "/nonexistent/sa").ok());
}

TEST(TargetBuilderTest, SanitizeAndSources) {
  EXPECT_EQ(kubernetes::SanitizeLabelName("app.kubernetes.io/name-x"), "app_kubernetes_io_name_x");
  EXPECT_EQ(kubernetes::GroupSource("service", "ns", "s"), "svc/ns/s");
  EXPECT_EQ(kubernetes::GroupSource("node", "", "n"), "node/n");
  EXPECT_EQ(kubernetes::GroupSource("endpointslice", "ns", "e"), "endpointslice/ns/e");
}

}  // namespace
}  // namespace tender::discovery
