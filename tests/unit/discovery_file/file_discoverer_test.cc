// FileDiscoverer against real files in a temp dir: first delivery, globs, changes picked up
// through inotify, mtime polling and the refresh interval, broken and deleted files.

#include "collector/discovery/file/file_discoverer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace tender::discovery {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kDeadline = absl::Seconds(20);

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/file_sd_XXXXXX";
  EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// Writes through a temp file and rename, as config managers do, so no reader sees half a file.
void WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << tmp;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << path;
}

// "source=target" for every target, in delivery order: compact and order-sensitive.
std::vector<std::string> Flatten(const std::vector<TargetGroup>& groups) {
  std::vector<std::string> out;
  for (const TargetGroup& g : groups) {
    for (const std::string& t : g.targets) {
      out.push_back(g.source + "=" + t);
    }
  }
  return out;
}

// Collects on_change calls; tests wait on the latest one with a deadline.
class Recorder {
 public:
  std::function<void(std::vector<TargetGroup>)> Callback() {
    return [this](std::vector<TargetGroup> groups) {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(std::move(groups));
      cv_.notify_all();
    };
  }

  // Waits until the latest delivery flattens to `want`; fails the test on timeout.
  void WaitForTargets(const std::vector<std::string>& want) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = cv_.wait_for(lock, absl::ToChronoSeconds(kDeadline),
                                 [&] { return !calls_.empty() && Flatten(calls_.back()) == want; });
    EXPECT_TRUE(ok) << "last delivery: "
                    << (calls_.empty() ? std::string("none")
                                       : ::testing::PrintToString(Flatten(calls_.back())));
  }

  std::vector<TargetGroup> Last() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.empty() ? std::vector<TargetGroup>{} : calls_.back();
  }

  size_t CallCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<TargetGroup>> calls_;
};

// Waits for `condition` with a deadline (for state that has no notification, like counters).
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!condition()) {
    if (absl::Now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(FileDiscovererTest, ReadsJsonAndYamlThroughGlobsAndDeliversOnceAtStart) {
  const std::string dir = MakeTempDir();
  WriteAtomically(dir + "/b.json", R"([{"targets": ["b1:1", "b2:1"], "labels": {"env": "x"}}])");
  WriteAtomically(dir + "/a.json", R"([{"targets": ["a:1"]}, {"targets": ["a:2"]}])");
  WriteAtomically(dir + "/c.yml", "- targets: ['c:1']\n  labels: {role: db}\n");
  WriteAtomically(dir + "/ignored.txt", "not a target file");
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{dir + "/*.json", dir + "/c.yml"}, absl::Hours(1)}},
                   rec.Callback(), nullptr);
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({dir + "/a.json:0=a:1", dir + "/a.json:1=a:2", dir + "/b.json:0=b1:1",
                      dir + "/b.json:0=b2:1", dir + "/c.yml:0=c:1"});
  const std::vector<TargetGroup> groups = rec.Last();
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[2].labels, (model::Labels{{"__meta_filepath", dir + "/b.json"}, {"env", "x"}}));
  EXPECT_EQ(groups[3].labels, (model::Labels{{"__meta_filepath", dir + "/c.yml"}, {"role", "db"}}));
  d.Shutdown();
  EXPECT_EQ(rec.CallCount(), 1u);  // Nothing changed after the first delivery.
  EXPECT_EQ(d.read_errors(), 0);
}

TEST(FileDiscovererTest, FirstDeliveryHappensWithNoFiles) {
  const std::string dir = MakeTempDir();
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{dir + "/*.json"}, absl::Hours(1)}}, rec.Callback(),
                   nullptr);
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({});
  d.Shutdown();
  EXPECT_EQ(rec.CallCount(), 1u);
}

// The same scenario through each change-detection path; refresh_interval is 1h unless the
// path under test is the refresh itself, so a pass proves that path works.
struct ChangeCase {
  std::string name;
  FileDiscoverer::Options options;
  absl::Duration refresh;
};

class FileDiscovererChangeTest : public ::testing::TestWithParam<ChangeCase> {};

