// LoadConfigString / LoadConfigFile: YAML -> typed Config, with Prometheus defaults and
// validation rules, collecting every error with its YAML path and line.

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/config/config.h"
#include "collector/config/relabel_reader.h"
#include "collector/config/yaml_reader.h"
#include "collector/model/absl_compat.h"
#include "yaml-cpp/yaml.h"

namespace tender::config {
namespace {

using internal::Diagnostics;
using internal::Field;
using internal::MapReader;

// Prometheus server sections an agent has no use for: accepted with one warning.
const std::vector<std::string_view> kUnusedSections = {"rule_files", "alerting", "remote_read"};

// Keys of the HTTP client config (prometheus/common config.HTTPClientConfig) tender does not
// implement yet.
const std::vector<std::string_view> kHttpNotSupported = {"oauth2",
                                                         "proxy_url",
                                                         "no_proxy",
                                                         "proxy_from_environment",
                                                         "proxy_connect_header",
                                                         "follow_redirects",
                                                         "enable_http2",
                                                         "http_headers"};

const std::vector<std::string_view> kHttpKeys = {"basic_auth", "authorization", "bearer_token",
                                                 "bearer_token_file", "tls_config"};

std::vector<std::string_view> Concat(std::vector<std::string_view> a,
                                     const std::vector<std::string_view>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", ToAbsl(s), "\""); }

// Headers a user must not set on remote-write requests: the protocol's own, hop-by-hop ones
// and auth (which has its own settings). Prometheus's reserved list.
constexpr std::string_view kReservedHeaders[] = {"Authorization",
                                                 "Host",
                                                 "Content-Encoding",
                                                 "Content-Length",
                                                 "Content-Type",
                                                 "User-Agent",
                                                 "Connection",
                                                 "Keep-Alive",
                                                 "Proxy-Authenticate",
                                                 "Proxy-Authorization",
                                                 "WWW-Authenticate",
                                                 "Retry-After",
                                                 "X-Prometheus-Remote-Write-Version"};

// The default remote_write name: first 6 hex digits of FNV-1a 64 of the URL. Stable across
// versions and platforms (unlike model::Hash64), so dashboards keyed on it survive upgrades.
std::string DefaultRemoteWriteName(std::string_view url) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : url) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int shift = 60; shift >= 40; shift -= 4) {
    out += kHex[(hash >> shift) & 0xF];
  }
  return out;
}

bool ValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) {
    return false;
  }
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

// An absolute http(s) URL with a host: what libcurl will be given.
absl::Status ValidateHttpUrl(std::string_view url) {
  for (unsigned char c : url) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError("url must not contain whitespace or control characters");
    }
  }
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(url), " is not an absolute URL (expected http://host[:port]/path)"));
  }
  const std::string scheme = absl::AsciiStrToLower(ToAbsl(url.substr(0, scheme_end)));
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("url scheme must be http or https, got ", Quote(scheme)));
  }
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("url has an unterminated IPv6 address");
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError("url has garbage after the IPv6 address");
      }
      port = after.substr(1);
      has_port = true;
    }
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("url ", Quote(url), " has no host"));
  }
  if (has_port && !ValidPort(port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("url ", Quote(url), " has an invalid port (1-65535)"));
  }
  return absl::OkStatus();
}

// `path` resolved against `dir` (unchanged when absolute or when `dir` is empty).
std::string JoinDir(std::string_view dir, std::string_view path) {
  if (dir.empty() || path.empty() || path[0] == '/') {
    return std::string(path);
  }
  return absl::StrCat(ToAbsl(dir), dir.back() == '/' ? "" : "/", ToAbsl(path));
}

// The directory part of a file path: "a/b.yml" -> "a", "/b.yml" -> "/", "b.yml" -> "".
std::string DirOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return "";
  }
  return std::string(path.substr(0, slash == 0 ? 1 : slash));
}

// Prometheus's patRulePath, ^[^*]*(\*[^/]*)?$: a `*` only in the last path element.
bool StarOnlyInLastElement(std::string_view pattern) {
  const size_t star = pattern.find('*');
  return star == std::string_view::npos || pattern.find('/', star) == std::string_view::npos;
}

// Prometheus's patFileSDName: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$.
bool IsValidFileSdPath(std::string_view path) {
  if (!StarOnlyInLastElement(path)) {
    return false;
  }
  for (std::string_view ext : {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"}) {
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) {
      return true;
    }
  }
  return false;
}

// Where a job name was first seen, for duplicate errors across included files.
struct JobSite {
  std::string file;  // Empty for the main config file.
  int line = 0;
};
using JobSites = absl::flat_hash_map<std::string, JobSite>;

// Reads a whole file; false with `*error` set when it cannot.
bool ReadWholeFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = absl::StrCat("cannot read file: ", std::strerror(errno));
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read file: read error";
    return false;
  }
  *out = buffer.str();
  return true;
}

