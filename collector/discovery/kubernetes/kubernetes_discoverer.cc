#include "collector/discovery/kubernetes/kubernetes_discoverer.h"

#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/discovery/kubernetes/target_builder.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace tender::discovery {
namespace {

namespace kube = ::tender::discovery::kubernetes;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The role name Prometheus uses for each resource kind in metrics and selectors.
constexpr const char* kKindRole[] = {"node",          "pod",     "service",  "endpoints",
                                     "endpointslice", "ingress", "namespace"};

// True when an address of the endpoints or endpointslice `json` (in namespace `ns`) has a Pod
// targetRef naming pod `pod_ns`/`pod`, as the target builder looks pods up.
bool ReferencesPod(const rapidjson::Value& json, const std::string& ns, const std::string& pod_ns,
                   const std::string& pod) {
  auto str = [](const rapidjson::Value& obj, const char* key) -> std::string_view {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
  };
  auto is_pod = [&](const rapidjson::Value& address) {
    if (!address.IsObject()) return false;
    auto ref = address.FindMember("targetRef");
    if (ref == address.MemberEnd() || !ref->value.IsObject()) return false;
    std::string_view ref_ns = str(ref->value, "namespace");
    return str(ref->value, "kind") == "Pod" && str(ref->value, "name") == pod &&
           (ref_ns.empty() ? ns : ref_ns) == pod_ns;
  };
  auto any_in = [&](const rapidjson::Value& obj, const char* list) {
    auto it = obj.FindMember(list);
    if (it == obj.MemberEnd() || !it->value.IsArray()) return false;
    for (const auto& a : it->value.GetArray()) {
      if (is_pod(a)) return true;
    }
    return false;
  };
  if (!json.IsObject()) return false;
  auto subsets = json.FindMember("subsets");  // Endpoints.
  if (subsets != json.MemberEnd() && subsets->value.IsArray()) {
    for (const auto& subset : subsets->value.GetArray()) {
      if (subset.IsObject() &&
          (any_in(subset, "addresses") || any_in(subset, "notReadyAddresses"))) {
        return true;
      }
    }
  }
  return any_in(json, "endpoints");  // EndpointSlice.
}

}  // namespace

absl::StatusOr<k8s::KubeConfig> KubeConfigFor(const config::KubernetesSdConfig& sd,
                                              std::string_view service_account_dir) {
  if (!sd.kubeconfig_file.empty()) {
    return k8s::LoadKubeConfigFile(sd.kubeconfig_file);
  }
  if (sd.api_server.empty()) {
    return k8s::LoadInClusterConfig(service_account_dir);
  }
  k8s::KubeConfig kc;
  kc.source = sd.api_server;
  kc.namespace_ = "default";
  kc.cluster.server = sd.api_server;
  kc.cluster.proxy_url = sd.proxy_url;
  const config::TlsConfig& tls = sd.http.tls_config;
  kc.cluster.ca_file = tls.ca_file;
  kc.cluster.insecure_skip_tls_verify = tls.insecure_skip_verify;
  kc.cluster.tls_server_name = tls.server_name;
  kc.user.client_certificate_file = tls.cert_file;
  kc.user.client_key_file = tls.key_file;
  if (sd.http.authorization.has_value()) {
    const config::Authorization& auth = *sd.http.authorization;
    if (!absl::EqualsIgnoreCase(auth.type, "Bearer")) {
      return absl::UnimplementedError(
          absl::StrCat("authorization type \"", auth.type,
                       "\" is not supported for the Kubernetes API (only Bearer)"));
    }
    kc.user.token = auth.credentials;
    kc.user.token_file = auth.credentials_file;
  }
  if (sd.http.basic_auth.has_value()) {
    kc.user.username = sd.http.basic_auth->username;
    kc.user.password = sd.http.basic_auth->password;
    if (!sd.http.basic_auth->password_file.empty()) {
      ASSIGN_OR_RETURN(std::string password, ReadFile(sd.http.basic_auth->password_file));
      kc.user.password = std::string(absl::StripTrailingAsciiWhitespace(password));
    }
  }
  return kc;
}

KubernetesDiscoverer::KubernetesDiscoverer(config::KubernetesSdConfig config,
                                           std::function<void(std::vector<TargetGroup>)> on_change,
                                           prometheus::Registry* registry)
    : KubernetesDiscoverer(std::move(config), std::move(on_change), registry, Options{}) {}

