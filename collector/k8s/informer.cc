#include "collector/k8s/informer.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/model/status_macros.h"

namespace tender::k8s {
namespace {

std::string Str(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const rapidjson::Value* Metadata(const rapidjson::Value& obj) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember("metadata");
  if (it == obj.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

std::string MetaResourceVersion(const rapidjson::Value& obj) {
  const rapidjson::Value* md = Metadata(obj);
  return md == nullptr ? std::string() : Str(*md, "resourceVersion");
}

}  // namespace

absl::StatusOr<ObjectRef> MakeObject(std::shared_ptr<rapidjson::Document> json) {
  const rapidjson::Value* md = json ? Metadata(*json) : nullptr;
  if (md == nullptr) return absl::InvalidArgumentError("object has no metadata");
  auto obj = std::make_shared<Object>();
  obj->name = Str(*md, "name");
  if (obj->name.empty()) return absl::InvalidArgumentError("object has no metadata.name");
  obj->namespace_ = Str(*md, "namespace");
  obj->uid = Str(*md, "uid");
  obj->resource_version = Str(*md, "resourceVersion");
  obj->key = obj->namespace_.empty() ? obj->name : absl::StrCat(obj->namespace_, "/", obj->name);
  obj->json = std::move(json);
  return ObjectRef(std::move(obj));
}

Informer::Informer(RestClient* client, InformerOptions options, InformerHandlers handlers)
    : client_(client), options_(std::move(options)), handlers_(std::move(handlers)) {}

Informer::~Informer() { Shutdown(); }

void Informer::Start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Informer::Shutdown() {
  if (stop_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  { std::lock_guard<std::mutex> lock(stop_mu_); }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<ObjectRef> Informer::Store() const {
  std::vector<ObjectRef> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.reserve(store_.size());
    for (const auto& [key, obj] : store_) out.push_back(obj);
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectRef& a, const ObjectRef& b) { return a->key < b->key; });
  return out;
}

InformerStats Informer::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string Informer::LastResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

bool Informer::HasSynced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

bool Informer::SleepFor(absl::Duration d) {
  std::unique_lock<std::mutex> lock(stop_mu_);
  return !stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stop_.load(); });
}

void Informer::Run() {
  bool need_list = true;
  absl::Duration backoff = options_.initial_backoff;
  static log::Throttle throttle(absl::Seconds(10));
  auto fail = [&](const absl::Status& s, std::string_view what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.errors;
    }
    if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
      std::string n = absl::StrCat(suppressed);
      log::Warn("k8s", what,
                {{"path", options_.path}, {"error", FromAbsl(s.message())}, {"suppressed", n}});
    }
    // The server's Retry-After (429, 503, 504 ResourceVersionTooLarge) wins when longer.
    absl::Duration wait = std::max(backoff, RetryAfter(s).value_or(absl::ZeroDuration()));
    if (!SleepFor(std::min(wait, absl::Minutes(5)))) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  };
  while (!stop_.load()) {
    if (need_list) {
      absl::Status s = ListAndSync();
      if (stop_.load()) break;
      if (!s.ok()) {
        fail(s, "list failed; retrying");
        continue;
      }
      need_list = false;
    }
    absl::Time start = absl::Now();
    int64_t events_before = Stats().events;
    absl::Status s = WatchOnce();
    if (stop_.load()) break;
    if (watch_expired_ || IsExpired(s)) {
      // History is gone: re-list now and diff (client-go does the same, without backoff).
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.expired;
      need_list = true;
      continue;
    }
    absl::Duration lived = absl::Now() - start;
    if (lived >= options_.healthy_reset) backoff = options_.initial_backoff;
    if (s.ok()) {
      // The server ended the watch (its timeout): resume from the last resourceVersion. A
      // stream that ended at once with nothing in it backs off so a bad server is not hammered.
      if (lived < absl::Seconds(1) && Stats().events == events_before) {
        if (!SleepFor(backoff)) break;
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
      continue;
    }
    fail(s, "watch failed; reconnecting");
  }
}

