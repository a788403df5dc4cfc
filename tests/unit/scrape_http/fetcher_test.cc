#include "collector/scrape/http/fetcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/unit/scrape_http/test_servers.h"

namespace tender::scrape {
namespace {

using testing::FetchAndWait;
using testing::Gzip;
using testing::GzipZeros;
using ::testing::HasSubstr;
using testing::RawServer;
using testing::RefusingPort;
using testing::ResultSink;
using testing::SeenRequest;
using testing::TempDir;
using testing::TestServer;

constexpr char kOpenMetrics[] = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// A body of `n` bytes that does not compress to nothing.
std::string TextBody(size_t n) {
  std::string body;
  body.reserve(n);
  for (size_t i = 0; body.size() < n; ++i) {
    absl::StrAppend(&body, "metric_", i % 977, "{pod=\"p", i % 31, "\"} ", i, "\n");
  }
  body.resize(n);
  return body;
}

FetchRequest Request(const std::string& url) {
  FetchRequest r;
  r.url = url;
  r.timeout = absl::Seconds(30);
  return r;
}

// Members are destroyed bottom-up: the fetcher (and its connections) goes before the server.
class FetcherTest : public ::testing::Test {
 protected:
  void StartFetcher(Fetcher::Settings settings = {}) {
    fetcher_ = std::make_unique<Fetcher>(std::move(settings));
    ASSERT_TRUE(fetcher_->Start().ok());
  }

  TestServer server_;
  std::unique_ptr<Fetcher> fetcher_;
};

TEST_F(FetcherTest, FetchesBody) {
  const std::string body = TextBody(10000);
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content(body, kOpenMetrics);
  });
  server_.Start();
  StartFetcher();

  FetchResult r = FetchAndWait(*fetcher_, Request(server_.Url("/metrics")));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.content_type, kOpenMetrics);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.wire_bytes, static_cast<int64_t>(body.size()));
  EXPECT_FALSE(r.reused_connection);
  EXPECT_GT(r.timings.total, absl::ZeroDuration());
  EXPECT_LE(r.timings.dns + r.timings.connect + r.timings.tls + r.timings.first_byte,
            r.timings.total);
  EXPECT_EQ(r.timings.tls, absl::ZeroDuration());
  EXPECT_EQ(fetcher_->GetStats().completed, 1u);
  EXPECT_EQ(fetcher_->GetStats().in_flight, 0);
}

TEST_F(FetcherTest, GzipResponsesAreDecompressed) {
  const std::string body = TextBody(200000);
  const std::string gz = Gzip(body);
  ASSERT_LT(gz.size(), body.size() / 2);
  // Pre-compressed by the handler (a type httplib never compresses itself).
  server_.server().Get("/pre", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_header("Content-Encoding", "gzip");
    res.set_content(gz, kOpenMetrics);
  });
  // text/plain, which httplib compresses on its own when the client accepts gzip.
  server_.server().Get("/auto", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content(body, "text/plain; version=0.0.4");
  });
  server_.Start();
  StartFetcher();

  FetchResult pre = FetchAndWait(*fetcher_, Request(server_.Url("/pre")));
  ASSERT_TRUE(pre.status.ok()) << pre.status;
  EXPECT_EQ(pre.http_status, 200);
  EXPECT_EQ(pre.body, body);
  EXPECT_EQ(pre.wire_bytes, static_cast<int64_t>(gz.size()));
  EXPECT_EQ(pre.content_type, kOpenMetrics);

  FetchResult automatic = FetchAndWait(*fetcher_, Request(server_.Url("/auto")));
  ASSERT_TRUE(automatic.status.ok()) << automatic.status;
  EXPECT_EQ(automatic.body, body);
  EXPECT_LT(automatic.wire_bytes, static_cast<int64_t>(body.size()) / 2);

  FetchRequest identity = Request(server_.Url("/auto"));
  identity.accept_gzip = false;
  FetchResult plain = FetchAndWait(*fetcher_, std::move(identity));
  ASSERT_TRUE(plain.status.ok()) << plain.status;
  EXPECT_EQ(plain.body, body);
  EXPECT_EQ(plain.wire_bytes, static_cast<int64_t>(body.size()));
}

