// Renders the targets for /api/v1/targets (Prometheus API shape) and /targets (HTML).
// Pure functions; any thread.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/scrape/scrape_manager.h"
#include "collector/scrape/target.h"

namespace tender::server {

// {"status":"success","data":{"activeTargets":[…],"droppedTargets":[…]}} with the fields
// Prometheus 2.x returns: activeTargets entries have discoveredLabels, labels, scrapePool,
// scrapeUrl, globalUrl, lastError, lastScrape (RFC 3339), lastScrapeDuration (seconds),
// health ("up"|"down"|"unknown"), scrapeInterval, scrapeTimeout; droppedTargets entries have
// discoveredLabels. `state` filters like Prometheus's ?state=active|dropped|any.
std::string TargetsJson(const std::vector<scrape::TargetStatus>& active,
                        const std::vector<scrape::DroppedTarget>& dropped,
                        const std::string& state = "any");

// A self-contained HTML page listing active targets per job (endpoint, state, labels, last
// scrape, duration, error, discovered labels) and the dropped targets. `now` dates the
// "ago" column.
std::string TargetsHtml(const std::vector<scrape::TargetStatus>& active,
                        const std::vector<scrape::DroppedTarget>& dropped, absl::Time now);

}  // namespace tender::server
