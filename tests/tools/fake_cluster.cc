#include "tests/tools/fake_cluster.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tender::test_tools {
namespace {

std::string Ns(const ClusterShape& shape, int service) {
  return absl::StrCat("team-", service % shape.namespaces);
}
std::string Deployment(int service) { return absl::StrCat("svc-", service); }
std::string PodName(const ClusterShape& shape, int pod) {
  const int service = pod / shape.pods_per_service;
  return absl::StrFormat("%s-7f9c%05d-%05d", Deployment(service), service, pod);
}
std::string NodeName(int node) { return absl::StrFormat("node-%04d", node); }
std::string PodIp(int pod) {
  return absl::StrCat("10.", 64 + pod / 65536, ".", (pod / 256) % 256, ".", pod % 256);
}
std::string NodeIp(int node) { return absl::StrCat("172.16.", node / 256, ".", node % 256); }
bool Scraped(const ClusterShape& shape, int service) {
  return shape.scrape_every > 0 && service % shape.scrape_every == 0;
}

// What kube-controller-manager and kubelet write into managedFields of a pod (abridged).
constexpr char kPodManagedFields[] =
    R"([{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1",)"
    R"("time":"2026-11-30T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":)"
    R"({"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},)"
    R"("f:ownerReferences":{".":{},"k:{\"uid\":\"0\"}":{}}},"f:spec":{"f:containers":)"
    R"({"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},)"
    R"("f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},)"
    R"("f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":)"
    R"({},"f:requests":{}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},)"
    R"("f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},)"
    R"("f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}},)"
    R"({"manager":"kubelet","operation":"Update","apiVersion":"v1",)"
    R"("time":"2026-11-30T10:00:05Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":)"
    R"({"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},)"
    R"("f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":)"
    R"({".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},)"
    R"("f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},)"
    R"("k:{\"ip\":\"0\"}":{".":{},"f:ip":{}}},"f:startTime":{}}},"subresource":"status"}])";

}  // namespace

int FakeServices(const ClusterShape& shape) {
  return (shape.pods + shape.pods_per_service - 1) / shape.pods_per_service;
}

int FakePodTargets(const ClusterShape& shape) { return shape.pods * 3; }

int FakeScrapedPods(const ClusterShape& shape) {
  int n = 0;
  for (int pod = 0; pod < shape.pods; ++pod) {
    if (Scraped(shape, pod / shape.pods_per_service)) ++n;
  }
  return n;
}

std::string FakeNamespaceJson(int ns) {
  return absl::StrFormat(
      R"({"metadata":{"name":"team-%d","labels":{"kubernetes.io/metadata.name":"team-%d",)"
      R"("team":"t%d"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})",
      ns, ns, ns);
}

std::string FakeNodeJson(const ClusterShape& shape, int node) {
  (void)shape;
  const std::string name = NodeName(node);
  const std::string ip = NodeIp(node);
  std::string images;
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&images, i > 0 ? "," : "",
                    absl::StrFormat(R"({"names":["registry.example.com/team/image-%d@sha256:)"
                                    R"(%064d","registry.example.com/team/image-%d:v1.%d.0"],)"
                                    R"("sizeBytes":%d})",
                                    i, i, i, i, 50000000 + i * 1000003));
  }
  std::string conditions;
  const char* kConditions[][2] = {{"MemoryPressure", "False"},
                                  {"DiskPressure", "False"},
                                  {"PIDPressure", "False"},
                                  {"Ready", "True"}};
  for (const auto& [type, status] : kConditions) {
    absl::StrAppend(&conditions, conditions.empty() ? "" : ",",
                    absl::StrFormat(R"({"type":"%s","status":"%s",)"
                                    R"("lastHeartbeatTime":"2026-12-01T10:00:00Z",)"
                                    R"("lastTransitionTime":"2026-11-01T10:00:00Z",)"
                                    R"("reason":"Kubelet%s","message":"kubelet reports %s"})",
                                    type, status, type, type));
  }
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","labels":{"beta.kubernetes.io/arch":"amd64",)"
      R"("beta.kubernetes.io/os":"linux","kubernetes.io/arch":"amd64",)"
      R"("kubernetes.io/hostname":"%s","kubernetes.io/os":"linux",)"
      R"("node.kubernetes.io/instance-type":"m5.2xlarge","topology.kubernetes.io/region":)"
      R"("eu-west-1","topology.kubernetes.io/zone":"eu-west-1%c","node-role.kubernetes.io/worker":""},)"
      R"("annotations":{"node.alpha.kubernetes.io/ttl":"0",)"
      R"("volumes.kubernetes.io/controller-managed-attach-detach":"true",)"
      R"("csi.volume.kubernetes.io/nodeid":"{\"ebs.csi.aws.com\":\"i-0%015d\"}"}},)"
      R"("spec":{"podCIDR":"10.%d.0.0/24","providerID":"aws:///eu-west-1a/i-0%015d"},)"
      R"("status":{"capacity":{"cpu":"8","ephemeral-storage":"104845292Ki","memory":"32408060Ki",)"
      R"("pods":"110"},"allocatable":{"cpu":"7910m","ephemeral-storage":"95551679124",)"
      R"("memory":"31391228Ki","pods":"110"},"conditions":[%s],)"
      R"("addresses":[{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"%s"},)"
      R"({"type":"InternalDNS","address":"%s.eu-west-1.compute.internal"}],)"
      R"("daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},"nodeInfo":{"machineID":)"
      R"("ec2%029d","systemUUID":"ec2%029d","bootID":"%036d","kernelVersion":)"
      R"("6.1.0-13-amd64","osImage":"Debian GNU/Linux 12 bookworm","containerRuntimeVersion":)"
      R"("containerd://1.7.2","kubeletVersion":"v1.28.3","kubeProxyVersion":"v1.28.3",)"
      R"("operatingSystem":"linux","architecture":"amd64"},"images":[%s]}})",
      name, name, static_cast<char>('a' + node % 3), node, node % 250, node, conditions, ip, name,
      name, node, node, node, images);
}

