// HttpPoster: the one network call of the remote-write exporter, behind a small interface so
// that tests can inject a fake. Implementations are called concurrently from the shard sender
// threads (one call at a time per shard index) and must be thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tender::remote_write {

// How much of a response body is kept for logging (protocols.md §4.3: senders read ≤ 1 KiB).
inline constexpr size_t kMaxResponseBodyBytes = 1024;

struct PostRequest {
  int shard = 0;          // Sender index; an implementation may keep one connection per shard.
  std::string_view body;  // Snappy-compressed WriteRequest; valid for the duration of Post.
  int retry_attempt = 0;  // 0 on the first attempt; n >= 1 is sent as `Retry-Attempt: n`.
  // When it becomes true (shutdown deadline), the call should give up as soon as possible.
  const std::atomic<bool>* cancel = nullptr;
  // Header lines (`Name: value`) of this request only, after the fixed ones; may be null.
  // Used by the Loki exporter for X-Scope-OrgID and Content-Type.
  const std::vector<std::string>* extra_headers = nullptr;
};

struct PostResponse {
  int status = 0;           // HTTP status; 0 when no response arrived.
  std::string error;        // Why no response arrived (status 0); empty otherwise.
  std::string retry_after;  // The Retry-After header value, if any.
  std::string body;         // At most kMaxResponseBodyBytes of the body, for logging only.
};

class HttpPoster {
 public:
  virtual ~HttpPoster() = default;

  // POSTs one remote-write request and reports what came back. Never throws; network errors,
  // timeouts and cancellation are reported as status 0 with `error` set.
  virtual PostResponse Post(const PostRequest& request) = 0;
};

}  // namespace tender::remote_write
