// Typed configuration: the Prometheus-compatible subset tender understands (global,
// scrape_configs, remote_write) plus tender's own additions. Produced by LoadConfig*, which
// validates everything; the structs are plain values, thread-compatible, and never change
// after loading (a reload builds a new Config). Every function here is pure and may be called
// from any thread. Differences from Prometheus are listed in collector/config/README.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/model/labels.h"
#include "collector/relabel/rule_config.h"

namespace tender::config {

struct BasicAuth {
  std::string username;
  std::string password;       // Secret: shown as <secret>.
  std::string password_file;  // Read at request time, so rotation needs no reload.

  friend bool operator==(const BasicAuth&, const BasicAuth&) = default;
};

// `authorization:` and the legacy `bearer_token`/`bearer_token_file` (folded into this).
struct Authorization {
  std::string type = "Bearer";
  std::string credentials;       // Secret.
  std::string credentials_file;  // Read at request time.

  friend bool operator==(const Authorization&, const Authorization&) = default;
};

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  bool insecure_skip_verify = false;

  friend bool operator==(const TlsConfig&, const TlsConfig&) = default;
};

struct HttpClientConfig {
  std::optional<BasicAuth> basic_auth;
  std::optional<Authorization> authorization;
  TlsConfig tls_config;

  friend bool operator==(const HttpClientConfig&, const HttpClientConfig&) = default;
};

struct StaticConfig {
  std::vector<std::string> targets;  // host:port
  model::Labels labels;              // Normalized.

  friend bool operator==(const StaticConfig&, const StaticConfig&) = default;
};

// `file_sd_configs` entry: target-group files (JSON or YAML) re-read every refresh_interval
// and when they change.
struct FileSdConfig {
  // Paths or globs; `*` only in the last path element, names ending in .json, .yml or .yaml
  // (any case, as Prometheus). Relative paths are resolved against the directory of the
  // config file that names them.
  std::vector<std::string> files;
  absl::Duration refresh_interval = absl::Minutes(5);

  friend bool operator==(const FileSdConfig&, const FileSdConfig&) = default;
};

// One `selectors` entry of a kubernetes_sd_config: label and field selectors passed to the
// API server for the objects of `role`.
struct KubernetesSelector {
  std::string role;   // node, pod, service, endpoints, endpointslice or ingress.
  std::string label;  // labelSelector, e.g. "app=web,tier!=cache"; "" = none.
  std::string field;  // fieldSelector, e.g. "spec.nodeName=n1"; "" = none.

  friend bool operator==(const KubernetesSelector&, const KubernetesSelector&) = default;
};

// `kubernetes_sd_configs` entry (Prometheus kubernetes_sd_config). The API server is
// `api_server` with the HTTP client keys, or the context of `kubeconfig_file`, or (neither
// given) the in-cluster service account. Validated as Prometheus validates it.
struct KubernetesSdConfig {
  std::string role;             // node, pod, service, endpoints, endpointslice or ingress.
  std::string api_server;       // Absolute http(s) URL, or "".
  std::string kubeconfig_file;  // Resolved against the config file's directory, or "".
  HttpClientConfig http;        // Only with api_server.
  std::string proxy_url;
  bool follow_redirects = true;
  bool enable_http2 = true;
  // namespaces: {own_namespace, names}. Neither set: all namespaces.
  bool own_namespace = false;
  std::vector<std::string> namespaces;
  std::vector<KubernetesSelector> selectors;
  // attach_metadata: node labels on pod/endpoints/endpointslice targets; namespace labels on
  // every namespaced role.
  bool attach_node_metadata = false;
  bool attach_namespace_metadata = false;

  friend bool operator==(const KubernetesSdConfig&, const KubernetesSdConfig&) = default;
};

// tender's `api_server_proxy` scrape_config key: every target of the job is scraped through the
// proxy of the API server that the job's kubernetes_sd_configs talk to (protocols.md §7.4),
// with that API server's TLS and credentials instead of the job's own HTTP client keys.
struct ApiServerProxyConfig {
  // Proxied scrapes in flight at once against one API server; the others wait their turn.
  int max_concurrent = 16;
  // The port part of the proxy path. "" = from __address__ (for a node: its kubelet while
  // __address__ keeps the discovered kubelet port, else that port); "kubelet" (nodes only);
  // or a port number (a service also takes a port name).
  std::string port;

  friend bool operator==(const ApiServerProxyConfig&, const ApiServerProxyConfig&) = default;
};

