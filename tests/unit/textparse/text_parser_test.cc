// Prometheus text format 0.0.4 (and 1.0.0 quoted names): protocols.md §1.1.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "collector/textparse/number.h"
#include "collector/textparse/parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/textparse/test_util.h"

namespace tender::textparse {
namespace {

using ::tender::textparse::testing::HasPosition;
using ::tender::textparse::testing::ParseAll;
using ::tender::textparse::testing::ParseResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

using Labels = std::vector<std::pair<std::string, std::string>>;
using namespace std::string_literals;

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

TEST(TextParserTest, SampleShapes) {
  struct Case {
    std::string input;
    std::string name;
    Labels labels;
    double value;
    bool has_ts;
    int64_t ts;
  };
  const Case cases[] = {
      {"a 1\n", "a", {}, 1, false, 0},
      {"a{b=\"c\",d=\"e\"} 1.5 123\n", "a", {{"b", "c"}, {"d", "e"}}, 1.5, true, 123},
      {"  a  {  b = \"c\" ,  } \t 2 \t 7 \t\n", "a", {{"b", "c"}}, 2, true, 7},
      {"a{} 3\n", "a", {}, 3, false, 0},
      {"a{b=\"c\",} 4\n", "a", {{"b", "c"}}, 4, false, 0},
      {"a{b=\"c\"}5\n", "a", {{"b", "c"}}, 5, false, 0},  // no blank needed after '}'
      {"ns:sub_name_total 6\n", "ns:sub_name_total", {}, 6, false, 0},
      {"a{b=\"\"} 7\n", "a", {{"b", ""}}, 7, false, 0},
      {"a{b=\"x\",b=\"y\"} 8\n", "a", {{"b", "x"}, {"b", "y"}}, 8, false, 0},  // kept, in order
      {"a{z=\"1\",a=\"2\"} 9\n", "a", {{"z", "1"}, {"a", "2"}}, 9, false, 0},  // not sorted
      {"a 1 9223372036854775807\n", "a", {}, 1, true, std::numeric_limits<int64_t>::max()},
      {"a 1 0\n", "a", {}, 1, true, 0},
      // Quoted UTF-8 names (text format 1.0.0).
      {"{\"my.metric\", \"la.bel\"=\"v\"} 1\n", "my.metric", {{"la.bel", "v"}}, 1, false, 0},
      {"{\"my.metric\"} 2\n", "my.metric", {}, 2, false, 0},
      {"{\"my.metric\",} 3\n", "my.metric", {}, 3, false, 0},
      {"{a=\"b\", \"m\\\"q\"} 4\n", "m\"q", {{"a", "b"}}, 4, false, 0},
      {"a{\"b.c\"=\"d\"} 5\n", "a", {{"b.c", "d"}}, 5, false, 0},
      {"{\"\xe6\x97\xa5\"} 6\n", "\xe6\x97\xa5", {}, 6, false, 0},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.input);
    ParseResult r = ParseAll(c.input, Format::kText);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.samples.size(), 1u);
    const auto& s = r.samples[0];
    EXPECT_EQ(s.name, c.name);
    EXPECT_EQ(s.labels, c.labels);
    EXPECT_EQ(s.bits, Bits(c.value));
    EXPECT_EQ(s.has_timestamp, c.has_ts);
    if (c.has_ts) {
      EXPECT_EQ(s.timestamp_ms, c.ts);
    }
    EXPECT_EQ(s.line, 1u);
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(TextParserTest, LabelValueEscapes) {
  struct Case {
    std::string input;
    std::string value;
  };
  const Case cases[] = {
      {R"(a{b="x\\y"} 1)", "x\\y"},
      {R"(a{b="x\"y"} 1)", "x\"y"},
      {R"(a{b="x\ny"} 1)", "x\ny"},
      {R"(a{b="x\qy"} 1)", "x\\qy"},  // other pairs are kept as written
      {R"(a{b="\\\"\n"} 1)", "\\\"\n"},
      {std::string("a{b=\"nul\0byte\"} 1", 17), std::string("nul\0byte", 8)},
      {"a{b=\"raw\nnewline\"} 1", "raw\nnewline"},  // the 0.0.4 lexer allows it
      {"a{b=\"\xc3\xbc\xe6\x97\xa5\"} 1", "\xc3\xbc\xe6\x97\xa5"},
      {R"(a{b="a long value with an escape at the very end, past sixteen bytes\\"} 1)",
       "a long value with an escape at the very end, past sixteen bytes\\"},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.input);
    ParseResult r = ParseAll(c.input + "\n", Format::kText);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.samples.size(), 1u);
    ASSERT_EQ(r.samples[0].labels.size(), 1u);
    EXPECT_EQ(r.samples[0].labels[0].second, c.value);
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(TextParserTest, EscapedViewsSurviveScratchGrowth) {
  // Many escaped values in one line force the scratch buffer to grow while parsing.
  std::string line = "a{";
  std::vector<std::string> want;
  for (int i = 0; i < 64; ++i) {
    std::string v = "v" + std::to_string(i) + std::string(static_cast<size_t>(i), 'x');
    line += "l" + std::to_string(i) + "=\"" + v + "\\\\\",";
    want.push_back(v + "\\");
  }
  line += "} 1\n";
  ParseResult r = ParseAll(line, Format::kText);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 1u);
  ASSERT_EQ(r.samples[0].labels.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.samples[0].labels[i].second, want[i]);
  }
}

