#include "tests/tools/fake_apiserver.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace tender::test_tools {
namespace {

std::string StatusJson(int code, std::string_view reason, std::string_view message) {
  return absl::StrCat(
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")",
      ToAbsl(message), R"(","reason":")", ToAbsl(reason), R"(","code":)", code, "}");
}

std::string KindOf(const std::string& resource) {
  if (resource == "nodes") return "Node";
  if (resource == "pods") return "Pod";
  if (resource == "services") return "Service";
  if (resource == "endpoints") return "Endpoints";
  if (resource == "namespaces") return "Namespace";
  if (resource == "ingresses") return "Ingress";
  if (resource == "events") return "Event";
  return "EndpointSlice";
}

std::string ApiVersionOf(const std::string& resource) {
  if (resource == "endpointslices") return "discovery.k8s.io/v1";
  if (resource == "ingresses") return "networking.k8s.io/v1";
  return "v1";
}

std::string EventLine(std::string_view type, std::string_view object_json) {
  return absl::StrCat(R"({"type":")", ToAbsl(type), R"(","object":)", ToAbsl(object_json), "}\n");
}

}  // namespace

FakeApiServer::FakeApiServer() : server_(std::make_unique<httplib::Server>()) {}

FakeApiServer::~FakeApiServer() { Stop(); }

std::string FakeApiServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

absl::Status FakeApiServer::Start() {
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  auto route = [this](const std::string& pattern, bool namespaced) {
    server_->Get(pattern, [this, namespaced](const httplib::Request& req, httplib::Response& res) {
      std::string ns = namespaced ? req.matches[1].str() : "";
      std::string resource = req.matches[namespaced ? 2 : 1].str();
      Handle(req, res, resource, ns);
    });
  };
  route(R"(/api/v1/(nodes|pods|services|endpoints|namespaces))", false);
  route(R"(/api/v1/namespaces/([^/]+)/(pods|services|endpoints))", true);
  route(R"(/apis/discovery\.k8s\.io/v1/(endpointslices))", false);
  route(R"(/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/(endpointslices))", true);
  route(R"(/apis/networking\.k8s\.io/v1/(ingresses))", false);
  route(R"(/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/(ingresses))", true);
  RegisterProxyRoutes();
  route(R"(/api/v1/(events))", false);
  route(R"(/api/v1/namespaces/([^/]+)/(events))", true);
  server_->Get(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 if (Admit(req, res)) GetPod(req, res, req.matches[1].str(), req.matches[2].str());
               });
  server_->Get(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+)/log)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 if (Admit(req, res)) PodLog(req, res, req.matches[1].str(), req.matches[2].str());
               });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return absl::UnavailableError("fake apiserver: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void FakeApiServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void FakeApiServer::set_token(std::string token) {
  std::lock_guard<std::mutex> lock(mu_);
  token_ = std::move(token);
}

void FakeApiServer::set_bookmark_interval(absl::Duration interval) {
  std::lock_guard<std::mutex> lock(mu_);
  bookmark_interval_ = interval;
}

int64_t FakeApiServer::Upsert(std::string_view resource, std::string_view object_json) {
  int64_t rv;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rv = UpsertLocked(std::string(resource), object_json);
  }
  cv_.notify_all();
  return rv;
}