struct ScrapeConfig {
  std::string job_name;
  absl::Duration scrape_interval;  // Defaults to global.scrape_interval.
  // Defaults to global.scrape_timeout, capped at scrape_interval; an explicit value larger than
  // scrape_interval is an error, as in Prometheus.
  absl::Duration scrape_timeout;
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  bool enable_compression = true;
  HttpClientConfig http;
  std::vector<StaticConfig> static_configs;
  std::vector<FileSdConfig> file_sd_configs;
  std::vector<KubernetesSdConfig> kubernetes_sd_configs;
  // Target relabeling (before the scrape) and metric relabeling (after parsing), validated
  // as Prometheus's relabel.Config.Validate does; regexes compile under RE2.
  std::vector<relabel::RuleConfig> relabel_configs;
  std::vector<relabel::RuleConfig> metric_relabel_configs;
  // Limits; 0 = none. A job that leaves one unset (or 0) inherits the global value, as in
  // Prometheus, so a job cannot lift a global limit. body_size_limit applies to the
  // decompressed body; the label limits count after metric relabeling; sample_limit fails the
  // scrape when exceeded; target_limit fails every target of the job after target relabeling.
  int64_t body_size_limit = 0;
  int64_t sample_limit = 0;
  int64_t label_limit = 0;
  int64_t label_name_length_limit = 0;
  int64_t label_value_length_limit = 0;
  int64_t target_limit = 0;
  // Stale markers for series whose exposition carried explicit timestamps (Prometheus leaves
  // them out unless this is true).
  bool track_timestamps_staleness = false;
  // Set when the job scrapes through the API server's proxy (tender's own key).
  std::optional<ApiServerProxyConfig> api_server_proxy;

  friend bool operator==(const ScrapeConfig&, const ScrapeConfig&) = default;
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
  // Samples older than this are dropped before sending (counted, reason "too_old"); 0 = off.
  // Prometheus's key: a receiver without an out-of-order window rejects samples more than
  // about an hour behind its newest, so a long backlog is better dropped than rejected.
  absl::Duration sample_age_limit = absl::ZeroDuration();

  friend bool operator==(const QueueConfig&, const QueueConfig&) = default;
};

struct RemoteWriteConfig {
  std::string url;
  // Defaults to the first 6 hex digits of the 64-bit FNV-1a hash of `url` (Prometheus uses a
  // hash of the whole remote_write section; any stable short hash serves the same purpose).
  std::string name;
  absl::Duration remote_timeout = absl::Seconds(30);
  std::map<std::string, std::string> headers;
  HttpClientConfig http;
  QueueConfig queue_config;
  std::vector<relabel::RuleConfig> write_relabel_configs;

  friend bool operator==(const RemoteWriteConfig&, const RemoteWriteConfig&) = default;
};

struct GlobalConfig {
  absl::Duration scrape_interval = absl::Minutes(1);
  absl::Duration scrape_timeout = absl::Seconds(10);
  model::Labels external_labels;  // Normalized.
  // Defaults for the scrape-config limits of the same names (0 = none).
  int64_t body_size_limit = 0;
  int64_t sample_limit = 0;
  int64_t label_limit = 0;
  int64_t label_name_length_limit = 0;
  int64_t label_value_length_limit = 0;
  int64_t target_limit = 0;

  friend bool operator==(const GlobalConfig&, const GlobalConfig&) = default;
};

// tender's own `storage` keys: the disk-backed queue of every remote_write destination under
// --storage.path (DESIGN decision 8). Prometheus's server keys in the same section (tsdb,
// exemplars) are accepted and ignored.
struct StorageConfig {
  // Bound on the queue files of one destination; the oldest data is dropped first (counted).
  // 0 = the default: a tenth of the free space of --storage.path's file system at start-up.
  int64_t max_bytes = 0;
  // Queued batches whose newest sample is older than this are dropped (counted); 0 = off.
  absl::Duration max_age = absl::ZeroDuration();
  // Bytes of one destination kept in memory before the oldest spill to disk. This is also
  // what a kill -9 can lose (graceful shutdown writes it to disk).
  int64_t memory_bytes = 32 << 20;
  // Cap on the bytes per second sent to one destination while it has a backlog on disk;
  // 0 = as fast as the receiver takes it.
  int64_t replay_bytes_per_second = 0;

  friend bool operator==(const StorageConfig&, const StorageConfig&) = default;
};

// One `logs.loki` destination (tender's own section; DESIGN decision 9). Defaults are
// Promtail's (protocols.md §6.8) except that there is no retry limit: a batch is retried until
// Loki takes it, and the disk queue (bounded by `storage`) holds what waits meanwhile.
struct LokiConfig {
  std::string url;
  // Defaults to the first 6 hex digits of the 64-bit FNV-1a hash of `url`, like remote_write.
  std::string name;
  // Sent as X-Scope-OrgID when not empty.
  std::string tenant_id;
  std::map<std::string, std::string> headers;
  HttpClientConfig http;
  // A batch is sent once its lines add up to batch_size bytes or its first entry is
  // batch_wait old.
  int64_t batch_size = 1 << 20;
  absl::Duration batch_wait = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(10);
  // backoff_config: the first retry waits min_period, each later one twice as long, capped.
  absl::Duration min_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Minutes(5);
  enum class Encoding { kProtobuf, kJson };
  Encoding encoding = Encoding::kProtobuf;
  // Entry labels with these names leave the stream labels and are sent as each entry's
  // structured metadata instead (Loki 3.x). Empty (the default): off.
  std::vector<std::string> structured_metadata;

