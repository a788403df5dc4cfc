#include "collector/logs/kubernetes/pod_log_source.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/discovery/kubernetes/kubernetes_discoverer.h"
#include "collector/k8s/rest_client.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"
#include "rapidjson/document.h"

namespace tender::logs {
namespace {

constexpr std::string_view kMeta = "__meta_kubernetes_";

std::string Meta(const model::Labels& labels, std::string_view name) {
  return std::string(model::Get(labels, absl::StrCat(ToAbsl(kMeta), ToAbsl(name))));
}

// The containerID the pod's status gives `container` ("" while it has not started).
std::string ContainerIdOf(const rapidjson::Document& pod, const std::string& container) {
  if (!pod.IsObject() || !pod.HasMember("status") || !pod["status"].IsObject()) return "";
  const rapidjson::Value& status = pod["status"];
  for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
    if (!status.HasMember(list) || !status[list].IsArray()) continue;
    for (const auto& cs : status[list].GetArray()) {
      if (!cs.IsObject() || !cs.HasMember("name") || !cs["name"].IsString()) continue;
      if (container != cs["name"].GetString()) continue;
      if (cs.HasMember("containerID") && cs["containerID"].IsString()) {
        return cs["containerID"].GetString();
      }
      return "";
    }
  }
  return "";
}

}  // namespace

std::map<std::string, PodLogTarget> PodLogTargets(const std::vector<discovery::TargetGroup>& groups,
                                                  const std::string& job_name,
                                                  const relabel::Relabeler& relabeler) {
  std::map<std::string, PodLogTarget> out;
  std::set<std::string> seen;
  for (const discovery::TargetGroup& g : groups) {
    for (size_t i = 0; i < g.targets.size(); ++i) {
      model::Labels labels = g.labels;
      if (i < g.target_labels.size()) {
        for (const model::Label& l : g.target_labels[i]) model::Set(labels, l.name, l.value);
      }
      model::Set(labels, model::kAddressLabel, g.targets[i]);
      PodLogTarget t;
      t.ns = Meta(labels, "namespace");
      t.pod = Meta(labels, "pod_name");
      t.container = Meta(labels, "pod_container_name");
      t.container_id = Meta(labels, "pod_container_id");
      t.init = Meta(labels, "pod_container_init") == "true";
      if (t.ns.empty() || t.pod.empty() || t.container.empty()) continue;
      const std::string key = absl::StrCat(t.ns, "/", t.pod, "/", t.container);
      // One stream per container, whatever its number of ports.
      if (!seen.insert(key).second) continue;
      if (t.container_id.empty()) continue;  // Not started yet: no log to read.
      std::string app = Meta(labels, "pod_label_app_kubernetes_io_name");
      if (app.empty()) app = Meta(labels, "pod_label_app");
      model::Set(labels, "job", job_name);
      model::Set(labels, "namespace", t.ns);
      model::Set(labels, "pod", t.pod);
      model::Set(labels, "container", t.container);
      model::Set(labels, "node", Meta(labels, "pod_node_name"));
      model::Set(labels, "app", app);
      if (!relabeler.Apply(labels)) continue;
      for (model::Label& l : labels) {
        if (!absl::StartsWith(l.name, "__")) t.labels.push_back(std::move(l));
      }
      if (t.labels.empty()) continue;  // Loki needs at least one label.
      out.emplace(key, std::move(t));
    }
  }
  return out;
}

struct PodLogSource::Metrics {
  prometheus::Gauge* streams;
  prometheus::Gauge* waiting;
  prometheus::Counter* lines;
  prometheus::Counter* bytes;
  prometheus::Counter* reconnects;
  prometheus::Counter* duplicates;
  prometheus::Counter* truncated;
  prometheus::Counter* invalid_utf8;
  prometheus::Counter* rate_limited;
  prometheus::Counter* errors;
  prometheus::Gauge* lag;

