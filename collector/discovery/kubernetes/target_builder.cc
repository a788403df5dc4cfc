#include "collector/discovery/kubernetes/target_builder.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"

namespace tender::discovery::kubernetes {
namespace {

using rapidjson::Value;

const Value* Member(const Value* v, std::string_view key) {
  if (v == nullptr || !v->IsObject()) {
    return nullptr;
  }
  auto it = v->FindMember(rapidjson::StringRef(key.data(), key.size()));
  return it == v->MemberEnd() ? nullptr : &it->value;
}

const Value* Path(const Value* v, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    v = Member(v, k);
  }
  return v;
}

std::string_view Str(const Value* v) {
  return v != nullptr && v->IsString() ? std::string_view(v->GetString(), v->GetStringLength())
                                       : std::string_view();
}

std::string_view Str(const Value* v, std::initializer_list<std::string_view> keys) {
  return Str(Path(v, keys));
}

// An integer field rendered in decimal, "" when absent.
std::string Int(const Value* v) {
  if (v == nullptr || !v->IsNumber()) {
    return "";
  }
  return std::to_string(v->IsInt64() ? v->GetInt64() : static_cast<int64_t>(v->GetDouble()));
}

// The elements of an array member ({} when absent or not an array).
std::vector<const Value*> Items(const Value* v) {
  std::vector<const Value*> out;
  if (v != nullptr && v->IsArray()) {
    for (const Value& item : v->GetArray()) {
      out.push_back(&item);
    }
  }
  return out;
}

// Go's net.JoinHostPort: brackets around hosts containing ':' (IPv6).
std::string JoinHostPort(std::string_view host, std::string_view port) {
  if (host.find(':') != std::string_view::npos) {
    return absl::StrCat("[", ToAbsl(host), "]:", ToAbsl(port));
  }
  return absl::StrCat(ToAbsl(host), ":", ToAbsl(port));
}

// Builds a label set; a later Add of the same name wins (Normalize keeps the last).
class Builder {
 public:
  void Add(std::string_view name, std::string_view value) {
    labels_.push_back({std::string(name), std::string(value)});
  }
  void Meta(std::string_view suffix, std::string_view value) {
    labels_.push_back({absl::StrCat(ToAbsl(kMetaPrefix), ToAbsl(suffix)), std::string(value)});
  }
  void Merge(const model::Labels& other) {
    labels_.insert(labels_.end(), other.begin(), other.end());
  }
  model::Labels Take() {
    model::Normalize(labels_);
    return std::move(labels_);
  }

