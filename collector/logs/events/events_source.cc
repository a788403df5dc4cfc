#include "collector/logs/events/events_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/discovery/kubernetes/kubernetes_discoverer.h"
#include "collector/logs/file/file_tailer.h"
#include "collector/model/absl_compat.h"
#include "collector/model/labels.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace tender::logs {
namespace {

constexpr char kComponent[] = "logs/events";

const rapidjson::Value* Member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const rapidjson::Value* obj, const char* key) {
  if (obj == nullptr) return {};
  const rapidjson::Value* v = Member(*obj, key);
  if (v == nullptr || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}

int64_t Int(const rapidjson::Value* obj, const char* key) {
  if (obj == nullptr) return 0;
  const rapidjson::Value* v = Member(*obj, key);
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

// metav1.Time ("2024-01-02T03:04:05Z") or MicroTime ("...05.123456Z"); 0 when absent or bad.
int64_t ParseTimeNs(const std::string& text) {
  if (text.empty()) return 0;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, ToAbsl(text), &t, &err)) return 0;
  return absl::ToUnixNanos(t);
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '=' || c == '"' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<EventFields> ExtractEventFields(const rapidjson::Value& event) {
  const rapidjson::Value* md = Member(event, "metadata");
  EventFields f;
  f.uid = Str(md, "uid");
  if (f.uid.empty()) return absl::InvalidArgumentError("event without metadata.uid");
  f.namespace_ = Str(md, "namespace");
  const rapidjson::Value* involved = Member(event, "involvedObject");
  if (involved == nullptr) involved = Member(event, "regarding");  // events.k8s.io/v1 name.
  f.kind = Str(involved, "kind");
  f.name = Str(involved, "name");
  f.reason = Str(&event, "reason");
  f.type = Str(&event, "type");
  f.message = Str(&event, "message");
  if (f.message.empty()) f.message = Str(&event, "note");
  const rapidjson::Value* source = Member(event, "source");
  std::string component = Str(source, "component");
  if (component.empty()) component = Str(&event, "reportingComponent");
  if (component.empty()) component = Str(&event, "reportingController");
  std::string host = Str(source, "host");
  if (host.empty()) host = Str(&event, "reportingInstance");
  f.source = host.empty() ? component : absl::StrCat(component, "/", host);
  f.count = Int(&event, "count");
  if (f.count <= 0) f.count = Int(Member(event, "series"), "count");
  if (f.count <= 0) f.count = 1;
  for (const char* key : {"lastTimestamp", "eventTime", "firstTimestamp"}) {
    f.timestamp_ns = ParseTimeNs(Str(&event, key));
    if (f.timestamp_ns != 0) break;
  }
  if (f.timestamp_ns == 0) f.timestamp_ns = ParseTimeNs(Str(md, "creationTimestamp"));
  return f;
}

void AppendLogfmt(std::string* out, std::string_view key, std::string_view value,
                  bool force_quotes) {
  if (!out->empty()) out->push_back(' ');
  out->append(key);
  out->push_back('=');
  if (!force_quotes && !NeedsQuotes(value)) {
    out->append(value);
    return;
  }
  out->push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string EventLogLine(const EventFields& e) {
  std::string line;
  AppendLogfmt(&line, "kind", e.kind);
  AppendLogfmt(&line, "name", e.name);
  AppendLogfmt(&line, "namespace", e.namespace_);
  AppendLogfmt(&line, "reason", e.reason);
  AppendLogfmt(&line, "type", e.type);
  AppendLogfmt(&line, "count", absl::StrCat(e.count));
  AppendLogfmt(&line, "message", e.message, /*force_quotes=*/true);
  AppendLogfmt(&line, "source", e.source);
  return line;
}

// ---------------------------------------------------------------------------------------------
// DeliveredEvents. Journal lines: `+ <uid> <count> <timestamp_ns>`, `- <uid>`, `rv <version>`.

DeliveredEvents::DeliveredEvents(std::string path) : path_(std::move(path)) {}

DeliveredEvents::~DeliveredEvents() {
  if (fd_ >= 0) close(fd_);
}

absl::Status DeliveredEvents::Load() {
  if (path_.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the directory of ", path_, ": ", ec.message()));
  }
  std::ifstream in(path_, std::ios::binary);
  if (in) {
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    size_t start = 0;
    while (start < text.size()) {
      const size_t nl = text.find('\n', start);
      if (nl == std::string::npos) break;  // A torn last line: the write never finished.
      std::vector<std::string> parts =
          absl::StrSplit(ToAbsl(std::string_view(text).substr(start, nl - start)), ' ');
      start = nl + 1;
      Delivery d;
      if (parts.size() == 4 && parts[0] == "+" && absl::SimpleAtoi(parts[2], &d.count) &&
          absl::SimpleAtoi(parts[3], &d.timestamp_ns)) {
        delivered_[parts[1]] = d;
      } else if (parts.size() == 2 && parts[0] == "-") {
        delivered_.erase(parts[1]);
      } else if (parts.size() == 2 && parts[0] == "rv") {
        resource_version_ = parts[1];
      }
      ++journal_lines_;
    }
  }
  if (fd_ >= 0) close(fd_);
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path_, ": ", std::strerror(errno)));
  }
  // A torn last line is cut off so that the next line starts on its own.
  const off_t size = lseek(fd_, 0, SEEK_END);
  if (size > 0 && in) {
    std::ifstream again(path_, std::ios::binary);
    again.seekg(size - 1);
    char last = '\n';
    again.get(last);
    if (last != '\n' && write(fd_, "\n", 1) != 1) {
      return absl::UnavailableError(absl::StrCat("cannot write ", path_));
    }
  }
  return absl::OkStatus();
}

