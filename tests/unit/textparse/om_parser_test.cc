// OpenMetrics 1.0 text, lax mode (as Prometheus's own OpenMetrics parser): protocols.md §2.1.
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
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(OmParserTest, Timestamps) {
  struct Case {
    const char* ts;
    int64_t ms;
  };
  const Case cases[] = {
      {"1520879607.789", 1520879607789},
      {"1520879607", 1520879607000},
      {"-1.5", -1500},
      {"1.0009", 1000},
      {"-0.0009", 0},
      {"1e3", 1000000},
      {"0", 0},
      {".5", 500},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.ts);
    ParseResult r = ParseAll(std::string("a 1 ") + c.ts + "\n# EOF\n", Format::kOpenMetrics);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.samples.size(), 1u);
    EXPECT_TRUE(r.samples[0].has_timestamp);
    EXPECT_EQ(r.samples[0].timestamp_ms, c.ms);
  };
  for (const Case& c : cases) {
    check(c);
  }
}

TEST(OmParserTest, TypesFamiliesAndExemplars) {
  const std::string body =
      "# TYPE foo counter\n"
      "# UNIT foo_seconds seconds\n"
      "# TYPE foo counter\n"
      "# HELP foo Help with \\\"escapes\\\" and \\n.\n"
      "foo_total{a=\"b\"} 1 # {trace_id=\"x\"} 0.5 123.4\n"
      "foo_created{a=\"b\"} 1.6e9\n"
      "# TYPE i info\n"
      "i_info{v=\"1\"} 1\n"
      "# TYPE gh gaugehistogram\n"
      "gh_bucket{le=\"+Inf\"} 1 1700000000 # {} 1\n"
      "gh_gcount 1\n"
      "gh_gsum 2\n"
      "# TYPE st stateset\n"
      "st{st=\"a\"} 1\n"
      "# TYPE un unknown\n"
      "un 3\n"
      "# HELP h \n"
      "h 4\n"
      "# EOF";
  ParseResult r = ParseAll(body, Format::kOpenMetrics);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 9u);
  using T = MetricType;
  const std::vector<std::tuple<std::string, T, std::string, bool>> want = {
      {"foo_total", T::kCounter, "foo", true},
      {"foo_created", T::kCounter, "foo", false},
      {"i_info", T::kInfo, "i", false},
      {"gh_bucket", T::kGaugeHistogram, "gh", true},
      {"gh_gcount", T::kGaugeHistogram, "gh", false},
      {"gh_gsum", T::kGaugeHistogram, "gh", false},
      {"st", T::kStateset, "st", false},
      {"un", T::kUnknown, "un", false},
      {"h", T::kUnknown, "", false},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r.samples[i].name, std::get<0>(want[i]));
    EXPECT_EQ(r.samples[i].type, std::get<1>(want[i]));
    EXPECT_EQ(r.samples[i].family, std::get<2>(want[i]));
    EXPECT_EQ(r.samples[i].has_exemplar, std::get<3>(want[i]));
  }
  EXPECT_EQ(r.samples[3].timestamp_ms, 1700000000000);
  EXPECT_EQ(r.samples[0].labels.size(), 1u);  // exemplar labels are not sample labels
}

TEST(OmParserTest, LaxLikePrometheus) {
  // Accepted without strict mode, rejected with it (see om_strict_test.cc).
  const char* cases[] = {
      "# TYPE a counter\na 1\n# EOF\n",                     // counter without _total
      "a{b=\"c\",} 1\n# EOF\n",                             // trailing comma
      "{\"my.metric\",\"la.bel\"=\"v\"} 1\n# EOF\n",        // quoted names
      "a 1\nb 1\na 2\n# EOF\n",                             // interleaved
      "a 1 2\na 1 1\n# EOF\n",                              // decreasing timestamps
      "# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n",         // exemplar on a gauge
      "# TYPE a histogram\na_bucket{le=\"1\"} 0\n# EOF\n",  // no +Inf bucket
      "# TYPE a info\na_info 2\n# EOF\n",                   // info value
  };
  auto check = [](const char* input) {
    SCOPED_TRACE(input);
    ParseResult lax = ParseAll(input, Format::kOpenMetrics, false);
    EXPECT_TRUE(lax.status.ok()) << lax.status;
    ParseResult strict = ParseAll(input, Format::kOpenMetrics, true);
    EXPECT_FALSE(strict.status.ok());
  };
  for (const char* c : cases) {
    check(c);
  }
}