TEST_F(FetcherTest, BodySizeLimitAppliesToDecompressedBody) {
  const std::string body = TextBody(100000);
  const std::string gz = Gzip(body);
  server_.server().Get("/plain", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, kOpenMetrics);
  });
  server_.server().Get("/gzip", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Encoding", "gzip");
    res.set_content(gz, kOpenMetrics);
  });
  server_.Start();
  StartFetcher();

  struct Case {
    std::string name;
    std::string path;
    int64_t limit;
    bool want_ok;
  };
  const int64_t size = static_cast<int64_t>(body.size());
  const std::vector<Case> cases = {
      {"plain, no limit", "/plain", 0, true},
      {"plain, limit = size", "/plain", size, true},
      {"plain, limit = size - 1", "/plain", size - 1, false},
      {"plain, small limit", "/plain", 1000, false},
      {"gzip, limit = size", "/gzip", size, true},
      {"gzip, limit = size - 1", "/gzip", size - 1, false},
      // Larger than the compressed size, smaller than the body: the decompressed size counts.
      {"gzip, limit between wire and body size", "/gzip", static_cast<int64_t>(gz.size()) + 10,
       false},
  };
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.name);
    FetchRequest req = Request(server_.Url(c.path));
    req.body_size_limit = c.limit;
    FetchResult r = FetchAndWait(*fetcher_, std::move(req));
    if (c.want_ok) {
      ASSERT_TRUE(r.status.ok()) << r.status;
      EXPECT_EQ(r.body, body);
    } else {
      EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted) << r.status;
      EXPECT_THAT(std::string(r.status.message()), HasSubstr("body size limit exceeded"));
      EXPECT_LE(static_cast<int64_t>(r.body.size()), c.limit);
    }
  };
  for (const Case& c : cases) {
    check(c);
  }
  EXPECT_EQ(fetcher_->GetStats().body_limit_exceeded, 4u);
}

TEST_F(FetcherTest, GzipBombIsCutOffAtTheLimit) {
  constexpr int64_t kInflated = int64_t{100} << 20;  // 100 MiB of zeros...
  const std::string bomb = GzipZeros(kInflated);     // ...in about 100 KiB.
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  server_.server().Get("/bomb", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Encoding", "gzip");
    res.set_content(bomb, kOpenMetrics);
  });
  server_.Start();
  StartFetcher();

  constexpr int64_t kLimit = 1 << 20;
  FetchRequest req = Request(server_.Url("/bomb"));
  req.body_size_limit = kLimit;
  const absl::Time start = absl::Now();
  FetchResult r = FetchAndWait(*fetcher_, std::move(req));
  const absl::Duration elapsed = absl::Now() - start;

  EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted) << r.status;
  EXPECT_LE(static_cast<int64_t>(r.body.size()), kLimit);
  // Memory stays bounded by the limit: the buffer never grew past it (plus string slack).
  EXPECT_LE(static_cast<int64_t>(r.body.capacity()), 2 * kLimit);
  // Only the first part of the compressed stream was read: inflation stopped at the limit.
  EXPECT_LT(r.wire_bytes, static_cast<int64_t>(bomb.size()));
  EXPECT_LT(elapsed, absl::Seconds(5));
}