  Metrics(prometheus::Registry& r, const std::string& job) {
    const std::map<std::string, std::string> l = {{"job", job}};
    auto counter = [&](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add(l);
    };
    auto gauge = [&](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add(l);
    };
    streams = gauge("tender_logs_kubernetes_streams", "Container log streams being followed.");
    waiting = gauge("tender_logs_kubernetes_streams_waiting",
                    "Containers not followed because max_streams streams are open.");
    lines = counter("tender_logs_kubernetes_lines_total",
                    "Container log lines handed to the Loki exporters.");
    bytes = counter("tender_logs_kubernetes_bytes_total",
                    "Bytes of the container log lines handed to the Loki exporters.");
    reconnects = counter("tender_logs_kubernetes_reconnects_total",
                         "Log requests made again after a stream ended or broke.");
    duplicates = counter("tender_logs_kubernetes_skipped_duplicate_lines_total",
                         "Lines a reconnect sent again that the cursor had delivered (skipped).");
    truncated = counter("tender_logs_kubernetes_truncated_lines_total",
                        "Lines longer than max_line_size, cut to it.");
    invalid_utf8 = counter("tender_logs_kubernetes_invalid_utf8_lines_total",
                           "Lines whose ill-formed UTF-8 was replaced with U+FFFD.");
    rate_limited = counter("tender_logs_kubernetes_rate_limited_seconds_total",
                           "Time streams waited for the per-stream rate limit.");
    errors = counter("tender_logs_kubernetes_errors_total",
                     "Failed pod or log requests, unparsable lines and cursor writes.");
    lag = gauge("tender_logs_kubernetes_cursor_lag_seconds",
                "Largest delay, over the streams, between a line's timestamp and its hand-over.");
  }
};

struct PodLogSource::Stream {
  std::string key;
  PodLogTarget target;   // mu_.
  std::string selector;  // model::ToString(target.labels); mu_.
  bool done = false;     // mu_: the thread has finished.
  bool gone = false;     // The pod is gone (404).
  std::atomic<bool> cancel{false};
  std::thread thread;
  PodLogCursor working;  // Stream thread only.
  LineSplitter splitter;
  uint64_t truncated_seen = 0;
  uint64_t invalid_seen = 0;
  double tokens = 0;
  absl::Time refilled;
  std::atomic<int64_t> lag_ns{0};

  explicit Stream(int64_t max_line_size) : splitter(max_line_size) {}
};

PodLogSource::PodLogSource(Settings settings) : settings_(std::move(settings)) {
  prometheus::Registry* registry = settings_.registry;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<prometheus::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(*registry, settings_.config.job_name);
}

PodLogSource::~PodLogSource() { Shutdown(); }

absl::Status PodLogSource::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return absl::FailedPreconditionError("pod log source started twice");
    started_ = true;
  }
  ASSIGN_OR_RETURN(relabeler_, relabel::Relabeler::Compile(settings_.config.relabel_configs));
  if (!settings_.cursors_path.empty()) {
    std::ifstream in(settings_.cursors_path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      absl::StatusOr<std::map<std::string, PodLogCursor>> loaded = ParseCursors(ss.str());
      if (loaded.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        cursors_ = std::move(*loaded);
      } else {
        log::Error(
            "logs.kubernetes", "cannot read the cursors; containers are read from the start",
            {{"path", settings_.cursors_path}, {"err", FromAbsl(loaded.status().message())}});
      }
    }
  }
  client_ = settings_.client;
  if (client_ == nullptr) {
    if (settings_.config.kubernetes_sd_configs.empty()) {
      return absl::InvalidArgumentError("logs.kubernetes: no kubernetes_sd_configs");
    }
    const std::string sa_dir = settings_.service_account_dir.empty()
                                   ? std::string(k8s::kServiceAccountDir)
                                   : settings_.service_account_dir;
    ASSIGN_OR_RETURN(k8s::KubeConfig kc,
                     discovery::KubeConfigFor(settings_.config.kubernetes_sd_configs[0], sa_dir));
    ASSIGN_OR_RETURN(std::unique_ptr<k8s::RestClient> client, k8s::RestClient::Create(kc));
    client_ = std::move(client);
  }
  housekeeping_ = std::thread([this] { Housekeeping(); });
  if (settings_.discover) {
    const size_t n = settings_.config.kubernetes_sd_configs.size();
    auto per_sd = std::make_shared<std::vector<std::vector<discovery::TargetGroup>>>(n);
    auto per_sd_mu = std::make_shared<std::mutex>();
    for (size_t i = 0; i < n; ++i) {
      discovery::KubernetesDiscoverer::Options options;
      if (!settings_.service_account_dir.empty()) {
        options.service_account_dir = settings_.service_account_dir;
      }
      auto d = std::make_unique<discovery::KubernetesDiscoverer>(
          settings_.config.kubernetes_sd_configs[i],
          [this, i, per_sd, per_sd_mu](std::vector<discovery::TargetGroup> groups) {
            std::vector<discovery::TargetGroup> all;
            {
              std::lock_guard<std::mutex> lock(*per_sd_mu);
              (*per_sd)[i] = std::move(groups);
              for (const auto& g : *per_sd) all.insert(all.end(), g.begin(), g.end());
            }
            OnTargets(std::move(all));
          },
          nullptr, options);
      RETURN_IF_ERROR(d->Start());
      discoverers_.push_back(std::move(d));
    }
  }
  return absl::OkStatus();
}