int64_t FakeApiServer::UpsertLocked(const std::string& res, std::string_view object_json) {
  rapidjson::Document doc;
  doc.Parse(object_json.data(), object_json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("metadata") ||
      !doc["metadata"].IsObject() || !doc["metadata"].HasMember("name")) {
    return -1;
  }
  auto& alloc = doc.GetAllocator();
  rapidjson::Value& md = doc["metadata"];
  std::string name = md["name"].GetString();
  std::string ns =
      md.HasMember("namespace") && md["namespace"].IsString() ? md["namespace"].GetString() : "";
  std::string key = ns.empty() ? name : absl::StrCat(ns, "/", name);
  Resource& r = resources_[res];
  const int64_t rv = ++rv_;
  auto it = r.objects.find(key);
  bool exists = it != r.objects.end();
  if (!md.HasMember("uid")) {
    std::string uid = absl::StrCat("uid-", rv);
    if (exists) {
      rapidjson::Document old;
      old.Parse(it->second.second.c_str());
      if (old.IsObject() && old["metadata"].HasMember("uid"))
        uid = old["metadata"]["uid"].GetString();
    }
    md.AddMember("uid", rapidjson::Value(uid.c_str(), alloc), alloc);
  }
  md.RemoveMember("resourceVersion");
  std::string rv_text = absl::StrCat(rv);
  md.AddMember("resourceVersion", rapidjson::Value(rv_text.c_str(), alloc), alloc);
  if (!doc.HasMember("kind")) {
    doc.AddMember("kind", rapidjson::Value(KindOf(res).c_str(), alloc), alloc);
  }
  if (!doc.HasMember("apiVersion")) {
    doc.AddMember("apiVersion", rapidjson::Value(ApiVersionOf(res).c_str(), alloc), alloc);
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  doc.Accept(writer);
  std::string json(buf.GetString(), buf.GetSize());
  r.objects[key] = {ns, json};
  r.history.push_back({rv, exists ? "MODIFIED" : "ADDED", ns, json});
  return rv;
}

bool FakeApiServer::Delete(std::string_view resource, std::string_view ns, std::string_view name) {
  std::string key = ns.empty() ? std::string(name) : absl::StrCat(ToAbsl(ns), "/", ToAbsl(name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    Resource& r = resources_[std::string(resource)];
    auto it = r.objects.find(key);
    if (it == r.objects.end()) return false;
    int64_t rv = ++rv_;
    // The DELETED event carries the last state with the deletion's resourceVersion.
    rapidjson::Document doc;
    doc.Parse(it->second.second.c_str());
    auto& alloc = doc.GetAllocator();
    doc["metadata"].RemoveMember("resourceVersion");
    std::string rv_text = absl::StrCat(rv);
    doc["metadata"].AddMember("resourceVersion", rapidjson::Value(rv_text.c_str(), alloc), alloc);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
    doc.Accept(writer);
    r.history.push_back(
        {rv, "DELETED", it->second.first, std::string(buf.GetString(), buf.GetSize())});
    r.objects.erase(it);
  }
  cv_.notify_all();
  return true;
}

void FakeApiServer::Compact() {
  std::lock_guard<std::mutex> lock(mu_);
  compacted_rv_ = rv_;
}

void FakeApiServer::ExpireWatches() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    compacted_rv_ = rv_;
    ++expire_generation_;
  }
  cv_.notify_all();
}

void FakeApiServer::CloseWatches() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++close_generation_;
  }
  cv_.notify_all();
}

void FakeApiServer::SendBookmarks() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++bookmark_generation_;
  }
  cv_.notify_all();
}

void FakeApiServer::FailNext(int status, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_status_ = status;
  fail_count_ = count;
}

int64_t FakeApiServer::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}
std::vector<std::string> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int FakeApiServer::list_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return list_requests_;
}
int FakeApiServer::watch_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watch_requests_;
}
int FakeApiServer::open_watches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_watches_;
}

bool FakeApiServer::WaitForOpenWatches(int n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return open_watches_ >= n; });
}

bool FakeApiServer::Admit(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard<std::mutex> lock(mu_);
  // Recorded with the query parameters in sorted order, for tests to inspect.
  std::string line = req.path;
  char sep = '?';
  for (const auto& [key, value] :
       std::multimap<std::string, std::string>(req.params.begin(), req.params.end())) {
    absl::StrAppend(&line, std::string(1, sep), key, "=", value);
    sep = '&';
  }
  requests_.push_back(std::move(line));
  if (!token_.empty() && req.get_header_value("Authorization") != "Bearer " + token_) {
    res.status = 401;
    res.set_content(StatusJson(401, "Unauthorized", "Unauthorized"), "application/json");
    return false;
  }
  if (fail_count_ > 0) {
    --fail_count_;
    res.status = fail_status_;
    res.set_header("Retry-After", "1");
    res.set_content(
        StatusJson(fail_status_, fail_status_ == 429 ? "TooManyRequests" : "ServiceUnavailable",
                   "scripted failure"),
        "application/json");
    return false;
  }
  return true;
}

void FakeApiServer::Handle(const httplib::Request& req, httplib::Response& res,
                           const std::string& resource, const std::string& ns) {
  if (!Admit(req, res)) return;
  std::string watch = req.get_param_value("watch");
  if (watch == "1" || watch == "true") {
    Watch(req, res, resource, ns);
  } else {
    List(req, res, resource, ns);
  }
}

