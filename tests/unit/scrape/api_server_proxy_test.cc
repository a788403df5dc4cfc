// The API-server proxy path of a target (protocols.md §7.4) for every role, the port choices,
// the errors; BuildTargets with an api_server_proxy job (URL, instance, credentials source).
#include "collector/scrape/api_server_proxy.h"

#include <string>

#include "collector/config/config.h"
#include "collector/discovery/static/static_targets.h"
#include "gtest/gtest.h"

namespace tender::scrape {
namespace {

model::Labels L(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  model::Labels labels;
  for (const auto& [name, value] : pairs) labels.push_back({name, value});
  model::Normalize(labels);
  return labels;
}

TEST(ApiProxyPathTest, EveryRole) {
  struct Case {
    std::string name;
    model::Labels labels;
    std::string discovered_address;
    std::string port;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"node kubelet",
       L({{"__address__", "10.0.0.1:10250"}, {"__meta_kubernetes_node_name", "n1"}}),
       "10.0.0.1:10250", "", "/api/v1/nodes/n1/proxy"},
      {"node kubelet, https scheme ignored",
       L({{"__address__", "10.0.0.1:10250"},
          {"__meta_kubernetes_node_name", "n1"},
          {"__scheme__", "https"}}),
       "10.0.0.1:10250", "", "/api/v1/nodes/n1/proxy"},
      {"node relabeled to node-exporter",
       L({{"__address__", "10.0.0.1:9100"}, {"__meta_kubernetes_node_name", "n1"}}),
       "10.0.0.1:10250", "", "/api/v1/nodes/n1:9100/proxy"},
      {"node explicit port over https",
       L({{"__address__", "10.0.0.1:10250"},
          {"__meta_kubernetes_node_name", "n1"},
          {"__scheme__", "https"}}),
       "10.0.0.1:10250", "9100", "/api/v1/nodes/https:n1:9100/proxy"},
      {"node explicit kubelet",
       L({{"__address__", "10.0.0.1:9100"}, {"__meta_kubernetes_node_name", "n1"}}),
       "10.0.0.1:10250", "kubelet", "/api/v1/nodes/n1/proxy"},
      {"pod",
       L({{"__address__", "10.1.0.5:9090"},
          {"__meta_kubernetes_namespace", "default"},
          {"__meta_kubernetes_pod_name", "web-1"},
          {"__meta_kubernetes_pod_node_name", "n1"}}),
       "10.1.0.5:9090", "", "/api/v1/namespaces/default/pods/web-1:9090/proxy"},
      {"pod without a port, https",
       L({{"__address__", "10.1.0.5"},
          {"__meta_kubernetes_namespace", "default"},
          {"__meta_kubernetes_pod_name", "web-1"},
          {"__scheme__", "https"}}),
       "10.1.0.5", "", "/api/v1/namespaces/default/pods/https:web-1/proxy"},
      {"pod on IPv6",
       L({{"__address__", "[fd00::5]:8080"},
          {"__meta_kubernetes_namespace", "ns"},
          {"__meta_kubernetes_pod_name", "p"}}),
       "[fd00::5]:8080", "", "/api/v1/namespaces/ns/pods/p:8080/proxy"},
      {"service",
       L({{"__address__", "kube-state-metrics.monitoring.svc:8080"},
          {"__meta_kubernetes_namespace", "monitoring"},
          {"__meta_kubernetes_service_name", "kube-state-metrics"}}),
       "kube-state-metrics.monitoring.svc:8080", "",
       "/api/v1/namespaces/monitoring/services/kube-state-metrics:8080/proxy"},
      {"service by port name",
       L({{"__address__", "ksm.monitoring.svc:8080"},
          {"__meta_kubernetes_namespace", "monitoring"},
          {"__meta_kubernetes_service_name", "ksm"}}),
       "ksm.monitoring.svc:8080", "http-metrics",
       "/api/v1/namespaces/monitoring/services/ksm:http-metrics/proxy"},
      {"endpoints backed by a pod go to the pod",
       L({{"__address__", "10.1.0.7:8080"},
          {"__meta_kubernetes_namespace", "monitoring"},
          {"__meta_kubernetes_service_name", "ksm"},
          {"__meta_kubernetes_endpoint_port_name", "http-metrics"},
          {"__meta_kubernetes_pod_name", "ksm-0"}}),
       "10.1.0.7:8080", "", "/api/v1/namespaces/monitoring/pods/ksm-0:8080/proxy"},
      {"endpoints without a pod go to the service port by name",
       L({{"__address__", "10.9.0.1:8443"},
          {"__meta_kubernetes_namespace", "default"},
          {"__meta_kubernetes_service_name", "ext"},
          {"__meta_kubernetes_endpoint_port_name", "metrics"}}),
       "10.9.0.1:8443", "", "/api/v1/namespaces/default/services/ext:metrics/proxy"},
      {"endpointslice without a pod",
       L({{"__address__", "10.9.0.1:8443"},
          {"__meta_kubernetes_namespace", "default"},
          {"__meta_kubernetes_service_name", "ext"},
          {"__meta_kubernetes_endpointslice_port_name", "metrics"}}),
       "10.9.0.1:8443", "", "/api/v1/namespaces/default/services/ext:metrics/proxy"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config::ApiServerProxyConfig proxy;
    proxy.port = c.port;
    absl::StatusOr<std::string> path = ApiProxyPath(c.labels, c.discovered_address, proxy);
    ASSERT_TRUE(path.ok()) << path.status();
    EXPECT_EQ(*path, c.want);
  }
}

TEST(ApiProxyPathTest, Errors) {
  config::ApiServerProxyConfig proxy;
  EXPECT_FALSE(ApiProxyPath(L({{"__address__", "a:1"}}), "a:1", proxy).ok());
  proxy.port = "kubelet";
  absl::StatusOr<std::string> pod = ApiProxyPath(L({{"__address__", "10.1.0.5:9090"},
                                                    {"__meta_kubernetes_namespace", "default"},
                                                    {"__meta_kubernetes_pod_name", "web-1"}}),
                                                 "10.1.0.5:9090", proxy);
  ASSERT_FALSE(pod.ok());
  EXPECT_NE(pod.status().message().find("nodes only"), absl::string_view::npos);
}

TEST(ApiServerProxyTest, TargetsGoThroughTheApiServerWithItsCredentials) {
  config::LoadResult loaded = config::LoadConfigString(R"(
scrape_configs:
  - job_name: kubelet-cadvisor
    metrics_path: /metrics/cadvisor
    params: {a: [b]}
    kubernetes_sd_configs: [{role: node, api_server: "https://api.example:6443/prefix/"}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_node_name]
        target_label: node
    api_server_proxy: {max_concurrent: 3}
)");
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString("t");
  k8s::KubeConfig kc;
  kc.source = "test";
  kc.cluster.server = "https://api.example:6443/prefix/";
  kc.cluster.ca_data = "CA PEM";
  kc.cluster.tls_server_name = "kubernetes";
  kc.user.token = "t0ken";
  discovery::ApiServerProxies proxies;
  proxies.emplace("kubelet-cadvisor", ApiServerProxy::Create(kc, 3));
  ASSERT_TRUE(proxies.begin()->second.ok());

  discovery::TargetGroup group;
  group.targets = {"10.0.0.1:10250"};
  group.target_labels = {L({{"__meta_kubernetes_node_name", "n1"}})};
  discovery::DiscoveredGroups groups{{"kubelet-cadvisor", {group}}};
  TargetSet set = discovery::BuildTargets(*loaded.config, groups, &proxies);
  ASSERT_EQ(set.active.size(), 1u);
  const Target& t = *set.active[0];
  EXPECT_EQ(t.forced_error, "");
  EXPECT_EQ(t.url, "https://api.example:6443/prefix/api/v1/nodes/n1/proxy/metrics/cadvisor?a=b");
  EXPECT_EQ(model::Get(t.labels, "instance"), "10.0.0.1:10250");  // The original address.
  EXPECT_EQ(model::Get(t.labels, "node"), "n1");
  ASSERT_NE(t.api_server_proxy, nullptr);
  EXPECT_EQ(t.api_server_proxy->max_concurrent(), 3);
  absl::StatusOr<std::shared_ptr<const ApiServerConnection>> conn =
      t.api_server_proxy->Connection();
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->authorization, "Bearer t0ken");
  EXPECT_EQ((*conn)->ca_pem, "CA PEM");
  EXPECT_EQ((*conn)->server_name, "kubernetes");
  EXPECT_EQ((*conn)->host_key, "https://api.example:6443");
  // Nothing changed: the same connection settings object.
  EXPECT_EQ(*t.api_server_proxy->Connection(), *conn);

  // Without its API server the job's targets fail with the reason.
  discovery::ApiServerProxies broken;
  broken.emplace("kubelet-cadvisor", absl::NotFoundError("kubeconfig missing"));
  TargetSet failed = discovery::BuildTargets(*loaded.config, groups, &broken);
  ASSERT_EQ(failed.active.size(), 1u);
  EXPECT_EQ(failed.active[0]->forced_error, "api_server_proxy: kubeconfig missing");
}

}  // namespace
}  // namespace tender::scrape
