// Table tests of the relabel actions against Prometheus's semantics (model/relabel). Every case
// runs four ways: LabelRef and model::Labels entry points, each with the fast matchers on and
// forced off, and all four must give the expected result.
#include "collector/relabel/relabeler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace tender::relabel {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

RuleConfig Rule(Action action, std::vector<std::string> sources = {}, std::string target = "",
                std::string regex = "(.*)", std::string replacement = "$1") {
  RuleConfig r;
  r.action = action;
  r.source_labels = std::move(sources);
  r.target_label = std::move(target);
  r.regex = std::move(regex);
  r.replacement = std::move(replacement);
  return r;
}

RuleConfig WithSeparator(RuleConfig r, std::string sep) {
  r.separator = std::move(sep);
  return r;
}

RuleConfig HashModRule(std::vector<std::string> sources, std::string target, uint64_t modulus) {
  RuleConfig r = Rule(Action::kHashMod, std::move(sources), std::move(target));
  r.modulus = modulus;
  return r;
}

// The last 8 bytes of an MD5 digest, big-endian, taken from RFC 1321's test suite (and the
// well-known "quick brown fox" digest), written out here rather than computed.
constexpr uint64_t kMd5TailEmpty = 0xe9800998ecf8427eULL;  // d41d8cd98f00b204 e9800998ecf8427e
constexpr uint64_t kMd5TailA = 0x31c399e269772661ULL;      // 0cc175b9c0f1b6a8 31c399e269772661
constexpr uint64_t kMd5TailAbc = 0xd6963f7d28e17f72ULL;    // 900150983cd24fb0 d6963f7d28e17f72
constexpr uint64_t kMd5TailMessageDigest = 0x525a2f31aaf161d0ULL;  // f96b697d7cb7938d ...
constexpr uint64_t kMd5TailFox = 0x6bd81d3542a419d6ULL;       // 9e107d9d372bb682 6bd81d3542a419d6
constexpr uint64_t kMd5TailAlphabet = 0x7dfb496cca67e13bULL;  // c3fcd3d76192e400 7dfb496c...

struct Case {
  std::string name;
  Pairs input;
  std::vector<RuleConfig> rules;
  std::optional<Pairs> want;  // nullopt: the set is dropped
};

// Hashmod expectations: the decimal of (MD5 tail % modulus).
std::string M(uint64_t v) { return std::to_string(v); }