// Parses `yaml` and runs `load` on the root, turning yaml-cpp exceptions into errors.
template <typename LoadFn>
void ParseAndLoad(const std::string& yaml, Diagnostics* diag, LoadFn load) {
  try {
    const YAML::Node root = YAML::Load(yaml);
    load(root);
  } catch (const YAML::ParserException& e) {
    diag->Error(e.mark.line >= 0 ? e.mark.line + 1 : 0, "", absl::StrCat("invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    // yaml-cpp may throw on node access for malformed documents; never let it escape.
    diag->Error(0, "", absl::StrCat("invalid config: ", e.what()));
  }
}

// Loads one config document (the main file, or one `scrape_config_files` include). One
// instance per file.
class Loader {
 public:
  // `base_dir` resolves relative paths; `file` is empty for the main file, else the included
  // file's path (for messages); `jobs` is shared by the main file and its includes.
  Loader(Diagnostics* diag, std::string base_dir, std::string file, JobSites* jobs)
      : diag_(diag), base_dir_(std::move(base_dir)), file_(std::move(file)), jobs_(jobs) {}

  // The main document.
  Config Load(const YAML::Node& root);
  // An included document (only `scrape_configs:`), whose jobs inherit `global`.
  void LoadIncluded(const YAML::Node& root, const GlobalConfig& global, bool global_ok,
                    std::vector<ScrapeConfig>* out);

  // Errors found in included files, with ConfigError::file set.
  std::vector<ConfigError> TakeIncludedErrors() { return std::move(included_errors_); }

 private:
  void LoadGlobal(const Field& field, GlobalConfig* global);
  // Reads and checks the `scrape_config_files` patterns; returns them with their lines.
  std::vector<std::pair<std::string, int>> LoadScrapeConfigFiles(const Field& field);
  // Expands each pattern and loads the files it matches, appending their jobs to `out`.
  void LoadIncludedFiles(const std::vector<std::pair<std::string, int>>& patterns,
                         std::vector<ScrapeConfig>* out);
  void LoadScrapeConfigs(const Field& field, std::vector<ScrapeConfig>* out);
  void LoadFileSdConfigs(const Field& field, std::vector<FileSdConfig>* out);
  void LoadKubernetesSdConfigs(const Field& field, std::vector<KubernetesSdConfig>* out);
  void LoadKubernetesSdConfig(const Field& item, KubernetesSdConfig* sd);
  // The keys that choose and reach an API server, shared by kubernetes_sd_configs and
  // logs.events: api_server, kubeconfig_file, proxy_url, follow_redirects, enable_http2 and the
  // HTTP client keys. `T` has those members.
  struct ApiServerKeys {
    const Field* kubeconfig = nullptr;
    bool http_ok = true;  // The HTTP client keys loaded without error.
    bool custom_http = false;
  };
  template <typename T>
  ApiServerKeys ReadApiServerKeys(MapReader& r, T* c);
  // Prometheus's first cross-field rules over those keys; true when one was reported.
  template <typename T>
  bool CheckApiServerKeys(const MapReader& r, const T& c, const ApiServerKeys& keys);
  // tender's api_server_proxy key of a job whose other keys `sc` already holds.
  void LoadApiServerProxy(const Field& field, ScrapeConfig* sc);
  // A limit: an integer >= 0.
  void ReadLimit(const Field* field, int64_t* out);
  // `*job_name_at` gets the path and line of job_name when it is present.
  void LoadScrapeConfig(const Field& field, ScrapeConfig* sc,
                        std::optional<std::pair<std::string, int>>* job_name_at);
  void LoadParams(const Field& field, std::map<std::string, std::vector<std::string>>* out);
  void LoadStaticConfigs(const Field& field, std::vector<StaticConfig>* out);
  void LoadRemoteWrites(const Field& field, std::vector<RemoteWriteConfig>* out);
  void LoadRemoteWrite(const Field& field, RemoteWriteConfig* rw, int* name_line);
  // The required `url` key of `r`: http(s), checked; left empty (with an error) when bad.
  void ReadRequiredHttpUrl(MapReader& r, std::string* out);
  void LoadHeaders(const Field& field, std::map<std::string, std::string>* out);
  void LoadQueueConfig(const Field& field, QueueConfig* queue);
  // Adds the Prometheus-only keys it finds (storage.tsdb, ...) to `unused`.
  void LoadStorage(const Field& field, StorageConfig* storage, std::vector<std::string>* unused);
  void LoadLogs(const Field& field, LogsConfig* logs);
  void LoadLoki(const Field& field, LokiConfig* loki);
  void LoadLogFiles(const Field& field, FileLogConfig* files);
  void LoadLogEvents(const Field& field, EventsLogConfig* events);
  void LoadLogKubernetes(const Field& field, KubernetesLogConfig* kube);
  // Reads the HTTP client keys (kHttpKeys) of `reader`'s map.
  void LoadHttpClient(MapReader& reader, HttpClientConfig* http);
  void LoadTls(const Field& field, TlsConfig* tls);
  // A duration that must be > 0 when set.
  bool ReadPositiveDuration(const Field* field, absl::Duration* out);

  Diagnostics* diag_;
  const std::string base_dir_;
  const std::string file_;
  JobSites* jobs_;
  std::vector<ConfigError> included_errors_;
  // Global interval/timeout are only compared against job values when they parsed cleanly.
  bool global_ok_ = true;
  GlobalConfig global_;
};

Config Loader::Load(const YAML::Node& root) {
  Config config;
  const Field root_field{root, "", internal::LineOf(root)};
  MapReader top(root_field, diag_);
  if (!top.ok()) {
    return config;
  }
  if (const Field* f = top.Take("global")) {
    LoadGlobal(*f, &config.global);
  }
  global_ = config.global;
  if (const Field* f = top.Take("scrape_configs")) {
    LoadScrapeConfigs(*f, &config.scrape_configs);
  }
  std::vector<std::pair<std::string, int>> include_patterns;
  if (const Field* f = top.Take("scrape_config_files")) {
    include_patterns = LoadScrapeConfigFiles(*f);
  }
  if (const Field* f = top.Take("remote_write")) {
    LoadRemoteWrites(*f, &config.remote_write);
  }
  if (const Field* f = top.Take("logs")) {
    LoadLogs(*f, &config.logs);
  }
  std::vector<std::string> unused;
  if (const Field* f = top.Take("storage")) {
    LoadStorage(*f, &config.storage, &unused);
  }
  for (std::string_view section : kUnusedSections) {
    if (top.Take(section) != nullptr) {
      unused.emplace_back(section);
    }
  }
  if (!unused.empty()) {
    diag_->Warning(absl::StrCat(
        "ignoring section(s) ", absl::StrJoin(unused, ", "),
        ": tender is an agent; it does not evaluate rules, send alerts, read remotely or "
        "store samples locally"));
  }
  top.Finish(
      Concat({"global", "scrape_configs", "scrape_config_files", "remote_write", "storage", "logs"},
             kUnusedSections),
      {"runtime", "tracing", "otlp"});
  LoadIncludedFiles(include_patterns, &config.scrape_configs);
  return config;
}

void Loader::LoadIncluded(const YAML::Node& root, const GlobalConfig& global, bool global_ok,
                          std::vector<ScrapeConfig>* out) {
  global_ = global;
  global_ok_ = global_ok;
  const Field root_field{root, "", internal::LineOf(root)};
  MapReader top(root_field, diag_);
  if (!top.ok()) {
    return;
  }
  if (const Field* f = top.Take("scrape_configs")) {
    LoadScrapeConfigs(*f, out);
  }
  top.Finish({"scrape_configs"}, {});
}

std::vector<std::pair<std::string, int>> Loader::LoadScrapeConfigFiles(const Field& field) {
  std::vector<std::pair<std::string, int>> patterns;
  if (field.IsNull()) {
    return patterns;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of file paths or globs, got ",
                              internal::DescribeType(field.value)));
    return patterns;
  }
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    std::string pattern;
    if (item.IsNull()) {
      diag_->Error(item.line, item.path, "empty scrape config file path");
    } else if (internal::ReadString(item, diag_, &pattern)) {
      if (pattern.empty() || !StarOnlyInLastElement(pattern)) {
        diag_->Error(item.line, item.path,
                     absl::StrCat("invalid scrape config file path ", Quote(pattern),
                                  " (a `*` may only appear in the last path element)"));
      } else {
        patterns.emplace_back(JoinDir(base_dir_, pattern), item.line);
      }
    }
  }
  return patterns;
}

void Loader::LoadIncludedFiles(const std::vector<std::pair<std::string, int>>& patterns,
                               std::vector<ScrapeConfig>* out) {
  for (const auto& [pattern, line] : patterns) {
    glob_t matches{};
    const int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
    std::vector<std::string> files;
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) {
        files.emplace_back(matches.gl_pathv[i]);  // glob sorts them, as Go's filepath.Glob.
      }
    }
    globfree(&matches);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      diag_->Error(line, "scrape_config_files",
                   absl::StrCat("cannot expand ", Quote(pattern), ": glob failed"));
      continue;
    }
    for (const std::string& file : files) {
      std::string text;
      std::string read_error;
      if (!ReadWholeFile(file, &text, &read_error)) {
        included_errors_.push_back(ConfigError{"", 0, read_error, file});
        continue;
      }
      Diagnostics diag(text);
      Loader loader(&diag, DirOf(file), file, jobs_);
      ParseAndLoad(text, &diag, [&](const YAML::Node& root) {
        loader.LoadIncluded(root, global_, global_ok_, out);
      });
      for (ConfigError& e : diag.TakeErrors()) {
        e.file = file;
        included_errors_.push_back(std::move(e));
      }
    }
  }
}

void Loader::LoadGlobal(const Field& field, GlobalConfig* global) {
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  const Field* interval = r.Take("scrape_interval");
  const Field* timeout = r.Take("scrape_timeout");
  absl::Duration interval_value;
  absl::Duration timeout_value;
  const bool interval_ok =
      interval == nullptr || internal::ReadDuration(*interval, diag_, &interval_value);
  const bool timeout_ok =
      timeout == nullptr || internal::ReadDuration(*timeout, diag_, &timeout_value);
  if (interval_value > absl::ZeroDuration()) {  // Zero means unset, as in Prometheus.
    global->scrape_interval = interval_value;
  }
  if (const Field* f = r.Take("external_labels")) {
    internal::ReadLabels(*f, diag_, &global->external_labels);
  }
  if (const Field* f = r.Take("evaluation_interval")) {
    // Every prometheus.yml has it; tender evaluates no rules, but a typo is still an error.
    absl::Duration ignored;
    internal::ReadDuration(*f, diag_, &ignored);
  }
  // Defaults for the job limits (Prometheus >= 2.45).
  if (const Field* f = r.Take("body_size_limit")) {
    internal::ReadByteSize(*f, diag_, &global->body_size_limit);
  }
  ReadLimit(r.Take("sample_limit"), &global->sample_limit);
  ReadLimit(r.Take("label_limit"), &global->label_limit);
  ReadLimit(r.Take("label_name_length_limit"), &global->label_name_length_limit);
  ReadLimit(r.Take("label_value_length_limit"), &global->label_value_length_limit);
  ReadLimit(r.Take("target_limit"), &global->target_limit);
  r.Finish({"scrape_interval", "scrape_timeout", "external_labels", "evaluation_interval",
            "body_size_limit", "sample_limit", "label_limit", "label_name_length_limit",
            "label_value_length_limit", "target_limit"},
           {"scrape_protocols", "rule_query_offset", "query_log_file", "scrape_failure_log_file",
            "keep_dropped_targets", "metric_name_validation_scheme", "metric_name_escaping_scheme",
            "always_scrape_classic_histograms", "convert_classic_histograms_to_nhcb",
            "scrape_native_histograms"});
  global_ok_ = interval_ok && timeout_ok;
  // Prometheus: an unset timeout is 10s, capped at the interval; a set one must not exceed it.
  if (timeout_value > absl::ZeroDuration()) {
    if (global_ok_ && timeout_value > global->scrape_interval) {
      diag_->Error(timeout->line, timeout->path,
                   absl::StrCat("global scrape_timeout (", config::FormatDuration(timeout_value),
                                ") is greater than scrape_interval (",
                                config::FormatDuration(global->scrape_interval), ")"));
      global_ok_ = false;
    }
    global->scrape_timeout = timeout_value;
  } else {
    global->scrape_timeout = std::min(absl::Seconds(10), global->scrape_interval);
  }
}

void Loader::LoadScrapeConfigs(const Field& field, std::vector<ScrapeConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of scrape configs, got ",
                              internal::DescribeType(field.value)));
    return;
  }
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    ScrapeConfig sc;
    std::optional<std::pair<std::string, int>> job_name_at;
    LoadScrapeConfig(item, &sc, &job_name_at);
    if (job_name_at.has_value() && !sc.job_name.empty()) {
      const auto& [path, line] = *job_name_at;
      auto [it, inserted] = jobs_->emplace(sc.job_name, JobSite{file_, line});
      if (!inserted) {
        const JobSite& first = it->second;
        std::string where;
        if (first.file == file_) {
          where = absl::StrCat("first on line ", first.line);
        } else if (first.file.empty()) {
          where = absl::StrCat("first in the main config file, line ", first.line);
        } else {
          where = absl::StrCat("first in ", first.file, ", line ", first.line);
        }
        diag_->Error(line, path,
                     absl::StrCat("found multiple scrape configs with job name ",
                                  Quote(sc.job_name), " (", where, ")"));
      }
    }
    out->push_back(std::move(sc));
  }
}

