// REST client for the Kubernetes API server over libcurl: one-shot GETs (pooled easy handles,
// connection reuse, HTTP/2 over TLS when available) and streaming watches that decode
// newline-delimited JSON watch events, and raw streams of any body (pod logs). TLS and
// authentication come from a KubeConfig.
// Thread-safe: any thread may call Get(), Watch() and Stream() concurrently; a Watch or
// Stream blocks its caller.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/k8s/credentials.h"
#include "collector/k8s/kubeconfig.h"
#include "rapidjson/document.h"

namespace tender::k8s {

using Query = std::vector<std::pair<std::string, std::string>>;

struct Response {
  long status = 0;  // HTTP status (2xx: errors become a non-OK absl::Status).
  std::string content_type;
  std::string body;
};

// HTTP status → absl code used by Get() and Watch(): 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 409 AlreadyExists, 410 OutOfRange (resource version expired: re-list),
// 429 ResourceExhausted, 5xx Unavailable, other 4xx InvalidArgument. Transport errors are
// Unavailable, timeouts DeadlineExceeded.
absl::StatusCode CodeForHttpStatus(long http_status);
// True for the status that means "too old resource version" (HTTP 410 / Status code 410).
bool IsExpired(const absl::Status& status);
// The server's Retry-After (seconds form) carried by an error from Get()/Watch(), if any.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// One decoded watch event. `object` is the event's object (for kError a meta/v1 Status).
struct WatchEvent {
  WatchEventType type = WatchEventType::kError;
  std::shared_ptr<rapidjson::Document> object;
  // For kError: Status.code / reason / message.
  int error_code = 0;
  std::string error_reason;
  std::string error_message;

  // An ERROR event whose Status has code 410 (reason Expired, or Gone on older servers).
  bool IsExpired() const { return type == WatchEventType::kError && error_code == 410; }
};

// Copies the API object `value` into a document of its own that holds it in one allocation of
// exactly its size (rapidjson's default pool starts every document with a 64 KiB chunk: 10k
// stored pods would take 640 MiB), leaving out metadata.managedFields (server-side apply
// bookkeeping that no consumer reads, often a third of an object).
std::shared_ptr<rapidjson::Document> CopyObject(const rapidjson::Value& value);

// Decodes one watch event line. InvalidArgument for malformed JSON or an unknown type.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

struct RestClientOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration request_timeout = absl::Seconds(60);  // Whole Get(), body included.
  std::string user_agent = "tender";
  bool enable_http2 = true;       // HTTP/2 over TLS when the server offers it; else HTTP/1.1.
  bool follow_redirects = false;  // Follow up to 10 redirects.
};

class RestClient {
 public:
  // Returns an error when the TLS material cannot be read.
  static absl::StatusOr<std::unique_ptr<RestClient>> Create(
      const KubeConfig& config, RestClientOptions options = {},
      CredentialProvider::Clock clock = nullptr);
  ~RestClient();

  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // GET server + `path` (e.g. "/api/v1/pods") with `query` (values are URL-escaped). A 401
  // invalidates the credential and retries once. Non-2xx answers are errors (see
  // CodeForHttpStatus) whose message includes the API Status message.
  absl::StatusOr<Response> Get(std::string_view path, const Query& query = {});

  // Called for each decoded event, on the Watch caller's thread. Return false to end the watch.
  using EventHandler = std::function<bool(WatchEvent&&)>;

  // Streams GET path?query (the caller adds watch=1, resourceVersion, ...) and calls
  // `on_event` per event. Returns OK when the server ended the stream or `on_event` returned
  // false, Cancelled when `*cancel` became true (noticed within about 100 ms, also when idle),
  // otherwise the error (HTTP status mapped as for Get; an undecodable line is
  // InvalidArgument). `max_duration` bounds the whole stream (zero: unbounded).
  absl::Status Watch(std::string_view path, const Query& query, const EventHandler& on_event,
                     const std::atomic<bool>* cancel = nullptr,
                     absl::Duration max_duration = absl::ZeroDuration());

  // Called with each piece of the body as it arrives, on the Stream caller's thread (the view
  // lives until the call returns; pieces do not align with lines). Return false to end.
  using ChunkHandler = std::function<bool(std::string_view chunk)>;

  // Streams the raw body of GET path?query (pod logs with follow=true, or any long-lived
  // answer) to `on_chunk`. Returns OK when the server completed the body or `on_chunk`
  // returned false, Cancelled when `*cancel` became true (noticed within about 100 ms, also when
  // idle), otherwise the error: HTTP status mapped as for Get (the body of a non-2xx answer is
  // not passed to `on_chunk`), or Unavailable when the connection broke before the body was
  // complete. `max_duration` bounds the whole stream (zero: unbounded). Watch runs on it.
  absl::Status Stream(std::string_view path, const Query& query, const ChunkHandler& on_chunk,
                      const std::atomic<bool>* cancel = nullptr,
                      absl::Duration max_duration = absl::ZeroDuration());

  const KubeConfig& config() const { return config_; }
  CredentialProvider& credentials() { return credentials_; }

 private:
  struct Easy;
  RestClient(KubeConfig config, RestClientOptions options, CredentialProvider::Clock clock);

  std::string Url(std::string_view path, const Query& query) const;
  // Sets URL, TLS and auth on `easy`.
  absl::Status Prepare(Easy& easy, const std::string& url, const Credential& cred, bool streaming);
  std::unique_ptr<Easy> Acquire();
  void Release(std::unique_ptr<Easy> easy);

  const KubeConfig config_;
  const RestClientOptions options_;
  std::string ca_pem_;  // certificate-authority(-data) contents; empty for the system store.
  CredentialProvider credentials_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Easy>> pool_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace tender::k8s