Pairs Sorted(Pairs p) {
  std::sort(p.begin(), p.end());
  return p;
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  // --- replace ---------------------------------------------------------------------------------
  c.push_back({"replace default copies",
               {{"a", "foo"}},
               {Rule(Action::kReplace, {"a"}, "b")},
               Pairs{{"a", "foo"}, {"b", "foo"}}});
  c.push_back({"replace ${1}x is group 1 then x",
               {{"a", "foo"}},
               {Rule(Action::kReplace, {"a"}, "b", "(f)(o+)", "${1}x")},
               Pairs{{"a", "foo"}, {"b", "fx"}}});
  c.push_back({"replace $1x names group 1x: empty result deletes target",
               {{"a", "foo"}, {"b", "old"}},
               {Rule(Action::kReplace, {"a"}, "b", "(f)(o+)", "$1x")},
               Pairs{{"a", "foo"}}});
  c.push_back({"replace unmatched regex changes nothing",
               {{"a", "foo"}, {"b", "old"}},
               {Rule(Action::kReplace, {"a"}, "b", "bar", "x")},
               Pairs{{"a", "foo"}, {"b", "old"}}});
  c.push_back({"replace regex is anchored",
               {{"a", "foobar"}},
               {Rule(Action::kReplace, {"a"}, "b", "foo", "x")},
               Pairs{{"a", "foobar"}}});
  c.push_back({"replace invalid target after expansion changes nothing",
               {{"a", "1abc"}},
               {Rule(Action::kReplace, {"a"}, "$1", "(.*)", "x")},
               Pairs{{"a", "1abc"}}});
  c.push_back({"replace target expanded from groups",
               {{"a", "env"}},
               {Rule(Action::kReplace, {"a"}, "${1}_suffix", "(.*)", "v")},
               Pairs{{"a", "env"}, {"env_suffix", "v"}}});
  c.push_back({"replace target with dash after expansion is invalid",
               {{"a", "my-env"}},
               {Rule(Action::kReplace, {"a"}, "$1", "(.*)", "v")},
               Pairs{{"a", "my-env"}}});
  c.push_back({"replace missing source with $1 deletes target",
               {{"a", "x"}},
               {Rule(Action::kReplace, {"missing"}, "a")},
               Pairs{}});
  c.push_back({"replace missing source with literal replacement sets target",
               {{"a", "x"}},
               {Rule(Action::kReplace, {"missing"}, "t", "(.*)", "static")},
               Pairs{{"a", "x"}, {"t", "static"}}});
  c.push_back(
      {"replace named groups",
       {{"__address__", "host.example:9100"}},
       {Rule(Action::kReplace, {"__address__"}, "host", "(?P<host>[^:]+):(?P<port>\\d+)", "$host"),
        Rule(Action::kReplace, {"__address__"}, "port", "(?P<host>[^:]+):(?P<port>\\d+)",
             "p${port}")},
       Pairs{{"__address__", "host.example:9100"}, {"host", "host.example"}, {"port", "p9100"}}});
  c.push_back({"replace multiple sources with separator",
               {{"a", "x"}, {"b", "y"}},
               {WithSeparator(Rule(Action::kReplace, {"a", "b"}, "c", "(.*)-(.*)", "$2.$1"), "-")},
               Pairs{{"a", "x"}, {"b", "y"}, {"c", "y.x"}}});
  c.push_back({"replace empty source values keep their separators",
               {{"a", "x"}, {"c", "z"}},
               {Rule(Action::kReplace, {"a", "b", "c"}, "d")},
               Pairs{{"a", "x"}, {"c", "z"}, {"d", "x;;z"}}});
  c.push_back({"replace $$ is a literal dollar",
               {{"a", "v"}},
               {Rule(Action::kReplace, {"a"}, "b", "(.*)", "$$1")},
               Pairs{{"a", "v"}, {"b", "$1"}}});
  c.push_back({"replace $0 is the whole match, out of range group is empty",
               {{"a", "v"}},
               {Rule(Action::kReplace, {"a"}, "b", "(.*)", "<$0|$5|${9}>")},
               Pairs{{"a", "v"}, {"b", "<v||>"}}});
  c.push_back({"replace malformed references stay literal",
               {{"a", "v"}},
               {Rule(Action::kReplace, {"a"}, "b", "(.*)", "x$-${1$")},
               Pairs{{"a", "v"}, {"b", "x$-${1$"}}});
  c.push_back({"replace address with port",
               {{"__address__", "10.0.0.1:8080"}, {"__meta_port", "9090"}},
               {Rule(Action::kReplace, {"__address__", "__meta_port"}, "__address__",
                     "([^:]+)(?::\\d+)?;(\\d+)", "$1:$2")},
               Pairs{{"__address__", "10.0.0.1:9090"}, {"__meta_port", "9090"}}});
  c.push_back({"replace dot matches newline",
               {{"a", "x\ny"}},
               {Rule(Action::kReplace, {"a"}, "b", "x.(y)", "$1")},
               Pairs{{"a", "x\ny"}, {"b", "y"}}});
  c.push_back({"replace overwrites existing target",
               {{"a", "new"}, {"b", "old"}},
               {Rule(Action::kReplace, {"a"}, "b")},
               Pairs{{"a", "new"}, {"b", "new"}}});
  c.push_back({"replace unmatched optional group is empty",
               {{"a", "x"}},
               {Rule(Action::kReplace, {"a"}, "b", "(x)(y)?", "[$2]")},
               Pairs{{"a", "x"}, {"b", "[]"}}});
  // --- keep ------------------------------------------------------------------------------------
  c.push_back({"keep literal match",
               {{"__name__", "up"}},
               {Rule(Action::kKeep, {"__name__"}, "", "up")},
               Pairs{{"__name__", "up"}}});
  c.push_back({"keep no match drops",
               {{"__name__", "upx"}},
               {Rule(Action::kKeep, {"__name__"}, "", "up")},
               std::nullopt});
  c.push_back({"keep alternation",
               {{"__name__", "b"}, {"job", "j"}},
               {Rule(Action::kKeep, {"__name__"}, "", "a|b|c")},
               Pairs{{"__name__", "b"}, {"job", "j"}}});
  c.push_back({"keep missing label matches empty regex",
               {{"job", "j"}},
               {Rule(Action::kKeep, {"missing"}, "", "")},
               Pairs{{"job", "j"}}});
  c.push_back({"keep missing label fails .+",
               {{"job", "j"}},
               {Rule(Action::kKeep, {"missing"}, "", ".+")},
               std::nullopt});
  c.push_back({"keep joined sources",
               {{"a", "1"}, {"b", "2"}},
               {Rule(Action::kKeep, {"a", "b"}, "", "1;2")},
               Pairs{{"a", "1"}, {"b", "2"}}});
  c.push_back({"keep prefix",
               {{"__name__", "node_cpu"}},
               {Rule(Action::kKeep, {"__name__"}, "", "node_.*")},
               Pairs{{"__name__", "node_cpu"}}});
  c.push_back({"keep prefix no match drops",
               {{"__name__", "go_gc"}},
               {Rule(Action::kKeep, {"__name__"}, "", "node_.*")},
               std::nullopt});
  // --- drop ------------------------------------------------------------------------------------
  c.push_back({"drop literal match",
               {{"__name__", "up"}},
               {Rule(Action::kDrop, {"__name__"}, "", "up")},
               std::nullopt});
  c.push_back({"drop no match keeps",
               {{"__name__", "up"}},
               {Rule(Action::kDrop, {"__name__"}, "", "down")},
               Pairs{{"__name__", "up"}}});
  c.push_back({"drop alternation in group",
               {{"__name__", "go_gc_duration_seconds"}},
               {Rule(Action::kDrop, {"__name__"}, "", "(go_gc_duration_seconds|go_threads)")},
               std::nullopt});
  c.push_back({"drop missing label with default regex drops everything",
               {{"a", "1"}},
               {Rule(Action::kDrop, {"missing"})},
               std::nullopt});
  c.push_back({"drop empty value only",
               {{"a", "1"}},
               {Rule(Action::kDrop, {"a"}, "", "")},
               Pairs{{"a", "1"}}});
  c.push_back({"drop joined sources with custom separator",
               {{"a", "1"}, {"b", "2"}},
               {WithSeparator(Rule(Action::kDrop, {"a", "b"}, "", "1_2"), "_")},
               std::nullopt});
  c.push_back({"drop character class",
               {{"code", "503"}},
               {Rule(Action::kDrop, {"code"}, "", "5\\d\\d")},
               std::nullopt});
  // --- hashmod ---------------------------------------------------------------------------------
  c.push_back({"hashmod abc",
               {{"a", "abc"}},
               {HashModRule({"a"}, "h", 1000)},
               Pairs{{"a", "abc"}, {"h", M(kMd5TailAbc % 1000)}}});
  c.push_back({"hashmod missing source hashes empty string",
               {{"x", "1"}},
               {HashModRule({"a"}, "h", 7)},
               Pairs{{"h", M(kMd5TailEmpty % 7)}, {"x", "1"}}});
  c.push_back(
      {"hashmod joined sources",
       {{"a", "message"}, {"b", "digest"}},
       {WithSeparator(HashModRule({"a", "b"}, "h", 1ULL << 63), " ")},
       Pairs{{"a", "message"}, {"b", "digest"}, {"h", M(kMd5TailMessageDigest % (1ULL << 63))}}});
  c.push_back({"hashmod overwrites target",
               {{"a", "a"}, {"h", "old"}},
               {HashModRule({"a"}, "h", 2)},
               Pairs{{"a", "a"}, {"h", M(kMd5TailA % 2)}}});
  c.push_back({"hashmod fox modulus 16",
               {{"a", "The quick brown fox jumps over the lazy dog"}},
               {HashModRule({"a"}, "__tmp_hash", 16)},
               Pairs{{"__tmp_hash", M(kMd5TailFox % 16)},
                     {"a", "The quick brown fox jumps over the lazy dog"}}});
  c.push_back(
      {"hashmod then keep shard",
       {{"a", "abcdefghijklmnopqrstuvwxyz"}},
       {HashModRule({"a"}, "__tmp_hash", 3),
        Rule(Action::kKeep, {"__tmp_hash"}, "", std::to_string(kMd5TailAlphabet % 3))},
       Pairs{{"__tmp_hash", M(kMd5TailAlphabet % 3)}, {"a", "abcdefghijklmnopqrstuvwxyz"}}});
  c.push_back({"hashmod modulus 1 is zero",
               {{"a", "abc"}},
               {HashModRule({"a"}, "h", 1)},
               Pairs{{"a", "abc"}, {"h", "0"}}});
  // --- labelmap --------------------------------------------------------------------------------
  c.push_back({"labelmap kubernetes pod labels",
               {{"__meta_kubernetes_pod_label_app", "web"}, {"job", "j"}},
               {Rule(Action::kLabelMap, {}, "", "__meta_kubernetes_pod_label_(.+)")},
               Pairs{{"__meta_kubernetes_pod_label_app", "web"}, {"app", "web"}, {"job", "j"}}});
  c.push_back({"labelmap no match",
               {{"a", "1"}},
               {Rule(Action::kLabelMap, {}, "", "b(.*)")},
               Pairs{{"a", "1"}}});
  c.push_back(
      {"labelmap with two groups",
       {{"__meta_x_foo", "1"}, {"__meta_y_bar", "2"}},
       {Rule(Action::kLabelMap, {}, "", "__meta_(x|y)_(.*)", "${2}_$1")},
       Pairs{{"__meta_x_foo", "1"}, {"__meta_y_bar", "2"}, {"bar_y", "2"}, {"foo_x", "1"}}});
  c.push_back({"labelmap overwrites existing label",
               {{"__meta_job", "new"}, {"job", "old"}},
               {Rule(Action::kLabelMap, {}, "", "__meta_(.*)")},
               Pairs{{"__meta_job", "new"}, {"job", "new"}}});
  c.push_back({"labelmap iterates a snapshot",
               {{"a", "1"}, {"b", "2"}},
               {Rule(Action::kLabelMap, {}, "", "(.*)", "x_$1")},
               Pairs{{"a", "1"}, {"b", "2"}, {"x_a", "1"}, {"x_b", "2"}}});
  c.push_back({"labelmap literal replacement: last matching label wins",
               {{"m_a", "1"}, {"m_b", "2"}},
               {Rule(Action::kLabelMap, {}, "", "m_.*", "merged")},
               Pairs{{"m_a", "1"}, {"m_b", "2"}, {"merged", "2"}}});
  c.push_back({"labelmap default regex is identity",
               {{"a", "1"}},
               {Rule(Action::kLabelMap, {}, "")},
               Pairs{{"a", "1"}}});
  // --- labeldrop -------------------------------------------------------------------------------
  c.push_back({"labeldrop alternation",
               {{"__name__", "m"}, {"id", "/"}, {"name", "n"}, {"pod", "p"}},
               {Rule(Action::kLabelDrop, {}, "", "id|name")},
               Pairs{{"__name__", "m"}, {"pod", "p"}}});
  c.push_back({"labeldrop prefix",
               {{"__meta_a", "1"}, {"__meta_b", "2"}, {"job", "j"}},
               {Rule(Action::kLabelDrop, {}, "", "__meta_.*")},
               Pairs{{"job", "j"}}});
  c.push_back({"labeldrop no match",
               {{"a", "1"}},
               {Rule(Action::kLabelDrop, {}, "", "b")},
               Pairs{{"a", "1"}}});
  c.push_back({"labeldrop may drop __name__",
               {{"__name__", "m"}, {"a", "1"}},
               {Rule(Action::kLabelDrop, {}, "", "__name__")},
               Pairs{{"a", "1"}}});
  c.push_back({"labeldrop matches names not values",
               {{"a", "id"}},
               {Rule(Action::kLabelDrop, {}, "", "id")},
               Pairs{{"a", "id"}}});
  c.push_back({"labeldrop regex class",
               {{"a1", "1"}, {"a2", "2"}, {"b1", "3"}},
               {Rule(Action::kLabelDrop, {}, "", "a[0-9]")},
               Pairs{{"b1", "3"}}});
  // --- labelkeep -------------------------------------------------------------------------------
  c.push_back({"labelkeep alternation",
               {{"__name__", "m"}, {"id", "/"}, {"job", "j"}},
               {Rule(Action::kLabelKeep, {}, "", "__name__|job")},
               Pairs{{"__name__", "m"}, {"job", "j"}}});
  c.push_back({"labelkeep drops __name__ when it does not match",
               {{"__name__", "m"}, {"instance", "i"}, {"job", "j"}},
               {Rule(Action::kLabelKeep, {}, "", "job|instance")},
               Pairs{{"instance", "i"}, {"job", "j"}}});
  c.push_back({"labelkeep everything",
               {{"a", "1"}, {"b", "2"}},
               {Rule(Action::kLabelKeep, {}, "", ".*")},
               Pairs{{"a", "1"}, {"b", "2"}}});
  c.push_back({"labelkeep prefix",
               {{"__name__", "m"}, {"kube_a", "1"}, {"x", "2"}},
               {Rule(Action::kLabelKeep, {}, "", "kube_.+")},
               Pairs{{"kube_a", "1"}}});
  c.push_back({"labelkeep nothing leaves an empty set, not a drop",
               {{"a", "1"}},
               {Rule(Action::kLabelKeep, {}, "", "zzz")},
               Pairs{}});
  // --- lowercase / uppercase -------------------------------------------------------------------
  c.push_back({"lowercase ASCII",
               {{"a", "FooBAR"}},
               {Rule(Action::kLowercase, {"a"}, "b")},
               Pairs{{"a", "FooBAR"}, {"b", "foobar"}}});
  c.push_back({"lowercase mixed UTF-8 and ASCII",
               {{"a", "ÄÖÜ Straße ΣΑΣ Ж"}},
               {Rule(Action::kLowercase, {"a"}, "b")},
               Pairs{{"a", "ÄÖÜ Straße ΣΑΣ Ж"}, {"b", "äöü straße σασ ж"}}});
  c.push_back({"lowercase joined sources",
               {{"a", "X"}, {"b", "Y"}},
               {WithSeparator(Rule(Action::kLowercase, {"a", "b"}, "c"), "-")},
               Pairs{{"a", "X"}, {"b", "Y"}, {"c", "x-y"}}});
  c.push_back({"lowercase missing source deletes target",
               {{"b", "old"}},
               {Rule(Action::kLowercase, {"a"}, "b")},
               Pairs{}});
  c.push_back({"lowercase in place",
               {{"a", "ABC"}},
               {Rule(Action::kLowercase, {"a"}, "a")},
               Pairs{{"a", "abc"}}});
  c.push_back({"lowercase already lower",
               {{"a", "abc"}},
               {Rule(Action::kLowercase, {"a"}, "b")},
               Pairs{{"a", "abc"}, {"b", "abc"}}});
  c.push_back({"uppercase ASCII",
               {{"a", "fooBar1"}},
               {Rule(Action::kUppercase, {"a"}, "b")},
               Pairs{{"a", "fooBar1"}, {"b", "FOOBAR1"}}});
  c.push_back({"uppercase mixed UTF-8 keeps sharp s (no simple upper mapping)",
               {{"a", "straße äö"}},
               {Rule(Action::kUppercase, {"a"}, "b")},
               Pairs{{"a", "straße äö"}, {"b", "STRAßE ÄÖ"}}});
  c.push_back({"uppercase invalid UTF-8 byte becomes U+FFFD as in Go",
               {{"a", "a\xff"}},
               {Rule(Action::kUppercase, {"a"}, "b")},
               Pairs{{"a", "a\xff"}, {"b", "A\xef\xbf\xbd"}}});
  c.push_back({"uppercase joined sources default separator",
               {{"a", "x"}, {"b", "y"}},
               {Rule(Action::kUppercase, {"a", "b"}, "c")},
               Pairs{{"a", "x"}, {"b", "y"}, {"c", "X;Y"}}});
  c.push_back({"uppercase missing source deletes target",
               {{"c", "old"}},
               {Rule(Action::kUppercase, {"a"}, "c")},
               Pairs{}});
  // --- keepequal / dropequal -------------------------------------------------------------------
  c.push_back({"keepequal equal keeps",
               {{"a", "1"}, {"b", "1"}},
               {Rule(Action::kKeepEqual, {"a"}, "b")},
               Pairs{{"a", "1"}, {"b", "1"}}});
  c.push_back({"keepequal different drops",
               {{"a", "1"}, {"b", "2"}},
               {Rule(Action::kKeepEqual, {"a"}, "b")},
               std::nullopt});
  c.push_back({"keepequal both missing keeps",
               {{"x", "1"}},
               {Rule(Action::kKeepEqual, {"a"}, "b")},
               Pairs{{"x", "1"}}});
  c.push_back({"keepequal target missing drops",
               {{"a", "1"}},
               {Rule(Action::kKeepEqual, {"a"}, "b")},
               std::nullopt});
  c.push_back({"keepequal joined sources",
               {{"a", "1"}, {"b", "2"}, {"c", "1;2"}},
               {Rule(Action::kKeepEqual, {"a", "b"}, "c")},
               Pairs{{"a", "1"}, {"b", "2"}, {"c", "1;2"}}});
  c.push_back({"keepequal ignores regex",
               {{"a", "1"}, {"b", "1"}},
               {Rule(Action::kKeepEqual, {"a"}, "b", "nomatch")},
               Pairs{{"a", "1"}, {"b", "1"}}});
  c.push_back({"dropequal equal drops",
               {{"a", "1"}, {"b", "1"}},
               {Rule(Action::kDropEqual, {"a"}, "b")},
               std::nullopt});
  c.push_back({"dropequal different keeps",
               {{"a", "1"}, {"b", "2"}},
               {Rule(Action::kDropEqual, {"a"}, "b")},
               Pairs{{"a", "1"}, {"b", "2"}}});
  c.push_back({"dropequal both missing drops",
               {{"x", "1"}},
               {Rule(Action::kDropEqual, {"a"}, "b")},
               std::nullopt});
  c.push_back({"dropequal source missing keeps",
               {{"b", "1"}},
               {Rule(Action::kDropEqual, {"a"}, "b")},
               Pairs{{"b", "1"}}});
  c.push_back({"dropequal joined sources with separator",
               {{"a", "1"}, {"b", "2"}, {"c", "1-2"}},
               {WithSeparator(Rule(Action::kDropEqual, {"a", "b"}, "c"), "-")},
               std::nullopt});
  // --- rule sequences --------------------------------------------------------------------------
  c.push_back(
      {"rules see earlier rules' results",
       {{"__name__", "Metric"}},
       {Rule(Action::kLowercase, {"__name__"}, "__tmp"),
        Rule(Action::kKeep, {"__tmp"}, "", "metric"), Rule(Action::kLabelDrop, {}, "", "__tmp")},
       Pairs{{"__name__", "Metric"}}});
  return c;
}

