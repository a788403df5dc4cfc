#include "collector/textparse/number.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "collector/model/utf8.h"
#include "gtest/gtest.h"

namespace tender::textparse {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

TEST(ParseGoFloatTest, AcceptsGoSyntax) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* text;
    double want;
  };
  const Case cases[] = {
      {"0", 0},
      {"1", 1},
      {"-1", -1},
      {"+1", 1},
      {"1.5", 1.5},
      {".5", 0.5},
      {"5.", 5},
      {"-.5e-3", -0.0005},
      {"1e3", 1000},
      {"1E+3", 1000},
      {"1e-3", 0.001},
      {"00012", 12},
      {"+Inf", inf},
      {"-Inf", -inf},
      {"inf", inf},
      {"INF", inf},
      {"Infinity", inf},
      {"-infinity", -inf},
      {"1.7e+09", 1.7e9},
      {"12345678901234567890", 12345678901234567890.0},
      {"4.9e-324", 4.9e-324},
      {"1e-400", 0},
      {"-1e-400", -0.0},
      {"0.000000000000000000000000001", 1e-27},
      {"1.7976931348623157e308", 1.7976931348623157e308},
      {"0e999999", 0},
      {"18446744073709551615", 18446744073709551615.0},
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.text);
    double got = -42;
    ASSERT_TRUE(ParseGoFloat(c.text, &got));
    EXPECT_EQ(Bits(got), Bits(c.want));
  };
  for (const Case& c : cases) {
    check(c);
  }
  double nan_value = 0;
  ASSERT_TRUE(ParseGoFloat("NaN", &nan_value));
  EXPECT_TRUE(std::isnan(nan_value));
  ASSERT_TRUE(ParseGoFloat("nan", &nan_value));
  EXPECT_TRUE(std::isnan(nan_value));
}

TEST(ParseGoFloatTest, RejectsEverythingElse) {
  const char* cases[] = {"",     "+",    "-",     ".",      "e5",   "1e",     "1e+",    "1.1.1",
                         "1z",   "a",    "0x1",   "0x1p-3", "0o1",  "0b1",    "1_2",    "+nan",
                         "-NaN", "nanx", "infi",  "infin",  "+-1",  "1e400",  "-1e400", " 1",
                         "1 ",   "1,5",  "1e1.5", "++1",    "inf1", "1.8e308"};
  auto check = [](const char* text) {
    SCOPED_TRACE(text);
    double got;
    EXPECT_FALSE(ParseGoFloat(text, &got));
  };
  for (const char* c : cases) {
    check(c);
  }
}

// The exact fast path must agree bit for bit with a correctly rounding conversion.
TEST(ParseGoFloatTest, MatchesStrtodOnRandomDecimals) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    std::string s;
    if (rng() % 4 == 0) s += '-';
    int int_digits = static_cast<int>(rng() % 12);
    for (int d = 0; d < int_digits; ++d) s += static_cast<char>('0' + rng() % 10);
    if (rng() % 2 == 0 || int_digits == 0) {
      s += '.';
      int frac = static_cast<int>(rng() % 20) + (int_digits == 0 ? 1 : 0);
      for (int d = 0; d < frac; ++d) s += static_cast<char>('0' + rng() % 10);
    }
    if (rng() % 3 == 0) {
      s += 'e';
      s += std::to_string(static_cast<int>(rng() % 80) - 40);
    }
    SCOPED_TRACE(s);
    double got;
    ASSERT_TRUE(ParseGoFloat(s, &got));
    EXPECT_EQ(Bits(got), Bits(std::strtod(s.c_str(), nullptr)));
  }
}

TEST(ParseDecimalInt64Test, Range) {
  int64_t v;
  ASSERT_TRUE(ParseDecimalInt64("9223372036854775807", &v));
  EXPECT_EQ(v, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(ParseDecimalInt64("0001700000000000", &v));
  EXPECT_EQ(v, 1700000000000);
  EXPECT_FALSE(ParseDecimalInt64("9223372036854775808", &v));
  EXPECT_FALSE(ParseDecimalInt64("", &v));
  EXPECT_FALSE(ParseDecimalInt64("-1", &v));
  EXPECT_FALSE(ParseDecimalInt64("1a", &v));
}

TEST(CanonicalBitsTest, EveryNaNBecomesTheCanonicalOne) {
  double stale;
  uint64_t stale_bits = 0x7ff0000000000002ULL;
  std::memcpy(&stale, &stale_bits, sizeof(stale));
  EXPECT_EQ(CanonicalBits(stale), kCanonicalNaNBits);
  EXPECT_EQ(CanonicalBits(std::numeric_limits<double>::quiet_NaN()), kCanonicalNaNBits);
  EXPECT_EQ(CanonicalBits(-std::numeric_limits<double>::quiet_NaN()), kCanonicalNaNBits);
  EXPECT_EQ(CanonicalBits(1.5), Bits(1.5));
}

TEST(Utf8Test, Validation) {
  struct Case {
    std::string text;
    bool valid;
  };
  const Case cases[] = {
      {"", true},
      {"plain ascii longer than eight bytes", true},
      {std::string("nul\0inside", 10), true},
      {"\xc3\xbc", true},                  // ü
      {"\xe6\x97\xa5\xe6\x9c\xac", true},  // 日本
      {"\xf0\x9f\x98\x80", true},          // U+1F600
      {"\xc3\x28", false},                 // bad continuation
      {"\xc0\xaf", false},                 // overlong
      {"\xe0\x80\xaf", false},             // overlong
      {"\xed\xa0\x80", false},             // surrogate
      {"\xf4\x90\x80\x80", false},         // above U+10FFFF
      {"\xff", false},
      {"abc\xe6\x97", false},  // truncated
  };
  auto check = [](const Case& c) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(model::ValidUtf8(c.text), c.valid);
  };
  for (const Case& c : cases) {
    check(c);
  }
  EXPECT_EQ(model::CountCodePoints("a\xc3\xbc\xe6\x97\xa5\xf0\x9f\x98\x80"), 4u);
}

}  // namespace
}  // namespace tender::textparse