void Loader::LoadScrapeConfig(const Field& field, ScrapeConfig* sc,
                              std::optional<std::pair<std::string, int>>* job_name_at) {
  if (field.IsNull()) {
    diag_->Error(field.line, field.path, "empty scrape config entry");
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  const Field* job = r.Take("job_name");
  if (job != nullptr) {
    job_name_at->emplace(job->path, job->line);
  }
  if (job == nullptr) {
    diag_->Error(r.line(), internal::ChildPath(r.path(), "job_name"), "job_name is required");
  } else if (internal::ReadString(*job, diag_, &sc->job_name)) {
    if (sc->job_name.empty()) {
      diag_->Error(job->line, job->path, "job_name must not be empty");
    } else if (!internal::IsValidUtf8(sc->job_name)) {
      diag_->Error(job->line, job->path, "job_name is not valid UTF-8");
    }
  }

  const Field* interval = r.Take("scrape_interval");
  const Field* timeout = r.Take("scrape_timeout");
  absl::Duration interval_value;
  absl::Duration timeout_value;
  const bool interval_ok =
      interval == nullptr || internal::ReadDuration(*interval, diag_, &interval_value);
  const bool timeout_ok =
      timeout == nullptr || internal::ReadDuration(*timeout, diag_, &timeout_value);
  // Zero means unset, as in Prometheus.
  sc->scrape_interval =
      interval_value > absl::ZeroDuration() ? interval_value : global_.scrape_interval;
  if (timeout_value > absl::ZeroDuration()) {
    sc->scrape_timeout = timeout_value;
    const bool interval_known = interval_value > absl::ZeroDuration() || global_ok_;
    if (interval_ok && timeout_ok && interval_known && timeout_value > sc->scrape_interval) {
      diag_->Error(timeout->line, timeout->path,
                   absl::StrCat("scrape_timeout (", config::FormatDuration(timeout_value),
                                ") is greater than scrape_interval (",
                                config::FormatDuration(sc->scrape_interval), ")"));
    }
  } else {
    sc->scrape_timeout = std::min(global_.scrape_timeout, sc->scrape_interval);
  }

  if (const Field* f = r.Take("metrics_path")) {
    if (internal::ReadString(*f, diag_, &sc->metrics_path)) {
      if (sc->metrics_path.empty()) {
        diag_->Error(f->line, f->path, "metrics_path must not be empty");
      } else if (sc->metrics_path[0] != '/') {
        // Go's URL rendering adds the slash, so Prometheus scrapes "/metrics" for "metrics".
        sc->metrics_path.insert(0, "/");
      }
    }
  }
  if (const Field* f = r.Take("scheme")) {
    if (internal::ReadString(*f, diag_, &sc->scheme) && sc->scheme != "http" &&
        sc->scheme != "https") {
      diag_->Error(f->line, f->path,
                   absl::StrCat("scheme must be http or https, got ", Quote(sc->scheme)));
    }
  }
  if (const Field* f = r.Take("params")) {
    LoadParams(*f, &sc->params);
  }
  if (const Field* f = r.Take("honor_labels")) {
    internal::ReadBool(*f, diag_, &sc->honor_labels);
  }
  if (const Field* f = r.Take("honor_timestamps")) {
    internal::ReadBool(*f, diag_, &sc->honor_timestamps);
  }
  if (const Field* f = r.Take("enable_compression")) {
    internal::ReadBool(*f, diag_, &sc->enable_compression);
  }
  if (const Field* f = r.Take("track_timestamps_staleness")) {
    internal::ReadBool(*f, diag_, &sc->track_timestamps_staleness);
  }
  if (const Field* f = r.Take("body_size_limit")) {
    internal::ReadByteSize(*f, diag_, &sc->body_size_limit);
  }
  ReadLimit(r.Take("sample_limit"), &sc->sample_limit);
  ReadLimit(r.Take("label_limit"), &sc->label_limit);
  ReadLimit(r.Take("label_name_length_limit"), &sc->label_name_length_limit);
  ReadLimit(r.Take("label_value_length_limit"), &sc->label_value_length_limit);
  ReadLimit(r.Take("target_limit"), &sc->target_limit);
  // Prometheus: a job limit of 0 (unset) takes the global one.
  for (auto [job_limit, global_limit] :
       {std::pair<int64_t*, int64_t>{&sc->body_size_limit, global_.body_size_limit},
        {&sc->sample_limit, global_.sample_limit},
        {&sc->label_limit, global_.label_limit},
        {&sc->label_name_length_limit, global_.label_name_length_limit},
        {&sc->label_value_length_limit, global_.label_value_length_limit},
        {&sc->target_limit, global_.target_limit}}) {
    if (*job_limit == 0) {
      *job_limit = global_limit;
    }
  }
  if (const Field* f = r.Take("static_configs")) {
    LoadStaticConfigs(*f, &sc->static_configs);
  }
  if (const Field* f = r.Take("file_sd_configs")) {
    LoadFileSdConfigs(*f, &sc->file_sd_configs);
  }
  if (const Field* f = r.Take("kubernetes_sd_configs")) {
    LoadKubernetesSdConfigs(*f, &sc->kubernetes_sd_configs);
  }
  if (const Field* f = r.Take("relabel_configs")) {
    internal::ReadRelabelRules(*f, "empty or null target relabeling rule in scrape config", diag_,
                               &sc->relabel_configs);
  }
  if (const Field* f = r.Take("metric_relabel_configs")) {
    internal::ReadRelabelRules(*f, "empty or null metric relabeling rule in scrape config", diag_,
                               &sc->metric_relabel_configs);
  }
  LoadHttpClient(r, &sc->http);
  if (const Field* f = r.Take("api_server_proxy")) {
    LoadApiServerProxy(*f, sc);
  }

  // Service discovery mechanisms other than static_configs: all "<kind>_sd_configs".
  for (MapReader::Entry& e : r.entries()) {
    if (!e.taken && absl::EndsWith(e.key, "_sd_configs")) {
      e.taken = true;
      diag_->Error(e.key_line, e.field.path,
                   absl::StrCat(Quote(e.key), " service discovery is not supported yet"));
    }
  }
  r.Finish(Concat({"job_name",
                   "scrape_interval",
                   "scrape_timeout",
                   "metrics_path",
                   "scheme",
                   "params",
                   "honor_labels",
                   "honor_timestamps",
                   "enable_compression",
                   "track_timestamps_staleness",
                   "body_size_limit",
                   "sample_limit",
                   "label_limit",
                   "label_name_length_limit",
                   "label_value_length_limit",
                   "target_limit",
                   "static_configs",
                   "file_sd_configs",
                   "kubernetes_sd_configs",
                   "relabel_configs",
                   "metric_relabel_configs",
                   "api_server_proxy"},
                  kHttpKeys),
           Concat({"keep_dropped_targets", "scrape_protocols", "fallback_scrape_protocol",
                   "scrape_classic_histograms", "always_scrape_classic_histograms",
                   "scrape_native_histograms", "native_histogram_bucket_limit",
                   "native_histogram_min_bucket_factor", "convert_classic_histograms_to_nhcb",
                   "scrape_failure_log_file", "metric_name_validation_scheme",
                   "metric_name_escaping_scheme"},
                  kHttpNotSupported));
}

void Loader::LoadApiServerProxy(const Field& field, ScrapeConfig* sc) {
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  ApiServerProxyConfig proxy;
  if (const Field* f = r.Take("max_concurrent")) {
    internal::ReadInt(*f, diag_, 1, 100000, &proxy.max_concurrent);
  }
  if (const Field* f = r.Take("port")) {
    if (internal::ReadString(*f, diag_, &proxy.port) && !proxy.port.empty() &&
        proxy.port != "kubelet") {
      // A number 1-65535 or an IANA_SVC_NAME (lower case letters, digits and '-').
      int64_t number = 0;
      const bool numeric = absl::SimpleAtoi(proxy.port, &number);
      const bool name_ok = !numeric && proxy.port.size() <= 15 &&
                           std::all_of(proxy.port.begin(), proxy.port.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                           });
      if (numeric ? (number < 1 || number > 65535) : !name_ok) {
        diag_->Error(f->line, f->path,
                     absl::StrCat("port must be kubelet, a port number (1-65535) or a port name, "
                                  "got ",
                                  Quote(proxy.port)));
      }
    }
  }
  r.Finish({"max_concurrent", "port"}, {});
  // The proxy path is built from the __meta_kubernetes_* labels and the request goes to the
  // API server of the job's kubernetes_sd_configs, so the job needs them and only them.
  if (sc->kubernetes_sd_configs.empty()) {
    diag_->Error(field.line, field.path,
                 "api_server_proxy needs kubernetes_sd_configs in the job (the targets and the "
                 "API server come from them)");
  } else {
    const KubernetesSdConfig& first = sc->kubernetes_sd_configs.front();
    for (const KubernetesSdConfig& sd : sc->kubernetes_sd_configs) {
      if (sd.api_server != first.api_server || sd.kubeconfig_file != first.kubeconfig_file ||
          sd.http != first.http) {
        diag_->Error(field.line, field.path,
                     "api_server_proxy needs every kubernetes_sd_configs entry of the job to use "
                     "the same API server and credentials");
        break;
      }
    }
  }
  if (!sc->static_configs.empty() || !sc->file_sd_configs.empty()) {
    diag_->Error(field.line, field.path,
                 "api_server_proxy cannot be used with static_configs or file_sd_configs (their "
                 "targets have no Kubernetes object to proxy to)");
  }
  if (sc->http != HttpClientConfig{}) {
    diag_->Error(field.line, field.path,
                 "api_server_proxy scrapes with the credentials and TLS settings of the "
                 "kubernetes_sd_config; remove the job's authorization, basic_auth and "
                 "tls_config");
  }
  sc->api_server_proxy = proxy;
}

