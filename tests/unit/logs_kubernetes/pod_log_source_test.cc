// PodLogSource against the fake API server: pod discovery, follow streams broken mid-line,
// container restarts, relabeling, a restart of the source and a deleted pod.
#include "collector/logs/kubernetes/pod_log_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/tools/fake_apiserver.h"

namespace tender::logs {
namespace {

// A pod on node n1 with `containers` (and `init` init containers), each with containerID
// "containerd://NS-NAME-C-0".
std::string PodJson(const std::string& ns, const std::string& name, const std::string& app,
                    const std::vector<std::string>& containers,
                    const std::vector<std::string>& init = {}) {
  auto specs = [](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& c : names) out.push_back(absl::StrCat(R"({"name":")", c, R"(","image":"i"})"));
    return absl::StrJoin(out, ",");
  };
  auto statuses = [&](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& c : names) {
      out.push_back(absl::StrCat(R"({"name":")", c,
                                 R"(","restartCount":0,"containerID":"containerd://)", ns, "-",
                                 name, "-", c, R"(-0"})"));
    }
    return absl::StrJoin(out, ",");
  };
  return absl::StrCat(
      R"({"metadata":{"name":")", name, R"(","namespace":")", ns, R"(","labels":{"app":")", app,
      R"("}},"spec":{"nodeName":"n1","containers":[)", specs(containers), R"(],"initContainers":[)",
      specs(init), R"(]},"status":{"phase":"Running","podIP":"10.1.0.5","containerStatuses":[)",
      statuses(containers), R"(],"initContainerStatuses":[)", statuses(init), "]}}");
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

class PodLogSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("pod-log-source-test-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
  }
  void TearDown() override {
    source_.reset();
    api_.Stop();
    std::filesystem::remove_all(dir_);
  }

  void StartSource(std::vector<relabel::RuleConfig> rules = {},
                   prometheus::Registry* registry = nullptr, double lines_per_second = 1000,
                   int64_t burst = 5000) {
    PodLogSource::Settings s;
    s.registry = registry;
    s.config.lines_per_second = lines_per_second;
    s.config.burst = burst;
    config::KubernetesSdConfig sd;
    sd.role = "pod";
    sd.api_server = api_.url();
    s.config.kubernetes_sd_configs = {sd};
    s.config.relabel_configs = std::move(rules);
    s.cursors_path = dir_ + "/positions/kubernetes";
    s.cursors_interval = absl::Milliseconds(100);
    s.min_backoff = absl::Milliseconds(50);
    s.max_backoff = absl::Milliseconds(200);
    s.sink = [this](std::vector<model::LogEntry>&& entries) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& e : entries) got_[e.labels].push_back(std::move(e.line));
    };
    source_ = std::make_unique<PodLogSource>(std::move(s));
    ASSERT_TRUE(source_->Start().ok());
  }

  std::vector<std::string> Got(const std::string& selector) {
    std::lock_guard<std::mutex> lock(mu_);
    return got_[selector];
  }
  std::map<std::string, std::vector<std::string>> AllGot() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  bool WaitForLines(const std::string& selector, size_t n) {
    return WaitFor([&] { return Got(selector).size() >= n; }, absl::Seconds(20));
  }

  static std::string Selector(const std::string& ns, const std::string& pod,
                              const std::string& container, const std::string& app = "web") {
    return absl::StrCat("{app=\"", app, "\", container=\"", container,
                        "\", job=\"kubernetes-pods\", namespace=\"", ns, "\", node=\"n1\", pod=\"",
                        pod, "\"}");
  }
  static std::vector<std::string> Numbered(const std::string& prefix, int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back(absl::StrCat(prefix, " ", i));
    return out;
  }

  test_tools::FakeApiServer api_;
  std::string dir_;
  std::unique_ptr<PodLogSource> source_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> got_;
};

TEST_F(PodLogSourceTest, EveryLineOnceThroughCutsAndASourceRestart) {
  api_.Upsert("pods", PodJson("default", "p1", "web", {"a", "b"}));
  api_.Upsert("pods", PodJson("prod", "p2", "web", {"c"}, {"init"}));
  const std::vector<std::array<std::string, 3>> containers = {
      {"default", "p1", "a"}, {"default", "p1", "b"}, {"prod", "p2", "c"}, {"prod", "p2", "init"}};
  int n = 0;
  auto write = [&](int count) {
    for (int i = 0; i < count; ++i, ++n) {
      for (const auto& [ns, pod, c] : containers) {
        // Pairs of lines share a timestamp.
        api_.AppendLogLines(ns, pod, c,
                            {absl::StrCat(c, " ", 2 * n), absl::StrCat(c, " ", 2 * n + 1)});
      }
    }
  };
  write(20);
  StartSource();
  ASSERT_TRUE(api_.WaitForOpenLogStreams(4, absl::Seconds(20)));
  for (int cut = 0; cut < 6; ++cut) {
    write(10);
    api_.CutLogStreams(/*mid_line=*/cut % 2 == 0);
    write(5);
    ASSERT_TRUE(WaitForLines(Selector("default", "p1", "a"), static_cast<size_t>(2 * n)));
  }
  for (const auto& [ns, pod, c] : containers) {
    ASSERT_TRUE(WaitForLines(Selector(ns, pod, c), static_cast<size_t>(2 * n))) << c;
  }
  source_->Shutdown();
  source_.reset();
  write(10);  // While the source is down.
  StartSource();
  for (const auto& [ns, pod, c] : containers) {
    ASSERT_TRUE(WaitForLines(Selector(ns, pod, c), static_cast<size_t>(2 * n))) << c;
  }
  source_->Shutdown();
  for (const auto& [ns, pod, c] : containers) {
    EXPECT_EQ(Got(Selector(ns, pod, c)), Numbered(c, 0, 2 * n)) << c;
  }
  EXPECT_EQ(AllGot().size(), containers.size());
  EXPECT_GE(api_.log_requests(), 4 * 7);
}