TEST(TextParserTest, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* value;
    uint64_t bits;
  };
  const Case cases[] = {
      {"NaN", kCanonicalNaNBits},
      {"nan", kCanonicalNaNBits},
      {"+Inf", Bits(inf)},
      {"-Inf", Bits(-inf)},
      {"inf", Bits(inf)},
      {"Infinity", Bits(inf)},
      {"-infinity", Bits(-inf)},
      {"1e3", Bits(1000)},
      {".5", Bits(0.5)},
      {"5.", Bits(5)},
      {"-0", Bits(-0.0)},
      {"1E-3", Bits(0.001)},
      {"+1", Bits(1)},
      {"1e-400", Bits(0)},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.value);
    ParseResult r = ParseAll(std::string("a ") + c.value + "\n", Format::kText);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.samples.size(), 1u);
    EXPECT_EQ(r.samples[0].bits, c.bits);
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(TextParserTest, TypesAndFamilies) {
  const std::string body =
      "# HELP c_total Requests.\n"
      "# TYPE c_total counter\n"
      "c_total{code=\"200\"} 10\n"
      "# TYPE g gauge\n"
      "g 1\n"
      "# TYPE h histogram\n"
      "h_bucket{le=\"1\"} 1\n"
      "h_bucket{le=\"+Inf\"} 2\n"
      "h_sum 3\n"
      "h_count 2\n"
      "# TYPE s summary\n"
      "s{quantile=\"0.5\"} 1\n"
      "s_sum 2\n"
      "s_count 3\n"
      "# TYPE u untyped\n"
      "u 4\n"
      "no_type 5\n"
      "# HELP other Only help.\n"
      "other 6\n"
      "# TYPE g2 gauge\n"
      "g2_bucket 7\n";
  ParseResult r = ParseAll(body, Format::kText);
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::vector<std::tuple<std::string, MetricType, std::string, size_t>> got;
  for (const auto& s : r.samples) {
    got.emplace_back(s.name, s.type, s.family, s.line);
  }
  using T = MetricType;
  EXPECT_THAT(got, ElementsAre(std::make_tuple("c_total", T::kCounter, "c_total", 3u),
                               std::make_tuple("g", T::kGauge, "g", 5u),
                               std::make_tuple("h_bucket", T::kHistogram, "h", 7u),
                               std::make_tuple("h_bucket", T::kHistogram, "h", 8u),
                               std::make_tuple("h_sum", T::kHistogram, "h", 9u),
                               std::make_tuple("h_count", T::kHistogram, "h", 10u),
                               std::make_tuple("s", T::kSummary, "s", 12u),
                               std::make_tuple("s_sum", T::kSummary, "s", 13u),
                               std::make_tuple("s_count", T::kSummary, "s", 14u),
                               std::make_tuple("u", T::kUnknown, "u", 16u),
                               std::make_tuple("no_type", T::kUnknown, "", 17u),
                               std::make_tuple("other", T::kUnknown, "", 19u),
                               std::make_tuple("g2_bucket", T::kUnknown, "", 21u)));
}

