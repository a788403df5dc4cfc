#include "collector/logs/file/file_tailer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tender::logs {
namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

class FileTailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("tender-tailer-", getpid(), "-", ++counter_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static void Append(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f << text;
  }

  FileTailer::Settings Settings(
      config::FileLogConfig::Format format = config::FileLogConfig::Format::kPlain) {
    config::FileLogConfig c;
    c.paths = {Path("*.log")};
    c.labels = {{"job", "test"}};
    c.format = format;
    c.max_line_size = 32;
    FileTailer::Settings s;
    s.files = {c};
    s.positions_path = Path("state/positions");
    s.unmatched_grace = absl::ZeroDuration();
    s.sink = [this](std::vector<model::LogEntry>&& entries) {
      for (auto& e : entries) got_.push_back(std::move(e));
    };
    return s;
  }

  std::vector<std::string> Got() const {
    std::vector<std::string> out;
    for (const auto& e : got_) out.push_back(e.line);
    return out;
  }

  fs::path dir_;
  std::vector<model::LogEntry> got_;
  static inline int counter_ = 0;
};

TEST_F(FileTailerTest, PartialLineWaitsForItsNewlineAndLabelsAreSet) {
  FileTailer tailer(Settings());
  Append(Path("a.log"), "one\ntw");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"one"}));
  Append(Path("a.log"), "o\r\nthree\n");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"one", "two", "three"}));
  ASSERT_EQ(got_.size(), 3u);
  EXPECT_EQ(got_[0].labels, absl::StrCat("{filename=\"", Path("a.log"), "\", job=\"test\"}"));
  // Read-time timestamps strictly increase within a stream.
  EXPECT_LT(got_[0].timestamp_ns, got_[1].timestamp_ns);
  EXPECT_LT(got_[1].timestamp_ns, got_[2].timestamp_ns);
}

TEST_F(FileTailerTest, FilesAppearingLater) {
  FileTailer tailer(Settings());
  tailer.PollOnce();
  EXPECT_EQ(tailer.open_files(), 0u);
  Append(Path("later.log"), "hello\n");
  Append(Path("ignored.txt"), "not matched\n");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"hello"}));
  EXPECT_EQ(tailer.open_files(), 1u);
}

TEST_F(FileTailerTest, RenameRotationReadsTheOldFileToItsEndFirst) {
  FileTailer tailer(Settings());
  Append(Path("a.log"), "1\n2\n");
  tailer.PollOnce();
  Append(Path("a.log"), "3\n");  // Written just before the rename; not read yet.
  fs::rename(Path("a.log"), Path("a.log.1"));
  Append(Path("a.log"), "4\n");
  tailer.PollOnce();
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"1", "2", "3", "4"}));
  EXPECT_EQ(tailer.open_files(), 1u);
}

TEST_F(FileTailerTest, CopyTruncateStartsAgainFromZero) {
  FileTailer tailer(Settings());
  Append(Path("a.log"), "first line\nsecond line\n");
  tailer.PollOnce();
  fs::resize_file(Path("a.log"), 0);
  Append(Path("a.log"), "new\n");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"first line", "second line", "new"}));
}

TEST_F(FileTailerTest, DeletedAndRecreated) {
  FileTailer tailer(Settings());
  Append(Path("a.log"), "old\n");
  tailer.PollOnce();
  fs::remove(Path("a.log"));
  tailer.PollOnce();
  EXPECT_EQ(tailer.open_files(), 0u);
  Append(Path("a.log"), "new\n");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"old", "new"}));
}

TEST_F(FileTailerTest, PositionsSurviveARestart) {
  Append(Path("a.log"), "1\n2\npart");
  {
    FileTailer tailer(Settings());
    tailer.PollOnce();
    ASSERT_TRUE(tailer.SavePositions().ok());
  }
  EXPECT_EQ(Got(), (Lines{"1", "2"}));
  Append(Path("a.log"), "ial\n3\n");
  FileTailer tailer(Settings());
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"1", "2", "partial", "3"}));
}