TEST_F(FetcherTest, TimeoutIsDeadlineExceeded) {
  server_.server().Get("/slow", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    server_.gate().WaitOpen(absl::Seconds(30));  // Held until the test ends.
    res.set_content("late\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();

  FetchRequest req = Request(server_.Url("/slow"));
  req.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  FetchResult r = FetchAndWait(*fetcher_, std::move(req));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  EXPECT_EQ(r.http_status, 0);
  EXPECT_GE(elapsed, absl::Milliseconds(290));
  EXPECT_LT(elapsed, absl::Seconds(10));
  EXPECT_EQ(server_.requests().Get(), 1);
  EXPECT_EQ(fetcher_->GetStats().timeouts, 1u);
}

TEST_F(FetcherTest, FirstByteTimingCoversServerDelay) {
  server_.server().Get("/delayed", [&](const httplib::Request&, httplib::Response& res) {
    // Deliberate server latency; the gate is never opened while the request runs.
    server_.gate().WaitOpen(absl::Milliseconds(150));
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  FetchResult r = FetchAndWait(*fetcher_, Request(server_.Url("/delayed")));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_GE(r.timings.first_byte, absl::Milliseconds(140));
  EXPECT_GE(r.timings.total, r.timings.first_byte);
}

TEST_F(FetcherTest, ConnectionRefusedIsUnavailable) {
  RefusingPort refusing;
  StartFetcher();
  FetchResult r =
      FetchAndWait(*fetcher_, Request(absl::StrCat("http://127.0.0.1:", refusing.port(), "/m")));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.http_status, 0);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(FetcherTest, NonOkStatusIsReportedNotJudged) {
  server_.server().Get(R"(/status/(\d+))",
                       [&](const httplib::Request& req, httplib::Response& res) {
                         res.status = std::stoi(req.matches[1]);
                         res.set_content(absl::StrCat("status ", res.status), "text/plain");
                       });
  server_.Start();
  StartFetcher();
  auto check = [&](int code) {
    SCOPED_TRACE(code);
    FetchResult r = FetchAndWait(*fetcher_, Request(server_.Url(absl::StrCat("/status/", code))));
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.http_status, code);
    EXPECT_EQ(r.body, absl::StrCat("status ", code));
  };
  for (int code : {201, 203, 400, 401, 403, 404, 429, 500, 503}) {
    check(code);
  }
}

TEST_F(FetcherTest, FollowsRedirects) {
  server_.server().Get("/old", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/new", 302);
  });
  server_.server().Get("/new", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("moved 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  FetchResult r = FetchAndWait(*fetcher_, Request(server_.Url("/old")));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.body, "moved 1\n");
}

TEST_F(FetcherTest, SendsRequestHeaders) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher({.user_agent = "tender/0.1.0"});

  struct Case {
    std::string name;
    bool accept_gzip;
    std::vector<std::pair<std::string, std::string>> headers;
    std::map<std::string, std::string> want;  // Header -> value ("" = must be absent).
  };
  const std::vector<Case> cases = {
      {"gzip and settings user agent",
       true,
       {},
       {{"Accept-Encoding", "gzip"}, {"User-Agent", "tender/0.1.0"}, {"Authorization", ""}}},
      {"identity", false, {}, {{"Accept-Encoding", "identity"}}},
      {"caller headers win",
       true,
       {{"Accept", "application/openmetrics-text;version=1.0.0;q=0.6,*/*;q=0.2"},
        {"User-Agent", "Prometheus/3.0.0"},
        {"X-Prometheus-Scrape-Timeout-Seconds", "10"}},
       {{"Accept", "application/openmetrics-text;version=1.0.0;q=0.6,*/*;q=0.2"},
        {"User-Agent", "Prometheus/3.0.0"},
        {"X-Prometheus-Scrape-Timeout-Seconds", "10"}}},
  };
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.name);
    FetchRequest req = Request(server_.Url("/metrics"));
    req.accept_gzip = c.accept_gzip;
    req.headers = c.headers;
    const int before = server_.requests().Get();
    FetchResult r = FetchAndWait(*fetcher_, std::move(req));
    ASSERT_TRUE(r.status.ok()) << r.status;
    const std::vector<SeenRequest> seen = server_.Seen();
    ASSERT_EQ(static_cast<int>(seen.size()), before + 1);
    for (const auto& [name, value] : c.want) {
      EXPECT_EQ(seen.back().Header(name), value) << name;
    }
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST_F(FetcherTest, RejectsHeaderInjection) {
  StartFetcher();
  FetchRequest req = Request("http://127.0.0.1:1/metrics");
  req.headers = {{"X-Evil", "a\r\nHost: elsewhere"}};
  FetchResult r = FetchAndWait(*fetcher_, std::move(req));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
}

TEST_F(FetcherTest, OnlyHttpSchemes) {
  StartFetcher();
  FetchResult r = FetchAndWait(*fetcher_, Request("file:///etc/hostname"));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
  EXPECT_TRUE(r.body.empty());
}

std::string BasicHeader(const std::string& user, const std::string& password) {
  return "Basic " + absl::Base64Escape(user + ":" + password);
}

TEST_F(FetcherTest, AuthHeadersFromConfigAndFilesReadAtEachRequest) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  TempDir dir;

  auto authorization_seen = [&](const config::HttpClientConfig& http) -> std::string {
    FetchRequest req = Request(server_.Url("/metrics"));
    req.http = &http;
    const int before = server_.requests().Get();
    FetchResult r = FetchAndWait(*fetcher_, std::move(req));
    EXPECT_TRUE(r.status.ok()) << r.status;
    const std::vector<SeenRequest> seen = server_.Seen();
    if (static_cast<int>(seen.size()) != before + 1) {
      ADD_FAILURE() << "request did not reach the server";
      return "<none>";
    }
    return seen.back().Header("Authorization");
  };

  {
    SCOPED_TRACE("basic auth, inline password");
    config::HttpClientConfig http;
    http.basic_auth = config::BasicAuth{"alice", "s3cret:x", ""};
    EXPECT_EQ(authorization_seen(http), BasicHeader("alice", "s3cret:x"));
  }
  {
    SCOPED_TRACE("basic auth, password_file re-read after it changes");
    config::HttpClientConfig http;
    http.basic_auth = config::BasicAuth{"bob", "", dir.WriteFile("password", "first\n")};
    EXPECT_EQ(authorization_seen(http), BasicHeader("bob", "first"));
    dir.WriteFile("password", "second\r\n");
    EXPECT_EQ(authorization_seen(http), BasicHeader("bob", "second"));
  }
  {
    SCOPED_TRACE("bearer, inline credentials");
    config::HttpClientConfig http;
    http.authorization = config::Authorization{"Bearer", "tok-1", ""};
    EXPECT_EQ(authorization_seen(http), "Bearer tok-1");
  }
  {
    SCOPED_TRACE("bearer, credentials_file re-read after it changes");
    config::HttpClientConfig http;
    http.authorization = config::Authorization{"Bearer", "", dir.WriteFile("token", "tok-a\n")};
    EXPECT_EQ(authorization_seen(http), "Bearer tok-a");
    dir.WriteFile("token", "tok-b\n");
    EXPECT_EQ(authorization_seen(http), "Bearer tok-b");
  }
  {
    SCOPED_TRACE("custom authorization type");
    config::HttpClientConfig http;
    http.authorization = config::Authorization{"Token", "abc", ""};
    EXPECT_EQ(authorization_seen(http), "Token abc");
  }
}

TEST_F(FetcherTest, UnreadableSecretFileFailsWithoutSending) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  TempDir dir;
  auto check = [&](const std::string& name, const config::HttpClientConfig& http) {
    SCOPED_TRACE(name);
    FetchRequest req = Request(server_.Url("/metrics"));
    req.http = &http;
    FetchResult r = FetchAndWait(*fetcher_, std::move(req));
    EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition) << r.status;
  };
  config::HttpClientConfig basic;
  basic.basic_auth = config::BasicAuth{"bob", "", dir.path() + "/missing-password"};
  check("password_file", basic);
  config::HttpClientConfig bearer;
  bearer.authorization = config::Authorization{"Bearer", "", dir.path() + "/missing-token"};
  check("credentials_file", bearer);
  EXPECT_EQ(server_.requests().Get(), 0);
}

