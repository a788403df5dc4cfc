// Helpers for integration tests: child processes, free ports, waiting on conditions.
// Used from the test's main thread only.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tender::testing {

// A child process, killed (SIGTERM, then SIGKILL) when destroyed.
class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`; stdout and stderr go to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running();
  // Sends `sig` and waits up to `timeout` for exit; returns the exit status or -1.
  int Stop(int sig, absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// The real Prometheus (PROMETHEUS_BIN, default "prometheus") as a remote-write receiver on
// 127.0.0.1:`port`: config `dir`/prometheus.yml (written when missing), data in
// `dir`/prom-data (kept across restarts), log in `dir`/prometheus.log. Returns once /-/ready
// answers 200, or null after 60 s.
std::unique_ptr<ChildProcess> StartPrometheusReceiver(const std::string& dir, int port);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Polls `cond` every 100 ms until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout);

// Reads a whole file ("" when missing).
std::string ReadFile(const std::string& path);

// A fresh temporary directory.
std::string MakeTempDir(const std::string& prefix);

// Environment variable or `fallback`.
std::string Env(const char* name, const std::string& fallback);

// The tender binary ($TENDER_BINARY_DIR/collector/app/tender) with `dir`/tender.yml as config,
// listening on 127.0.0.1:`port`, storage in `dir`/data, then the flags of `extra`.
std::vector<std::string> TenderArgs(const std::string& dir, int port,
                                    std::vector<std::string> extra = {});

}  // namespace tender::testing
