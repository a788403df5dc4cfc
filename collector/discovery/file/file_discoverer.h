// File service discovery (Prometheus file_sd_configs): expands the configured globs, reads the
// JSON/YAML target-group files, and re-reads them every refresh_interval and whenever they
// change (inotify on their directories; mtime polling where inotify is unavailable). One
// worker thread per discoverer runs all of it and calls `on_change`; Start/Shutdown are called
// by the owner from one thread. A file that cannot be read or parsed keeps its previous groups,
// is logged (throttled) and counted in tender_sd_file_read_errors_total.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/discovery/file/target_group.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::discovery {

class FileDiscoverer {
 public:
  // Knobs for tests and unusual hosts; the defaults are what production uses.
  struct Options {
    // Watch directories with inotify. When false, or for a directory that cannot be watched
    // (missing, unsupported file system), files are polled for mtime/size/inode changes.
    bool use_inotify = true;
    // How often polled files are checked for changes.
    absl::Duration poll_interval = absl::Seconds(5);
  };

  // `on_change` receives the full current set of groups (configs in order, files in glob
  // order, groups in file order) once after Start and then each time the set changes. It runs
  // on the discoverer's thread and must not call Shutdown. `registry` may be null (the counter
  // then lives in a private registry); it must outlive this object.
  FileDiscoverer(std::vector<config::FileSdConfig> configs,
                 std::function<void(std::vector<TargetGroup>)> on_change,
                 prometheus::Registry* registry);
  FileDiscoverer(std::vector<config::FileSdConfig> configs,
                 std::function<void(std::vector<TargetGroup>)> on_change,
                 prometheus::Registry* registry, Options options);
  ~FileDiscoverer();  // Calls Shutdown.

  FileDiscoverer(const FileDiscoverer&) = delete;
  FileDiscoverer& operator=(const FileDiscoverer&) = delete;

  // Starts the worker thread, which reads every file and calls on_change once. Fails with
  // FailedPrecondition when called twice or after Shutdown, Internal when the thread or its wake-up
  // descriptor cannot be created. Missing files are not an error (they may appear later).
  absl::Status Start();

  // Stops the worker and waits for it, including a running on_change. Safe before Start and
  // more than once. No on_change call happens after it returns.
  void Shutdown();

  // Number of read/parse failures so far (also exported as tender_sd_file_read_errors_total).
  double read_errors() const;

 private:
  class Worker;
  std::unique_ptr<Worker> worker_;
};

}  // namespace tender::discovery