 private:
  model::Labels labels_;
};

// Prometheus addObjectMetaLabels: <role>_name (when with_name), and per label / annotation
// <role>_label_<n>, <role>_labelpresent_<n>, <role>_annotation_<n>, <role>_annotationpresent_<n>.
void AddObjectMeta(Builder& b, const Value& obj, std::string_view role, bool with_name = true) {
  const Value* md = Member(&obj, "metadata");
  if (with_name) {
    b.Meta(absl::StrCat(ToAbsl(role), "_name"), Str(md, {"name"}));
  }
  for (auto [field, kind] : {std::pair<std::string_view, std::string_view>{"labels", "label"},
                             {"annotations", "annotation"}}) {
    const Value* m = Member(md, field);
    if (m == nullptr || !m->IsObject()) {
      continue;
    }
    for (auto it = m->MemberBegin(); it != m->MemberEnd(); ++it) {
      const std::string name = SanitizeLabelName(Str(&it->name));
      b.Meta(absl::StrCat(ToAbsl(role), "_", ToAbsl(kind), "_", name), Str(&it->value));
      b.Meta(absl::StrCat(ToAbsl(role), "_", ToAbsl(kind), "present_", name), "true");
    }
  }
}

std::string_view Namespace(const Value& obj) { return Str(&obj, {"metadata", "namespace"}); }
std::string_view Name(const Value& obj) { return Str(&obj, {"metadata", "name"}); }

// attach_metadata.namespace: the namespace's labels and annotations.
void AddNamespaceMeta(Builder& b, std::string_view ns, const Lookups& lookups) {
  if (!lookups.namespace_) {
    return;
  }
  if (const Value* n = lookups.namespace_(ns)) {
    AddObjectMeta(b, *n, "namespace", /*with_name=*/false);
  }
}

// attach_metadata.node: the node's name, labels and annotations.
void AddNodeMeta(Builder& b, std::string_view node_name, const Lookups& lookups) {
  if (!lookups.node || node_name.empty()) {
    return;
  }
  if (const Value* n = lookups.node(node_name)) {
    AddObjectMeta(b, *n, "node");
  }
}

// Prometheus podLabels: the pod's own labels, shared by pod, endpoints and endpointslice.
model::Labels PodLabels(const Value& pod) {
  Builder b;
  const Value* status = Member(&pod, "status");
  b.Meta("pod_ip", Str(status, {"podIP"}));
  std::string ready = "unknown";
  for (const Value* c : Items(Member(status, "conditions"))) {
    if (Str(c, {"type"}) == "Ready") {
      ready = absl::AsciiStrToLower(ToAbsl(Str(c, {"status"})));
    }
  }
  b.Meta("pod_ready", ready);
  b.Meta("pod_phase", Str(status, {"phase"}));
  b.Meta("pod_node_name", Str(&pod, {"spec", "nodeName"}));
  b.Meta("pod_host_ip", Str(status, {"hostIP"}));
  b.Meta("pod_uid", Str(&pod, {"metadata", "uid"}));
  AddObjectMeta(b, pod, "pod");
  for (const Value* ref : Items(Path(&pod, {"metadata", "ownerReferences"}))) {
    const Value* controller = Member(ref, "controller");
    if (controller != nullptr && controller->IsBool() && controller->GetBool()) {
      b.Meta("pod_controller_kind", Str(ref, {"kind"}));
      b.Meta("pod_controller_name", Str(ref, {"name"}));
      break;
    }
  }
  return b.Take();
}

// Containers then init containers, each with whether it is an init container.
std::vector<std::pair<const Value*, bool>> Containers(const Value& pod, bool with_init) {
  std::vector<std::pair<const Value*, bool>> out;
  for (const Value* c : Items(Path(&pod, {"spec", "containers"}))) {
    out.emplace_back(c, false);
  }
  if (with_init) {
    for (const Value* c : Items(Path(&pod, {"spec", "initContainers"}))) {
      out.emplace_back(c, true);
    }
  }
  return out;
}

std::string_view ContainerId(const Value& pod, std::string_view name, bool init) {
  for (const Value* s :
       Items(Path(&pod, {"status", init ? "initContainerStatuses" : "containerStatuses"}))) {
    if (Str(s, {"name"}) == name) {
      return Str(s, {"containerID"});
    }
  }
  return {};
}

model::Labels ServiceLabels(const Value& svc) {
  Builder b;
  b.Meta("namespace", Namespace(svc));
  AddObjectMeta(b, svc, "service");
  return b.Take();
}

void AddTarget(TargetGroup& g, model::Labels labels) {
  std::string address(model::Get(labels, model::kAddressLabel));
  model::Set(labels, model::kAddressLabel, "");
  g.targets.push_back(std::move(address));
  g.target_labels.push_back(std::move(labels));
}

// Targets for container ports of endpoint-backed pods that no endpoint port covered
// (Prometheus's "seenPods" pass). `with_init` includes init containers.
void AddUncoveredPodPorts(TargetGroup& g, const Value& pod, const std::set<std::string>& covered,
                          bool with_init) {
  const std::string_view ip = Str(&pod, {"status", "podIP"});
  if (ip.empty()) {
    return;
  }
  for (const auto& [c, init] : Containers(pod, with_init)) {
    for (const Value* p : Items(Member(c, "ports"))) {
      const std::string port = Int(Member(p, "containerPort"));
      if (covered.count(port) != 0) {
        continue;
      }
      Builder t;
      t.Add(model::kAddressLabel, JoinHostPort(ip, port));
      t.Meta("pod_container_name", Str(c, {"name"}));
      t.Meta("pod_container_image", Str(c, {"image"}));
      t.Meta("pod_container_port_name", Str(p, {"name"}));
      t.Meta("pod_container_port_number", port);
      t.Meta("pod_container_port_protocol", Str(p, {"protocol"}));
      if (with_init) {
        t.Meta("pod_container_init", init ? "true" : "false");
      }
      t.Merge(PodLabels(pod));
      AddTarget(g, t.Take());
    }
  }
}

}  // namespace

