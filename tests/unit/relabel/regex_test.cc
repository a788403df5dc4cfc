// The fast matchers must agree with RE2 on every input: each pattern is compiled both ways and
// run over many generated strings (valid UTF-8, with newlines and metacharacters), comparing
// Match and the capture groups; then whole rule lists are compared the same way.
#include "collector/relabel/regex.h"

#include <random>
#include <string>
#include <vector>

#include "collector/relabel/relabeler.h"
#include "gtest/gtest.h"

namespace tender::relabel {
namespace {

using internal::Regex;
using Kind = Regex::Kind;

const char* const kTokens[] = {"",
                               "a",
                               "b",
                               "c",
                               "foo",
                               "bar",
                               "o",
                               ".",
                               "|",
                               "_",
                               "x",
                               "\n",
                               "é",
                               "Ж",
                               "-",
                               " ",
                               "\\",
                               "id",
                               "name",
                               "container_tasks_state",
                               "__meta_",
                               "container_",
                               "go_gc_duration_seconds",
                               "foo.bar",
                               "a|b",
                               "x-y/z:w a",
                               "42"};

std::vector<std::string> GeneratedInputs(size_t n) {
  std::vector<std::string> out;
  for (const char* t : kTokens) {
    out.emplace_back(t);
  }
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> token(0, std::size(kTokens) - 1);
  std::uniform_int_distribution<int> length(0, 5);
  while (out.size() < n) {
    std::string s;
    for (int i = length(rng); i > 0; --i) {
      s += kTokens[token(rng)];
    }
    out.push_back(std::move(s));
  }
  return out;
}

struct PatternCase {
  std::string pattern;
  Kind kind;  // what the fast compile must choose
};

const std::vector<PatternCase>& Patterns() {
  static const auto* const kPatterns = new std::vector<PatternCase>{
      {".*", Kind::kAny},
      {"(.*)", Kind::kAny},
      {"(?:.*)", Kind::kAny},
      {".+", Kind::kNonEmpty},
      {"(.+)", Kind::kNonEmpty},
      {"", Kind::kLiteral},
      {"foo", Kind::kLiteral},
      {"(foo)", Kind::kLiteral},
      {"foo\\.bar", Kind::kLiteral},
      {"a\\|b", Kind::kLiteral},
      {"x-y/z:w a", Kind::kLiteral},
      {"a|b|c", Kind::kAlternation},
      {"(a|b)", Kind::kAlternation},
      {"(?:foo|bar|)", Kind::kAlternation},
      {"id|name", Kind::kAlternation},
      {"container_tasks_state|container_memory_failures_total|go_gc_duration_seconds|a|b|c|d|"
       "e|f|foo",
       Kind::kAlternation},
      {"foo.*", Kind::kPrefix},
      {"foo.+", Kind::kPrefix},
      {"(container_.*)", Kind::kPrefix},
      {"__meta_.*", Kind::kPrefix},
      {".*foo", Kind::kSuffix},
      {"(?:.*o)", Kind::kSuffix},
      {".*foo.*", Kind::kContains},
      {".*.*", Kind::kContains},
      {"(a)(b)", Kind::kRe2},
      {"(a)|(b)", Kind::kRe2},
      {"fo+", Kind::kRe2},
      {"(?i)foo", Kind::kRe2},
      {"[ab]", Kind::kRe2},
      {"a|b.*", Kind::kRe2},
      {"foo\\.*", Kind::kRe2},
      {"\\d+", Kind::kRe2},
      {".*foo.+", Kind::kRe2},
      {"é", Kind::kRe2},
      {"(?P<n>foo)", Kind::kRe2},
      {"^foo$", Kind::kRe2},
  };
  return *kPatterns;
}

TEST(RegexTest, FastKindsAreChosen) {
  for (const PatternCase& pc : Patterns()) {
    SCOPED_TRACE(pc.pattern);
    auto fast = Regex::Compile(pc.pattern, /*allow_fast=*/true);
    ASSERT_TRUE(fast.ok()) << fast.status();
    EXPECT_EQ(fast->kind(), pc.kind);
    auto slow = Regex::Compile(pc.pattern, /*allow_fast=*/false);
    ASSERT_TRUE(slow.ok());
    EXPECT_EQ(slow->kind(), Kind::kRe2);
    EXPECT_EQ(fast->num_groups(), slow->num_groups());
  }
}

TEST(RegexTest, FastMatchersAgreeWithRe2) {
  const std::vector<std::string> inputs = GeneratedInputs(20000);
  for (const PatternCase& pc : Patterns()) {
    SCOPED_TRACE(pc.pattern);
    auto fast = Regex::Compile(pc.pattern, true);
    auto slow = Regex::Compile(pc.pattern, false);
    ASSERT_TRUE(fast.ok() && slow.ok());
    const int n = slow->num_groups() + 1;
    std::vector<std::string_view> fast_groups(n), slow_groups(n);
    size_t matches = 0;
    for (const std::string& in : inputs) {
      const bool want = slow->Match(in);
      ASSERT_EQ(fast->Match(in), want) << "input \"" << in << "\"";
      ASSERT_EQ(fast->MatchGroups(in, fast_groups.data()), want) << "input \"" << in << "\"";
      ASSERT_EQ(slow->MatchGroups(in, slow_groups.data()), want);
      if (want) {
        ++matches;
        for (int g = 0; g < n; ++g) {
          ASSERT_EQ(fast_groups[g], slow_groups[g]) << "input \"" << in << "\" group " << g;
        }
      }
    }
    // The generated inputs must exercise both outcomes for the patterns that can have both.
    if (pc.pattern != ".*" && pc.pattern != "(.*)" && pc.pattern != "(?:.*)" &&
        pc.pattern != ".*.*") {
      EXPECT_GT(matches, 0u);
      EXPECT_LT(matches, inputs.size());
    }
  }
}

TEST(RegexTest, InvalidRegexReportsRe2Error) {
  auto r = Regex::Compile("a(b", true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("a(b"), std::string::npos);
  EXPECT_NE(std::string(r.status().message()).find("missing )"), std::string::npos) << r.status();
}

TEST(RelabelerEquivalenceTest, RuleListsAgreeWithRe2Path) {
  auto rule = [](Action a, std::vector<std::string> src, std::string target, std::string regex,
                 std::string replacement = "$1") {
    RuleConfig r;
    r.action = a;
    r.source_labels = std::move(src);
    r.target_label = std::move(target);
    r.regex = std::move(regex);
    r.replacement = std::move(replacement);
    return r;
  };
  const std::vector<std::vector<RuleConfig>> rule_lists = {
      {rule(Action::kDrop, {"__name__"}, "", "container_tasks_state|go_gc_duration_seconds")},
      {rule(Action::kKeep, {"__name__"}, "", "container_.*")},
      {rule(Action::kKeep, {"__name__", "id"}, "", ".*foo.*")},
      {rule(Action::kLabelDrop, {}, "", "id|name")},
      {rule(Action::kLabelKeep, {}, "", "(__name__|id)")},
      {rule(Action::kReplace, {"id"}, "copy", "(.+)", "<$1$0>")},
      {rule(Action::kReplace, {"name"}, "t", "foo.*", "lit")},
      {rule(Action::kReplace, {"id", "name"}, "t_${1}", "(.*)", "v")},
      {rule(Action::kLabelMap, {}, "", "(__meta_.*)", "m_$1")},
      {rule(Action::kLabelMap, {}, "", "(.+)", "x$1")},
      {rule(Action::kDrop, {"id"}, "", ".*o")},
  };
  const std::vector<std::string> values = GeneratedInputs(3000);
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  for (size_t li = 0; li < rule_lists.size(); ++li) {
    SCOPED_TRACE(li);
    auto fast = Relabeler::Compile(rule_lists[li]);
    auto slow = Relabeler::Compile(rule_lists[li], CompileOptions{.disable_fast_paths = true});
    ASSERT_TRUE(fast.ok() && slow.ok());
    Scratch fast_scratch, slow_scratch;
    size_t kept = 0;
    for (int i = 0; i < 3000; ++i) {
      // Names must be valid and non-empty; values may not be empty.
      std::vector<LabelRef> labels;
      const std::string_view v[] = {values[pick(rng)], values[pick(rng)], values[pick(rng)]};
      if (!v[0].empty()) labels.push_back({"__meta_x", v[0]});
      if (!v[1].empty()) labels.push_back({"__name__", v[1]});
      if (!v[2].empty()) labels.push_back({"id", v[2]});
      std::vector<LabelRef> a = labels, b = labels;
      fast_scratch.Clear();
      slow_scratch.Clear();
      const bool fa = fast->Apply(a, fast_scratch);
      const bool sb = slow->Apply(b, slow_scratch);
      ASSERT_EQ(fa, sb) << i;
      if (fa) {
        ++kept;
        ASSERT_EQ(a, b) << i;
      }
    }
    EXPECT_GT(kept, 0u);
  }
}

}  // namespace
}  // namespace tender::relabel
