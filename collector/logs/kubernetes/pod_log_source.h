// PodLogSource: container logs read through the Kubernetes API server into the Loki exporters
// (DESIGN decision 9, protocols.md §7.5). Pod discovery (kubernetes_sd_configs, role pod)
// gives the containers; each (namespace, pod, container) that has a containerID gets one
// follow stream (`pods/NAME/log?follow=true&timestamps=true&sinceTime=...`) on a thread of its
// own, at most `max_streams` at once. A cursor per container (containerID, last timestamp,
// hashes of the lines delivered at that timestamp) is advanced only after the lines were
// handed to the sink, and persisted, so that a broken stream, a clean end and a restart
// neither repeat nor skip a line. A restarted container's old instance is drained with
// `previous=true` before the new one is followed from its start.
// Threads: Start/Shutdown/SaveCursors from the owner; OnTargets from the discovery reporter
// thread (or a test); one thread per stream runs the requests and calls the sink; one
// bookkeeping thread writes the cursors and publishes the gauges.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/discovery/file/target_group.h"
#include "collector/logs/kubernetes/pod_log_cursor.h"
#include "collector/model/labels.h"
#include "collector/model/log_entry.h"
#include "collector/relabel/relabeler.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::k8s {
class RestClient;
}  // namespace tender::k8s

namespace tender::discovery {
class KubernetesDiscoverer;
}  // namespace tender::discovery

namespace tender::logs {

// One container to follow, as discovery and relabeling describe it.
struct PodLogTarget {
  std::string ns, pod, container;
  bool init = false;
  std::string container_id;  // From discovery; the stream re-reads the pod before each request.
  model::Labels labels;      // The Loki stream labels (after relabeling, no `__` names).
};

// The streams that `groups` (role pod) stand for: one per (namespace, pod, container) with a
// containerID, labelled job, namespace, pod, container, node, app (app.kubernetes.io/name,
// else app) plus every __meta label, then relabeled; dropped containers are left out. Sorted
// by key "namespace/pod/container".
std::map<std::string, PodLogTarget> PodLogTargets(const std::vector<discovery::TargetGroup>& groups,
                                                  const std::string& job_name,
                                                  const relabel::Relabeler& relabeler);

class PodLogSource {
 public:
  using Sink = std::function<void(std::vector<model::LogEntry>&&)>;

  struct Settings {
    config::KubernetesLogConfig config;
    // File of persisted cursors (its directory is created); empty: none kept.
    std::string cursors_path;
    // Receives each batch of new lines of one stream; the cursor moves past them once it
    // returns. Called on stream threads, several at once.
    Sink sink;
    prometheus::Registry* registry = nullptr;  // Null: private metrics.
    // The API client; null: one is built from the first kubernetes_sd_config.
    std::shared_ptr<k8s::RestClient> client;
    // Discovery runs inside the source unless false (tests call OnTargets themselves).
    bool discover = true;
    absl::Duration cursors_interval = absl::Seconds(1);
    absl::Duration min_backoff = absl::Milliseconds(500);
    absl::Duration max_backoff = absl::Seconds(30);
    std::string service_account_dir;  // Empty: the default in-cluster directory.
  };

  explicit PodLogSource(Settings settings);
  ~PodLogSource();  // Calls Shutdown.

  PodLogSource(const PodLogSource&) = delete;
  PodLogSource& operator=(const PodLogSource&) = delete;

  // Loads the cursors, compiles the relabeling, builds the client and starts discovery.
  // Errors: bad relabeling, no usable credentials, called twice.
  absl::Status Start();
  // Stops every stream (what was handed to the sink stays handed), stops discovery and writes
  // the cursors. Safe before Start and twice.
  void Shutdown();

  // Replaces the set of containers to follow: new streams start (up to max_streams), streams
  // no longer wanted stop, changed labels apply to the next lines.
  void OnTargets(std::vector<discovery::TargetGroup> groups);

  // Writes the cursors now.
  absl::Status SaveCursors();
  // The committed cursor of "namespace/pod/container" (empty when none).
  PodLogCursor Cursor(const std::string& key) const;
  size_t active_streams() const;

 private:
  struct Stream;
  struct Metrics;

  void RunStream(Stream* s);
  // One request; returns its status and whether it delivered a new line.
  absl::Status ReadLog(Stream* s, bool previous, bool follow, bool* delivered);
  void Deliver(Stream* s, std::vector<std::string>* lines, bool* delivered);
  void StartStreamsLocked();
  void Housekeeping();
  bool SleepFor(Stream* s, absl::Duration d);

  Settings settings_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<prometheus::Registry> own_registry_;
  relabel::Relabeler relabeler_;
  std::shared_ptr<k8s::RestClient> client_;
  std::vector<std::unique_ptr<discovery::KubernetesDiscoverer>> discoverers_;
  std::thread housekeeping_;

  // mu_ covers everything below and each Stream's `target`, `committed` and `done`. Never held
  // while calling the sink or the API. Lock order: mu_ only.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::map<std::string, PodLogTarget> wanted_;
  std::map<std::string, std::unique_ptr<Stream>> streams_;  // Running (or finishing).
  std::map<std::string, PodLogCursor> cursors_;             // Committed, by key.
  bool cursors_dirty_ = false;
};

}  // namespace tender::logs