  friend bool operator==(const LokiConfig&, const LokiConfig&) = default;
};

// One `logs.files` entry: files to tail and the labels of their streams.
struct FileLogConfig {
  // Globs (`*`, `?`, `[...]` in any path element); matched again every few seconds, so files
  // appearing later are picked up.
  std::vector<std::string> paths;
  // Stream labels; `filename` (the file's path) is added unless given here.
  model::Labels labels;
  enum class Format { kPlain, kDocker };
  Format format = Format::kPlain;
  // Longer lines are cut to this many bytes (counted); Loki's default max_line_size is 256 KB.
  int64_t max_line_size = 256 << 10;

  friend bool operator==(const FileLogConfig&, const FileLogConfig&) = default;
};

// One `logs.events` entry: the core/v1 Events of a cluster, each change one log line. The API
// server is chosen as for kubernetes_sd_configs: `api_server` with the HTTP client keys, or the
// context of `kubeconfig_file`, or (neither given) the in-cluster service account.
struct EventsLogConfig {
  std::string api_server;       // Absolute http(s) URL, or "".
  std::string kubeconfig_file;  // Resolved against the config file's directory, or "".
  HttpClientConfig http;        // Only with api_server.
  std::string proxy_url;
  bool follow_redirects = true;
  bool enable_http2 = true;
  std::vector<std::string> namespaces;  // namespaces.names; empty: all namespaces.
  // Stream label `job`; also names the delivery record under --storage.path, so it is unique
  // across logs.events entries.
  std::string job_name = "kubernetes-events";
  // Static stream labels added to job, namespace, kind and type (which they may not replace).
  model::Labels labels;

  friend bool operator==(const EventsLogConfig&, const EventsLogConfig&) = default;
};

// One `logs.kubernetes` entry: container logs read through the API server (pods/log with
// follow), one stream per (namespace, pod, container) of the discovered pods.
struct KubernetesLogConfig {
  std::string job_name = "kubernetes-pods";  // The `job` label; unique across entries.
  // Role pod only; parsed and validated as in scrape jobs.
  std::vector<KubernetesSdConfig> kubernetes_sd_configs;
  // Applied to each container's labels (job, namespace, pod, container, node, app and the
  // __meta_kubernetes_pod_* labels); drop/keep select containers; the labels not starting
  // with `__` afterwards are the Loki stream labels.
  std::vector<relabel::RuleConfig> relabel_configs;
  int max_streams = 200;              // Follow streams open at once; the rest wait.
  int64_t max_line_size = 256 << 10;  // Longer lines are cut (counted).
  // Per stream: lines beyond the rate wait (the stream is read more slowly), never dropped.
  double lines_per_second = 1000;
  int64_t burst = 5000;

  friend bool operator==(const KubernetesLogConfig&, const KubernetesLogConfig&) = default;
};

// tender's own top-level `logs` section.
struct LogsConfig {
  std::vector<LokiConfig> loki;
  std::vector<FileLogConfig> files;
  std::vector<EventsLogConfig> events;
  std::vector<KubernetesLogConfig> kubernetes;

  friend bool operator==(const LogsConfig&, const LogsConfig&) = default;
};

struct Config {
  GlobalConfig global;
  // The jobs of the main file followed by those of the `scrape_config_files` it names (in
  // glob order); job names are unique across all of them.
  std::vector<ScrapeConfig> scrape_configs;
  std::vector<RemoteWriteConfig> remote_write;
  StorageConfig storage;
  LogsConfig logs;

  friend bool operator==(const Config&, const Config&) = default;
};

// One problem found while loading: where it is and what is wrong.
struct ConfigError {
  std::string path;  // YAML path, e.g. "scrape_configs[1].static_configs[0].targets[2]".
  int line = 0;      // 1-based line in the file; 0 when unknown.
  std::string message;
  // The file the error is in when it is not the main config file (a `scrape_config_files`
  // include); empty for the main file.
  std::string file;

  // "FILE:LINE: PATH: MESSAGE", FILE being `file` when set, else `main_file`. The LINE part is
  // left out when `line` is 0 and the PATH part when `path` is empty (e.g. "tender.yml: cannot
  // read file: No such file or directory").
  std::string ToString(const std::string& main_file) const;

