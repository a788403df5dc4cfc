#include "collector/scrape/api_server_proxy.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/scrape/host_gate.h"

namespace tender::scrape {
namespace {

// The port of "host:port" or "[v6]:port"; "" when there is none ("10.1.0.5", "[::1]").
std::string_view PortOf(std::string_view address) {
  size_t colon;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return {};
    }
    colon = close + 1;
  } else {
    colon = address.find(':');
    if (colon == std::string_view::npos || address.find(':', colon + 1) != std::string_view::npos) {
      return {};  // No port, or a bare IPv6 address.
    }
  }
  return address.substr(colon + 1);
}

}  // namespace

absl::StatusOr<std::string> ApiProxyPath(const model::Labels& labels,
                                         std::string_view discovered_address,
                                         const config::ApiServerProxyConfig& proxy) {
  const std::string_view address = model::Get(labels, model::kAddressLabel);
  const std::string_view ns = model::Get(labels, "__meta_kubernetes_namespace");
  const std::string_view scheme =
      model::Get(labels, model::kSchemeLabel) == "https" ? "https:" : "";
  const bool kubelet = proxy.port == "kubelet";
  auto name_part = [&](std::string_view name, std::string_view port) {
    return port.empty() ? absl::StrCat(ToAbsl(scheme), ToAbsl(name))
                        : absl::StrCat(ToAbsl(scheme), ToAbsl(name), ":", ToAbsl(port));
  };
  auto not_kubelet = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "api_server_proxy port \"kubelet\" applies to nodes only, not to ", ToAbsl(what)));
  };

  if (const std::string_view pod = model::Get(labels, "__meta_kubernetes_pod_name");
      !pod.empty() && !ns.empty()) {
    if (kubelet) return not_kubelet("pods");
    const std::string_view port = proxy.port.empty() ? PortOf(address) : proxy.port;
    return absl::StrCat("/api/v1/namespaces/", ToAbsl(ns), "/pods/", name_part(pod, port),
                        "/proxy");
  }
  if (const std::string_view service = model::Get(labels, "__meta_kubernetes_service_name");
      !service.empty() && !ns.empty()) {
    if (kubelet) return not_kubelet("services");
    std::string_view port = proxy.port;
    if (port.empty()) port = model::Get(labels, "__meta_kubernetes_endpoint_port_name");
    if (port.empty()) port = model::Get(labels, "__meta_kubernetes_endpointslice_port_name");
    if (port.empty()) port = PortOf(address);
    return absl::StrCat("/api/v1/namespaces/", ToAbsl(ns), "/services/", name_part(service, port),
                        "/proxy");
  }
  if (const std::string_view node = model::Get(labels, "__meta_kubernetes_node_name");
      !node.empty()) {
    std::string_view port = proxy.port;
    if (port.empty()) {
      const std::string_view now = PortOf(address);
      port = now == PortOf(discovered_address) ? "kubelet" : now;
    }
    if (port == "kubelet" || port.empty()) {
      // The API server reaches the kubelet on its endpoint port over HTTPS by itself.
      return absl::StrCat("/api/v1/nodes/", ToAbsl(node), "/proxy");
    }
    return absl::StrCat("/api/v1/nodes/", name_part(node, port), "/proxy");
  }
  return absl::InvalidArgumentError(
      "api_server_proxy: the target has no __meta_kubernetes_pod_name, "
      "__meta_kubernetes_service_name or __meta_kubernetes_node_name label to build the proxy "
      "path from (was it dropped by relabeling, or is the role ingress?)");
}

absl::StatusOr<std::shared_ptr<ApiServerProxy>> ApiServerProxy::Create(k8s::KubeConfig config,
                                                                       int max_concurrent) {
  std::string ca_pem = config.cluster.ca_data;
  if (ca_pem.empty() && !config.cluster.ca_file.empty()) {
    std::ifstream in(config.cluster.ca_file, std::ios::binary);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read certificate-authority ", config.cluster.ca_file));
    }
    std::ostringstream data;
    data << in.rdbuf();
    ca_pem = data.str();
  }
  if (config.cluster.server.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(config.source, ": no API server address"));
  }
  while (!config.cluster.server.empty() && config.cluster.server.back() == '/') {
    config.cluster.server.pop_back();
  }
  return std::shared_ptr<ApiServerProxy>(
      new ApiServerProxy(std::move(config), std::move(ca_pem), max_concurrent));
}

ApiServerProxy::ApiServerProxy(k8s::KubeConfig config, std::string ca_pem, int max_concurrent)
    : config_(std::move(config)),
      ca_pem_(std::move(ca_pem)),
      max_concurrent_(max_concurrent),
      credentials_(config_.user) {}

absl::StatusOr<std::shared_ptr<const ApiServerConnection>> ApiServerProxy::Connection() {
  absl::StatusOr<k8s::Credential> cred = credentials_.Get();
  if (!cred.ok()) {
    return absl::Status(
        cred.status().code(),
        absl::StrCat("API server credentials (", config_.source, "): ", cred.status().message()));
  }
  ApiServerConnection next;
  next.host_key = HostKey(config_.cluster.server);
  next.ca_pem = ca_pem_;
  next.client_cert_pem = cred->client_cert_pem;
  next.client_key_pem = cred->client_key_pem;
  next.insecure_skip_verify = config_.cluster.insecure_skip_tls_verify;
  next.server_name = config_.cluster.tls_server_name;
  next.proxy_url = config_.cluster.proxy_url;
  if (!cred->bearer_token.empty()) {
    next.authorization = absl::StrCat("Bearer ", cred->bearer_token);
  } else if (!cred->username.empty()) {
    next.authorization = absl::StrCat(
        "Basic ", absl::Base64Escape(absl::StrCat(cred->username, ":", cred->password)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ == nullptr || !(*current_ == next)) {
    current_ = std::make_shared<const ApiServerConnection>(std::move(next));
  }
  return current_;
}

void ApiServerProxy::Unauthorized() { credentials_.Invalidate(); }

}  // namespace tender::scrape
