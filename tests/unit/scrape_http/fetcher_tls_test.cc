// TLS: CA verification, server_name, insecure_skip_verify and client certificates, against an
// httplib TLS server whose certificates are made by the test (a throwaway CA).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/scrape/http/fetcher.h"
#include "tests/unit/scrape_http/test_servers.h"

namespace tender::scrape {
namespace {

using testing::FetchAndWait;
using testing::SeenRequest;
using testing::TempDir;
using testing::TestPki;
using testing::TestServer;

constexpr char kServerName[] = "scrape-target.tender.test";

class FetcherTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server certificate names only kServerName, never 127.0.0.1.
    ASSERT_TRUE(testing::MakeTestPki(dir_.path(), {kServerName}, &pki_));
  }

  // Starts a TLS server; with `require_client_cert` it demands a certificate from our CA.
  void StartServer(bool require_client_cert) {
    auto ssl =
        std::make_unique<httplib::SSLServer>(pki_.server_cert.c_str(), pki_.server_key.c_str(),
                                             require_client_cert ? pki_.ca_cert.c_str() : nullptr);
    server_ = std::make_unique<TestServer>(std::move(ssl), /*tls=*/true);
    server_->server().Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      server_->Record(req);
      res.set_content("tls_ok 1\n", "text/plain; version=0.0.4");
    });
    server_->Start();
    fetcher_ = std::make_unique<Fetcher>(Fetcher::Settings{});
    ASSERT_TRUE(fetcher_->Start().ok());
  }

  FetchResult Fetch(const config::HttpClientConfig& http, uint64_t key = 0) {
    FetchRequest req;
    req.url = server_->Url("/metrics");
    req.timeout = absl::Seconds(30);
    req.http = &http;
    req.connection_key = key;
    return FetchAndWait(*fetcher_, std::move(req));
  }

  TempDir dir_;
  TestPki pki_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Fetcher> fetcher_;  // Declared last: destroyed before the server.
};

TEST_F(FetcherTlsTest, VerificationOutcomes) {
  StartServer(/*require_client_cert=*/false);
  struct Case {
    std::string name;
    config::TlsConfig tls;
    absl::StatusCode want;
  };
  const std::vector<Case> cases = {
      {"our CA and the certificate's name",
       {pki_.ca_cert, "", "", kServerName, false},
       absl::StatusCode::kOk},
      {"our CA but the URL's IP does not match the certificate",
       {pki_.ca_cert, "", "", "", false},
       absl::StatusCode::kUnavailable},
      {"our CA but a wrong server_name",
       {pki_.ca_cert, "", "", "other.tender.test", false},
       absl::StatusCode::kUnavailable},
      {"system CAs do not know ours",
       {"", "", "", kServerName, false},
       absl::StatusCode::kUnavailable},
      {"insecure_skip_verify", {"", "", "", "", true}, absl::StatusCode::kOk},
      {"missing CA file",
       {dir_.path() + "/nope.pem", "", "", kServerName, false},
       absl::StatusCode::kFailedPrecondition},
  };
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.name);
    config::HttpClientConfig http;
    http.tls_config = c.tls;
    FetchResult r = Fetch(http);
    EXPECT_EQ(r.status.code(), c.want) << r.status;
    if (c.want == absl::StatusCode::kOk) {
      EXPECT_EQ(r.http_status, 200);
      EXPECT_EQ(r.body, "tls_ok 1\n");
    } else {
      EXPECT_TRUE(r.body.empty());
    }
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST_F(FetcherTlsTest, ServerNameKeepsTheOriginalHostHeader) {
  StartServer(/*require_client_cert=*/false);
  config::HttpClientConfig http;
  http.tls_config.ca_file = pki_.ca_cert;
  http.tls_config.server_name = kServerName;
  FetchResult r = Fetch(http);
  ASSERT_TRUE(r.status.ok()) << r.status;
  const std::vector<SeenRequest> seen = server_->Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Host"), absl::StrCat("127.0.0.1:", server_->port()));
}

TEST_F(FetcherTlsTest, ConnectionAndTlsSessionAreReused) {
  StartServer(/*require_client_cert=*/false);
  config::HttpClientConfig http;
  http.tls_config.ca_file = pki_.ca_cert;
  http.tls_config.server_name = kServerName;
  FetchResult first = Fetch(http, 7);
  FetchResult second = Fetch(http, 7);
  ASSERT_TRUE(first.status.ok()) << first.status;
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_FALSE(first.reused_connection);
  EXPECT_GT(first.timings.tls, absl::ZeroDuration());
  EXPECT_TRUE(second.reused_connection);
  EXPECT_EQ(second.timings.tls, absl::ZeroDuration());
  const std::vector<SeenRequest> seen = server_->Seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);
}

TEST_F(FetcherTlsTest, ClientCertificate) {
  StartServer(/*require_client_cert=*/true);
  auto check = [&](const std::string& name, bool with_cert, absl::StatusCode want) {
    SCOPED_TRACE(name);
    config::HttpClientConfig http;
    http.tls_config.ca_file = pki_.ca_cert;
    http.tls_config.server_name = kServerName;
    if (with_cert) {
      http.tls_config.cert_file = pki_.client_cert;
      http.tls_config.key_file = pki_.client_key;
    }
    FetchResult r = Fetch(http);
    EXPECT_EQ(r.status.code(), want) << r.status;
  };
  check("with client certificate", true, absl::StatusCode::kOk);
  check("without client certificate", false, absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_->requests().Get(), 1);
}

}  // namespace
}  // namespace tender::scrape