void Loader::ReadLimit(const Field* field, int64_t* out) {
  if (field != nullptr) {
    internal::ReadInt(*field, diag_, int64_t{0}, std::numeric_limits<int64_t>::max(), out);
  }
}

void Loader::LoadFileSdConfigs(const Field& field, std::vector<FileSdConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of {files, refresh_interval} entries, got ",
                              internal::DescribeType(field.value)));
    return;
  }
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    if (item.IsNull()) {
      diag_->Error(item.line, item.path, "empty file_sd_configs entry");
      continue;
    }
    MapReader r(item, diag_);
    if (!r.ok()) {
      continue;
    }
    FileSdConfig sd;
    const Field* files = r.Take("files");
    bool files_ok = true;
    if (files != nullptr && !files->IsNull()) {
      if (!files->value.IsSequence()) {
        diag_->Error(files->line, files->path,
                     absl::StrCat("expected a list of file paths or globs, got ",
                                  internal::DescribeType(files->value)));
        files_ok = false;
      } else {
        for (const Field& f : internal::SequenceItems(*files, *diag_)) {
          std::string path;
          if (f.IsNull()) {
            diag_->Error(f.line, f.path, "empty file path");
            files_ok = false;
          } else if (!internal::ReadString(f, diag_, &path)) {
            files_ok = false;
          } else if (!IsValidFileSdPath(path)) {
            diag_->Error(f.line, f.path,
                         absl::StrCat("path name ", Quote(path),
                                      " is not valid for file discovery (a `*` only in the last "
                                      "path element; the name must end in .json, .yml or "
                                      ".yaml)"));
            files_ok = false;
          } else {
            sd.files.push_back(JoinDir(base_dir_, path));
          }
        }
      }
    }
    if (files_ok && sd.files.empty()) {
      const int line = files != nullptr ? files->line : r.line();
      diag_->Error(line, files != nullptr ? files->path : internal::ChildPath(r.path(), "files"),
                   "file service discovery config must contain at least one path name");
    }
    if (const Field* f = r.Take("refresh_interval")) {
      ReadPositiveDuration(f, &sd.refresh_interval);
    }
    r.Finish({"files", "refresh_interval"}, {});
    out->push_back(std::move(sd));
  }
}

// Prometheus's kubernetes Role values, in its error-message order.
constexpr std::string_view kKubernetesRoles[] = {"pod",           "service", "endpoints",
                                                 "endpointslice", "node",    "ingress"};

bool IsKubernetesRole(std::string_view role) {
  return std::find(std::begin(kKubernetesRoles), std::end(kKubernetesRoles), role) !=
         std::end(kKubernetesRoles);
}

// The selector roles each role accepts (Prometheus's allowedSelectors).
std::vector<std::string> AllowedSelectorRoles(const std::string& role) {
  if (role == "endpoints") {
    return {"pod", "service", "endpoints"};
  }
  if (role == "endpointslice") {
    return {"pod", "service", "endpointslice"};
  }
  return {role};
}

void Loader::LoadKubernetesSdConfigs(const Field& field, std::vector<KubernetesSdConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of kubernetes_sd_configs entries, got ",
                              internal::DescribeType(field.value)));
    return;
  }
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    if (item.IsNull()) {
      diag_->Error(item.line, item.path, "empty kubernetes_sd_configs entry");
      continue;
    }
    KubernetesSdConfig sd;
    LoadKubernetesSdConfig(item, &sd);
    out->push_back(std::move(sd));
  }
}

template <typename T>
Loader::ApiServerKeys Loader::ReadApiServerKeys(MapReader& r, T* c) {
  ApiServerKeys keys;
  const Field* api_server = r.Take("api_server");
  if (api_server != nullptr && internal::ReadString(*api_server, diag_, &c->api_server) &&
      !c->api_server.empty()) {
    if (absl::Status s = ValidateHttpUrl(c->api_server); !s.ok()) {
      diag_->Error(api_server->line, api_server->path, std::string(s.message()));
    }
    while (c->api_server.size() > 1 && c->api_server.back() == '/') {
      c->api_server.pop_back();
    }
  }
  keys.kubeconfig = r.Take("kubeconfig_file");
  if (keys.kubeconfig != nullptr &&
      internal::ReadString(*keys.kubeconfig, diag_, &c->kubeconfig_file) &&
      !c->kubeconfig_file.empty()) {
    c->kubeconfig_file = JoinDir(base_dir_, c->kubeconfig_file);
  }
  const Field* proxy = r.Take("proxy_url");
  if (proxy != nullptr && internal::ReadString(*proxy, diag_, &c->proxy_url) &&
      !c->proxy_url.empty()) {
    if (absl::Status s = ValidateHttpUrl(c->proxy_url); !s.ok()) {
      diag_->Error(proxy->line, proxy->path, std::string(s.message()));
    }
  }
  if (const Field* f = r.Take("follow_redirects")) {
    internal::ReadBool(*f, diag_, &c->follow_redirects);
  }
  if (const Field* f = r.Take("enable_http2")) {
    internal::ReadBool(*f, diag_, &c->enable_http2);
  }
  const size_t http_errors_before = diag_->error_count();
  LoadHttpClient(r, &c->http);
  keys.http_ok = diag_->error_count() == http_errors_before;
  keys.custom_http = c->http != HttpClientConfig{} || !c->proxy_url.empty() ||
                     !c->follow_redirects || !c->enable_http2;
  return keys;
}

