#include "collector/k8s/kubeconfig.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tender::k8s {
namespace {

using ::testing::HasSubstr;

// A kubeconfig with one context "ctx" (cluster "c", user "u") plus a decoy context, whose
// cluster and user bodies are given.
std::string Config(const std::string& cluster, const std::string& user,
                   const std::string& extra_top = "current-context: ctx\n") {
  return absl::StrCat(extra_top, R"(
contexts:
- name: other
  context: {cluster: decoy, user: decoy}
- name: ctx
  context:
    cluster: c
    user: u
    namespace: monitoring
clusters:
- name: decoy
  cluster: {server: "https://decoy:1"}
- name: c
  cluster:
)",
                      cluster, R"(
users:
- name: decoy
  user: {token: decoy}
- name: u
  user:
)",
                      user, "\n");
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/k8s_kubeconfig_testXXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

TEST(KubeConfigTest, Fields) {
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string b64 = absl::Base64Escape(pem);
  struct Case {
    std::string name;
    std::string cluster;
    std::string user;
    std::function<void(const KubeConfig&)> expect;
  };
  const std::string server = "    server: https://api.example:6443/\n";
  std::vector<Case> cases = {
      {"server and namespace", server, "    token: t",
       [](const KubeConfig& c) {
         EXPECT_EQ(c.cluster.server, "https://api.example:6443");  // Trailing '/' dropped.
         EXPECT_EQ(c.namespace_, "monitoring");
         EXPECT_EQ(c.context, "ctx");
         EXPECT_EQ(c.user.token, "t");
       }},
      {"server path prefix kept", "    server: https://proxy:443/k8s/clusters/c-1\n",
       "    token: t",
       [](const KubeConfig& c) {
         EXPECT_EQ(c.cluster.server, "https://proxy:443/k8s/clusters/c-1");
       }},
      {"ca data is decoded", server + "    certificate-authority-data: " + b64, "    token: t",
       [&](const KubeConfig& c) {
         EXPECT_EQ(c.cluster.ca_data, pem);
         EXPECT_EQ(c.cluster.ca_file, "");
       }},
      {"ca file relative", server + "    certificate-authority: certs/ca.pem", "    token: t",
       [](const KubeConfig& c) { EXPECT_EQ(c.cluster.ca_file, "/base/dir/certs/ca.pem"); }},
      {"ca file absolute", server + "    certificate-authority: /etc/ca.pem", "    token: t",
       [](const KubeConfig& c) { EXPECT_EQ(c.cluster.ca_file, "/etc/ca.pem"); }},
      {"tls options",
       server + "    insecure-skip-tls-verify: true\n    tls-server-name: kubernetes\n"
                "    proxy-url: http://proxy:3128\n    disable-compression: true",
       "    token: t",
       [](const KubeConfig& c) {
         EXPECT_TRUE(c.cluster.insecure_skip_tls_verify);
         EXPECT_EQ(c.cluster.tls_server_name, "kubernetes");
         EXPECT_EQ(c.cluster.proxy_url, "http://proxy:3128");
         EXPECT_TRUE(c.cluster.disable_compression);
       }},
      {"client cert data", server,
       "    client-certificate-data: " + b64 + "\n    client-key-data: " + b64,
       [&](const KubeConfig& c) {
         EXPECT_EQ(c.user.client_certificate_data, pem);
         EXPECT_EQ(c.user.client_key_data, pem);
       }},
      {"client cert files", server, "    client-certificate: u.crt\n    client-key: /abs/u.key",
       [](const KubeConfig& c) {
         EXPECT_EQ(c.user.client_certificate_file, "/base/dir/u.crt");
         EXPECT_EQ(c.user.client_key_file, "/abs/u.key");
       }},
      {"token file relative", server, "    tokenFile: tok",
       [](const KubeConfig& c) { EXPECT_EQ(c.user.token_file, "/base/dir/tok"); }},
      {"basic auth", server, "    username: admin\n    password: s3cret",
       [](const KubeConfig& c) {
         EXPECT_EQ(c.user.username, "admin");
         EXPECT_EQ(c.user.password, "s3cret");
       }},
      {"exec plugin", server,
       R"(    exec:
      command: bin/get-token
      args: [--cluster, c]
      env:
      - {name: A, value: "1"}
      - {name: B, value: two}
      apiVersion: client.authentication.k8s.io/v1
      installHint: install get-token
      interactiveMode: Never
      provideClusterInfo: true)",
       [](const KubeConfig& c) {
         ASSERT_TRUE(c.user.exec.has_value());
         const ExecConfig& e = *c.user.exec;
         EXPECT_EQ(e.command, "/base/dir/bin/get-token");
         EXPECT_EQ(e.args, (std::vector<std::string>{"--cluster", "c"}));
         ASSERT_EQ(e.env.size(), 2u);
         EXPECT_EQ(e.env[0], (std::pair<std::string, std::string>{"A", "1"}));
         EXPECT_EQ(e.env[1], (std::pair<std::string, std::string>{"B", "two"}));
         EXPECT_EQ(e.api_version, "client.authentication.k8s.io/v1");
         EXPECT_EQ(e.install_hint, "install get-token");
         EXPECT_EQ(e.interactive_mode, "Never");
         EXPECT_TRUE(e.provide_cluster_info);
       }},
      {"exec command on PATH stays bare", server, "    exec: {command: aws, args: [eks]}",
       [](const KubeConfig& c) {
         ASSERT_TRUE(c.user.exec.has_value());
         EXPECT_EQ(c.user.exec->command, "aws");
       }},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<KubeConfig> got =
        ParseKubeConfig(Config(tc.cluster, tc.user), "/base/dir", "", "test.yaml");
    ASSERT_TRUE(got.ok()) << got.status();
    tc.expect(*got);
  }
}

