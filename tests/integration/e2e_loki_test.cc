// The tender binary tailing files into a fake Loki: every line arrives exactly once and in
// order through rename rotation, copytruncate, delete + recreate (while running and while
// stopped), a graceful restart and a Loki outage; a kill -9 is measured (what is repeated or lost
// is printed and bounded).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_loki.h"

namespace tender {
namespace {

using testing::ChildProcess;
using testing::Env;
using testing::FreePort;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::WaitFor;

class LokiE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tender-e2e-loki");
    std::filesystem::create_directories(dir_ + "/logs");
    ASSERT_TRUE(loki_.Start().ok());
    std::ofstream(dir_ + "/tender.yml") << absl::StrCat(R"(logs:
  loki:
    - url: )",
                                                        loki_.url(), R"(
      batch_wait: 100ms
      backoff_config: {min_period: 50ms, max_period: 1s}
  files:
    - paths: [)",
                                                        dir_, R"(/logs/app.log]
      labels: {job: app}
)");
  }

  std::unique_ptr<ChildProcess> StartTender() {
    return std::make_unique<ChildProcess>(testing::TenderArgs(dir_, FreePort()),
                                          dir_ + "/tender.log");
  }

  std::string LogPath() const { return dir_ + "/logs/app.log"; }
  std::string Selector() const {
    return absl::StrCat("{filename=\"", LogPath(), "\", job=\"app\"}");
  }

  // Appends lines "line <from>" .. "line <to - 1>".
  void Write(int from, int to) {
    std::ofstream f(LogPath(), std::ios::app);
    for (int i = from; i < to; ++i) f << "line " << i << "\n";
  }

  std::vector<std::string> Received() const {
    std::vector<std::string> out;
    for (const auto& e : loki_.stream("fake", Selector())) out.push_back(e.line);
    return out;
  }

  bool WaitForLine(int n) {
    const std::string want = absl::StrCat("line ", n);
    return WaitFor(
        [&] {
          for (const auto& l : Received()) {
            if (l == want) return true;
          }
          return false;
        },
        absl::Seconds(30));
  }

  static std::vector<std::string> Expected(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("line ", i));
    return out;
  }

  std::string dir_;
  test_tools::FakeLoki loki_;
};

TEST_F(LokiE2eTest, RotationsAndRestartDeliverEveryLineOnceInOrder) {
  Write(0, 100);
  {
    auto tender = StartTender();
    ASSERT_TRUE(WaitForLine(99)) << ReadFile(dir_ + "/tender.log");
    // Rotation by rename: lines written just before the rename are read from the old file.
    Write(100, 150);
    std::filesystem::rename(LogPath(), LogPath() + ".1");
    Write(150, 200);
    ASSERT_TRUE(WaitForLine(199)) << ReadFile(dir_ + "/tender.log");
    // copytruncate: the copy is not tailed; the truncated file is read again from 0.
    std::filesystem::copy_file(LogPath(), LogPath() + ".2");
    std::filesystem::resize_file(LogPath(), 0);
    Write(200, 230);
    ASSERT_TRUE(WaitForLine(229)) << ReadFile(dir_ + "/tender.log");
    // Deleted and recreated under the same name, with lines written to the old file just
    // before it was deleted (read through the still-open descriptor) and a new file that
    // grows past the old one's size before it is read.
    Write(230, 240);
    std::filesystem::remove(LogPath());
    Write(240, 250);
    ASSERT_TRUE(WaitForLine(249)) << ReadFile(dir_ + "/tender.log");
    std::filesystem::remove(LogPath());
    Write(250, 400);
    ASSERT_TRUE(WaitForLine(399)) << ReadFile(dir_ + "/tender.log");
    EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0) << ReadFile(dir_ + "/tender.log");
  }
  // Written while tender is down: the persisted position resumes after line 399.
  Write(400, 450);
  {
    auto tender = StartTender();
    ASSERT_TRUE(WaitForLine(449)) << ReadFile(dir_ + "/tender.log");
    EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0);
  }
  EXPECT_EQ(Received(), Expected(450));
  EXPECT_TRUE(loki_.violations().empty()) << loki_.violations().front();
  EXPECT_EQ(loki_.rejected_entries(), 0u);
}

