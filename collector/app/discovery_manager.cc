#include "collector/app/discovery_manager.h"

#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tender::app {

DiscoveryManager::DiscoveryManager(scrape::ScrapeManager* manager, prometheus::Registry* registry)
    : manager_(manager), registry_(registry), informers_(registry) {
  if (registry_ != nullptr) {
    discovered_ = &prometheus::BuildGauge()
                       .Name("tender_sd_discovered_targets")
                       .Help("Targets found by service discovery per job, before relabeling.")
                       .Register(*registry_);
  }
}

DiscoveryManager::~DiscoveryManager() { Shutdown(); }

void DiscoveryManager::Shutdown() {
  std::vector<std::unique_ptr<discovery::FileDiscoverer>> old;
  std::vector<std::unique_ptr<discovery::KubernetesDiscoverer>> old_kubernetes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old.swap(discoverers_);
    old_kubernetes.swap(kubernetes_discoverers_);
    ++generation_;
  }
  for (auto& d : old) d->Shutdown();
  for (auto& d : old_kubernetes) d->Shutdown();
}

void DiscoveryManager::ApplyConfig(const config::Config& config) {
  // The old discoverers stop after the new ones started (so shared informers live on), outside
  // the lock (their reports take it); the generation bump makes their late reports void.
  std::vector<std::unique_ptr<discovery::FileDiscoverer>> old;
  std::vector<std::unique_ptr<discovery::KubernetesDiscoverer>> old_kubernetes;
  std::vector<discovery::FileDiscoverer*> to_start;
  std::vector<std::pair<std::string, discovery::KubernetesDiscoverer*>> kubernetes_to_start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old.swap(discoverers_);
    old_kubernetes.swap(kubernetes_discoverers_);
    ++generation_;
    config_ = config;
    groups_.clear();
    proxies_.clear();
    const uint64_t gen = generation_;
    for (const auto& sc : config_.scrape_configs) {
      const std::string job = sc.job_name;
      // One report callback per discoverer: its groups replace its previous ones.
      auto report = [this, job, gen](int index) {
        return [this, job, gen, index](std::vector<discovery::TargetGroup> groups) {
          discovery::JobTargetBuilder::Groups shared;
          shared.reserve(groups.size());
          for (auto& g : groups) {
            shared.push_back(std::make_shared<const discovery::TargetGroup>(std::move(g)));
          }
          std::lock_guard<std::mutex> lock(mu_);
          if (gen != generation_) return;
          groups_[job][index] = std::move(shared);
          RebuildJobLocked(job);
        };
      };
      auto shared_report = [this, job, gen](int index) {
        return [this, job, gen, index](discovery::JobTargetBuilder::Groups groups) {
          std::lock_guard<std::mutex> lock(mu_);
          if (gen != generation_) return;
          groups_[job][index] = std::move(groups);
          RebuildJobLocked(job);
        };
      };
      if (sc.api_server_proxy.has_value() && !sc.kubernetes_sd_configs.empty()) {
        absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>> proxy =
            absl::FailedPreconditionError("not loaded");
        absl::StatusOr<k8s::KubeConfig> kc = discovery::KubeConfigFor(sc.kubernetes_sd_configs[0]);
        if (kc.ok()) {
          proxy =
              scrape::ApiServerProxy::Create(*std::move(kc), sc.api_server_proxy->max_concurrent);
        } else {
          proxy = kc.status();
        }
        if (!proxy.ok()) {
          log::Error("discovery", "api_server_proxy: no API server; the job's targets fail",
                     {{"job", job}, {"err", FromAbsl(proxy.status().message())}});
        }
        proxies_.emplace(job, std::move(proxy));
      }
      int index = 0;
      if (!sc.file_sd_configs.empty()) {
        discoverers_.push_back(std::make_unique<discovery::FileDiscoverer>(
            sc.file_sd_configs, report(index++), registry_));
        to_start.push_back(discoverers_.back().get());
      }
      for (const config::KubernetesSdConfig& sd : sc.kubernetes_sd_configs) {
        discovery::KubernetesDiscoverer::Options options;
        options.informers = &informers_;
        options.on_shared_change = shared_report(index++);
        kubernetes_discoverers_.push_back(
            std::make_unique<discovery::KubernetesDiscoverer>(sd, nullptr, registry_, options));
        kubernetes_to_start.emplace_back(job, kubernetes_discoverers_.back().get());
      }
    }
    RebuildLocked();
  }
  for (auto* d : to_start) {
    if (absl::Status st = d->Start(); !st.ok()) {
      log::Error("discovery", "file discovery failed to start", {{"err", FromAbsl(st.message())}});
    }
  }
  for (auto& [job, d] : kubernetes_to_start) {
    if (absl::Status st = d->Start(); !st.ok()) {
      log::Error("discovery", "kubernetes discovery failed to start; the job gets no targets",
                 {{"job", job}, {"err", FromAbsl(st.message())}});
    }
  }
  for (auto& d : old) d->Shutdown();
  for (auto& d : old_kubernetes) d->Shutdown();
}

void DiscoveryManager::RebuildLocked() {
  built_.clear();
  if (discovered_ != nullptr) {
    for (auto& [job, gauge] : discovered_gauges_) discovered_->Remove(gauge);
    discovered_gauges_.clear();
  }
  for (const auto& sc : config_.scrape_configs) BuildJobLocked(sc);
  ApplyLocked();
}

void DiscoveryManager::RebuildJobLocked(const std::string& job) {
  for (const auto& sc : config_.scrape_configs) {
    if (sc.job_name == job) BuildJobLocked(sc);
  }
  ApplyLocked();
}

void DiscoveryManager::BuildJobLocked(const config::ScrapeConfig& sc) {
  // Groups are read where they are kept, not copied: a large cluster's are hundreds of MiB.
  std::vector<const discovery::JobTargetBuilder::Groups*> lists;
  if (auto it = groups_.find(sc.job_name); it != groups_.end()) {
    for (const auto& [index, groups] : it->second) lists.push_back(&groups);
  }
  auto& builder = built_[sc.job_name];
  if (builder == nullptr) {
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy = nullptr;
    if (auto it = proxies_.find(sc.job_name); it != proxies_.end()) proxy = &it->second;
    builder = std::make_unique<discovery::JobTargetBuilder>(sc, proxy);
  }
  const size_t discovered = builder->Build(lists);
  if (discovered_ != nullptr &&
      (!sc.file_sd_configs.empty() || !sc.kubernetes_sd_configs.empty())) {
    auto [it, inserted] = discovered_gauges_.try_emplace(sc.job_name, nullptr);
    if (inserted) it->second = &discovered_->Add({{"job", sc.job_name}});
    it->second->Set(static_cast<double>(discovered));
  }
}

void DiscoveryManager::ApplyLocked() {
  std::vector<std::shared_ptr<const scrape::Target>> active;
  for (const auto& sc : config_.scrape_configs) {
    auto it = built_.find(sc.job_name);
    if (it != built_.end()) it->second->AppendActive(&active);
  }
  active_ = active.size();
  manager_->ApplyTargets(std::move(active));
}

std::vector<scrape::DroppedTarget> DiscoveryManager::Dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<scrape::DroppedTarget> out;
  for (const auto& sc : config_.scrape_configs) {
    auto it = built_.find(sc.job_name);
    if (it != built_.end()) it->second->AppendDropped(&out);
  }
  return out;
}

size_t DiscoveryManager::active_targets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

}  // namespace tender::app
