// k8s::SharedInformers against FakeApiServer: one list+watch per resource however many jobs
// and roles read it, late subscribers replayed from the store, subscribers leaving without
// stopping an informer others use, and every subscriber's view equal to the informer's store.

#include "collector/k8s/shared_informers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "collector/discovery/kubernetes/kubernetes_discoverer.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/unit/discovery_kubernetes/fixture_cluster.h"

namespace tender::k8s {
namespace {

std::string Pod(const std::string& ns, const std::string& name, const std::string& ip) {
  return R"({"metadata": {"name": ")" + name + R"(", "namespace": ")" + ns +
         R"("}, "spec": {"containers": [{"name": "c", "image": "i",
         "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
         "status": {"podIP": ")" +
         ip + R"(", "phase": "Running"}})";
}

// Replays one subscriber's handler calls onto a map (key -> resourceVersion), checking that
// they make sense on the way (no add of a known key, no update or delete of an unknown one).
class Mirror {
 public:
  InformerHandlers Handlers() {
    InformerHandlers h;
    h.on_added = [this](const ObjectRef& o) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_EQ(objects_.count(o->key), 0u) << "add of known " << o->key;
      objects_[o->key] = o->resource_version;
      cv_.notify_all();
    };
    h.on_updated = [this](const ObjectRef& old_obj, const ObjectRef& new_obj) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_EQ(objects_[old_obj->key], old_obj->resource_version) << old_obj->key;
      objects_[new_obj->key] = new_obj->resource_version;
      cv_.notify_all();
    };
    h.on_deleted = [this](const ObjectRef& o) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_EQ(objects_.erase(o->key), 1u) << "delete of unknown " << o->key;
      cv_.notify_all();
    };
    h.on_synced = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++synced_;
      cv_.notify_all();
    };
    return h;
  }
  bool WaitFor(const std::function<bool(const std::map<std::string, std::string>&, int)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return pred(objects_, synced_); });
  }
  std::map<std::string, std::string> objects() {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> objects_;
  int synced_ = 0;
};

std::map<std::string, std::string> AsMap(const std::vector<ObjectRef>& store) {
  std::map<std::string, std::string> out;
  for (const ObjectRef& o : store) out[o->key] = o->resource_version;
  return out;
}

// Requests for exactly `path` (list or watch), by kind.
int Requests(const test_tools::FakeApiServer& api, const std::string& path, bool watch) {
  int n = 0;
  for (const std::string& r : api.requests()) {
    if (!absl::StartsWith(r, path + "?") && r != path) continue;
    if (absl::StrContains(r, "watch=1") == watch) ++n;
  }
  return n;
}

class SharedInformersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    discovery::testing::LoadFixtureCluster(api_);
    config_.cluster.server = api_.url();
  }
  void TearDown() override { api_.Stop(); }

  std::unique_ptr<SharedInformers::Subscription> Subscribe(SharedInformers& pool, Mirror& m,
                                                           const std::string& path) {
    InformerOptions opts;
    opts.path = path;
    absl::StatusOr<std::unique_ptr<SharedInformers::Subscription>> sub =
        pool.Subscribe(config_, RestClientOptions{}, opts, m.Handlers());
    EXPECT_TRUE(sub.ok()) << sub.status();
    return sub.ok() ? *std::move(sub) : nullptr;
  }

  test_tools::FakeApiServer api_;
  KubeConfig config_;
};

TEST_F(SharedInformersTest, LateSubscriberGetsTheStoreThenLiveEvents) {
  prometheus::Registry registry;
  SharedInformers pool(&registry);
  Mirror a, b;
  auto sub_a = Subscribe(pool, a, "/api/v1/pods");
  ASSERT_TRUE(a.WaitFor([](const auto& objects, int synced) { return synced == 1; }));
  ASSERT_TRUE(api_.WaitForOpenWatches(1, absl::Seconds(10)));
  api_.Upsert("pods", Pod("default", "new-1", "10.1.9.1"));
  ASSERT_TRUE(a.WaitFor([](const auto& objects, int) { return objects.count("default/new-1"); }));

  // The late subscriber sees the store as adds and the sync, without a second list or watch.
  auto sub_b = Subscribe(pool, b, "/api/v1/pods");
  ASSERT_TRUE(b.WaitFor([](const auto&, int synced) { return synced == 1; }));
  EXPECT_EQ(b.objects(), AsMap(sub_b->Store()));
  EXPECT_EQ(pool.informers(), 1u);

  api_.Upsert("pods", Pod("default", "new-2", "10.1.9.2"));
  api_.Upsert("pods", Pod("default", "new-1", "10.1.9.3"));
  ASSERT_TRUE(api_.Delete("pods", "default", "web-1"));
  auto settled = [&](const auto& objects, int) {
    return objects.count("default/new-2") == 1 && objects.count("default/web-1") == 0 &&
           objects == AsMap(sub_a->Store());
  };
  ASSERT_TRUE(a.WaitFor(settled));
  ASSERT_TRUE(b.WaitFor(settled));
  EXPECT_EQ(a.objects(), b.objects());
  EXPECT_EQ(Requests(api_, "/api/v1/pods", false), 1);
  EXPECT_EQ(Requests(api_, "/api/v1/pods", true), 1);

  // The first subscriber leaves; the informer stays for the second and keeps it informed.
  sub_a.reset();
  EXPECT_EQ(pool.informers(), 1u);
  api_.Upsert("pods", Pod("default", "new-3", "10.1.9.4"));
  ASSERT_TRUE(b.WaitFor([](const auto& objects, int) { return objects.count("default/new-3"); }));
  EXPECT_EQ(b.objects(), AsMap(sub_b->Store()));
  EXPECT_EQ(Requests(api_, "/api/v1/pods", false), 1);

  const std::string metrics = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(metrics, ::testing::HasSubstr("tender_k8s_informers 1"));
  // The last one leaving stops the informer and publishes its final counts, once.
  sub_b.reset();
  EXPECT_EQ(pool.informers(), 0u);
  const std::string after = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(after, ::testing::HasSubstr("tender_k8s_informers 0"));
  EXPECT_THAT(after, ::testing::HasSubstr("tender_k8s_lists_total{resource=\"/api/v1/pods\"} 1"));
  EXPECT_THAT(after, ::testing::HasSubstr("tender_k8s_watches_total{resource=\"/api/v1/pods\"} 1"));
}

