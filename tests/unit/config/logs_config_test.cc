#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collector/config/config.h"

namespace tender::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LogsConfigTest, LokiStructuredMetadata) {
  LoadResult r = LoadConfigString(R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
      structured_metadata: [pod, request_id]
    - url: http://other:3100/loki/api/v1/push
)");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString("config");
  EXPECT_EQ(r.config->logs.loki[0].structured_metadata,
            (std::vector<std::string>{"pod", "request_id"}));
  EXPECT_TRUE(r.config->logs.loki[1].structured_metadata.empty());

  r = LoadConfigString(R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
      structured_metadata: [pod, k8s.pod, pod]
)");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].path, "logs.loki[0].structured_metadata[1]");
  EXPECT_THAT(r.errors[0].message, HasSubstr("invalid label name \"k8s.pod\""));
  EXPECT_EQ(r.errors[1].path, "logs.loki[0].structured_metadata[2]");
  EXPECT_THAT(r.errors[1].message, HasSubstr("repeated"));

  r = LoadConfigString(R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
      structured_metadata: pod
)");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "logs.loki[0].structured_metadata");
}

TEST(LogsConfigTest, FullSection) {
  const std::string yaml = R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
      tenant_id: team-a
      headers: {X-Extra: "1"}
      basic_auth: {username: u, password: p}
      batch_size: 512KiB
      batch_wait: 2s
      timeout: 5s
      backoff_config: {min_period: 1s, max_period: 1m}
      encoding: json
    - url: https://other/loki/api/v1/push
      name: second
  files:
    - paths: [/var/log/*.log, /var/log/syslog]
      labels: {job: varlogs}
    - paths: [/var/lib/docker/containers/*/*-json.log]
      format: docker
      max_line_size: 16KiB
)";
  LoadResult r = LoadConfigString(yaml);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString("config");
  const LogsConfig& logs = r.config->logs;
  ASSERT_EQ(logs.loki.size(), 2u);
  const LokiConfig& a = logs.loki[0];
  EXPECT_EQ(a.url, "http://loki:3100/loki/api/v1/push");
  EXPECT_EQ(a.name.size(), 6u);  // Default: a hash of the URL.
  EXPECT_EQ(a.tenant_id, "team-a");
  EXPECT_EQ(a.headers.at("X-Extra"), "1");
  ASSERT_TRUE(a.http.basic_auth.has_value());
  EXPECT_EQ(a.batch_size, 512 << 10);
  EXPECT_EQ(a.batch_wait, absl::Seconds(2));
  EXPECT_EQ(a.timeout, absl::Seconds(5));
  EXPECT_EQ(a.min_backoff, absl::Seconds(1));
  EXPECT_EQ(a.max_backoff, absl::Minutes(1));
  EXPECT_EQ(a.encoding, LokiConfig::Encoding::kJson);
  const LokiConfig& b = logs.loki[1];
  EXPECT_EQ(b.name, "second");
  EXPECT_EQ(b.batch_size, 1 << 20);
  EXPECT_EQ(b.batch_wait, absl::Seconds(1));
  EXPECT_EQ(b.encoding, LokiConfig::Encoding::kProtobuf);
  ASSERT_EQ(logs.files.size(), 2u);
  EXPECT_EQ(logs.files[0].paths, (std::vector<std::string>{"/var/log/*.log", "/var/log/syslog"}));
  EXPECT_EQ(logs.files[0].labels, (model::Labels{{"job", "varlogs"}}));
  EXPECT_EQ(logs.files[0].format, FileLogConfig::Format::kPlain);
  EXPECT_EQ(logs.files[1].format, FileLogConfig::Format::kDocker);
  EXPECT_EQ(logs.files[1].max_line_size, 16 << 10);
}