void FakeApiServer::List(const httplib::Request& req, httplib::Response& res,
                         const std::string& resource, const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ++list_requests_;
  size_t limit = 0;
  if (req.has_param("limit")) {
    uint64_t l = 0;
    if (absl::SimpleAtoi(req.get_param_value("limit"), &l)) limit = l;
  }
  std::string cont = req.get_param_value("continue");
  std::string snapshot_id;
  size_t offset = 0;
  Snapshot* snap = nullptr;
  Snapshot fresh;
  if (!cont.empty()) {
    std::vector<std::string> parts = absl::StrSplit(cont, ':');
    auto it = parts.size() == 2 ? snapshots_.find(parts[0]) : snapshots_.end();
    uint64_t off = 0;
    if (it == snapshots_.end() || !absl::SimpleAtoi(parts[1], &off)) {
      res.status = 410;
      res.set_content(StatusJson(410, "Expired", "continue token expired"), "application/json");
      return;
    }
    snapshot_id = parts[0];
    snap = &it->second;
    offset = off;
  } else {
    fresh.rv = rv_;
    for (const auto& [key, value] : resources_[resource].objects) {
      if (ns.empty() || value.first == ns) fresh.items.push_back(value.second);
    }
    snap = &fresh;
  }
  size_t end = limit == 0 ? snap->items.size() : std::min(snap->items.size(), offset + limit);
  std::string next;
  if (end < snap->items.size()) {
    if (snapshot_id.empty()) {
      snapshot_id = absl::StrCat(next_snapshot_++);
      snap = &(snapshots_[snapshot_id] = std::move(fresh));
    }
    next = absl::StrCat(snapshot_id, ":", end);
  }
  std::string body =
      absl::StrCat(R"({"kind":")", KindOf(resource), R"(List","apiVersion":")",
                   ApiVersionOf(resource), R"(","metadata":{"resourceVersion":")", snap->rv, "\"");
  if (!next.empty()) absl::StrAppend(&body, R"(,"continue":")", next, "\"");
  absl::StrAppend(&body, R"(},"items":[)");
  for (size_t i = offset; i < end; ++i) {
    if (i > offset) body += ",";
    body += snap->items[i];
  }
  body += "]}";
  res.set_content(body, "application/json");
}

void FakeApiServer::Watch(const httplib::Request& req, httplib::Response& res,
                          const std::string& resource, const std::string& ns) {
  struct WatchState {
    std::string resource, ns;
    int64_t rv = 0;
    bool bookmarks = false;
    std::chrono::steady_clock::time_point deadline, next_bookmark;
    int64_t expire_gen, close_gen, bookmark_gen;
    std::vector<std::string> initial;  // Synthetic ADDED lines still to send.
  };
  auto w = std::make_shared<WatchState>();
  w->resource = resource;
  w->ns = ns;
  w->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
  int64_t timeout_s = 1800;
  if (req.has_param("timeoutSeconds")) {
    int64_t t = 0;
    if (absl::SimpleAtoi(req.get_param_value("timeoutSeconds"), &t) && t > 0) timeout_s = t;
  }
  auto now = std::chrono::steady_clock::now();
  w->deadline = now + std::chrono::seconds(timeout_s);
  std::string rv_param = req.get_param_value("resourceVersion");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++watch_requests_;
    if (rv_param.empty() || rv_param == "0") {
      for (const auto& [key, value] : resources_[resource].objects) {
        if (ns.empty() || value.first == ns) w->initial.push_back(EventLine("ADDED", value.second));
      }
      w->rv = rv_;
    } else if (!absl::SimpleAtoi(rv_param, &w->rv)) {
      res.status = 400;
      res.set_content(StatusJson(400, "BadRequest", "bad resourceVersion"), "application/json");
      return;
    } else if (w->rv < compacted_rv_) {
      res.status = 410;
      res.set_content(
          StatusJson(410, "Expired",
                     absl::StrCat("too old resource version: ", w->rv, " (", compacted_rv_, ")")),
          "application/json");
      return;
    }
    w->expire_gen = expire_generation_;
    w->close_gen = close_generation_;
    w->bookmark_gen = bookmark_generation_;
    ++open_watches_;
    if (bookmark_interval_ > absl::ZeroDuration()) {
      w->next_bookmark = now + absl::ToChronoMilliseconds(bookmark_interval_);
    } else {
      w->next_bookmark = std::chrono::steady_clock::time_point::max();
    }
  }
  cv_.notify_all();
  res.set_chunked_content_provider(
      "application/json",
      [this, w](size_t, httplib::DataSink& sink) {
        std::vector<std::string> lines;
        bool finish = false;
        {
          std::unique_lock<std::mutex> lock(mu_);
          while (true) {
            if (stopping_) return false;
            lines.swap(w->initial);
            if (w->expire_gen != expire_generation_) {
              lines.push_back(
                  EventLine("ERROR", StatusJson(410, "Expired", "too old resource version")));
              finish = true;
              break;
            }
            auto now = std::chrono::steady_clock::now();
            if (w->close_gen != close_generation_ || now >= w->deadline) {
              finish = true;
              break;
            }
            const std::vector<Event>& history = resources_[w->resource].history;
            auto it = std::upper_bound(history.begin(), history.end(), w->rv,
                                       [](int64_t rv, const Event& e) { return rv < e.rv; });
            for (; it != history.end(); ++it) {
              if (w->ns.empty() || it->ns == w->ns) lines.push_back(EventLine(it->type, it->json));
              w->rv = it->rv;
            }
            bool bookmark_due = w->bookmark_gen != bookmark_generation_ || now >= w->next_bookmark;
            if (bookmark_due) {
              w->bookmark_gen = bookmark_generation_;
              if (bookmark_interval_ > absl::ZeroDuration()) {
                w->next_bookmark = now + absl::ToChronoMilliseconds(bookmark_interval_);
              }
              if (w->bookmarks) {
                w->rv = std::max(w->rv, rv_);
                lines.push_back(EventLine(
                    "BOOKMARK", absl::StrCat(R"({"kind":")", KindOf(w->resource),
                                             R"(","apiVersion":")", ApiVersionOf(w->resource),
                                             R"(","metadata":{"resourceVersion":")", rv_, "\"}}")));
              }
            }
            if (!lines.empty()) break;
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        }
        for (const std::string& line : lines) {
          if (!sink.write(line.data(), line.size())) return false;
        }
        if (finish) sink.done();
        return true;
      },
      [this](bool) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          --open_watches_;
        }
        cv_.notify_all();
      });
}