TEST_F(SharedInformersTest, DifferentCredentialsOrSelectorsGetTheirOwnInformer) {
  SharedInformers pool(nullptr);
  Mirror a, b, c;
  auto sub_a = Subscribe(pool, a, "/api/v1/pods");
  InformerOptions selected;
  selected.path = "/api/v1/pods";
  selected.selectors = {{"labelSelector", "app=web"}};
  auto sub_b = pool.Subscribe(config_, RestClientOptions{}, selected, b.Handlers());
  ASSERT_TRUE(sub_b.ok());
  KubeConfig other = config_;
  other.user.token = "other";
  InformerOptions plain;
  plain.path = "/api/v1/pods";
  auto sub_c = pool.Subscribe(other, RestClientOptions{}, plain, c.Handlers());
  ASSERT_TRUE(sub_c.ok());
  EXPECT_EQ(pool.informers(), 3u);
  for (Mirror* m : {&a, &b, &c}) {
    ASSERT_TRUE(m->WaitFor([](const auto&, int synced) { return synced == 1; }));
  }
  EXPECT_EQ(Requests(api_, "/api/v1/pods", false), 3);
}

// Two jobs, each with a pod and an endpoints role, on one API server.
TEST_F(SharedInformersTest, TwoJobsWithPodAndEndpointsRolesListAndWatchPodsOnce) {
  prometheus::Registry registry;
  SharedInformers pool(&registry);
  struct Job {
    std::unique_ptr<discovery::KubernetesDiscoverer> pod, endpoints;
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::vector<discovery::TargetGroup>> last;  // By role.
  };
  Job jobs[2];
  auto start = [&](Job& job, const std::string& role) {
    config::KubernetesSdConfig sd;
    sd.role = role;
    sd.api_server = api_.url();
    discovery::KubernetesDiscoverer::Options options;
    options.informers = &pool;
    options.report_delay = absl::Milliseconds(50);
    auto d = std::make_unique<discovery::KubernetesDiscoverer>(
        sd,
        [&job, role](std::vector<discovery::TargetGroup> groups) {
          std::lock_guard<std::mutex> lock(job.mu);
          job.last[role] = std::move(groups);
          job.cv.notify_all();
        },
        &registry, options);
    EXPECT_TRUE(d->Start().ok());
    return d;
  };
  auto wait = [](Job& job, const std::function<bool(Job&)>& pred) {
    std::unique_lock<std::mutex> lock(job.mu);
    return job.cv.wait_for(lock, std::chrono::seconds(20), [&] { return pred(job); });
  };
  auto has_source = [](Job& job, const std::string& role, const std::string& source) {
    for (const auto& g : job.last[role]) {
      if (g.source == source) return true;
    }
    return false;
  };
  for (Job& job : jobs) {
    job.pod = start(job, "pod");
    job.endpoints = start(job, "endpoints");
  }
  for (Job& job : jobs) {
    ASSERT_TRUE(wait(job, [&](Job& j) {
      return has_source(j, "pod", "pod/default/web-1") &&
             has_source(j, "endpoints", "endpoints/default/web");
    }));
  }
  // pods, services, endpoints: one informer each, one list and one watch each.
  EXPECT_EQ(pool.informers(), 3u);
  ASSERT_TRUE(api_.WaitForOpenWatches(3, absl::Seconds(10)));
  for (const char* path : {"/api/v1/pods", "/api/v1/services", "/api/v1/endpoints"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(Requests(api_, path, false), 1);
    EXPECT_EQ(Requests(api_, path, true), 1);
  }
  EXPECT_EQ(api_.open_watches(), 3);

  // The first job goes away (a reload without it): the second keeps its informers and
  // follows new events without another list.
  jobs[0].pod.reset();
  jobs[0].endpoints.reset();
  EXPECT_EQ(pool.informers(), 3u);
  api_.Upsert("pods", Pod("default", "new-1", "10.1.9.1"));
  ASSERT_TRUE(wait(jobs[1], [&](Job& j) { return has_source(j, "pod", "pod/default/new-1"); }));
  EXPECT_EQ(Requests(api_, "/api/v1/pods", false), 1);
  EXPECT_EQ(Requests(api_, "/api/v1/pods", true), 1);

  // A job added back joins the running informers: targets at once, still no new request.
  jobs[0].pod = start(jobs[0], "pod");
  ASSERT_TRUE(wait(jobs[0], [&](Job& j) { return has_source(j, "pod", "pod/default/new-1"); }));
  {
    std::scoped_lock lock(jobs[0].mu, jobs[1].mu);
    EXPECT_EQ(jobs[0].last["pod"].size(), jobs[1].last["pod"].size());
  }
  EXPECT_EQ(Requests(api_, "/api/v1/pods", false), 1);
  const std::string metrics = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(metrics, ::testing::HasSubstr("tender_k8s_informers 3"));
  for (Job& job : jobs) {
    job.pod.reset();
    job.endpoints.reset();
  }
  EXPECT_EQ(pool.informers(), 0u);
}

}  // namespace
}  // namespace tender::k8s
