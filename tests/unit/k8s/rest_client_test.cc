#include "collector/k8s/rest_client.h"

#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/fake_apiserver.h"

namespace tender::k8s {
namespace {

using test_tools::FakeApiServer;
using ::testing::HasSubstr;

std::string Pod(const std::string& ns, const std::string& name, const std::string& phase = "") {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","namespace":")", ns,
                      R"("},"status":{"phase":")", phase, R"("}})");
}

class RestClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    server_.set_token("secret");
    KubeConfig config;
    config.cluster.server = server_.url();
    config.user.token = "secret";
    absl::StatusOr<std::unique_ptr<RestClient>> c = RestClient::Create(config);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  FakeApiServer server_;
  std::unique_ptr<RestClient> client_;
};

TEST_F(RestClientTest, GetListsWithBearerToken) {
  server_.Upsert("pods", Pod("a", "p1"));
  absl::StatusOr<Response> r = client_->Get("/api/v1/namespaces/a/pods", {{"limit", "10"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr(R"("name":"p1")"));
  EXPECT_THAT(r->content_type, HasSubstr("application/json"));
}

TEST_F(RestClientTest, HttpErrorsMapToCodes) {
  KubeConfig config;
  config.cluster.server = server_.url();
  config.user.token = "wrong";
  auto bad = RestClient::Create(config);
  ASSERT_TRUE(bad.ok());
  absl::StatusOr<Response> r = (*bad)->Get("/api/v1/pods");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Unauthorized"));

  auto check = [&](int http, absl::StatusCode want) {
    SCOPED_TRACE(http);
    server_.FailNext(http, 1);
    EXPECT_EQ(client_->Get("/api/v1/pods").status().code(), want);
  };
  check(429, absl::StatusCode::kResourceExhausted);
  server_.FailNext(429, 1);
  absl::Status throttled = client_->Get("/api/v1/pods").status();
  EXPECT_EQ(RetryAfter(throttled), absl::Seconds(1));  // The fake sends Retry-After: 1.
  EXPECT_EQ(RetryAfter(absl::UnavailableError("no payload")), std::nullopt);
  check(503, absl::StatusCode::kUnavailable);
  check(410, absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(IsExpired(absl::OutOfRangeError("x")));
  EXPECT_EQ(client_->Get("/api/v1/nosuch").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RestClientTest, UnauthorizedReRunsExecPluginOnce) {
  char tmpl[] = "/tmp/k8s_rest_execXXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string script = dir + "/plugin.sh";
  // Prints tok-1, then tok-2, ... (one more per run).
  std::ofstream(script) << "#!/bin/sh\nn=$(cat " << dir << "/runs 2>/dev/null || echo 0)\n"
                        << "n=$((n+1)); echo $n > " << dir << "/runs\n"
                        << "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                        << "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s\"}}' $n\n";
  chmod(script.c_str(), 0755);
  KubeConfig config;
  config.cluster.server = server_.url();
  config.user.exec = ExecConfig{};
  config.user.exec->command = script;
  auto client = RestClient::Create(config);
  ASSERT_TRUE(client.ok()) << client.status();
  server_.set_token("tok-2");  // The first token is already stale.
  absl::StatusOr<Response> r = (*client)->Get("/api/v1/nodes");
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*client)->credentials().exec_runs(), 2);
  server_.set_token("tok-9");  // Still wrong after one re-run: the 401 is returned.
  r = (*client)->Get("/api/v1/nodes");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*client)->credentials().exec_runs(), 3);
  std::filesystem::remove_all(dir);
}

