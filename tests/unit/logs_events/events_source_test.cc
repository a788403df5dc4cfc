#include "collector/logs/events/events_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/tools/fake_apiserver.h"

namespace tender::logs {
namespace {

namespace fs = std::filesystem;

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

// A core/v1 Event as the API server sends it.
std::string EventJson(const std::string& ns, const std::string& name, const std::string& uid,
                      int count, const std::string& last = "2026-12-01T10:00:05Z",
                      const std::string& message = "Back-off restarting failed container") {
  return absl::StrFormat(
      R"({"metadata":{"name":"%s","namespace":"%s","uid":"%s","resourceVersion":"7",)"
      R"("creationTimestamp":"2026-12-01T09:59:00Z"},)"
      R"("involvedObject":{"kind":"Pod","namespace":"%s","name":"%s"},)"
      R"("reason":"BackOff","message":"%s","source":{"component":"kubelet","host":"node-1"},)"
      R"("firstTimestamp":"2026-12-01T10:00:00Z","lastTimestamp":"%s","count":%d,)"
      R"("type":"Warning","eventTime":null})",
      name, ns, uid, ns, name, message, last, count);
}

int64_t Ns(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return absl::ToUnixNanos(t);
}

TEST(EventLineTest, LogfmtLine) {
  rapidjson::Document doc = Parse(EventJson("shop", "web-1", "u1", 3));
  absl::StatusOr<EventFields> f = ExtractEventFields(doc);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(EventLogLine(*f),
            "kind=Pod name=web-1 namespace=shop reason=BackOff type=Warning count=3 "
            "message=\"Back-off restarting failed container\" source=kubelet/node-1");
  EXPECT_EQ(f->timestamp_ns, Ns("2026-12-01T10:00:05Z"));
}

TEST(EventLineTest, QuotesAsLogfmtDoes) {
  const auto check = [](std::string_view value, bool force, std::string_view want) {
    SCOPED_TRACE(value);
    std::string out;
    AppendLogfmt(&out, "k", value, force);
    EXPECT_EQ(out, want);
  };
  check("plain", false, "k=plain");
  check("", false, "k=");
  check("", true, "k=\"\"");
  check("two words", false, "k=\"two words\"");
  check("a=b", false, "k=\"a=b\"");
  check("say \"hi\"", false, R"(k="say \"hi\"")");
  check("back\\slash", false, "k=back\\slash");
  check("back\\slash x", false, R"(k="back\\slash x")");
  check("line1\nline2\ttab\r", false, R"(k="line1\nline2\ttab\r")");
  check(std::string_view("nul\0bell\a", 9), false, R"(k="nul\u0000bell\u0007")");
  check("ünïcode", false, "k=ünïcode");
}

TEST(EventLineTest, FieldFallbacks) {
  struct Case {
    std::string name;
    std::string json;
    std::string source;
    int64_t count;
    std::string time;  // "" = no timestamp at all.
  };
  const std::vector<Case> cases = {
      {"lastTimestamp wins",
       R"({"metadata":{"uid":"u","creationTimestamp":"2026-12-01T09:00:00Z"},"count":2,)"
       R"("lastTimestamp":"2026-12-01T09:00:03Z","eventTime":"2026-12-01T09:00:02.500000Z",)"
       R"("firstTimestamp":"2026-12-01T09:00:01Z","source":{"component":"kubelet"}})",
       "kubelet", 2, "2026-12-01T09:00:03Z"},
      {"eventTime (MicroTime) when lastTimestamp is null; series count; reporting fields",
       R"({"metadata":{"uid":"u"},"lastTimestamp":null,"eventTime":"2026-12-01T09:00:02.250000Z",)"
       R"("series":{"count":5,"lastObservedTime":"2026-12-01T09:00:09.000000Z"},)"
       R"("reportingComponent":"default-scheduler","reportingInstance":"sched-1"})",
       "default-scheduler/sched-1", 5, "2026-12-01T09:00:02.25Z"},
      {"firstTimestamp, count 0 is 1",
       R"({"metadata":{"uid":"u"},"count":0,"firstTimestamp":"2026-12-01T09:00:01Z",)"
       R"("reportingController":"ctrl"})",
       "ctrl", 1, "2026-12-01T09:00:01Z"},
      {"creationTimestamp",
       R"({"metadata":{"uid":"u","creationTimestamp":"2026-12-01T09:00:00Z"},)"
       R"("firstTimestamp":"garbage"})",
       "", 1, "2026-12-01T09:00:00Z"},
      {"no time", R"({"metadata":{"uid":"u"}})", "", 1, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    rapidjson::Document doc = Parse(c.json);
    absl::StatusOr<EventFields> f = ExtractEventFields(doc);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->source, c.source);
    EXPECT_EQ(f->count, c.count);
    EXPECT_EQ(f->timestamp_ns, c.time.empty() ? 0 : Ns(c.time));
  }
  rapidjson::Document no_uid = Parse(R"({"metadata":{"name":"x"}})");
  EXPECT_FALSE(ExtractEventFields(no_uid).ok());
}

class DeliveredEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("tender-events-", getpid(), "-", ++counter_);
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path() const { return (dir_ / "state" / "events").string(); }