template <typename T>
bool Loader::CheckApiServerKeys(const MapReader& r, const T& c, const ApiServerKeys& keys) {
  if (!c.api_server.empty() && !c.kubeconfig_file.empty()) {
    diag_->Error(keys.kubeconfig->line, keys.kubeconfig->path,
                 "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
  } else if (!c.kubeconfig_file.empty() && keys.custom_http) {
    diag_->Error(keys.kubeconfig->line, keys.kubeconfig->path,
                 "cannot use a custom HTTP client configuration together with "
                 "'kubeconfig_file'");
  } else if (c.api_server.empty() && keys.custom_http) {
    diag_->Error(r.line(), r.path(),
                 "to use custom HTTP client configuration please provide the 'api_server' "
                 "URL explicitly");
  } else {
    return false;
  }
  return true;
}

void Loader::LoadKubernetesSdConfig(const Field& item, KubernetesSdConfig* sd) {
  MapReader r(item, diag_);
  if (!r.ok()) {
    return;
  }
  const size_t errors_before = diag_->error_count();
  const Field* role = r.Take("role");
  if (role != nullptr && internal::ReadString(*role, diag_, &sd->role) && !sd->role.empty() &&
      !IsKubernetesRole(sd->role)) {
    diag_->Error(role->line, role->path,
                 absl::StrCat("unknown Kubernetes SD role ", Quote(sd->role)));
    sd->role.clear();
  } else if (sd->role.empty() && diag_->error_count() == errors_before) {
    diag_->Error(role != nullptr ? role->line : r.line(),
                 role != nullptr ? role->path : internal::ChildPath(r.path(), "role"),
                 "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
  }
  const ApiServerKeys keys = ReadApiServerKeys(r, sd);

  const Field* namespaces = r.Take("namespaces");
  int own_namespace_line = 0;
  std::string own_namespace_path;
  if (namespaces != nullptr && !namespaces->IsNull()) {
    MapReader n(*namespaces, diag_);
    if (n.ok()) {
      if (const Field* own = n.Take("own_namespace")) {
        internal::ReadBool(*own, diag_, &sd->own_namespace);
        own_namespace_line = own->line;
        own_namespace_path = own->path;
      }
      if (const Field* names = n.Take("names")) {
        internal::ReadStringList(*names, diag_, &sd->namespaces);
      }
      n.Finish({"own_namespace", "names"}, {});
    }
  }
  if (const Field* attach = r.Take("attach_metadata"); attach != nullptr && !attach->IsNull()) {
    MapReader a(*attach, diag_);
    if (a.ok()) {
      if (const Field* f = a.Take("node")) {
        internal::ReadBool(*f, diag_, &sd->attach_node_metadata);
      }
      if (const Field* f = a.Take("namespace")) {
        internal::ReadBool(*f, diag_, &sd->attach_namespace_metadata);
      }
      a.Finish({"node", "namespace"}, {});
    }
  }

  // Cross-field rules, in Prometheus's order; like Prometheus, only the first one is reported.
  if (keys.http_ok && !CheckApiServerKeys(r, *sd, keys)) {
    if (!sd->api_server.empty() && sd->own_namespace) {
      diag_->Error(own_namespace_line, own_namespace_path,
                   "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    } else if (!sd->kubeconfig_file.empty() && sd->own_namespace) {
      diag_->Error(own_namespace_line, own_namespace_path,
                   "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
    }
  }

  if (const Field* selectors = r.Take("selectors"); selectors != nullptr && !selectors->IsNull()) {
    if (!selectors->value.IsSequence()) {
      diag_->Error(selectors->line, selectors->path,
                   absl::StrCat("expected a list of {role, label, field} selectors, got ",
                                internal::DescribeType(selectors->value)));
    } else {
      std::vector<std::string> seen;
      for (const Field& s : internal::SequenceItems(*selectors, *diag_)) {
        MapReader m(s, diag_);
        if (!m.ok()) {
          continue;
        }
        KubernetesSelector sel;
        const Field* sel_role = m.Take("role");
        const Field* label = m.Take("label");
        const Field* field = m.Take("field");
        bool ok = true;
        if (sel_role != nullptr) {
          ok = internal::ReadString(*sel_role, diag_, &sel.role) && ok;
        }
        if (label != nullptr) {
          ok = internal::ReadString(*label, diag_, &sel.label) && ok;
        }
        if (field != nullptr) {
          ok = internal::ReadString(*field, diag_, &sel.field) && ok;
        }
        m.Finish({"role", "label", "field"}, {});
        const int role_line = sel_role != nullptr ? sel_role->line : m.line();
        const std::string role_path =
            sel_role != nullptr ? sel_role->path : internal::ChildPath(m.path(), "role");
        if (!ok) {
          continue;
        }
        if (!sel.role.empty() && !IsKubernetesRole(sel.role)) {
          diag_->Error(role_line, role_path,
                       absl::StrCat("unknown Kubernetes SD role ", Quote(sel.role)));
          continue;
        }
        if (std::find(seen.begin(), seen.end(), sel.role) != seen.end()) {
          diag_->Error(role_line, role_path, absl::StrCat("duplicated selector role: ", sel.role));
          continue;
        }
        seen.push_back(sel.role);
        if (!sd->role.empty()) {
          const std::vector<std::string> allowed = AllowedSelectorRoles(sd->role);
          if (std::find(allowed.begin(), allowed.end(), sel.role) == allowed.end()) {
            diag_->Error(role_line, role_path,
                         absl::StrCat(sd->role, " role supports only ",
                                      absl::StrJoin(allowed, ", "), " selectors"));
            continue;
          }
        }
        if (absl::Status st = ValidateFieldSelector(sel.field); !st.ok()) {
          diag_->Error(field->line, field->path, std::string(st.message()));
          continue;
        }
        if (absl::Status st = ValidateLabelSelector(sel.label); !st.ok()) {
          diag_->Error(label->line, label->path, std::string(st.message()));
          continue;
        }
        sd->selectors.push_back(std::move(sel));
      }
    }
  }
  r.Finish(
      Concat({"role", "api_server", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
              "proxy_url", "follow_redirects", "enable_http2"},
             kHttpKeys),
      {"oauth2", "no_proxy", "proxy_from_environment", "proxy_connect_header", "http_headers"});
}

void Loader::LoadParams(const Field& field, std::map<std::string, std::vector<std::string>>* out) {
  MapReader r(field, diag_);
  for (MapReader::Entry& e : r.entries()) {
    e.taken = true;
    std::vector<std::string> values;
    if (e.key.empty()) {
      diag_->Error(e.key_line, e.field.path, "parameter names must not be empty");
    } else if (internal::ReadStringList(e.field, diag_, &values)) {
      (*out)[e.key] = std::move(values);
    }
  }
}

void Loader::LoadStaticConfigs(const Field& field, std::vector<StaticConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of {targets, labels} groups, got ",
                              internal::DescribeType(field.value)));
    return;
  }
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    if (item.IsNull()) {
      diag_->Error(item.line, item.path, "empty static_configs entry");
      continue;
    }
    MapReader r(item, diag_);
    if (!r.ok()) {
      continue;
    }
    StaticConfig group;
    if (const Field* f = r.Take("targets")) {
      if (!f->IsNull() && !f->value.IsSequence()) {
        diag_->Error(f->line, f->path,
                     absl::StrCat("expected a list of host:port targets, got ",
                                  internal::DescribeType(f->value)));
      } else if (!f->IsNull()) {
        for (const Field& target : internal::SequenceItems(*f, *diag_)) {
          std::string address;
          if (target.IsNull()) {
            diag_->Error(target.line, target.path, "empty target address");
          } else if (internal::ReadString(target, diag_, &address)) {
            if (absl::Status s = ValidateTargetAddress(address); !s.ok()) {
              diag_->Error(target.line, target.path, std::string(s.message()));
            } else {
              group.targets.push_back(std::move(address));
            }
          }
        }
      }
    }
    if (const Field* f = r.Take("labels")) {
      internal::ReadLabels(*f, diag_, &group.labels);
    }
    r.Finish({"targets", "labels"}, {});
    out->push_back(std::move(group));
  }
}