std::string SanitizeLabelName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      c = '_';
    }
  }
  return out;
}

std::string GroupSource(std::string_view role, std::string_view ns, std::string_view name) {
  if (role == "node") {
    return absl::StrCat("node/", ToAbsl(name));
  }
  return absl::StrCat(role == "service" ? "svc" : ToAbsl(role), "/", ToAbsl(ns), "/", ToAbsl(name));
}

TargetGroup BuildNodeGroup(const rapidjson::Value& node) {
  TargetGroup g;
  g.source = GroupSource("node", "", Name(node));
  Builder labels;
  labels.Meta("node_provider_id", Str(&node, {"spec", "providerID"}));
  for (const Value* c : Items(Path(&node, {"status", "conditions"}))) {
    labels.Meta(absl::StrCat("node_condition_",
                             SanitizeLabelName(absl::AsciiStrToLower(ToAbsl(Str(c, {"type"}))))),
                absl::AsciiStrToLower(ToAbsl(Str(c, {"status"}))));
  }
  AddObjectMeta(labels, node, "node");
  g.labels = labels.Take();

  // First address of each type, in the order the node lists them.
  std::map<std::string, std::string> first;
  for (const Value* a : Items(Path(&node, {"status", "addresses"}))) {
    first.emplace(std::string(Str(a, {"type"})), std::string(Str(a, {"address"})));
  }
  std::string host;
  for (const char* type :
       {"InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"}) {
    if (auto it = first.find(type); it != first.end()) {
      host = it->second;
      break;
    }
  }
  if (host.empty()) {
    return g;
  }
  Builder t;
  t.Add(model::kAddressLabel,
        JoinHostPort(host,
                     Int(Path(&node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"}))));
  t.Add(model::kInstanceLabel, Name(node));
  for (const auto& [type, address] : first) {
    t.Add(SanitizeLabelName(absl::StrCat(ToAbsl(kMetaPrefix), "node_address_", type)), address);
  }
  AddTarget(g, t.Take());
  return g;
}

// The pod an endpoint's targetRef names, when it is a pod the store knows; else null.
const Value* TargetPod(const Value* ref, const Lookups& lookups) {
  if (ref == nullptr || Str(ref, {"kind"}) != "Pod" || !lookups.pod) return nullptr;
  return lookups.pod(Str(ref, {"namespace"}), Str(ref, {"name"}));
}

// The pods endpoints pointed at, in order of first sight, with the container ports an
// endpoint port covered; the rest become targets of their own (Prometheus's "seenPods").
class SeenPods {
 public:
  std::set<std::string>& Covered(const Value* pod) {
    auto it =
        std::find_if(pods_.begin(), pods_.end(), [&](const auto& e) { return e.first == pod; });
    if (it == pods_.end()) {
      pods_.push_back({pod, {}});
      it = pods_.end() - 1;
    }
    return it->second;
  }
  void AddUncoveredPorts(TargetGroup& g, bool with_init) const {
    for (const auto& [pod, covered] : pods_) AddUncoveredPodPorts(g, *pod, covered, with_init);
  }

 private:
  std::vector<std::pair<const Value*, std::set<std::string>>> pods_;
};

TargetGroup BuildPodGroup(const rapidjson::Value& pod, const Lookups& lookups) {
  TargetGroup g;
  g.source = GroupSource("pod", Namespace(pod), Name(pod));
  const std::string_view ip = Str(&pod, {"status", "podIP"});
  if (ip.empty()) {
    return g;  // Starting or evicted: no targets, as in Prometheus.
  }
  Builder labels;
  labels.Merge(PodLabels(pod));
  labels.Meta("namespace", Namespace(pod));
  AddNodeMeta(labels, Str(&pod, {"spec", "nodeName"}), lookups);
  AddNamespaceMeta(labels, Namespace(pod), lookups);
  g.labels = labels.Take();

  for (const auto& [c, init] : Containers(pod, /*with_init=*/true)) {
    const std::string_view name = Str(c, {"name"});
    const std::string_view id = ContainerId(pod, name, init);
    const std::vector<const Value*> ports = Items(Member(c, "ports"));
    auto common = [&](Builder& t) {
      t.Meta("pod_container_name", name);
      t.Meta("pod_container_id", id);
      t.Meta("pod_container_image", Str(c, {"image"}));
      t.Meta("pod_container_init", init ? "true" : "false");
    };
    if (ports.empty()) {
      Builder t;
      t.Add(model::kAddressLabel, ip);
      common(t);
      AddTarget(g, t.Take());
      continue;
    }
    for (const Value* p : ports) {
      const std::string port = Int(Member(p, "containerPort"));
      Builder t;
      t.Add(model::kAddressLabel, JoinHostPort(ip, port));
      common(t);
      t.Meta("pod_container_port_number", port);
      t.Meta("pod_container_port_name", Str(p, {"name"}));
      t.Meta("pod_container_port_protocol", Str(p, {"protocol"}));
      AddTarget(g, t.Take());
    }
  }
  return g;
}

TargetGroup BuildServiceGroup(const rapidjson::Value& svc, const Lookups& lookups) {
  TargetGroup g;
  g.source = GroupSource("service", Namespace(svc), Name(svc));
  Builder labels;
  labels.Merge(ServiceLabels(svc));
  AddNamespaceMeta(labels, Namespace(svc), lookups);
  g.labels = labels.Take();
  const Value* spec = Member(&svc, "spec");
  const std::string_view type = Str(spec, {"type"});
  for (const Value* p : Items(Member(spec, "ports"))) {
    const std::string port = Int(Member(p, "port"));
    Builder t;
    t.Add(model::kAddressLabel,
          JoinHostPort(absl::StrCat(ToAbsl(Name(svc)), ".", ToAbsl(Namespace(svc)), ".svc"), port));
    t.Meta("service_port_name", Str(p, {"name"}));
    t.Meta("service_port_number", port);
    t.Meta("service_port_protocol", Str(p, {"protocol"}));
    t.Meta("service_type", type);
    if (type == "ExternalName") {
      t.Meta("service_external_name", Str(spec, {"externalName"}));
    } else {
      t.Meta("service_cluster_ip", Str(spec, {"clusterIP"}));
    }
    if (type == "LoadBalancer") {
      t.Meta("service_loadbalancer_ip", Str(spec, {"loadBalancerIP"}));
    }
    AddTarget(g, t.Take());
  }
  return g;
}

TargetGroup BuildEndpointsGroup(const rapidjson::Value& eps, const Lookups& lookups) {
  TargetGroup g;
  const std::string_view ns = Namespace(eps);
  g.source = GroupSource("endpoints", ns, Name(eps));
  Builder labels;
  labels.Meta("namespace", ns);
  if (lookups.service) {
    if (const Value* svc = lookups.service(ns, Name(eps))) {
      labels.Merge(ServiceLabels(*svc));
    }
  }
  AddObjectMeta(labels, eps, "endpoints");
  AddNamespaceMeta(labels, ns, lookups);
  g.labels = labels.Take();

  // Pods seen behind an address, with the endpoint ports that covered them, in first-seen order.
  SeenPods seen_pods;
  auto add = [&](const Value* addr, const Value* port, std::string_view ready) {
    const std::string port_number = Int(Member(port, "port"));
    Builder t;
    t.Add(model::kAddressLabel, JoinHostPort(Str(addr, {"ip"}), port_number));
    t.Meta("endpoint_port_name", Str(port, {"name"}));
    t.Meta("endpoint_port_protocol", Str(port, {"protocol"}));
    t.Meta("endpoint_ready", ready);
    const Value* ref = Member(addr, "targetRef");
    if (ref != nullptr) {
      t.Meta("endpoint_address_target_kind", Str(ref, {"kind"}));
      t.Meta("endpoint_address_target_name", Str(ref, {"name"}));
    }
    const std::string_view node_name = Str(addr, {"nodeName"});
    t.Meta("endpoint_node_name", node_name);
    t.Meta("endpoint_hostname", Str(addr, {"hostname"}));
    if (!node_name.empty()) {
      AddNodeMeta(t, node_name, lookups);
    } else if (ref != nullptr && Str(ref, {"kind"}) == "Node") {
      AddNodeMeta(t, Str(ref, {"name"}), lookups);
    }
    const Value* pod = TargetPod(ref, lookups);
    if (pod == nullptr) {
      AddTarget(g, t.Take());
      return;
    }
    std::set<std::string>& covered = seen_pods.Covered(pod);
    t.Merge(PodLabels(*pod));
    bool matched = false;
    for (const auto& [c, init] : Containers(*pod, /*with_init=*/false)) {
      for (const Value* cport : Items(Member(c, "ports"))) {
        if (!matched && Int(Member(cport, "containerPort")) == port_number) {
          t.Meta("pod_container_name", Str(c, {"name"}));
          t.Meta("pod_container_image", Str(c, {"image"}));
          t.Meta("pod_container_port_name", Str(cport, {"name"}));
          t.Meta("pod_container_port_number", port_number);
          t.Meta("pod_container_port_protocol", Str(port, {"protocol"}));
          matched = true;
        }
      }
    }
    covered.insert(port_number);
    AddTarget(g, t.Take());
  };
  for (const Value* subset : Items(Member(&eps, "subsets"))) {
    for (const Value* port : Items(Member(subset, "ports"))) {
      for (const Value* addr : Items(Member(subset, "addresses"))) {
        add(addr, port, "true");
      }
      for (const Value* addr : Items(Member(subset, "notReadyAddresses"))) {
        add(addr, port, "false");
      }
    }
  }
  seen_pods.AddUncoveredPorts(g, /*with_init=*/false);
  return g;
}

TargetGroup BuildEndpointSliceGroup(const rapidjson::Value& slice, const Lookups& lookups) {
  TargetGroup g;
  const std::string_view ns = Namespace(slice);
  g.source = GroupSource("endpointslice", ns, Name(slice));
  Builder labels;
  labels.Meta("namespace", ns);
  labels.Meta("endpointslice_address_type", Str(&slice, {"addressType"}));
  AddObjectMeta(labels, slice, "endpointslice");
  const std::string_view service_name =
      Str(&slice, {"metadata", "labels", "kubernetes.io/service-name"});
  if (lookups.service && !service_name.empty()) {
    if (const Value* svc = lookups.service(ns, service_name)) {
      labels.Merge(ServiceLabels(*svc));
    }
  }
  AddNamespaceMeta(labels, ns, lookups);
  g.labels = labels.Take();

  SeenPods seen_pods;
  auto add = [&](std::string_view addr, const Value* ep, const Value* port) {
    const Value* port_value = Member(port, "port");
    const std::string port_number = Int(port_value);
    Builder t;
    t.Add(model::kAddressLabel,
          port_value != nullptr ? JoinHostPort(addr, port_number) : std::string(addr));
    t.Meta("endpointslice_port_name", Str(port, {"name"}));
    t.Meta("endpointslice_port_protocol", Str(port, {"protocol"}));
    t.Meta("endpointslice_port", port_number);
    t.Meta("endpointslice_port_app_protocol", Str(port, {"appProtocol"}));
    for (const char* cond : {"ready", "serving", "terminating"}) {
      const Value* v = Path(ep, {"conditions", cond});
      if (v != nullptr && v->IsBool()) {
        t.Meta(absl::StrCat("endpointslice_endpoint_conditions_", cond),
               v->GetBool() ? "true" : "false");
      }
    }
    t.Meta("endpointslice_endpoint_hostname", Str(ep, {"hostname"}));
    const Value* ref = Member(ep, "targetRef");
    if (ref != nullptr) {
      t.Meta("endpointslice_address_target_kind", Str(ref, {"kind"}));
      t.Meta("endpointslice_address_target_name", Str(ref, {"name"}));
    }
    const std::string_view node_name = Str(ep, {"nodeName"});
    t.Meta("endpointslice_endpoint_node_name", node_name);
    t.Meta("endpointslice_endpoint_zone", Str(ep, {"zone"}));
    if (const Value* topo = Member(ep, "deprecatedTopology"); topo != nullptr && topo->IsObject()) {
      for (auto it = topo->MemberBegin(); it != topo->MemberEnd(); ++it) {
        const std::string name = SanitizeLabelName(Str(&it->name));
        t.Meta(absl::StrCat("endpointslice_endpoint_topology_", name), Str(&it->value));
        t.Meta(absl::StrCat("endpointslice_endpoint_topology_present_", name), "true");
      }
    }
    if (ref != nullptr && Str(ref, {"kind"}) == "Node") {
      AddNodeMeta(t, Str(ref, {"name"}), lookups);
    } else {
      AddNodeMeta(t, node_name, lookups);
    }
    const Value* pod = TargetPod(ref, lookups);
    if (pod == nullptr) {
      AddTarget(g, t.Take());
      return;
    }
    std::set<std::string>& covered = seen_pods.Covered(pod);
    t.Merge(PodLabels(*pod));
    bool matched = false;
    for (const auto& [c, init] : Containers(*pod, /*with_init=*/true)) {
      for (const Value* cport : Items(Member(c, "ports"))) {
        if (!matched && port_value != nullptr &&
            Int(Member(cport, "containerPort")) == port_number) {
          t.Meta("pod_container_name", Str(c, {"name"}));
          t.Meta("pod_container_image", Str(c, {"image"}));
          t.Meta("pod_container_port_name", Str(cport, {"name"}));
          t.Meta("pod_container_port_number", port_number);
          t.Meta("pod_container_port_protocol", Str(cport, {"protocol"}));
          t.Meta("pod_container_init", init ? "true" : "false");
          matched = true;
        }
      }
    }
    if (port_value != nullptr) {
      covered.insert(port_number);
    }
    AddTarget(g, t.Take());
  };
  for (const Value* ep : Items(Member(&slice, "endpoints"))) {
    for (const Value* port : Items(Member(&slice, "ports"))) {
      for (const Value* addr : Items(Member(ep, "addresses"))) {
        add(Str(addr), ep, port);
      }
    }
  }
  seen_pods.AddUncoveredPorts(g, /*with_init=*/true);
  return g;
}

TargetGroup BuildIngressGroup(const rapidjson::Value& ing, const Lookups& lookups) {
  TargetGroup g;
  const std::string_view ns = Namespace(ing);
  g.source = GroupSource("ingress", ns, Name(ing));
  Builder labels;
  labels.Meta("namespace", ns);
  AddObjectMeta(labels, ing, "ingress");
  labels.Meta("ingress_class_name", Str(&ing, {"spec", "ingressClassName"}));
  AddNamespaceMeta(labels, ns, lookups);
  g.labels = labels.Take();

  std::set<std::string> tls_hosts;
  for (const Value* tls : Items(Path(&ing, {"spec", "tls"}))) {
    for (const Value* h : Items(Member(tls, "hosts"))) {
      tls_hosts.insert(std::string(Str(h)));
    }
  }
  for (const Value* rule : Items(Path(&ing, {"spec", "rules"}))) {
    const std::string host(Str(rule, {"host"}));
    const std::string_view scheme = tls_hosts.count(host) != 0 ? "https" : "http";
    std::vector<std::string> paths;
    const Value* http = Member(rule, "http");
    if (http == nullptr) {
      paths.push_back("/");
    } else {
      for (const Value* p : Items(Member(http, "paths"))) {
        const std::string_view path = Str(p, {"path"});
        paths.emplace_back(path.empty() ? "/" : path);
      }
    }
    for (const std::string& path : paths) {
      Builder t;
      t.Add(model::kAddressLabel, host);
      t.Meta("ingress_scheme", scheme);
      t.Meta("ingress_host", host);
      t.Meta("ingress_path", path);
      AddTarget(g, t.Take());
    }
  }
  return g;
}

}  // namespace tender::discovery::kubernetes
