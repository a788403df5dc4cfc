// The command line as users run it: check config, check metrics, version, bad flags.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/integration/process.h"

namespace tender::testing {
namespace {

struct CliRun {
  int code;
  std::string out;  // stdout and stderr together
};

CliRun Tender(const std::string& args, const std::string& stdin_text = "") {
  const std::string dir = MakeTempDir("tender-cli-");
  std::ofstream(dir + "/in") << stdin_text;
  const std::string cmd =
      Env("TENDER_BINARY_DIR", ".") + "/collector/app/tender " + args + " < " + dir + "/in 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string WriteTemp(const std::string& text) {
  const std::string path = MakeTempDir("tender-cli-") + "/config.yml";
  std::ofstream(path) << text;
  return path;
}

TEST(CliTest, Version) {
  const CliRun r = Tender("version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("tender version "), std::string::npos);
}

TEST(CliTest, CheckConfigAcceptsTheShippedExamples) {
  const std::string src = Env("TENDER_SOURCE_DIR", ".");
  for (const char* f : {"/config/tender.yml", "/tests/testdata/config/prometheus.yml"}) {
    SCOPED_TRACE(f);
    const CliRun r = Tender("check config " + src + f);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("SUCCESS"), std::string::npos);
  }
}

TEST(CliTest, CheckConfigReportsEveryErrorWithPathAndLine) {
  const std::string path = WriteTemp(
      "global:\n"
      "  scrape_interval: 15x\n"
      "scrape_configs:\n"
      "  - job_name: a\n"
      "    static_configs:\n"
      "      - targets: ['h:1']\n"
      "    bogus_key: 1\n");
  const CliRun r = Tender("check config " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":2: global.scrape_interval"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(path + ":7: scrape_configs[0].bogus_key"), std::string::npos) << r.out;
}

TEST(CliTest, CheckMetrics) {
  auto check = [](const std::string& args, const std::string& in, int code,
                  const std::string& want) {
    SCOPED_TRACE(args + " <<< " + in);
    const CliRun r = Tender("check metrics " + args, in);
    EXPECT_EQ(r.code, code) << r.out;
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
  };
  check("--print", "a{b=\"c\"} 1.5 1000\n", 0,
        R"({"name":"a","labels":{"b":"c"},"value":1.5,"timestamp_ms":1000,"type":"unknown"})");
  check("--print", "# TYPE g gauge\ng NaN\ng2 +Inf\n", 0, R"("value":"NaN")");
  check("", "a{b=\"c} 1\n", 1, "1:");
  check("--format=text", "a 0x1p3\n", 1, "1:");
  // OpenMetrics strict: a counter without _total is rejected, the lax text parse accepts it.
  check("--format=openmetrics", "# TYPE c counter\nc 1\n# EOF\n", 1, "");
  check("--format=text", "# TYPE c counter\nc 1\n", 0, "");
}

TEST(CliTest, BadFlagsExitTwo) {
  EXPECT_EQ(Tender("--no.such-flag=1").code, 2);
  EXPECT_EQ(Tender("--log.level=loud").code, 2);
  EXPECT_EQ(Tender("--scrape.max-concurrent-per-host=-1").code, 2);
  EXPECT_EQ(Tender("--scrape.max-concurrent-per-host=many").code, 2);
  EXPECT_EQ(Tender("--config.file=" + WriteTemp("nope: [")).code, 2);
}

}  // namespace
}  // namespace tender::testing
