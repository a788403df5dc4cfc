// api_server_proxy (tender's scrape_config key): values and defaults, the errors that name its
// YAML path and line, and the render/load round trip.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "collector/config/config.h"
#include "tests/unit/config/test_util.h"

namespace tender::config {
namespace {

using ::testing::HasSubstr;

std::string ErrorsToString(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString("test.yml") + "\n";
  }
  return out;
}

// One node job; `extra` is added to the job (indented four spaces), from line 6 on.
std::string Job(const std::string& extra) {
  return "scrape_configs:\n"
         "  - job_name: kubelet\n"
         "    kubernetes_sd_configs:\n"
         "      - role: node\n"
         "        kubeconfig_file: /etc/tender/tender.kubeconfig\n" +
         extra;
}

TEST(ApiServerProxyConfigTest, EmptyMapGetsDefaults) {
  LoadResult r = LoadConfigString(Job("    api_server_proxy: {}\n"));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const ScrapeConfig& sc = r.config->scrape_configs[0];
  ASSERT_TRUE(sc.api_server_proxy.has_value());
  EXPECT_EQ(sc.api_server_proxy->max_concurrent, 16);
  EXPECT_EQ(sc.api_server_proxy->port, "");
}

TEST(ApiServerProxyConfigTest, AbsentMeansDirectScrapes) {
  LoadResult r = LoadConfigString(Job(""));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  EXPECT_FALSE(r.config->scrape_configs[0].api_server_proxy.has_value());
}

TEST(ApiServerProxyConfigTest, ReadsEveryKey) {
  for (const std::string port : {"kubelet", "9100", "http-metrics"}) {
    SCOPED_TRACE(port);
    LoadResult r =
        LoadConfigString(Job("    api_server_proxy: {max_concurrent: 4, port: " + port + "}\n"));
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    EXPECT_EQ(r.config->scrape_configs[0].api_server_proxy->max_concurrent, 4);
    EXPECT_EQ(r.config->scrape_configs[0].api_server_proxy->port, port);
  }
}

TEST(ApiServerProxyConfigTest, ErrorsNameThePathAndLine) {
  auto check = [](const std::string& yaml, const std::string& want) {
    SCOPED_TRACE(yaml);
    LoadResult r = LoadConfigString(yaml);
    ASSERT_FALSE(r.config.has_value());
    EXPECT_THAT(ErrorsToString(r), HasSubstr(want));
  };
  check(Job("    api_server_proxy: {max_concurrent: 0}\n"),
        "test.yml:6: scrape_configs[0].api_server_proxy.max_concurrent:");
  check(Job("    api_server_proxy: {port: 70000}\n"),
        "test.yml:6: scrape_configs[0].api_server_proxy.port: port must be kubelet, a port "
        "number (1-65535) or a port name");
  check(Job("    api_server_proxy: {port: Bad_Name}\n"), "api_server_proxy.port: port must be");
  check(Job("    api_server_proxy: {max_concurent: 2}\n"),
        "test.yml:6: scrape_configs[0].api_server_proxy.max_concurent: unknown key");
  check(
      "scrape_configs:\n"
      "  - job_name: plain\n"
      "    static_configs: [{targets: ['a:1']}]\n"
      "    api_server_proxy: {}\n",
      "test.yml:4: scrape_configs[0].api_server_proxy: api_server_proxy needs "
      "kubernetes_sd_configs in the job");
  check(Job("    static_configs: [{targets: ['a:1']}]\n"
            "    api_server_proxy: {}\n"),
        "test.yml:7: scrape_configs[0].api_server_proxy: api_server_proxy cannot be used with "
        "static_configs");
  check(Job("    authorization: {credentials: x}\n"
            "    api_server_proxy: {}\n"),
        "test.yml:7: scrape_configs[0].api_server_proxy: api_server_proxy scrapes with the "
        "credentials and TLS settings of the kubernetes_sd_config");
  check(Job("      - role: pod\n"
            "        kubeconfig_file: /elsewhere.kubeconfig\n"
            "    api_server_proxy: {}\n"),
        "api_server_proxy needs every kubernetes_sd_configs entry of the job to use the same "
        "API server");
}

TEST(ApiServerProxyConfigTest, RenderedConfigLoadsBackTheSame) {
  LoadResult r =
      LoadConfigString(Job("    api_server_proxy: {max_concurrent: 3, port: kubelet}\n"));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const std::string yaml = RedactedYaml(*r.config);
  EXPECT_THAT(yaml, HasSubstr("api_server_proxy:"));
  LoadResult back = LoadConfigString(yaml);
  ASSERT_TRUE(back.errors.empty()) << ErrorsToString(back) << yaml;
  EXPECT_EQ(*back.config, *r.config);
}

}  // namespace
}  // namespace tender::config
