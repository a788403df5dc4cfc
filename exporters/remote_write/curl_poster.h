// CurlHttpPoster: the libcurl HttpPoster. One easy handle per shard, reused, so every shard
// keeps its own keep-alive connection (one request in flight per shard). Thread-safe: each
// handle has its own mutex; shard threads never contend in practice.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/config/config.h"
#include "exporters/remote_write/http_poster.h"

typedef void CURL;

namespace tender::remote_write {

class CurlHttpPoster final : public HttpPoster {
 public:
  // Prepares `shards` (at least 1) connections to `config.url` with the TLS options of
  // `config.http.tls_config`, `config.remote_timeout` as the whole-request timeout, and
  // `user_agent` as User-Agent. Fails with InvalidArgument on a URL that is not http(s).
  // User headers that would override a reserved header (protocols.md §4.3: Content-Encoding,
  // Content-Type, User-Agent, X-Prometheus-Remote-Write-Version, Retry-Attempt, plus the
  // connection-level and auth headers) are ignored with a warning.
  static absl::StatusOr<std::unique_ptr<CurlHttpPoster>> Create(
      const config::RemoteWriteConfig& config, std::string user_agent, int shards);

  ~CurlHttpPoster() override;

  // Sends `request.body` with the remote-write 1.0 headers. Basic-auth passwords and
  // authorization credentials given as files are read now, so rotated secrets apply without
  // a reload; an unreadable file is reported as status 0 (retried). Thread-safe.
  PostResponse Post(const PostRequest& request) override;

 private:
  struct Connection {
    std::mutex mu;  // Covers `easy`: one transfer at a time per handle.
    CURL* easy = nullptr;
  };

  explicit CurlHttpPoster(const config::RemoteWriteConfig& config);

  absl::Status Init(std::string user_agent, int shards);
  absl::Status ConfigureHandle(CURL* easy) const;
  // Builds the header lines of one request; fails when a credentials file cannot be read.
  absl::StatusOr<std::vector<std::string>> HeaderLines(int retry_attempt,
                                                       std::string* password) const;

  const config::RemoteWriteConfig config_;
  std::string url_;         // config_.url, with the host replaced by tls server_name if set.
  std::string connect_to_;  // CURLOPT_CONNECT_TO entry when tls server_name is set.
  std::vector<std::string> fixed_headers_;  // Protocol, Host and user headers.
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace tender::remote_write
