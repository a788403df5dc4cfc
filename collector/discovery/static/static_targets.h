// Builds scrape targets from the static_configs of a config, with Prometheus's target label
// rules: __address__, __scheme__, __metrics_path__, __scrape_interval__, __scrape_timeout__,
// __param_<name> and job set unless given; instance defaults to __address__; labels starting
// with "__" are removed from the final set. Stateless; any thread.
#pragma once

#include <memory>
#include <vector>

#include "collector/config/config.h"
#include "collector/scrape/target.h"

namespace tender::discovery {

// One Target per address in every static_configs entry of every job; dropped ones listed.
// A job with more active targets than its target_limit has all of them fail.
scrape::TargetSet StaticTargets(const config::Config& config);

// Builds a target from its discovered labels (which hold __address__ and any static or
// discovered labels) and the job's config. Returns null when __address__ is missing or empty
// (a dropped target).
std::shared_ptr<scrape::Target> MakeTarget(model::Labels discovered,
                                           std::shared_ptr<const config::ScrapeConfig> job);

}  // namespace tender::discovery
