#include "collector/model/log.h"

#include <gtest/gtest.h>

namespace tender::log {
namespace {

TEST(LogTest, ParseLevelAndFormat) {
  Level l;
  EXPECT_TRUE(ParseLevel("debug", &l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_TRUE(ParseLevel("error", &l));
  EXPECT_EQ(l, Level::kError);
  EXPECT_FALSE(ParseLevel("verbose", &l));
  Format f;
  EXPECT_TRUE(ParseFormat("json", &f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_FALSE(ParseFormat("xml", &f));
}

TEST(LogTest, LevelFilter) {
  SetLevel(Level::kWarn);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  SetLevel(Level::kInfo);
}

TEST(LogTest, ThrottleLetsOneThroughAndCountsTheRest) {
  Throttle t(absl::Hours(1));
  uint64_t suppressed = 99;
  EXPECT_TRUE(t.Allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(t.Allow(&suppressed));
  Throttle zero(absl::ZeroDuration());
  EXPECT_TRUE(zero.Allow(&suppressed));
}

}  // namespace
}  // namespace tender::log