TEST_F(FileTailerTest, AnotherFileOnTheSavedInodeIsReadFromItsStart) {
  Append(Path("a.log"), "old 1\nold 2\n");
  {
    FileTailer tailer(Settings());
    tailer.PollOnce();
    ASSERT_TRUE(tailer.SavePositions().ok());
  }
  // Rewritten in place (same inode), longer than the saved offset: what a file deleted and
  // recreated while tender was stopped looks like when the inode is reused.
  {
    std::ofstream f(Path("a.log"), std::ios::trunc | std::ios::binary);
    f << "new 1\nnew 2\nnew 3\n";
  }
  {
    FileTailer tailer(Settings());
    tailer.PollOnce();
    ASSERT_TRUE(tailer.SavePositions().ok());
  }
  // The same file keeps its position (its fingerprint matches).
  Append(Path("a.log"), "new 4\n");
  FileTailer tailer(Settings());
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{"old 1", "old 2", "new 1", "new 2", "new 3", "new 4"}));
}

TEST_F(FileTailerTest, LongLinesAreCutAndBadUtf8Replaced) {
  FileTailer tailer(Settings());
  const std::string long_line(100, 'x');
  Append(Path("a.log"), long_line + "\nok \xff\xc3\x28 end\n");
  tailer.PollOnce();
  EXPECT_EQ(Got(), (Lines{std::string(32, 'x'), "ok \xEF\xBF\xBD\xEF\xBF\xBD( end"}));
}

TEST_F(FileTailerTest, DockerJsonFileLines) {
  FileTailer::Settings settings = Settings(config::FileLogConfig::Format::kDocker);
  settings.files[0].max_line_size = 1024;  // The cap applies to the JSON line.
  FileTailer tailer(std::move(settings));
  Append(Path("c.log"),
         R"({"log":"hello \"world\"\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"})"
         "\n"
         R"({"log":"part one, ","stream":"stderr","time":"2024-01-02T03:04:06Z"})"
         "\n"
         R"({"log":"part two\n","stream":"stderr","time":"2024-01-02T03:04:06.5Z"})"
         "\n");
  tailer.PollOnce();
  ASSERT_EQ(got_.size(), 2u);
  EXPECT_EQ(got_[0].line, "hello \"world\"");
  EXPECT_EQ(got_[0].timestamp_ns, 1704164645123456789);
  EXPECT_NE(got_[0].labels.find("stream=\"stdout\""), std::string::npos) << got_[0].labels;
  EXPECT_EQ(got_[1].line, "part one, part two");
  EXPECT_EQ(got_[1].timestamp_ns, 1704164646500000000);
  EXPECT_NE(got_[1].labels.find("stream=\"stderr\""), std::string::npos);
}

TEST_F(FileTailerTest, ThreadDeliversAndShutdownSavesPositions) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;
  FileTailer::Settings settings = Settings();
  settings.poll_interval = absl::Milliseconds(10);
  settings.sink = [&](std::vector<model::LogEntry>&& entries) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& e : entries) lines.push_back(std::move(e.line));
    cv.notify_all();
  };
  FileTailer tailer(std::move(settings));
  ASSERT_TRUE(tailer.Start().ok());
  for (int i = 0; i < 50; ++i) Append(Path("a.log"), absl::StrCat("line ", i, "\n"));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return lines.size() >= 50; }));
  }
  tailer.Shutdown();
  std::ifstream positions(Path("state/positions"));
  uint64_t dev = 0, ino = 0;
  int64_t offset = 0;
  positions >> dev >> ino >> offset;
  EXPECT_EQ(offset, static_cast<int64_t>(fs::file_size(Path("a.log"))));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(lines.front(), "line 0");
  EXPECT_EQ(lines.back(), "line 49");
}

TEST(SanitizeUtf8Test, Cases) {
  auto check = [](std::string in, const std::string& want, size_t replaced) {
    SCOPED_TRACE(want);
    EXPECT_EQ(SanitizeUtf8(&in), replaced);
    EXPECT_EQ(in, want);
  };
  check("plain", "plain", 0);
  check("\xc3\xbc", "\xc3\xbc", 0);
  check("\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD", 2);                  // Overlong.
  check("\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3);  // Surrogate.
  check("a\xf0\x9f\x98\x80z", "a\xf0\x9f\x98\x80z", 0);
  check("a\xf0\x9f", "a\xEF\xBF\xBD\xEF\xBF\xBD", 2);  // Truncated.
}

}  // namespace
}  // namespace tender::logs
