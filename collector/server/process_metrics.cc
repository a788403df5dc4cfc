#include "collector/server/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tender::server {
namespace {

prometheus::Gauge& Gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// System boot time in seconds since the epoch (btime of /proc/stat); 0 when unknown.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry)
    : cpu_(prometheus::BuildCounter()
               .Name("process_cpu_seconds_total")
               .Help("Total user and system CPU time spent in seconds.")
               .Register(registry)
               .Add({})),
      rss_(Gauge(registry, "process_resident_memory_bytes", "Resident memory size in bytes.")),
      vsize_(Gauge(registry, "process_virtual_memory_bytes", "Virtual memory size in bytes.")),
      start_(Gauge(registry, "process_start_time_seconds",
                   "Start time of the process since unix epoch in seconds.")),
      open_fds_(Gauge(registry, "process_open_fds", "Number of open file descriptors.")),
      max_fds_(Gauge(registry, "process_max_fds", "Maximum number of open file descriptors.")) {}

absl::Status ProcessMetrics::Update() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces: parse after the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return absl::UnavailableError("cannot parse /proc/self/stat");
  std::istringstream fields(stat.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // f[0] is field 3 (state); utime = field 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return absl::UnavailableError("short /proc/self/stat");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  if (cpu > cpu_.Value()) cpu_.Increment(cpu - cpu_.Value());
  start_.Set(BootTime() + std::stod(f[19]) / ticks);
  vsize_.Set(std::stod(f[20]));
  rss_.Set(std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  open_fds_.Set(static_cast<double>(fds));
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) max_fds_.Set(static_cast<double>(lim.rlim_cur));
  return absl::OkStatus();
}

}  // namespace tender::server
