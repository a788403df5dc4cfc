// EventsSource: watches the core/v1 Events of a cluster (k8s::Informer, one per namespace or
// one for all) and hands each new or changed event to a sink as one logfmt line
// (`kind=Pod name=web-1 namespace=shop reason=BackOff type=Warning count=3 message="..."
// source=kubelet/node-1`), stream labels job, namespace, kind, type plus static labels. A
// delivery record under the storage directory (DeliveredEvents) remembers, per event uid, the
// count and timestamp last handed on, so a restart or a 410 re-list sends an event again only
// when it changed (DESIGN decision 9).
// Start/Shutdown: the owning thread. The sink is called on informer threads, one call at a time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/k8s/informer.h"
#include "collector/model/log_entry.h"
#include "rapidjson/document.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::logs {

// What the line, the labels and the dedupe rule need from one core/v1 Event.
struct EventFields {
  std::string uid;
  std::string namespace_;  // metadata.namespace.
  std::string kind;        // involvedObject.kind.
  std::string name;        // involvedObject.name.
  std::string reason;
  std::string type;  // Normal or Warning.
  std::string message;
  std::string source;  // "<component>/<host>" (see ExtractEventFields).
  // count, else series.count, else 1.
  int64_t count = 1;
  // lastTimestamp, else eventTime, else firstTimestamp, else metadata.creationTimestamp, in
  // Unix ns; 0 when none parses.
  int64_t timestamp_ns = 0;
};

// Reads an Event object. `source` is source.component (else reportingComponent, else the
// events.k8s.io name reportingController), then "/" and source.host (else reportingInstance)
// when there is one. Times are RFC 3339 (metav1.Time) or with microseconds (MicroTime);
// `null` and unparsable ones are skipped. InvalidArgument when metadata.uid is missing.
absl::StatusOr<EventFields> ExtractEventFields(const rapidjson::Value& event);

// The logfmt line of an event: kind, name, namespace, reason, type, count, message, source in
// this order. `message` is always quoted; other values are quoted only when empty-free logfmt
// needs it (a space, `=`, `"`, a control character); inside quotes `\`, `"`, newline, carriage
// return and tab are escaped with a backslash, other control characters as \u00XX.
std::string EventLogLine(const EventFields& event);

// Appends `key=value` (quoted as EventLogLine describes; `force_quotes` always quotes).
void AppendLogfmt(std::string* out, std::string_view key, std::string_view value,
                  bool force_quotes = false);

// The record of what was delivered: per event uid, the count and timestamp last handed to the
// sink, plus the last resourceVersion seen. Kept as an append-only journal (one line per
// delivery or deletion, written before the next event is handled) that Compact() rewrites.
// A torn last line (kill -9 during a write) is ignored. Not thread-safe: the owner locks.
class DeliveredEvents {
 public:
  // `path` "" keeps the record in memory only.
  explicit DeliveredEvents(std::string path);
  ~DeliveredEvents();

  DeliveredEvents(const DeliveredEvents&) = delete;
  DeliveredEvents& operator=(const DeliveredEvents&) = delete;

  // Reads the journal (a missing file is an empty record) and opens it for appending.
  // Unavailable when the directory or file cannot be created or read.
  absl::Status Load();

  // True when this uid was delivered with this count and timestamp.
  bool Delivered(const std::string& uid, int64_t count, int64_t timestamp_ns) const;
  // Records a delivery (replacing the uid's previous one) and appends it to the journal.
  void Record(const std::string& uid, int64_t count, int64_t timestamp_ns);
  // Forgets a deleted event.
  void Forget(const std::string& uid);
  void SetResourceVersion(std::string_view rv) { resource_version_ = std::string(rv); }
  const std::string& resource_version() const { return resource_version_; }

  // Drops the uids not in `live` whose timestamp is before `cutoff` (the event TTL ago), then
  // rewrites the journal as one line per remaining uid (tmp + rename). A null `live` treats
  // every uid as gone; absl::InfinitePast() drops nothing.
  absl::Status Compact(absl::Time cutoff, const absl::flat_hash_set<std::string>* live);
  // Journal lines written since the last Compact (or Load).
  size_t journal_lines() const { return journal_lines_; }
  size_t size() const { return delivered_.size(); }

 private:
  struct Delivery {
    int64_t count = 0;
    int64_t timestamp_ns = 0;
  };
  void Append(const std::string& line);

  const std::string path_;
  int fd_ = -1;
  absl::flat_hash_map<std::string, Delivery> delivered_;
  std::string resource_version_;
  size_t journal_lines_ = 0;
};

class EventsSource {
 public:
  using Sink = std::function<void(std::vector<model::LogEntry>&&)>;

  struct Settings {
    config::EventsLogConfig config;
    // The delivery record's journal; "" keeps it in memory (a restart sends everything again).
    std::string state_path;
    Sink sink;
    prometheus::Registry* registry = nullptr;  // Null: private metrics.
    // The apiserver's --event-ttl: delivery records of events gone for this long are dropped.
    absl::Duration event_ttl = absl::Hours(1);
    // How often the informer counters are published and the journal is compacted when it has
    // grown to more than twice the live records.
    absl::Duration maintenance_interval = absl::Seconds(5);
    // In-cluster credentials directory (tests); "" = the standard one.
    std::string service_account_dir;
    absl::Duration watch_timeout = absl::Seconds(300);
    std::function<absl::Time()> clock;  // Null: absl::Now.
  };

  explicit EventsSource(Settings settings);
  ~EventsSource();  // Calls Shutdown.

  EventsSource(const EventsSource&) = delete;
  EventsSource& operator=(const EventsSource&) = delete;

  // Loads the delivery record, creates the API client and starts one informer per namespace
  // (or one for all) and the maintenance thread. Errors: credentials or TLS material that
  // cannot be read, a record that cannot be read, or called twice.
  absl::Status Start();
  // Stops the informers (each within about a second), publishes the counters and compacts the
  // record. Safe before Start and twice.
  void Shutdown();

  // Handles one ADDED or MODIFIED event object as the informers do (tests call it without
  // Start; then the record must have been loaded by LoadForTest).
  void HandleEvent(const rapidjson::Value& event);
  void HandleDeleted(const rapidjson::Value& event);
  absl::Status LoadForTest();

 private:
  struct Metrics;
  void MaintenanceLoop();
  void PublishInformerStats();
  void CompactLocked(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Time Now() const { return settings_.clock ? settings_.clock() : absl::Now(); }

  Settings settings_;
  std::unique_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<k8s::RestClient> client_;
  std::vector<std::unique_ptr<k8s::Informer>> informers_;
  std::vector<k8s::InformerStats> published_;  // Maintenance thread (and Shutdown) only.

  // mu_ covers the record and the sink call, so a delivery and its record are one step.
  std::mutex mu_;
  DeliveredEvents delivered_ ABSL_GUARDED_BY(mu_);
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;

  std::mutex stop_mu_;  // Covers stop_ and started_; with stop_cv_.
  std::condition_variable stop_cv_;
  bool stop_ = false;
  bool started_ = false;
  std::thread maintenance_;
};

}  // namespace tender::logs
