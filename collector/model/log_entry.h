// LogEntry: one log line on its way from a log source (file tailer) to the Loki exporter.
// A plain value; thread-compatible. Sources build entries on their own thread and move them on.
#pragma once

#include <cstdint>
#include <string>

namespace tender::model {

struct LogEntry {
  // Stream selector, labels sorted by name: `{filename="/var/log/a.log", job="varlogs"}` as
  // model::ToString renders a Labels (protocols.md §6.4). Entries of one stream share it.
  std::string labels;
  int64_t timestamp_ns = 0;  // Unix nanoseconds.
  std::string line;          // Valid UTF-8, without the trailing newline.
  // Loki tenant (X-Scope-OrgID); empty = the exporter's configured tenant_id.
  std::string tenant;
};

}  // namespace tender::model