TEST(OmParserTest, Rejections) {
  struct Case {
    std::string input;
    std::string position;
    std::string reason;
  };
  const Case cases[] = {
      {"a 1\n", "2:1", "does not end with # EOF"},
      {"", "1:1", "does not end with # EOF"},
      {"a 1", "1:4", "does not end with # EOF"},
      {"# EOF\na 1\n", "2:1", "after # EOF"},
      {"# EOF\n\n", "2:1", "after # EOF"},
      {"# EOF \n", "1:1", "invalid comment"},
      {"a 1\n\n# EOF\n", "2:1", "blank lines"},
      {" a 1\n# EOF\n", "1:1", "metric name"},
      {"a  1\n# EOF\n", "1:3", "expected a sample value"},
      {"a\t1\n# EOF\n", "1:2", "space and the sample value"},
      {"a 1 \n# EOF\n", "1:5", "invalid timestamp"},
      {"a 1\r\n# EOF\n", "1:3", "invalid sample value"},
      {"a{ b=\"c\"} 1\n# EOF\n", "1:3", "label name"},
      {"a{b=\"c\"}  1\n# EOF\n", "1:10", "expected a sample value"},
      {"# FOO a x\n# EOF\n", "1:1", "only # TYPE, # HELP, # UNIT and # EOF"},
      {"#comment\n# EOF\n", "1:1", "only # TYPE"},
      {"# HELP a\n# EOF\n", "1:9", "space and text"},
      {"# UNIT a\n# EOF\n", "1:9", "space and text"},
      {"# TYPE a untyped\n# EOF\n", "1:10", "invalid metric type"},
      {"# TYPE a counter \n# EOF\n", "1:10", "invalid metric type"},
      {"# TYPE a\tcounter\n# EOF\n", "1:9", "space and text"},
      {"# UNIT a seconds\n# EOF\n", "1:10", "not a suffix"},
      {"# UNIT a_seconds_total seconds\n# EOF\n", "1:24", "not a suffix"},
      {"# HELP a \xff\n# EOF\n", "1:10", "not valid UTF-8"},
      {"a 1 NaN\n# EOF\n", "1:5", "finite"},
      {"a 1 +Inf\n# EOF\n", "1:5", "finite"},
      {"a 1 1.5.5\n# EOF\n", "1:5", "invalid timestamp"},
      {"a 1 1_5\n# EOF\n", "1:5", "invalid timestamp"},
      {"a 1 1e30\n# EOF\n", "1:5", "out of range"},
      {"a_total 1 # {a=\"b\"}\n# EOF\n", "1:20", "space and the exemplar value"},
      {"a_total 1 #\n# EOF\n", "1:11", "exemplar"},
      {"a_total 1 # a\n# EOF\n", "1:11", "exemplar"},
      {"a_total 1 # {a=\"b\"} x\n# EOF\n", "1:21", "invalid exemplar value"},
      {"a_total 1 # {a=\"b\"} 1 NaN\n# EOF\n", "1:23", "invalid exemplar timestamp"},
      {"a_total 1 # {a=\"b\"} 1 1 \n# EOF\n", "1:24", "newline"},
      {"a{b=\"c\nd\"} 1\n# EOF\n", "1:7", "newline in quoted string"},
      {"a 1 # {} 1\n", "2:1", "does not end with # EOF"},
  };
  auto check = [&](const Case& c) {
    SCOPED_TRACE(c.input);
    ParseResult r = ParseAll(c.input, Format::kOpenMetrics);
    ASSERT_FALSE(r.status.ok());
    std::string msg(r.status.message());
    EXPECT_TRUE(HasPosition(msg)) << msg;
    EXPECT_THAT(msg, StartsWith(c.position + ": ")) << msg;
    EXPECT_THAT(msg, HasSubstr(c.reason)) << msg;
  };
  for (const Case& c : cases) {
    check(c);
  }
}

}  // namespace
}  // namespace tender::textparse
