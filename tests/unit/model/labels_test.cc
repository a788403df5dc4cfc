#include "collector/model/labels.h"

#include <gtest/gtest.h>

namespace tender::model {
namespace {

TEST(LabelsTest, NormalizeSortsDedupsAndDropsEmpty) {
  Labels l = {{"b", "2"}, {"a", "1"}, {"c", ""}, {"b", "3"}};
  Normalize(l);
  EXPECT_EQ(l, (Labels{{"a", "1"}, {"b", "3"}}));
}

TEST(LabelsTest, GetAndSet) {
  Labels l = {{"a", "1"}, {"c", "3"}};
  EXPECT_EQ(Get(l, "a"), "1");
  EXPECT_EQ(Get(l, "b"), "");
  Set(l, "b", "2");
  EXPECT_EQ(l, (Labels{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  Set(l, "a", "");
  EXPECT_EQ(l, (Labels{{"b", "2"}, {"c", "3"}}));
  Set(l, "c", "x");
  EXPECT_EQ(Get(l, "c"), "x");
}

TEST(LabelsTest, ToStringEscapes) {
  EXPECT_EQ(ToString({{"a", "x\"y\\z\n"}}), "{a=\"x\\\"y\\\\z\\n\"}");
  EXPECT_EQ(ToString({}), "{}");
}

}  // namespace
}  // namespace tender::model
