// file_tail_bench: the real tender binary tailing log files into a counting Loki receiver. A
// writer appends lines of a fixed size at a fixed rate (or as fast as it can) to one or more
// files; the receiver (in this process: snappy, then a walk over the PushRequest protobuf)
// counts entries and line bytes. Reported: lines/s and MiB/s delivered, tender's CPU seconds
// (utime + stime from /proc/PID/stat) per MiB of lines, and its peak RSS (VmHWM). Every line
// written must arrive, or the run fails.
//
//   file_tail_bench --tender=PATH [--line-bytes=100] [--rate=100000] [--seconds=20]
//                   [--files=1] [--total-mib=256] [--json]
//
// --rate is lines per second over all files, for --seconds; 0 writes --total-mib as fast as
// possible (the run then measures how fast tender drains what was written). Threads: the main
// thread writes; the receiver's cpp-httplib threads count under one mutex.
#include <signal.h>
#include <snappy.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "tests/integration/process.h"

namespace {

bool ReadVarint(const char*& p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Calls `on_field(number, data, size)` for every length-delimited field of the message in
// [p, end) and skips the others. False when the message is malformed.
template <typename F>
bool ForEachBytesField(const char* p, const char* end, F&& on_field) {
  while (p < end) {
    uint64_t key = 0;
    if (!ReadVarint(p, end, &key)) return false;
    const uint64_t wire = key & 7;
    uint64_t n = 0;
    if (wire == 0) {
      if (!ReadVarint(p, end, &n)) return false;
    } else if (wire == 1 || wire == 5) {
      const int64_t size = wire == 1 ? 8 : 4;
      if (end - p < size) return false;
      p += size;
    } else if (wire == 2) {
      if (!ReadVarint(p, end, &n) || static_cast<uint64_t>(end - p) < n) return false;
      if (!on_field(key >> 3, p, n)) return false;
      p += n;
    } else {
      return false;
    }
  }
  return true;
}

// The Loki receiver: counts entries and line bytes of every push (protocols.md §6.2).
class CountingLoki {
 public:
  bool Start() {
    server_.Post("/loki/api/v1/push", [this](const httplib::Request& req, httplib::Response& res) {
      std::string raw;
      if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw)) {
        res.status = 400;
        return;
      }
      uint64_t entries = 0, bytes = 0;
      const bool ok = ForEachBytesField(
          raw.data(), raw.data() + raw.size(), [&](uint64_t field, const char* p, uint64_t n) {
            if (field != 1) return true;  // StreamAdapter.
            return ForEachBytesField(p, p + n, [&](uint64_t f2, const char* q, uint64_t m) {
              if (f2 != 2) return true;  // EntryAdapter.
              ++entries;
              return ForEachBytesField(q, q + m, [&](uint64_t f3, const char*, uint64_t len) {
                if (f3 == 2) bytes += len;  // The line.
                return true;
              });
            });
          });
      if (!ok) {
        res.status = 400;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      entries_ += entries;
      bytes_ += bytes;
      last_ = absl::Now();
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return false;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return true;
  }
  void Stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  uint64_t entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  uint64_t bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }
  absl::Time last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
  absl::Time last_;
};

// utime + stime of `pid` in seconds (fields 14 and 15 of /proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A "VmHWM:" style line of /proc/PID/status, in KiB.
int64_t StatusKib(pid_t pid, std::string_view key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(key.size() + 1)) >> kib;
      return kib;
    }
  }
  return 0;
}

