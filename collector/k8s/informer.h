// List+watch "informer" for one resource path (e.g. /api/v1/pods): lists with paging, then
// watches from the list's resourceVersion (bookmarks on), keeps a store keyed by
// namespace/name and reports Added/Updated/Deleted. On 410 it re-lists and diffs against the
// store; on other errors it re-watches with exponential backoff (or the server's Retry-After).
// Threads: Start() spawns one worker thread that calls the handlers; Store()/Stats() are
// thread-safe; Start/Shutdown from one owner thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/k8s/rest_client.h"
#include "rapidjson/document.h"

namespace tender::k8s {

// One object held by the store. Immutable once published; shared with handlers.
struct Object {
  std::string key;  // "namespace/name", or "name" for cluster-scoped objects.
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::shared_ptr<const rapidjson::Document> json;  // The whole object.
};
using ObjectRef = std::shared_ptr<const Object>;

// Builds an Object from a decoded API object. InvalidArgument when metadata.name is missing.
absl::StatusOr<ObjectRef> MakeObject(std::shared_ptr<rapidjson::Document> json);

struct InformerHandlers {
  std::function<void(const ObjectRef&)> on_added;
  std::function<void(const ObjectRef& old_obj, const ObjectRef& new_obj)> on_updated;
  std::function<void(const ObjectRef&)> on_deleted;
  // After each completed (re-)list has been applied to the store.
  std::function<void()> on_synced;
};

struct InformerOptions {
  std::string path;  // e.g. "/api/v1/pods" or "/api/v1/namespaces/ns/pods".
  Query selectors;   // labelSelector / fieldSelector, added to list and watch requests.
  int page_size = 500;
  // The watch's timeoutSeconds is drawn from [watch_timeout, 2 * watch_timeout) so that many
  // informers do not reconnect in lockstep (client-go: 300-600 s).
  absl::Duration watch_timeout = absl::Seconds(300);
  absl::Duration initial_backoff = absl::Milliseconds(800);
  absl::Duration max_backoff = absl::Seconds(30);
  // A watch that stayed up this long resets the backoff.
  absl::Duration healthy_reset = absl::Minutes(2);
};

struct InformerStats {
  int64_t lists = 0;  // Completed lists (each may span several pages).
  int64_t list_pages = 0;
  int64_t watches = 0;  // Watch requests started.
  int64_t expired = 0;  // 410s seen (HTTP or ERROR event).
  int64_t errors = 0;   // Failed requests and streams (excluding 410).
  int64_t events = 0;   // Watch events applied (bookmarks included).
};

class Informer {
 public:
  // `client` must outlive the informer.
  Informer(RestClient* client, InformerOptions options, InformerHandlers handlers);
  // Shuts down.
  ~Informer();

  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Starts the worker thread. Call once.
  void Start();
  // Stops the worker (aborting an open watch within about a second) and joins it. Safe before
  // Start and twice.
  void Shutdown();

  // A snapshot of the store, sorted by key.
  std::vector<ObjectRef> Store() const;
  InformerStats Stats() const;
  // The resourceVersion the next watch would start from ("" before the first list).
  std::string LastResourceVersion() const;
  // True once the first list has been applied.
  bool HasSynced() const;

 private:
  void Run();
  // Lists all pages and diffs the result against the store. Sets rv_ to the list RV.
  absl::Status ListAndSync();
  // One watch request from rv_; returns when the stream ends.
  absl::Status WatchOnce();
  void Apply(WatchEvent&& ev);
  // Sleeps up to `d` unless shutting down; false when shutting down.
  bool SleepFor(absl::Duration d);

  RestClient* const client_;
  const InformerOptions options_;
  const InformerHandlers handlers_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;  // With stop_cv_, lets SleepFor wake at Shutdown.
  std::condition_variable stop_cv_;
  std::thread thread_;
  bool started_ = false;

  // std::mutex rather than absl::Mutex: Debian's abseil is not TSan-instrumented.
  mutable std::mutex mu_;  // Covers store_, rv_, stats_, synced_. Never held across handlers.
  absl::flat_hash_map<std::string, ObjectRef> store_ ABSL_GUARDED_BY(mu_);
  std::string rv_ ABSL_GUARDED_BY(mu_);
  InformerStats stats_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Apply when the stream carried an expired ERROR event.
  bool watch_expired_ = false;
  absl::Status watch_error_;
};

}  // namespace tender::k8s