TEST_F(FetcherTest, SecondRequestReusesTheConnection) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  FetchRequest req = Request(server_.Url("/metrics"));
  req.connection_key = 42;
  FetchResult first = FetchAndWait(*fetcher_, req);
  FetchResult second = FetchAndWait(*fetcher_, req);
  ASSERT_TRUE(first.status.ok()) << first.status;
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_FALSE(first.reused_connection);
  EXPECT_TRUE(second.reused_connection);
  EXPECT_EQ(second.timings.connect, absl::ZeroDuration());
  const std::vector<SeenRequest> seen = server_.Seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);  // Same TCP connection.
  EXPECT_EQ(fetcher_->GetStats().reused_connections, 1u);
}

TEST_F(FetcherTest, ApiServerRequestsUseItsCredentialsNotTheJobs) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  config::HttpClientConfig job_http;
  job_http.authorization = config::Authorization{"Bearer", "job-token", ""};
  auto api = std::make_shared<ApiServerConnection>();
  api->host_key = server_.Url("");
  api->authorization = "Bearer api-token";
  FetchRequest req = Request(server_.Url("/metrics"));
  req.http = &job_http;
  req.api_server = api;
  FetchResult r = FetchAndWait(*fetcher_, std::move(req));
  ASSERT_TRUE(r.status.ok()) << r.status;
  const std::vector<SeenRequest> seen = server_.Seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Authorization"), "Bearer api-token");
  EXPECT_FALSE(r.connection_reset);
}

