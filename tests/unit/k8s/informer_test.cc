#include "collector/k8s/informer.h"

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/fake_apiserver.h"

namespace tender::k8s {
namespace {

using test_tools::FakeApiServer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Pod(const std::string& ns, const std::string& name, const std::string& phase = "") {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","namespace":")", ns,
                      R"("},"status":{"phase":")", phase, R"("}})");
}

// Records handler calls and mirrors the store they describe, so a test can check that the
// events alone reproduce the server state (nothing lost, nothing twice).
class Recorder {
 public:
  InformerHandlers Handlers() {
    InformerHandlers h;
    h.on_added = [this](const ObjectRef& o) {
      std::unique_lock<std::mutex> lock(mu_);
      log_.push_back("ADD " + o->key);
      if (mirror_.contains(o->key)) log_.push_back("DUPLICATE ADD " + o->key);
      mirror_[o->key] = o->resource_version;
      cv_.notify_all();
    };
    h.on_updated = [this](const ObjectRef& old_obj, const ObjectRef& o) {
      std::unique_lock<std::mutex> lock(mu_);
      log_.push_back("UPD " + o->key);
      if (mirror_[o->key] != old_obj->resource_version) log_.push_back("STALE OLD " + o->key);
      if (old_obj->resource_version == o->resource_version) log_.push_back("NO-OP " + o->key);
      mirror_[o->key] = o->resource_version;
      cv_.notify_all();
    };
    h.on_deleted = [this](const ObjectRef& o) {
      std::unique_lock<std::mutex> lock(mu_);
      log_.push_back("DEL " + o->key);
      if (mirror_.erase(o->key) == 0) log_.push_back("UNKNOWN DEL " + o->key);
      cv_.notify_all();
    };
    h.on_synced = [this] {
      std::unique_lock<std::mutex> lock(mu_);
      ++syncs_;
      cv_.notify_all();
    };
    return h;
  }

  // Waits until the log holds at least `n` entries; returns the log.
  std::vector<std::string> WaitForLog(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return log_.size() >= n; });
    return log_;
  }
  std::vector<std::string> TakeLog() {
    std::unique_lock<std::mutex> lock(mu_);
    return std::exchange(log_, {});
  }
  bool WaitForSyncs(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return syncs_ >= n; });
  }
  std::map<std::string, std::string> Mirror() {
    std::unique_lock<std::mutex> lock(mu_);
    return mirror_;
  }

 private:
  std::mutex mu_;  // std::mutex: visible to TSan (Debian's abseil is not instrumented).
  std::condition_variable cv_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> mirror_ ABSL_GUARDED_BY(mu_);
  int syncs_ ABSL_GUARDED_BY(mu_) = 0;
};

// Polls `cond` until it holds or 20 s pass (for state with no notification to wait on).
bool WaitUntil(const std::function<bool()>& cond) {
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    server_.set_token("secret");
    KubeConfig config;
    config.cluster.server = server_.url();
    config.user.token = "secret";
    auto c = RestClient::Create(config);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  std::unique_ptr<Informer> Make(const std::string& path, int page_size = 500) {
    InformerOptions o;
    o.path = path;
    o.page_size = page_size;
    o.initial_backoff = absl::Milliseconds(5);
    o.max_backoff = absl::Milliseconds(40);
    return std::make_unique<Informer>(client_.get(), o, rec_.Handlers());
  }

  // The informer's store as key -> resourceVersion.
  static std::map<std::string, std::string> StoreOf(const Informer& inf) {
    std::map<std::string, std::string> out;
    for (const ObjectRef& o : inf.Store()) out[o->key] = o->resource_version;
    return out;
  }

  FakeApiServer server_;
  std::unique_ptr<RestClient> client_;
  Recorder rec_;
};

TEST_F(InformerTest, InitialListWithPaging) {
  for (int i = 0; i < 5; ++i) server_.Upsert("pods", Pod("ns", absl::StrCat("p", i)));
  server_.Upsert("pods", Pod("other", "x"));
  auto inf = Make("/api/v1/namespaces/ns/pods", /*page_size=*/2);
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  EXPECT_THAT(rec_.TakeLog(),
              ElementsAre("ADD ns/p0", "ADD ns/p1", "ADD ns/p2", "ADD ns/p3", "ADD ns/p4"));
  InformerStats st = inf->Stats();
  EXPECT_EQ(st.lists, 1);
  EXPECT_EQ(st.list_pages, 3);
  EXPECT_EQ(server_.list_requests(), 3);
  EXPECT_TRUE(inf->HasSynced());
  EXPECT_EQ(inf->LastResourceVersion(), absl::StrCat(server_.resource_version()));
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
}

TEST_F(InformerTest, AddModifyDeleteWhileWatching) {
  server_.Upsert("pods", Pod("ns", "a"));
  auto inf = Make("/api/v1/pods");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  server_.Upsert("pods", Pod("ns", "b"));
  server_.Upsert("pods", Pod("ns", "a", "Running"));
  server_.Delete("pods", "ns", "b");
  server_.Upsert("pods", Pod("kube-system", "c"));
  EXPECT_THAT(rec_.WaitForLog(5),
              ElementsAre("ADD ns/a", "ADD ns/b", "UPD ns/a", "DEL ns/b", "ADD kube-system/c"));
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
  EXPECT_EQ(inf->Stats().lists, 1);
  auto store = inf->Store();
  ASSERT_EQ(store.size(), 2u);
  EXPECT_EQ(store[1]->key, "ns/a");
  EXPECT_STREQ((*store[1]->json)["status"]["phase"].GetString(), "Running");
}