TEST_F(PodLogSourceTest, ContainerRestartDrainsThePreviousInstance) {
  api_.Upsert("pods", PodJson("default", "p", "web", {"app"}));
  for (int i = 0; i < 10; ++i) api_.AppendLog("default", "p", "app", absl::StrCat("old ", i));
  StartSource();
  const std::string sel = Selector("default", "p", "app");
  ASSERT_TRUE(WaitForLines(sel, 10));
  // The stream breaks and cannot reconnect while the old instance writes its last lines and
  // the container restarts: those lines are only in the previous instance's log.
  api_.FailNext(503, 1000000);
  api_.CutLogStreams();
  ASSERT_TRUE(WaitFor([&] { return api_.open_log_streams() == 0; }, absl::Seconds(10)));
  for (int i = 10; i < 20; ++i) api_.AppendLog("default", "p", "app", absl::StrCat("old ", i));
  const std::string id = api_.RestartContainer("default", "p", "app");
  EXPECT_EQ(id, "containerd://default-p-app-1");
  for (int i = 0; i < 10; ++i) api_.AppendLog("default", "p", "app", absl::StrCat("new ", i));
  api_.FailNext(503, 0);
  ASSERT_TRUE(WaitForLines(sel, 30));
  // And the new instance is followed.
  for (int i = 10; i < 15; ++i) api_.AppendLog("default", "p", "app", absl::StrCat("new ", i));
  ASSERT_TRUE(WaitForLines(sel, 35));
  source_->Shutdown();
  std::vector<std::string> want = Numbered("old", 0, 20);
  for (const auto& l : Numbered("new", 0, 15)) want.push_back(l);
  EXPECT_EQ(Got(sel), want);
  bool drained = false;
  for (const auto& r : api_.requests()) drained |= r.find("previous=true") != std::string::npos;
  EXPECT_TRUE(drained);
  EXPECT_EQ(source_->Cursor("default/p/app").container_id, id);
}

TEST_F(PodLogSourceTest, RelabelingSelectsContainersAndAGonePodEndsItsStream) {
  api_.Upsert("pods", PodJson("default", "p", "web", {"main", "sidecar"}));
  api_.AppendLog("default", "p", "main", "hello");
  api_.AppendLog("default", "p", "sidecar", "noise");
  relabel::RuleConfig drop;
  drop.source_labels = {"container"};
  drop.regex = "sidecar";
  drop.action = relabel::Action::kDrop;
  relabel::RuleConfig team;
  team.target_label = "team";
  team.replacement = "a";
  StartSource({drop, team});
  const std::string sel =
      "{app=\"web\", container=\"main\", job=\"kubernetes-pods\", namespace=\"default\", "
      "node=\"n1\", pod=\"p\", team=\"a\"}";
  ASSERT_TRUE(WaitForLines(sel, 1));
  EXPECT_EQ(source_->active_streams(), 1u);
  ASSERT_TRUE(api_.Delete("pods", "default", "p"));
  ASSERT_TRUE(WaitFor([&] { return source_->active_streams() == 0; }, absl::Seconds(10)));
  source_->Shutdown();
  EXPECT_EQ(AllGot().size(), 1u);
  EXPECT_EQ(Got(sel), std::vector<std::string>{"hello"});
}

TEST_F(PodLogSourceTest, RateLimitMakesLinesWaitAndLosesNone) {
  api_.Upsert("pods", PodJson("default", "p", "web", {"app"}));
  for (int i = 0; i < 60; ++i) api_.AppendLog("default", "p", "app", absl::StrCat("line ", i));
  prometheus::Registry registry;
  StartSource({}, &registry, /*lines_per_second=*/100, /*burst=*/10);
  const std::string sel = Selector("default", "p", "app");
  ASSERT_TRUE(WaitForLines(sel, 60));
  source_->Shutdown();
  EXPECT_EQ(Got(sel), Numbered("line", 0, 60));
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  const std::string key =
      "tender_logs_kubernetes_rate_limited_seconds_total{job=\"kubernetes-pods\"} ";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos) << text;
  double waited = 0;
  ASSERT_TRUE(absl::SimpleAtod(text.substr(at + key.size(), text.find('\n', at) - at - key.size()),
                               &waited));
  EXPECT_GT(waited, 0);  // 50 lines beyond the burst of 10 waited for tokens.
  EXPECT_NE(text.find("tender_logs_kubernetes_lines_total{job=\"kubernetes-pods\"} 60"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace tender::logs
