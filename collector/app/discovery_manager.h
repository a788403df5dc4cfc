// Runs service discovery for the running config (file_sd_configs and kubernetes_sd_configs per
// job; static_configs need none) and turns static and discovered groups into targets for the
// scrape manager, rebuilding them whenever a discoverer reports a change or the config changes.
// Exports tender_sd_discovered_targets{job} (targets found by service discovery, before
// relabeling).
// Kubernetes discoverers share one k8s::SharedInformers: one list+watch per API server and
// resource for every job and role; a reload starts the new discoverers before it stops the old
// ones, so the informers both configs need keep running (and their objects) across it.
// Thread-safe: ApplyConfig from the main or an admin thread, change reports from discoverer
// threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/config/config.h"
#include "collector/discovery/file/file_discoverer.h"
#include "collector/discovery/kubernetes/kubernetes_discoverer.h"
#include "collector/discovery/static/static_targets.h"
#include "collector/k8s/shared_informers.h"
#include "collector/scrape/scrape_manager.h"

namespace prometheus {
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace tender::app {

class DiscoveryManager {
 public:
  // `manager` and `registry` outlive this object; `registry` may be null.
  DiscoveryManager(scrape::ScrapeManager* manager, prometheus::Registry* registry);
  ~DiscoveryManager();

  // Replaces the config: stops the old discoverers, starts new ones, applies the targets.
  void ApplyConfig(const config::Config& config);

  // Targets dropped by relabeling in the last rebuild.
  std::vector<scrape::DroppedTarget> Dropped() const;
  size_t active_targets() const;

  void Shutdown();  // Stops discovery; safe twice.

  // The informers kubernetes discovery shares; other API readers (pod logs) may subscribe too.
  k8s::SharedInformers* informers() { return &informers_; }

 private:
  // Rebuilds every job's targets (config change).
  void RebuildLocked();
  // Rebuilds the targets of `job` only (its discoverer reported), then applies all jobs'.
  void RebuildJobLocked(const std::string& job);
  // Builds `sc`'s targets into built_ and sets its discovered-targets gauge.
  void BuildJobLocked(const config::ScrapeConfig& sc);
  // Hands every job's active targets to the scrape manager.
  void ApplyLocked();

  scrape::ScrapeManager* const manager_;
  prometheus::Registry* const registry_;
  prometheus::Family<prometheus::Gauge>* discovered_ = nullptr;  // Null without a registry.
  // Declared before the discoverers: it outlives their subscriptions.
  k8s::SharedInformers informers_;
  // Discoverers report from their own threads with none of their locks held.
  mutable std::mutex mu_;  // Guards everything below. Never held while stopping a discoverer.
  config::Config config_;
  // The latest groups of each discoverer, per job (discoverer index within the job). Kubernetes
  // discoverers share theirs: an unchanged group is the discoverer's own object.
  std::map<std::string, std::map<int, discovery::JobTargetBuilder::Groups>> groups_;
  std::map<std::string, prometheus::Gauge*> discovered_gauges_;  // By job.
  discovery::ApiServerProxies proxies_;  // Of the api_server_proxy jobs; rebuilt per config.
  // Targets of each job as last built, by job: a report rebuilds its own job only, and in it
  // only the groups that changed. Made anew for each config.
  std::map<std::string, std::unique_ptr<discovery::JobTargetBuilder>> built_;
  size_t active_ = 0;
  uint64_t generation_ = 0;  // Reports from discoverers of an older config are ignored.
  std::vector<std::unique_ptr<discovery::FileDiscoverer>> discoverers_;
  std::vector<std::unique_ptr<discovery::KubernetesDiscoverer>> kubernetes_discoverers_;
};

}  // namespace tender::app