TEST_F(LokiE2eTest, FileDeletedAndRecreatedWhileStoppedIsReadFromItsStart) {
  Write(0, 100);
  {
    auto tender = StartTender();
    ASSERT_TRUE(WaitForLine(99)) << ReadFile(dir_ + "/tender.log");
    EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0);
  }
  // While tender is down the file is replaced by a longer one under the same name; on most
  // file systems the new file gets the freed inode, so the inode alone would resume it at the
  // old file's offset.
  std::filesystem::remove(LogPath());
  Write(100, 300);
  {
    auto tender = StartTender();
    ASSERT_TRUE(WaitForLine(299)) << ReadFile(dir_ + "/tender.log");
    EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0);
  }
  EXPECT_EQ(Received(), Expected(300));
}

TEST_F(LokiE2eTest, LokiOutageLosesNothing) {
  // 15 s in the suite; TENDER_E2E_LOKI_OUTAGE_SECONDS=120 gives the two-minute run.
  int outage_seconds = 15;
  (void)absl::SimpleAtoi(Env("TENDER_E2E_LOKI_OUTAGE_SECONDS", "15"), &outage_seconds);
  const absl::Time outage_end = absl::Now() + absl::Seconds(outage_seconds);
  loki_.SetResponder([outage_end](const test_tools::LokiRequest&) {
    return absl::Now() < outage_end ? test_tools::LokiResponse{503} : test_tools::LokiResponse{};
  });
  auto tender = StartTender();
  // Lines keep coming during the outage.
  int written = 0;
  while (absl::Now() < outage_end - absl::Seconds(1)) {
    Write(written, written + 100);
    written += 100;
    absl::SleepFor(absl::Milliseconds(500));  // Pacing of the writer, not synchronisation.
  }
  EXPECT_EQ(loki_.accepted_entries(), 0u);
  ASSERT_TRUE(WaitForLine(written - 1)) << ReadFile(dir_ + "/tender.log");
  EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0);
  EXPECT_EQ(Received(), Expected(written));
  size_t failed = 0;
  for (const auto& r : loki_.requests()) failed += r.status == 503;
  EXPECT_GT(failed, 0u);
  std::cout << "outage: " << written << " lines, " << failed << " requests answered 503\n";
}

TEST_F(LokiE2eTest, KillNineRepeatsOrLosesOnlyTheLastSecond) {
  Write(0, 100);
  auto tender = StartTender();
  ASSERT_TRUE(WaitForLine(99)) << ReadFile(dir_ + "/tender.log");
  Write(100, 200);
  ASSERT_TRUE(WaitForLine(199)) << ReadFile(dir_ + "/tender.log");
  tender->Stop(SIGKILL, absl::Seconds(10));
  Write(200, 300);
  tender = StartTender();
  ASSERT_TRUE(WaitForLine(299)) << ReadFile(dir_ + "/tender.log");
  EXPECT_EQ(tender->Stop(SIGTERM, absl::Seconds(20)), 0);
  const std::vector<std::string> got = Received();
  std::map<std::string, int> count;
  for (const auto& l : got) ++count[l];
  int repeated = 0;
  int lost = 0;
  for (int i = 0; i < 300; ++i) {
    const int c = count[absl::StrCat("line ", i)];
    if (c == 0) ++lost;
    if (c > 1) repeated += c - 1;
  }
  std::cout << "kill -9: " << repeated << " lines repeated, " << lost << " lost, "
            << loki_.duplicates() << " identical resends dropped by Loki\n";
  // Every line was sent before the kill, so nothing is lost; positions are written every
  // second, so at most the lines read in the last second before the kill are read again.
  EXPECT_EQ(lost, 0);
  EXPECT_LE(repeated, 200);
}

}  // namespace
}  // namespace tender
