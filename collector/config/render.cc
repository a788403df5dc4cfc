// Config -> YAML: the redacted effective config (for /config and logs) and the built-in
// default config.

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/config/config.h"
#include "collector/model/absl_compat.h"
#include "yaml-cpp/yaml.h"

namespace tender::config {
namespace {

constexpr std::string_view kSecret = "<secret>";

// Strings are always double-quoted, so values such as "true", "1e3" or "" keep their type
// when read back; durations and sizes are plain.
void Key(YAML::Emitter& out, std::string_view key) { out << YAML::Key << std::string(key); }

// A user-chosen key (param or header name) may need quoting like any string.
void QuotedKey(YAML::Emitter& out, std::string_view key) {
  out << YAML::Key << YAML::DoubleQuoted << std::string(key);
}

void String(YAML::Emitter& out, std::string_view key, std::string_view value) {
  Key(out, key);
  out << YAML::Value << YAML::DoubleQuoted << std::string(value);
}

void Secret(YAML::Emitter& out, std::string_view key, std::string_view value) {
  String(out, key, value.empty() ? value : kSecret);
}

void Bool(YAML::Emitter& out, std::string_view key, bool value) {
  Key(out, key);
  out << YAML::Value << (value ? "true" : "false");
}

void Int(YAML::Emitter& out, std::string_view key, int64_t value) {
  Key(out, key);
  out << YAML::Value << value;
}

void Duration(YAML::Emitter& out, std::string_view key, absl::Duration value) {
  Key(out, key);
  out << YAML::Value << config::FormatDuration(value);
}

void Labels(YAML::Emitter& out, std::string_view key, const model::Labels& labels) {
  if (labels.empty()) {
    return;
  }
  Key(out, key);
  out << YAML::Value << YAML::BeginMap;
  for (const model::Label& l : labels) {
    String(out, l.name, l.value);
  }
  out << YAML::EndMap;
}

void StringList(YAML::Emitter& out, std::string_view key, const std::vector<std::string>& values) {
  Key(out, key);
  out << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& v : values) {
    out << YAML::DoubleQuoted << v;
  }
  out << YAML::EndSeq;
}

// Every field of every rule, so the effective rule is visible; defaults read back as defaults,
// which Prometheus's per-action checks accept. An empty target_label or source_labels list and
// a zero modulus are left out (labeldrop/labelkeep reject them even when empty).
void RelabelRules(YAML::Emitter& out, std::string_view key,
                  const std::vector<relabel::RuleConfig>& rules) {
  if (rules.empty()) {
    return;
  }
  Key(out, key);
  out << YAML::Value << YAML::BeginSeq;
  for (const relabel::RuleConfig& rule : rules) {
    out << YAML::BeginMap;
    if (!rule.source_labels.empty()) {
      StringList(out, "source_labels", rule.source_labels);
    }
    String(out, "separator", rule.separator);
    if (!rule.target_label.empty()) {
      String(out, "target_label", rule.target_label);
    }
    String(out, "regex", rule.regex);
    if (rule.modulus != 0) {
      Key(out, "modulus");
      out << YAML::Value << rule.modulus;
    }
    String(out, "replacement", rule.replacement);
    String(out, "action", relabel::ActionName(rule.action));
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

// Replaces the password in "scheme://user:password@host/..." with <secret>.
std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::string(url);
  }
  const size_t authority_begin = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority_begin);
  if (authority_end == std::string_view::npos) {
    authority_end = url.size();
  }
  const std::string_view authority = url.substr(authority_begin, authority_end - authority_begin);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return std::string(url);
  }
  const size_t colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) {
    return std::string(url);
  }
  return absl::StrCat(ToAbsl(url.substr(0, authority_begin + colon + 1)), ToAbsl(kSecret),
                      ToAbsl(url.substr(authority_begin + at)));
}

