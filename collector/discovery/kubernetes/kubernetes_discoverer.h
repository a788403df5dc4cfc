// Kubernetes service discovery (Prometheus kubernetes_sd_configs): one discoverer per config
// entry. It lists and watches the role's objects (and the services, pods, nodes and namespaces
// their labels draw on) through informers, one per resource and namespace, shared with every
// other discoverer (and source) on the same API server through k8s::SharedInformers, and reports
// the full set of target groups, keyed by Prometheus's group sources ("pod/NS/NAME"), after every
// change once each informer has synced. Changes are coalesced: a burst of events (a re-list
// after an expired watch, a rollout) becomes one report `report_delay` after its first event.
// Threads: Start/Shutdown from one owner thread; informer threads run the handlers (under one
// mutex); one reporter thread calls `on_change`, so reports never go out of order.
#pragma once

#include <array>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/discovery/file/target_group.h"
#include "collector/k8s/informer.h"
#include "collector/k8s/kubeconfig.h"
#include "collector/k8s/rest_client.h"
#include "collector/k8s/shared_informers.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace tender::discovery {

// The API client settings a kubernetes_sd_config stands for: kubeconfig_file's context, or
// api_server with the HTTP client keys (bearer or basic auth, TLS files, proxy), or the
// in-cluster service account under `service_account_dir`. Reads the files it names (basic
// auth password_file, the kubeconfig). Errors say which setting is at fault.
absl::StatusOr<k8s::KubeConfig> KubeConfigFor(
    const config::KubernetesSdConfig& sd,
    std::string_view service_account_dir = k8s::kServiceAccountDir);

class KubernetesDiscoverer {
 public:
  struct Options {
    int page_size = 500;
    // Watches are re-opened after a random time in [watch_timeout, 2 * watch_timeout).
    absl::Duration watch_timeout = absl::Minutes(5);
    std::string service_account_dir = std::string(k8s::kServiceAccountDir);
    // How long a change waits for others before the groups are reported.
    absl::Duration report_delay = absl::Milliseconds(500);
    // How often the informers' request counters are published as tender_k8s_* metrics (only
    // for the private pool used when `informers` is null).
    absl::Duration stats_interval = absl::Seconds(5);
    // The informers to share with other discoverers; must outlive this object. Null: a private
    // pool (publishing to `registry`).
    k8s::SharedInformers* informers = nullptr;
    // When set, reports go here instead of to `on_change` (which may then be empty): the same
    // groups, as shared immutable objects. A group that did not change since the last report is
    // the same object as in that report, so a receiver can keep what it derived from it.
    std::function<void(std::vector<std::shared_ptr<const TargetGroup>>)> on_shared_change;
  };

  // `on_change` receives every current group (sorted by source) each time the set changes,
  // first after all informers have listed. It runs on the reporter thread and must not call
  // Shutdown. `registry` may be null; it must outlive this object.
  KubernetesDiscoverer(config::KubernetesSdConfig config,
                       std::function<void(std::vector<TargetGroup>)> on_change,
                       prometheus::Registry* registry, Options options);
  KubernetesDiscoverer(config::KubernetesSdConfig config,
                       std::function<void(std::vector<TargetGroup>)> on_change,
                       prometheus::Registry* registry);
  ~KubernetesDiscoverer();  // Calls Shutdown.

  KubernetesDiscoverer(const KubernetesDiscoverer&) = delete;
  KubernetesDiscoverer& operator=(const KubernetesDiscoverer&) = delete;

  // Builds the API client and starts the informers. Fails (and starts nothing) when the
  // credentials cannot be loaded; API errors after that are retried by the informers.
  absl::Status Start();
  // Stops every informer and waits for them. No on_change call happens after it returns.
  // Safe before Start and twice.
  void Shutdown();

  // The resource paths listed and watched (with their selectors), for tests and logs.
  std::vector<std::string> WatchedPaths() const;

 private:
  // Resource kinds the roles need; also the index into stores_.
  enum Kind { kNode, kPod, kService, kEndpoints, kEndpointSlice, kIngress, kNamespace, kKinds };

  void OnEvent(Kind kind, const k8s::ObjectRef* old_obj, const k8s::ObjectRef* new_obj,
               const char* event);
  void OnSynced(size_t informer_index);
  // Recomputes the groups `obj` (of `kind`) affects.
  void RefreshLocked(Kind kind, const k8s::Object& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RebuildLocked(const k8s::Object& primary) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDirtyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportLoop();
  Kind PrimaryKind() const;
  // The list/watch path of `kind`, in namespace `ns` ("" = all namespaces or cluster-scoped).
  static std::string PathOf(Kind kind, const std::string& ns);

  const config::KubernetesSdConfig config_;
  const std::function<void(std::vector<TargetGroup>)> on_change_;
  const Options options_;
  std::unique_ptr<prometheus::Registry> owned_registry_;
  prometheus::Registry* const registry_;  // The caller's, or null (then owned_registry_).
  prometheus::Family<prometheus::Counter>* events_;
  std::unique_ptr<k8s::SharedInformers> owned_informers_;  // When options_.informers is null.
  bool started_ = false;                                   // Owner thread only.
  // One per resource and namespace; synced_ is parallel. Owner thread only.
  std::vector<std::unique_ptr<k8s::SharedInformers::Subscription>> subscriptions_;
  std::vector<std::string> paths_;
  std::thread reporter_;

  mutable std::mutex mu_;       // Covers everything below. Not held while calling on_change_.
  std::condition_variable cv_;  // Wakes the reporter: dirty_ or stopped_ changed.
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;  // Groups changed since the last report.
  std::vector<bool> synced_ ABSL_GUARDED_BY(mu_);
  bool all_synced_ ABSL_GUARDED_BY(mu_) = false;
  // Objects by key ("ns/name", or "name" for nodes and namespaces), per kind.
  std::array<absl::flat_hash_map<std::string, k8s::ObjectRef>, kKinds> stores_ ABSL_GUARDED_BY(mu_);
  // By source; immutable once built, shared with the reports.
  std::map<std::string, std::shared_ptr<const TargetGroup>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tender::discovery
