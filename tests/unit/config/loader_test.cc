#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "tests/unit/config/test_util.h"

namespace tender::config {
namespace {

using ::testing::HasSubstr;

// One scrape job with the defaults a loaded config gets (global 1m / 10s unless given).
ScrapeConfig Job(std::string name, std::vector<std::string> targets,
                 absl::Duration interval = absl::Minutes(1),
                 absl::Duration timeout = absl::Seconds(10)) {
  ScrapeConfig sc;
  sc.job_name = std::move(name);
  sc.scrape_interval = interval;
  sc.scrape_timeout = timeout;
  sc.static_configs.push_back(StaticConfig{std::move(targets), {}});
  return sc;
}

RemoteWriteConfig Write(std::string url, std::string name) {
  RemoteWriteConfig rw;
  rw.url = std::move(url);
  rw.name = std::move(name);
  return rw;
}

std::string ErrorsToString(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString("test.yml") + "\n";
  }
  return out;
}

TEST(LoadConfigTest, ValidConfigsGiveExpectedStructs) {
  struct Case {
    std::string name;
    std::string yaml;
    Config want;
  };
  std::vector<Case> cases;

  cases.push_back({"empty document is all defaults", "", Config{}});
  cases.push_back(
      {"null sections are defaults", "global:\nscrape_configs:\nremote_write:\n", Config{}});
  {
    Config want;
    want.scrape_configs.push_back(Job("node", {"localhost:9100"}));
    cases.push_back({"job inherits global defaults 1m/10s",
                     R"(
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [localhost:9100]
)",
                     want});
  }
  {
    // Prometheus: an unset global timeout is min(10s, interval).
    Config want;
    want.global.scrape_interval = absl::Seconds(5);
    want.global.scrape_timeout = absl::Seconds(5);
    want.scrape_configs.push_back(Job("a", {"a:1"}, absl::Seconds(5), absl::Seconds(5)));
    cases.push_back({"short global interval caps the default timeout",
                     R"(
global: {scrape_interval: 5s}
scrape_configs: [{job_name: a, static_configs: [{targets: ["a:1"]}]}]
)",
                     want});
  }
  {
    Config want;
    want.global.scrape_interval = absl::Seconds(30);
    want.global.scrape_timeout = absl::Seconds(20);
    // Interval 15s, timeout inherited 20s capped to 15s.
    want.scrape_configs.push_back(Job("capped", {"a:1"}, absl::Seconds(15), absl::Seconds(15)));
    want.scrape_configs.push_back(Job("own", {"b:1"}, absl::Seconds(15), absl::Seconds(5)));
    want.scrape_configs.push_back(Job("inherit", {"c:1"}, absl::Seconds(30), absl::Seconds(20)));
    // 0 means unset, as in Prometheus.
    want.scrape_configs.push_back(Job("zero", {"d:1"}, absl::Seconds(30), absl::Seconds(20)));
    cases.push_back({"job interval and timeout inheritance",
                     R"(
global:
  scrape_interval: 30s
  scrape_timeout: 20s
scrape_configs:
  - job_name: capped
    scrape_interval: 15s
    static_configs: [{targets: ["a:1"]}]
  - job_name: own
    scrape_interval: 15s
    scrape_timeout: 5s
    static_configs: [{targets: ["b:1"]}]
  - job_name: inherit
    static_configs: [{targets: ["c:1"]}]
  - job_name: zero
    scrape_interval: 0s
    scrape_timeout: 0s
    static_configs: [{targets: ["d:1"]}]
)",
                     want});
  }
  {
    Config want;
    ScrapeConfig token = Job("token", {"a:1"});
    token.http.authorization = Authorization{"Bearer", "s3cret", ""};
    ScrapeConfig token_file = Job("token_file", {"a:1"});
    token_file.http.authorization = Authorization{"Bearer", "", "/run/token"};
    ScrapeConfig authz = Job("authz", {"a:1"});
    authz.http.authorization = Authorization{"Bearer", "tok", ""};
    ScrapeConfig custom = Job("custom", {"a:1"});
    custom.http.authorization = Authorization{"Token", "", "/run/t"};
    want.scrape_configs = {token, token_file, authz, custom};
    cases.push_back({"bearer_token(_file) folded into authorization; type defaults to Bearer",
                     R"(
scrape_configs:
  - job_name: token
    bearer_token: s3cret
    static_configs: [{targets: ["a:1"]}]
  - job_name: token_file
    bearer_token_file: /run/token
    static_configs: [{targets: ["a:1"]}]
  - job_name: authz
    authorization: {credentials: tok}
    static_configs: [{targets: ["a:1"]}]
  - job_name: custom
    authorization: {type: " Token ", credentials_file: /run/t}
    static_configs: [{targets: ["a:1"]}]
)",
                     want});
  }
  {
    Config want;
    ScrapeConfig sc = Job("full", {"b.example:443", "[::1]:9100", "noport.example"},
                          absl::Seconds(20), absl::Seconds(10));
    sc.static_configs[0].labels = {{"env", "prod"}, {"zone", "a"}};  // Sorted, empty dropped.
    sc.static_configs.push_back(StaticConfig{{}, {{"only", "labels"}}});
    sc.metrics_path = "/probe";
    sc.scheme = "https";
    sc.params = {{"module", {"http_2xx"}}, {"target", {"a", "b"}}};
    sc.honor_labels = true;
    sc.honor_timestamps = false;
    sc.enable_compression = false;
    sc.body_size_limit = 10 << 20;
    sc.http.basic_auth = BasicAuth{"user", "", "/run/pw"};
    sc.http.tls_config = TlsConfig{"/ca.pem", "/c.pem", "/k.pem", "name.example", true};
    want.scrape_configs.push_back(sc);
    cases.push_back({"every scrape key",
                     R"(
scrape_configs:
  - job_name: full
    scrape_interval: 20s
    metrics_path: /probe
    scheme: https
    params:
      module: [http_2xx]
      target: [a, b]
    honor_labels: yes
    honor_timestamps: False
    enable_compression: off
    body_size_limit: 10MiB
    basic_auth:
      username: user
      password_file: /run/pw
    tls_config:
      ca_file: /ca.pem
      cert_file: /c.pem
      key_file: /k.pem
      server_name: name.example
      insecure_skip_verify: true
    static_configs:
      - targets: [b.example:443, "[::1]:9100", noport.example]
        labels: {zone: a, env: prod, dropped: ""}
      - labels: {only: labels}
)",
                     want});
  }
  {
    Config want;
    ScrapeConfig sc = Job("p", {"a:1"});
    sc.metrics_path = "/metrics2";  // Go's URL rendering adds the slash; so do we.
    want.scrape_configs.push_back(sc);
    cases.push_back({"metrics_path without slash",
                     "scrape_configs: [{job_name: p, metrics_path: metrics2, static_configs: "
                     "[{targets: ['a:1']}]}]",
                     want});
  }
  {
    Config want;
    want.global.external_labels = {{"cluster", "eu"}, {"replica", "1"}};
    cases.push_back({"external labels normalized",
                     "global:\n  external_labels: {replica: 1, cluster: eu, empty: ''}\n", want});
  }
  {
    Config want;
    // Name: first 6 hex digits of FNV-1a 64 of the URL (golden value computed independently).
    want.remote_write.push_back(Write("http://localhost:9090/api/v1/write", "2aa7fc"));
    cases.push_back({"remote_write defaults, retry_on_http_429 true",
                     "remote_write:\n  - url: http://localhost:9090/api/v1/write\n", want});
  }
  {
    Config want;
    RemoteWriteConfig rw = Write("https://user:pw@mimir.example:8443/api/v1/push", "mimir");
    rw.remote_timeout = absl::Seconds(5);
    rw.headers = {{"X-Scope-OrgID", "tenant-1"}};
    rw.http.basic_auth = BasicAuth{"user", "pw", ""};
    rw.queue_config = QueueConfig{
        100, 4, 2, 50, absl::Seconds(1), absl::Milliseconds(10), absl::Seconds(1), false};
    want.remote_write.push_back(rw);
    RemoteWriteConfig second = Write("http://[::1]:9090/write", "second");
    second.http.authorization = Authorization{"Bearer", "t", ""};
    want.remote_write.push_back(second);
    cases.push_back({"remote_write with every key",
                     R"(
remote_write:
  - url: https://user:pw@mimir.example:8443/api/v1/push
    name: mimir
    remote_timeout: 5s
    headers:
      X-Scope-OrgID: tenant-1
    basic_auth: {username: user, password: pw}
    queue_config:
      capacity: 100
      max_shards: 4
      min_shards: 2
      max_samples_per_send: 50
      batch_send_deadline: 1s
      min_backoff: 10ms
      max_backoff: 1s
      retry_on_http_429: false
  - url: http://[::1]:9090/write
    name: second
    bearer_token: t
)",
                     want});
  }

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LoadResult r = LoadConfigString(c.yaml);
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    ASSERT_TRUE(r.config.has_value());
    EXPECT_EQ(*r.config, c.want);
    EXPECT_TRUE(r.warnings.empty());
  }
}

