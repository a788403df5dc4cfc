// The logs section of config/tender.yml, run by the tender binary against the fake API server
// (pods writing lines, events) and a fake Loki; then every LogQL expression of dashboards/
// (tests/integration/dashboards_check.py --logql) must use only the stream labels tender sent
// and select streams it sent.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/tools/fake_loki.h"

namespace tender {
namespace {

using testing::ChildProcess;
using testing::Env;
using testing::FreePort;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::WaitFor;

std::string Pod(const std::string& ns, const std::string& name, const std::string& labels,
                const std::string& container) {
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","namespace":"%s","labels":%s},)"
      R"("spec":{"nodeName":"node-1","containers":[{"name":"%s","image":"img"}]},)"
      R"("status":{"phase":"Running","podIP":"10.1.0.7","containerStatuses":[)"
      R"({"name":"%s","restartCount":0,"containerID":"containerd://%s-%s"}]}})",
      name, ns, labels, container, container, ns, name);
}

std::string Event(const std::string& ns, const std::string& name, const std::string& type,
                  const std::string& reason) {
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","namespace":"%s"},)"
      R"("involvedObject":{"kind":"Pod","namespace":"%s","name":"web"},)"
      R"("reason":"%s","message":"something about %s","source":{"component":"kubelet",)"
      R"("host":"node-1"},"firstTimestamp":"%s","lastTimestamp":"%s","count":1,"type":"%s"})",
      name, ns, ns, reason, name, now, now, type);
}

TEST(LogsDashboardE2eTest, LogQlUsesTheLabelsTenderSends) {
  const std::string src = Env("TENDER_SOURCE_DIR", ".");
  const std::string dir = MakeTempDir("tender-e2e-logs-dashboard");
  test_tools::FakeApiServer api;
  test_tools::FakeLoki loki;
  ASSERT_TRUE(api.Start().ok());
  ASSERT_TRUE(loki.Start().ok());
  api.Upsert("pods", Pod("shop", "web", R"({"app.kubernetes.io/name":"web"})", "nginx"));
  api.Upsert("pods", Pod("batch", "job-1", R"({"tier":"x"})", "worker"));
  api.Upsert("events", Event("shop", "web.1", "Warning", "BackOff"));
  api.Upsert("events", Event("batch", "job-1.1", "Normal", "Scheduled"));

  std::ofstream(dir + "/kubeconfig") << absl::StrCat(R"(apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: )",
                                                     api.url(), R"(}}]
users: [{name: tender, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: tender}}]
current-context: fake
)");
  // The logs section of the shipped config, pointed at the fakes.
  const std::string shipped = ReadFile(src + "/config/tender.yml");
  const size_t logs = shipped.find("\nlogs:\n");
  ASSERT_NE(logs, std::string::npos) << "config/tender.yml has no logs section";
  std::string cfg = absl::StrReplaceAll(shipped.substr(logs + 1),
                                        {{"http://loki:3100/loki/api/v1/push", loki.url()},
                                         {"/etc/tender/tender.kubeconfig", dir + "/kubeconfig"}});
  ASSERT_TRUE(absl::StrContains(cfg, loki.url())) << cfg;
  ASSERT_TRUE(absl::StrContains(cfg, dir + "/kubeconfig")) << cfg;
  cfg = absl::StrReplaceAll(cfg, {{"batch_wait: 1s", "batch_wait: 100ms"}});
  std::ofstream(dir + "/tender.yml") << cfg;

  ChildProcess tender(testing::TenderArgs(dir, FreePort()), dir + "/tender.log");
  // Lines keep coming until both pods' streams and both events are in Loki.
  auto streams_with = [&](const std::string& needle) {
    int n = 0;
    for (const auto& [tenant, streams] : loki.entries()) {
      for (const auto& [selector, entries] : streams) {
        if (absl::StrContains(selector, needle) && !entries.empty()) ++n;
      }
    }
    return n;
  };
  int i = 0;
  const bool all = WaitFor(
      [&] {
        api.AppendLog("shop", "web", "nginx", absl::StrCat("GET /index.html 200 ", i));
        api.AppendLog("batch", "job-1", "worker", absl::StrCat("level=info step=", i++));
        return streams_with("job=\"kubernetes-pods\"") >= 2 &&
               streams_with("job=\"kubernetes-events\"") >= 2;
      },
      absl::Seconds(60));
  EXPECT_EQ(tender.Stop(SIGTERM, absl::Seconds(20)), 0);
  ASSERT_TRUE(all) << ReadFile(dir + "/tender.log").substr(0, 20000);

  // The record: every stream's selector and lines.
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const auto& [tenant, streams] : loki.entries()) {
    for (const auto& [selector, entries] : streams) {
      w.StartObject();
      w.Key("selector");
      w.String(selector.c_str());
      w.Key("lines");
      w.StartArray();
      for (const auto& e : entries) w.String(e.line.c_str());
      w.EndArray();
      w.EndObject();
    }
  }
  w.EndArray();
  std::ofstream(dir + "/record.json") << buf.GetString();

  const std::string cmd =
      absl::StrCat("python3 ", src, "/tests/integration/dashboards_check.py", " --logql ", src, " ",
                   dir, "/record.json > ", dir, "/check.log 2>&1");
  const int rc = std::system(cmd.c_str());
  const std::string out = ReadFile(dir + "/check.log");
  std::cout << out;
  EXPECT_EQ(rc, 0) << out << buf.GetString();
  EXPECT_TRUE(absl::StrContains(out, "checked ")) << out;
}

}  // namespace
}  // namespace tender