TEST(TextParserTest, CommentsBlankLinesAndMetadataForms) {
  const std::string body =
      "\n"s
      "   \n"
      "#\n"
      "# just a comment\n"
      "#HELP not metadata without a blank\n"
      "# HELP\n"
      "# HELPFUL words\n"
      "\t# TYPE a\tcounter\n"
      "# HELP a\n"
      "# HELP b help with \\n escapes \\\\ and \"quotes\" and \xc3\xbc\n"
      "# HELP c \0nul in help\n"
      "# TYPE \"q.name\" gauge\n"
      "a 1\n"
      "{\"q.name\"} 2\n"
      "\n";
  ParseResult r = ParseAll(std::string_view(body.data(), body.size()), Format::kText);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[0].type, MetricType::kUnknown);  // HELP b/c switched the family away
  EXPECT_EQ(r.samples[1].name, "q.name");
  EXPECT_EQ(r.samples[1].type, MetricType::kGauge);
  EXPECT_EQ(r.samples[1].family, "q.name");
  EXPECT_EQ(r.samples[1].line, 14u);
}

TEST(TextParserTest, LineNumbersCountRawNewlinesInValues) {
  ParseResult r = ParseAll("a{b=\"x\ny\"} 1\nc 2\n", Format::kText);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[0].line, 1u);
  EXPECT_EQ(r.samples[1].line, 3u);
  ParseResult bad = ParseAll("a{b=\"x\ny\"} z\n", Format::kText);
  EXPECT_THAT(std::string(bad.status.message()), StartsWith("2:5:"));
}

TEST(TextParserTest, EmptyBodyHasNoSamples) {
  for (std::string_view body : {"", "\n", "  \n\n", "# only comments\n", "   "}) {
    SCOPED_TRACE(body);
    ParseResult r = ParseAll(body, Format::kText);
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.samples.empty());
  }
}