  fs::path dir_;
  static inline int counter_ = 0;
};

TEST_F(DeliveredEventsTest, SurvivesReloadAndIgnoresTornLine) {
  {
    DeliveredEvents d(Path());
    ASSERT_TRUE(d.Load().ok());
    d.Record("a", 1, 100);
    d.Record("b", 1, 100);
    d.Record("a", 2, 200);
    d.Forget("b");
    d.Record("c", 1, 300);
  }
  // A write cut short by a kill -9.
  std::ofstream(Path(), std::ios::app) << "+ d 1 4";
  {
    DeliveredEvents d(Path());
    ASSERT_TRUE(d.Load().ok());
    EXPECT_TRUE(d.Delivered("a", 2, 200));
    EXPECT_FALSE(d.Delivered("a", 1, 100));
    EXPECT_FALSE(d.Delivered("b", 1, 100));
    EXPECT_TRUE(d.Delivered("c", 1, 300));
    EXPECT_FALSE(d.Delivered("d", 1, 4));
    EXPECT_EQ(d.size(), 2u);
    d.Record("e", 1, 500);  // Starts on a line of its own after the torn one.
  }
  DeliveredEvents d(Path());
  ASSERT_TRUE(d.Load().ok());
  EXPECT_TRUE(d.Delivered("e", 1, 500));
  EXPECT_TRUE(d.Delivered("c", 1, 300));
}

TEST_F(DeliveredEventsTest, CompactDropsOldRecordsOfGoneEvents) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const int64_t old_ns = absl::ToUnixNanos(now - absl::Hours(2));
  const int64_t new_ns = absl::ToUnixNanos(now - absl::Minutes(5));
  {
    DeliveredEvents d(Path());
    ASSERT_TRUE(d.Load().ok());
    d.Record("old-gone", 1, old_ns);
    d.Record("old-live", 1, old_ns);
    d.Record("new-gone", 1, new_ns);
    for (int i = 0; i < 10; ++i) d.Record("new-gone", 2 + i, new_ns);
    d.SetResourceVersion("123");
    EXPECT_EQ(d.journal_lines(), 13u);
    const absl::flat_hash_set<std::string> live = {"old-live"};
    ASSERT_TRUE(d.Compact(now - absl::Hours(1), &live).ok());
    EXPECT_EQ(d.size(), 2u);
    EXPECT_EQ(d.journal_lines(), 3u);
    d.Record("later", 1, new_ns);
  }
  DeliveredEvents d(Path());
  ASSERT_TRUE(d.Load().ok());
  EXPECT_EQ(d.resource_version(), "123");
  EXPECT_FALSE(d.Delivered("old-gone", 1, old_ns));
  EXPECT_TRUE(d.Delivered("old-live", 1, old_ns));
  EXPECT_TRUE(d.Delivered("new-gone", 11, new_ns));
  EXPECT_TRUE(d.Delivered("later", 1, new_ns));
}

class EventsSourceTest : public DeliveredEventsTest {
 protected:
  EventsSource::Settings Settings() {
    EventsSource::Settings s;
    s.config.labels = {{"cluster", "prod"}};
    s.state_path = Path();
    // The events' own times: their records are young enough to be kept.
    s.clock = [] { return absl::FromUnixSeconds(1'796'119'500); };  // 2026-12-01T10:05:00Z
    s.sink = [this](std::vector<model::LogEntry>&& entries) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& e : entries) got_.push_back(std::move(e));
    };
    return s;
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : got_) out.push_back(e.line);
    return out;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }
  bool WaitForCount(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      if (Count() >= n) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  std::mutex mu_;
  std::vector<model::LogEntry> got_;
};