TEST(LoadConfigTest, InvalidConfigsReportPathLineAndMessage) {
  struct Case {
    std::string yaml;
    std::string path;
    int line;
    std::string message;  // Substring.
  };
  // Line numbers are 1-based; R"( starts with a newline, so the first YAML line is line 2.
  const std::vector<Case> cases = {
      {"scrape_config: []\n", "scrape_config", 1,
       "unknown key \"scrape_config\" (did you mean \"scrape_configs\"?)"},
      {"global:\n  scrape_interval: 1x\n", "global.scrape_interval", 2, "unknown unit \"x\""},
      {"global:\n  scrape_interval: {a: 1}\n", "global.scrape_interval", 2,
       "expected a duration such as 15s or 1m30s, got a map"},
      {"global:\n  scrape_interval: 10s\n  scrape_timeout: 20s\n", "global.scrape_timeout", 3,
       "global scrape_timeout (20s) is greater than scrape_interval (10s)"},
      {"global:\n  evaluation_interval: 1 m\n", "global.evaluation_interval", 2,
       "unknown unit \" m\""},
      {"global:\n  external_labels:\n    foo-bar: x\n", "global.external_labels.foo-bar", 3,
       "\"foo-bar\" is not a valid label name"},
      {"global:\n  keep_dropped_targets: 10\n", "global.keep_dropped_targets", 2,
       "does not support yet"},
      {"global:\n  scrape_interval: 1m\nglobal:\n  scrape_interval: 2m\n", "global", 3,
       "key \"global\" appears more than once in this map"},
      {"scrape_configs:\n  job_name: a\n", "scrape_configs", 2, "expected a list of scrape"},
      {"scrape_configs:\n  -\n", "scrape_configs[0]", 2, "empty scrape config entry"},
      {"scrape_configs:\n  - scrape_interval: 5s\n", "scrape_configs[0].job_name", 2,
       "job_name is required"},
      {"scrape_configs:\n  - job_name: ''\n", "scrape_configs[0].job_name", 2, "must not be empty"},
      {"scrape_configs:\n  - job_name: [a]\n", "scrape_configs[0].job_name", 2,
       "expected a string, got a list"},
      {"scrape_configs:\n  - job_name: a\n  - job_name: a\n", "scrape_configs[1].job_name", 3,
       "found multiple scrape configs with job name \"a\" (first on line 2)"},
      {"scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 11s\n",
       "scrape_configs[0].scrape_timeout", 4,
       "scrape_timeout (11s) is greater than scrape_interval (10s)"},
      {"global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: a\n    scrape_timeout: 6s\n",
       "scrape_configs[0].scrape_timeout", 4, "greater than scrape_interval (5s)"},
      {"scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "scrape_configs[0].scheme", 3,
       "scheme must be http or https, got \"ftp\""},
      {"scrape_configs:\n  - job_name: a\n    honor_labels: 'true'\n",
       "scrape_configs[0].honor_labels", 3,
       "expected true or false, got the quoted string \"true\""},
      {"scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
       "scrape_configs[0].honor_labels", 3, "expected true or false, got \"maybe\""},
      {"scrape_configs:\n  - job_name: a\n    body_size_limit: 10 MB\n",
       "scrape_configs[0].body_size_limit", 3, "unknown unit \" MB\""},
      {"scrape_configs:\n  - job_name: a\n    params:\n      module: http_2xx\n",
       "scrape_configs[0].params.module", 4, "expected a list of strings"},
      {R"(
scrape_configs:
  - job_name: a
    static_configs:
      - targets:
          - a:1
          - b:2
          - http://c:3
)",
       "scrape_configs[0].static_configs[0].targets[2]", 8, "without a scheme"},
      // yaml-cpp marks a null item at the next token; the loader finds the "-" line.
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n"
       "          - a:1\n          -\n\n          - b:2\n",
       "scrape_configs[0].static_configs[0].targets[1]", 6, "empty target address"},
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n"
       "          - ~\n",
       "scrape_configs[0].static_configs[0].targets[0]", 5, "empty target address"},
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['a:99999']\n",
       "scrape_configs[0].static_configs[0].targets[0]", 4, "port"},
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: 'a:1'\n",
       "scrape_configs[0].static_configs[0].targets", 4, "expected a list of host:port targets"},
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - target: ['a:1']\n",
       "scrape_configs[0].static_configs[0].target", 4,
       "unknown key \"target\" (did you mean \"targets\"?)"},
      {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels:\n          1x: y\n",
       "scrape_configs[0].static_configs[0].labels.1x", 5, "not a valid label name"},
      {"scrape_configs:\n  - job_name: a\n    keep_dropped_targets: 1\n",
       "scrape_configs[0].keep_dropped_targets", 3,
       "\"keep_dropped_targets\" is a Prometheus setting tender does not support yet"},
      {"scrape_configs:\n  - job_name: a\n    consul_sd_configs: []\n",
       "scrape_configs[0].consul_sd_configs", 3, "service discovery is not supported yet"},
      {"scrape_configs:\n  - job_name: a\n    colour: blue\n", "scrape_configs[0].colour", 3,
       "unknown key \"colour\""},
      {"scrape_configs:\n  - job_name: a\n    basic_auth:\n      password: x\n      "
       "password_file: /f\n",
       "scrape_configs[0].basic_auth.password_file", 5,
       "at most one of basic_auth password & password_file"},
      {"scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: x\n      "
       "credentials_file: /f\n",
       "scrape_configs[0].authorization.credentials_file", 5,
       "at most one of authorization credentials & credentials_file"},
      {"scrape_configs:\n  - job_name: a\n    authorization: {type: Basic}\n",
       "scrape_configs[0].authorization.type", 3, "use \"basic_auth\" instead"},
      {"scrape_configs:\n  - job_name: a\n    authorization: {credentials: x}\n    bearer_token: "
       "y\n",
       "scrape_configs[0].bearer_token", 4,
       "authorization is not compatible with bearer_token & bearer_token_file"},
      {"scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: /f\n",
       "scrape_configs[0].bearer_token_file", 4, "at most one of bearer_token & bearer_token_file"},
      {"scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    bearer_token_file: "
       "/f\n",
       "scrape_configs[0].bearer_token_file", 4, "at most one of basic_auth, bearer_token"},
      {"scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: "
       "{credentials: c}\n",
       "scrape_configs[0].authorization", 4, "at most one of basic_auth & authorization"},
      {"scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: /c\n",
       "scrape_configs[0].tls_config.cert_file", 4, "key_file must be configured"},
      {"scrape_configs:\n  - job_name: a\n    tls_config:\n      key_file: /k\n",
       "scrape_configs[0].tls_config.key_file", 4, "cert_file must be configured"},
      {"scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: TLS12\n",
       "scrape_configs[0].tls_config.min_version", 4, "does not support yet"},
      {"scrape_configs:\n  - job_name: a\n    follow_redirects: false\n",
       "scrape_configs[0].follow_redirects", 3, "does not support yet"},
      {"remote_write:\n  - name: x\n", "remote_write[0].url", 2, "url is required"},
      {"remote_write:\n  - url: ftp://x/y\n", "remote_write[0].url", 2,
       "url scheme must be http or https"},
      {"remote_write:\n  - url: http:///api/v1/write\n", "remote_write[0].url", 2, "has no host"},
      {"remote_write:\n  - url: localhost:9090/api/v1/write\n", "remote_write[0].url", 2,
       "not an absolute URL"},
      {"remote_write:\n  - url: http://a:0/w\n", "remote_write[0].url", 2, "invalid port"},
      {"remote_write:\n  - url: http://a/w\n    name: x\n  - url: http://b/w\n    name: x\n",
       "remote_write[1].name", 5,
       "found multiple remote_write configs with name \"x\" (first on line 3)"},
      {"remote_write:\n  - url: http://a/w\n  - url: http://a/w\n", "remote_write[1].url", 3,
       "duplicate remote_write config for url \"http://a/w\" (first on line 2)"},
      {"remote_write:\n  - url: http://a/w\n    headers:\n      content-type: text/plain\n",
       "remote_write[0].headers.content-type", 4, "is a reserved header"},
      {"remote_write:\n  - url: http://a/w\n    headers:\n      Authorization: Bearer x\n",
       "remote_write[0].headers.Authorization", 4, "must be set with basic_auth, authorization"},
      {"remote_write:\n  - url: http://a/w\n    headers:\n      X-A: \"a\\r\\nX-B: b\"\n",
       "remote_write[0].headers.X-A", 4, "line breaks"},
      {"remote_write:\n  - url: http://a/w\n    remote_timeout: 0s\n",
       "remote_write[0].remote_timeout", 3, "must be greater than 0"},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      max_shards: 0\n",
       "remote_write[0].queue_config.max_shards", 4, "must be between 1 and 2147483647, got 0"},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      capacity: lots\n",
       "remote_write[0].queue_config.capacity", 4, "expected an integer, got \"lots\""},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      capacity: 1e99\n",
       "remote_write[0].queue_config.capacity", 4, "expected an integer"},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      max_shards: 2\n      "
       "min_shards: 3\n",
       "remote_write[0].queue_config.min_shards", 5,
       "min_shards (3) must not exceed max_shards (2)"},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      min_backoff: 10s\n",
       "remote_write[0].queue_config.min_backoff", 4,
       "max_backoff (5s) must not be less than min_backoff (10s)"},
      {"remote_write:\n  - url: http://a/w\n    queue_config:\n      sample_age_limit: 1x\n",
       "remote_write[0].queue_config.sample_age_limit", 4, "duration"},
      {"storage:\n  max_bytes: 10 apples\n", "storage.max_bytes", 2, "size"},
      {"storage:\n  max_age: soon\n", "storage.max_age", 2, "duration"},
      {"storage:\n  memory_byte: 1MiB\n", "storage.memory_byte", 2, "did you mean"},
      {"storage: [1]\n", "storage", 1, "expected a map"},
      {"remote_write:\n  - url: http://a/w\n    send_exemplars: true\n",
       "remote_write[0].send_exemplars", 3, "does not support yet"},
      {"remote_write:\n  -\n", "remote_write[0]", 2, "empty remote_write entry"},
      {"runtime:\n  gogc: 50\n", "runtime", 1, "does not support yet"},
      {"- a\n- b\n", "", 1, "expected a map, got a list"},
      {"global: [\n", "", 2, "invalid YAML"},
      {"global:\n  scrape_interval: 1m\n   scrape_timeout: 1s\n", "", 3, "invalid YAML"},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    LoadResult r = LoadConfigString(c.yaml);
    EXPECT_FALSE(r.config.has_value());
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, c.path);
    EXPECT_EQ(r.errors[0].line, c.line);
    EXPECT_THAT(r.errors[0].message, HasSubstr(c.message));
  }
}