void HttpClient(YAML::Emitter& out, const HttpClientConfig& http) {
  if (http.basic_auth.has_value()) {
    Key(out, "basic_auth");
    out << YAML::Value << YAML::BeginMap;
    String(out, "username", http.basic_auth->username);
    if (!http.basic_auth->password.empty()) {
      Secret(out, "password", http.basic_auth->password);
    }
    if (!http.basic_auth->password_file.empty()) {
      String(out, "password_file", http.basic_auth->password_file);
    }
    out << YAML::EndMap;
  }
  if (http.authorization.has_value()) {
    Key(out, "authorization");
    out << YAML::Value << YAML::BeginMap;
    String(out, "type", http.authorization->type);
    if (!http.authorization->credentials.empty()) {
      Secret(out, "credentials", http.authorization->credentials);
    }
    if (!http.authorization->credentials_file.empty()) {
      String(out, "credentials_file", http.authorization->credentials_file);
    }
    out << YAML::EndMap;
  }
  const TlsConfig& tls = http.tls_config;
  if (tls != TlsConfig{}) {
    Key(out, "tls_config");
    out << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] :
         {std::pair<std::string_view, const std::string*>{"ca_file", &tls.ca_file},
          {"cert_file", &tls.cert_file},
          {"key_file", &tls.key_file},
          {"server_name", &tls.server_name}}) {
      if (!value->empty()) {
        String(out, key, *value);
      }
    }
    Bool(out, "insecure_skip_verify", tls.insecure_skip_verify);
    out << YAML::EndMap;
  }
}

