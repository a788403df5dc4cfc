// A small cluster for kubernetes discovery tests: two nodes, two namespaces, pods with several
// containers and ports (an init container among them), a pod without an IP, services,
// endpoints, an endpointslice and an ingress. Test-only; any thread.
#pragma once

#include <string_view>

#include "tests/tools/fake_apiserver.h"

namespace tender::discovery::testing {

inline constexpr std::string_view kNodeN1 = R"({
  "metadata": {"name": "n1", "uid": "uid-n1",
    "labels": {"kubernetes.io/hostname": "n1", "topology.kubernetes.io/zone": "z1"},
    "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
  "spec": {"providerID": "aws:///z1/i-1"},
  "status": {
    "addresses": [{"type": "Hostname", "address": "n1"},
                  {"type": "InternalIP", "address": "10.0.0.1"},
                  {"type": "ExternalIP", "address": "1.2.3.4"},
                  {"type": "InternalIP", "address": "10.0.0.100"}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
    "conditions": [{"type": "Ready", "status": "True"},
                   {"type": "MemoryPressure", "status": "False"}]}})";

inline constexpr std::string_view kNodeN2 = R"({
  "metadata": {"name": "n2", "uid": "uid-n2"},
  "status": {
    "addresses": [{"type": "Hostname", "address": "n2"},
                  {"type": "InternalDNS", "address": "n2.internal"}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
    "conditions": [{"type": "Ready", "status": "Unknown"}]}})";

inline constexpr std::string_view kNamespaceDefault =
    R"({"metadata": {"name": "default", "labels": {"team": "a"},
        "annotations": {"owner/contact": "ops@example.com"}}})";
inline constexpr std::string_view kNamespaceProd =
    R"({"metadata": {"name": "prod", "labels": {"env": "prod"}}})";

inline constexpr std::string_view kPodWeb1 = R"({
  "metadata": {"name": "web-1", "namespace": "default", "uid": "uid-web-1",
    "labels": {"app": "web", "app.kubernetes.io/version": "1.2"},
    "annotations": {"prometheus.io/scrape": "true"},
    "ownerReferences": [{"kind": "Node", "name": "n1"},
                        {"kind": "ReplicaSet", "name": "web-5d8f", "controller": true}]},
  "spec": {"nodeName": "n1",
    "containers": [
      {"name": "web", "image": "nginx:1",
       "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                 {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]},
      {"name": "sidecar", "image": "envoy:1"}],
    "initContainers": [
      {"name": "init", "image": "busybox:1",
       "ports": [{"containerPort": 7000, "protocol": "UDP"}]}]},
  "status": {"phase": "Running", "podIP": "10.1.0.5", "hostIP": "10.0.0.1",
    "conditions": [{"type": "PodScheduled", "status": "True"},
                   {"type": "Ready", "status": "True"}],
    "containerStatuses": [{"name": "sidecar", "containerID": "containerd://bbb"},
                          {"name": "web", "containerID": "containerd://aaa"}],
    "initContainerStatuses": [{"name": "init", "containerID": "containerd://iii"}]}})";

inline constexpr std::string_view kPodApi1 = R"({
  "metadata": {"name": "api-1", "namespace": "prod", "uid": "uid-api-1",
    "labels": {"app": "api"}},
  "spec": {"nodeName": "n2",
    "containers": [{"name": "api", "image": "api:2",
                    "ports": [{"containerPort": 8443, "protocol": "TCP"}]}]},
  "status": {"phase": "Pending", "podIP": "fd00::9", "hostIP": "10.0.0.2"}})";

inline constexpr std::string_view kPodPending = R"({
  "metadata": {"name": "pending-1", "namespace": "default", "uid": "uid-pending-1"},
  "spec": {"containers": [{"name": "c", "image": "c:1"}]},
  "status": {"phase": "Pending"}})";

inline constexpr std::string_view kServiceWeb = R"({
  "metadata": {"name": "web", "namespace": "default", "uid": "uid-svc-web",
    "labels": {"app": "web"}, "annotations": {"prometheus.io/probe": "true"}},
  "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
              {"name": "metrics", "port": 9090, "protocol": "TCP"}]}})";

inline constexpr std::string_view kServiceExt = R"({
  "metadata": {"name": "ext", "namespace": "prod", "uid": "uid-svc-ext"},
  "spec": {"type": "ExternalName", "externalName": "api.example.com",
    "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}})";

inline constexpr std::string_view kServiceLb = R"({
  "metadata": {"name": "lb", "namespace": "prod", "uid": "uid-svc-lb"},
  "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "loadBalancerIP": "5.6.7.8",
    "ports": [{"port": 8443, "protocol": "TCP"}]}})";

inline constexpr std::string_view kEndpointsWeb = R"({
  "metadata": {"name": "web", "namespace": "default", "uid": "uid-ep-web",
    "labels": {"app": "web"}},
  "subsets": [{
    "addresses": [{"ip": "10.1.0.5", "nodeName": "n1",
                   "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}}],
    "notReadyAddresses": [{"ip": "10.1.0.77", "hostname": "h77"}],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})";

inline constexpr std::string_view kEndpointSliceWeb = R"({
  "metadata": {"name": "web-abc", "namespace": "default", "uid": "uid-eps-web",
    "labels": {"kubernetes.io/service-name": "web"}},
  "addressType": "IPv4",
  "endpoints": [
    {"addresses": ["10.1.0.5"],
     "conditions": {"ready": true, "serving": true, "terminating": false},
     "nodeName": "n1", "zone": "z1",
     "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}},
    {"addresses": ["10.1.0.78"], "conditions": {"ready": false}, "hostname": "h78",
     "deprecatedTopology": {"kubernetes.io/hostname": "n9"}}],
  "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]})";

inline constexpr std::string_view kIngressWeb = R"({
  "metadata": {"name": "web", "namespace": "default", "uid": "uid-ing-web",
    "labels": {"app": "web"}},
  "spec": {"ingressClassName": "nginx",
    "tls": [{"hosts": ["secure.example.com"]}],
    "rules": [{"host": "secure.example.com",
               "http": {"paths": [{"path": "/api"}, {"path": ""}]}},
              {"host": "plain.example.com"}]}})";

// Loads every object above into `api`.
inline void LoadFixtureCluster(test_tools::FakeApiServer& api) {
  api.Upsert("nodes", kNodeN1);
  api.Upsert("nodes", kNodeN2);
  api.Upsert("namespaces", kNamespaceDefault);
  api.Upsert("namespaces", kNamespaceProd);
  api.Upsert("pods", kPodWeb1);
  api.Upsert("pods", kPodApi1);
  api.Upsert("pods", kPodPending);
  api.Upsert("services", kServiceWeb);
  api.Upsert("services", kServiceExt);
  api.Upsert("services", kServiceLb);
  api.Upsert("endpoints", kEndpointsWeb);
  api.Upsert("endpointslices", kEndpointSliceWeb);
  api.Upsert("ingresses", kIngressWeb);
}

}  // namespace tender::discovery::testing
