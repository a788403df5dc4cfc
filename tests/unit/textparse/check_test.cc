#include "collector/textparse/check.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tender::textparse {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CheckExpositionTest, PrintsOneJsonObjectPerSample) {
  const std::string body =
      "# TYPE c counter\n"
      "c{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1.5 1700000000000\n"
      "g NaN\n"
      "h +Inf\n"
      "i -Inf\n"
      "j 1e+21\n"
      "k 0.1\n"
      "l -0\n"
      "m{ctl=\"\t\"} 100\n";
  std::string out;
  absl::Status st = CheckExposition(body, Format::kText, false, true, &out);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(out,
            "{\"name\":\"c\",\"labels\":{\"a\":\"q\\\"uote\",\"b\":\"back\\\\slash\\nnl\"},"
            "\"value\":1.5,\"timestamp_ms\":1700000000000,\"type\":\"counter\"}\n"
            "{\"name\":\"g\",\"labels\":{},\"value\":\"NaN\",\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"h\",\"labels\":{},\"value\":\"+Inf\",\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"i\",\"labels\":{},\"value\":\"-Inf\",\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"j\",\"labels\":{},\"value\":1e+21,\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"k\",\"labels\":{},\"value\":0.1,\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"l\",\"labels\":{},\"value\":-0,\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n"
            "{\"name\":\"m\",\"labels\":{\"ctl\":\"\\t\"},\"value\":100,\"timestamp_ms\":null,"
            "\"type\":\"unknown\"}\n");
}

TEST(CheckExpositionTest, AutoDetectsOpenMetricsByTheEofLine) {
  struct Case {
    const char* body;
    Format want;
  };
  const Case cases[] = {
      {"a 1\n# EOF\n", Format::kOpenMetrics},
      {"a 1\n# EOF", Format::kOpenMetrics},
      {"a 1\n# EOF\n\n\n", Format::kOpenMetrics},
      {"a 1\n", Format::kText},
      {"# EOF\na 1\n", Format::kText},
      {"", Format::kText},
      {"a 1\n# EOF \n", Format::kText},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.body);
    EXPECT_EQ(DetectFormat(c.body), c.want);
  };
  for (const Case& c : cases) {
    check(c);
  }
  // An OM-only construct parses under auto-detection, and the OM timestamp is seconds.
  std::string out;
  ASSERT_TRUE(
      CheckExposition("# TYPE a counter\na_total 1 1.5\n# EOF\n", std::nullopt, true, true, &out)
          .ok());
  EXPECT_EQ(out,
            "{\"name\":\"a_total\",\"labels\":{},\"value\":1,\"timestamp_ms\":1500,"
            "\"type\":\"counter\"}\n");
}

TEST(CheckExpositionTest, ReturnsTheFirstErrorWithPosition) {
  std::string out;
  absl::Status st = CheckExposition("a 1\nb{c='d'} 2\n", std::nullopt, false, true, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), StartsWith("2:5: "));
  EXPECT_THAT(out, HasSubstr("\"name\":\"a\""));  // samples before the error are printed
  // Strict applies to OpenMetrics only.
  absl::Status strict =
      CheckExposition("# TYPE a counter\na 1\n# EOF\n", std::nullopt, true, false, nullptr);
  EXPECT_FALSE(strict.ok());
  EXPECT_TRUE(
      CheckExposition("# TYPE a counter\na 1\n# EOF\n", std::nullopt, false, false, nullptr).ok());
}

}  // namespace
}  // namespace tender::textparse