std::string Flag(int argc, char** argv, const std::string& name, std::string fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).rfind(prefix, 0) == 0) return argv[i] + prefix.size();
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tender = Flag(argc, argv, "tender", "");
  int64_t line_bytes = 0, rate = 0, seconds = 0, files = 0, total_mib = 0;
  if (tender.empty() || !absl::SimpleAtoi(Flag(argc, argv, "line-bytes", "100"), &line_bytes) ||
      !absl::SimpleAtoi(Flag(argc, argv, "rate", "100000"), &rate) ||
      !absl::SimpleAtoi(Flag(argc, argv, "seconds", "20"), &seconds) ||
      !absl::SimpleAtoi(Flag(argc, argv, "files", "1"), &files) ||
      !absl::SimpleAtoi(Flag(argc, argv, "total-mib", "256"), &total_mib) || line_bytes < 16 ||
      files < 1 || seconds < 1 || rate < 0) {
    std::cerr << "usage: file_tail_bench --tender=PATH [--line-bytes=100] [--rate=100000] "
                 "[--seconds=20] [--files=1] [--total-mib=256] [--json]\n";
    return 2;
  }
  bool json = false;
  for (int i = 1; i < argc; ++i) json = json || std::string_view(argv[i]) == "--json";

  const std::string dir = tender::testing::MakeTempDir("tender-tail-bench");
  std::filesystem::create_directories(dir + "/logs");
  CountingLoki loki;
  if (!loki.Start()) {
    std::cerr << "cannot bind the receiver\n";
    return 1;
  }
  std::vector<std::string> paths;
  for (int64_t i = 0; i < files; ++i) paths.push_back(absl::StrCat(dir, "/logs/app-", i, ".log"));
  for (const auto& p : paths) std::ofstream(p).flush();
  std::ofstream(dir + "/tender.yml")
      << absl::StrCat("logs:\n  loki:\n    - url: http://127.0.0.1:", loki.port(),
                      "/loki/api/v1/push\n  files:\n    - paths: [", dir,
                      "/logs/*.log]\n      labels: {job: bench}\n");
  auto child = std::make_unique<tender::testing::ChildProcess>(
      std::vector<std::string>{
          tender, "--config.file=" + dir + "/tender.yml",
          absl::StrCat("--web.listen-address=127.0.0.1:", tender::testing::FreePort()),
          "--storage.path=" + dir + "/data", "--log.level=warn"},
      dir + "/tender.log");
  const pid_t pid = child->pid();
  // Let tender start and open the (empty) files before the clock starts.
  absl::SleepFor(absl::Seconds(2));
  const int64_t rss_start_kib = StatusKib(pid, "VmRSS:");

  // Lines: "<sequence> " then filler to line_bytes - 1, then "\n".
  std::vector<std::ofstream> outs;
  for (const auto& p : paths) outs.emplace_back(p, std::ios::app | std::ios::binary);
  const double cpu_start = CpuSeconds(pid);
  const absl::Time start = absl::Now();
  uint64_t written = 0, written_bytes = 0;
  std::string line;
  auto write_line = [&](size_t file) {
    line = absl::StrCat(written, " ");
    line.resize(static_cast<size_t>(line_bytes - 1), 'x');
    line.push_back('\n');
    outs[file].write(line.data(), static_cast<std::streamsize>(line.size()));
    ++written;
    written_bytes += line.size() - 1;  // Loki gets the line without its newline.
  };
  const absl::Duration tick = absl::Milliseconds(10);
  const absl::Time end_of_writing = start + absl::Seconds(seconds);
  if (rate == 0) {
    while (written_bytes < static_cast<uint64_t>(total_mib) << 20) {
      write_line(written % paths.size());
    }
  } else {
    while (absl::Now() < end_of_writing) {
      const auto due = static_cast<uint64_t>(static_cast<double>(rate) *
                                             absl::ToDoubleSeconds(absl::Now() - start));
      while (written < due) write_line(written % paths.size());
      for (auto& o : outs) o.flush();
      absl::SleepFor(tick);
    }
  }
  for (auto& o : outs) o.flush();
  const absl::Time wrote = absl::Now();
  // Drained: every line arrived (a run that loses lines fails).
  const absl::Time deadline = wrote + absl::Seconds(120);
  while (loki.entries() < written && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Time drained = loki.last();
  const double cpu = CpuSeconds(pid) - cpu_start;
  const int64_t hwm_kib = StatusKib(pid, "VmHWM:");
  const uint64_t got = loki.entries();
  const uint64_t got_bytes = loki.bytes();
  child->Stop(SIGTERM, absl::Seconds(20));
  loki.Stop();
  std::filesystem::remove_all(dir);

  const double elapsed = absl::ToDoubleSeconds(std::max(drained, wrote) - start);
  const double mib = static_cast<double>(written_bytes) / (1 << 20);
  const double lines_per_s = static_cast<double>(got) / elapsed;
  const double mib_per_s = static_cast<double>(got_bytes) / (1 << 20) / elapsed;
  const double cpu_per_mib = cpu / mib;
  const double lag = absl::ToDoubleSeconds(drained - wrote);
  if (json) {
    std::cout
        << absl::StrFormat(
               R"({"line_bytes":%d,"rate":%d,"files":%d,"seconds":%.1f,"written":%d,"received":%d,)"
               R"("mib":%.1f,"lines_per_s":%.0f,"mib_per_s":%.2f,"cpu_s":%.2f,"cpu_s_per_mib":%.4f,)"
               R"("cpu_util":%.2f,"rss_start_mib":%.1f,"peak_rss_mib":%.1f,"drain_lag_s":%.2f})",
               line_bytes, rate, files, absl::ToDoubleSeconds(wrote - start), written, got, mib,
               lines_per_s, mib_per_s, cpu, cpu_per_mib, cpu / elapsed, rss_start_kib / 1024.0,
               hwm_kib / 1024.0, lag)
        << "\n";
  } else {
    std::cout << absl::StrFormat(
        "line %d B, rate %s, %d file(s), wrote for %.1f s: %d lines written, %d received; %.0f "
        "lines/s, "
        "%.2f MiB/s; tender CPU %.2f s = %.4f s/MiB (%.0f%% of a core); RSS %.1f MiB at start, "
        "peak %.1f MiB; last line %.2f s after the writer stopped\n",
        line_bytes, rate == 0 ? std::string("max") : absl::StrCat(rate, "/s"), files,
        absl::ToDoubleSeconds(wrote - start), written, got, lines_per_s, mib_per_s, cpu,
        cpu_per_mib, 100 * cpu / elapsed, rss_start_kib / 1024.0, hwm_kib / 1024.0, lag);
  }
  if (got != written) {
    std::cerr << "FAILED: " << written - got << " lines missing\n";
    return 1;
  }
  return 0;
}
