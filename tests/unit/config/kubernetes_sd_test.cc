// kubernetes_sd_configs: values and defaults, Prometheus's validation rules (each error with
// its YAML path and line), the selector grammars, and the render/load round trip.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// A config with one job whose kubernetes_sd_configs is `sd_yaml` (indented as a list item
// under the job, starting on line 4).
std::string Job(const std::string& sd_yaml) {
  return "scrape_configs:\n"
         "  - job_name: k\n"
         "    kubernetes_sd_configs:\n" +
         sd_yaml;
}

TEST(KubernetesSdConfigTest, MinimalEntryGetsPrometheusDefaults) {
  LoadResult r = LoadConfigString(Job("      - role: pod\n"));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  ASSERT_EQ(r.config->scrape_configs[0].kubernetes_sd_configs.size(), 1u);
  const KubernetesSdConfig& sd = r.config->scrape_configs[0].kubernetes_sd_configs[0];
  KubernetesSdConfig want;
  want.role = "pod";
  EXPECT_EQ(sd, want);
  EXPECT_TRUE(sd.follow_redirects);
  EXPECT_TRUE(sd.enable_http2);
  EXPECT_TRUE(sd.api_server.empty());
  EXPECT_TRUE(sd.namespaces.empty());
}

TEST(KubernetesSdConfigTest, ReadsEveryKey) {
  LoadResult r = LoadConfigString(Job("      - role: endpoints\n"
                                      "        api_server: https://k8s.example:6443/\n"
                                      "        authorization:\n"
                                      "          credentials_file: /var/run/token\n"
                                      "        tls_config:\n"
                                      "          ca_file: /etc/ca.pem\n"
                                      "          server_name: kubernetes\n"
                                      "        proxy_url: http://proxy:3128\n"
                                      "        follow_redirects: false\n"
                                      "        enable_http2: false\n"
                                      "        namespaces:\n"
                                      "          names: [default, kube-system]\n"
                                      "        selectors:\n"
                                      "          - role: pod\n"
                                      "            label: app=web,tier in (a, b)\n"
                                      "            field: spec.nodeName=n1\n"
                                      "          - role: service\n"
                                      "            label: '!canary'\n"
                                      "          - role: endpoints\n"
                                      "            field: metadata.name!=kubernetes\n"
                                      "        attach_metadata:\n"
                                      "          node: true\n"
                                      "          namespace: true\n"),
                                  "/etc/tender");
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const KubernetesSdConfig& sd = r.config->scrape_configs[0].kubernetes_sd_configs[0];
  KubernetesSdConfig want;
  want.role = "endpoints";
  want.api_server = "https://k8s.example:6443";  // Trailing slash dropped.
  want.http.authorization = Authorization{"Bearer", "", "/var/run/token"};
  want.http.tls_config.ca_file = "/etc/ca.pem";
  want.http.tls_config.server_name = "kubernetes";
  want.proxy_url = "http://proxy:3128";
  want.follow_redirects = false;
  want.enable_http2 = false;
  want.namespaces = {"default", "kube-system"};
  want.selectors = {{"pod", "app=web,tier in (a, b)", "spec.nodeName=n1"},
                    {"service", "!canary", ""},
                    {"endpoints", "", "metadata.name!=kubernetes"}};
  want.attach_node_metadata = true;
  want.attach_namespace_metadata = true;
  EXPECT_EQ(sd, want);

  // The rendered config loads back to the same values.
  LoadResult again = LoadConfigString(RedactedYaml(*r.config));
  ASSERT_TRUE(again.errors.empty()) << ErrorsToString(again) << RedactedYaml(*r.config);
  EXPECT_EQ(again.config->scrape_configs[0].kubernetes_sd_configs,
            r.config->scrape_configs[0].kubernetes_sd_configs);
}

TEST(KubernetesSdConfigTest, KubeconfigResolvesAgainstTheConfigDirectory) {
  auto check = [](const std::string& base, const std::string& file, const std::string& want) {
    SCOPED_TRACE(base + " " + file);
    LoadResult r =
        LoadConfigString(Job("      - role: node\n        kubeconfig_file: " + file + "\n"), base);
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    EXPECT_EQ(r.config->scrape_configs[0].kubernetes_sd_configs[0].kubeconfig_file, want);
  };
  check("/etc/tender", "kube/config", "/etc/tender/kube/config");
  check("/etc/tender", "/root/.kube/config", "/root/.kube/config");
  check("", "kube/config", "kube/config");
}

