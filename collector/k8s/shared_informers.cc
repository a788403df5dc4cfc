#include "collector/k8s/shared_informers.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/model/status_macros.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tender::k8s {

// One shared informer and its subscribers.
struct SharedInformers::Subscription::Entry {
  std::string key;
  std::string resource;
  std::shared_ptr<RestClient> client;  // Shared with other informers on the same server.
  std::unique_ptr<Informer> informer;
  // Guarded by the owner's mu_.
  int refs = 0;
  bool started = false;
  prometheus::Counter* lists = nullptr;  // Null without a registry.
  prometheus::Counter* watches = nullptr;
  prometheus::Counter* expired = nullptr;
  prometheus::Counter* errors = nullptr;
  prometheus::Counter* events = nullptr;
  InformerStats published;  // What the counters hold so far.

  // Covers what follows; held while a subscriber's handler runs, so a subscriber joins or
  // leaves between two events, never during one.
  std::mutex fan_mu;
  // What the handlers have described so far (the informer's store as its subscribers know it).
  // Keys view the key of the object they map to.
  absl::flat_hash_map<std::string_view, ObjectRef> objects ABSL_GUARDED_BY(fan_mu);
  bool synced ABSL_GUARDED_BY(fan_mu) = false;
  std::map<uint64_t, InformerHandlers> subscribers ABSL_GUARDED_BY(fan_mu);

  // The informer's handlers: record the change, then tell every subscriber.
  InformerHandlers FanOut() {
    InformerHandlers h;
    h.on_added = [this](const ObjectRef& o) {
      std::lock_guard<std::mutex> lock(fan_mu);
      objects.insert_or_assign(std::string_view(o->key), o);
      for (auto& [id, s] : subscribers) {
        if (s.on_added) s.on_added(o);
      }
    };
    h.on_updated = [this](const ObjectRef& old_obj, const ObjectRef& new_obj) {
      std::lock_guard<std::mutex> lock(fan_mu);
      // Re-inserted so that the key views the new object's key, not the old one's.
      objects.erase(std::string_view(old_obj->key));
      objects.emplace(std::string_view(new_obj->key), new_obj);
      for (auto& [id, s] : subscribers) {
        if (s.on_updated) s.on_updated(old_obj, new_obj);
      }
    };
    h.on_deleted = [this](const ObjectRef& o) {
      std::lock_guard<std::mutex> lock(fan_mu);
      objects.erase(std::string_view(o->key));
      for (auto& [id, s] : subscribers) {
        if (s.on_deleted) s.on_deleted(o);
      }
    };
    h.on_synced = [this] {
      std::lock_guard<std::mutex> lock(fan_mu);
      synced = true;
      for (auto& [id, s] : subscribers) {
        if (s.on_synced) s.on_synced();
      }
    };
    return h;
  }

  // Adds a subscriber, first replaying the objects known so far as adds (sorted by key) and
  // the sync when it happened.
  void Join(uint64_t id, InformerHandlers handlers) {
    std::lock_guard<std::mutex> lock(fan_mu);
    if (!objects.empty() && handlers.on_added) {
      std::vector<ObjectRef> known;
      known.reserve(objects.size());
      for (const auto& [k, o] : objects) known.push_back(o);
      std::sort(known.begin(), known.end(),
                [](const ObjectRef& a, const ObjectRef& b) { return a->key < b->key; });
      for (const ObjectRef& o : known) handlers.on_added(o);
    }
    if (synced && handlers.on_synced) handlers.on_synced();
    subscribers.emplace(id, std::move(handlers));
  }

  void Leave(uint64_t id) {
    std::lock_guard<std::mutex> lock(fan_mu);
    subscribers.erase(id);
  }
};

SharedInformers::Subscription::~Subscription() { owner_->Unsubscribe(entry_, id_); }

const std::string& SharedInformers::Subscription::resource() const { return entry_->resource; }

std::vector<ObjectRef> SharedInformers::Subscription::Store() const {
  return entry_->informer->Store();
}

InformerStats SharedInformers::Subscription::Stats() const { return entry_->informer->Stats(); }

SharedInformers::SharedInformers(prometheus::Registry* registry)
    : SharedInformers(registry, Options{}) {}

SharedInformers::SharedInformers(prometheus::Registry* registry, Options options)
    : registry_(registry), options_(options) {
  if (registry_ == nullptr) return;
  // Gauge moves by ±1 so that several pools on one registry (tests) add up.
  informers_gauge_ = &prometheus::BuildGauge()
                          .Name("tender_k8s_informers")
                          .Help(
                              "Running list+watch informers, each shared by every job and "
                              "role that reads its resource.")
                          .Register(*registry_)
                          .Add({});
  auto family = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  lists_ = family("tender_k8s_lists_total", "Completed lists of a resource (all pages).");
  watches_ = family("tender_k8s_watches_total", "Watch requests started for a resource.");
  expired_ = family("tender_k8s_watch_expired_total",
                    "410 Gone (HTTP or ERROR event) answers that forced a re-list.");
  errors_ = family("tender_k8s_request_errors_total",
                   "Failed list or watch requests and broken watch streams (410 excluded).");
  events_ = family("tender_k8s_watch_events_total", "Watch events applied, bookmarks included.");
  publisher_ = std::thread([this] { PublishLoop(); });
}

SharedInformers::~SharedInformers() {
  std::map<std::string, std::shared_ptr<Subscription::Entry>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(entries_);
  }
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  // Subscriptions should be gone; stop what a careless owner left running all the same.
  for (auto& [key, entry] : left) entry->informer->Shutdown();
}

