// FileDiscoverer: one worker thread; poll(2) on an eventfd (shutdown) and an inotify fd, with
// a timeout at the next refresh or mtime poll.

#include "collector/discovery/file/file_discoverer.h"

#include <glob.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace tender::discovery {
namespace {

constexpr std::string_view kComponent = "discovery/file";

// What a poll compares to notice a changed file without reading it.
struct FileStamp {
  std::string path;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;
  bool exists = false;

  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

FileStamp StampOf(const std::string& path) {
  FileStamp stamp;
  stamp.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    stamp.exists = true;
    stamp.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    stamp.size = st.st_size;
    stamp.inode = st.st_ino;
  }
  return stamp;
}

// The files a config's patterns match now: glob order per pattern, duplicates dropped.
std::vector<std::string> ExpandPatterns(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const std::string& pattern : patterns) {
    glob_t matches{};
    if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) {
        std::string path = matches.gl_pathv[i];
        if (seen.insert(path).second) {
          files.push_back(std::move(path));
        }
      }
    }
    globfree(&matches);
  }
  return files;
}

std::string DirOf(const std::string& pattern) {
  const size_t slash = pattern.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : pattern.substr(0, slash);
}

// Reads a whole file. ENOENT sets `*missing` (the file vanished after the glob: not an error).
absl::StatusOr<std::string> ReadFile(const std::string& path, bool* missing) {
  *missing = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    *missing = err == ENOENT;
    return absl::NotFoundError(absl::StrCat("cannot open: ", std::strerror(err)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError("read error");
  }
  return buffer.str();
}

}  // namespace

class FileDiscoverer::Worker {
 public:
  Worker(std::vector<config::FileSdConfig> configs,
         std::function<void(std::vector<TargetGroup>)> on_change, prometheus::Registry* registry,
         Options options)
      : configs_(std::move(configs)),
        on_change_(std::move(on_change)),
        options_(options),
        owned_registry_(registry == nullptr ? std::make_unique<prometheus::Registry>() : nullptr),
        read_errors_(prometheus::BuildCounter()
                         .Name("tender_sd_file_read_errors_total")
                         .Help("Target-group files that could not be read or parsed (the file "
                               "keeps its previous groups).")
                         .Register(registry != nullptr ? *registry : *owned_registry_)
                         .Add({})),
        states_(configs_.size()) {
    std::set<std::string> dirs;
    for (const config::FileSdConfig& c : configs_) {
      for (const std::string& pattern : c.files) {
        dirs.insert(DirOf(pattern));
      }
    }
    dirs_.assign(dirs.begin(), dirs.end());
  }

  ~Worker() {
    Shutdown();
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
    if (inotify_fd_ >= 0) {
      ::close(inotify_fd_);
    }
  }