TEST(RelabelerTest, Table) {
  const std::vector<Case> cases = Cases();
  ASSERT_GE(cases.size(), 55u);
  auto check = [](const Case& tc, bool fast) {
    SCOPED_TRACE(tc.name + (fast ? " [fast]" : " [re2]"));
    auto relabeler = Relabeler::Compile(tc.rules, CompileOptions{.disable_fast_paths = !fast});
    ASSERT_TRUE(relabeler.ok()) << relabeler.status();
    const Pairs input = Sorted(tc.input);

    // LabelRef entry point, run twice with one Scratch to cover reuse.
    Scratch scratch;
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE(round);
      scratch.Clear();
      std::vector<LabelRef> refs;
      for (const auto& [n, v] : input) {
        refs.push_back(LabelRef{n, v});
      }
      const bool kept = relabeler->Apply(refs, scratch);
      ASSERT_EQ(kept, tc.want.has_value());
      if (kept) {
        Pairs got;
        for (const LabelRef& l : refs) {
          got.emplace_back(std::string(l.name), std::string(l.value));
        }
        EXPECT_EQ(got, *tc.want);
      }
    }

    // model::Labels entry point.
    model::Labels labels;
    for (const auto& [n, v] : input) {
      labels.push_back(model::Label{n, v});
    }
    const bool kept = relabeler->Apply(labels);
    ASSERT_EQ(kept, tc.want.has_value());
    if (kept) {
      Pairs got;
      for (const model::Label& l : labels) {
        got.emplace_back(l.name, l.value);
      }
      EXPECT_EQ(got, *tc.want);
    }
  };
  for (const Case& tc : cases) {
    check(tc, /*fast=*/true);
    check(tc, /*fast=*/false);
  }
}