void PodLogSource::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& d : discoverers_) d->Shutdown();
  std::map<std::string, std::unique_ptr<Stream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams.swap(streams_);
    for (auto& [key, s] : streams) s->cancel = true;
  }
  cv_.notify_all();
  for (auto& [key, s] : streams) {
    if (s->thread.joinable()) s->thread.join();
  }
  if (housekeeping_.joinable()) housekeeping_.join();
  if (absl::Status st = SaveCursors(); !st.ok()) {
    log::Error("logs.kubernetes", "cannot write the cursors", {{"err", FromAbsl(st.message())}});
  }
}

void PodLogSource::OnTargets(std::vector<discovery::TargetGroup> groups) {
  std::map<std::string, PodLogTarget> targets =
      PodLogTargets(groups, settings_.config.job_name, relabeler_);
  std::vector<std::unique_ptr<Stream>> stopped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    wanted_ = std::move(targets);
    for (auto it = streams_.begin(); it != streams_.end();) {
      auto w = wanted_.find(it->first);
      if (w == wanted_.end()) {
        it->second->cancel = true;
        stopped.push_back(std::move(it->second));
        it = streams_.erase(it);
        continue;
      }
      it->second->target = w->second;
      it->second->selector = model::ToString(w->second.labels);
      ++it;
    }
    StartStreamsLocked();
  }
  cv_.notify_all();
  for (auto& s : stopped) {
    if (s->thread.joinable()) s->thread.join();
  }
}

void PodLogSource::StartStreamsLocked() {
  size_t waiting = 0;
  for (const auto& [key, target] : wanted_) {
    if (streams_.count(key) > 0) continue;
    if (streams_.size() >= static_cast<size_t>(settings_.config.max_streams)) {
      ++waiting;
      continue;
    }
    auto s = std::make_unique<Stream>(settings_.config.max_line_size);
    s->key = key;
    s->target = target;
    s->selector = model::ToString(target.labels);
    auto c = cursors_.find(key);
    if (c != cursors_.end()) s->working = c->second;
    s->tokens = static_cast<double>(settings_.config.burst);
    s->refilled = absl::Now();
    Stream* raw = s.get();
    streams_.emplace(key, std::move(s));
    raw->thread = std::thread([this, raw] { RunStream(raw); });
  }
  metrics_->streams->Set(static_cast<double>(streams_.size()));
  metrics_->waiting->Set(static_cast<double>(waiting));
  if (waiting > 0) {
    static log::Throttle throttle(absl::Minutes(1));
    if (uint64_t suppressed; throttle.Allow(&suppressed)) {
      log::Warn("logs.kubernetes", "max_streams reached; some containers wait",
                {{"job", settings_.config.job_name}, {"waiting", absl::StrCat(waiting)}});
    }
  }
}

bool PodLogSource::SleepFor(Stream* s, absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoMilliseconds(d), [s] { return s->cancel.load(); });
  return !s->cancel;
}

