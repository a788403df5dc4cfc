// Builds scrape targets from the static_configs of a config, with Prometheus's target label
// rules: __address__, __scheme__, __metrics_path__, __scrape_interval__, __scrape_timeout__,
// __param_<name> and job set unless given; instance defaults to __address__; labels starting
// with "__" are removed from the final set. Stateless; any thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/config/config.h"
#include "collector/discovery/file/target_group.h"
#include "collector/relabel/relabeler.h"
#include "collector/scrape/api_server_proxy.h"
#include "collector/scrape/target.h"

namespace tender::discovery {

// Groups found by service discovery, per job name.
using DiscoveredGroups = std::map<std::string, std::vector<TargetGroup>>;

// The API servers of the api_server_proxy jobs, by job name: the proxy, or why there is none
// (e.g. an unreadable kubeconfig).
using ApiServerProxies =
    std::map<std::string, absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>>;

// One Target per address in every static_configs entry and every discovered group of every
// job, after target relabeling; dropped ones listed. A job with more active targets than its
// target_limit has all of them fail. Targets of api_server_proxy jobs are scraped through
// their job's entry in `proxies` (a job without one has its targets fail with the reason).
scrape::TargetSet BuildTargets(const config::Config& config, const DiscoveredGroups& groups,
                               const ApiServerProxies* proxies = nullptr);

// The targets of one job, as BuildTargets makes them: its static_configs, then every group of
// each vector in `groups` (one per discoverer; none may be null).
// `proxy` is the job's entry of ApiServerProxies (null when it has none).
scrape::TargetSet BuildJobTargets(
    const config::ScrapeConfig& job, const std::vector<const std::vector<TargetGroup>*>& groups,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy = nullptr);

// Builds one job's targets (as BuildJobTargets does) group by group, and keeps each group's
// result for as long as the same group object is passed again: a report in which one group
// changed relabels that group's targets only. Made for one config (it copies the job's; the
// proxy entry must outlive it). Not thread-safe: the owner serializes every call (DiscoveryManager
// under its mutex).
class JobTargetBuilder {
 public:
  using Groups = std::vector<std::shared_ptr<const TargetGroup>>;

  JobTargetBuilder(const config::ScrapeConfig& job,
                   const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy);

  // Rebuilds from every discoverer's groups (`lists`, none null), reusing the results of the
  // groups built before. Returns the number of discovered targets in `lists`.
  size_t Build(const std::vector<const Groups*>& lists);

  void AppendActive(std::vector<std::shared_ptr<const scrape::Target>>* out) const;
  void AppendDropped(std::vector<scrape::DroppedTarget>* out) const;

 private:
  struct GroupResult {
    std::vector<std::shared_ptr<scrape::Target>> active;
    // The indices of the dropped targets in their group, whose labels hold theirs: the
    // discovered labels are made again when asked for, not kept twice.
    std::vector<uint32_t> dropped;
  };
  GroupResult BuildGroup(const model::Labels& group_labels, const std::vector<std::string>& targets,
                         const std::vector<model::Labels>* target_labels) const;

  const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* const proxy_;
  bool ok_ = false;  // The relabel rules compiled.
  std::shared_ptr<const config::ScrapeConfig> job_;
  std::optional<relabel::Relabeler> target_relabel_;
  std::shared_ptr<const relabel::Relabeler> metric_relabel_;
  std::vector<GroupResult> static_;  // One per static_configs entry.
  bool static_built_ = false;
  // Of the groups of the last Build, in its order, keyed by group object.
  std::vector<std::pair<std::shared_ptr<const TargetGroup>, GroupResult>> groups_;
};

// BuildTargets with static_configs only.
inline scrape::TargetSet StaticTargets(const config::Config& config) {
  return BuildTargets(config, {});
}

// Builds a target from its discovered labels (which hold __address__ and any static or
// discovered labels) and the job's config. Returns null when __address__ is missing or empty
// (a dropped target). For an api_server_proxy job, `proxy` is its API server (null: none).
std::shared_ptr<scrape::Target> MakeTarget(
    model::Labels discovered, std::shared_ptr<const config::ScrapeConfig> job,
    const relabel::Relabeler* target_relabel = nullptr,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy = nullptr);

// The discovered labels plus the job's defaults (job, __scheme__, __metrics_path__,
// __scrape_interval__, __scrape_timeout__ where absent; __param_<name> always): what target
// relabeling sees, and what the targets pages show as discovered labels.
model::Labels WithJobDefaults(model::Labels labels, const config::ScrapeConfig& job);

}  // namespace tender::discovery
