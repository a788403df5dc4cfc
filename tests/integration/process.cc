#include "tests/integration/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace tender::testing {

std::unique_ptr<ChildProcess> StartPrometheusReceiver(const std::string& dir, int port) {
  const std::string config = dir + "/prometheus.yml";
  if (!std::ifstream(config).good()) std::ofstream(config) << "global:\n  scrape_interval: 1m\n";
  auto prometheus = std::make_unique<ChildProcess>(
      std::vector<std::string>{Env("PROMETHEUS_BIN", "prometheus"), "--config.file=" + config,
                               "--storage.tsdb.path=" + dir + "/prom-data",
                               absl::StrCat("--web.listen-address=127.0.0.1:", port),
                               "--web.enable-remote-write-receiver"},
      dir + "/prometheus.log");
  httplib::Client client("127.0.0.1", port);
  const bool ready = WaitFor(
      [&] {
        auto r = client.Get("/-/ready");
        return r && r->status == 200;
      },
      absl::Seconds(60));
  return ready ? std::move(prometheus) : nullptr;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (running()) Stop(SIGTERM, absl::Seconds(10));
  if (running()) Stop(SIGKILL, absl::Seconds(5));
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exited_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    status_ = status;
    return false;
  }
  return true;
}

int ChildProcess::Stop(int sig, absl::Duration timeout) {
  if (running()) kill(pid_, sig);
  WaitFor([&] { return !running(); }, timeout);
  if (!exited_) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (cond()) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  char* d = mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string();
}

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

std::vector<std::string> TenderArgs(const std::string& dir, int port,
                                    std::vector<std::string> extra) {
  std::vector<std::string> args = {Env("TENDER_BINARY_DIR", ".") + "/collector/app/tender",
                                   "--config.file=" + dir + "/tender.yml",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port),
                                   "--storage.path=" + dir + "/data"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace tender::testing