bool DeliveredEvents::Delivered(const std::string& uid, int64_t count, int64_t timestamp_ns) const {
  auto it = delivered_.find(uid);
  return it != delivered_.end() && it->second.count == count &&
         it->second.timestamp_ns == timestamp_ns;
}

void DeliveredEvents::Append(const std::string& line) {
  ++journal_lines_;
  if (fd_ < 0) return;
  // One write(2) per line: once it returns, a kill -9 of this process cannot lose it.
  if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    static log::Throttle throttle(absl::Seconds(30));
    if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
      log::Warn(kComponent, "cannot append to the delivery record",
                {{"path", path_}, {"error", std::strerror(errno)}});
    }
  }
}

void DeliveredEvents::Record(const std::string& uid, int64_t count, int64_t timestamp_ns) {
  delivered_[uid] = Delivery{count, timestamp_ns};
  Append(absl::StrCat("+ ", uid, " ", count, " ", timestamp_ns, "\n"));
}

void DeliveredEvents::Forget(const std::string& uid) {
  if (delivered_.erase(uid) > 0) Append(absl::StrCat("- ", uid, "\n"));
}

absl::Status DeliveredEvents::Compact(absl::Time cutoff,
                                      const absl::flat_hash_set<std::string>* live) {
  const int64_t cutoff_ns = absl::ToUnixNanos(cutoff);
  for (auto it = delivered_.begin(); it != delivered_.end();) {
    const bool is_live = live != nullptr && live->contains(it->first);
    if (!is_live && it->second.timestamp_ns < cutoff_ns) {
      delivered_.erase(it++);
    } else {
      ++it;
    }
  }
  journal_lines_ = delivered_.size() + (resource_version_.empty() ? 0 : 1);
  if (path_.empty()) return absl::OkStatus();
  std::string text;
  if (!resource_version_.empty()) absl::StrAppend(&text, "rv ", resource_version_, "\n");
  for (const auto& [uid, d] : delivered_) {
    absl::StrAppend(&text, "+ ", uid, " ", d.count, " ", d.timestamp_ns, "\n");
  }
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", std::strerror(errno)));
  }
  if (fd_ >= 0) close(fd_);
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// EventsSource.

struct EventsSource::Metrics {
  prometheus::Counter* sent;
  prometheus::Counter* duplicate;
  prometheus::Counter* deleted;
  prometheus::Counter* malformed;
  prometheus::Counter* lists;
  prometheus::Counter* watches;
  prometheus::Counter* expired;
  prometheus::Counter* errors;
  prometheus::Counter* watch_events;