TEST(ParseWatchEventTest, Table) {
  auto check = [](const std::string& name, const std::string& line, bool ok, WatchEventType type,
                  int code) {
    SCOPED_TRACE(name);
    absl::StatusOr<WatchEvent> ev = ParseWatchEvent(line);
    ASSERT_EQ(ev.ok(), ok) << ev.status();
    if (!ok) return;
    EXPECT_EQ(ev->type, type);
    EXPECT_EQ(ev->error_code, code);
    EXPECT_EQ(ev->IsExpired(), code == 410);
    EXPECT_TRUE(ev->object->IsObject());
  };
  check("added", R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})", true,
        WatchEventType::kAdded, 0);
  check("modified", R"({"type":"MODIFIED","object":{}})", true, WatchEventType::kModified, 0);
  check("deleted", R"({"type":"DELETED","object":{}})", true, WatchEventType::kDeleted, 0);
  check("bookmark", R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}})", true,
        WatchEventType::kBookmark, 0);
  check("expired", R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})",
        true, WatchEventType::kError, 410);
  check("gone (old servers)",
        R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Gone"}})", true,
        WatchEventType::kError, 410);
  check("other error", R"({"type":"ERROR","object":{"kind":"Status","code":500}})", true,
        WatchEventType::kError, 500);
  check("unknown type", R"({"type":"WHAT","object":{}})", false, WatchEventType::kError, 0);
  check("no object", R"({"type":"ADDED"})", false, WatchEventType::kError, 0);
  check("truncated", R"({"type":"ADDED","obj)", false, WatchEventType::kError, 0);
}

TEST(CopyObjectTest, DropsManagedFieldsAndFitsOneAllocation) {
  rapidjson::Document in;
  in.Parse(R"({"metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
      "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
    "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
    "status": {"podIP": "10.0.0.1"}})");
  ASSERT_FALSE(in.HasParseError());
  std::shared_ptr<rapidjson::Document> out = CopyObject(in);
  EXPECT_FALSE((*out)["metadata"].HasMember("managedFields"));
  in["metadata"].RemoveMember("managedFields");
  EXPECT_TRUE(*out == in);  // Everything else, unchanged.
  // One pool chunk of exactly the size used, not rapidjson's 64 KiB default.
  EXPECT_EQ(out->GetAllocator().Capacity(), out->GetAllocator().Size());
  EXPECT_LT(out->GetAllocator().Capacity(), 4096u);

  // Not an object with metadata: copied as it is.
  rapidjson::Document status;
  status.Parse(R"({"kind": "Status", "code": 410})");
  EXPECT_TRUE(*CopyObject(status) == status);
}

TEST_F(RestClientTest, WatchStreamsEventsUntilServerCloses) {
  server_.Upsert("pods", Pod("a", "p1"));
  std::string rv = absl::StrCat(server_.resource_version());
  std::vector<std::string> seen;
  std::thread writer([&] {
    ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(10)));
    server_.Upsert("pods", Pod("a", "p2"));
    server_.Upsert("pods", Pod("a", "p2", "Running"));
    server_.Delete("pods", "a", "p1");
    server_.Upsert("pods", Pod("b", "other-namespace"));
  });
  absl::Status s = client_->Watch(
      "/api/v1/namespaces/a/pods", {{"watch", "1"}, {"resourceVersion", rv}}, [&](WatchEvent&& ev) {
        const auto& md = (*ev.object)["metadata"];
        seen.push_back(absl::StrCat(static_cast<int>(ev.type), ":", md["name"].GetString()));
        if (seen.size() == 3) server_.CloseWatches();
        return true;
      });
  writer.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, (std::vector<std::string>{"0:p2", "1:p2", "2:p1"}));
}

TEST_F(RestClientTest, WatchReportsExpiry) {
  server_.Upsert("pods", Pod("a", "p1"));
  std::string old_rv = absl::StrCat(server_.resource_version() - 1);
  server_.Compact();
  absl::Status s = client_->Watch("/api/v1/pods", {{"watch", "1"}, {"resourceVersion", old_rv}},
                                  [](WatchEvent&&) { return true; });
  EXPECT_TRUE(IsExpired(s)) << s;

  // Mid-stream: an ERROR event with code 410.
  std::string rv = absl::StrCat(server_.resource_version());
  std::thread expirer([&] {
    ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(10)));
    server_.ExpireWatches();
  });
  bool expired_event = false;
  s = client_->Watch("/api/v1/pods", {{"watch", "1"}, {"resourceVersion", rv}},
                     [&](WatchEvent&& ev) {
                       expired_event = ev.IsExpired();
                       return !expired_event;
                     });
  expirer.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(expired_event);
}

TEST_F(RestClientTest, WatchCancels) {
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(10)));
    cancel = true;
  });
  absl::Status s = client_->Watch(
      "/api/v1/nodes", {{"watch", "1"}, {"resourceVersion", "1"}},
      [](WatchEvent&&) { return true; }, &cancel);
  canceller.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

}  // namespace
}  // namespace tender::k8s