TEST(KubernetesSdConfigTest, OwnNamespaceInCluster) {
  LoadResult r =
      LoadConfigString(Job("      - role: service\n"
                           "        namespaces:\n"
                           "          own_namespace: true\n"
                           "          names: [a]\n"));
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  const KubernetesSdConfig& sd = r.config->scrape_configs[0].kubernetes_sd_configs[0];
  EXPECT_TRUE(sd.own_namespace);
  EXPECT_EQ(sd.namespaces, std::vector<std::string>{"a"});
}

TEST(KubernetesSdConfigTest, InvalidEntriesNamePathAndLine) {
  auto check = [](const std::string& name, const std::string& sd_yaml, const std::string& want) {
    SCOPED_TRACE(name);
    LoadResult r = LoadConfigString(Job(sd_yaml));
    ASSERT_FALSE(r.config.has_value());
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].ToString("test.yml"), want);
  };
  check("role missing", "      - api_server: https://k:6443\n",
        "test.yml:4: scrape_configs[0].kubernetes_sd_configs[0].role: role missing (one of: pod, "
        "service, endpoints, endpointslice, node, ingress)");
  check("unknown role", "      - role: deployment\n",
        "test.yml:4: scrape_configs[0].kubernetes_sd_configs[0].role: unknown Kubernetes SD "
        "role \"deployment\"");
  check("api_server and kubeconfig_file",
        "      - role: pod\n        api_server: https://k:6443\n        kubeconfig_file: /k\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].kubeconfig_file: cannot use "
        "'kubeconfig_file' and 'api_server' simultaneously");
  check("kubeconfig_file with HTTP client settings",
        "      - role: pod\n        kubeconfig_file: /k\n        basic_auth: {username: u}\n",
        "test.yml:5: scrape_configs[0].kubernetes_sd_configs[0].kubeconfig_file: cannot use a "
        "custom HTTP client configuration together with 'kubeconfig_file'");
  check("HTTP client settings without api_server",
        "      - role: pod\n        tls_config: {insecure_skip_verify: true}\n",
        "test.yml:4: scrape_configs[0].kubernetes_sd_configs[0]: to use custom HTTP client "
        "configuration please provide the 'api_server' URL explicitly");
  check("follow_redirects is an HTTP client setting",
        "      - role: pod\n        follow_redirects: false\n",
        "test.yml:4: scrape_configs[0].kubernetes_sd_configs[0]: to use custom HTTP client "
        "configuration please provide the 'api_server' URL explicitly");
  check("api_server and own_namespace",
        "      - role: pod\n        api_server: https://k:6443\n"
        "        namespaces:\n          own_namespace: true\n",
        "test.yml:7: scrape_configs[0].kubernetes_sd_configs[0].namespaces.own_namespace: cannot "
        "use 'api_server' and 'namespaces.own_namespace' simultaneously");
  check("kubeconfig_file and own_namespace",
        "      - role: pod\n        kubeconfig_file: /k\n"
        "        namespaces: {own_namespace: true}\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].namespaces.own_namespace: cannot "
        "use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
  check("bad api_server URL", "      - role: pod\n        api_server: k8s:6443\n",
        "test.yml:5: scrape_configs[0].kubernetes_sd_configs[0].api_server: \"k8s:6443\" is not "
        "an absolute URL (expected http://host[:port]/path)");
  check("bearer_token and bearer_token_file",
        "      - role: pod\n        api_server: https://k\n        bearer_token: t\n"
        "        bearer_token_file: /t\n",
        "test.yml:7: scrape_configs[0].kubernetes_sd_configs[0].bearer_token_file: at most one "
        "of bearer_token & bearer_token_file must be configured");
  check("pod role with a service selector",
        "      - role: pod\n        selectors:\n          - role: service\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role: pod role "
        "supports only pod selectors");
  check("endpoints role with a node selector",
        "      - role: endpoints\n        selectors:\n          - role: node\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role: endpoints "
        "role supports only pod, service, endpoints selectors");
  check("endpointslice role with an ingress selector",
        "      - role: endpointslice\n        selectors:\n          - role: ingress\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role: endpointslice "
        "role supports only pod, service, endpointslice selectors");
  check("duplicated selector role",
        "      - role: node\n        selectors:\n          - role: node\n"
        "          - role: node\n            label: a=b\n",
        "test.yml:7: scrape_configs[0].kubernetes_sd_configs[0].selectors[1].role: duplicated "
        "selector role: node");
  check("unknown selector role",
        "      - role: node\n        selectors:\n          - role: nodes\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role: unknown "
        "Kubernetes SD role \"nodes\"");
  check("bad label selector",
        "      - role: pod\n        selectors:\n          - role: pod\n"
        "            label: app in ()\n",
        "test.yml:7: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].label: invalid "
        "label selector \"app in ()\": a set of values for 'in' or 'notin' must not be empty");
  check("bad field selector",
        "      - role: pod\n        selectors:\n          - role: pod\n"
        "            field: spec.nodeName\n",
        "test.yml:7: scrape_configs[0].kubernetes_sd_configs[0].selectors[0].field: invalid "
        "field selector \"spec.nodeName\": cannot understand \"spec.nodeName\" (expected "
        "field=value, field==value or field!=value)");
  check("unknown key in namespaces", "      - role: pod\n        namespaces: {name: [a]}\n",
        "test.yml:5: scrape_configs[0].kubernetes_sd_configs[0].namespaces.name: unknown key "
        "\"name\" (did you mean \"names\"?)");
  check("unknown key in attach_metadata",
        "      - role: pod\n        attach_metadata:\n          nodes: true\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].attach_metadata.nodes: unknown "
        "key \"nodes\" (did you mean \"node\"?)");
  check("oauth2 is not supported",
        "      - role: pod\n        api_server: https://k\n"
        "        oauth2: {client_id: x}\n",
        "test.yml:6: scrape_configs[0].kubernetes_sd_configs[0].oauth2: \"oauth2\" is a "
        "Prometheus setting tender does not support yet");
  check("empty entry", "      -\n",
        "test.yml:4: scrape_configs[0].kubernetes_sd_configs[0]: empty kubernetes_sd_configs "
        "entry");
}