  Metrics(prometheus::Registry& r, const std::string& job) {
    auto& events = prometheus::BuildCounter()
                       .Name("tender_logs_events_total")
                       .Help(
                           "Kubernetes events handled, by outcome: sent (a new or changed "
                           "event went to Loki), duplicate (already delivered), deleted "
                           "(forgotten), malformed (no uid).")
                       .Register(r);
    sent = &events.Add({{"job", job}, {"outcome", "sent"}});
    duplicate = &events.Add({{"job", job}, {"outcome", "duplicate"}});
    deleted = &events.Add({{"job", job}, {"outcome", "deleted"}});
    malformed = &events.Add({{"job", job}, {"outcome", "malformed"}});
    auto counter = [&](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({{"job", job}});
    };
    lists = counter("tender_logs_events_lists_total", "Completed lists of events (all pages).");
    watches = counter("tender_logs_events_watches_total", "Watch requests started for events.");
    expired = counter("tender_logs_events_watch_expired_total",
                      "410 Gone answers (HTTP or ERROR event) that forced a re-list of events.");
    errors = counter("tender_logs_events_request_errors_total",
                     "Failed list or watch requests for events (410 excluded).");
    watch_events = counter("tender_logs_events_watch_events_total",
                           "Watch events applied, bookmarks included.");
  }
};

EventsSource::EventsSource(Settings settings)
    : settings_(std::move(settings)), delivered_(settings_.state_path) {
  prometheus::Registry* registry = settings_.registry;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<prometheus::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(*registry, settings_.config.job_name);
}

EventsSource::~EventsSource() { Shutdown(); }

absl::Status EventsSource::LoadForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(delivered_.Load());
  loaded_ = true;
  return absl::OkStatus();
}

absl::Status EventsSource::Start() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (started_ || stop_) return absl::FailedPreconditionError("events source already started");
    started_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_) {
      RETURN_IF_ERROR(delivered_.Load());
      loaded_ = true;
    }
  }
  const config::EventsLogConfig& c = settings_.config;
  config::KubernetesSdConfig sd;
  sd.api_server = c.api_server;
  sd.kubeconfig_file = c.kubeconfig_file;
  sd.http = c.http;
  sd.proxy_url = c.proxy_url;
  ASSIGN_OR_RETURN(k8s::KubeConfig kc, discovery::KubeConfigFor(
                                           sd, settings_.service_account_dir.empty()
                                                   ? "/var/run/secrets/kubernetes.io/serviceaccount"
                                                   : settings_.service_account_dir));
  k8s::RestClientOptions client_options;
  client_options.enable_http2 = c.enable_http2;
  client_options.follow_redirects = !c.api_server.empty() && c.follow_redirects;
  ASSIGN_OR_RETURN(client_, k8s::RestClient::Create(kc, client_options));

  std::vector<std::string> paths;
  if (c.namespaces.empty()) {
    paths.push_back("/api/v1/events");
  } else {
    for (const std::string& ns : c.namespaces) {
      paths.push_back(absl::StrCat("/api/v1/namespaces/", ns, "/events"));
    }
  }
  for (const std::string& path : paths) {
    k8s::InformerOptions opts;
    opts.path = path;
    opts.watch_timeout = settings_.watch_timeout;
    k8s::InformerHandlers h;
    h.on_added = [this](const k8s::ObjectRef& obj) { HandleEvent(*obj->json); };
    h.on_updated = [this](const k8s::ObjectRef&, const k8s::ObjectRef& obj) {
      HandleEvent(*obj->json);
    };
    h.on_deleted = [this](const k8s::ObjectRef& obj) { HandleDeleted(*obj->json); };
    informers_.push_back(std::make_unique<k8s::Informer>(client_.get(), opts, std::move(h)));
  }
  published_.assign(informers_.size(), k8s::InformerStats{});
  for (auto& inf : informers_) inf->Start();
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  log::Info(kComponent, "watching kubernetes events",
            {{"job", c.job_name}, {"server", kc.cluster.server}});
  return absl::OkStatus();
}

void EventsSource::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_) return;
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  for (auto& inf : informers_) inf->Shutdown();
  PublishInformerStats();
  std::lock_guard<std::mutex> lock(mu_);
  if (loaded_) CompactLocked(/*force=*/true);
}

