// Fuzz-style robustness test without libFuzzer: 20,000 random mutations of the fixtures (fixed
// seed) go through every parser mode. The parser must never crash or read out of bounds (run
// this under -DTENDER_ASAN=ON), and every error must carry a plausible "line:col: " prefix.
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "collector/textparse/check.h"
#include "collector/textparse/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/textparse/test_util.h"

namespace tender::textparse {
namespace {

using ::tender::textparse::testing::ReadFixture;

// Fragments that steer mutations toward interesting parser states.
const char* const kTokens[] = {
    "\n",
    " ",
    "\t",
    "#",
    "# EOF\n",
    "# TYPE ",
    "# HELP ",
    "# UNIT ",
    "{",
    "}",
    "=",
    ",",
    "\"",
    "\\",
    "\\n",
    "\\\"",
    "NaN",
    "+Inf",
    "-Inf",
    "1e400",
    "0x1p3",
    "1_0",
    " # {",
    "} 1 1",
    "le",
    "_total",
    "_bucket",
    "\xc3",
    "\xe6\x97\xa5",
    "\xff",
    "counter",
    "histogram",
    "gaugehistogram",
    "stateset",
    "info",
    "summary",
    "_count",
    "_sum",
    "quantile=\"0.5\"",
    "le=\"+Inf\"",
};

std::string Slice(const std::string& body, size_t max_bytes) {
  if (body.size() <= max_bytes) {
    return body;
  }
  size_t cut = body.rfind('\n', max_bytes);
  return body.substr(0, cut == std::string::npos ? max_bytes : cut + 1);
}

void Mutate(std::mt19937_64& rng, std::string* s) {
  auto pos = [&]() { return s->empty() ? size_t{0} : static_cast<size_t>(rng() % s->size()); };
  switch (rng() % 8) {
    case 0:  // flip a byte
      if (!s->empty()) (*s)[pos()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:  // random byte
      s->insert(pos(), 1, static_cast<char>(rng() % 256));
      break;
    case 2:  // token
      s->insert(pos(), kTokens[rng() % std::size(kTokens)]);
      break;
    case 3: {  // erase a range
      size_t p = pos();
      s->erase(p, std::min<size_t>(rng() % 64, s->size() - p));
      break;
    }
    case 4: {  // duplicate a range
      size_t p = pos();
      std::string chunk = s->substr(p, rng() % 200);
      s->insert(pos(), chunk);
      break;
    }
    case 5:  // truncate
      s->resize(pos());
      break;
    case 6: {  // swap two lines
      size_t a = s->find('\n', pos());
      size_t b = s->find('\n', pos());
      if (a != std::string::npos && b != std::string::npos && a != b) {
        std::swap((*s)[a], (*s)[std::min(b + 1, s->size() - 1)]);
      }
      break;
    }
    default:  // overwrite with a NUL or a newline
      if (!s->empty()) (*s)[pos()] = (rng() % 2) ? '\0' : '\n';
      break;
  }
}

// Checks "L:C: reason" with 1 <= L <= lines + 1 and C >= 1.
void ExpectPositioned(const absl::Status& status, const std::string& body) {
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  std::string msg(status.message());
  size_t c1 = msg.find(':');
  ASSERT_NE(c1, std::string::npos) << msg;
  size_t c2 = msg.find(':', c1 + 1);
  ASSERT_NE(c2, std::string::npos) << msg;
  ASSERT_GT(c1, 0u) << msg;
  ASSERT_GT(c2, c1 + 1) << msg;
  ASSERT_TRUE(std::all_of(msg.begin(), msg.begin() + static_cast<long>(c1), ::isdigit)) << msg;
  ASSERT_TRUE(std::all_of(msg.begin() + static_cast<long>(c1) + 1,
                          msg.begin() + static_cast<long>(c2), ::isdigit))
      << msg;
  ASSERT_EQ(msg.compare(c2, 2, ": "), 0) << msg;
  size_t line = std::stoul(msg.substr(0, c1));
  size_t col = std::stoul(msg.substr(c1 + 1, c2 - c1 - 1));
  size_t lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n'));
  EXPECT_GE(line, 1u) << msg;
  EXPECT_LE(line, lines + 1) << msg;
  EXPECT_GE(col, 1u) << msg;
  EXPECT_LE(col, body.size() + 1) << msg;
}

TEST(FuzzTest, RandomMutationsNeverCrashAndErrorsHavePositions) {
  std::vector<std::string> seeds = {Slice(ReadFixture("cadvisor.txt"), 12000),
                                    Slice(ReadFixture("ksm.txt"), 12000),
                                    Slice(ReadFixture("node.txt"), 12000), ReadFixture("om.txt")};
  for (const auto& s : seeds) {
    ASSERT_FALSE(s.empty());
  }
  std::mt19937_64 rng(20240611);
  size_t parsed_ok = 0;
  size_t failed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[rng() % seeds.size()];
    int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      Mutate(rng, &body);
    }
    for (int mode = 0; mode < 3; ++mode) {
      Format format = mode == 0 ? Format::kText : Format::kOpenMetrics;
      Parser parser(body, format, ParserOptions{.strict = mode == 2});
      size_t samples = 0;
      while (parser.Next()) {
        ++samples;
        // Touch every view so ASan sees any dangling or out-of-range one.
        size_t sum = parser.name().size() + parser.family_name().size();
        for (size_t l = 0; l < parser.num_labels(); ++l) {
          for (char c : parser.label_name(l)) sum += static_cast<unsigned char>(c);
          for (char c : parser.label_value(l)) sum += static_cast<unsigned char>(c);
        }
        EXPECT_GE(parser.line(), 1u);
        EXPECT_FALSE(parser.name().empty());
        (void)sum;
      }
      if (parser.status().ok()) {
        ++parsed_ok;
      } else {
        ++failed;
        ExpectPositioned(parser.status(), body);
        if (::testing::Test::HasFailure()) {
          FAIL() << "iteration " << i << " mode " << mode;
        }
      }
    }
  }
  // Both outcomes must be exercised for the test to mean anything.
  EXPECT_GT(parsed_ok, 1000u);
  EXPECT_GT(failed, 10000u);
}

TEST(FuzzTest, CheckExpositionSurvivesMutations) {
  std::string seed = ReadFixture("om.txt");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string body = seed;
    Mutate(rng, &body);
    std::string out;
    absl::Status st = CheckExposition(body, std::nullopt, (i % 2) == 0, true, &out);
    if (!st.ok()) {
      ExpectPositioned(st, body);
    }
  }
}

}  // namespace
}  // namespace tender::textparse