std::string FakeApiServer::FormatLogTimestamp(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", absl::FromUnixNanos(unix_ns),
                          absl::UTCTimeZone());
}

int64_t FakeApiServer::NextLogTimestampLocked() {
  last_log_ts_ = std::max(absl::ToUnixNanos(absl::Now()), last_log_ts_ + 1);
  return last_log_ts_;
}

int64_t FakeApiServer::AppendLog(std::string_view ns, std::string_view pod,
                                 std::string_view container, std::string_view line) {
  return AppendLogLines(ns, pod, container, {std::string(line)});
}

int64_t FakeApiServer::AppendLogLines(std::string_view ns, std::string_view pod,
                                      std::string_view container,
                                      const std::vector<std::string>& lines) {
  int64_t ts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ts = NextLogTimestampLocked();
    ContainerLog& log = logs_[absl::StrCat(ToAbsl(ns), "/", ToAbsl(pod), "/", ToAbsl(container))];
    for (const std::string& l : lines) log.current.push_back({ts, l});
  }
  cv_.notify_all();
  return ts;
}

std::string FakeApiServer::RestartContainer(std::string_view ns, std::string_view pod,
                                            std::string_view container) {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = resources_["pods"].objects.find(absl::StrCat(ToAbsl(ns), "/", ToAbsl(pod)));
    if (it == resources_["pods"].objects.end()) return "";
    rapidjson::Document doc;
    doc.Parse(it->second.second.c_str());
    auto& alloc = doc.GetAllocator();
    if (!doc.HasMember("status"))
      doc.AddMember("status", rapidjson::Value(rapidjson::kObjectType), alloc);
    rapidjson::Value& status = doc["status"];
    // An init container's status lives under initContainerStatuses.
    bool init = false;
    if (doc.HasMember("spec") && doc["spec"].HasMember("initContainers")) {
      for (const auto& c : doc["spec"]["initContainers"].GetArray()) {
        if (c.HasMember("name") && std::string_view(c["name"].GetString()) == container) {
          init = true;
        }
      }
    }
    const char* list = init ? "initContainerStatuses" : "containerStatuses";
    if (!status.HasMember(list)) {
      status.AddMember(rapidjson::Value(list, alloc), rapidjson::Value(rapidjson::kArrayType),
                       alloc);
    }
    rapidjson::Value* entry = nullptr;
    for (auto& cs : status[list].GetArray()) {
      if (cs.HasMember("name") && std::string_view(cs["name"].GetString()) == container) {
        entry = &cs;
      }
    }
    if (entry == nullptr) {
      rapidjson::Value cs(rapidjson::kObjectType);
      cs.AddMember("name", rapidjson::Value(std::string(container).c_str(), alloc), alloc);
      status[list].PushBack(cs, alloc);
      entry = &status[list][status[list].Size() - 1];
    }
    int restarts = 0;
    if (entry->HasMember("restartCount") && (*entry)["restartCount"].IsInt()) {
      restarts = (*entry)["restartCount"].GetInt();
    }
    ++restarts;
    entry->RemoveMember("restartCount");
    entry->AddMember("restartCount", restarts, alloc);
    id = absl::StrCat("containerd://", ToAbsl(ns), "-", ToAbsl(pod), "-", ToAbsl(container), "-",
                      restarts);
    entry->RemoveMember("containerID");
    entry->AddMember("containerID", rapidjson::Value(id.c_str(), alloc), alloc);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
    doc.Accept(writer);
    ContainerLog& log = logs_[absl::StrCat(ToAbsl(ns), "/", ToAbsl(pod), "/", ToAbsl(container))];
    log.previous = std::move(log.current);
    log.current.clear();
    log.has_previous = true;
    ++log.instance;
    UpsertLocked("pods", std::string_view(buf.GetString(), buf.GetSize()));
  }
  cv_.notify_all();
  return id;
}

