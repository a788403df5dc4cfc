// relabel_configs / metric_relabel_configs / write_relabel_configs: reading and Prometheus's
// relabel.Config validation, each error with its YAML path and line.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collector/config/config.h"
#include "collector/relabel/rule_config.h"
#include "tests/unit/config/test_util.h"

namespace tender::config {
namespace {

using relabel::Action;
using relabel::RuleConfig;
using ::testing::HasSubstr;

std::string ErrorsToString(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString("test.yml") + "\n";
  }
  return out;
}

// A job whose relabel_configs are `rules` (block YAML indented by six spaces); the first rule
// starts on line 4.
std::string WithRules(const std::string& rules) {
  return "scrape_configs:\n  - job_name: j\n    relabel_configs:\n" + rules;
}

RuleConfig Rule(std::vector<std::string> sources, std::string target, std::string regex,
                Action action) {
  RuleConfig r;
  r.source_labels = std::move(sources);
  r.target_label = std::move(target);
  r.regex = std::move(regex);
  r.action = action;
  return r;
}

TEST(RelabelRulesTest, ValidRulesGiveExpectedStructs) {
  auto check = [](const std::string& name, const std::string& rules, const RuleConfig& want) {
    SCOPED_TRACE(name);
    LoadResult r = LoadConfigString(WithRules(rules));
    ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
    ASSERT_EQ(r.config->scrape_configs.size(), 1u);
    ASSERT_EQ(r.config->scrape_configs[0].relabel_configs.size(), 1u);
    EXPECT_EQ(r.config->scrape_configs[0].relabel_configs[0], want);
  };
  check("defaults: replace of (.*) into target", "      - target_label: env\n",
        Rule({}, "env", "(.*)", Action::kReplace));
  {
    RuleConfig want = Rule({"__address__", "job"}, "instance", "(.+):\\d+", Action::kReplace);
    want.separator = ":";
    want.replacement = "${1}";
    check("every field",
          "      - source_labels: [__address__, job]\n"
          "        separator: ':'\n"
          "        target_label: instance\n"
          "        regex: '(.+):\\d+'\n"
          "        replacement: '${1}'\n"
          "        action: replace\n",
          want);
  }
  check("action is case-insensitive", "      - {source_labels: [a], regex: 'x|y', action: Keep}\n",
        Rule({"a"}, "", "x|y", Action::kKeep));
  check("drop", "      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n",
        Rule({"__name__"}, "", "go_.*", Action::kDrop));
  {
    RuleConfig want = Rule({"__address__"}, "__tmp_hash", "(.*)", Action::kHashMod);
    want.modulus = 8;
    check("hashmod",
          "      - {source_labels: [__address__], target_label: __tmp_hash, modulus: 8, "
          "action: hashmod}\n",
          want);
  }
  check("labelmap with the default replacement",
        "      - {regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}\n",
        Rule({}, "", "__meta_kubernetes_pod_label_(.+)", Action::kLabelMap));
  {
    RuleConfig want = Rule({}, "", "__meta_(.+)", Action::kLabelMap);
    want.replacement = "k8s_${1}";
    check("labelmap with a template replacement",
          "      - {regex: '__meta_(.+)', replacement: 'k8s_${1}', action: labelmap}\n", want);
  }
  check("labeldrop", "      - {regex: 'tmp_.*', action: labeldrop}\n",
        Rule({}, "", "tmp_.*", Action::kLabelDrop));
  check("labelkeep with explicit default separator and replacement",
        "      - {regex: 'a|b', separator: ';', replacement: '$1', action: labelkeep}\n",
        Rule({}, "", "a|b", Action::kLabelKeep));
  check("keepequal", "      - {source_labels: [a], target_label: b, action: keepequal}\n",
        Rule({"a"}, "b", "(.*)", Action::kKeepEqual));
  check("dropequal", "      - {source_labels: [a], target_label: b, action: dropequal}\n",
        Rule({"a"}, "b", "(.*)", Action::kDropEqual));
  check("lowercase", "      - {source_labels: [a], target_label: a_lower, action: lowercase}\n",
        Rule({"a"}, "a_lower", "(.*)", Action::kLowercase));
  check("uppercase", "      - {source_labels: [a], target_label: A, action: uppercase}\n",
        Rule({"a"}, "A", "(.*)", Action::kUppercase));
  check("replace into a templated target",
        "      - {source_labels: [k], regex: '(.+)', target_label: 'x_${1}_$1'}\n",
        Rule({"k"}, "x_${1}_$1", "(.+)", Action::kReplace));
  check("empty regex compiles (matches only the empty string)",
        "      - {source_labels: [a], regex: '', action: drop}\n",
        Rule({"a"}, "", "", Action::kDrop));
  check("RE2 syntax: classes, repetition, non-greedy, named groups",
        "      - {source_labels: [a], regex: '(?P<x>[[:alpha:]]{2,3}).*?\\z', action: keep}\n",
        Rule({"a"}, "", "(?P<x>[[:alpha:]]{2,3}).*?\\z", Action::kKeep));
}

TEST(RelabelRulesTest, InvalidRulesReportPathLineAndMessage) {
  struct Case {
    std::string rules;  // Under relabel_configs; the first rule is on line 4.
    std::string path;
    int line;
    std::string message;  // Substring.
  };
  const std::string kRule = "scrape_configs[0].relabel_configs[0]";
  const std::vector<Case> cases = {
      {"      - action: explode\n", kRule + ".action", 4, "unknown relabel action \"explode\""},
      {"      - action: ''\n", kRule + ".action", 4, "unknown relabel action \"\""},
      {"      - source_labels: [a]\n        regex: 'a(b'\n        action: keep\n", kRule + ".regex",
       5, "invalid regex \"a(b\": missing )"},
      {"      - {source_labels: [a], regex: '*x', action: drop}\n", kRule + ".regex", 4,
       "invalid regex \"*x\""},
      {"      - source_labels: [a]\n        target_label: h\n        action: hashmod\n",
       kRule + ".action", 6, "relabel configuration for hashmod requires non-zero modulus"},
      {"      - source_labels: [a]\n        target_label: h\n        modulus: 0\n"
       "        action: hashmod\n",
       kRule + ".modulus", 6, "requires non-zero modulus"},
      {"      - source_labels: [a]\n", kRule, 4,
       "relabel configuration for replace action requires 'target_label' value"},
      {"      - {source_labels: [a], action: lowercase}\n", kRule + ".action", 4,
       "relabel configuration for lowercase action requires 'target_label' value"},
      {"      - {source_labels: [a], action: keepequal}\n", kRule + ".action", 4,
       "for keepequal action requires 'target_label'"},
      {"      - source_labels: [a]\n        target_label: 1bad\n", kRule + ".target_label", 5,
       "\"1bad\" is invalid 'target_label' for replace action"},
      {"      - {source_labels: [a], target_label: 'x-$1'}\n", kRule + ".target_label", 4,
       "\"x-$1\" is invalid 'target_label' for replace action"},
      {"      - {source_labels: [a], target_label: 'a-b', modulus: 2, action: hashmod}\n",
       kRule + ".target_label", 4, "\"a-b\" is invalid 'target_label' for hashmod action"},
      {"      - {source_labels: [a], target_label: '$1', action: uppercase}\n",
       kRule + ".target_label", 4, "\"$1\" is invalid 'target_label' for uppercase action"},
      {"      - source_labels: [a]\n        target_label: b\n        replacement: x\n"
       "        action: uppercase\n",
       kRule + ".replacement", 6, "'replacement' can not be set for uppercase action"},
      {"      - {regex: '(.*)', replacement: 'bad-$1', action: labelmap}\n", kRule + ".replacement",
       4, "\"bad-$1\" is invalid 'replacement' for labelmap action"},
      {"      - {source_labels: [a], target_label: b, regex: x, action: dropequal}\n",
       kRule + ".action", 4,
       "dropequal action requires only 'source_labels' and `target_label`, and no other fields"},
      {"      - {source_labels: [a], target_label: b, separator: ',', action: keepequal}\n",
       kRule + ".action", 4, "keepequal action requires only 'source_labels'"},
      {"      - {source_labels: [a], regex: x, action: labeldrop}\n", kRule + ".action", 4,
       "labeldrop action requires only 'regex', and no other fields"},
      {"      - {source_labels: [], regex: x, action: labeldrop}\n", kRule + ".action", 4,
       "labeldrop action requires only 'regex'"},
      {"      - {target_label: t, regex: x, action: labelkeep}\n", kRule + ".action", 4,
       "labelkeep action requires only 'regex', and no other fields"},
      {"      - {modulus: 3, regex: x, action: labelkeep}\n", kRule + ".action", 4,
       "labelkeep action requires only 'regex'"},
      {"      - source_labels:\n          - ok\n          - bad-name\n        action: drop\n",
       kRule + ".source_labels[1]", 6, "\"bad-name\" is not a valid label name"},
      {"      - {source_labels: a, action: drop}\n", kRule + ".source_labels", 4,
       "expected a list of label names, got \"a\""},
      {"      - {source_labels: [a], target_label: h, modulus: -1, action: hashmod}\n",
       kRule + ".modulus", 4, "must be between 0 and"},
      {"      - {source_labels: [a], taget_label: h}\n", kRule + ".taget_label", 4,
       "unknown key \"taget_label\" (did you mean \"target_label\"?)"},
      {"      - {source_labels: [a], action: [keep]}\n", kRule + ".action", 4,
       "expected a string, got a list"},
      {"      -\n", kRule, 4, "empty or null target relabeling rule in scrape config"},
      {"      a: b\n", "scrape_configs[0].relabel_configs", 4,
       "expected a list of relabel rules, got a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rules);
    LoadResult r = LoadConfigString(WithRules(c.rules));
    EXPECT_FALSE(r.config.has_value());
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, c.path);
    EXPECT_EQ(r.errors[0].line, c.line);
    EXPECT_THAT(r.errors[0].message, HasSubstr(c.message));
  }
}

TEST(RelabelRulesTest, MetricAndWriteRelabelConfigsAreReadAndValidated) {
  const std::string yaml = R"(
scrape_configs:
  - job_name: j
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'expensive_.*', action: drop}
remote_write:
  - url: http://r/w
    write_relabel_configs:
      - {regex: 'pod_uid', action: labeldrop}
      - {source_labels: [__name__], regex: 'up|scrape_.*', action: keep}
)";
  LoadResult r = LoadConfigString(yaml);
  ASSERT_TRUE(r.errors.empty()) << ErrorsToString(r);
  EXPECT_EQ(r.config->scrape_configs[0].metric_relabel_configs,
            (std::vector<RuleConfig>{
                Rule({"__name__"}, "", "expensive_.*", Action::kDrop),
            }));
  EXPECT_EQ(r.config->remote_write[0].write_relabel_configs,
            (std::vector<RuleConfig>{
                Rule({}, "", "pod_uid", Action::kLabelDrop),
                Rule({"__name__"}, "", "up|scrape_.*", Action::kKeep),
            }));

  auto check = [](const std::string& yaml, const std::string& path, int line,
                  const std::string& message) {
    SCOPED_TRACE(yaml);
    LoadResult r = LoadConfigString(yaml);
    ASSERT_EQ(r.errors.size(), 1u) << ErrorsToString(r);
    EXPECT_EQ(r.errors[0].path, path);
    EXPECT_EQ(r.errors[0].line, line);
    EXPECT_THAT(r.errors[0].message, HasSubstr(message));
  };
  check("scrape_configs:\n  - job_name: j\n    metric_relabel_configs:\n      - ~\n",
        "scrape_configs[0].metric_relabel_configs[0]", 4,
        "empty or null metric relabeling rule in scrape config");
  check("remote_write:\n  - url: http://r/w\n    write_relabel_configs:\n      -\n",
        "remote_write[0].write_relabel_configs[0]", 4,
        "empty or null relabeling rule in remote write config");
  check(
      "remote_write:\n  - url: http://r/w\n    write_relabel_configs:\n"
      "      - {source_labels: [a], regex: '(', action: drop}\n",
      "remote_write[0].write_relabel_configs[0].regex", 4, "invalid regex \"(\"");
}

TEST(RelabelRulesTest, EveryBadRuleIsReportedAndGoodOnesKept) {
  LoadResult r = LoadConfigString(
      WithRules("      - {source_labels: [a], regex: '[', action: drop}\n"  // Line 4.
                "      - {source_labels: [b], action: keep}\n"              // Fine.
                "      - {action: hashmod, target_label: t}\n"              // Line 6.
                "      - {action: nope}\n"));                               // Line 7.
  ASSERT_EQ(r.errors.size(), 3u) << ErrorsToString(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[1].line, 6);
  EXPECT_EQ(r.errors[2].line, 7);
  EXPECT_EQ(r.errors[2].path, "scrape_configs[0].relabel_configs[3].action");
}

}  // namespace
}  // namespace tender::config
