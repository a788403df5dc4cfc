#include "exporters/remote_write/curl_poster.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "exporters/remote_write/request_builder.h"
#include "gtest/gtest.h"
#include "tests/tools/fake_receiver.h"
#include "tests/unit/remote_write/batch_util.h"

namespace tender::remote_write {
namespace {

using test_tools::FakeRemoteWriteReceiver;
using test_tools::ReceiverResponse;

// A compressed one-sample request body; every call uses a newer timestamp.
std::string Body() {
  static std::atomic<int64_t> timestamp{1000};
  model::SeriesBatch batch;
  testing_util::AppendSample(&batch, {{"__name__", "up"}, {"job", "j"}}, timestamp++, 1.0);
  std::string out;
  SnappyCompress(batch.data, &out);
  return out;
}

class CurlPosterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    config_.url = receiver_.url();
    config_.name = "test";
    config_.remote_timeout = absl::Seconds(10);
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("curl_poster_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::trunc) << contents;
    return path;
  }

  std::unique_ptr<CurlHttpPoster> MakePoster(int shards = 1) {
    auto poster = CurlHttpPoster::Create(config_, "tender/test", shards);
    EXPECT_TRUE(poster.ok()) << poster.status();
    return poster.ok() ? std::move(*poster) : nullptr;
  }

  PostResponse Post(CurlHttpPoster& poster, int retry_attempt = 0, int shard = 0) {
    const std::string body = Body();
    return poster.Post(PostRequest{shard, body, retry_attempt, nullptr});
  }

  FakeRemoteWriteReceiver receiver_;
  config::RemoteWriteConfig config_;
  std::filesystem::path dir_;
};

TEST_F(CurlPosterTest, SendsRemoteWriteHeadersAndKeepsConnection) {
  config_.headers = {{"X-Scope-OrgID", "tenant-1"},
                     {"Content-Type", "text/plain"},  // Reserved: ignored.
                     {"user-agent", "evil/1"},        // Reserved: ignored.
                     {"Retry-Attempt", "9"},          // Reserved: ignored.
                     {"X-Prometheus-Remote-Write-Version", "2.0.0"}};
  auto poster = MakePoster();
  ASSERT_NE(poster, nullptr);
  const PostResponse first = Post(*poster);
  const PostResponse second = Post(*poster, /*retry_attempt=*/2);
  EXPECT_EQ(first.status, 204);
  EXPECT_EQ(second.status, 204);
  EXPECT_TRUE(first.error.empty()) << first.error;

  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u);
  auto check = [](const test_tools::ReceivedRequest& r, const std::string& name,
                  const std::string& want) {
    SCOPED_TRACE(name);
    auto it = r.headers.find(name);
    ASSERT_NE(it, r.headers.end());
    EXPECT_EQ(it->second, want);
  };
  for (const auto& r : requests) {
    check(r, "content-encoding", "snappy");
    check(r, "content-type", "application/x-protobuf");
    check(r, "user-agent", "tender/test");
    check(r, "x-prometheus-remote-write-version", "0.1.0");
    check(r, "x-scope-orgid", "tenant-1");
    EXPECT_EQ(r.headers.count("expect"), 0u);
    EXPECT_EQ(r.samples, 1u);
  }
  EXPECT_EQ(requests[0].headers.count("retry-attempt"), 0u);
  check(requests[1], "retry-attempt", "2");
  // The easy handle is reused, so the second request rides the first connection.
  EXPECT_EQ(requests[0].remote_port, requests[1].remote_port);
  EXPECT_TRUE(receiver_.violations().empty());
}

TEST_F(CurlPosterTest, ReadsBasicAuthPasswordFileAtRequestTime) {
  const std::string file = WriteFile("password", "first\n");
  config_.http.basic_auth = config::BasicAuth{"user", "", file};
  auto poster = MakePoster();
  ASSERT_NE(poster, nullptr);
  EXPECT_EQ(Post(*poster).status, 204);
  WriteFile("password", "second");
  EXPECT_EQ(Post(*poster).status, 204);
  std::filesystem::remove(file);
  const PostResponse missing = Post(*poster);
  EXPECT_EQ(missing.status, 0);
  EXPECT_NE(missing.error.find("password"), std::string::npos) << missing.error;

  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].headers.at("authorization"), "Basic " + absl::Base64Escape("user:first"));
  EXPECT_EQ(requests[1].headers.at("authorization"), "Basic " + absl::Base64Escape("user:second"));
}