void Loader::LoadHttpClient(MapReader& r, HttpClientConfig* http) {
  const Field* basic = r.Take("basic_auth");
  const Field* authz = r.Take("authorization");
  const Field* token = r.Take("bearer_token");
  const Field* token_file = r.Take("bearer_token_file");
  if (basic != nullptr && !basic->IsNull()) {
    MapReader b(*basic, diag_);
    if (b.ok()) {
      BasicAuth auth;
      if (const Field* f = b.Take("username")) {
        internal::ReadString(*f, diag_, &auth.username);
      }
      const Field* password = b.Take("password");
      const Field* password_file = b.Take("password_file");
      if (password != nullptr) {
        internal::ReadString(*password, diag_, &auth.password);
      }
      if (password_file != nullptr) {
        internal::ReadString(*password_file, diag_, &auth.password_file);
      }
      if (!auth.password.empty() && !auth.password_file.empty()) {
        diag_->Error(password_file->line, password_file->path,
                     "at most one of basic_auth password & password_file must be configured");
      }
      b.Finish({"username", "password", "password_file"},
               {"username_file", "username_ref", "password_ref"});
      http->basic_auth = std::move(auth);
    }
  }
  if (authz != nullptr && !authz->IsNull()) {
    MapReader a(*authz, diag_);
    if (a.ok()) {
      Authorization auth;
      const Field* type = a.Take("type");
      if (type != nullptr && internal::ReadString(*type, diag_, &auth.type)) {
        auth.type = std::string(absl::StripAsciiWhitespace(auth.type));
        if (auth.type.empty()) {
          auth.type = "Bearer";
        }
        if (absl::AsciiStrToLower(auth.type) == "basic") {
          diag_->Error(type->line, type->path,
                       "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
        }
      }
      const Field* credentials = a.Take("credentials");
      const Field* credentials_file = a.Take("credentials_file");
      if (credentials != nullptr) {
        internal::ReadString(*credentials, diag_, &auth.credentials);
      }
      if (credentials_file != nullptr) {
        internal::ReadString(*credentials_file, diag_, &auth.credentials_file);
      }
      if (!auth.credentials.empty() && !auth.credentials_file.empty()) {
        diag_->Error(credentials_file->line, credentials_file->path,
                     "at most one of authorization credentials & credentials_file must be "
                     "configured");
      }
      a.Finish({"type", "credentials", "credentials_file"}, {"credentials_ref"});
      if (http->basic_auth.has_value()) {
        diag_->Error(authz->line, authz->path,
                     "at most one of basic_auth & authorization must be configured");
      }
      http->authorization = std::move(auth);
    }
  }
  std::string bearer_token;
  std::string bearer_token_file;
  if (token != nullptr) {
    internal::ReadString(*token, diag_, &bearer_token);
  }
  if (token_file != nullptr) {
    internal::ReadString(*token_file, diag_, &bearer_token_file);
  }
  if (!bearer_token.empty() || !bearer_token_file.empty()) {
    const Field* at = !bearer_token.empty() ? token : token_file;
    if (!bearer_token.empty() && !bearer_token_file.empty()) {
      diag_->Error(token_file->line, token_file->path,
                   "at most one of bearer_token & bearer_token_file must be configured");
    } else if (http->authorization.has_value()) {
      diag_->Error(at->line, at->path,
                   "authorization is not compatible with bearer_token & bearer_token_file");
    } else if (http->basic_auth.has_value()) {
      diag_->Error(at->line, at->path,
                   "at most one of basic_auth, bearer_token & bearer_token_file must be "
                   "configured");
    } else {
      // Prometheus folds the legacy fields into `authorization: {type: Bearer}`.
      Authorization auth;
      auth.credentials = std::move(bearer_token);
      auth.credentials_file = std::move(bearer_token_file);
      http->authorization = std::move(auth);
    }
  }
  if (const Field* f = r.Take("tls_config")) {
    LoadTls(*f, &http->tls_config);
  }
}

void Loader::LoadTls(const Field& field, TlsConfig* tls) {
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  const Field* cert = r.Take("cert_file");
  const Field* key = r.Take("key_file");
  if (const Field* f = r.Take("ca_file")) {
    internal::ReadString(*f, diag_, &tls->ca_file);
  }
  const bool cert_ok = cert == nullptr || internal::ReadString(*cert, diag_, &tls->cert_file);
  const bool key_ok = key == nullptr || internal::ReadString(*key, diag_, &tls->key_file);
  if (const Field* f = r.Take("server_name")) {
    internal::ReadString(*f, diag_, &tls->server_name);
  }
  if (const Field* f = r.Take("insecure_skip_verify")) {
    internal::ReadBool(*f, diag_, &tls->insecure_skip_verify);
  }
  if (cert_ok && key_ok) {
    if (!tls->cert_file.empty() && tls->key_file.empty()) {
      diag_->Error(cert->line, cert->path,
                   "key_file must be configured when a client certificate (cert_file) is");
    } else if (tls->cert_file.empty() && !tls->key_file.empty()) {
      diag_->Error(key->line, key->path,
                   "cert_file must be configured when a client key (key_file) is");
    }
  }
  r.Finish({"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
           {"ca", "cert", "key", "ca_ref", "cert_ref", "key_ref", "min_version", "max_version"});
}

void Loader::LoadRemoteWrites(const Field& field, std::vector<RemoteWriteConfig>* out) {
  if (field.IsNull()) {
    return;
  }
  if (!field.value.IsSequence()) {
    diag_->Error(field.line, field.path,
                 absl::StrCat("expected a list of remote_write configs, got ",
                              internal::DescribeType(field.value)));
    return;
  }
  struct Named {
    std::string url;
    int line;
    bool defaulted;
  };
  absl::flat_hash_map<std::string, Named> names;
  for (const Field& item : internal::SequenceItems(field, *diag_)) {
    RemoteWriteConfig rw;
    int name_line = 0;
    LoadRemoteWrite(item, &rw, &name_line);
    const bool defaulted = name_line == 0;
    if (defaulted && !rw.url.empty()) {
      rw.name = DefaultRemoteWriteName(rw.url);
    }
    if (!rw.name.empty()) {
      const std::string path =
          internal::ChildPath(item.path, defaulted ? std::string_view("url") : "name");
      const int line = defaulted ? item.line : name_line;
      auto [it, inserted] = names.emplace(rw.name, Named{rw.url, line, defaulted});
      if (!inserted) {
        std::string message;
        if (defaulted && it->second.defaulted && it->second.url == rw.url) {
          message =
              absl::StrCat("duplicate remote_write config for url ", Quote(rw.url),
                           " (first on line ", it->second.line, "); give each a distinct `name`");
        } else if (defaulted) {
          message =
              absl::StrCat("the default name ", Quote(rw.name), " of this url clashes with ",
                           "the remote_write on line ", it->second.line, "; give it a `name`");
        } else {
          message = absl::StrCat("found multiple remote_write configs with name ", Quote(rw.name),
                                 " (first on line ", it->second.line, ")");
        }
        diag_->Error(line, path, message);
      }
    }
    out->push_back(std::move(rw));
  }
}

void Loader::ReadRequiredHttpUrl(MapReader& r, std::string* out) {
  const Field* url = r.Take("url");
  if (url == nullptr) {
    diag_->Error(r.line(), internal::ChildPath(r.path(), "url"), "url is required");
  } else if (internal::ReadString(*url, diag_, out)) {
    if (out->empty()) {
      diag_->Error(url->line, url->path, "url must not be empty");
    } else if (absl::Status s = ValidateHttpUrl(*out); !s.ok()) {
      diag_->Error(url->line, url->path, std::string(s.message()));
      out->clear();
    }
  }
}

void Loader::LoadRemoteWrite(const Field& field, RemoteWriteConfig* rw, int* name_line) {
  if (field.IsNull()) {
    diag_->Error(field.line, field.path, "empty remote_write entry");
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  ReadRequiredHttpUrl(r, &rw->url);  // A bad URL is left empty: no default name from it.
  if (const Field* f = r.Take("name"); f != nullptr && !f->IsNull()) {
    if (internal::ReadString(*f, diag_, &rw->name)) {
      if (!internal::IsValidUtf8(rw->name)) {
        diag_->Error(f->line, f->path, "name is not valid UTF-8");
      }
      if (!rw->name.empty()) {
        *name_line = f->line;
      }
    }
  }
  if (const Field* f = r.Take("remote_timeout")) {
    ReadPositiveDuration(f, &rw->remote_timeout);
  }
  if (const Field* f = r.Take("headers")) {
    LoadHeaders(*f, &rw->headers);
  }
  if (const Field* f = r.Take("queue_config")) {
    LoadQueueConfig(*f, &rw->queue_config);
  }
  if (const Field* f = r.Take("write_relabel_configs")) {
    internal::ReadRelabelRules(*f, "empty or null relabeling rule in remote write config", diag_,
                               &rw->write_relabel_configs);
  }
  LoadHttpClient(r, &rw->http);
  r.Finish(
      Concat({"url", "name", "remote_timeout", "headers", "queue_config", "write_relabel_configs"},
             kHttpKeys),
      Concat({"send_exemplars", "send_native_histograms", "protobuf_message", "metadata_config",
              "sigv4", "azuread", "google_iam", "round_robin_dns"},
             kHttpNotSupported));
}

void Loader::LoadHeaders(const Field& field, std::map<std::string, std::string>* out) {
  MapReader r(field, diag_);
  for (MapReader::Entry& e : r.entries()) {
    e.taken = true;
    std::string value;
    if (!internal::ReadString(e.field, diag_, &value)) {
      continue;
    }
    const bool bad_name = e.key.empty() || std::any_of(e.key.begin(), e.key.end(), [](char c) {
                            return static_cast<unsigned char>(c) <= ' ' || c == ':' || c == 0x7f;
                          });
    if (bad_name) {
      diag_->Error(e.key_line, e.field.path,
                   absl::StrCat(Quote(e.key), " is not a valid header name"));
      continue;
    }
    if (absl::EqualsIgnoreCase(e.key, "Authorization")) {
      diag_->Error(e.key_line, e.field.path,
                   "the Authorization header must be set with basic_auth, authorization or "
                   "bearer_token, not headers");
      continue;
    }
    bool reserved = false;
    for (std::string_view name : kReservedHeaders) {
      reserved = reserved || absl::EqualsIgnoreCase(e.key, ToAbsl(name));
    }
    if (reserved) {
      diag_->Error(e.key_line, e.field.path,
                   absl::StrCat(Quote(e.key), " is a reserved header. It must not be changed"));
      continue;
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      diag_->Error(e.field.line, e.field.path, "header values must not contain line breaks");
      continue;
    }
    (*out)[e.key] = std::move(value);
  }
}

bool Loader::ReadPositiveDuration(const Field* field, absl::Duration* out) {
  absl::Duration value = *out;
  if (!internal::ReadDuration(*field, diag_, &value)) {
    return false;
  }
  if (!field->IsNull() && value <= absl::ZeroDuration()) {
    diag_->Error(field->line, field->path, "must be greater than 0");
    return false;
  }
  *out = value;
  return true;
}

void Loader::LoadQueueConfig(const Field& field, QueueConfig* queue) {
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  constexpr int kMax = std::numeric_limits<int>::max();
  if (const Field* f = r.Take("capacity")) {
    internal::ReadInt(*f, diag_, 1, kMax, &queue->capacity);
  }
  const Field* max_shards = r.Take("max_shards");
  const Field* min_shards = r.Take("min_shards");
  const bool max_ok =
      max_shards == nullptr || internal::ReadInt(*max_shards, diag_, 1, kMax, &queue->max_shards);
  const bool min_ok =
      min_shards == nullptr || internal::ReadInt(*min_shards, diag_, 1, kMax, &queue->min_shards);
  if (max_ok && min_ok && queue->min_shards > queue->max_shards) {
    const Field* at = min_shards != nullptr ? min_shards : max_shards;
    diag_->Error(at->line, at->path,
                 absl::StrCat("min_shards (", queue->min_shards, ") must not exceed max_shards (",
                              queue->max_shards, ")"));
  }
  if (const Field* f = r.Take("max_samples_per_send")) {
    internal::ReadInt(*f, diag_, 1, kMax, &queue->max_samples_per_send);
  }
  if (const Field* f = r.Take("batch_send_deadline")) {
    ReadPositiveDuration(f, &queue->batch_send_deadline);
  }
  const Field* min_backoff = r.Take("min_backoff");
  const Field* max_backoff = r.Take("max_backoff");
  const bool min_backoff_ok =
      min_backoff == nullptr || ReadPositiveDuration(min_backoff, &queue->min_backoff);
  const bool max_backoff_ok =
      max_backoff == nullptr || ReadPositiveDuration(max_backoff, &queue->max_backoff);
  if (min_backoff_ok && max_backoff_ok && queue->min_backoff > queue->max_backoff) {
    const Field* at = max_backoff != nullptr ? max_backoff : min_backoff;
    diag_->Error(at->line, at->path,
                 absl::StrCat("max_backoff (", config::FormatDuration(queue->max_backoff),
                              ") must not be less than min_backoff (",
                              config::FormatDuration(queue->min_backoff), ")"));
  }
  if (const Field* f = r.Take("retry_on_http_429")) {
    internal::ReadBool(*f, diag_, &queue->retry_on_http_429);
  }
  if (const Field* f = r.Take("sample_age_limit")) {
    internal::ReadDuration(*f, diag_, &queue->sample_age_limit);
  }
  r.Finish({"capacity", "max_shards", "min_shards", "max_samples_per_send", "batch_send_deadline",
            "min_backoff", "max_backoff", "retry_on_http_429", "sample_age_limit"},
           {});
}

void Loader::LoadStorage(const Field& field, StorageConfig* storage,
                         std::vector<std::string>* unused) {
  if (field.IsNull()) {
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  if (const Field* f = r.Take("max_bytes")) {
    internal::ReadByteSize(*f, diag_, &storage->max_bytes);
  }
  if (const Field* f = r.Take("max_age")) {
    internal::ReadDuration(*f, diag_, &storage->max_age);
  }
  if (const Field* f = r.Take("memory_bytes")) {
    internal::ReadByteSize(*f, diag_, &storage->memory_bytes);
  }
  if (const Field* f = r.Take("replay_bytes_per_second")) {
    internal::ReadByteSize(*f, diag_, &storage->replay_bytes_per_second);
  }
  // Prometheus's own storage settings configure its TSDB; an agent has none.
  for (const char* key : {"tsdb", "exemplars"}) {
    if (r.Take(key) != nullptr) unused->push_back(absl::StrCat("storage.", key));
  }
  r.Finish({"max_bytes", "max_age", "memory_bytes", "replay_bytes_per_second", "tsdb", "exemplars"},
           {});
}

void Loader::LoadLogs(const Field& field, LogsConfig* logs) {
  if (field.IsNull()) {
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  if (const Field* f = r.Take("loki"); f != nullptr && !f->IsNull()) {
    if (!f->value.IsSequence()) {
      diag_->Error(
          f->line, f->path,
          absl::StrCat("expected a list of loki configs, got ", internal::DescribeType(f->value)));
    } else {
      absl::flat_hash_map<std::string, int> names;
      for (const Field& item : internal::SequenceItems(*f, *diag_)) {
        LokiConfig loki;
        LoadLoki(item, &loki);
        if (!loki.name.empty()) {
          auto [it, inserted] = names.emplace(loki.name, item.line);
          if (!inserted) {
            diag_->Error(item.line, internal::ChildPath(item.path, "name"),
                         absl::StrCat("found multiple loki configs with name ", Quote(loki.name),
                                      " (first on line ", it->second, "); give each a `name`"));
          }
        }
        logs->loki.push_back(std::move(loki));
      }
    }
  }
  if (const Field* f = r.Take("files"); f != nullptr && !f->IsNull()) {
    if (!f->value.IsSequence()) {
      diag_->Error(
          f->line, f->path,
          absl::StrCat("expected a list of file configs, got ", internal::DescribeType(f->value)));
    } else {
      for (const Field& item : internal::SequenceItems(*f, *diag_)) {
        FileLogConfig files;
        LoadLogFiles(item, &files);
        logs->files.push_back(std::move(files));
      }
    }
  }
  if (const Field* f = r.Take("events"); f != nullptr && !f->IsNull()) {
    if (!f->value.IsSequence()) {
      diag_->Error(f->line, f->path,
                   absl::StrCat("expected a list of events configs, got ",
                                internal::DescribeType(f->value)));
    } else {
      absl::flat_hash_map<std::string, int> jobs;
      for (const Field& item : internal::SequenceItems(*f, *diag_)) {
        EventsLogConfig events;
        LoadLogEvents(item, &events);
        auto [it, inserted] = jobs.emplace(events.job_name, item.line);
        if (!inserted) {
          diag_->Error(item.line, internal::ChildPath(item.path, "job_name"),
                       absl::StrCat("found multiple events configs with job_name ",
                                    Quote(events.job_name), " (first on line ", it->second, ")"));
        }
        logs->events.push_back(std::move(events));
      }
    }
  }
  if (const Field* f = r.Take("kubernetes"); f != nullptr && !f->IsNull()) {
    if (!f->value.IsSequence()) {
      diag_->Error(f->line, f->path,
                   absl::StrCat("expected a list of kubernetes log configs, got ",
                                internal::DescribeType(f->value)));
    } else {
      absl::flat_hash_map<std::string, int> names;
      for (const Field& item : internal::SequenceItems(*f, *diag_)) {
        KubernetesLogConfig kube;
        LoadLogKubernetes(item, &kube);
        auto [it, inserted] = names.emplace(kube.job_name, item.line);
        if (!inserted) {
          diag_->Error(item.line, internal::ChildPath(item.path, "job_name"),
                       absl::StrCat("found multiple kubernetes log configs with job_name ",
                                    Quote(kube.job_name), " (first on line ", it->second, ")"));
        }
        logs->kubernetes.push_back(std::move(kube));
      }
    }
  }
  r.Finish({"loki", "files", "events", "kubernetes"}, {});
}

void Loader::LoadLogEvents(const Field& field, EventsLogConfig* ev) {
  if (field.IsNull()) {
    return;  // All defaults: in-cluster credentials, every namespace.
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  const ApiServerKeys keys = ReadApiServerKeys(r, ev);
  if (const Field* namespaces = r.Take("namespaces");
      namespaces != nullptr && !namespaces->IsNull()) {
    MapReader n(*namespaces, diag_);
    if (n.ok()) {
      if (const Field* names = n.Take("names")) {
        internal::ReadStringList(*names, diag_, &ev->namespaces);
      }
      n.Finish({"names"}, {});
    }
  }
  if (const Field* f = r.Take("job_name"); f != nullptr && !f->IsNull()) {
    if (internal::ReadString(*f, diag_, &ev->job_name) && ev->job_name.empty()) {
      diag_->Error(f->line, f->path, "job_name must not be empty");
    }
  }
  if (const Field* f = r.Take("labels")) {
    internal::ReadLabels(*f, diag_, &ev->labels);
    for (const char* reserved : {"job", "namespace", "kind", "type"}) {
      if (!model::Get(ev->labels, reserved).empty()) {
        diag_->Error(
            f->line, f->path,
            absl::StrCat("label ", Quote(reserved), " is set from each event (job: use job_name)"));
      }
    }
  }
  if (keys.http_ok) {
    CheckApiServerKeys(r, *ev, keys);
  }
  r.Finish(Concat({"api_server", "kubeconfig_file", "namespaces", "proxy_url", "follow_redirects",
                   "enable_http2", "job_name", "labels"},
                  kHttpKeys),
           kHttpNotSupported);
}

void Loader::LoadLoki(const Field& field, LokiConfig* loki) {
  if (field.IsNull()) {
    diag_->Error(field.line, field.path, "empty loki entry");
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  ReadRequiredHttpUrl(r, &loki->url);
  if (const Field* f = r.Take("name"); f != nullptr && !f->IsNull()) {
    if (internal::ReadString(*f, diag_, &loki->name) && !internal::IsValidUtf8(loki->name)) {
      diag_->Error(f->line, f->path, "name is not valid UTF-8");
    }
  }
  if (loki->name.empty() && !loki->url.empty()) {
    loki->name = DefaultRemoteWriteName(loki->url);
  }
  if (const Field* f = r.Take("tenant_id"); f != nullptr && !f->IsNull()) {
    if (internal::ReadString(*f, diag_, &loki->tenant_id)) {
      // Loki's tenant ID rules (protocols.md §6.7).
      const bool bad_char = std::any_of(loki->tenant_id.begin(), loki->tenant_id.end(), [](char c) {
        return !absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
               std::string_view("!-_.*'()").find(c) == std::string_view::npos;
      });
      if (bad_char || loki->tenant_id.size() > 150 || loki->tenant_id == "." ||
          loki->tenant_id == "..") {
        diag_->Error(f->line, f->path,
                     "tenant_id must be at most 150 letters, digits and !-_.*'() and not . or ..");
      }
    }
  }
  if (const Field* f = r.Take("headers")) {
    LoadHeaders(*f, &loki->headers);
    for (auto it = loki->headers.begin(); it != loki->headers.end();) {
      if (absl::EqualsIgnoreCase(it->first, "X-Scope-OrgID")) {
        diag_->Error(f->line, f->path, "set the X-Scope-OrgID header with tenant_id");
        it = loki->headers.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (const Field* f = r.Take("batch_size")) {
    if (internal::ReadByteSize(*f, diag_, &loki->batch_size) && loki->batch_size <= 0) {
      diag_->Error(f->line, f->path, "must be greater than 0");
    }
  }
  if (const Field* f = r.Take("batch_wait")) {
    ReadPositiveDuration(f, &loki->batch_wait);
  }
  if (const Field* f = r.Take("timeout")) {
    ReadPositiveDuration(f, &loki->timeout);
  }
  if (const Field* f = r.Take("backoff_config")) {
    MapReader b(*f, diag_);
    if (b.ok()) {
      if (const Field* g = b.Take("min_period")) {
        ReadPositiveDuration(g, &loki->min_backoff);
      }
      if (const Field* g = b.Take("max_period")) {
        ReadPositiveDuration(g, &loki->max_backoff);
      }
      if (loki->min_backoff > loki->max_backoff) {
        diag_->Error(f->line, f->path, "max_period must not be less than min_period");
      }
      b.Finish({"min_period", "max_period"}, {"max_retries"});
    }
  }
  if (const Field* f = r.Take("encoding"); f != nullptr && !f->IsNull()) {
    std::string encoding;
    if (internal::ReadString(*f, diag_, &encoding)) {
      if (encoding == "protobuf") {
        loki->encoding = LokiConfig::Encoding::kProtobuf;
      } else if (encoding == "json") {
        loki->encoding = LokiConfig::Encoding::kJson;
      } else {
        diag_->Error(f->line, f->path,
                     absl::StrCat("unknown encoding ", Quote(encoding), ": protobuf or json"));
      }
    }
  }
  if (const Field* f = r.Take("structured_metadata"); f != nullptr && !f->IsNull()) {
    if (!f->value.IsSequence()) {
      diag_->Error(
          f->line, f->path,
          absl::StrCat("expected a list of label names, got ", internal::DescribeType(f->value)));
    } else {
      for (const Field& item : internal::SequenceItems(*f, *diag_)) {
        std::string name;
        if (!internal::ReadString(item, diag_, &name)) continue;
        if (!internal::IsValidLabelName(name)) {
          diag_->Error(item.line, item.path,
                       absl::StrCat("invalid label name ", Quote(name),
                                    ": must match [a-zA-Z_][a-zA-Z0-9_]*"));
        } else if (std::find(loki->structured_metadata.begin(), loki->structured_metadata.end(),
                             name) != loki->structured_metadata.end()) {
          diag_->Error(item.line, item.path, absl::StrCat("repeated label name ", Quote(name)));
        } else {
          loki->structured_metadata.push_back(std::move(name));
        }
      }
    }
  }
  LoadHttpClient(r, &loki->http);
  r.Finish(Concat({"url", "name", "tenant_id", "headers", "batch_size", "batch_wait", "timeout",
                   "backoff_config", "encoding", "structured_metadata"},
                  kHttpKeys),
           kHttpNotSupported);
}

void Loader::LoadLogFiles(const Field& field, FileLogConfig* files) {
  if (field.IsNull()) {
    diag_->Error(field.line, field.path, "empty files entry");
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  const Field* paths = r.Take("paths");
  if (paths == nullptr) {
    diag_->Error(r.line(), internal::ChildPath(r.path(), "paths"), "paths is required");
  } else if (internal::ReadStringList(*paths, diag_, &files->paths)) {
    if (files->paths.empty()) {
      diag_->Error(paths->line, paths->path, "paths must not be empty");
    }
    for (std::string& p : files->paths) {
      if (p.empty()) {
        diag_->Error(paths->line, paths->path, "empty path");
      } else {
        p = JoinDir(base_dir_, p);
      }
    }
  }
  if (const Field* f = r.Take("labels")) {
    internal::ReadLabels(*f, diag_, &files->labels);
  }
  if (const Field* f = r.Take("format"); f != nullptr && !f->IsNull()) {
    std::string format;
    if (internal::ReadString(*f, diag_, &format)) {
      if (format == "plain") {
        files->format = FileLogConfig::Format::kPlain;
      } else if (format == "docker") {
        files->format = FileLogConfig::Format::kDocker;
      } else {
        diag_->Error(f->line, f->path,
                     absl::StrCat("unknown format ", Quote(format), ": plain or docker"));
      }
    }
  }
  if (const Field* f = r.Take("max_line_size")) {
    if (internal::ReadByteSize(*f, diag_, &files->max_line_size) && files->max_line_size <= 0) {
      diag_->Error(f->line, f->path, "must be greater than 0");
    }
  }
  r.Finish({"paths", "labels", "format", "max_line_size"}, {});
}

void Loader::LoadLogKubernetes(const Field& field, KubernetesLogConfig* kube) {
  if (field.IsNull()) {
    diag_->Error(field.line, field.path, "empty kubernetes entry");
    return;
  }
  MapReader r(field, diag_);
  if (!r.ok()) {
    return;
  }
  if (const Field* f = r.Take("job_name")) {
    if (internal::ReadString(*f, diag_, &kube->job_name) && kube->job_name.empty()) {
      diag_->Error(f->line, f->path, "job_name must not be empty");
    }
  }
  const Field* sd = r.Take("kubernetes_sd_configs");
  if (sd == nullptr) {
    diag_->Error(r.line(), internal::ChildPath(r.path(), "kubernetes_sd_configs"),
                 "kubernetes_sd_configs is required");
  } else {
    LoadKubernetesSdConfigs(*sd, &kube->kubernetes_sd_configs);
    if (kube->kubernetes_sd_configs.empty()) {
      diag_->Error(sd->line, sd->path, "kubernetes_sd_configs must not be empty");
    }
    for (const KubernetesSdConfig& c : kube->kubernetes_sd_configs) {
      if (!c.role.empty() && c.role != "pod") {
        diag_->Error(sd->line, sd->path,
                     absl::StrCat("role ", Quote(c.role), ": pod logs need role pod"));
      }
    }
  }
  if (const Field* f = r.Take("relabel_configs")) {
    internal::ReadRelabelRules(*f, "empty or null relabeling rule in kubernetes log config", diag_,
                               &kube->relabel_configs);
  }
  if (const Field* f = r.Take("max_streams")) {
    int64_t v = 0;
    if (internal::ReadInt(*f, diag_, int64_t{1}, int64_t{100000}, &v)) {
      kube->max_streams = static_cast<int>(v);
    }
  }
  if (const Field* f = r.Take("max_line_size")) {
    if (internal::ReadByteSize(*f, diag_, &kube->max_line_size) && kube->max_line_size <= 0) {
      diag_->Error(f->line, f->path, "must be greater than 0");
    }
  }
  if (const Field* f = r.Take("rate_limit"); f != nullptr && !f->IsNull()) {
    MapReader rl(*f, diag_);
    if (rl.ok()) {
      if (const Field* l = rl.Take("lines_per_second")) {
        int64_t v = 0;
        if (internal::ReadInt(*l, diag_, int64_t{1}, int64_t{100000000}, &v)) {
          kube->lines_per_second = static_cast<double>(v);
        }
      }
      if (const Field* b = rl.Take("burst")) {
        internal::ReadInt(*b, diag_, int64_t{1}, int64_t{100000000}, &kube->burst);
      }
      rl.Finish({"lines_per_second", "burst"}, {});
    }
  }
  r.Finish({"job_name", "kubernetes_sd_configs", "relabel_configs", "max_streams", "max_line_size",
            "rate_limit"},
           {});
}

}  // namespace

std::string ConfigError::ToString(const std::string& main_file) const {
  std::string out = file.empty() ? main_file : file;
  if (line > 0) {
    absl::StrAppend(&out, ":", line);
  }
  absl::StrAppend(&out, ": ");
  if (!path.empty()) {
    absl::StrAppend(&out, path, ": ");
  }
  absl::StrAppend(&out, message);
  return out;
}

LoadResult LoadConfigString(const std::string& yaml, const std::string& base_dir) {
  LoadResult result;
  Diagnostics diag(yaml);
  std::optional<Config> config;
  JobSites jobs;
  Loader loader(&diag, base_dir, "", &jobs);
  ParseAndLoad(yaml, &diag, [&](const YAML::Node& root) { config = loader.Load(root); });
  result.errors = diag.TakeErrors();
  for (ConfigError& e : loader.TakeIncludedErrors()) {
    result.errors.push_back(std::move(e));
  }
  result.warnings = diag.TakeWarnings();
  if (result.errors.empty()) {
    result.config = std::move(config);
  }
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  std::string text;
  std::string error;
  if (!ReadWholeFile(path, &text, &error)) {
    LoadResult result;
    result.errors.push_back(ConfigError{"", 0, std::move(error)});
    return result;
  }
  return LoadConfigString(text, DirOf(path));
}

}  // namespace tender::config
