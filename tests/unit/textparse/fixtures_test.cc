// The checked-in fixtures (tests/tools/gen_fixtures.py) parse completely, with exactly the
// sample counts the generator recorded in MANIFEST and that a line count gives independently.
#include <map>
#include <sstream>
#include <string>

#include "collector/textparse/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/textparse/test_util.h"

namespace tender::textparse {
namespace {

using ::tender::textparse::testing::ReadFixture;

std::map<std::string, size_t> ReadManifest() {
  std::map<std::string, size_t> counts;
  std::istringstream in(ReadFixture("MANIFEST"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream fields(line);
    std::string file;
    size_t n = 0;
    fields >> file >> n;
    counts[file] = n;
  }
  return counts;
}

// Sample lines are the non-empty lines that are not comments (no fixture has a newline inside
// a label value).
size_t CountSampleLines(const std::string& body) {
  size_t n = 0;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    n += (!line.empty() && line[0] != '#') ? 1 : 0;
  }
  return n;
}

struct Stats {
  size_t samples = 0;
  size_t with_timestamp = 0;
  size_t typed = 0;
  size_t labels = 0;
};

Stats ParseFixture(const std::string& body, Format format, bool strict) {
  Stats st;
  Parser parser(body, format, ParserOptions{.strict = strict});
  while (parser.Next()) {
    ++st.samples;
    st.with_timestamp += parser.has_timestamp() ? 1 : 0;
    st.typed += parser.family_name().empty() ? 0 : 1;
    st.labels += parser.num_labels();
  }
  EXPECT_TRUE(parser.status().ok()) << parser.status();
  return st;
}

TEST(FixturesTest, ManifestListsEveryFixture) {
  std::map<std::string, size_t> counts = ReadManifest();
  ASSERT_EQ(counts.size(), 4u);
  for (const char* file : {"cadvisor.txt", "ksm.txt", "node.txt", "om.txt"}) {
    EXPECT_TRUE(counts.contains(file)) << file;
  }
}

TEST(FixturesTest, TextFixturesParseWithExactCounts) {
  std::map<std::string, size_t> counts = ReadManifest();
  auto check = [&](const std::string& file) {
    SCOPED_TRACE(file);
    std::string body = ReadFixture(file);
    ASSERT_FALSE(body.empty());
    Stats st = ParseFixture(body, Format::kText, false);
    EXPECT_EQ(st.samples, counts[file]);
    EXPECT_EQ(st.samples, CountSampleLines(body));
    // Every family in the generated fixtures has a TYPE line (untyped ones too).
    EXPECT_EQ(st.typed, st.samples);
    if (file == "cadvisor.txt") {
      EXPECT_EQ(st.with_timestamp, st.samples);  // the kubelet stamps every sample
      EXPECT_GE(st.samples, 5500u);
      EXPECT_GE(st.labels, st.samples * 6);
    } else {
      EXPECT_EQ(st.with_timestamp, 0u);
    }
  };
  for (const char* file : {"cadvisor.txt", "ksm.txt", "node.txt"}) {
    check(file);
  }
}

TEST(FixturesTest, OpenMetricsFixtureIsStrictlyValid) {
  std::map<std::string, size_t> counts = ReadManifest();
  std::string body = ReadFixture("om.txt");
  for (bool strict : {false, true}) {
    SCOPED_TRACE(strict);
    Stats st = ParseFixture(body, Format::kOpenMetrics, strict);
    EXPECT_EQ(st.samples, counts["om.txt"]);
    EXPECT_EQ(st.samples, CountSampleLines(body));
  }
}

}  // namespace
}  // namespace tender::textparse