TEST_F(InformerTest, ExpiredMidWatchRelistsAndDiffs) {
  for (const char* n : {"keep", "change", "gone"}) server_.Upsert("pods", Pod("ns", n));
  auto inf = Make("/api/v1/pods");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  rec_.TakeLog();

  // The re-list is held back (503) while the state changes behind the informer's back, so
  // only the diff can tell it what happened.
  server_.FailNext(503, 1000000);
  server_.ExpireWatches();
  ASSERT_TRUE(WaitUntil([&] { return inf->Stats().expired == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return server_.open_watches() == 0; }));
  server_.Delete("pods", "ns", "gone");
  server_.Upsert("pods", Pod("ns", "change", "Failed"));
  server_.Upsert("pods", Pod("ns", "new"));
  server_.FailNext(0, 0);

  ASSERT_TRUE(rec_.WaitForSyncs(2));
  EXPECT_THAT(rec_.TakeLog(), ElementsAre("DEL ns/gone", "UPD ns/change", "ADD ns/new"));
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
  EXPECT_EQ(inf->Stats().lists, 2);

  // Watching again from the new list: later changes arrive exactly once.
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  server_.Upsert("pods", Pod("ns", "later"));
  EXPECT_THAT(rec_.WaitForLog(1), ElementsAre("ADD ns/later"));
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
}

TEST_F(InformerTest, ExpiredAtWatchStartRelists) {
  server_.Upsert("nodes", R"({"metadata":{"name":"n1"}})");
  server_.Upsert("nodes", R"({"metadata":{"name":"n2"}})");
  auto inf = Make("/api/v1/nodes");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  rec_.TakeLog();

  // The stream drops, reconnects fail for a while, history is compacted meanwhile: the
  // re-watch from the old resourceVersion gets HTTP 410.
  server_.FailNext(503, 1000000);
  server_.CloseWatches();
  ASSERT_TRUE(WaitUntil([&] { return server_.open_watches() == 0; }));
  ASSERT_TRUE(WaitUntil([&] { return inf->Stats().errors >= 1; }));
  server_.Delete("nodes", "", "n1");
  server_.Compact();
  server_.FailNext(0, 0);

  ASSERT_TRUE(rec_.WaitForSyncs(2));
  EXPECT_THAT(rec_.TakeLog(), ElementsAre("DEL n1"));
  EXPECT_EQ(inf->Stats().expired, 1);
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
  EXPECT_EQ(StoreOf(*inf).size(), 1u);
}

TEST_F(InformerTest, ReconnectsAfterServerClosesStream) {
  server_.Upsert("services", Pod("ns", "s1"));
  auto inf = Make("/api/v1/services");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  rec_.TakeLog();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    server_.CloseWatches();
    std::string name = absl::StrCat("s", round + 2);
    server_.Upsert("services", Pod("ns", name));  // Possibly while no watch is open.
    EXPECT_THAT(rec_.WaitForLog(1), ElementsAre("ADD ns/" + name));
    rec_.TakeLog();
  }
  EXPECT_EQ(inf->Stats().lists, 1);  // Resumed from the last resourceVersion, no re-list.
  EXPECT_GE(server_.watch_requests(), 4);
  EXPECT_EQ(StoreOf(*inf), rec_.Mirror());
}

TEST_F(InformerTest, BookmarksAdvanceResourceVersion) {
  server_.Upsert("endpointslices", Pod("ns", "es1"));
  auto inf = Make("/apis/discovery.k8s.io/v1/endpointslices");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  // Changes to another resource move the global resourceVersion; a bookmark carries it.
  for (int i = 0; i < 3; ++i) server_.Upsert("pods", Pod("ns", absl::StrCat("p", i)));
  std::string want = absl::StrCat(server_.resource_version());
  server_.SendBookmarks();
  ASSERT_TRUE(WaitUntil([&] { return inf->LastResourceVersion() == want; }));
  // With history compacted to the bookmark, re-watching from it is still valid: no re-list.
  server_.Compact();
  server_.CloseWatches();
  server_.Upsert("endpointslices", Pod("ns", "es2"));
  EXPECT_THAT(rec_.WaitForLog(2), ElementsAre("ADD ns/es1", "ADD ns/es2"));
  EXPECT_EQ(inf->Stats().lists, 1);
  EXPECT_EQ(inf->Stats().expired, 0);
}

TEST_F(InformerTest, RetriesListOnThrottlingAndUnavailable) {
  server_.Upsert("endpoints", Pod("ns", "e1"));
  server_.FailNext(429, 2);
  auto inf = Make("/api/v1/endpoints");
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  EXPECT_THAT(rec_.TakeLog(), ElementsAre("ADD ns/e1"));
  EXPECT_EQ(inf->Stats().errors, 2);
  EXPECT_EQ(server_.list_requests(), 1);  // Failed requests are answered before counting.
}

TEST_F(InformerTest, HonoursRetryAfter) {
  server_.Upsert("nodes", R"({"metadata":{"name":"n1"}})");
  server_.FailNext(503, 1);  // With Retry-After: 1; the informer's own backoff is 5 ms.
  auto inf = Make("/api/v1/nodes");
  absl::Time start = absl::Now();
  inf->Start();
  ASSERT_TRUE(rec_.WaitForSyncs(1));
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(inf->Stats().errors, 1);
}

TEST_F(InformerTest, ShutdownIsPromptAndIdempotent) {
  auto inf = Make("/api/v1/pods");
  inf->Shutdown();  // Before Start.
  auto inf2 = Make("/api/v1/pods");
  inf2->Start();
  ASSERT_TRUE(server_.WaitForOpenWatches(1, absl::Seconds(20)));
  absl::Time start = absl::Now();
  inf2->Shutdown();
  inf2->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(rec_.TakeLog(), IsEmpty());
}

}  // namespace
}  // namespace tender::k8s
