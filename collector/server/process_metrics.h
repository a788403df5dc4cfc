// The standard process_* metrics of Prometheus client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds,
// process_open_fds, process_max_fds), read from /proc/self on Update(). Register once; call
// Update before each collection. Update is not thread-safe: callers serialise it.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"

namespace tender::server {

class ProcessMetrics {
 public:
  explicit ProcessMetrics(prometheus::Registry& registry);

  // Reads /proc/self; on a read error the metrics keep their last values and the error is
  // returned (the caller may ignore it: self metrics never stop a collection).
  absl::Status Update();

 private:
  prometheus::Counter& cpu_;
  prometheus::Gauge& rss_;
  prometheus::Gauge& vsize_;
  prometheus::Gauge& start_;
  prometheus::Gauge& open_fds_;
  prometheus::Gauge& max_fds_;
};

}  // namespace tender::server