TEST(KubeConfigTest, Errors) {
  const std::string server = "    server: https://api:6443";
  auto check = [](const std::string& name, const std::string& yaml, const std::string& context,
                  const std::string& want) {
    SCOPED_TRACE(name);
    absl::StatusOr<KubeConfig> got = ParseKubeConfig(yaml, "/d", context, "kc.yaml");
    ASSERT_FALSE(got.ok());
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(want));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("kc.yaml"));
  };
  check("missing named context", Config(server, "    token: t"), "nope",
        "contexts: no entry named \"nope\"");
  check("no current context", Config(server, "    token: t", ""), "", "current-context is not set");
  const std::string minimal = R"(
current-context: x
contexts:
- name: x
  context: {cluster: c, user: u}
)";
  check("missing cluster", minimal + "users:\n- {name: u, user: {token: t}}\n", "",
        "clusters: no entry named \"c\"");
  check("missing user", minimal + "clusters:\n- {name: c, cluster: {server: https://a}}\n", "",
        "users: no entry named \"u\"");
  check("server required", Config("    insecure-skip-tls-verify: true", "    token: t"), "",
        "clusters[1].cluster.server");
  check("bad base64", Config(server + "\n    certificate-authority-data: '%%%'", "    token: t"),
        "", "clusters[1].cluster.certificate-authority-data");
  check("bad bool", Config(server + "\n    insecure-skip-tls-verify: maybe", "    token: t"), "",
        "clusters[1].cluster.insecure-skip-tls-verify");
  check("exec without command", Config(server, "    exec: {args: [x]}"), "",
        "users[1].user.exec.command");
  check("exec bad interactiveMode",
        Config(server, "    exec: {command: x, interactiveMode: Sometimes}"), "",
        "users[1].user.exec.interactiveMode");
  check("exec env without name", Config(server, "    exec: {command: x, env: [{value: v}]}"), "",
        "users[1].user.exec.env[0].name");
  check("cert without key", Config(server, "    client-certificate: a.crt"), "",
        "client-certificate and client-key");
  check("not yaml", "{{{", "", "kc.yaml");
}

TEST(KubeConfigTest, LoadFileResolvesAgainstItsDirectory) {
  TempDir dir;
  std::string path =
      dir.Write("sub/config", Config("    server: https://a:1\n    certificate-authority: ca.crt",
                                     "    tokenFile: ../token"));
  absl::StatusOr<KubeConfig> got = LoadKubeConfigFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cluster.ca_file, dir.path() + "/sub/ca.crt");
  EXPECT_EQ(got->user.token_file, dir.path() + "/sub/../token");
  EXPECT_EQ(got->source, path);

  absl::StatusOr<KubeConfig> other = LoadKubeConfigFile(path, "other");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->cluster.server, "https://decoy:1");
  EXPECT_EQ(other->user.token, "decoy");
  EXPECT_EQ(other->namespace_, "default");

  absl::StatusOr<KubeConfig> missing = LoadKubeConfigFile(dir.path() + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(KubeConfigTest, ResolvePath) {
  auto check = [](const std::string& name, std::string_view flag, std::string_view env,
                  const std::string& want) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ResolveKubeConfigPath(flag, env, "/home/me"), want);
  };
  check("flag wins", "/x/flag", "/x/env", "/x/flag");
  check("first env entry", "", "/x/a:/x/b", "/x/a");
  check("empty env entries skipped", "", ":/x/b", "/x/b");
  check("home default", "", "", "/home/me/.kube/config");
}

TEST(KubeConfigTest, LoadDefaultReadsKubeconfigEnvAndHome) {
  TempDir dir;
  std::string env_path =
      dir.Write("env/config", Config("    server: https://env:1", "    token: e"));
  dir.Write("home/.kube/config", Config("    server: https://home:1", "    token: h"));
  std::string old_kc = std::getenv("KUBECONFIG") ? std::getenv("KUBECONFIG") : "";
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  setenv("HOME", (dir.path() + "/home").c_str(), 1);
  setenv("KUBECONFIG", (env_path + ":/nonexistent").c_str(), 1);
  absl::StatusOr<KubeConfig> got = LoadDefaultKubeConfig();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cluster.server, "https://env:1");
  unsetenv("KUBECONFIG");
  got = LoadDefaultKubeConfig();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cluster.server, "https://home:1");
  got = LoadDefaultKubeConfig(env_path, "other");  // --kubeconfig and --context.
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cluster.server, "https://decoy:1");
  setenv("HOME", old_home.c_str(), 1);
  if (!old_kc.empty()) setenv("KUBECONFIG", old_kc.c_str(), 1);
}

TEST(KubeConfigTest, InCluster) {
  TempDir dir;
  dir.Write("sa/token", "tok\n");
  dir.Write("sa/ca.crt", "PEM");
  dir.Write("sa/namespace", "observability\n");
  absl::StatusOr<KubeConfig> got = LoadInClusterConfig(dir.path() + "/sa", "10.0.0.1", "443");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cluster.server, "https://10.0.0.1:443");
  EXPECT_EQ(got->cluster.ca_file, dir.path() + "/sa/ca.crt");
  EXPECT_EQ(got->user.token_file, dir.path() + "/sa/token");
  EXPECT_EQ(got->namespace_, "observability");

  absl::StatusOr<KubeConfig> v6 = LoadInClusterConfig(dir.path() + "/sa", "fd00::1", "6443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->cluster.server, "https://[fd00::1]:6443");

  absl::StatusOr<KubeConfig> no_token = LoadInClusterConfig(dir.path() + "/none", "h", "1");
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tender::k8s
