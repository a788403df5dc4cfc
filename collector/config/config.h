// Typed configuration: the Prometheus-compatible subset tender understands (global,
// scrape_configs, remote_write) plus tender's own additions. Produced by LoadConfig*, which
// validates everything; the structs are plain values, thread-compatible, and never change
// after loading (a reload builds a new Config).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/model/labels.h"

namespace tender::config {

struct BasicAuth {
  std::string username;
  std::string password;       // Secret: shown as <secret>.
  std::string password_file;  // Read at request time, so rotation needs no reload.
};

// `authorization:` and the legacy `bearer_token`/`bearer_token_file` (folded into this).
struct Authorization {
  std::string type = "Bearer";
  std::string credentials;       // Secret.
  std::string credentials_file;  // Read at request time.
};

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  bool insecure_skip_verify = false;
};

struct HttpClientConfig {
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  TlsConfig tls_config;
};

struct StaticConfig {
  std::vector<std::string> targets;  // host:port
  model::Labels labels;              // Normalized.
};

struct ScrapeConfig {
  std::string job_name;
  absl::Duration scrape_interval;  // Defaults to global.scrape_interval.
  absl::Duration scrape_timeout;   // Defaults to global.scrape_timeout, capped at interval.
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  bool enable_compression = true;
  HttpClientConfig http;
  std::vector<StaticConfig> static_configs;
  // 0 = no limit. Applies to the decompressed body.
  int64_t body_size_limit = 0;
};

struct QueueConfig {
  int capacity = 10000;  // Samples buffered per shard.
  int max_shards = 50;
  int min_shards = 1;
  int max_samples_per_send = 2000;
  absl::Duration batch_send_deadline = absl::Seconds(5);
  absl::Duration min_backoff = absl::Milliseconds(30);
  absl::Duration max_backoff = absl::Seconds(5);
  // tender retries 429 by default (Prometheus does not): a rate-limited receiver should slow
  // us down, not make us drop data.
  bool retry_on_http_429 = true;
};

struct RemoteWriteConfig {
  std::string url;
  std::string name;  // Defaults to a short hash of the URL.
  absl::Duration remote_timeout = absl::Seconds(30);
  std::map<std::string, std::string> headers;
  HttpClientConfig http;
  QueueConfig queue_config;
};

struct GlobalConfig {
  absl::Duration scrape_interval = absl::Minutes(1);
  absl::Duration scrape_timeout = absl::Seconds(10);
  model::Labels external_labels;  // Normalized.
};

struct Config {
  GlobalConfig global;
  std::vector<ScrapeConfig> scrape_configs;
  std::vector<RemoteWriteConfig> remote_write;
};

// One problem found while loading: where it is and what is wrong.
struct ConfigError {
  std::string path;  // YAML path, e.g. "scrape_configs[1].static_configs[0].targets[2]".
  int line = 0;      // 1-based line in the file; 0 when unknown.
  std::string message;

  // "FILE:LINE: PATH: MESSAGE".
  std::string ToString(const std::string& file) const;
};

struct LoadResult {
  std::optional<Config> config;            // Set only when `errors` is empty.
  std::vector<ConfigError> errors;         // Every error found, in file order.
  std::vector<std::string> warnings;       // Accepted but noteworthy (e.g. unused sections).
};

// Parses and validates YAML text. Never throws.
LoadResult LoadConfigString(const std::string& yaml);

// Reads and loads a file; a read error is reported as one ConfigError with line 0.
LoadResult LoadConfigFile(const std::string& path);

// The config used without --config.file: scrape tender itself (at `self_address`) and
// node-exporter on localhost:9100, remote-write to http://localhost:9090/api/v1/write.
std::string DefaultConfigYaml(const std::string& self_address);

// The config rendered back as YAML with every secret replaced by "<secret>".
std::string RedactedYaml(const Config& config);

// Parses Prometheus durations ("1h30m", "15s", "100ms", "1d", "1w", "1y"; no fractions).
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);
// Renders the shortest Prometheus form ("1m30s", "15s", "0s").
std::string FormatDuration(absl::Duration d);
// Parses Prometheus byte sizes ("512MB", "1GiB"? no: Prometheus units B KB MB GB TB PB EB,
// powers of 1024, also plain integers).
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

}  // namespace tender::config
