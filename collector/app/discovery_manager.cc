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
    const uint64_t gen = generation_;
    for (const auto& sc : config_.scrape_configs) {
      const std::string job = sc.job_name;
      // One report callback per discoverer: its groups replace its previous ones.
      auto report = [this, job, gen](int index) {
        return [this, job, gen, index](std::vector<discovery::TargetGroup> groups) {
          std::lock_guard<std::mutex> lock(mu_);
          if (gen != generation_) return;
          groups_[job][index] = std::move(groups);
          RebuildLocked();
        };
      };
      int index = 0;
      if (!sc.file_sd_configs.empty()) {
        discoverers_.push_back(std::make_unique<discovery::FileDiscoverer>(
            sc.file_sd_configs, report(index++), registry_));
        to_start.push_back(discoverers_.back().get());
      }
      for (const config::KubernetesSdConfig& sd : sc.kubernetes_sd_configs) {
        discovery::KubernetesDiscoverer::Options options;
        options.informers = &informers_;
        kubernetes_discoverers_.push_back(std::make_unique<discovery::KubernetesDiscoverer>(
            sd, report(index++), registry_, options));
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
  discovery::DiscoveredGroups flat;
  std::map<std::string, size_t> counts;
  for (const auto& sc : config_.scrape_configs) {
    if (!sc.file_sd_configs.empty() || !sc.kubernetes_sd_configs.empty()) {
      counts[sc.job_name] = 0;
    }
  }
  for (const auto& [job, by_discoverer] : groups_) {
    std::vector<discovery::TargetGroup>& out = flat[job];
    for (const auto& [index, groups] : by_discoverer) {
      for (const auto& g : groups) {
        counts[job] += g.targets.size();
      }
      out.insert(out.end(), groups.begin(), groups.end());
    }
  }
  if (discovered_ != nullptr) {
    for (auto it = discovered_gauges_.begin(); it != discovered_gauges_.end();) {
      if (counts.count(it->first) == 0) {
        discovered_->Remove(it->second);
        it = discovered_gauges_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [job, n] : counts) {
      auto [it, inserted] = discovered_gauges_.try_emplace(job, nullptr);
      if (inserted) it->second = &discovered_->Add({{"job", job}});
      it->second->Set(static_cast<double>(n));
    }
  }
  scrape::TargetSet set = discovery::BuildTargets(config_, flat);
  active_ = set.active.size();
  dropped_ = std::move(set.dropped);
  manager_->ApplyTargets(std::move(set.active));
}

std::vector<scrape::DroppedTarget> DiscoveryManager::Dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

size_t DiscoveryManager::active_targets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

}  // namespace tender::app