KubernetesDiscoverer::KubernetesDiscoverer(config::KubernetesSdConfig config,
                                           std::function<void(std::vector<TargetGroup>)> on_change,
                                           prometheus::Registry* registry, Options options)
    : config_(std::move(config)),
      on_change_(std::move(on_change)),
      options_(std::move(options)),
      owned_registry_(registry == nullptr ? std::make_unique<prometheus::Registry>() : nullptr),
      registry_(registry),
      events_(&prometheus::BuildCounter()
                   .Name("tender_sd_kubernetes_events_total")
                   .Help("Kubernetes objects added, updated and deleted, by resource role, as "
                         "seen by kubernetes service discovery.")
                   .Register(registry != nullptr ? *registry : *owned_registry_)) {}

KubernetesDiscoverer::~KubernetesDiscoverer() { Shutdown(); }

std::string KubernetesDiscoverer::PathOf(Kind kind, const std::string& ns) {
  static_assert(std::size(kKindRole) == kKinds, "a role name for every kind");
  const std::string scope = ns.empty() ? "" : absl::StrCat("/namespaces/", ns);
  switch (kind) {
    case kNode:
      return "/api/v1/nodes";
    case kPod:
      return absl::StrCat("/api/v1", scope, "/pods");
    case kService:
      return absl::StrCat("/api/v1", scope, "/services");
    case kEndpoints:
      return absl::StrCat("/api/v1", scope, "/endpoints");
    case kEndpointSlice:
      return absl::StrCat("/apis/discovery.k8s.io/v1", scope, "/endpointslices");
    case kIngress:
      return absl::StrCat("/apis/networking.k8s.io/v1", scope, "/ingresses");
    default:
      return "/api/v1/namespaces";
  }
}

KubernetesDiscoverer::Kind KubernetesDiscoverer::PrimaryKind() const {
  const std::string& r = config_.role;
  if (r == "node") return kNode;
  if (r == "pod") return kPod;
  if (r == "service") return kService;
  if (r == "endpoints") return kEndpoints;
  if (r == "endpointslice") return kEndpointSlice;
  return kIngress;
}

std::vector<std::string> KubernetesDiscoverer::WatchedPaths() const { return paths_; }