TEST(RelabelerTest, AtLeastFiveCasesPerAction) {
  std::map<Action, int> per_action;
  for (const Case& tc : Cases()) {
    per_action[tc.rules.front().action]++;
  }
  for (Action a : {Action::kReplace, Action::kKeep, Action::kDrop, Action::kHashMod,
                   Action::kLabelMap, Action::kLabelDrop, Action::kLabelKeep, Action::kLowercase,
                   Action::kUppercase, Action::kKeepEqual, Action::kDropEqual}) {
    SCOPED_TRACE(std::string(ActionName(a)));
    EXPECT_GE(per_action[a], 5);
  }
}

TEST(RelabelerTest, CompileErrorNamesRuleAndRegex) {
  std::vector<RuleConfig> rules = {Rule(Action::kKeep, {"a"}, "", "ok"),
                                   Rule(Action::kDrop, {"a"}, "", "bad(")};
  auto r = Relabeler::Compile(rules);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(r.status().message());
  EXPECT_NE(message.find("relabel rule 1 (drop)"), std::string::npos) << message;
  EXPECT_NE(message.find("bad("), std::string::npos) << message;
}

TEST(RelabelerTest, HashModZeroModulusIsAnError) {
  auto r = Relabeler::Compile({HashModRule({"a"}, "h", 0)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("relabel rule 0 (hashmod)"), std::string::npos);
}

TEST(RelabelerTest, EmptyRelabelerKeepsEverything) {
  Relabeler empty;
  EXPECT_TRUE(empty.empty());
  model::Labels labels = {{"a", "1"}};
  EXPECT_TRUE(empty.Apply(labels));
  EXPECT_EQ(labels, (model::Labels{{"a", "1"}}));
  auto compiled = Relabeler::Compile({});
  ASSERT_TRUE(compiled.ok());
  EXPECT_TRUE(compiled->empty());
}

TEST(RelabelerTest, ViewsSurviveMoveOfRelabeler) {
  auto compiled =
      Relabeler::Compile({Rule(Action::kReplace, {"missing"}, "t", "(.*)", "static_value")});
  ASSERT_TRUE(compiled.ok());
  Scratch scratch;
  std::vector<LabelRef> labels;
  ASSERT_TRUE(compiled->Apply(labels, scratch));
  Relabeler moved = std::move(*compiled);
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].name, "t");
  EXPECT_EQ(labels[0].value, "static_value");
  EXPECT_FALSE(moved.empty());
}