void FakeApiServer::CutLogStreams(bool mid_line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++cut_generation_;
    cut_mid_line_ = mid_line;
  }
  cv_.notify_all();
}

std::vector<std::string> FakeApiServer::LogLines(std::string_view ns, std::string_view pod,
                                                 std::string_view container, bool previous) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  auto it = logs_.find(absl::StrCat(ToAbsl(ns), "/", ToAbsl(pod), "/", ToAbsl(container)));
  if (it == logs_.end()) return out;
  for (const LogLine& l : previous ? it->second.previous : it->second.current) {
    out.push_back(absl::StrCat(FormatLogTimestamp(l.ts_ns), " ", l.text));
  }
  return out;
}

int FakeApiServer::log_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_requests_;
}

int FakeApiServer::open_log_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_log_streams_;
}

bool FakeApiServer::WaitForOpenLogStreams(int n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return open_log_streams_ >= n; });
}

void FakeApiServer::GetPod(const httplib::Request&, httplib::Response& res, const std::string& ns,
                           const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& objects = resources_["pods"].objects;
  auto it = objects.find(absl::StrCat(ns, "/", name));
  if (it == objects.end()) {
    res.status = 404;
    res.set_content(StatusJson(404, "NotFound", absl::StrCat("pods \"", name, "\" not found")),
                    "application/json");
    return;
  }
  res.set_content(it->second.second, "application/json");
}

