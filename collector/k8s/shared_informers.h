// SharedInformers: one Informer (list + watch) per (API server + credentials, resource path,
// selectors, informer options), shared by every consumer that needs that resource and reference
// counted: the informer starts with its first subscriber and stops with its last. Events fan out
// to every subscriber; a subscriber that arrives after the informer has listed first receives
// the current objects as adds (and on_synced), then live events, with nothing missed or
// repeated. Publishes tender_k8s_informers and, once per informer however many subscribe,
// tender_k8s_{lists,watches,watch_expired,request_errors,watch_events}_total{resource}.
// Threads: Subscribe and Subscription destruction from any thread except a handler; handlers
// run on the informer's thread (the replay for a late subscriber on the Subscribe caller's
// thread), one subscriber call at a time per informer, with the fan-out mutex held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/k8s/informer.h"
#include "collector/k8s/kubeconfig.h"
#include "collector/k8s/rest_client.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace tender::k8s {

class SharedInformers {
 public:
  struct Options {
    // How often every informer's Stats() is copied into the tender_k8s_* counters.
    absl::Duration stats_interval = absl::Seconds(5);
  };

  // One subscriber's hold on a shared informer. Destroying it unsubscribes: no handler of this
  // subscriber runs after the destructor returns; the last one stops the informer. Must not be
  // destroyed inside one of its own handlers.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // The informer's path with its selectors ("/api/v1/pods?labelSelector=a=b").
    const std::string& resource() const;
    // The shared informer's store (see Informer::Store) and counters.
    std::vector<ObjectRef> Store() const;
    InformerStats Stats() const;

   private:
    friend class SharedInformers;
    struct Entry;
    Subscription(SharedInformers* owner, std::shared_ptr<Entry> entry, uint64_t id)
        : owner_(owner), entry_(std::move(entry)), id_(id) {}
    SharedInformers* const owner_;
    const std::shared_ptr<Entry> entry_;
    const uint64_t id_;
  };

  // `registry` may be null (no metrics); it must outlive this object.
  explicit SharedInformers(prometheus::Registry* registry, Options options);
  explicit SharedInformers(prometheus::Registry* registry);
  // Every Subscription must be gone first.
  ~SharedInformers();

  SharedInformers(const SharedInformers&) = delete;
  SharedInformers& operator=(const SharedInformers&) = delete;

  // Subscribes `handlers` to the informer for `options` on the API server `config` describes
  // (reached with `client_options`), creating the REST client and starting the informer when
  // none exists for that key. Fails only when a new REST client cannot be built (TLS files).
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const KubeConfig& config,
                                                          const RestClientOptions& client_options,
                                                          const InformerOptions& options,
                                                          InformerHandlers handlers);

  // Running informers.
  size_t informers() const;

  // The key that identifies an API client: server, TLS material, credentials and client
  // options. Two configs with equal keys share clients and informers.
  static std::string ClientKey(const KubeConfig& config, const RestClientOptions& options);
  // The path with its selectors, as shown in logs and the `resource` label.
  static std::string ResourceName(const InformerOptions& options);

 private:
  struct Counters;
  void Unsubscribe(const std::shared_ptr<Subscription::Entry>& entry, uint64_t id);
  void PublishLoop();
  void PublishLocked(Subscription::Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  prometheus::Registry* const registry_;
  const Options options_;
  prometheus::Gauge* informers_gauge_ = nullptr;
  prometheus::Family<prometheus::Counter>* lists_ = nullptr;
  prometheus::Family<prometheus::Counter>* watches_ = nullptr;
  prometheus::Family<prometheus::Counter>* expired_ = nullptr;
  prometheus::Family<prometheus::Counter>* errors_ = nullptr;
  prometheus::Family<prometheus::Counter>* events_ = nullptr;

  // Lock order: mu_ before an entry's fan-out mutex. Never held while an informer stops.
  mutable std::mutex mu_;
  std::condition_variable cv_;  // Wakes the publisher at shutdown.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // REST clients by ClientKey; kept while an informer uses them (weak: the entries own them).
  std::map<std::string, std::weak_ptr<RestClient>> clients_ ABSL_GUARDED_BY(mu_);
  // Informers by ClientKey + resource + options.
  std::map<std::string, std::shared_ptr<Subscription::Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::thread publisher_;
};

}  // namespace tender::k8s