  absl::Status Start() {
    if (started_ || stop_.load(std::memory_order_acquire)) {
      return absl::FailedPreconditionError("file discoverer already started or shut down");
    }
    started_ = true;
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
    }
    if (options_.use_inotify) {
      inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (inotify_fd_ < 0) {
        const std::string err = std::strerror(errno);
        log::Warn(kComponent, "inotify unavailable; polling target files for changes",
                  {{"err", err}});
      }
    }
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return absl::InternalError(absl::StrCat("cannot start file discovery thread: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Shutdown() {
    stop_.store(true, std::memory_order_release);
    if (wake_fd_ >= 0) {
      const uint64_t one = 1;
      // A full eventfd counter (EAGAIN) still leaves it readable, which is all we need.
      [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    }
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  double read_errors() const { return read_errors_.Value(); }

 private:
  // Per file_sd_config: the groups of each matched file (in match order) and their stamps.
  struct ConfigState {
    std::vector<std::pair<std::string, std::vector<TargetGroup>>> groups;
    std::vector<FileStamp> stamps;
    absl::Time next_refresh;
  };

  void Run() {
    AddMissingWatches();
    absl::Time now = absl::Now();
    for (size_t i = 0; i < configs_.size(); ++i) {
      Refresh(i);
      states_[i].next_refresh = now + configs_[i].refresh_interval;
    }
    Deliver(/*force=*/true);
    absl::Time next_poll = now + options_.poll_interval;
    while (!stop_.load(std::memory_order_acquire)) {
      now = absl::Now();
      absl::Time deadline = absl::InfiniteFuture();
      for (const ConfigState& s : states_) {
        deadline = std::min(deadline, s.next_refresh);
      }
      if (!AllWatched()) {
        deadline = std::min(deadline, next_poll);
      }
      WaitUntil(deadline, now);
      if (stop_.load(std::memory_order_acquire)) {
        break;
      }
      bool changed = DrainInotify();
      if (changed) {
        Settle();
      }
      // A directory that appeared since the last pass may already hold files.
      changed = AddMissingWatches() || changed;
      now = absl::Now();
      const bool poll_due = !AllWatched() && now >= next_poll;
      if (poll_due) {
        next_poll = now + options_.poll_interval;
      }
      for (size_t i = 0; i < configs_.size(); ++i) {
        bool due = changed || now >= states_[i].next_refresh;
        if (!due && poll_due) {
          due = CurrentStamps(i) != states_[i].stamps;
        }
        if (due) {
          Refresh(i);
          states_[i].next_refresh = now + configs_[i].refresh_interval;
        }
      }
      Deliver(/*force=*/false);
    }
  }

  // Blocks until `deadline`, a shutdown, or an inotify event.
  void WaitUntil(absl::Time deadline, absl::Time now) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const int64_t ms =
          absl::ToInt64Milliseconds(absl::Ceil(deadline - now, absl::Milliseconds(1)));
      timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const nfds_t n = inotify_fd_ >= 0 ? 2 : 1;
    while (::poll(fds, n, timeout_ms) < 0 && errno == EINTR) {
    }
  }

  // Editors and config managers write in several steps: wait until the directory has been
  // quiet for 20ms (at most ~200ms) so a half-written file is not read (and counted as bad).
  void Settle() {
    for (int round = 0; round < 10 && !stop_.load(std::memory_order_acquire); ++round) {
      pollfd fd = {inotify_fd_, POLLIN, 0};
      if (::poll(&fd, 1, 20) <= 0 || !DrainInotify()) {
        return;
      }
    }
  }

  // Reads every pending inotify event; true when there was any.
  bool DrainInotify() {
    if (inotify_fd_ < 0) {
      return false;
    }
    bool any = false;
    alignas(inotify_event) char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(inotify_fd_, buffer, sizeof(buffer));
      if (n <= 0) {
        break;  // EAGAIN: drained.
      }
      any = true;
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buffer + off);
        if ((ev->mask & IN_IGNORED) != 0) {
          watched_.erase(ev->wd);  // The directory went away; AddMissingWatches retries.
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    return any;
  }

  // Watches each directory that is not watched yet; true when a new watch was added.
  bool AddMissingWatches() {
    if (inotify_fd_ < 0) {
      return false;
    }
    bool added = false;
    for (const std::string& dir : dirs_) {
      if (IsWatched(dir)) {
        continue;
      }
      const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(),
                                         IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                             IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                                             IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
      if (wd >= 0) {
        watched_[wd] = dir;
        added = true;
      }
    }
    return added;
  }

  bool IsWatched(const std::string& dir) const {
    return std::any_of(watched_.begin(), watched_.end(),
                       [&](const auto& entry) { return entry.second == dir; });
  }

  bool AllWatched() const { return inotify_fd_ >= 0 && watched_.size() == dirs_.size(); }

  std::vector<FileStamp> CurrentStamps(size_t i) const {
    std::vector<FileStamp> stamps;
    for (const std::string& path : ExpandPatterns(configs_[i].files)) {
      stamps.push_back(StampOf(path));
    }
    return stamps;
  }

  // Re-reads the files of config `i`. A file that fails keeps the groups it had.
  void Refresh(size_t i) {
    ConfigState& state = states_[i];
    std::vector<std::pair<std::string, std::vector<TargetGroup>>> groups;
    std::vector<FileStamp> stamps;
    for (const std::string& path : ExpandPatterns(configs_[i].files)) {
      stamps.push_back(StampOf(path));
      bool missing = false;
      absl::StatusOr<std::vector<TargetGroup>> parsed;
      absl::StatusOr<std::string> content = ReadFile(path, &missing);
      if (missing) {
        continue;  // Deleted since the glob: its groups go.
      }
      if (content.ok()) {
        parsed = ParseTargetGroupFile(path, *content);
      } else {
        parsed = content.status();
      }
      if (parsed.ok()) {
        groups.emplace_back(path, *std::move(parsed));
        continue;
      }
      read_errors_.Increment();
      if (uint64_t suppressed = 0; throttle_.Allow(&suppressed)) {
        const std::string message(FromAbsl(parsed.status().message()));
        const std::string suppressed_text = absl::StrCat(suppressed);
        log::Warn(kComponent, "cannot read target group file; keeping its previous targets",
                  {{"file", path}, {"err", message}, {"suppressed", suppressed_text}});
      }
      for (auto& [old_path, old_groups] : state.groups) {
        if (old_path == path) {
          groups.emplace_back(path, std::move(old_groups));
          break;
        }
      }
    }
    state.groups = std::move(groups);
    state.stamps = std::move(stamps);
  }

  // Calls on_change with every group when the set differs from the last call (or `force`).
  void Deliver(bool force) {
    std::vector<TargetGroup> all;
    for (const ConfigState& s : states_) {
      for (const auto& [path, groups] : s.groups) {
        all.insert(all.end(), groups.begin(), groups.end());
      }
    }
    if (!force && all == delivered_) {
      return;
    }
    delivered_ = all;
    on_change_(std::move(all));
  }

  const std::vector<config::FileSdConfig> configs_;
  const std::function<void(std::vector<TargetGroup>)> on_change_;
  const Options options_;
  std::unique_ptr<prometheus::Registry> owned_registry_;
  prometheus::Counter& read_errors_;
  std::vector<std::string> dirs_;  // Directories of all patterns, each once.
  bool started_ = false;           // Owner thread only.
  int wake_fd_ = -1;
  int inotify_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  // Worker thread only:
  std::vector<ConfigState> states_;
  std::map<int, std::string> watched_;  // inotify watch descriptor -> directory.
  std::vector<TargetGroup> delivered_;
  log::Throttle throttle_{absl::Seconds(30)};
};

FileDiscoverer::FileDiscoverer(std::vector<config::FileSdConfig> configs,
                               std::function<void(std::vector<TargetGroup>)> on_change,
                               prometheus::Registry* registry)
    : FileDiscoverer(std::move(configs), std::move(on_change), registry, Options{}) {}

FileDiscoverer::FileDiscoverer(std::vector<config::FileSdConfig> configs,
                               std::function<void(std::vector<TargetGroup>)> on_change,
                               prometheus::Registry* registry, Options options)
    : worker_(
          std::make_unique<Worker>(std::move(configs), std::move(on_change), registry, options)) {}

FileDiscoverer::~FileDiscoverer() { Shutdown(); }

absl::Status FileDiscoverer::Start() { return worker_->Start(); }

void FileDiscoverer::Shutdown() { worker_->Shutdown(); }

double FileDiscoverer::read_errors() const { return worker_->read_errors(); }

}  // namespace tender::discovery
