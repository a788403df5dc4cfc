#include "tests/tools/fake_loki.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>

#include <string>
#include <vector>

#include "exporters/loki/push_encoder.h"

namespace tender::test_tools {
namespace {

constexpr int64_t kHour = int64_t{3600} * 1000000000;

std::string ProtobufBody(const std::vector<loki::StreamView>& streams) {
  std::string raw;
  loki::AppendProtobufPush(streams, &raw);
  std::string compressed;
  snappy::Compress(raw.data(), raw.size(), &compressed);
  return compressed;
}

struct Result {
  int status = 0;
  std::string body;
};

Result Post(const FakeLoki& loki, const std::string& body, const std::string& content_type,
            httplib::Headers headers = {}) {
  httplib::Client client("127.0.0.1", loki.port());
  auto res = client.Post("/loki/api/v1/push", headers, body, content_type);
  if (!res) return {};
  return {res->status, res->body};
}

TEST(FakeLokiTest, ProtobufEntriesPerStreamWithDuplicateAndOrderingRules) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  const int64_t t0 = 1700000000000000000;
  Result r = Post(loki,
                  ProtobufBody({{R"({job="a"})", {{t0, "one"}, {t0 + 1, "two"}, {t0, "early"}}},
                                {R"({job="b"})", {{t0, "b1"}}}}),
                  "application/x-protobuf");
  EXPECT_EQ(r.status, 204);
  // The identical resend of the last entry is dropped; a different line at an older time
  // inside the window is kept; an entry more than an hour behind is rejected with 400 while
  // the rest of the request is kept.
  r = Post(loki,
           ProtobufBody({{R"({job="a"})", {{t0, "early"}, {t0 - kHour - 1, "too old"}}},
                         {R"({job="b"})", {{t0 + 5, "b2"}}}}),
           "application/x-protobuf");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("entry too far behind"), std::string::npos) << r.body;
  EXPECT_EQ(loki.duplicates(), 1u);
  EXPECT_EQ(loki.rejected_entries(), 1u);
  EXPECT_EQ(loki.stream("fake", R"({job="a"})"),
            (std::vector<LokiEntry>{{t0, "one"}, {t0 + 1, "two"}, {t0, "early"}}));
  EXPECT_EQ(loki.stream("fake", R"({job="b"})"),
            (std::vector<LokiEntry>{{t0, "b1"}, {t0 + 5, "b2"}}));
  EXPECT_EQ(loki.accepted_entries(), 5u);
  EXPECT_TRUE(loki.violations().empty());
}

TEST(FakeLokiTest, JsonBodies) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  std::string body;
  loki::AppendJsonPush({{R"({job="j", a="x"})", {{42, "hello"}}}}, &body);
  EXPECT_EQ(Post(loki, body, "application/json").status, 204);
  EXPECT_EQ(loki.stream("fake", R"({a="x", job="j"})"), (std::vector<LokiEntry>{{42, "hello"}}));
  // A JSON number timestamp is a 400.
  EXPECT_EQ(
      Post(loki, R"({"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]})", "application/json")
          .status,
      400);
  // Zero streams: 422.
  EXPECT_EQ(Post(loki, R"({"streams":[]})", "application/json").status, 422);
}

TEST(FakeLokiTest, StructuredMetadataInBothEncodingsAndInTheDuplicateRule) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  const std::vector<model::Label> pod1 = {{"pod", "p1"}};
  const std::vector<model::Label> pod2 = {{"pod", "p2"}};
  // Same time and line, different metadata: not a duplicate. An identical resend is.
  EXPECT_EQ(Post(loki, ProtobufBody({{R"({job="a"})", {{10, "l", pod1}, {10, "l", pod2}}}}),
                 "application/x-protobuf")
                .status,
            204);
  EXPECT_EQ(
      Post(loki, ProtobufBody({{R"({job="a"})", {{10, "l", pod2}}}}), "application/x-protobuf")
          .status,
      204);
  EXPECT_EQ(loki.duplicates(), 1u);
  std::string body;
  loki::AppendJsonPush({{R"({job="a"})", {{11, "j", pod1}, {12, "k"}}}}, &body);
  EXPECT_EQ(Post(loki, body, "application/json").status, 204);
  EXPECT_EQ(loki.stream("fake", R"({job="a"})"), (std::vector<LokiEntry>{{10, "l", {{"pod", "p1"}}},
                                                                         {10, "l", {{"pod", "p2"}}},
                                                                         {11, "j", {{"pod", "p1"}}},
                                                                         {12, "k", {}}}));
  // Nested metadata is a 400.
  EXPECT_EQ(Post(loki, R"({"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":{"n":"v"}}]]}]})",
                 "application/json")
                .status,
            400);
}

TEST(FakeLokiTest, TenantsAndBadBodies) {
  FakeLoki loki(FakeLoki::Options{.multi_tenant = true});
  ASSERT_TRUE(loki.Start().ok());
  const std::string body = ProtobufBody({{R"({job="a"})", {{1, "x"}}}});
  EXPECT_EQ(Post(loki, body, "application/x-protobuf").status, 401);
  EXPECT_EQ(Post(loki, body, "application/x-protobuf", {{"X-Scope-OrgID", "a|b"}}).status, 400);
  EXPECT_EQ(Post(loki, body, "application/x-protobuf", {{"X-Scope-OrgID", "team-1"}}).status, 204);
  EXPECT_EQ(loki.stream("team-1", R"({job="a"})").size(), 1u);
  // Not snappy, and a bad selector.
  EXPECT_EQ(Post(loki, "garbage", "application/x-protobuf", {{"X-Scope-OrgID", "t"}}).status, 400);
  EXPECT_EQ(Post(loki, ProtobufBody({{R"({})", {{1, "x"}}}}), "application/x-protobuf",
                 {{"X-Scope-OrgID", "t"}})
                .status,
            400);
  EXPECT_EQ(Post(loki, body, "application/x-protobuf",
                 {{"X-Scope-OrgID", "t"}, {"Content-Encoding", "br"}})
                .status,
            400);
  EXPECT_GE(loki.violations().size(), 4u);
}

TEST(FakeLokiTest, ScriptedAnswersRejectTheRequest) {
  FakeLoki loki;
  ASSERT_TRUE(loki.Start().ok());
  loki.ScriptResponses({{429, "3", "slow down"}, {500, "", ""}});
  const std::string body = ProtobufBody({{R"({job="a"})", {{1, "x"}}}});
  Result r = Post(loki, body, "application/x-protobuf");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Post(loki, body, "application/x-protobuf").status, 500);
  EXPECT_EQ(loki.accepted_entries(), 0u);
  EXPECT_EQ(Post(loki, body, "application/x-protobuf").status, 204);
  EXPECT_TRUE(loki.WaitForEntries(1, absl::Seconds(1)));
  ASSERT_EQ(loki.requests().size(), 3u);
  EXPECT_EQ(loki.requests()[0].status, 429);
}

}  // namespace
}  // namespace tender::test_tools