// Over HTTP/1.1 curl closes the connection of a timed-out request itself: an API-server
// timeout leaves no connection to give up, and the next request opens a new one. A timeout
// while the API server answers others gives nothing up either. (The HTTP/2 case, where the
// fetcher shuts the silent connection down, runs behind nghttpx in
// tests/integration/e2e_apiserver_proxy_test.cc.)
TEST_F(FetcherTest, ApiServerTimeoutsOverHttp1LeaveNothingToReset) {
  server_.server().Get("/slow", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    server_.gate().WaitOpen(absl::Seconds(30));  // Held until the test ends.
    res.set_content("late\n", kOpenMetrics);
  });
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  auto api = std::make_shared<ApiServerConnection>();
  api->host_key = server_.Url("");
  auto request = [&](const std::string& path, absl::Duration timeout) {
    FetchRequest req = Request(server_.Url(path));
    req.api_server = api;
    req.timeout = timeout;
    req.connection_key = 7;
    return req;
  };

  ASSERT_TRUE(FetchAndWait(*fetcher_, request("/metrics", absl::Seconds(10))).status.ok());
  FetchResult silent = FetchAndWait(*fetcher_, request("/slow", absl::Milliseconds(300)));
  EXPECT_EQ(silent.status.code(), absl::StatusCode::kDeadlineExceeded) << silent.status;
  EXPECT_FALSE(silent.connection_reset);
  FetchResult next = FetchAndWait(*fetcher_, request("/metrics", absl::Seconds(10)));
  ASSERT_TRUE(next.status.ok()) << next.status;
  EXPECT_FALSE(next.reused_connection);

  // A slow request while the API server answers others.
  ResultSink sink(2);
  fetcher_->Fetch(request("/slow", absl::Seconds(1)), sink.Callback(0));
  ASSERT_TRUE(server_.requests().WaitAtLeast(4, absl::Seconds(10)));
  FetchRequest other = request("/metrics", absl::Seconds(10));
  other.connection_key = 8;
  fetcher_->Fetch(std::move(other), sink.Callback(1));
  ASSERT_TRUE(sink.WaitAll(absl::Seconds(20)));
  EXPECT_EQ(sink.result(0).status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(sink.result(0).connection_reset);
  EXPECT_TRUE(sink.result(1).status.ok());
  EXPECT_EQ(fetcher_->GetStats().connection_resets, 0u);
}

TEST_F(FetcherTest, OverlappingRequestsWithOneKeyBothComplete) {
  server_.server().Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    server_.gate().WaitOpen(absl::Seconds(30));
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();
  ResultSink sink(2);
  for (int i = 0; i < 2; ++i) {
    FetchRequest req = Request(server_.Url("/metrics"));
    req.connection_key = 5;
    fetcher_->Fetch(std::move(req), sink.Callback(i));
  }
  // Both are at the server at once, so the second did not wait for the first one's handle.
  ASSERT_TRUE(server_.requests().WaitAtLeast(2, absl::Seconds(30)));
  server_.gate().Open();
  ASSERT_TRUE(sink.WaitAll(absl::Seconds(30)));
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sink.result(i).status.ok()) << sink.result(i).status;
    EXPECT_EQ(sink.result(i).body, "x 1\n");
  }
}

