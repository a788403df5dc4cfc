#include "exporters/loki/push_encoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collector/model/absl_compat.h"
#include "exporters/proto/push.pb.h"

namespace tender::loki {
namespace {

TEST(ParseSelectorTest, Cases) {
  struct Case {
    std::string text;
    bool ok;
    std::string rendered;  // model::ToString of the result when ok.
  };
  const std::vector<Case> cases = {
      {R"({job="a"})", true, R"({job="a"})"},
      {R"({ job = "a" , app="b" })", true, R"({app="b", job="a"})"},
      {R"({a="x\"y\\z\nw"})", true, R"({a="x\"y\\z\nw"})"},
      {R"({a="", b="1"})", true, R"({b="1"})"},
      {R"({a="1",})", true, R"({a="1"})"},
      {R"({})", false, ""},
      {R"({a=""})", false, ""},
      {R"({a="1", a="2"})", false, ""},
      {R"({1a="x"})", false, ""},
      {R"({a.b="x"})", false, ""},
      {R"({a="x")", false, ""},
      {R"({a="x})", false, ""},
      {R"(a="x")", false, ""},
      {R"({a="x"} extra)", false, ""},
      {R"({a=x})", false, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<model::Labels> got = ParseSelector(c.text);
    EXPECT_EQ(got.ok(), c.ok) << got.status();
    if (got.ok() && c.ok) {
      EXPECT_EQ(model::ToString(*got), c.rendered);
    }
  }
}

TEST(AppendProtobufPushTest, DecodesWithGeneratedSchema) {
  const std::string line1 = "first line";
  const std::string line2(300, 'x');  // Length prefix of two varint bytes.
  std::vector<StreamView> streams = {
      {R"({job="a"})", {{1700000000123456789, line1}, {1700000001000000000, line2}}},
      {R"({filename="/x", job="b"})", {{0, ""}, {-1, "before the epoch"}, {5, "ü"}}},
  };
  std::string body;
  AppendProtobufPush(streams, &body);
  logproto::PushRequest push;
  ASSERT_TRUE(push.ParseFromString(body));
  ASSERT_EQ(push.streams_size(), 2);
  EXPECT_EQ(push.streams(0).labels(), R"({job="a"})");
  ASSERT_EQ(push.streams(0).entries_size(), 2);
  EXPECT_EQ(push.streams(0).entries(0).timestamp().seconds(), 1700000000);
  EXPECT_EQ(push.streams(0).entries(0).timestamp().nanos(), 123456789);
  EXPECT_EQ(push.streams(0).entries(0).line(), line1);
  EXPECT_EQ(push.streams(0).entries(1).line(), line2);
  EXPECT_EQ(push.streams(0).entries(1).timestamp().nanos(), 0);
  ASSERT_EQ(push.streams(1).entries_size(), 3);
  EXPECT_EQ(push.streams(1).entries(0).timestamp().seconds(), 0);
  EXPECT_EQ(push.streams(1).entries(0).line(), "");
  EXPECT_EQ(push.streams(1).entries(1).timestamp().seconds(), -1);
  EXPECT_EQ(push.streams(1).entries(1).timestamp().nanos(), 999999999);
  EXPECT_EQ(push.streams(1).entries(2).line(), "ü");
  // Byte-for-byte what the generated encoder writes (same field order, defaults omitted).
  EXPECT_EQ(body, push.SerializeAsString());

  // ProtobufEntrySize is exact.
  size_t entry_bytes = 0;
  for (const auto& s : streams) {
    for (const auto& e : s.entries) entry_bytes += ProtobufEntrySize(e.timestamp_ns, e.line.size());
  }
  size_t generated = 0;
  for (const auto& s : push.streams()) {
    for (const auto& e : s.entries()) {
      const size_t n = e.ByteSizeLong();
      generated += 1 + (n < 128 ? 1 : n < 16384 ? 2 : 3) + n;
    }
  }
  EXPECT_EQ(entry_bytes, generated);
}

TEST(AppendJsonPushTest, ShapeAndEscaping) {
  std::vector<StreamView> streams = {
      {R"({job="a", path="c:\\x"})", {{1700000000123456789, "say \"hi\"\n\t"}}},
      {R"(not a selector)", {{1, "dropped"}}},
  };
  std::string body;
  size_t bad = 0;
  AppendJsonPush(streams, &body, &bad);
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(body,
            R"({"streams":[{"stream":{"job":"a","path":"c:\\x"},"values":[["1700000000123456789",)"
            R"("say \"hi\"\n\t"]]}]})");
}