namespace tender::k8s {
namespace {

// A pod with one container "c" whose log the fake serves.
std::string LoggingPod() {
  return R"({"metadata":{"name":"p","namespace":"a"},"spec":{"containers":[{"name":"c"}]}})";
}

TEST_F(RestClientTest, StreamHandsOverTheRawBodyAndReportsABreak) {
  server_.Upsert("pods", LoggingPod());
  const int64_t t1 = server_.AppendLog("a", "p", "c", "first");
  std::mutex mu;
  std::string body;
  auto get = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return body;
  };
  absl::Status status;
  std::thread reader([&] {
    status = client_->Stream("/api/v1/namespaces/a/pods/p/log",
                             {{"container", "c"}, {"follow", "true"}, {"timestamps", "true"}},
                             [&](std::string_view chunk) {
                               std::lock_guard<std::mutex> lock(mu);
                               body.append(chunk.data(), chunk.size());
                               return true;
                             });
  });
  ASSERT_TRUE(server_.WaitForOpenLogStreams(1, absl::Seconds(10)));
  const int64_t t2 = server_.AppendLog("a", "p", "c", "second");
  const std::string want = absl::StrCat(FakeApiServer::FormatLogTimestamp(t1), " first\n",
                                        FakeApiServer::FormatLogTimestamp(t2), " second\n");
  for (int i = 0; i < 200 && get() != want; ++i) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(get(), want);
  // A stream broken before its end is an error, not a clean end.
  server_.CutLogStreams();
  reader.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(RestClientTest, StreamErrorsAndCancel) {
  server_.Upsert("pods", LoggingPod());
  auto ignore = [](std::string_view) { return true; };
  EXPECT_EQ(client_->Stream("/api/v1/namespaces/a/pods/nope/log", {}, ignore).code(),
            absl::StatusCode::kNotFound);
  absl::Status bad =
      client_->Stream("/api/v1/namespaces/a/pods/p/log", {{"container", "x"}}, ignore);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("is not valid for pod p"));
  EXPECT_EQ(
      client_->Stream("/api/v1/namespaces/a/pods/p/log", {{"previous", "true"}}, ignore).code(),
      absl::StatusCode::kInvalidArgument);
  // Not following: the body ends, OK.
  server_.AppendLog("a", "p", "c", "x");
  std::string body;
  EXPECT_TRUE(client_
                  ->Stream("/api/v1/namespaces/a/pods/p/log", {},
                           [&](std::string_view chunk) {
                             body.append(chunk.data(), chunk.size());
                             return true;
                           })
                  .ok());
  EXPECT_EQ(body, "x\n");
  // An idle follow stream is cancelled promptly.
  std::atomic<bool> cancel{false};
  absl::Status status;
  std::thread reader([&] {
    status =
        client_->Stream("/api/v1/namespaces/a/pods/p/log", {{"follow", "true"}}, ignore, &cancel);
  });
  ASSERT_TRUE(server_.WaitForOpenLogStreams(1, absl::Seconds(10)));
  cancel = true;
  reader.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

TEST(RestClientOptionsTest, FollowsRedirectsOnlyWhenAsked) {
  test_tools::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  api.Upsert("pods", R"({"metadata":{"name":"p1","namespace":"a"}})");
  httplib::Server redirector;
  redirector.Get(R"(/moved/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_redirect(api.url() + "/" + req.matches[1].str(), 302);
  });
  const int port = redirector.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { redirector.listen_after_bind(); });

  KubeConfig config;
  config.cluster.server = absl::StrCat("http://127.0.0.1:", port, "/moved");
  for (bool follow : {false, true}) {
    SCOPED_TRACE(follow);
    RestClientOptions options;
    options.follow_redirects = follow;
    options.enable_http2 = false;
    auto client = RestClient::Create(config, options);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Response> r = (*client)->Get("/api/v1/pods");
    EXPECT_EQ(r.ok(), follow) << r.status();
    if (r.ok()) {
      EXPECT_THAT(r->body, ::testing::HasSubstr(R"("name":"p1")"));
    }
  }
  redirector.stop();
  thread.join();
}

}  // namespace
}  // namespace tender::k8s
