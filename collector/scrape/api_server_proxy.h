// Scraping through a Kubernetes API server's proxy (the api_server_proxy job option): the
// proxy path that reaches a discovered target (protocols.md §7.4), and ApiServerProxy, which
// holds one API server's address, TLS material and credentials (from the kubeconfig of the
// job's kubernetes_sd_config) for the scrapes of a job.
// ApiProxyPath is pure (any thread). ApiServerProxy is thread-safe: the scheduler thread asks
// for Connection(), the fetcher thread reports Unauthorized().
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "collector/config/config.h"
#include "collector/k8s/credentials.h"
#include "collector/k8s/kubeconfig.h"
#include "collector/model/labels.h"
#include "collector/scrape/http/fetcher.h"

namespace tender::scrape {

// The API-server path, ending in "/proxy", that reaches the target with `labels` (after target
// relabeling, `__` labels included); the metrics path is appended to it. Chosen from the
// labels, so it works for every role:
//   __meta_kubernetes_pod_name (pod role, and endpoints/endpointslice addresses backed by a pod,
//   so that each target reaches its own pod) ->
//   /api/v1/namespaces/NS/pods/[https:]NAME[:PORT]/proxy
//   __meta_kubernetes_service_name (service role; endpoints without a pod)
//                                           ->
//                                           /api/v1/namespaces/NS/services/[https:]NAME:PORT/proxy
//   __meta_kubernetes_node_name (node role)  -> /api/v1/nodes/NAME/proxy (the kubelet) or
//                                               /api/v1/nodes/[https:]NAME:PORT/proxy
// PORT is `proxy.port` when set, else the port of __address__ (for endpoints without a pod, the
// endpoint port name when there is one, since a service is reached by its own port, not the
// target port). A node goes to its kubelet when `proxy.port` is "kubelet", or when it is unset
// and __address__ still has its discovered port (`discovered_address`, the kubelet's). The
// "https:" prefix is added when __scheme__ is https (the kubelet form always uses HTTPS).
// InvalidArgument when the labels name no pod, service or node, or `proxy.port` is "kubelet"
// for something else.
absl::StatusOr<std::string> ApiProxyPath(const model::Labels& labels,
                                         std::string_view discovered_address,
                                         const config::ApiServerProxyConfig& proxy);

class ApiServerProxy {
 public:
  // Reads the CA file of `config` and checks the client certificate settings. Errors name the
  // file at fault.
  static absl::StatusOr<std::shared_ptr<ApiServerProxy>> Create(k8s::KubeConfig config,
                                                                int max_concurrent);

  ApiServerProxy(const ApiServerProxy&) = delete;
  ApiServerProxy& operator=(const ApiServerProxy&) = delete;

  // The API server's URL without a trailing '/' (it may carry a path prefix).
  const std::string& server() const { return config_.cluster.server; }
  // Proxied scrapes in flight at once against this API server.
  int max_concurrent() const { return max_concurrent_; }

  // What the next request sends: TLS material and the current credential (a token file is
  // re-read when it changes; an exec plugin runs when its credential has expired, blocking the
  // caller meanwhile). The same object is returned while nothing changes. Errors when the
  // credential cannot be obtained.
  absl::StatusOr<std::shared_ptr<const ApiServerConnection>> Connection();

  // The API server answered 401: the next Connection() re-reads the token file and re-runs the
  // exec plugin.
  void Unauthorized();

 private:
  ApiServerProxy(k8s::KubeConfig config, std::string ca_pem, int max_concurrent);

  const k8s::KubeConfig config_;
  const std::string ca_pem_;
  const int max_concurrent_;
  k8s::CredentialProvider credentials_;  // Thread-safe itself.
  std::mutex mu_;                        // Covers current_.
  std::shared_ptr<const ApiServerConnection> current_;
};

}  // namespace tender::scrape