absl::Status Informer::ListAndSync() {
  absl::flat_hash_map<std::string, ObjectRef> listed;
  std::string list_rv;
  std::string cont;
  do {
    Query q = options_.selectors;
    q.emplace_back("limit", absl::StrCat(options_.page_size));
    if (!cont.empty()) q.emplace_back("continue", cont);
    ASSIGN_OR_RETURN(Response resp, client_->Get(options_.path, q));
    rapidjson::Document doc;
    doc.Parse(resp.body.data(), resp.body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return absl::InvalidArgumentError(absl::StrCat("list ", options_.path, ": not JSON"));
    }
    const rapidjson::Value* md = Metadata(doc);
    if (md == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("list ", options_.path, ": no metadata"));
    }
    if (list_rv.empty()) list_rv = Str(*md, "resourceVersion");
    cont = Str(*md, "continue");
    auto items = doc.FindMember("items");
    if (items != doc.MemberEnd() && items->value.IsArray()) {
      for (auto& item : items->value.GetArray()) {
        absl::StatusOr<ObjectRef> obj = MakeObject(CopyObject(item));
        if (!obj.ok()) continue;  // Nameless items cannot be keyed; the API never sends them.
        listed[(*obj)->key] = *std::move(obj);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.list_pages;
  } while (!cont.empty() && !stop_.load());
  if (stop_.load()) return absl::CancelledError("shutting down");

  std::vector<ObjectRef> added, deleted;
  std::vector<std::pair<ObjectRef, ObjectRef>> updated;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, obj] : store_) {
      if (!listed.contains(key)) deleted.push_back(obj);
    }
    for (const auto& [key, obj] : listed) {
      auto it = store_.find(key);
      if (it == store_.end()) {
        added.push_back(obj);
      } else if (it->second->resource_version != obj->resource_version ||
                 it->second->uid != obj->uid) {
        updated.emplace_back(it->second, obj);
      }
    }
    store_ = std::move(listed);
    rv_ = list_rv;
    ++stats_.lists;
  }
  auto by_key = [](const ObjectRef& a, const ObjectRef& b) { return a->key < b->key; };
  std::sort(deleted.begin(), deleted.end(), by_key);
  std::sort(added.begin(), added.end(), by_key);
  for (const auto& obj : deleted) {
    if (handlers_.on_deleted) handlers_.on_deleted(obj);
  }
  for (const auto& [old_obj, new_obj] : updated) {
    if (handlers_.on_updated) handlers_.on_updated(old_obj, new_obj);
  }
  for (const auto& obj : added) {
    if (handlers_.on_added) handlers_.on_added(obj);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_ = true;
  }
  if (handlers_.on_synced) handlers_.on_synced();
  return absl::OkStatus();
}

absl::Status Informer::WatchOnce() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  int64_t base = std::max<int64_t>(1, absl::ToInt64Seconds(options_.watch_timeout));
  int64_t timeout_s = base + static_cast<int64_t>(rng() % static_cast<uint64_t>(base));
  Query q = options_.selectors;
  q.emplace_back("watch", "1");
  q.emplace_back("resourceVersion", LastResourceVersion());
  q.emplace_back("allowWatchBookmarks", "true");
  q.emplace_back("timeoutSeconds", absl::StrCat(timeout_s));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.watches;
  }
  watch_expired_ = false;
  watch_error_ = absl::OkStatus();
  absl::Status s = client_->Watch(
      options_.path, q,
      [this](WatchEvent&& ev) {
        Apply(std::move(ev));
        return !watch_expired_ && watch_error_.ok() && !stop_.load();
      },
      &stop_, absl::Seconds(timeout_s + 30));
  if (!watch_error_.ok()) return watch_error_;
  return s;
}

void Informer::Apply(WatchEvent&& ev) {
  if (ev.type == WatchEventType::kError) {
    if (ev.IsExpired()) {
      watch_expired_ = true;
    } else {
      watch_error_ = absl::UnavailableError(absl::StrCat(
          "watch ERROR event: code ", ev.error_code, " ", ev.error_reason, ": ", ev.error_message));
    }
    return;
  }
  if (ev.type == WatchEventType::kBookmark) {
    std::string rv = MetaResourceVersion(*ev.object);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.events;
    if (!rv.empty()) rv_ = rv;
    return;
  }
  absl::StatusOr<ObjectRef> obj = MakeObject(std::move(ev.object));
  if (!obj.ok()) {
    watch_error_ = obj.status();
    return;
  }
  ObjectRef old_obj;
  bool emit = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.events;
    if (!(*obj)->resource_version.empty()) rv_ = (*obj)->resource_version;
    auto it = store_.find((*obj)->key);
    if (it != store_.end()) old_obj = it->second;
    if (ev.type == WatchEventType::kDeleted) {
      emit = old_obj != nullptr;
      if (emit) store_.erase(it);
    } else {
      // Replays of what the store already holds (same resourceVersion) are not news.
      emit = old_obj == nullptr || old_obj->resource_version != (*obj)->resource_version;
      if (emit) store_[(*obj)->key] = *obj;
    }
  }
  if (!emit) return;
  if (ev.type == WatchEventType::kDeleted) {
    if (handlers_.on_deleted) handlers_.on_deleted(*obj);
  } else if (old_obj == nullptr) {
    if (handlers_.on_added) handlers_.on_added(*obj);
  } else if (handlers_.on_updated) {
    handlers_.on_updated(old_obj, *obj);
  }
}

}  // namespace tender::k8s