// Many targets at once: all complete, each with its own body. With a connection cap, the
// requests beyond it wait inside curl rather than failing.
class ManyFetchesTest : public FetcherTest,
                        public ::testing::WithParamInterface<std::pair<int, int>> {};

TEST_P(ManyFetchesTest, AllComplete) {
  const auto [fetches, max_connections] = GetParam();
  // Enough server threads, and one request per connection so each thread is freed at once.
  server_.server().new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_.server().set_keep_alive_max_count(1);
  server_.server().Get(R"(/t/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_content(absl::StrCat("target_id ", req.matches[1].str(), "\n"), kOpenMetrics);
  });
  server_.Start();
  StartFetcher({.max_total_connections = max_connections});

  ResultSink sink(fetches);
  for (int i = 0; i < fetches; ++i) {
    FetchRequest req = Request(server_.Url(absl::StrCat("/t/", i)));
    req.timeout = absl::Seconds(60);
    req.connection_key = static_cast<uint64_t>(i);
    fetcher_->Fetch(std::move(req), sink.Callback(i));
  }
  ASSERT_TRUE(sink.WaitAll(absl::Seconds(90)));
  for (int i = 0; i < fetches; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sink.calls(i), 1);
    ASSERT_TRUE(sink.result(i).status.ok()) << sink.result(i).status;
    EXPECT_EQ(sink.result(i).body, absl::StrCat("target_id ", i, "\n"));
  }
  EXPECT_EQ(fetcher_->GetStats().in_flight, 0);
  EXPECT_EQ(fetcher_->GetStats().completed, static_cast<uint64_t>(fetches));
}

INSTANTIATE_TEST_SUITE_P(Concurrency, ManyFetchesTest,
                         ::testing::Values(std::make_pair(200, 0), std::make_pair(2000, 64)));

TEST_F(FetcherTest, MaxTotalConnectionsBoundsConcurrency) {
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  server_.server().Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++active;
    int seen = max_active.load();
    while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
    }
    server_.gate().WaitOpen(absl::Milliseconds(20));  // Deliberate latency so requests overlap.
    --active;
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher({.max_total_connections = 2});

  constexpr int kFetches = 20;
  ResultSink sink(kFetches);
  for (int i = 0; i < kFetches; ++i) {
    FetchRequest req = Request(server_.Url("/metrics"));
    req.connection_key = static_cast<uint64_t>(i);
    fetcher_->Fetch(std::move(req), sink.Callback(i));
  }
  ASSERT_TRUE(sink.WaitAll(absl::Seconds(60)));
  for (int i = 0; i < kFetches; ++i) {
    EXPECT_TRUE(sink.result(i).status.ok()) << i << ": " << sink.result(i).status;
  }
  EXPECT_LE(max_active.load(), 2);
  EXPECT_GE(max_active.load(), 1);
}

