#include "collector/k8s/rest_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/status_macros.h"

namespace tender::k8s {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string JsonString(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// The message of a meta/v1 Status body, or the (shortened) body itself.
std::string StatusMessage(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    std::string m = JsonString(doc, "message");
    if (!m.empty()) return m;
  }
  return body.size() > 256 ? body.substr(0, 256) + "..." : body;
}

constexpr char kRetryAfterPayload[] = "tender.k8s/retry-after-seconds";

absl::Status HttpError(long http_status, std::string_view url, const std::string& body,
                       CURL* curl) {
  absl::Status status(
      CodeForHttpStatus(http_status),
      absl::StrCat("GET ", ToAbsl(url), ": HTTP ", http_status, ": ", StatusMessage(body)));
  curl_off_t retry_after = -1;
  if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0) {
    status.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat(retry_after)));
  }
  return status;
}

absl::Status CurlError(CURLcode code, std::string_view url, const char* errbuf) {
  absl::StatusCode c = code == CURLE_OPERATION_TIMEDOUT ? absl::StatusCode::kDeadlineExceeded
                                                        : absl::StatusCode::kUnavailable;
  return absl::Status(c, absl::StrCat("GET ", ToAbsl(url), ": ",
                                      errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code)));
}

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

absl::StatusCode CodeForHttpStatus(long s) {
  if (s >= 200 && s < 300) return absl::StatusCode::kOk;
  switch (s) {
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (s >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kInvalidArgument;
}

bool IsExpired(const absl::Status& status) {
  return status.code() == absl::StatusCode::kOutOfRange;
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t seconds = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &seconds)) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

namespace {

// A document and the pool its values live in, sized when it is made.
struct SizedDocument {
  explicit SizedDocument(size_t capacity) : pool(capacity), doc(&pool) {}
  rapidjson::MemoryPoolAllocator<> pool;
  rapidjson::Document doc;  // After `pool`: destroyed first.
};

// `src` into `dst` (empty), without metadata.managedFields.
void CopyWithoutManagedFields(const rapidjson::Value& src, rapidjson::Document& dst) {
  if (!src.IsObject()) {
    dst.CopyFrom(src, dst.GetAllocator());
    return;
  }
  auto& a = dst.GetAllocator();
  dst.SetObject();
  for (const auto& m : src.GetObject()) {
    rapidjson::Value value;
    if (m.value.IsObject() && m.name == "metadata") {
      value.SetObject();
      for (const auto& field : m.value.GetObject()) {
        if (field.name == "managedFields") continue;
        value.AddMember(rapidjson::Value(field.name, a), rapidjson::Value(field.value, a), a);
      }
    } else {
      value.CopyFrom(m.value, a);
    }
    dst.AddMember(rapidjson::Value(m.name, a), value, a);
  }
}

}  // namespace

std::shared_ptr<rapidjson::Document> CopyObject(const rapidjson::Value& value) {
  // Copied twice: once to learn the size, once into a pool of that size. The copy is cheap
  // next to the parse, and the object lives until the next change of it.
  size_t size = 0;
  {
    rapidjson::Document scratch;
    CopyWithoutManagedFields(value, scratch);
    size = scratch.GetAllocator().Size();
  }
  auto sized = std::make_shared<SizedDocument>(std::max<size_t>(size, 64));
  CopyWithoutManagedFields(value, sized->doc);
  return std::shared_ptr<rapidjson::Document>(sized, &sized->doc);
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("watch event is not a JSON object");
  }
  std::string type = JsonString(doc, "type");
  WatchEvent ev;
  if (type == "ADDED") {
    ev.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    ev.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    ev.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEventType::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("watch event has unknown type \"", type, "\""));
  }
  auto obj = doc.FindMember("object");
  if (obj == doc.MemberEnd() || !obj->value.IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat("watch event ", type, " has no object"));
  }
  ev.object = CopyObject(obj->value);
  if (ev.type == WatchEventType::kError) {
    auto code = ev.object->FindMember("code");
    if (code != ev.object->MemberEnd() && code->value.IsInt()) ev.error_code = code->value.GetInt();
    ev.error_reason = JsonString(*ev.object, "reason");
    ev.error_message = JsonString(*ev.object, "message");
  }
  return ev;
}

