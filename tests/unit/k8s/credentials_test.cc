#include "collector/k8s/credentials.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tender::k8s {
namespace {

using ::testing::HasSubstr;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/k8s_cred_testXXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content, bool exec = false) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << content;
    if (exec) chmod(p.c_str(), 0755);
    return p;
  }

  // A plugin that counts its runs in a file and prints a token "tok-<run>" expiring at
  // `expiry`; it also echoes $GREETING and KUBERNETES_EXEC_INFO's apiVersion into files.
  ExecConfig Plugin(const std::string& expiry) {
    std::string script = absl::StrCat(
        "#!/bin/sh\n", "n=$(cat ", dir_, "/runs 2>/dev/null || echo 0)\n", "n=$((n+1))\n",
        "echo $n > ", dir_, "/runs\n", "echo \"$GREETING\" > ", dir_, "/greeting\n",
        "echo \"$KUBERNETES_EXEC_INFO\" > ", dir_, "/info\n",
        "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"tok-%s\"",
        expiry.empty() ? "" : absl::StrCat(",\"expirationTimestamp\":\"", expiry, "\""),
        "}}' \"$n\"\n");
    ExecConfig e;
    e.command = Write("plugin.sh", script, /*exec=*/true);
    e.api_version = "client.authentication.k8s.io/v1";
    e.env = {{"GREETING", "hello"}};
    e.interactive_mode = "Never";
    return e;
  }

  std::string dir_;
};

TEST_F(CredentialsTest, ExecTokenCachedUntilExpiryThenRerun) {
  absl::Time now = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
  UserConfig user;
  user.exec = Plugin("2026-01-01T00:10:00Z");
  CredentialProvider provider(user, [&] { return now; });

  absl::StatusOr<Credential> c = provider.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bearer_token, "tok-1");
  EXPECT_EQ(provider.exec_runs(), 1);

  std::ifstream greeting(dir_ + "/greeting");
  std::string g;
  std::getline(greeting, g);
  EXPECT_EQ(g, "hello");
  std::ifstream info(dir_ + "/info");
  std::string i;
  std::getline(info, i);
  EXPECT_THAT(i, HasSubstr("\"apiVersion\":\"client.authentication.k8s.io/v1\""));
  EXPECT_THAT(i, HasSubstr("\"kind\":\"ExecCredential\""));

  now += absl::Minutes(9);
  c = provider.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bearer_token, "tok-1");  // Still cached.
  EXPECT_EQ(provider.exec_runs(), 1);

  now += absl::Minutes(1);  // Reaches expirationTimestamp.
  c = provider.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bearer_token, "tok-2");
  EXPECT_EQ(provider.exec_runs(), 2);
}

TEST_F(CredentialsTest, ExecRerunAfterInvalidate) {
  UserConfig user;
  user.exec = Plugin("");  // No expiry: valid until a 401.
  CredentialProvider provider(user);
  ASSERT_EQ(provider.Get()->bearer_token, "tok-1");
  ASSERT_EQ(provider.Get()->bearer_token, "tok-1");
  provider.Invalidate();
  EXPECT_EQ(provider.Get()->bearer_token, "tok-2");
  EXPECT_EQ(provider.exec_runs(), 2);
}

TEST_F(CredentialsTest, ExecFailureNamesCommandAndStderr) {
  UserConfig user;
  user.exec = ExecConfig{};
  user.exec->command = Write("fail.sh", "#!/bin/sh\necho 'no creds for you' >&2\nexit 3\n", true);
  CredentialProvider provider(user);
  absl::StatusOr<Credential> c = provider.Get();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("fail.sh"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("exit 3"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no creds for you"));

  user.exec->command = dir_ + "/does-not-exist";
  user.exec->install_hint = "brew install thing";
  CredentialProvider missing(user);
  c = missing.Get();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("brew install thing"));
}

TEST(ParseExecCredentialTest, Table) {
  auto check = [](const std::string& name, const std::string& json, bool ok,
                  const std::string& token, const std::string& cert, bool has_expiry) {
    SCOPED_TRACE(name);
    absl::StatusOr<ExecCredentialResult> r =
        ParseExecCredential(json, "client.authentication.k8s.io/v1beta1");
    ASSERT_EQ(r.ok(), ok) << r.status();
    if (!ok) return;
    EXPECT_EQ(r->token, token);
    EXPECT_EQ(r->client_cert_pem, cert);
    EXPECT_EQ(r->expiry.has_value(), has_expiry);
  };
  const std::string head =
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",)";
  check("token", head + R"("status":{"token":"abc"}})", true, "abc", "", false);
  check("token with expiry",
        head + R"("status":{"token":"abc","expirationTimestamp":"2030-01-02T03:04:05Z"}})", true,
        "abc", "", true);
  check("client cert", head + R"("status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}})",
        true, "", "CERT", false);
  check("cert without key", head + R"("status":{"clientCertificateData":"CERT"}})", false, "", "",
        false);
  check("empty status", head + R"("status":{}})", false, "", "", false);
  check(
      "wrong apiVersion",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"a"}})",
      false, "", "", false);
  check("bad expiry", head + R"("status":{"token":"a","expirationTimestamp":"tomorrow"}})", false,
        "", "", false);
  check("not json", "token: abc", false, "", "", false);

  absl::StatusOr<ExecCredentialResult> r = ParseExecCredential(
      head + R"("status":{"token":"a","expirationTimestamp":"2030-01-02T03:04:05Z"}})", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->expiry, absl::FromUnixSeconds(1893553445));
}

TEST_F(CredentialsTest, TokenFileReReadWhenItChanges) {
  std::string path = Write("token", "first\n");
  UserConfig user;
  user.token_file = path;
  CredentialProvider provider(user);
  EXPECT_EQ(provider.Get()->bearer_token, "first");
  // A different size is a change even within one mtime tick.
  Write("token", "second-token\n");
  EXPECT_EQ(provider.Get()->bearer_token, "second-token");

  UserConfig both = user;
  both.token = "static";  // token takes precedence over tokenFile.
  CredentialProvider p2(both);
  EXPECT_EQ(p2.Get()->bearer_token, "static");
}

TEST_F(CredentialsTest, ClientCertFromFilesAndBasicAuth) {
  UserConfig user;
  user.client_certificate_file = Write("u.crt", "CERT");
  user.client_key_file = Write("u.key", "KEY");
  user.username = "admin";
  user.password = "pw";
  CredentialProvider provider(user);
  absl::StatusOr<Credential> c = provider.Get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->username, "admin");
  EXPECT_EQ(c->password, "pw");

  user.client_key_file = dir_ + "/missing.key";
  CredentialProvider bad(user);
  EXPECT_FALSE(bad.Get().ok());
}

}  // namespace
}  // namespace tender::k8s