void EventsSource::HandleEvent(const rapidjson::Value& event) {
  absl::StatusOr<EventFields> f = ExtractEventFields(event);
  if (!f.ok()) {
    metrics_->malformed->Increment();
    static log::Throttle throttle(absl::Seconds(30));
    if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
      log::Warn(
          kComponent, "skipping an event",
          {{"error", FromAbsl(f.status().message())}, {"suppressed", absl::StrCat(suppressed)}});
    }
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const rapidjson::Value* md = Member(event, "metadata");
  if (std::string rv = Str(md, "resourceVersion"); !rv.empty()) delivered_.SetResourceVersion(rv);
  if (delivered_.Delivered(f->uid, f->count, f->timestamp_ns)) {
    metrics_->duplicate->Increment();
    return;
  }
  model::LogEntry entry;
  model::Labels labels = settings_.config.labels;
  model::Set(labels, "job", settings_.config.job_name);
  model::Set(labels, "namespace", f->namespace_);
  model::Set(labels, "kind", f->kind);
  model::Set(labels, "type", f->type);
  entry.labels = model::ToString(labels);
  entry.timestamp_ns = f->timestamp_ns != 0 ? f->timestamp_ns : absl::ToUnixNanos(Now());
  entry.line = EventLogLine(*f);
  SanitizeUtf8(&entry.line);
  std::vector<model::LogEntry> batch;
  batch.push_back(std::move(entry));
  if (settings_.sink) settings_.sink(std::move(batch));
  // Recorded only once the sink (the Loki exporters' batches) holds the line.
  delivered_.Record(f->uid, f->count, f->timestamp_ns);
  metrics_->sent->Increment();
}

void EventsSource::HandleDeleted(const rapidjson::Value& event) {
  std::string uid = Str(Member(event, "metadata"), "uid");
  if (uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  delivered_.Forget(uid);
  metrics_->deleted->Increment();
}

void EventsSource::CompactLocked(bool force) {
  if (!force && delivered_.journal_lines() <= 2 * delivered_.size() + 1000) return;
  absl::flat_hash_set<std::string> live;
  bool synced = true;
  for (const auto& inf : informers_) {
    synced = synced && inf->HasSynced();
    for (const k8s::ObjectRef& obj : inf->Store()) live.insert(obj->uid);
  }
  // Until every list has completed, an event missing from the stores may still exist: keep
  // every record then.
  const absl::Time cutoff = synced ? Now() - settings_.event_ttl : absl::InfinitePast();
  if (absl::Status s = delivered_.Compact(cutoff, &live); !s.ok()) {
    static log::Throttle throttle(absl::Seconds(60));
    if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
      log::Warn(kComponent, "cannot rewrite the delivery record",
                {{"error", FromAbsl(s.message())}});
    }
  }
}

void EventsSource::PublishInformerStats() {
  for (size_t i = 0; i < informers_.size() && i < published_.size(); ++i) {
    const k8s::InformerStats st = informers_[i]->Stats();
    k8s::InformerStats& p = published_[i];
    auto add = [](prometheus::Counter* c, int64_t value, int64_t* seen) {
      if (value > *seen) c->Increment(static_cast<double>(value - *seen));
      *seen = value;
    };
    add(metrics_->lists, st.lists, &p.lists);
    add(metrics_->watches, st.watches, &p.watches);
    add(metrics_->expired, st.expired, &p.expired);
    add(metrics_->errors, st.errors, &p.errors);
    add(metrics_->watch_events, st.events, &p.events);
  }
}

void EventsSource::MaintenanceLoop() {
  std::unique_lock<std::mutex> stop_lock(stop_mu_);
  while (!stop_cv_.wait_for(stop_lock, absl::ToChronoMilliseconds(settings_.maintenance_interval),
                            [this] { return stop_; })) {
    stop_lock.unlock();
    PublishInformerStats();
    {
      std::lock_guard<std::mutex> lock(mu_);
      CompactLocked(/*force=*/false);
    }
    stop_lock.lock();
  }
}

}  // namespace tender::logs
