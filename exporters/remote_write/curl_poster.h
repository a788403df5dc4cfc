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
  // The headers a protocol owns. Remote write is the default; the Loki exporter passes its own.
  struct Protocol {
    std::vector<std::string> headers;        // Fixed lines, e.g. "Content-Encoding: snappy".
    std::vector<std::string> reserved;       // Lowercase names that user `headers:` cannot set.
    bool retry_attempt_header = true;        // Send `Retry-Attempt: n` on retries.
    std::string component = "remote_write";  // For log lines.
  };
  static Protocol RemoteWriteProtocol();

  // Prepares `shards` (at least 1) connections to `config.url` with the TLS options of
  // `config.http.tls_config`, `config.remote_timeout` as the whole-request timeout, and
  // `user_agent` as User-Agent. Fails with InvalidArgument on a URL that is not http(s).
  // User headers that would override a reserved header (protocols.md §4.3: Content-Encoding,
  // Content-Type, User-Agent, X-Prometheus-Remote-Write-Version, Retry-Attempt, plus the
  // connection-level and auth headers) are ignored with a warning.
  // `protocol` replaces the remote-write headers (the connection and auth headers stay
  // reserved).
  static absl::StatusOr<std::unique_ptr<CurlHttpPoster>> Create(
      const config::RemoteWriteConfig& config, std::string user_agent, int shards,
      Protocol protocol = RemoteWriteProtocol());

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

  CurlHttpPoster(const config::RemoteWriteConfig& config, Protocol protocol);

  absl::Status Init(std::string user_agent, int shards);
  absl::Status ConfigureHandle(CURL* easy) const;
  // Builds the header lines of one request; fails when a credentials file cannot be read.
  absl::StatusOr<std::vector<std::string>> HeaderLines(int retry_attempt,
                                                       std::string* password) const;

  const config::RemoteWriteConfig config_;
  const Protocol protocol_;
  std::string url_;         // config_.url, with the host replaced by tls server_name if set.
  std::string connect_to_;  // CURLOPT_CONNECT_TO entry when tls server_name is set.
  std::vector<std::string> fixed_headers_;  // Protocol, Host and user headers.
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace tender::remote_write