  friend bool operator==(const ConfigError&, const ConfigError&) = default;
};

struct LoadResult {
  std::optional<Config> config;  // Set only when `errors` is empty.
  // Every error found: the main file's ordered by line, then each included file's.
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;  // Accepted but noteworthy (e.g. unused sections).
};

// Parses and validates YAML text (one document; an empty text is the all-defaults config).
// Collects every error rather than stopping at the first: unknown keys, keys tender does not
// support yet, wrong YAML types, invalid values and cross-field conflicts, each with its YAML
// path and line. Relative paths in the config (file_sd_configs files, scrape_config_files
// globs, and the files those include) are resolved against `base_dir`; an empty `base_dir`
// leaves them relative to the working directory. `scrape_config_files` are read here (errors
// in them carry ConfigError::file). Never throws.
LoadResult LoadConfigString(const std::string& yaml, const std::string& base_dir = "");

// Reads and loads a file, resolving relative paths against the file's directory (as
// Prometheus does); a read error is reported as one ConfigError with line 0 and an empty path.
// Never throws.
LoadResult LoadConfigFile(const std::string& path);

// The config used without --config.file: global scrape_interval 15s, job "tender" scraping
// tender itself at `self_address`, job "node" scraping node-exporter on localhost:9100,
// remote-write to http://localhost:9090/api/v1/write. `self_address` is a listen address
// ("host:port"); an empty or wildcard host (":9464", "0.0.0.0:9464", "[::]:9464") becomes
// "localhost". The result always loads without errors for a valid port.
std::string DefaultConfigYaml(const std::string& self_address);

// The effective config (defaults filled in) rendered as YAML that LoadConfigString accepts.
// Every secret (basic_auth password, authorization credentials, which include folded
// bearer_token values, and a password inside a remote_write URL) is replaced by "<secret>";
// *_file paths are shown. Remote-write `headers` are shown, as Prometheus does.
std::string RedactedYaml(const Config& config);

// Parses a Prometheus duration (prometheus/common model.ParseDuration): one or more
// <integer><unit> with units y (365d), w (7d), d, h, m, s, ms, largest first, each unit at
// most once ("1h30m", "15s", "100ms", "1d", "2w"); "0" is allowed without a unit; no
// fractions, signs or spaces. Fails with InvalidArgument, or OutOfRange past ~292 years.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// Renders a duration as Prometheus prints it: largest units first, y and w only when they
// divide the whole duration exactly ("90d", not "12w6d"), sub-millisecond parts dropped,
// "0s" for zero ("1m30s", "15s", "2w", "1y"). A negative duration gets a leading '-'.
// Call it qualified (config::FormatDuration): ADL on absl::Duration also finds
// absl::FormatDuration, which prints Go's time.Duration form ("1m30s", but "24h0m0s").
std::string FormatDuration(absl::Duration d);

// Parses a byte size as Prometheus's body_size_limit does (alecthomas/units Base2Bytes):
// one or more <number><unit>, units B, KB, MB, GB, TB, PB, EB or B, KiB, MiB, GiB, TiB, PiB,
// EiB, all powers of 1024 (so "1KB" == "1KiB" == 1024), one family per string, case-sensitive,
// decimal fractions allowed and truncated to whole bytes ("1.5KB" == 1536, "1GB512MB").
// A plain non-negative integer is a number of bytes (Prometheus accepts a YAML integer).
// Fails with InvalidArgument for anything else, negatives included, or OutOfRange.
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

// Renders bytes in the Base2Bytes form ParseByteSize reads back: "0B", "512B", "10MiB",
// "1KiB512B". `bytes` must be >= 0.
std::string FormatByteSize(int64_t bytes);

// Checks a scrape target address as written in static_configs targets: "host", "host:port"
// or "[ipv6]" / "[ipv6]:port", port 1-65535, no scheme, path or whitespace. OK or
// InvalidArgument with a message saying what is wrong.
absl::Status ValidateTargetAddress(std::string_view address);

// Checks a Kubernetes label selector as the API server parses it (apimachinery labels.Parse):
// comma-separated requirements `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`,
// `key notin (a,b)`, `key>N`, `key<N`; keys are qualified names ([prefix/]name), values at
// most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric. "" is valid.
// InvalidArgument naming the problem.
absl::Status ValidateLabelSelector(std::string_view selector);

// Checks a Kubernetes field selector (apimachinery fields.ParseSelector): comma-separated
// `field=value`, `field==value` or `field!=value`; `\`, `\,` and `\=` escape in values.
// "" is valid. InvalidArgument naming the problem.
absl::Status ValidateFieldSelector(std::string_view selector);

}  // namespace tender::config