void PodLogSource::RunStream(Stream* s) {
  absl::Duration backoff = settings_.min_backoff;
  std::string ns, pod, container;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ns = s->target.ns;
    pod = s->target.pod;
    container = s->target.container;
  }
  const std::string pod_path = absl::StrCat("/api/v1/namespaces/", ns, "/pods/", pod);
  static log::Throttle throttle(absl::Seconds(10));
  auto warn = [&](std::string_view what, const absl::Status& st) {
    metrics_->errors->Increment();
    if (uint64_t suppressed; throttle.Allow(&suppressed)) {
      log::Warn("logs.kubernetes", what,
                {{"stream", s->key},
                 {"err", FromAbsl(st.message())},
                 {"suppressed", absl::StrCat(suppressed)}});
    }
  };
  auto grow = [&] { backoff = std::min(backoff * 2, settings_.max_backoff); };
  bool first = true;
  while (!s->cancel) {
    if (!first) metrics_->reconnects->Increment();
    first = false;
    // The pod as the API server has it now: which instance of the container runs.
    absl::StatusOr<k8s::Response> resp = client_->Get(pod_path);
    if (!resp.ok()) {
      if (resp.status().code() == absl::StatusCode::kNotFound) {
        s->gone = true;
        break;
      }
      warn("cannot read the pod", resp.status());
      if (!SleepFor(s, backoff)) break;
      grow();
      continue;
    }
    rapidjson::Document doc;
    doc.Parse(resp->body.data(), resp->body.size());
    const std::string id = ContainerIdOf(doc, container);
    if (id.empty()) {  // Waiting to start (again).
      if (!SleepFor(s, backoff)) break;
      grow();
      continue;
    }
    bool delivered = false;
    if (!s->working.container_id.empty() && s->working.container_id != id) {
      // Restarted: what the old instance wrote after the cursor is in `previous`.
      absl::Status st = ReadLog(s, /*previous=*/true, /*follow=*/false, &delivered);
      if (s->cancel) break;
      if (st.code() == absl::StatusCode::kNotFound) {
        s->gone = true;
        break;
      }
      if (!st.ok() && st.code() != absl::StatusCode::kInvalidArgument) {
        // 400 means no previous instance is kept: nothing to drain. Anything else: retry.
        warn("cannot read the previous container's log", st);
        if (!SleepFor(s, backoff)) break;
        grow();
        continue;
      }
    }
    if (s->working.container_id != id) {
      s->working.container_id = id;
      std::lock_guard<std::mutex> lock(mu_);
      cursors_[s->key].container_id = id;
      cursors_dirty_ = true;
    }
    absl::Status st = ReadLog(s, /*previous=*/false, /*follow=*/true, &delivered);
    if (s->cancel) break;
    if (st.code() == absl::StatusCode::kNotFound) {
      s->gone = true;
      break;
    }
    if (!st.ok()) warn("log stream broke", st);
    if (delivered) backoff = settings_.min_backoff;
    if (!SleepFor(s, backoff)) break;
    if (!delivered) grow();
  }
  std::lock_guard<std::mutex> lock(mu_);
  s->done = true;
  cv_.notify_all();
}