TEST(RelabelerTest, SteadyStateDoesNotGrowScratch) {
  auto compiled =
      Relabeler::Compile({Rule(Action::kReplace, {"a"}, "b", "(.*)", "x_$1"),
                          HashModRule({"a"}, "h", 10), Rule(Action::kUppercase, {"a"}, "u")});
  ASSERT_TRUE(compiled.ok());
  Scratch scratch;
  std::vector<LabelRef> labels;
  size_t capacity = 0;
  for (int i = 0; i < 1000; ++i) {
    scratch.Clear();
    labels.assign({LabelRef{"a", "value"}});
    ASSERT_TRUE(compiled->Apply(labels, scratch));
    ASSERT_EQ(labels.size(), 4u);
    EXPECT_EQ(labels[1].value, "x_value");
    if (i == 0) {
      capacity = scratch.capacity();
    }
    ASSERT_EQ(scratch.capacity(), capacity);
  }
}

TEST(ScratchTest, StoredViewsAreStableAcrossGrowth) {
  Scratch scratch;
  std::vector<std::pair<std::string_view, std::string>> stored;
  for (int i = 0; i < 2000; ++i) {
    std::string s(static_cast<size_t>(i % 97) + 1, static_cast<char>('a' + i % 26));
    stored.emplace_back(scratch.Store(s), s);
  }
  for (const auto& [view, want] : stored) {
    ASSERT_EQ(view, want);
  }
  const std::string big(10000, 'z');
  EXPECT_EQ(scratch.Store(big), big);
  const size_t capacity = scratch.capacity();
  scratch.Clear();
  EXPECT_EQ(scratch.Store("after"), "after");
  EXPECT_EQ(scratch.capacity(), capacity);
}

}  // namespace
}  // namespace tender::relabel