struct RestClient::Easy {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;     // Owned; lives as long as the request.
  curl_slist* connect_to = nullptr;  // Owned; CURLOPT_CONNECT_TO does not copy.
  char errbuf[CURL_ERROR_SIZE] = {};

  Easy() : curl(curl_easy_init()) {}
  ~Easy() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (connect_to != nullptr) curl_slist_free_all(connect_to);
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Create(const KubeConfig& config,
                                                               RestClientOptions options,
                                                               CredentialProvider::Clock clock) {
  GlobalInit();
  std::unique_ptr<RestClient> client(new RestClient(config, std::move(options), std::move(clock)));
  client->ca_pem_ = config.cluster.ca_data;
  if (client->ca_pem_.empty() && !config.cluster.ca_file.empty()) {
    std::ifstream in(config.cluster.ca_file, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read certificate-authority ", config.cluster.ca_file));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    client->ca_pem_ = ss.str();
  }
  // Fail early on unreadable client certificates or token files.
  absl::StatusOr<Credential> cred = client->credentials_.Get();
  if (!cred.ok() && !config.user.exec.has_value()) return cred.status();
  return client;
}

RestClient::RestClient(KubeConfig config, RestClientOptions options,
                       CredentialProvider::Clock clock)
    : config_(std::move(config)),
      options_(std::move(options)),
      credentials_(config_.user, std::move(clock)) {}

RestClient::~RestClient() = default;

std::string RestClient::Url(std::string_view path, const Query& query) const {
  std::string url = absl::StrCat(config_.cluster.server, ToAbsl(path));
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [key, value] : query) {
    char* k = curl_easy_escape(nullptr, key.data(), static_cast<int>(key.size()));
    char* v = curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size()));
    absl::StrAppend(&url, absl::string_view(&sep, 1), k, "=", v);
    curl_free(k);
    curl_free(v);
    sep = '&';
  }
  return url;
}

std::unique_ptr<RestClient::Easy> RestClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      std::unique_ptr<Easy> easy = std::move(pool_.back());
      pool_.pop_back();
      return easy;
    }
  }
  return std::make_unique<Easy>();
}

void RestClient::Release(std::unique_ptr<Easy> easy) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.size() < 8) pool_.push_back(std::move(easy));
}