void KubernetesSdConfigs(YAML::Emitter& out, const std::vector<KubernetesSdConfig>& sds) {
  if (!sds.empty()) {
    Key(out, "kubernetes_sd_configs");
    out << YAML::Value << YAML::BeginSeq;
    for (const KubernetesSdConfig& sd : sds) {
      out << YAML::BeginMap;
      String(out, "role", sd.role);
      if (!sd.api_server.empty()) {
        String(out, "api_server", RedactUrl(sd.api_server));
      }
      if (!sd.kubeconfig_file.empty()) {
        String(out, "kubeconfig_file", sd.kubeconfig_file);
      }
      HttpClient(out, sd.http);
      if (!sd.proxy_url.empty()) {
        String(out, "proxy_url", RedactUrl(sd.proxy_url));
      }
      Bool(out, "follow_redirects", sd.follow_redirects);
      Bool(out, "enable_http2", sd.enable_http2);
      if (sd.own_namespace || !sd.namespaces.empty()) {
        Key(out, "namespaces");
        out << YAML::Value << YAML::BeginMap;
        Bool(out, "own_namespace", sd.own_namespace);
        StringList(out, "names", sd.namespaces);
        out << YAML::EndMap;
      }
      if (!sd.selectors.empty()) {
        Key(out, "selectors");
        out << YAML::Value << YAML::BeginSeq;
        for (const KubernetesSelector& sel : sd.selectors) {
          out << YAML::BeginMap;
          String(out, "role", sel.role);
          String(out, "label", sel.label);
          String(out, "field", sel.field);
          out << YAML::EndMap;
        }
        out << YAML::EndSeq;
      }
      Key(out, "attach_metadata");
      out << YAML::Value << YAML::BeginMap;
      Bool(out, "node", sd.attach_node_metadata);
      Bool(out, "namespace", sd.attach_namespace_metadata);
      out << YAML::EndMap;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
}

void Scrape(YAML::Emitter& out, const ScrapeConfig& sc) {
  out << YAML::BeginMap;
  String(out, "job_name", sc.job_name);
  Duration(out, "scrape_interval", sc.scrape_interval);
  Duration(out, "scrape_timeout", sc.scrape_timeout);
  String(out, "metrics_path", sc.metrics_path);
  String(out, "scheme", sc.scheme);
  if (!sc.params.empty()) {
    Key(out, "params");
    out << YAML::Value << YAML::BeginMap;
    for (const auto& [name, values] : sc.params) {
      QuotedKey(out, name);
      out << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const std::string& v : values) {
        out << YAML::DoubleQuoted << v;
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  Bool(out, "honor_labels", sc.honor_labels);
  Bool(out, "honor_timestamps", sc.honor_timestamps);
  Bool(out, "enable_compression", sc.enable_compression);
  Bool(out, "track_timestamps_staleness", sc.track_timestamps_staleness);
  Key(out, "body_size_limit");
  out << YAML::Value << FormatByteSize(sc.body_size_limit);
  Int(out, "sample_limit", sc.sample_limit);
  Int(out, "label_limit", sc.label_limit);
  Int(out, "label_name_length_limit", sc.label_name_length_limit);
  Int(out, "label_value_length_limit", sc.label_value_length_limit);
  Int(out, "target_limit", sc.target_limit);
  HttpClient(out, sc.http);
  Key(out, "static_configs");
  out << YAML::Value << YAML::BeginSeq;
  for (const StaticConfig& group : sc.static_configs) {
    out << YAML::BeginMap;
    Key(out, "targets");
    out << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& t : group.targets) {
      out << YAML::DoubleQuoted << t;
    }
    out << YAML::EndSeq;
    Labels(out, "labels", group.labels);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (!sc.file_sd_configs.empty()) {
    Key(out, "file_sd_configs");
    out << YAML::Value << YAML::BeginSeq;
    for (const FileSdConfig& sd : sc.file_sd_configs) {
      out << YAML::BeginMap;
      StringList(out, "files", sd.files);
      Duration(out, "refresh_interval", sd.refresh_interval);
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  KubernetesSdConfigs(out, sc.kubernetes_sd_configs);
  RelabelRules(out, "relabel_configs", sc.relabel_configs);
  RelabelRules(out, "metric_relabel_configs", sc.metric_relabel_configs);
  if (sc.api_server_proxy.has_value()) {
    Key(out, "api_server_proxy");
    out << YAML::Value << YAML::BeginMap;
    Int(out, "max_concurrent", sc.api_server_proxy->max_concurrent);
    if (!sc.api_server_proxy->port.empty()) {
      String(out, "port", sc.api_server_proxy->port);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void RemoteWrite(YAML::Emitter& out, const RemoteWriteConfig& rw) {
  out << YAML::BeginMap;
  String(out, "url", RedactUrl(rw.url));
  String(out, "name", rw.name);
  Duration(out, "remote_timeout", rw.remote_timeout);
  if (!rw.headers.empty()) {
    Key(out, "headers");
    out << YAML::Value << YAML::BeginMap;
    for (const auto& [name, value] : rw.headers) {
      QuotedKey(out, name);
      out << YAML::Value << YAML::DoubleQuoted << value;
    }
    out << YAML::EndMap;
  }
  HttpClient(out, rw.http);
  const QueueConfig& q = rw.queue_config;
  Key(out, "queue_config");
  out << YAML::Value << YAML::BeginMap;
  Int(out, "capacity", q.capacity);
  Int(out, "max_shards", q.max_shards);
  Int(out, "min_shards", q.min_shards);
  Int(out, "max_samples_per_send", q.max_samples_per_send);
  Duration(out, "batch_send_deadline", q.batch_send_deadline);
  Duration(out, "min_backoff", q.min_backoff);
  Duration(out, "max_backoff", q.max_backoff);
  Bool(out, "retry_on_http_429", q.retry_on_http_429);
  out << YAML::EndMap;
  RelabelRules(out, "write_relabel_configs", rw.write_relabel_configs);
  out << YAML::EndMap;
}

void Logs(YAML::Emitter& out, const LogsConfig& logs) {
  Key(out, "logs");
  out << YAML::Value << YAML::BeginMap;
  Key(out, "loki");
  out << YAML::Value << YAML::BeginSeq;
  for (const LokiConfig& l : logs.loki) {
    out << YAML::BeginMap;
    String(out, "url", RedactUrl(l.url));
    String(out, "name", l.name);
    if (!l.tenant_id.empty()) String(out, "tenant_id", l.tenant_id);
    if (!l.headers.empty()) {
      Key(out, "headers");
      out << YAML::Value << YAML::BeginMap;
      for (const auto& [name, value] : l.headers) {
        QuotedKey(out, name);
        out << YAML::Value << YAML::DoubleQuoted << value;
      }
      out << YAML::EndMap;
    }
    HttpClient(out, l.http);
    Key(out, "batch_size");
    out << YAML::Value << FormatByteSize(l.batch_size);
    Duration(out, "batch_wait", l.batch_wait);
    Duration(out, "timeout", l.timeout);
    Key(out, "backoff_config");
    out << YAML::Value << YAML::BeginMap;
    Duration(out, "min_period", l.min_backoff);
    Duration(out, "max_period", l.max_backoff);
    out << YAML::EndMap;
    String(out, "encoding", l.encoding == LokiConfig::Encoding::kJson ? "json" : "protobuf");
    if (!l.structured_metadata.empty())
      StringList(out, "structured_metadata", l.structured_metadata);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  Key(out, "files");
  out << YAML::Value << YAML::BeginSeq;
  for (const FileLogConfig& f : logs.files) {
    out << YAML::BeginMap;
    StringList(out, "paths", f.paths);
    Labels(out, "labels", f.labels);
    String(out, "format", f.format == FileLogConfig::Format::kDocker ? "docker" : "plain");
    Key(out, "max_line_size");
    out << YAML::Value << FormatByteSize(f.max_line_size);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (!logs.events.empty()) {
    Key(out, "events");
    out << YAML::Value << YAML::BeginSeq;
    for (const EventsLogConfig& e : logs.events) {
      out << YAML::BeginMap;
      if (!e.api_server.empty()) String(out, "api_server", RedactUrl(e.api_server));
      if (!e.kubeconfig_file.empty()) String(out, "kubeconfig_file", e.kubeconfig_file);
      HttpClient(out, e.http);
      if (!e.proxy_url.empty()) String(out, "proxy_url", RedactUrl(e.proxy_url));
      Bool(out, "follow_redirects", e.follow_redirects);
      Bool(out, "enable_http2", e.enable_http2);
      if (!e.namespaces.empty()) {
        Key(out, "namespaces");
        out << YAML::Value << YAML::BeginMap;
        StringList(out, "names", e.namespaces);
        out << YAML::EndMap;
      }
      String(out, "job_name", e.job_name);
      Labels(out, "labels", e.labels);
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!logs.kubernetes.empty()) {
    Key(out, "kubernetes");
    out << YAML::Value << YAML::BeginSeq;
    for (const KubernetesLogConfig& k : logs.kubernetes) {
      out << YAML::BeginMap;
      String(out, "job_name", k.job_name);
      KubernetesSdConfigs(out, k.kubernetes_sd_configs);
      RelabelRules(out, "relabel_configs", k.relabel_configs);
      Int(out, "max_streams", k.max_streams);
      Key(out, "max_line_size");
      out << YAML::Value << FormatByteSize(k.max_line_size);
      Key(out, "rate_limit");
      out << YAML::Value << YAML::BeginMap;
      Int(out, "lines_per_second", static_cast<int64_t>(k.lines_per_second));
      Int(out, "burst", k.burst);
      out << YAML::EndMap;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

}  // namespace

std::string RedactedYaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Key(out, "global");
  out << YAML::Value << YAML::BeginMap;
  Duration(out, "scrape_interval", config.global.scrape_interval);
  Duration(out, "scrape_timeout", config.global.scrape_timeout);
  Labels(out, "external_labels", config.global.external_labels);
  Key(out, "body_size_limit");
  out << YAML::Value << FormatByteSize(config.global.body_size_limit);
  Int(out, "sample_limit", config.global.sample_limit);
  Int(out, "label_limit", config.global.label_limit);
  Int(out, "label_name_length_limit", config.global.label_name_length_limit);
  Int(out, "label_value_length_limit", config.global.label_value_length_limit);
  Int(out, "target_limit", config.global.target_limit);
  out << YAML::EndMap;
  Key(out, "scrape_configs");
  out << YAML::Value << YAML::BeginSeq;
  for (const ScrapeConfig& sc : config.scrape_configs) {
    Scrape(out, sc);
  }
  out << YAML::EndSeq;
  Key(out, "remote_write");
  out << YAML::Value << YAML::BeginSeq;
  for (const RemoteWriteConfig& rw : config.remote_write) {
    RemoteWrite(out, rw);
  }
  out << YAML::EndSeq;
  if (!config.logs.loki.empty() || !config.logs.files.empty() || !config.logs.events.empty() ||
      !config.logs.kubernetes.empty()) {
    Logs(out, config.logs);
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string DefaultConfigYaml(const std::string& self_address) {
  // A listen address may leave the host empty or use a wildcard; scrape it via localhost.
  std::string self = self_address;
  for (std::string_view wildcard : {"0.0.0.0:", "[::]:"}) {
    if (absl::StartsWith(self, ToAbsl(wildcard))) {
      self = absl::StrCat("localhost:", self.substr(wildcard.size()));
    }
  }
  if (absl::StartsWith(self, ":")) {
    self.insert(0, "localhost");
  }
  YAML::Emitter out;
  out << YAML::Comment("tender's built-in config, used when no --config.file is given.");
  out << YAML::BeginMap;
  Key(out, "global");
  out << YAML::Value << YAML::BeginMap;
  Duration(out, "scrape_interval", absl::Seconds(15));
  out << YAML::EndMap;
  Key(out, "scrape_configs");
  out << YAML::Value << YAML::BeginSeq;
  for (const auto& [job, target] : {std::pair<std::string_view, std::string_view>{"tender", self},
                                    {"node", "localhost:9100"}}) {
    out << YAML::BeginMap;
    String(out, "job_name", job);
    Key(out, "static_configs");
    out << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    Key(out, "targets");
    out << YAML::Value << YAML::Flow << YAML::BeginSeq << YAML::DoubleQuoted << std::string(target)
        << YAML::EndSeq;
    out << YAML::EndMap << YAML::EndSeq;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  Key(out, "remote_write");
  out << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  String(out, "url", "http://localhost:9090/api/v1/write");
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tender::config