TEST(KubernetesSelectorTest, LabelSelectorGrammar) {
  auto check = [](const std::string& selector, bool valid) {
    SCOPED_TRACE(selector);
    EXPECT_EQ(ValidateLabelSelector(selector).ok(), valid)
        << ValidateLabelSelector(selector).message();
  };
  for (const char* ok :
       {"", " ", "app", "!app", "app=web", "app==web", "app!=web", "app=", "a=b,c!=d",
        "app in (web, api)", "app notin (a)", "tier in (a,b),!canary", "example.com/app=x", "x>1",
        "x < 20", "app.kubernetes.io/name=prometheus-node-exporter", "a-b_c.d=V.1"}) {
    check(ok, true);
  }
  for (const char* bad :
       {"=web", "app=web=x", "app in ()", "app in (a", "app in a", "a,", "app=-web",
        "Example.com/app=x", "x>a", "a b", "!a=b", "a=(b)", "app=web,,b",
        "toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong"
        "toolongtoolong"}) {
    check(bad, false);
  }
}

TEST(KubernetesSelectorTest, FieldSelectorGrammar) {
  auto check = [](const std::string& selector, bool valid) {
    SCOPED_TRACE(selector);
    EXPECT_EQ(ValidateFieldSelector(selector).ok(), valid)
        << ValidateFieldSelector(selector).message();
  };
  for (const char* ok : {"", "spec.nodeName=n1", "metadata.name!=x", "a==b", "a=b,c!=d",
                         "a=", "a=b,", "a=x\\,y", "a=x\\=y", "a=x\\\\y"}) {
    check(ok, true);
  }
  for (const char* bad : {"spec.nodeName", "a=b=c", "a=x\\y", "a=x\\", "a=b,c"}) {
    check(bad, false);
  }
}

}  // namespace
}  // namespace tender::config