absl::Status PodLogSource::ReadLog(Stream* s, bool previous, bool follow, bool* delivered) {
  std::string path, container;
  {
    std::lock_guard<std::mutex> lock(mu_);
    path = absl::StrCat("/api/v1/namespaces/", s->target.ns, "/pods/", s->target.pod, "/log");
    container = s->target.container;
  }
  k8s::Query q = {{"container", container}, {"timestamps", "true"}};
  if (follow) q.emplace_back("follow", "true");
  if (previous) q.emplace_back("previous", "true");
  if (!s->working.empty()) q.emplace_back("sinceTime", SinceTime(s->working.timestamp_ns));
  s->splitter.Reset();
  CursorFilter filter(&s->working);
  std::vector<std::string> lines;
  auto deliver = [&] {
    if (lines.empty()) return;
    std::vector<model::LogEntry> entries;
    std::string selector;
    {
      std::lock_guard<std::mutex> lock(mu_);
      selector = s->selector;
    }
    uint64_t skipped = 0;
    int64_t bytes = 0;
    for (std::string& line : lines) {
      int64_t ts = 0;
      std::string_view text;
      if (!ParseTimestampedLine(line, &ts, &text)) {
        // No timestamp to place it by: sent at the cursor's time, not deduplicated.
        metrics_->errors->Increment();
        ts = s->working.empty() ? absl::ToUnixNanos(absl::Now()) : s->working.timestamp_ns;
        text = line;
      } else if (!filter.Accept(ts, text)) {
        ++skipped;
        continue;
      }
      bytes += static_cast<int64_t>(text.size());
      entries.push_back({selector, ts, std::string(text), ""});
    }
    lines.clear();
    if (skipped > 0) metrics_->duplicates->Increment(static_cast<double>(skipped));
    if (s->splitter.truncated_lines() != s->truncated_seen) {
      metrics_->truncated->Increment(
          static_cast<double>(s->splitter.truncated_lines() - s->truncated_seen));
      s->truncated_seen = s->splitter.truncated_lines();
    }
    if (s->splitter.invalid_utf8_lines() != s->invalid_seen) {
      metrics_->invalid_utf8->Increment(
          static_cast<double>(s->splitter.invalid_utf8_lines() - s->invalid_seen));
      s->invalid_seen = s->splitter.invalid_utf8_lines();
    }
    if (entries.empty()) return;
    // Rate limit: a token bucket per stream; the excess waits here, which slows the read of
    // the stream (TCP backpressure to the API server) and never drops a line.
    const absl::Time now = absl::Now();
    const double rate = settings_.config.lines_per_second;
    s->tokens = std::min(static_cast<double>(settings_.config.burst),
                         s->tokens + absl::ToDoubleSeconds(now - s->refilled) * rate);
    s->refilled = now;
    s->tokens -= static_cast<double>(entries.size());
    if (s->tokens < 0) {
      const absl::Duration wait = absl::Seconds(-s->tokens / rate);
      metrics_->rate_limited->Increment(absl::ToDoubleSeconds(wait));
      SleepFor(s, wait);  // Cancelled: the lines are still handed over below.
    }
    const size_t n = entries.size();
    const int64_t newest = entries.back().timestamp_ns;
    settings_.sink(std::move(entries));
    *delivered = true;
    metrics_->lines->Increment(static_cast<double>(n));
    metrics_->bytes->Increment(static_cast<double>(bytes));
    s->lag_ns = std::max<int64_t>(0, absl::ToUnixNanos(absl::Now()) - newest);
    std::lock_guard<std::mutex> lock(mu_);
    cursors_[s->key] = s->working;
    cursors_dirty_ = true;
  };
  const k8s::RestClient::ChunkHandler on_chunk = [&](std::string_view chunk) {
    s->splitter.Add(chunk, &lines);
    deliver();
    return true;
  };
  absl::Status st = client_->Stream(path, q, on_chunk, &s->cancel,
                                    follow ? absl::ZeroDuration() : absl::Minutes(5));
  if (st.ok() && !s->cancel) {
    // The body is complete: a last line without its newline is whole.
    s->splitter.Finish(&lines);
    deliver();
  }
  return st;
}

void PodLogSource::Housekeeping() {
  while (true) {
    std::vector<std::unique_ptr<Stream>> finished;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(settings_.cursors_interval),
                   [this] { return stopping_; });
      if (stopping_) return;
      for (auto it = streams_.begin(); it != streams_.end();) {
        if (!it->second->done) {
          ++it;
          continue;
        }
        if (it->second->gone) {
          // The pod is gone and its logs with it; discovery brings it back if it is not.
          wanted_.erase(it->first);
          cursors_.erase(it->first);
          cursors_dirty_ = true;
        }
        finished.push_back(std::move(it->second));
        it = streams_.erase(it);
      }
      if (!finished.empty()) StartStreamsLocked();
      int64_t lag = 0;
      for (const auto& [key, s] : streams_) lag = std::max(lag, s->lag_ns.load());
      metrics_->lag->Set(static_cast<double>(lag) / 1e9);
      metrics_->streams->Set(static_cast<double>(streams_.size()));
    }
    for (auto& s : finished) {
      if (s->thread.joinable()) s->thread.join();
    }
    if (absl::Status st = SaveCursors(); !st.ok()) {
      metrics_->errors->Increment();
      static log::Throttle throttle(absl::Minutes(1));
      if (uint64_t suppressed; throttle.Allow(&suppressed)) {
        log::Error("logs.kubernetes", "cannot write the cursors",
                   {{"err", FromAbsl(st.message())}});
      }
    }
  }
}

absl::Status PodLogSource::SaveCursors() {
  if (settings_.cursors_path.empty()) return absl::OkStatus();
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cursors_dirty_) return absl::OkStatus();
    text = SerializeCursors(cursors_);
    cursors_dirty_ = false;
  }
  const std::filesystem::path path(settings_.cursors_path);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const std::string tmp = settings_.cursors_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::lock_guard<std::mutex> lock(mu_);
      cursors_dirty_ = true;
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::lock_guard<std::mutex> lock(mu_);
    cursors_dirty_ = true;
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  }
  return absl::OkStatus();
}

PodLogCursor PodLogSource::Cursor(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cursors_.find(key);
  return it == cursors_.end() ? PodLogCursor{} : it->second;
}

size_t PodLogSource::active_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace tender::logs
