#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "tests/unit/config/test_util.h"

namespace tender::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ErrorsToString(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString("rendered.yml") + "\n";
  }
  return out;
}

// What RedactedYaml promises to hide, replaced the way it hides it.
void RedactSecrets(HttpClientConfig& http) {
  if (http.basic_auth.has_value() && !http.basic_auth->password.empty()) {
    http.basic_auth->password = "<secret>";
  }
  if (http.authorization.has_value() && !http.authorization->credentials.empty()) {
    http.authorization->credentials = "<secret>";
  }
}

TEST(DefaultConfigYamlTest, LoadsWithoutErrorsForListenAddresses) {
  struct Case {
    std::string self_address;
    std::string want_target;
  };
  const std::vector<Case> cases = {
      {"localhost:9464", "localhost:9464"}, {":9464", "localhost:9464"},
      {"0.0.0.0:9464", "localhost:9464"},   {"[::]:9464", "localhost:9464"},
      {"10.1.2.3:8080", "10.1.2.3:8080"},   {"[::1]:9464", "[::1]:9464"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.self_address);
    LoadResult r = LoadConfigString(DefaultConfigYaml(c.self_address));
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    ASSERT_TRUE(r.config.has_value());
    EXPECT_TRUE(r.warnings.empty());

    Config want;
    want.global.scrape_interval = absl::Seconds(15);
    want.global.scrape_timeout = absl::Seconds(10);
    for (const auto& [job, target] : {std::pair<std::string, std::string>{"tender", c.want_target},
                                      {"node", "localhost:9100"}}) {
      ScrapeConfig sc;
      sc.job_name = job;
      sc.scrape_interval = absl::Seconds(15);
      sc.scrape_timeout = absl::Seconds(10);
      sc.static_configs.push_back(StaticConfig{{target}, {}});
      want.scrape_configs.push_back(sc);
    }
    RemoteWriteConfig rw;
    rw.url = "http://localhost:9090/api/v1/write";
    rw.name = "2aa7fc";
    want.remote_write.push_back(rw);
    EXPECT_EQ(*r.config, want);
  }
}

const char kSecretsYaml[] = R"(
scrape_configs:
  - job_name: basic
    basic_auth: {username: alice, password: scrape-password-1}
    static_configs: [{targets: ["a:1"]}]
  - job_name: bearer
    bearer_token: scrape-bearer-token-2
    tls_config: {ca_file: /ca.pem, insecure_skip_verify: true}
    static_configs: [{targets: ["b:1"]}]
  - job_name: authz
    authorization: {type: Token, credentials: scrape-credentials-3}
    static_configs: [{targets: ["c:1"]}]
  - job_name: files
    basic_auth: {username: bob, password_file: /run/pw}
    static_configs: [{targets: ["d:1"]}]
remote_write:
  - url: https://user:url-password-4@push.example/api/v1/write
    basic_auth: {username: u, password: rw-password-5}
  - url: https://push.example/other
    name: second
    bearer_token: rw-bearer-token-6
    headers: {X-Scope-OrgID: tenant}
)";

TEST(RedactedYamlTest, HidesEverySecretAndLoadsBack) {
  LoadResult r = LoadConfigString(kSecretsYaml);
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const Config& original = *r.config;

  const std::string yaml = RedactedYaml(original);
  for (const std::string secret :
       {"scrape-password-1", "scrape-bearer-token-2", "scrape-credentials-3", "url-password-4",
        "rw-password-5", "rw-bearer-token-6"}) {
    SCOPED_TRACE(secret);
    EXPECT_THAT(yaml, Not(HasSubstr(secret)));
  }
  // Non-secrets stay visible.
  for (const std::string shown : {"alice", "/run/pw", "/ca.pem", "tenant", "user:<secret>@"}) {
    SCOPED_TRACE(shown);
    EXPECT_THAT(yaml, HasSubstr(shown));
  }

  LoadResult back = LoadConfigString(yaml);
  ASSERT_TRUE(back.errors.empty()) << ErrorsToString(back) << yaml;
  Config want = original;
  for (ScrapeConfig& sc : want.scrape_configs) {
    RedactSecrets(sc.http);
  }
  for (RemoteWriteConfig& rw : want.remote_write) {
    RedactSecrets(rw.http);
  }
  want.remote_write[0].url = "https://user:<secret>@push.example/api/v1/write";
  EXPECT_EQ(*back.config, want) << yaml;
}

