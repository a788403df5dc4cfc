// RestClient TLS: CA from file or data, client certificates from files or data,
// tls-server-name, insecure-skip-tls-verify, against an httplib TLS server that requires a
// client certificate signed by the test CA.
#include <httplib.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "collector/k8s/rest_client.h"
#include "gtest/gtest.h"

namespace tender::k8s {
namespace {

const std::string kDir = TENDER_K8S_TESTDATA_DIR;

std::string Slurp(const std::string& name) {
  std::ifstream in(kDir + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<httplib::SSLServer>(
        (kDir + "/server.crt").c_str(), (kDir + "/server.key").c_str(), (kDir + "/ca.crt").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/api/v1/nodes", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer t") {
        res.status = 401;
        return;
      }
      res.set_content(R"({"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[]})",
                      "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }

  KubeConfig Base() const {
    KubeConfig c;
    c.cluster.server = "https://127.0.0.1:" + std::to_string(port_);
    c.user.token = "t";
    return c;
  }

  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(TlsTest, Table) {
  struct Case {
    std::string name;
    std::function<void(KubeConfig&)> edit;
    bool ok;
  };
  auto files = [](KubeConfig& c) {
    c.cluster.ca_file = kDir + "/ca.crt";
    c.cluster.tls_server_name = "kubernetes.default.svc";
    c.user.client_certificate_file = kDir + "/client.crt";
    c.user.client_key_file = kDir + "/client.key";
  };
  std::vector<Case> cases = {
      {"ca and client cert from files, tls-server-name", files, true},
      {"ca and client cert from data",
       [](KubeConfig& c) {
         c.cluster.ca_data = Slurp("ca.crt");
         c.cluster.tls_server_name = "kubernetes.default.svc";
         c.user.client_certificate_data = Slurp("client.crt");
         c.user.client_key_data = Slurp("client.key");
       },
       true},
      {"name mismatch without tls-server-name",
       [&](KubeConfig& c) {
         files(c);
         c.cluster.tls_server_name.clear();
       },
       false},
      {"insecure-skip-tls-verify accepts the name mismatch",
       [&](KubeConfig& c) {
         files(c);
         c.cluster.tls_server_name.clear();
         c.cluster.ca_file.clear();
         c.cluster.insecure_skip_tls_verify = true;
       },
       true},
      {"server rejects a missing client certificate",
       [&](KubeConfig& c) {
         files(c);
         c.user.client_certificate_file.clear();
         c.user.client_key_file.clear();
       },
       false},
      {"unknown CA (system store)",
       [&](KubeConfig& c) {
         files(c);
         c.cluster.ca_file.clear();
       },
       false},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    KubeConfig c = Base();
    tc.edit(c);
    absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(c);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Response> r = (*client)->Get("/api/v1/nodes");
    EXPECT_EQ(r.ok(), tc.ok) << r.status();
    if (tc.ok && r.ok()) {
      EXPECT_EQ(r->status, 200);
    }
    if (!tc.ok) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    }
  }
}

}  // namespace
}  // namespace tender::k8s