void FakeApiServer::PodLog(const httplib::Request& req, httplib::Response& res,
                           const std::string& ns, const std::string& pod) {
  const bool follow = req.get_param_value("follow") == "true";
  const bool previous = req.get_param_value("previous") == "true";
  const bool timestamps = req.get_param_value("timestamps") == "true";
  int64_t since_ns = INT64_MIN;
  if (req.has_param("sinceTime")) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, req.get_param_value("sinceTime"), &t, &err)) {
      res.status = 400;
      res.set_content(StatusJson(400, "BadRequest", absl::StrCat("invalid sinceTime: ", err)),
                      "application/json");
      return;
    }
    // The API server passes sinceTime on with second precision; the kubelet keeps lines at or
    // after it.
    since_ns = absl::ToUnixSeconds(t) * 1000000000;
  }
  std::string container = req.get_param_value("container");
  struct Stream {
    std::string key;
    bool timestamps;
    int64_t since_ns;
    int64_t instance;
    size_t next = 0;
    int64_t cut_gen;
  };
  auto st = std::make_shared<Stream>();
  std::string body;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++log_requests_;
    auto& objects = resources_["pods"].objects;
    auto it = objects.find(absl::StrCat(ns, "/", pod));
    if (it == objects.end()) {
      res.status = 404;
      res.set_content(StatusJson(404, "NotFound", absl::StrCat("pods \"", pod, "\" not found")),
                      "application/json");
      return;
    }
    rapidjson::Document doc;
    doc.Parse(it->second.second.c_str());
    std::vector<std::string> names;
    if (doc.HasMember("spec") && doc["spec"].IsObject()) {
      for (const char* list : {"initContainers", "containers"}) {
        if (!doc["spec"].HasMember(list) || !doc["spec"][list].IsArray()) continue;
        for (const auto& c : doc["spec"][list].GetArray()) {
          if (c.HasMember("name") && c["name"].IsString()) names.push_back(c["name"].GetString());
        }
      }
    }
    if (container.empty()) {
      if (names.size() != 1) {
        res.status = 400;
        res.set_content(
            StatusJson(400, "BadRequest",
                       absl::StrCat("a container name must be specified for pod ", pod,
                                    ", choose one of: [", absl::StrJoin(names, " "), "]")),
            "application/json");
        return;
      }
      container = names[0];
    }
    if (std::find(names.begin(), names.end(), container) == names.end()) {
      res.status = 400;
      res.set_content(
          StatusJson(400, "BadRequest",
                     absl::StrCat("container ", container, " is not valid for pod ", pod)),
          "application/json");
      return;
    }
    st->key = absl::StrCat(ns, "/", pod, "/", container);
    st->timestamps = timestamps;
    st->since_ns = since_ns;
    ContainerLog& log = logs_[st->key];
    st->instance = log.instance;
    st->cut_gen = cut_generation_;
    if (previous && !log.has_previous) {
      res.status = 400;
      res.set_content(StatusJson(400, "BadRequest",
                                 absl::StrCat("previous terminated container \"", container,
                                              "\" in pod \"", pod, "\" not found")),
                      "application/json");
      return;
    }
    if (previous || !follow) {
      for (const LogLine& l : previous ? log.previous : log.current) {
        if (l.ts_ns < since_ns) continue;
        if (timestamps) absl::StrAppend(&body, FormatLogTimestamp(l.ts_ns), " ");
        absl::StrAppend(&body, l.text, "\n");
      }
    } else {
      ++open_log_streams_;
    }
  }
  if (previous || !follow) {
    res.set_content(body, "text/plain");
    return;
  }
  cv_.notify_all();
  res.set_chunked_content_provider(
      "text/plain",
      [this, st](size_t, httplib::DataSink& sink) {
        std::string out;
        bool finish = false;
        bool cut = false;
        {
          std::unique_lock<std::mutex> lock(mu_);
          while (true) {
            if (stopping_) return false;
            auto it = logs_.find(st->key);
            const std::string pod_key = st->key.substr(0, st->key.rfind('/'));
            const bool pod_gone = resources_["pods"].objects.count(pod_key) == 0;
            // After a restart this stream's instance is the previous one: send its rest, end.
            const bool ended = it->second.instance != st->instance || pod_gone;
            const std::vector<LogLine>& lines =
                it->second.instance == st->instance ? it->second.current : it->second.previous;
            if (st->cut_gen != cut_generation_) {
              cut = true;
              if (cut_mid_line_) {
                while (st->next < lines.size() && lines[st->next].ts_ns < st->since_ns) {
                  ++st->next;
                }
                if (st->next < lines.size()) {
                  std::string line = absl::StrCat(
                      st->timestamps ? FormatLogTimestamp(lines[st->next].ts_ns) + " " : "",
                      lines[st->next].text, "\n");
                  out = line.substr(0, line.size() / 2);
                }
              }
              break;
            }
            for (; st->next < lines.size(); ++st->next) {
              const LogLine& l = lines[st->next];
              if (l.ts_ns < st->since_ns) continue;
              if (st->timestamps) absl::StrAppend(&out, FormatLogTimestamp(l.ts_ns), " ");
              absl::StrAppend(&out, l.text, "\n");
            }
            if (ended && !pod_gone && it->second.instance != st->instance + 1) {
              // Restarted twice: the lines of this instance are gone.
              out.clear();
            }
            if (ended) {
              finish = true;
              break;
            }
            if (!out.empty()) break;
            if (sink.is_writable && !sink.is_writable()) return false;  // The client left.
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (cut) return false;
        if (finish) sink.done();
        return true;
      },
      [this](bool) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          --open_log_streams_;
        }
        cv_.notify_all();
      });
}

}  // namespace tender::test_tools