TEST(RedactedYamlTest, FillsInDefaults) {
  LoadResult r = LoadConfigString(R"(
scrape_configs: [{job_name: j, static_configs: [{targets: ["a:1"]}]}]
remote_write: [{url: "http://r/w"}]
)");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const std::string yaml = RedactedYaml(*r.config);
  for (const std::string line :
       {"scrape_interval: 1m", "scrape_timeout: 10s", "metrics_path: \"/metrics\"",
        "scheme: \"http\"", "honor_timestamps: true", "enable_compression: true",
        "remote_timeout: 30s", "capacity: 10000", "max_shards: 50", "max_samples_per_send: 2000",
        "batch_send_deadline: 5s", "min_backoff: 30ms", "retry_on_http_429: true"}) {
    SCOPED_TRACE(line);
    EXPECT_THAT(yaml, HasSubstr(line));
  }
}

TEST(RedactedYamlTest, RoundTripsAwkwardStrings) {
  Config config;
  config.global.external_labels = {{"a", "true"},
                                   {"b", "123"},
                                   {"c", "null"},
                                   {"d", "a: b"},
                                   {"e", "# not a comment"},
                                   {"f", "ünïcödé"},
                                   {"g", "quote\" and \\ back"},
                                   {"h", "multi\nline"},
                                   {"i", "~"},
                                   {"j", " padded "}};
  ScrapeConfig sc;
  sc.job_name = "1.5";
  sc.scrape_interval = absl::Minutes(90);
  sc.scrape_timeout = absl::Milliseconds(1500);
  sc.params = {{"match[]", {"{job=\"x\"}", ""}}, {"yes", {"no"}}, {"a: b #c", {"- d"}}};
  sc.body_size_limit = 1536;
  sc.static_configs.push_back(StaticConfig{{"[::1]:9100", "host"}, {{"k", "[v]"}}});
  config.scrape_configs.push_back(sc);
  RemoteWriteConfig rw;
  rw.url = "http://r/w?a=b#c";
  rw.name = "off";
  rw.headers = {{"X-Empty", ""}, {"X-Colon", "a: b"}, {"#X-Hash", "#v"}};
  config.remote_write.push_back(rw);

  const std::string yaml = RedactedYaml(config);
  LoadResult back = LoadConfigString(yaml);
  ASSERT_TRUE(back.errors.empty()) << ErrorsToString(back) << yaml;
  EXPECT_EQ(*back.config, config) << yaml;
}

TEST(RedactedYamlTest, RealisticFileRoundTrips) {
  LoadResult r = LoadConfigFile(TestdataPath("prometheus.yml"));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  Config want = *r.config;
  const std::string yaml = RedactedYaml(want);
  EXPECT_THAT(yaml, Not(HasSubstr("fake-password-123")));
  EXPECT_THAT(yaml, Not(HasSubstr("fake-token-abc")));
  LoadResult back = LoadConfigString(yaml);
  ASSERT_TRUE(back.errors.empty()) << ErrorsToString(back) << yaml;
  for (ScrapeConfig& sc : want.scrape_configs) {
    RedactSecrets(sc.http);
  }
  for (RemoteWriteConfig& rw : want.remote_write) {
    RedactSecrets(rw.http);
  }
  EXPECT_EQ(*back.config, want) << yaml;
  EXPECT_EQ(RedactedYaml(*back.config), yaml);  // Rendering is a fixed point.
}

}  // namespace
}  // namespace tender::config