TEST(LoadConfigTest, ReportsEveryErrorInLineOrder) {
  const std::string yaml = R"(global:
  scrape_interval: 15x
  external_labels:
    bad-name: x
scrape_configs:
  - job_name: a
    scrape_interval: 10s
    scrape_timeout: 20s
    static_configs:
      - targets: ["ok:1", "http://bad:2", "bad:0"]
  - job_name: a
    metric_relabel_configs: [{action: bogus}]
    honor_labels: 3
remote_write:
  - url: ftp://x
    queue_config:
      max_shards: -1
      typo: 1
bogus: true
)";
  LoadResult r = LoadConfigString(yaml);
  EXPECT_FALSE(r.config.has_value());
  struct Want {
    int line;
    std::string path;
  };
  const std::vector<Want> want = {
      {2, "global.scrape_interval"},
      {4, "global.external_labels.bad-name"},
      {8, "scrape_configs[0].scrape_timeout"},
      {10, "scrape_configs[0].static_configs[0].targets[1]"},
      {10, "scrape_configs[0].static_configs[0].targets[2]"},
      {11, "scrape_configs[1].job_name"},
      {12, "scrape_configs[1].metric_relabel_configs[0].action"},
      {13, "scrape_configs[1].honor_labels"},
      {15, "remote_write[0].url"},
      {17, "remote_write[0].queue_config.max_shards"},
      {18, "remote_write[0].queue_config.typo"},
      {19, "bogus"},
  };
  ASSERT_EQ(r.errors.size(), want.size()) << ErrorsToString(r);
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(r.errors[i].ToString("test.yml"));
    EXPECT_EQ(r.errors[i].line, want[i].line);
    EXPECT_EQ(r.errors[i].path, want[i].path);
  }
}

