#include "collector/app/discovery_manager.h"

#include "collector/model/absl_compat.h"
#include "collector/model/log.h"

namespace tender::app {

DiscoveryManager::DiscoveryManager(scrape::ScrapeManager* manager, prometheus::Registry* registry)
    : manager_(manager), registry_(registry) {}

DiscoveryManager::~DiscoveryManager() { Shutdown(); }

void DiscoveryManager::Shutdown() {
  std::vector<std::unique_ptr<discovery::FileDiscoverer>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old.swap(discoverers_);
    ++generation_;
  }
  for (auto& d : old) d->Shutdown();
}

void DiscoveryManager::ApplyConfig(const config::Config& config) {
  Shutdown();  // Old discoverers stop outside the lock: their reports take it.
  std::vector<discovery::FileDiscoverer*> to_start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    config_ = config;
    groups_.clear();
    const uint64_t gen = generation_;
    for (const auto& sc : config_.scrape_configs) {
      if (sc.file_sd_configs.empty()) continue;
      const std::string job = sc.job_name;
      discoverers_.push_back(std::make_unique<discovery::FileDiscoverer>(
          sc.file_sd_configs,
          [this, job, gen](std::vector<discovery::TargetGroup> groups) {
            std::lock_guard<std::mutex> lock(mu_);
            if (gen != generation_) return;
            groups_[job] = std::move(groups);
            RebuildLocked();
          },
          registry_));
      to_start.push_back(discoverers_.back().get());
    }
    RebuildLocked();
  }
  for (auto* d : to_start) {
    if (absl::Status st = d->Start(); !st.ok()) {
      log::Error("discovery", "file discovery failed to start", {{"err", FromAbsl(st.message())}});
    }
  }
}

void DiscoveryManager::RebuildLocked() {
  scrape::TargetSet set = discovery::BuildTargets(config_, groups_);
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