absl::Status KubernetesDiscoverer::Start() {
  if (started_) {
    return absl::FailedPreconditionError("kubernetes discoverer already started");
  }
  ASSIGN_OR_RETURN(k8s::KubeConfig kc, KubeConfigFor(config_, options_.service_account_dir));
  k8s::RestClientOptions client_options;
  client_options.enable_http2 = config_.enable_http2;
  // Only api_server takes Prometheus's HTTP client settings (default: follow redirects).
  client_options.follow_redirects = !config_.api_server.empty() && config_.follow_redirects;
  started_ = true;

  // Namespaces: the configured names (plus our own, in-cluster), or all ("").
  std::vector<std::string> namespaces = config_.namespaces;
  if (config_.own_namespace) {
    namespaces.push_back(kc.namespace_);
  }
  if (namespaces.empty()) {
    namespaces.push_back("");
  }

  const Kind primary = PrimaryKind();
  // (kind, namespaced) of every resource the role reads.
  std::vector<std::pair<Kind, bool>> kinds = {{primary, primary != kNode}};
  if (primary == kEndpoints || primary == kEndpointSlice) {
    kinds.push_back({kService, true});
    kinds.push_back({kPod, true});
  }
  const bool node_meta = config_.attach_node_metadata &&
                         (primary == kPod || primary == kEndpoints || primary == kEndpointSlice);
  if (node_meta) {
    kinds.push_back({kNode, false});
  }
  if (config_.attach_namespace_metadata && primary != kNode) {
    kinds.push_back({kNamespace, false});
  }

  std::vector<std::pair<Kind, k8s::InformerOptions>> wanted;
  for (const auto& [kind, namespaced] : kinds) {
    k8s::Query selectors;
    for (const config::KubernetesSelector& s : config_.selectors) {
      if (s.role != kKindRole[kind]) {
        continue;
      }
      if (!s.label.empty()) selectors.emplace_back("labelSelector", s.label);
      if (!s.field.empty()) selectors.emplace_back("fieldSelector", s.field);
    }
    for (const std::string& ns : namespaced ? namespaces : std::vector<std::string>{""}) {
      k8s::InformerOptions opts;
      opts.path = PathOf(kind, ns);
      opts.selectors = selectors;
      opts.page_size = options_.page_size;
      opts.watch_timeout = options_.watch_timeout;
      paths_.push_back(k8s::SharedInformers::ResourceName(opts));
      wanted.emplace_back(kind, std::move(opts));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_.assign(wanted.size(), false);
  }
  reporter_ = std::thread([this] { ReportLoop(); });
  k8s::SharedInformers* informers = options_.informers;
  if (informers == nullptr) {
    k8s::SharedInformers::Options pool_options;
    pool_options.stats_interval = options_.stats_interval;
    owned_informers_ = std::make_unique<k8s::SharedInformers>(
        registry_ != nullptr ? registry_ : owned_registry_.get(), pool_options);
    informers = owned_informers_.get();
  }
  // A shared informer that has listed already replays its objects and the sync right here.
  for (size_t index = 0; index < wanted.size(); ++index) {
    const Kind k = wanted[index].first;
    k8s::InformerHandlers h;
    h.on_added = [this, k](const k8s::ObjectRef& o) { OnEvent(k, nullptr, &o, "add"); };
    h.on_updated = [this, k](const k8s::ObjectRef& old_obj, const k8s::ObjectRef& new_obj) {
      OnEvent(k, &old_obj, &new_obj, "update");
    };
    h.on_deleted = [this, k](const k8s::ObjectRef& o) { OnEvent(k, &o, nullptr, "delete"); };
    h.on_synced = [this, index] { OnSynced(index); };
    absl::StatusOr<std::unique_ptr<k8s::SharedInformers::Subscription>> sub =
        informers->Subscribe(kc, client_options, wanted[index].second, std::move(h));
    if (!sub.ok()) {
      Shutdown();
      subscriptions_.clear();
      return sub.status();
    }
    subscriptions_.push_back(*std::move(sub));
  }
  log::Info("discovery", "kubernetes discovery started",
            {{"role", config_.role},
             {"server", kc.cluster.server},
             {"resources", absl::StrJoin(paths_, " ")}});
  return absl::OkStatus();
}

void KubernetesDiscoverer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (reporter_.joinable()) {
    reporter_.join();
  }
  // Handlers take mu_, so subscriptions end without it; none of ours runs after this.
  subscriptions_.clear();
  owned_informers_.reset();
}

void KubernetesDiscoverer::OnEvent(Kind kind, const k8s::ObjectRef* old_obj,
                                   const k8s::ObjectRef* new_obj, const char* event) {
  events_->Add({{"role", kKindRole[kind]}, {"event", event}}).Increment();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) {
    return;
  }
  const k8s::Object& obj = new_obj != nullptr ? **new_obj : **old_obj;
  if (new_obj != nullptr) {
    stores_[kind][obj.key] = *new_obj;
  } else {
    stores_[kind].erase(obj.key);
  }
  // Until every informer has listed only the stores fill; OnSynced then builds every group
  // once. (Rebuilding a namespace's endpoints for each of its pods as 10k pods are listed is
  // quadratic: minutes of CPU.)
  if (!all_synced_) {
    return;
  }
  RefreshLocked(kind, obj);
  MarkDirtyLocked();
}

void KubernetesDiscoverer::OnSynced(size_t informer_index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || informer_index >= synced_.size()) {
    return;
  }
  synced_[informer_index] = true;
  if (!all_synced_ && std::all_of(synced_.begin(), synced_.end(), [](bool b) { return b; })) {
    all_synced_ = true;
    // The first build of every group, now that every object it may draw on is known.
    for (const auto& [key, obj] : stores_[PrimaryKind()]) {
      RebuildLocked(*obj);
    }
    MarkDirtyLocked();
  }
}