std::string FakePodJson(const ClusterShape& shape, int pod, int generation) {
  const int service = pod / shape.pods_per_service;
  const std::string ns = Ns(shape, service);
  const std::string deployment = Deployment(service);
  const std::string name = PodName(shape, pod);
  const std::string node = NodeName(pod % shape.nodes);
  const std::string annotations =
      Scraped(shape, service)
          ? R"("prometheus.io/scrape":"true","prometheus.io/port":"9090","prometheus.io/path":"/metrics",)"
          : "";
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","generateName":"%s-7f9c%05d-","namespace":"%s",)"
      R"("labels":{"app":"%s","app.kubernetes.io/name":"%s","app.kubernetes.io/part-of":"shop",)"
      R"("app.kubernetes.io/version":"1.%d.0","pod-template-hash":"7f9c%05d"},)"
      R"("annotations":{%s"kubectl.kubernetes.io/restartedAt":"2026-11-30T10:00:00Z",)"
      R"("cluster-autoscaler.kubernetes.io/safe-to-evict":"true"},)"
      R"("ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"%s-7f9c%05d",)"
      R"("uid":"rs-%08d","controller":true,"blockOwnerDeletion":true}],)"
      R"("creationTimestamp":"2026-11-30T10:00:00Z","managedFields":%s},)"
      R"("spec":{"volumes":[{"name":"config","configMap":{"name":"%s-config","defaultMode":420}},)"
      R"({"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":)"
      R"({"expirationSeconds":3607,"path":"token"}}],"defaultMode":420}}],)"
      R"("containers":[{"name":"app","image":"registry.example.com/shop/%s:1.%d.0",)"
      R"("ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},)"
      R"({"name":"metrics","containerPort":9090,"protocol":"TCP"}],)"
      R"("env":[{"name":"LOG_LEVEL","value":"info"},{"name":"POD_NAME","valueFrom":)"
      R"({"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],)"
      R"("resources":{"limits":{"cpu":"1","memory":"512Mi"},"requests":{"cpu":"100m",)"
      R"("memory":"256Mi"}},"volumeMounts":[{"name":"config","mountPath":"/etc/app"},)"
      R"({"name":"kube-api-access","readOnly":true,"mountPath":)"
      R"("/var/run/secrets/kubernetes.io/serviceaccount"}],"readinessProbe":{"httpGet":)"
      R"({"path":"/ready","port":8080,"scheme":"HTTP"},"periodSeconds":10}},)"
      R"({"name":"proxy","image":"registry.example.com/mesh/proxy:1.20.1",)"
      R"("ports":[{"name":"http-envoy-prom","containerPort":15090,"protocol":"TCP"}],)"
      R"("resources":{"requests":{"cpu":"10m","memory":"64Mi"}}}],)"
      R"("restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",)"
      R"("serviceAccountName":"default","nodeName":"%s","schedulerName":"default-scheduler",)"
      R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists",)"
      R"("effect":"NoExecute","tolerationSeconds":300}],"priority":0},)"
      R"("status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True",)"
      R"("lastTransitionTime":"2026-11-30T10:00:01Z"},{"type":"Ready","status":"True",)"
      R"("lastTransitionTime":"2026-11-30T10:00:%02dZ"},{"type":"ContainersReady",)"
      R"("status":"True","lastTransitionTime":"2026-11-30T10:00:05Z"},{"type":"PodScheduled",)"
      R"("status":"True","lastTransitionTime":"2026-11-30T10:00:00Z"}],"hostIP":"%s",)"
      R"("podIP":"%s","podIPs":[{"ip":"%s"}],"startTime":"2026-11-30T10:00:00Z",)"
      R"("containerStatuses":[{"name":"app","state":{"running":{"startedAt":)"
      R"("2026-11-30T10:00:03Z"}},"ready":true,"restartCount":%d,"image":)"
      R"("registry.example.com/shop/%s:1.%d.0","imageID":"registry.example.com/shop/%s@sha256:)"
      R"(%064d","containerID":"containerd://%064d","started":true},{"name":"proxy","state":)"
      R"({"running":{"startedAt":"2026-11-30T10:00:02Z"}},"ready":true,"restartCount":0,)"
      R"("image":"registry.example.com/mesh/proxy:1.20.1","imageID":)"
      R"("registry.example.com/mesh/proxy@sha256:%064d","containerID":"containerd://1%063d",)"
      R"("started":true}],"qosClass":"Burstable"}})",
      name, deployment, service, ns, deployment, deployment, service % 7, service, annotations,
      deployment, service, service, kPodManagedFields, deployment, deployment, service % 7, node,
      generation % 60, NodeIp(pod % shape.nodes), PodIp(pod), PodIp(pod), generation, deployment,
      service % 7, deployment, service, pod, service, pod);
}

