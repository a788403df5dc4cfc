#include "collector/model/hash.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <unordered_set>

namespace tender::model {
namespace {

TEST(HashTest, DeterministicAndSeeded) {
  EXPECT_EQ(Hash64("abc"), Hash64("abc"));
  EXPECT_NE(Hash64("abc"), Hash64("abd"));
  EXPECT_NE(Hash64("abc", 1), Hash64("abc", 2));
  EXPECT_NE(Hash64(""), Hash64(std::string_view("\0", 1)));
}

TEST(HashTest, NoCollisionsOverSeriesLikeCorpus) {
  std::unordered_set<uint64_t> seen;
  for (int i = 0; i < 200000; ++i) {
    std::string s = "container_cpu_usage_seconds_total{pod=\"p" + std::to_string(i % 997) +
                    "\",container=\"c" + std::to_string(i) + "\"}";
    ASSERT_TRUE(seen.insert(Hash64(s)).second) << s;
  }
  // Every length from 0 to 64 with one byte changed gives a different hash.
  for (size_t n = 1; n <= 64; ++n) {
    std::string a(n, 'x');
    std::string b = a;
    b[n - 1] = 'y';
    EXPECT_NE(Hash64(a), Hash64(b)) << n;
  }
}

TEST(HashTest, Avalanche) {
  // Flipping one input bit flips about half the output bits on average.
  std::string base = "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}";
  const uint64_t h0 = Hash64(base);
  double total = 0;
  int n = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string s = base;
      s[i] = static_cast<char>(s[i] ^ (1 << bit));
      total += std::popcount(h0 ^ Hash64(s));
      ++n;
    }
  }
  const double mean = total / n;
  EXPECT_GT(mean, 28.0);
  EXPECT_LT(mean, 36.0);
}

}  // namespace
}  // namespace tender::model
