// ParseTargetGroupFile: Prometheus file_sd JSON and YAML target-group files.

#include "collector/discovery/file/target_group.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tender::discovery {
namespace {

using ::testing::HasSubstr;

TEST(ParseTargetGroupFileTest, ValidFilesGiveGroups) {
  auto check = [](const std::string& path, const std::string& content,
                  const std::vector<TargetGroup>& want) {
    SCOPED_TRACE(path + ": " + content);
    absl::StatusOr<std::vector<TargetGroup>> got = ParseTargetGroupFile(path, content);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want);
  };
  check("/sd/a.json",
        R"([{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod", "dc": "fra"}},
            {"targets": ["[::1]:80"]}])",
        {TargetGroup{"/sd/a.json:0",
                     {{"__meta_filepath", "/sd/a.json"}, {"dc", "fra"}, {"env", "prod"}},
                     {"h1:9100", "h2:9100"}},
         TargetGroup{"/sd/a.json:1", {{"__meta_filepath", "/sd/a.json"}}, {"[::1]:80"}}});
  check(
      "/sd/b.yml", "- targets: ['db:5432']\n  labels:\n    role: db\n- targets: []\n",
      {TargetGroup{"/sd/b.yml:0", {{"__meta_filepath", "/sd/b.yml"}, {"role", "db"}}, {"db:5432"}},
       TargetGroup{"/sd/b.yml:1", {{"__meta_filepath", "/sd/b.yml"}}, {}}});
  check("/sd/C.YAML", "- targets: [c:1]\n",
        {TargetGroup{"/sd/C.YAML:0", {{"__meta_filepath", "/sd/C.YAML"}}, {"c:1"}}});
  check("/sd/d.JSON", R"([{"targets": ["d:1"], "extra": true}])",  // JSON: unknown keys ignored.
        {TargetGroup{"/sd/d.JSON:0", {{"__meta_filepath", "/sd/d.JSON"}}, {"d:1"}}});
  check("/sd/empty.json", "[]", {});
  check("/sd/null.json", "null", {});
  check("/sd/empty.yml", "", {});
  check("/sd/e.json", R"([{"targets": ["e:1"], "labels": {"empty": "", "__meta_filepath": "x"}}])",
        {TargetGroup{"/sd/e.json:0", {{"__meta_filepath", "/sd/e.json"}}, {"e:1"}}});
  check("/sd/f.yml", "- labels: {a: 'ünï'}\n",
        {TargetGroup{"/sd/f.yml:0", {{"__meta_filepath", "/sd/f.yml"}, {"a", "ünï"}}, {}}});
}

TEST(ParseTargetGroupFileTest, InvalidFilesAreErrors) {
  auto check = [](const std::string& path, const std::string& content, const std::string& message) {
    SCOPED_TRACE(path + ": " + content);
    absl::StatusOr<std::vector<TargetGroup>> got = ParseTargetGroupFile(path, content);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(message));
  };
  check("a.json", R"([{"targets": ["a:1"])", "invalid JSON at offset");
  check("a.json", R"({"targets": ["a:1"]})", "expected a JSON array of target groups");
  check("a.json", R"([null])", "group 0: nil target group item found");
  check("a.json", R"([{"targets": "a:1"}])", "group 0: targets must be a list of strings");
  check("a.json", R"([{"targets": [1]}])", "targets must be a list of strings");
  check("a.json", R"([{}, {"targets": ["http://a:1"]}])",
        "group 1: target 0: \"http://a:1\" is not a valid target address");
  check("a.json", R"([{"targets": ["a:99999"]}])", "port");
  check("a.json", R"([{"labels": {"bad-name": "x"}}])",
        "group 0: \"bad-name\" is not a valid label name");
  check("a.json", R"([{"labels": {"a": 1}}])", "the value of label a must be a string");
  check("a.json", "[{\"labels\": {\"a\": \"\xff\"}}]", "the value of label a is not valid UTF-8");
  check("a.yml", "- targets: [a:1\n", "invalid YAML at line");
  check("a.yml", "targets: [a:1]\n", "expected a YAML list of target groups");
  check("a.yml", "- ~\n", "group 0: nil target group item found");
  check("a.yml", "- targets: [a:1]\n  label: {a: b}\n",
        "group 0: unknown key \"label\" (expected targets, labels)");
  check("a.yml", "- targets: [[a]]\n", "targets must be a list of strings");
  check("a.yml", "- labels: {1x: y}\n", "\"1x\" is not a valid label name");
  check("a.yml", "- labels: {a: [b]}\n", "the value of label a must be a string");
  check("a.yml", "- targets: ['a b:1']\n", "is not a valid target address");
}

}  // namespace
}  // namespace tender::discovery