TEST_F(FetcherTest, ShutdownCancelsEveryRequestOnce) {
  server_.server().Get("/hang", [&](const httplib::Request& req, httplib::Response& res) {
    server_.Record(req);
    server_.gate().WaitOpen(absl::Seconds(30));
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  StartFetcher();

  constexpr int kInFlight = 6;  // Fewer than httplib's 8 default worker threads.
  constexpr int kTotal = 20;
  ResultSink sink(kTotal);
  for (int i = 0; i < kInFlight; ++i) {
    FetchRequest req = Request(server_.Url("/hang"));
    req.connection_key = static_cast<uint64_t>(i);
    fetcher_->Fetch(std::move(req), sink.Callback(i));
  }
  ASSERT_TRUE(server_.requests().WaitAtLeast(kInFlight, absl::Seconds(30)));
  // More requests, possibly still queued when Shutdown runs.
  for (int i = kInFlight; i < kTotal; ++i) {
    fetcher_->Fetch(Request(server_.Url("/hang")), sink.Callback(i));
  }
  fetcher_->Shutdown();
  ASSERT_TRUE(sink.WaitAll(absl::ZeroDuration()));  // Shutdown returns after every callback.
  for (int i = 0; i < kTotal; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sink.calls(i), 1);
    EXPECT_EQ(sink.result(i).status.code(), absl::StatusCode::kCancelled);
  }
  fetcher_->Shutdown();  // Twice is fine.
  EXPECT_EQ(fetcher_->GetStats().cancelled, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(fetcher_->GetStats().in_flight, 0);

  // After Shutdown the callback runs at once, with Cancelled.
  ResultSink late(1);
  fetcher_->Fetch(Request(server_.Url("/hang")), late.Callback(0));
  ASSERT_TRUE(late.WaitAll(absl::ZeroDuration()));
  EXPECT_EQ(late.result(0).status.code(), absl::StatusCode::kCancelled);
}

TEST(FetcherLifecycleTest, ShutdownBeforeStartCancelsQueuedRequests) {
  Fetcher fetcher({});
  ResultSink sink(2);
  fetcher.Fetch(Request("http://127.0.0.1:1/"), sink.Callback(0));
  fetcher.Fetch(Request("http://127.0.0.1:1/"), sink.Callback(1));
  fetcher.Shutdown();
  ASSERT_TRUE(sink.WaitAll(absl::ZeroDuration()));
  EXPECT_EQ(sink.result(0).status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sink.result(1).status.code(), absl::StatusCode::kCancelled);
  fetcher.Shutdown();
  EXPECT_EQ(fetcher.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FetcherLifecycleTest, RequestsBeforeStartRunAfterStart) {
  TestServer server;
  server.server().Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("x 1\n", kOpenMetrics);
  });
  server.Start();
  Fetcher fetcher({});
  ResultSink sink(1);
  fetcher.Fetch(Request(server.Url("/metrics")), sink.Callback(0));
  ASSERT_TRUE(fetcher.Start().ok());
  EXPECT_EQ(fetcher.Start().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sink.WaitAll(absl::Seconds(30)));
  EXPECT_TRUE(sink.result(0).status.ok()) << sink.result(0).status;
  EXPECT_EQ(sink.result(0).body, "x 1\n");
}

TEST_F(FetcherTest, RecycledBufferIsReused) {
  server_.server().Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("x 1\n", kOpenMetrics);
  });
  server_.Start();
  model::BufferPool pool(model::BufferPool::Options{});
  StartFetcher(Fetcher::Settings{.body_pool = &pool});
  std::string buffer;
  buffer.reserve(1 << 20);
  const char* data = buffer.data();
  fetcher_->RecycleBuffer(std::move(buffer));
  EXPECT_EQ(pool.buffers(), 1u);
  FetchResult r = FetchAndWait(*fetcher_, Request(server_.Url("/metrics")));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.body, "x 1\n");
  EXPECT_EQ(r.body.data(), data);  // The very same allocation.
  EXPECT_EQ(pool.buffers(), 0u);
  fetcher_.reset();  // Before the pool it uses.
}

TEST(FetcherBadPeerTest, MalformedResponsesFailCleanly) {
  struct Case {
    std::string name;
    std::string response;
    absl::StatusCode want;
  };
  const std::vector<Case> cases = {
      {"not http", "SSH-2.0-OpenSSH_9.2\r\n\r\n", absl::StatusCode::kUnavailable},
      {"closes without a byte", "", absl::StatusCode::kUnavailable},
      {"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
       absl::StatusCode::kUnavailable},
      {"bad gzip",
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip!!!!",
       absl::StatusCode::kDataLoss},
      {"bad chunked encoding",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       absl::StatusCode::kUnavailable},
      {"huge header line", "HTTP/1.1 200 OK\r\nX: " + std::string(300000, 'a') + "\r\n\r\n",
       absl::StatusCode::kUnavailable},
  };
  Fetcher fetcher({});
  ASSERT_TRUE(fetcher.Start().ok());
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.name);
    RawServer peer(c.response);
    FetchRequest req = Request(peer.Url());
    req.timeout = absl::Seconds(10);
    FetchResult r = FetchAndWait(fetcher, std::move(req));
    EXPECT_EQ(r.status.code(), c.want) << r.status;
  };
  for (const Case& c : cases) {
    check(c);
  }
}

}  // namespace
}  // namespace tender::scrape