TEST_F(CurlPosterTest, ReadsAuthorizationCredentialsFileAtRequestTime) {
  const std::string file = WriteFile("token", "  tok-1\n");
  config_.http.authorization = config::Authorization{"Bearer", "", file};
  auto poster = MakePoster();
  ASSERT_NE(poster, nullptr);
  EXPECT_EQ(Post(*poster).status, 204);
  WriteFile("token", "tok-2");
  EXPECT_EQ(Post(*poster).status, 204);
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].headers.at("authorization"), "Bearer tok-1");
  EXPECT_EQ(requests[1].headers.at("authorization"), "Bearer tok-2");

  config_.http.authorization = config::Authorization{"Custom", "inline", ""};
  auto inline_poster = MakePoster();
  ASSERT_NE(inline_poster, nullptr);
  EXPECT_EQ(Post(*inline_poster).status, 204);
  EXPECT_EQ(receiver_.requests().back().headers.at("authorization"), "Custom inline");
}

TEST_F(CurlPosterTest, ReportsStatusRetryAfterAndAtMostOneKibOfBody) {
  receiver_.ScriptResponses({ReceiverResponse{400, "", std::string(5000, 'e')},
                             ReceiverResponse{503, "7", "busy"}, ReceiverResponse{200, "", ""}});
  auto poster = MakePoster();
  ASSERT_NE(poster, nullptr);
  const PostResponse rejected = Post(*poster);
  EXPECT_EQ(rejected.status, 400);
  EXPECT_EQ(rejected.body, std::string(kMaxResponseBodyBytes, 'e'));
  const PostResponse busy = Post(*poster);
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.retry_after, "7");
  EXPECT_EQ(busy.body, "busy");
  const PostResponse ok = Post(*poster);
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(ok.retry_after.empty());
}

TEST_F(CurlPosterTest, NetworkErrorsTimeoutsAndCancelHaveNoStatus) {
  // Connection refused: a port that was just closed.
  {
    FakeRemoteWriteReceiver closed;
    ASSERT_TRUE(closed.Start().ok());
    config_.url = closed.url();
    closed.Stop();
    auto poster = MakePoster();
    ASSERT_NE(poster, nullptr);
    const PostResponse r = Post(*poster);
    EXPECT_EQ(r.status, 0);
    EXPECT_FALSE(r.error.empty());
  }
  // Timeout: the receiver answers after remote_timeout.
  config_.url = receiver_.url();
  config_.remote_timeout = absl::Milliseconds(100);
  receiver_.ScriptResponses({ReceiverResponse{204, "", "", absl::Seconds(1)}});
  {
    auto poster = MakePoster();
    ASSERT_NE(poster, nullptr);
    const absl::Time start = absl::Now();
    const PostResponse r = Post(*poster);
    EXPECT_EQ(r.status, 0);
    EXPECT_FALSE(r.error.empty());
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
  // Cancelled before it starts: gives up at once.
  config_.remote_timeout = absl::Seconds(30);
  receiver_.ScriptResponses({ReceiverResponse{204, "", "", absl::Seconds(1)}});
  {
    auto poster = MakePoster();
    ASSERT_NE(poster, nullptr);
    std::atomic<bool> cancel{true};
    const std::string body = Body();
    const absl::Time start = absl::Now();
    const PostResponse r = poster->Post(PostRequest{0, body, 0, &cancel});
    EXPECT_EQ(r.status, 0);
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
}

TEST_F(CurlPosterTest, TlsAgainstPlainServerFailsWithoutStatus) {
  // server_name rewrites the URL host and maps it back with CONNECT_TO; the handshake with a
  // plain-HTTP server then fails as a network error (retryable), never as a crash.
  config_.url = absl::StrCat("https://127.0.0.1:", receiver_.port(), "/api/v1/write");
  config_.http.tls_config.server_name = "receiver.example";
  config_.http.tls_config.insecure_skip_verify = true;
  auto poster = MakePoster();
  ASSERT_NE(poster, nullptr);
  const PostResponse r = Post(*poster);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(receiver_.request_count(), 0u);
}

TEST_F(CurlPosterTest, RejectsNonHttpUrls) {
  for (const std::string url : {"ftp://127.0.0.1/x", "not a url", "file:///etc/passwd"}) {
    SCOPED_TRACE(url);
    config_.url = url;
    const auto poster = CurlHttpPoster::Create(config_, "tender/test", 1);
    EXPECT_FALSE(poster.ok());
  }
}

}  // namespace
}  // namespace tender::remote_write