absl::Status RestClient::Prepare(Easy& easy, const std::string& url, const Credential& cred,
                                 bool streaming) {
  if (easy.curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* c = easy.curl;
  curl_easy_reset(c);  // Keeps the connection cache.
  if (easy.headers != nullptr) {
    curl_slist_free_all(easy.headers);
    easy.headers = nullptr;
  }
  if (easy.connect_to != nullptr) {
    curl_slist_free_all(easy.connect_to);
    easy.connect_to = nullptr;
  }
  easy.errbuf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, easy.errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      c, CURLOPT_HTTP_VERSION,
      static_cast<long>(options_.enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1));
  // Go's http.Client follows at most 10 redirects; so does Prometheus's follow_redirects.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, options_.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!streaming) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
    if (!config_.cluster.disable_compression) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  }
  const ClusterConfig& cl = config_.cluster;
  std::string effective_url = url;
  if (!cl.tls_server_name.empty()) {
    // Connect to the configured host but present and verify tls-server-name: address the URL
    // to that name and route it to the real host:port with CONNECT_TO.
    CURLU* u = curl_url();
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
      char* host = nullptr;
      char* port = nullptr;
      curl_url_get(u, CURLUPART_HOST, &host, 0);
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
      if (host != nullptr && port != nullptr) {
        std::string connect_to = absl::StrCat(cl.tls_server_name, ":", port, ":", host, ":", port);
        easy.connect_to = curl_slist_append(nullptr, connect_to.c_str());
        curl_url_set(u, CURLUPART_HOST, cl.tls_server_name.c_str(), 0);
        char* rewritten = nullptr;
        if (curl_url_get(u, CURLUPART_URL, &rewritten, 0) == CURLUE_OK) {
          effective_url = rewritten;
          curl_free(rewritten);
        }
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, easy.connect_to);
      }
      curl_free(host);
      curl_free(port);
    }
    curl_url_cleanup(u);
  }
  curl_easy_setopt(c, CURLOPT_URL, effective_url.c_str());
  if (!cl.proxy_url.empty()) curl_easy_setopt(c, CURLOPT_PROXY, cl.proxy_url.c_str());
  if (cl.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!ca_pem_.empty()) {
    curl_blob blob{const_cast<char*>(ca_pem_.data()), ca_pem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!cred.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(cred.client_cert_pem.data()), cred.client_cert_pem.size(),
                   CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(cred.client_key_pem.data()), cred.client_key_pem.size(),
                  CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
  }
  easy.headers = curl_slist_append(easy.headers, "Accept: application/json");
  if (!cred.bearer_token.empty()) {
    easy.headers = curl_slist_append(
        easy.headers, absl::StrCat("Authorization: Bearer ", cred.bearer_token).c_str());
  } else if (!cred.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, cred.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, cred.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, easy.headers);
  return absl::OkStatus();
}

absl::StatusOr<Response> RestClient::Get(std::string_view path, const Query& query) {
  std::string url = Url(path, query);
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Credential cred, credentials_.Get());
    std::unique_ptr<Easy> easy = Acquire();
    RETURN_IF_ERROR(Prepare(*easy, url, cred, /*streaming=*/false));
    Response resp;
    curl_easy_setopt(easy->curl, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(easy->curl, CURLOPT_WRITEDATA, &resp.body);
    CURLcode rc = curl_easy_perform(easy->curl);
    if (rc != CURLE_OK) return CurlError(rc, url, easy->errbuf);
    curl_easy_getinfo(easy->curl, CURLINFO_RESPONSE_CODE, &resp.status);
    char* ct = nullptr;
    curl_easy_getinfo(easy->curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr) resp.content_type = ct;
    absl::Status error = resp.status >= 200 && resp.status < 300
                             ? absl::OkStatus()
                             : HttpError(resp.status, url, resp.body, easy->curl);
    Release(std::move(easy));
    if (resp.status == 401 && attempt == 0) {
      credentials_.Invalidate();
      continue;
    }
    if (!error.ok()) return error;
    return resp;
  }
}

namespace {

struct StreamState {
  CURL* curl = nullptr;
  const RestClient::ChunkHandler* handler = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  long http_status = 0;
  std::string error_body;  // Body of a non-2xx answer.
  bool handler_stopped = false;
};

size_t StreamWrite(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<StreamState*>(user);
  if (st->http_status == 0) curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->http_status);
  if (st->http_status < 200 || st->http_status >= 300) {
    if (st->error_body.size() < 64 * 1024) st->error_body.append(data, size * n);
    return size * n;
  }
  if (!(*st->handler)(std::string_view(data, size * n))) {
    st->handler_stopped = true;
    return 0;
  }
  return size * n;
}

// Splits a stream into newline-delimited watch events (lines may span chunks).
struct WatchDecoder {
  const RestClient::EventHandler* handler = nullptr;
  std::string buffer;   // Undecoded bytes (a partial line).
  absl::Status status;  // First decoding error.

