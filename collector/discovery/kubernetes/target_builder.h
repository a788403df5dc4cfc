// Turns Kubernetes API objects (decoded JSON) into target groups with Prometheus's
// `__meta_kubernetes_*` labels, one function per role (Prometheus discovery/kubernetes).
// Pure functions over their arguments: any thread, as long as the objects do not change.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "collector/discovery/file/target_group.h"
#include "rapidjson/document.h"

namespace tender::discovery::kubernetes {

inline constexpr std::string_view kMetaPrefix = "__meta_kubernetes_";

// Prometheus strutil.SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes '_'.
std::string SanitizeLabelName(std::string_view name);

// The group source of an object, as Prometheus names it: "node/NAME", "pod/NS/NAME",
// "svc/NS/NAME", "endpoints/NS/NAME", "endpointslice/NS/NAME", "ingress/NS/NAME". `role` is
// the config role (node, pod, service, endpoints, endpointslice, ingress).
std::string GroupSource(std::string_view role, std::string_view ns, std::string_view name);

// Other objects a group's labels may draw on. Each returns the object or nullptr when it is
// not known; an unset function means the metadata is not attached (attach_metadata off) or
// not used by the role. Returned pointers are used only during the Build call.
struct Lookups {
  std::function<const rapidjson::Value*(std::string_view ns, std::string_view name)> pod;
  std::function<const rapidjson::Value*(std::string_view ns, std::string_view name)> service;
  std::function<const rapidjson::Value*(std::string_view name)> node;
  std::function<const rapidjson::Value*(std::string_view name)> namespace_;
};

// role node: one target, __address__ = first address by type preference (InternalIP,
// InternalDNS, ExternalIP, ExternalDNS, LegacyHostIP, Hostname) + ":" + kubelet port,
// instance = node name. No address: a group without targets.
TargetGroup BuildNodeGroup(const rapidjson::Value& node);

// role pod: one target per container port (init containers included), one per container
// without ports (__address__ = pod IP). No pod IP yet: a group without targets or labels.
TargetGroup BuildPodGroup(const rapidjson::Value& pod, const Lookups& lookups);

// role service: one target per service port, __address__ = NAME.NS.svc:PORT.
TargetGroup BuildServiceGroup(const rapidjson::Value& service, const Lookups& lookups);

// role endpoints: one target per address and port (ready and not ready), with the service's
// labels on the group and the pod's on pod-backed targets; container ports of those pods that
// no endpoint port covers get targets of their own.
TargetGroup BuildEndpointsGroup(const rapidjson::Value& endpoints, const Lookups& lookups);

// role endpointslice (discovery.k8s.io/v1): as endpoints, per endpoint address and port.
TargetGroup BuildEndpointSliceGroup(const rapidjson::Value& slice, const Lookups& lookups);

// role ingress (networking.k8s.io/v1): one target per rule host and path, scheme https when
// the host is listed under spec.tls.
TargetGroup BuildIngressGroup(const rapidjson::Value& ingress, const Lookups& lookups);

}  // namespace tender::discovery::kubernetes