std::string FakeServiceJson(const ClusterShape& shape, int service) {
  const std::string deployment = Deployment(service);
  const std::string annotations = Scraped(shape, service) ? R"("prometheus.io/probe":"true",)" : "";
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","namespace":"%s","labels":{"app":"%s",)"
      R"("app.kubernetes.io/part-of":"shop"},"annotations":{%s"owner":"team"}},)"
      R"("spec":{"type":"ClusterIP","clusterIP":"10.96.%d.%d","clusterIPs":["10.96.%d.%d"],)"
      R"("selector":{"app":"%s"},"ports":[{"name":"http","port":80,"targetPort":8080,)"
      R"("protocol":"TCP"},{"name":"metrics","port":9090,"targetPort":9090,"protocol":"TCP"}],)"
      R"("sessionAffinity":"None","ipFamilies":["IPv4"]},"status":{"loadBalancer":{}}})",
      deployment, Ns(shape, service), deployment, annotations, service / 256, service % 256,
      service / 256, service % 256, deployment);
}

std::string FakeEndpointsJson(const ClusterShape& shape, int service) {
  std::string addresses;
  for (int pod = service * shape.pods_per_service;
       pod < std::min(shape.pods, (service + 1) * shape.pods_per_service); ++pod) {
    absl::StrAppend(&addresses, addresses.empty() ? "" : ",",
                    absl::StrFormat(R"({"ip":"%s","nodeName":"%s","targetRef":{"kind":"Pod",)"
                                    R"("namespace":"%s","name":"%s","uid":"uid-pod-%d"}})",
                                    PodIp(pod), NodeName(pod % shape.nodes), Ns(shape, service),
                                    PodName(shape, pod), pod));
  }
  const std::string deployment = Deployment(service);
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","namespace":"%s","labels":{"app":"%s"},)"
      R"("annotations":{"endpoints.kubernetes.io/last-change-trigger-time":)"
      R"("2026-11-30T10:00:05Z"}},"subsets":[{"addresses":[%s],"ports":[{"name":"http",)"
      R"("port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]})",
      deployment, Ns(shape, service), deployment, addresses);
}

void LoadFakeCluster(FakeApiServer& api, const ClusterShape& shape) {
  for (int ns = 0; ns < shape.namespaces; ++ns) api.Upsert("namespaces", FakeNamespaceJson(ns));
  for (int node = 0; node < shape.nodes; ++node) api.Upsert("nodes", FakeNodeJson(shape, node));
  for (int pod = 0; pod < shape.pods; ++pod) api.Upsert("pods", FakePodJson(shape, pod));
  for (int s = 0; s < FakeServices(shape); ++s) {
    api.Upsert("services", FakeServiceJson(shape, s));
    api.Upsert("endpoints", FakeEndpointsJson(shape, s));
  }
}

}  // namespace tender::test_tools
