// A scrape target as the scrape stage sees it: the final target labels (after discovery and
// target relabeling), the URL to fetch, and the job's settings. Immutable once built; shared
// (by shared_ptr) between the scheduler thread, the fetcher thread and the workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/labels.h"
#include "collector/relabel/relabeler.h"

namespace tender::scrape {

class ApiServerProxy;

struct Target {
  std::string job;
  std::string url;  // scheme://address/metrics_path?params
  // Labels attached to every sample: job, instance, and the discovered/static labels; no
  // `__`-prefixed labels. Sorted.
  model::Labels labels;
  // Labels before relabeling (for the targets page).
  model::Labels discovered_labels;
  // The job's config; shared by all targets of the job.
  std::shared_ptr<const config::ScrapeConfig> config;
  // The job's compiled metric_relabel_configs; null or empty when it has none.
  std::shared_ptr<const relabel::Relabeler> metric_relabel;
  absl::Duration interval;
  absl::Duration timeout;
  uint64_t hash = 0;  // Identity: hash of job and labels; the shard key and the schedule offset.
  // When set, every scrape of this target fails with this error without a request (the job's
  // target_limit is exceeded, as in Prometheus).
  std::string forced_error;
  // Set for api_server_proxy jobs: `url` is then the API server's proxy path for the target,
  // and the request uses this API server's TLS and credentials instead of the job's.
  std::shared_ptr<ApiServerProxy> api_server_proxy;
};

// A target that relabeling dropped (or whose __address__ was empty): shown, never scraped.
struct DroppedTarget {
  std::string job;
  model::Labels discovered_labels;
};

// What discovery plus target relabeling produced for a config.
struct TargetSet {
  std::vector<std::shared_ptr<const Target>> active;
  std::vector<DroppedTarget> dropped;
};

// Computes `hash` from job and labels.
uint64_t TargetHash(const std::string& job, const model::Labels& labels);

}  // namespace tender::scrape