TEST(AppendProtobufPushTest, StructuredMetadata) {
  const std::vector<model::Label> meta = {{"pod", "web-1"}, {"trace_id", std::string(200, 't')}};
  std::vector<StreamView> streams = {
      {R"({job="a"})", {{1700000000000000001, "with", meta}, {1700000000000000002, "without"}}},
  };
  std::string body;
  AppendProtobufPush(streams, &body);
  logproto::PushRequest push;
  ASSERT_TRUE(push.ParseFromString(body));
  ASSERT_EQ(push.streams_size(), 1);
  ASSERT_EQ(push.streams(0).entries_size(), 2);
  const auto& e0 = push.streams(0).entries(0);
  ASSERT_EQ(e0.structuredmetadata_size(), 2);
  EXPECT_EQ(e0.structuredmetadata(0).name(), "pod");
  EXPECT_EQ(e0.structuredmetadata(0).value(), "web-1");
  EXPECT_EQ(e0.structuredmetadata(1).name(), "trace_id");
  EXPECT_EQ(e0.structuredmetadata(1).value(), std::string(200, 't'));
  EXPECT_EQ(push.streams(0).entries(1).structuredmetadata_size(), 0);
  EXPECT_EQ(body, push.SerializeAsString());
  const size_t n = e0.ByteSizeLong();
  EXPECT_EQ(ProtobufEntrySize(1700000000000000001, 4, meta), 1 + (n < 128 ? 1 : 2) + n);
}

TEST(AppendProtobufPushTest, StructuredMetadataBytes) {
  // Timestamp {seconds: 1}, line "x", metadata {a: b}, written out by hand.
  const std::vector<model::Label> meta = {{"a", "b"}};
  std::string body;
  AppendProtobufPush({{R"({j="1"})", {{1000000000, "x", meta}}}}, &body);
  const std::string selector = R"({j="1"})";
  const std::string entry = std::string("\x0a\x02\x08\x01", 4) +  // 1: Timestamp{1: 1}
                            std::string("\x12\x01x", 3) +         // 2: line
                            std::string(
                                "\x1a\x06\x0a\x01"
                                "a"
                                "\x12\x01"
                                "b",
                                8);  // 3: pair
  const std::string stream = std::string("\x0a") + static_cast<char>(selector.size()) + selector +
                             "\x12" + static_cast<char>(entry.size()) + entry;
  const std::string expected = std::string("\x0a") + static_cast<char>(stream.size()) + stream;
  EXPECT_EQ(body, expected);
  EXPECT_EQ(ProtobufEntrySize(1000000000, 1, meta), 2 + entry.size());
}

TEST(AppendJsonPushTest, StructuredMetadataIsAThirdElement) {
  const std::vector<model::Label> meta = {{"pod", "web-1"}, {"req", "a\"b"}};
  std::vector<StreamView> streams = {{R"({job="a"})", {{1, "with", meta}, {2, "without"}}}};
  std::string body;
  AppendJsonPush(streams, &body);
  EXPECT_EQ(body, R"({"streams":[{"stream":{"job":"a"},"values":[["1","with",)"
                  R"({"pod":"web-1","req":"a\"b"}],["2","without"]]}]})");
}

}  // namespace
}  // namespace tender::loki