TEST(TextParserTest, Rejections) {
  struct Case {
    std::string input;
    std::string position;  // "line:col"
    std::string reason;    // substring of the message
  };
  const Case cases[] = {
      {"a{b='c'} 1\n", "1:5", "double-quoted label value"},
      {"{b=\"c\"} 1\n", "1:1", "metric name not set"},
      {"{\"a\",\"b\"} 1\n", "1:6", "metric name given twice"},
      {"a{\"b\"} 1\n", "1:3", "metric name given twice"},
      {"{\"\"} 1\n", "1:2", "empty metric name"},
      {"a{\"\"=\"x\"} 1\n", "1:3", "empty label name"},
      {"a 0x1p-3\n", "1:3", "invalid sample value"},
      {"a 1_000\n", "1:3", "invalid sample value"},
      {"a 0x10\n", "1:3", "invalid sample value"},
      {"a 1.1.1\n", "1:3", "invalid sample value"},
      {"a abc\n", "1:3", "invalid sample value"},
      {"a 1e\n", "1:3", "invalid sample value"},
      {"a +nan\n", "1:3", "invalid sample value"},
      {"a infin\n", "1:3", "invalid sample value"},
      {"a 1e400\n", "1:3", "invalid sample value"},
      {"a 1P3\n", "1:3", "invalid sample value"},
      {"a\n", "1:2", "sample value"},
      {"a{b=\"c\"}\n", "1:9", "sample value"},
      {"a 1 -1\n", "1:5", "timestamp or a newline"},
      {"a 1 1.5\n", "1:6", "newline after the timestamp"},
      {"a 1 1e3\n", "1:6", "newline after the timestamp"},
      {"a 1 2 3\n", "1:7", "newline after the timestamp"},
      {"a 1 99999999999999999999\n", "1:5", "timestamp out of range"},
      {"a 1{\n", "1:4", "timestamp or a newline"},
      {"# TYPE a gaugehistogram\n", "1:10", "invalid metric type"},
      {"# TYPE a Counter\n", "1:10", "invalid metric type"},
      {"# TYPE a counter \n", "1:10", "invalid metric type"},
      {"# TYPE a  counter\n", "1:10", "invalid metric type"},
      {"# TYPE a\n", "1:9", "invalid metric type"},
      {"# TYPE a info\n", "1:10", "invalid metric type"},
      {"# TYPE 0a counter\n", "1:8", "metric name"},
      {"# HELP \n", "1:8", "metric name"},
      {"# HELP a{ x\n", "1:9", "blank after the metric name"},
      {"# HELP a \xff\n", "1:10", "HELP text is not valid UTF-8"},
      {"a{b=\"\xc3\x28\"} 1\n", "1:5", "not valid UTF-8"},
      {"a{b=\"\xc0\xaf\"} 1\n", "1:5", "not valid UTF-8"},
      {"a{b=\"\xed\xa0\x80\"} 1\n", "1:5", "not valid UTF-8"},
      {"{\"\xff\"} 1\n", "1:2", "not valid UTF-8"},
      {std::string("a\0 1\n", 5), "1:2", "sample value"},
      {std::string("a 1\0\n", 5), "1:3", "invalid sample value"},
      {std::string("# comment\0\n", 11), "1:10", "NUL"},
      {std::string("\0a 1\n", 5), "1:1", "metric name"},
      {"a 1", "1:4", "end of data"},
      {"a 1 5", "1:6", "end of data"},
      {"# HELP a x", "1:11", "end of data"},
      {"# comment", "1:10", "end of data"},
      {"a{b=\"c\" d=\"e\"} 1\n", "1:9", "',' or '}'"},
      {"a{b=\"c\",,} 1\n", "1:9", "label name"},
      {"a{,} 1\n", "1:3", "label name"},
      {"a{b} 1\n", "1:4", "'='"},
      {"a{b=c} 1\n", "1:5", "double-quoted label value"},
      {"a{b=\"c} 1\n", "1:5", "unterminated quoted string"},
      {"a{b=\"c\\\n\"} 1\n", "1:7", "invalid escape"},
      {"a{0b=\"c\"} 1\n", "1:3", "label name"},
      {"0a 1\n", "1:1", "metric name"},
      {"-a 1\n", "1:1", "metric name"},
      {"a 1\nb{c='d'} 1\n", "2:5", "double-quoted label value"},
      {"ok 1\n\n  bad value\n", "3:7", "invalid sample value"},
  };
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.input);
    ParseResult r = ParseAll(c.input, Format::kText);
    ASSERT_FALSE(r.status.ok());
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
    std::string msg(r.status.message());
    EXPECT_TRUE(HasPosition(msg)) << msg;
    EXPECT_THAT(msg, StartsWith(c.position + ": ")) << msg;
    EXPECT_THAT(msg, HasSubstr(c.reason)) << msg;
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(TextParserTest, ErrorStopsTheParseAndSticks) {
  Parser parser("a 1\nb x\nc 3\n", Format::kText);
  ASSERT_TRUE(parser.Next());
  EXPECT_EQ(parser.name(), "a");
  EXPECT_FALSE(parser.Next());
  EXPECT_FALSE(parser.status().ok());
  EXPECT_FALSE(parser.Next());
  EXPECT_THAT(std::string(parser.status().message()), StartsWith("2:3: "));
}

TEST(FormatTest, FromContentType) {
  struct Case {
    const char* content_type;
    std::optional<Format> want;
  };
  const Case cases[] = {
      {"text/plain; version=0.0.4; charset=utf-8", Format::kText},
      {"text/plain;version=1.0.0;escaping=allow-utf-8", Format::kText},
      {"TEXT/PLAIN", Format::kText},
      {"application/openmetrics-text; version=1.0.0; charset=utf-8", Format::kOpenMetrics},
      {" application/openmetrics-text ;version=0.0.1", Format::kOpenMetrics},
      {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily", std::nullopt},
      {"application/json", std::nullopt},
      {"", std::nullopt},
      {"text/plainx", std::nullopt},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.content_type);
    EXPECT_EQ(FormatFromContentType(c.content_type), c.want);
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(FormatTest, MetricTypeNames) {
  EXPECT_EQ(MetricTypeName(MetricType::kCounter), "counter");
  EXPECT_EQ(MetricTypeName(MetricType::kGauge), "gauge");
  EXPECT_EQ(MetricTypeName(MetricType::kHistogram), "histogram");
  EXPECT_EQ(MetricTypeName(MetricType::kGaugeHistogram), "gaugehistogram");
  EXPECT_EQ(MetricTypeName(MetricType::kSummary), "summary");
  EXPECT_EQ(MetricTypeName(MetricType::kInfo), "info");
  EXPECT_EQ(MetricTypeName(MetricType::kStateset), "stateset");
  EXPECT_EQ(MetricTypeName(MetricType::kUnknown), "unknown");
}

}  // namespace
}  // namespace tender::textparse