std::string SharedInformers::ClientKey(const KubeConfig& config, const RestClientOptions& options) {
  const ClusterConfig& c = config.cluster;
  const UserConfig& u = config.user;
  // '\x1f' (unit separator) cannot occur in paths, URLs or tokens that work.
  std::string key = absl::StrCat(
      c.server, "\x1f", c.ca_file, "\x1f", c.ca_data, "\x1f", c.insecure_skip_tls_verify, "\x1f",
      c.tls_server_name, "\x1f", c.proxy_url, "\x1f", c.disable_compression, "\x1f",
      u.client_certificate_file, "\x1f", u.client_certificate_data, "\x1f", u.client_key_file,
      "\x1f", u.client_key_data, "\x1f", u.token, "\x1f", u.token_file, "\x1f", u.username, "\x1f",
      u.password, "\x1f", options.enable_http2, options.follow_redirects, "\x1f",
      absl::FormatDuration(options.connect_timeout), "\x1f",
      absl::FormatDuration(options.request_timeout), "\x1f", options.user_agent);
  if (u.exec.has_value()) {
    absl::StrAppend(&key, "\x1f", "exec", "\x1f", u.exec->command, "\x1f", u.exec->api_version);
    for (const std::string& a : u.exec->args) absl::StrAppend(&key, "\x1f", a);
    for (const auto& [k, v] : u.exec->env) absl::StrAppend(&key, "\x1f", k, "=", v);
  }
  return key;
}

std::string SharedInformers::ResourceName(const InformerOptions& options) {
  std::string shown = options.path;
  bool first = true;
  for (const auto& [k, v] : options.selectors) {
    absl::StrAppend(&shown, first ? "?" : "&", k, "=", v);
    first = false;
  }
  return shown;
}

absl::StatusOr<std::unique_ptr<SharedInformers::Subscription>> SharedInformers::Subscribe(
    const KubeConfig& config, const RestClientOptions& client_options,
    const InformerOptions& options, InformerHandlers handlers) {
  const std::string client_key = ClientKey(config, client_options);
  const std::string resource = ResourceName(options);
  const std::string key = absl::StrCat(client_key, "\x1e", resource, "\x1e", options.page_size,
                                       "\x1f", absl::FormatDuration(options.watch_timeout), "\x1f",
                                       absl::FormatDuration(options.initial_backoff), "\x1f",
                                       absl::FormatDuration(options.max_backoff), "\x1f",
                                       absl::FormatDuration(options.healthy_reset));
  std::shared_ptr<Subscription::Entry> entry;
  uint64_t id = 0;
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      entry = it->second;
    } else {
      std::shared_ptr<RestClient> client = clients_[client_key].lock();
      if (client == nullptr) {
        ASSIGN_OR_RETURN(std::unique_ptr<RestClient> created,
                         RestClient::Create(config, client_options));
        client = std::move(created);
        clients_[client_key] = client;
      }
      entry = std::make_shared<Subscription::Entry>();
      entry->key = key;
      entry->resource = resource;
      entry->client = std::move(client);
      entry->informer = std::make_unique<Informer>(entry->client.get(), options, entry->FanOut());
      if (registry_ != nullptr) {
        const prometheus::Labels labels{{"resource", resource}};
        entry->lists = &lists_->Add(labels);
        entry->watches = &watches_->Add(labels);
        entry->expired = &expired_->Add(labels);
        entry->errors = &errors_->Add(labels);
        entry->events = &events_->Add(labels);
        informers_gauge_->Increment();
      }
      entries_.emplace(key, entry);
    }
    ++entry->refs;
    id = next_id_++;
    start = !entry->started;
    entry->started = true;
  }
  entry->Join(id, std::move(handlers));
  if (start) entry->informer->Start();
  return std::unique_ptr<Subscription>(new Subscription(this, entry, id));
}

void SharedInformers::Unsubscribe(const std::shared_ptr<Subscription::Entry>& entry, uint64_t id) {
  entry->Leave(id);
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = --entry->refs == 0;
    if (last) {
      auto it = entries_.find(entry->key);
      if (it != entries_.end() && it->second == entry) entries_.erase(it);
      if (informers_gauge_ != nullptr) informers_gauge_->Decrement();
      for (auto c = clients_.begin(); c != clients_.end();) {
        c = c->second.expired() ? clients_.erase(c) : std::next(c);
      }
    }
  }
  if (!last) return;
  entry->informer->Shutdown();
  std::lock_guard<std::mutex> lock(mu_);
  PublishLocked(*entry);  // What happened since the last publish, before the counts go.
}

size_t SharedInformers::informers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void SharedInformers::PublishLocked(Subscription::Entry& entry) {
  if (entry.lists == nullptr) return;
  const InformerStats st = entry.informer->Stats();
  auto add = [](prometheus::Counter* counter, int64_t value, int64_t* published) {
    if (value > *published) counter->Increment(static_cast<double>(value - *published));
    *published = value;
  };
  add(entry.lists, st.lists, &entry.published.lists);
  add(entry.watches, st.watches, &entry.published.watches);
  add(entry.expired, st.expired, &entry.published.expired);
  add(entry.errors, st.errors, &entry.published.errors);
  add(entry.events, st.events, &entry.published.events);
}

void SharedInformers::PublishLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.stats_interval),
                       [this] { return stopping_; })) {
    for (auto& [key, entry] : entries_) PublishLocked(*entry);
  }
}

}  // namespace tender::k8s