TEST(LogsConfigTest, RenderedHidesSecretsAndLoadsBack) {
  const std::string yaml = R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
      tenant_id: team-a
      basic_auth: {username: u, password: loki-password-1}
      encoding: json
      structured_metadata: [pod, request_id]
  files:
    - paths: [/var/log/*.log]
      labels: {job: varlogs}
      format: docker
)";
  LoadResult r = LoadConfigString(yaml);
  ASSERT_TRUE(r.errors.empty());
  const std::string rendered = RedactedYaml(*r.config);
  EXPECT_THAT(rendered, Not(HasSubstr("loki-password-1")));
  EXPECT_THAT(rendered, HasSubstr("structured_metadata"));
  LoadResult back = LoadConfigString(rendered);
  ASSERT_TRUE(back.errors.empty()) << back.errors[0].ToString("config") << rendered;
  EXPECT_EQ(back.config->logs.files, r.config->logs.files);
  LokiConfig want = r.config->logs.loki[0];
  want.http.basic_auth->password = "<secret>";
  EXPECT_EQ(back.config->logs.loki[0], want) << rendered;
}

TEST(LogsConfigTest, EventsSection) {
  const std::string yaml = R"(
logs:
  events:
    - kubeconfig_file: kube/config
      namespaces: {names: [shop, kube-system]}
      labels: {cluster: prod}
    - api_server: https://10.0.0.1:6443/
      authorization: {credentials_file: /run/token}
      tls_config: {ca_file: /run/ca.crt}
      job_name: events-b
)";
  LoadResult r = LoadConfigString(yaml, "/etc/tender");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString("config");
  const std::vector<EventsLogConfig>& ev = r.config->logs.events;
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kubeconfig_file, "/etc/tender/kube/config");
  EXPECT_EQ(ev[0].namespaces, (std::vector<std::string>{"shop", "kube-system"}));
  EXPECT_EQ(ev[0].job_name, "kubernetes-events");
  EXPECT_EQ(ev[0].labels, (model::Labels{{"cluster", "prod"}}));
  EXPECT_EQ(ev[1].api_server, "https://10.0.0.1:6443");
  EXPECT_EQ(ev[1].http.authorization->credentials_file, "/run/token");
  EXPECT_EQ(ev[1].http.tls_config.ca_file, "/run/ca.crt");
  EXPECT_EQ(ev[1].job_name, "events-b");
  EXPECT_TRUE(ev[1].namespaces.empty());

  const std::string rendered = RedactedYaml(*r.config);
  LoadResult back = LoadConfigString(rendered);
  ASSERT_TRUE(back.errors.empty()) << back.errors[0].ToString("config") << rendered;
  EXPECT_EQ(back.config->logs.events, ev) << rendered;
}

TEST(LogsConfigTest, KubernetesPodLogs) {
  const std::string yaml = R"(
logs:
  loki:
    - url: http://loki:3100/loki/api/v1/push
  kubernetes:
    - kubernetes_sd_configs: [{role: pod, api_server: "https://k8s:6443"}]
      relabel_configs:
        - source_labels: [container]
          regex: istio-proxy
          action: drop
      max_streams: 50
      max_line_size: 16KiB
      rate_limit: {lines_per_second: 200, burst: 400}
    - job_name: system
      kubernetes_sd_configs: [{role: pod, namespaces: {names: [kube-system]}}]
)";
  LoadResult r = LoadConfigString(yaml);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString("config");
  const std::vector<KubernetesLogConfig>& k = r.config->logs.kubernetes;
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].job_name, "kubernetes-pods");
  ASSERT_EQ(k[0].kubernetes_sd_configs.size(), 1u);
  EXPECT_EQ(k[0].kubernetes_sd_configs[0].api_server, "https://k8s:6443");
  ASSERT_EQ(k[0].relabel_configs.size(), 1u);
  EXPECT_EQ(k[0].relabel_configs[0].action, relabel::Action::kDrop);
  EXPECT_EQ(k[0].max_streams, 50);
  EXPECT_EQ(k[0].max_line_size, 16 << 10);
  EXPECT_EQ(k[0].lines_per_second, 200);
  EXPECT_EQ(k[0].burst, 400);
  EXPECT_EQ(k[1].job_name, "system");
  EXPECT_EQ(k[1].max_streams, 200);
  EXPECT_EQ(k[1].max_line_size, 256 << 10);
  EXPECT_EQ(k[1].lines_per_second, 1000);
  EXPECT_EQ(k[1].burst, 5000);
  EXPECT_EQ(k[1].kubernetes_sd_configs[0].namespaces, std::vector<std::string>{"kube-system"});
  // The rendered config loads back to the same section.
  LoadResult back = LoadConfigString(RedactedYaml(*r.config));
  ASSERT_TRUE(back.errors.empty()) << back.errors[0].ToString("config") << RedactedYaml(*r.config);
  EXPECT_EQ(back.config->logs.kubernetes, k);
}

TEST(LogsConfigTest, ErrorsNamePathAndLine) {
  struct Case {
    std::string yaml;
    int line;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"logs:\n  loki:\n    - tenant_id: a\n", 3, "logs.loki[0].url", "url is required"},
      {"logs:\n  loki:\n    - url: ftp://x\n", 3, "logs.loki[0].url", "http"},
      {"logs:\n  loki:\n    - url: http://x\n      encoding: xml\n", 4, "logs.loki[0].encoding",
       "unknown encoding"},
      {"logs:\n  loki:\n    - url: http://x\n      tenant_id: a|b\n", 4, "logs.loki[0].tenant_id",
       "tenant_id"},
      {"logs:\n  loki:\n    - url: http://x\n      batch_wait: 0s\n", 4, "logs.loki[0].batch_wait",
       "greater than 0"},
      {"logs:\n  loki:\n    - url: http://x\n      bogus: 1\n", 4, "logs.loki[0].bogus", ""},
      {"logs:\n  files:\n    - labels: {job: x}\n", 3, "logs.files[0].paths", "required"},
      {"logs:\n  files:\n    - paths: [a]\n      format: syslog\n", 4, "logs.files[0].format",
       "unknown format"},
      {"logs:\n  files:\n    - paths: [a]\n      labels: {bad-name: x}\n", 4,
       "logs.files[0].labels.bad-name", ""},
      {"logs:\n  metrics: 1\n", 2, "logs.metrics", ""},
      {"logs:\n  events:\n    - labels: {job: x}\n", 3, "logs.events[0].labels", "job_name"},
      {"logs:\n  events:\n    - kubeconfig_file: k\n      api_server: http://a\n", 3,
       "logs.events[0].kubeconfig_file", "simultaneously"},
      {"logs:\n  events:\n    - tls_config: {ca_file: a}\n", 3, "logs.events[0]", "api_server"},
      {"logs:\n  events:\n    - job_name: a\n    - job_name: a\n", 4, "logs.events[1].job_name",
       "multiple"},
      {"logs:\n  events:\n    - role: pod\n", 3, "logs.events[0].role", ""},
      {"logs:\n  kubernetes:\n    - max_streams: 5\n", 3,
       "logs.kubernetes[0].kubernetes_sd_configs", "required"},
      {"logs:\n  kubernetes:\n    - kubernetes_sd_configs: [{role: node}]\n", 3,
       "logs.kubernetes[0].kubernetes_sd_configs", "role pod"},
      {"logs:\n  kubernetes:\n    - kubernetes_sd_configs: [{role: pod}]\n      max_streams: 0\n",
       4, "logs.kubernetes[0].max_streams", ""},
      {"logs:\n  kubernetes:\n    - kubernetes_sd_configs: [{role: pod}]\n"
       "      rate_limit: {lines: 1}\n",
       4, "logs.kubernetes[0].rate_limit.lines", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    LoadResult r = LoadConfigString(c.yaml);
    EXPECT_FALSE(r.config.has_value());
    ASSERT_EQ(r.errors.size(), 1u) << r.errors[0].ToString("config");
    EXPECT_EQ(r.errors[0].line, c.line);
    EXPECT_EQ(r.errors[0].path, c.path);
    EXPECT_THAT(r.errors[0].message, HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace tender::config