  // Decodes complete lines in `buffer`; false to stop the stream.
  bool Drain(bool at_end) {
    size_t start = 0;
    while (true) {
      size_t nl = buffer.find('\n', start);
      if (nl == std::string::npos && !(at_end && start < buffer.size())) break;
      size_t end = nl == std::string::npos ? buffer.size() : nl;
      std::string_view line(buffer.data() + start, end - start);
      start = nl == std::string::npos ? buffer.size() : nl + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.empty()) continue;
      absl::StatusOr<WatchEvent> ev = ParseWatchEvent(line);
      if (!ev.ok()) {
        status = ev.status();
        return false;
      }
      if (!(*handler)(std::move(*ev))) {
        return false;
      }
    }
    buffer.erase(0, start);
    return true;
  }
};

int StreamProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<StreamState*>(user);
  return st->cancel != nullptr && st->cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

// Runs one transfer through a private multi handle so that `*cancel` is noticed within
// about 100 ms even on an idle stream (curl_easy_perform would only check it from the progress
// callback, about once a second).
CURLcode PerformCancellable(CURL* curl, const std::atomic<bool>* cancel) {
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return curl_easy_perform(curl);
  curl_multi_add_handle(multi, curl);
  CURLcode rc = CURLE_OK;
  while (true) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      rc = CURLE_RECV_ERROR;
      break;
    }
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
      }
      break;
    }
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      rc = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  curl_multi_remove_handle(multi, curl);
  curl_multi_cleanup(multi);
  return rc;
}

}  // namespace

absl::Status RestClient::Stream(std::string_view path, const Query& query,
                                const ChunkHandler& on_chunk, const std::atomic<bool>* cancel,
                                absl::Duration max_duration) {
  std::string url = Url(path, query);
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Credential cred, credentials_.Get());
    std::unique_ptr<Easy> easy = Acquire();
    RETURN_IF_ERROR(Prepare(*easy, url, cred, /*streaming=*/true));
    StreamState st;
    st.curl = easy->curl;
    st.handler = &on_chunk;
    st.cancel = cancel;
    curl_easy_setopt(easy->curl, CURLOPT_WRITEFUNCTION, &StreamWrite);
    curl_easy_setopt(easy->curl, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(easy->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy->curl, CURLOPT_XFERINFOFUNCTION, &StreamProgress);
    curl_easy_setopt(easy->curl, CURLOPT_XFERINFODATA, &st);
    if (max_duration > absl::ZeroDuration()) {
      curl_easy_setopt(easy->curl, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(max_duration)));
    }
    CURLcode rc = PerformCancellable(easy->curl, cancel);
    if (st.http_status == 0) curl_easy_getinfo(easy->curl, CURLINFO_RESPONSE_CODE, &st.http_status);
    if (rc == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError("stream cancelled");
    if (rc == CURLE_WRITE_ERROR && st.handler_stopped) return absl::OkStatus();
    if (rc == CURLE_OK && st.http_status >= 200 && st.http_status < 300) {
      Release(std::move(easy));
      return absl::OkStatus();
    }
    if (rc != CURLE_OK) return CurlError(rc, url, easy->errbuf);
    if (st.http_status == 401 && attempt == 0) {
      credentials_.Invalidate();
      continue;
    }
    return HttpError(st.http_status, url, st.error_body, easy->curl);
  }
}

absl::Status RestClient::Watch(std::string_view path, const Query& query,
                               const EventHandler& on_event, const std::atomic<bool>* cancel,
                               absl::Duration max_duration) {
  WatchDecoder decoder;
  decoder.handler = &on_event;
  bool stopped = false;
  ChunkHandler on_chunk = [&](std::string_view chunk) {
    decoder.buffer.append(chunk.data(), chunk.size());
    stopped = !decoder.Drain(/*at_end=*/false);
    return !stopped;
  };
  absl::Status status = Stream(path, query, on_chunk, cancel, max_duration);
  if (!decoder.status.ok()) return decoder.status;
  if (!status.ok() || stopped) return status;
  // The server ended the stream: a last event without its newline still counts.
  if (!decoder.Drain(/*at_end=*/true)) return decoder.status;
  return absl::OkStatus();
}

}  // namespace tender::k8s