TEST(LoadConfigTest, HostileInputIsAnErrorNotACrash) {
  const std::vector<std::string> inputs = {
      std::string(20000, '['),                                // Deep nesting.
      "global: *nowhere\n",                                   // Undefined alias.
      "base: &b {scrape_interval: 5s}\nglobal:\n  <<: *b\n",  // Merge keys are not YAML 1.2.
      std::string("\xff\xfe\x00\x01garbage", 12),             // Binary.
      "global:\n\tscrape_interval: 5s\n",                     // Tab indentation.
      "? [a, b]\n: c\n",                                      // Non-scalar key.
      "scrape_configs: [{job_name: a, static_configs: [{targets: [{}]}]}]",
      "remote_write: [{url: \"http://h/w\", queue_config: {capacity: 99999999999999999999}}]",
  };
  for (const std::string& yaml : inputs) {
    SCOPED_TRACE(yaml.substr(0, 60));
    LoadResult r = LoadConfigString(yaml);
    EXPECT_FALSE(r.errors.empty());
    EXPECT_FALSE(r.config.has_value());
  }
}

TEST(LoadConfigTest, UnusedPrometheusSectionsGiveOneWarning) {
  LoadResult r = LoadConfigString(R"(
global:
  evaluation_interval: 30s
rule_files: [/etc/rules/*.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ["am:9093"]}]}]
remote_read: [{url: "http://x/read"}]
storage:
  tsdb: {out_of_order_time_window: 10m}
)");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  EXPECT_TRUE(r.config.has_value());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("storage.tsdb, rule_files, alerting, remote_read"));

  LoadResult clean = LoadConfigString("global: {evaluation_interval: 30s}\n");
  ASSERT_TRUE(clean.errors.empty()) << ErrorsToString(clean);
  EXPECT_TRUE(clean.warnings.empty());
}

TEST(LoadConfigTest, StorageSectionAndSampleAgeLimit) {
  LoadResult r = LoadConfigString(R"(
storage:
  max_bytes: 2GiB
  max_age: 2h
  memory_bytes: 8MiB
  replay_bytes_per_second: 10MB
remote_write:
  - url: http://a/w
    queue_config: {sample_age_limit: 90m}
)");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config->storage.max_bytes, int64_t{2} << 30);
  EXPECT_EQ(r.config->storage.max_age, absl::Hours(2));
  EXPECT_EQ(r.config->storage.memory_bytes, int64_t{8} << 20);
  EXPECT_EQ(r.config->storage.replay_bytes_per_second, int64_t{10} << 20);
  EXPECT_EQ(r.config->remote_write[0].queue_config.sample_age_limit, absl::Minutes(90));

  LoadResult defaults = LoadConfigString("remote_write: [{url: 'http://a/w'}]\n");
  ASSERT_TRUE(defaults.errors.empty()) << ErrorsToString(defaults);
  EXPECT_EQ(defaults.config->storage, StorageConfig{});
  EXPECT_EQ(defaults.config->storage.memory_bytes, 32 << 20);
  EXPECT_EQ(defaults.config->remote_write[0].queue_config.sample_age_limit, absl::ZeroDuration());
}

TEST(LoadConfigTest, DefaultRemoteWriteNameIsStableAndDistinct) {
  auto name_of = [](const std::string& url) {
    LoadResult r = LoadConfigString("remote_write: [{url: '" + url + "'}]");
    EXPECT_TRUE(r.errors.empty()) << ErrorsToString(r);
    return r.config.has_value() ? r.config->remote_write[0].name : std::string();
  };
  const std::string a = name_of("https://metrics.example.net/api/v1/push");
  EXPECT_EQ(a, "b64d6a");  // FNV-1a 64, computed independently.
  EXPECT_EQ(name_of("https://metrics.example.net/api/v1/push"), a);
  EXPECT_NE(name_of("https://metrics.example.net/api/v1/push2"), a);

  // Same URL twice is fine once each has its own name (e.g. two tenants).
  LoadResult r = LoadConfigString(R"(
remote_write:
  - {url: "http://m/push", name: t1, headers: {X-Scope-OrgID: t1}}
  - {url: "http://m/push", name: t2, headers: {X-Scope-OrgID: t2}}
)");
  EXPECT_TRUE(r.errors.empty()) << ErrorsToString(r);
}

TEST(ConfigErrorTest, ToStringFormats) {
  const auto check = [](const ConfigError& e, const std::string& want) {
    SCOPED_TRACE(want);
    EXPECT_EQ(e.ToString("tender.yml"), want);
  };
  check({"scrape_configs[1].job_name", 7, "job_name is required"},
        "tender.yml:7: scrape_configs[1].job_name: job_name is required");
  check({"", 3, "invalid YAML: x"}, "tender.yml:3: invalid YAML: x");
  check({"", 0, "cannot read file: No such file or directory"},
        "tender.yml: cannot read file: No such file or directory");
}

TEST(LoadConfigFileTest, LoadsTheRealisticPrometheusYml) {
  const std::string path = TestdataPath("prometheus.yml");
  LoadResult r = LoadConfigFile(path);
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  ASSERT_TRUE(r.config.has_value());
  ASSERT_EQ(r.warnings.size(), 1u);  // rule_files and alerting.
  EXPECT_THAT(r.warnings[0], HasSubstr("rule_files, alerting"));

  const Config& c = *r.config;
  EXPECT_EQ(c.global.scrape_interval, absl::Seconds(30));
  EXPECT_EQ(c.global.external_labels, (model::Labels{{"cluster", "prod-eu-1"}, {"replica", "a"}}));
  ASSERT_EQ(c.scrape_configs.size(), 6u);
  const ScrapeConfig& node = c.scrape_configs[1];
  EXPECT_EQ(node.job_name, "node");
  EXPECT_EQ(node.scrape_interval, absl::Seconds(15));
  EXPECT_EQ(node.scrape_timeout, absl::Seconds(10));
  ASSERT_EQ(node.static_configs.size(), 2u);
  EXPECT_EQ(
      node.static_configs[0].targets,
      (std::vector<std::string>{"node-1.internal:9100", "node-2.internal:9100", "10.0.3.17:9100"}));
  EXPECT_EQ(node.static_configs[1].labels, (model::Labels{{"datacenter", "ams"}}));
  EXPECT_EQ(c.scrape_configs[2].scrape_timeout, absl::Seconds(45));
  EXPECT_EQ(c.scrape_configs[3].params.at("target"),
            (std::vector<std::string>{"https://example.com"}));
  const ScrapeConfig& secure = c.scrape_configs[4];
  EXPECT_EQ(secure.body_size_limit, 50 << 20);
  ASSERT_TRUE(secure.http.authorization.has_value());
  EXPECT_EQ(secure.http.authorization->credentials_file, "/var/run/secrets/app-token");
  EXPECT_EQ(c.scrape_configs[5].params.at("match[]"),
            (std::vector<std::string>{"{job=\"kubernetes-pods\"}"}));

  ASSERT_EQ(c.remote_write.size(), 2u);
  const RemoteWriteConfig& hosted = c.remote_write[0];
  EXPECT_EQ(hosted.name, "b64d6a");
  EXPECT_EQ(hosted.remote_timeout, absl::Seconds(20));
  EXPECT_EQ(hosted.queue_config.capacity, 20000);
  EXPECT_EQ(hosted.queue_config.min_backoff, absl::Milliseconds(100));
  EXPECT_TRUE(hosted.queue_config.retry_on_http_429);  // tender's default.
  ASSERT_TRUE(hosted.http.basic_auth.has_value());
  EXPECT_EQ(hosted.http.basic_auth->username, "12345");
  EXPECT_EQ(c.remote_write[1].name, "victoria");
}

TEST(LoadConfigFileTest, ErrorsForMissingAndBadFiles) {
  LoadResult missing = LoadConfigFile(TestdataPath("does-not-exist.yml"));
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].line, 0);
  EXPECT_THAT(missing.errors[0].message, HasSubstr("cannot read file"));
  EXPECT_FALSE(missing.config.has_value());

  const std::string path = ::testing::TempDir() + "/config_loader_bad.yml";
  {
    std::ofstream out(path);
    out << "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    oops: 1\n";
  }
  LoadResult bad = LoadConfigFile(path);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].ToString(path),
            path + ":5: scrape_configs[0].oops: unknown key \"oops\"");
}

}  // namespace
}  // namespace tender::config