TEST_P(FileDiscovererChangeTest, ChangesAdditionsAndDeletionsArePickedUpWithoutRestart) {
  const ChangeCase& c = GetParam();
  const std::string dir = MakeTempDir();
  const std::string a = dir + "/a.json";
  const std::string b = dir + "/b.yaml";
  WriteAtomically(a, R"([{"targets": ["a:1"]}])");
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{dir + "/*.json", dir + "/*.yaml"}, c.refresh}},
                   rec.Callback(), nullptr, c.options);
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({a + ":0=a:1"});

  WriteAtomically(a, R"([{"targets": ["a:1", "a:2"]}])");
  rec.WaitForTargets({a + ":0=a:1", a + ":0=a:2"});

  WriteAtomically(b, "- targets: [b:1]\n");
  rec.WaitForTargets({a + ":0=a:1", a + ":0=a:2", b + ":0=b:1"});

  ASSERT_EQ(::unlink(a.c_str()), 0);
  rec.WaitForTargets({b + ":0=b:1"});
  d.Shutdown();
  EXPECT_EQ(d.read_errors(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, FileDiscovererChangeTest,
    ::testing::Values(
        ChangeCase{
            "inotify", {/*use_inotify=*/true, /*poll_interval=*/absl::Hours(1)}, absl::Hours(1)},
        ChangeCase{
            "mtime_polling", {/*use_inotify=*/false, absl::Milliseconds(10)}, absl::Hours(1)},
        ChangeCase{
            "refresh_interval", {/*use_inotify=*/false, absl::Hours(1)}, absl::Milliseconds(20)}),
    [](const ::testing::TestParamInfo<ChangeCase>& info) { return info.param.name; });

TEST(FileDiscovererTest, RefreshRereadsEvenWhenStampsDoNotChange) {
  const std::string dir = MakeTempDir();
  const std::string a = dir + "/a.json";
  WriteAtomically(a, R"([{"targets": ["a:1"]}])");
  struct stat before {};
  ASSERT_EQ(::stat(a.c_str(), &before), 0);
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{a}, absl::Milliseconds(20)}}, rec.Callback(), nullptr,
                   {/*use_inotify=*/false, /*poll_interval=*/absl::Hours(1)});
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({a + ":0=a:1"});
  // Same size, same mtime: only a re-read can notice.
  {
    std::fstream f(a, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::string(R"([{"targets": ["a:)").size()));
    f << '7';
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, a.c_str(), times, 0), 0);
  rec.WaitForTargets({a + ":0=a:7"});
}

TEST(FileDiscovererTest, BrokenFileKeepsItsGroupsAndIsCounted) {
  const std::string dir = MakeTempDir();
  const std::string a = dir + "/a.json";
  const std::string b = dir + "/b.json";
  WriteAtomically(a, R"([{"targets": ["a:1"]}])");
  WriteAtomically(b, R"([{"targets": ["b:1"]}])");
  prometheus::Registry registry;
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{dir + "/*.json"}, absl::Hours(1)}}, rec.Callback(),
                   &registry);
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({a + ":0=a:1", b + ":0=b:1"});

  // A syntax error in one file, then a bad target in the other: both keep their groups.
  WriteAtomically(a, R"([{"targets": ["a:1", )");
  ASSERT_TRUE(Eventually([&] { return d.read_errors() >= 1; }));
  WriteAtomically(b, R"([{"targets": ["http://b:1"]}])");
  ASSERT_TRUE(Eventually([&] { return d.read_errors() >= 2; }));
  EXPECT_THAT(Flatten(rec.Last()), ElementsAre(a + ":0=a:1", b + ":0=b:1"));

  double exported = -1;
  for (const auto& family : registry.Collect()) {
    if (family.name == "tender_sd_file_read_errors_total") {
      ASSERT_EQ(family.metric.size(), 1u);
      exported = family.metric[0].counter.value;
    }
  }
  EXPECT_EQ(exported, d.read_errors());

  // Fixing the file brings its new groups.
  WriteAtomically(a, R"([{"targets": ["a:2"]}])");
  rec.WaitForTargets({a + ":0=a:2", b + ":0=b:1"});
}

TEST(FileDiscovererTest, DirectoryCreatedAfterStartIsWatched) {
  const std::string dir = MakeTempDir();
  const std::string sub = dir + "/later";
  Recorder rec;
  FileDiscoverer d({config::FileSdConfig{{sub + "/*.yml"}, absl::Hours(1)}}, rec.Callback(),
                   nullptr, {/*use_inotify=*/true, /*poll_interval=*/absl::Milliseconds(10)});
  ASSERT_TRUE(d.Start().ok());
  rec.WaitForTargets({});
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  WriteAtomically(sub + "/x.yml", "- targets: [x:1]\n");
  rec.WaitForTargets({sub + "/x.yml:0=x:1"});
  // Now watched through inotify: a later file is seen too.
  WriteAtomically(sub + "/y.yml", "- targets: [y:1]\n");
  rec.WaitForTargets({sub + "/x.yml:0=x:1", sub + "/y.yml:0=y:1"});
}

TEST(FileDiscovererTest, StartAndShutdownContract) {
  Recorder rec;
  {
    FileDiscoverer never_started({}, rec.Callback(), nullptr);
    never_started.Shutdown();
    never_started.Shutdown();
    EXPECT_FALSE(never_started.Start().ok());  // Not after Shutdown.
  }
  EXPECT_EQ(rec.CallCount(), 0u);
  FileDiscoverer d({}, rec.Callback(), nullptr);
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(d.Start().code(), absl::StatusCode::kFailedPrecondition);
  rec.WaitForTargets({});
  d.Shutdown();
  d.Shutdown();
  EXPECT_THAT(rec.Last(), IsEmpty());
}

}  // namespace
}  // namespace tender::discovery