TEST_F(EventsSourceTest, SendsEachChangeOnceAcrossRestarts) {
  {
    EventsSource source(Settings());
    ASSERT_TRUE(source.LoadForTest().ok());
    source.HandleEvent(Parse(EventJson("shop", "e1", "u1", 1)));
    source.HandleEvent(Parse(EventJson("shop", "e1", "u1", 1)));  // Replay: same count.
    source.HandleEvent(Parse(EventJson("shop", "e1", "u1", 2, "2026-12-01T10:00:09Z")));
    source.HandleEvent(Parse(R"({"metadata":{"name":"nameless"}})"));  // Counted, skipped.
    ASSERT_EQ(Count(), 2u);
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(got_[0].labels,
              R"({cluster="prod", job="kubernetes-events", kind="Pod", namespace="shop", )"
              R"(type="Warning"})");
    EXPECT_EQ(got_[0].timestamp_ns, Ns("2026-12-01T10:00:05Z"));
    EXPECT_EQ(got_[1].timestamp_ns, Ns("2026-12-01T10:00:09Z"));
    EXPECT_NE(got_[1].line.find(" count=2 "), std::string::npos) << got_[1].line;
  }
  // A restart re-lists: what was delivered is not sent again; a change is.
  EventsSource source(Settings());
  ASSERT_TRUE(source.LoadForTest().ok());
  source.HandleEvent(Parse(EventJson("shop", "e1", "u1", 2, "2026-12-01T10:00:09Z")));
  EXPECT_EQ(Count(), 2u);
  source.HandleEvent(Parse(EventJson("shop", "e1", "u1", 3, "2026-12-01T10:00:19Z")));
  EXPECT_EQ(Count(), 3u);
  // A deleted event is forgotten; another event with its own uid is new.
  source.HandleDeleted(Parse(EventJson("shop", "e1", "u1", 3)));
  source.HandleEvent(Parse(EventJson("shop", "e1", "u2", 1)));
  EXPECT_EQ(Count(), 4u);
}

TEST_F(EventsSourceTest, WatchesTheApiServerThroughExpiry) {
  test_tools::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  api.Upsert("events", EventJson("shop", "e1", "uid-a", 1));
  api.Upsert("events", EventJson("kube-system", "e2", "uid-b", 1));
  EventsSource::Settings s = Settings();
  s.config.api_server = api.url();
  {
    EventsSource source(s);
    ASSERT_TRUE(source.Start().ok());
    ASSERT_TRUE(WaitForCount(2));
    ASSERT_TRUE(api.WaitForOpenWatches(1, absl::Seconds(10)));
    api.Upsert("events", EventJson("shop", "e1", "uid-a", 2, "2026-12-01T10:01:00Z"));
    ASSERT_TRUE(WaitForCount(3));
    // 410 mid-watch: the re-list brings the change made meanwhile, and nothing else.
    api.ExpireWatches();
    api.Upsert("events", EventJson("shop", "e3", "uid-c", 1));
    ASSERT_TRUE(WaitForCount(4));
    source.Shutdown();
  }
  // A restart lists again; only the change made while stopped is sent.
  api.Upsert("events", EventJson("kube-system", "e2", "uid-b", 2, "2026-12-01T10:02:00Z"));
  EventsSource source(s);
  ASSERT_TRUE(source.Start().ok());
  ASSERT_TRUE(WaitForCount(5));
  ASSERT_TRUE(api.WaitForOpenWatches(1, absl::Seconds(10)));
  source.Shutdown();
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 5u);
  std::map<std::string, int> seen;
  for (const auto& l : lines) ++seen[l];
  for (const auto& [line, n] : seen) EXPECT_EQ(n, 1) << line;
  EXPECT_NE(lines[4].find("namespace=kube-system"), std::string::npos);
  EXPECT_NE(lines[4].find("count=2"), std::string::npos);
}

}  // namespace
}  // namespace tender::logs