void KubernetesDiscoverer::RefreshLocked(Kind kind, const k8s::Object& obj) {
  const Kind primary = PrimaryKind();
  if (kind == primary) {
    RebuildLocked(obj);
    return;
  }
  auto rebuild_if = [&](auto pred) {
    for (const auto& [key, p] : stores_[primary]) {
      if (pred(*p)) {
        RebuildLocked(*p);
      }
    }
  };
  switch (kind) {
    case kService:
      if (primary == kEndpoints) {
        rebuild_if([&](const k8s::Object& p) { return p.key == obj.key; });
      } else {
        rebuild_if([&](const k8s::Object& p) {
          if (p.namespace_ != obj.namespace_) return false;
          const auto& md = (*p.json)["metadata"];
          if (!md.HasMember("labels") || !md["labels"].IsObject()) return false;
          auto it = md["labels"].FindMember("kubernetes.io/service-name");
          return it != md["labels"].MemberEnd() && it->value.IsString() &&
                 obj.name == it->value.GetString();
        });
      }
      break;
    case kPod:
      // Only the endpoints(lices) whose addresses point at this pod draw on it.
      rebuild_if([&](const k8s::Object& p) {
        return ReferencesPod(*p.json, p.namespace_, obj.namespace_, obj.name);
      });
      break;
    case kNode:
      if (primary == kPod) {
        rebuild_if([&](const k8s::Object& p) {
          const auto& doc = *p.json;
          return doc.HasMember("spec") && doc["spec"].IsObject() &&
                 doc["spec"].HasMember("nodeName") && doc["spec"]["nodeName"].IsString() &&
                 obj.name == doc["spec"]["nodeName"].GetString();
        });
      } else {
        rebuild_if([](const k8s::Object&) { return true; });
      }
      break;
    case kNamespace:
      rebuild_if([&](const k8s::Object& p) { return p.namespace_ == obj.name; });
      break;
    default:
      break;
  }
}

void KubernetesDiscoverer::RebuildLocked(const k8s::Object& primary) {
  const Kind kind = PrimaryKind();
  auto it = stores_[kind].find(primary.key);
  if (it == stores_[kind].end()) {
    groups_.erase(kube::GroupSource(config_.role, primary.namespace_, primary.name));
    return;
  }
  auto find = [this](Kind k, std::string key) -> const rapidjson::Value* {
    auto f = stores_[k].find(key);
    return f == stores_[k].end() ? nullptr : f->second->json.get();
  };
  kube::Lookups lookups;
  lookups.pod = [&](std::string_view ns, std::string_view name) {
    return find(kPod, absl::StrCat(ToAbsl(ns), "/", ToAbsl(name)));
  };
  lookups.service = [&](std::string_view ns, std::string_view name) {
    return find(kService, absl::StrCat(ToAbsl(ns), "/", ToAbsl(name)));
  };
  if (config_.attach_node_metadata) {
    lookups.node = [&](std::string_view name) { return find(kNode, std::string(name)); };
  }
  if (config_.attach_namespace_metadata) {
    lookups.namespace_ = [&](std::string_view name) { return find(kNamespace, std::string(name)); };
  }
  const rapidjson::Value& json = *it->second->json;
  TargetGroup g;
  switch (kind) {
    case kNode:
      g = kube::BuildNodeGroup(json);
      break;
    case kPod:
      g = kube::BuildPodGroup(json, lookups);
      break;
    case kService:
      g = kube::BuildServiceGroup(json, lookups);
      break;
    case kEndpoints:
      g = kube::BuildEndpointsGroup(json, lookups);
      break;
    case kEndpointSlice:
      g = kube::BuildEndpointSliceGroup(json, lookups);
      break;
    default:
      g = kube::BuildIngressGroup(json, lookups);
      break;
  }
  // An unchanged group keeps its object, so receivers can keep what they built from it.
  auto& slot = groups_[g.source];
  if (slot == nullptr || !(*slot == g)) slot = std::make_shared<const TargetGroup>(std::move(g));
}

void KubernetesDiscoverer::MarkDirtyLocked() {
  dirty_ = true;
  cv_.notify_all();
}

void KubernetesDiscoverer::ReportLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopped_ || dirty_; });
    // Let the burst this change belongs to finish, so it becomes one report.
    cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.report_delay),
                 [this] { return stopped_; });
    if (stopped_) {
      return;
    }
    dirty_ = false;
    // Only this thread reports, so releasing the lock cannot reorder reports; informer
    // threads go on applying events while the targets are rebuilt.
    if (options_.on_shared_change) {
      std::vector<std::shared_ptr<const TargetGroup>> all;
      all.reserve(groups_.size());
      for (const auto& [source, g] : groups_) all.push_back(g);
      lock.unlock();
      options_.on_shared_change(std::move(all));
    } else {
      std::vector<TargetGroup> all;
      all.reserve(groups_.size());
      for (const auto& [source, g] : groups_) all.push_back(*g);
      lock.unlock();
      on_change_(std::move(all));
    }
    lock.lock();
  }
}

}  // namespace tender::discovery
