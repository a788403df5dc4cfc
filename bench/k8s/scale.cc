// Kubernetes discovery at scale: fills FakeApiServer with a realistic cluster (300 nodes, 10,000
// pods, a service and an endpoints object per 5 pods by default), runs the real tender binary
// with node, pod and endpoints jobs against it, waits for discovery to report every target,
// then measures tender's RSS and CPU while it watches a trickle of pod updates, and how long an
// added pod takes to become a target. Prints one JSON object with the figures.
//
//   k8s_scale --tender=build/collector/app/tender [--nodes=300] [--pods=10000]
//             [--idle-seconds=60] [--updates-per-second=10] [--adds=10]
//
// Scraping is kept out of the way: every target's address becomes 127.0.0.1:1 (closed; the
// instance label keeps targets apart) and the scrape interval is an hour.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/process.h"
#include "tests/tools/fake_apiserver.h"
#include "tests/tools/fake_cluster.h"
#include "tests/tools/fake_receiver.h"

namespace {

using tender::testing::ChildProcess;

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::string(argv[i] + prefix.size());
  }
  return fallback;
}

int IntFlag(int argc, char** argv, const std::string& name, int fallback) {
  int v = fallback;
  if (!absl::SimpleAtoi(Flag(argc, argv, name, absl::StrCat(fallback)), &v)) {
    std::cerr << "--" << name << " needs a number\n";
    std::exit(2);
  }
  return v;
}

// tender_sd_discovered_targets by job, from tender's /metrics.
std::map<std::string, int64_t> Discovered(httplib::Client& client) {
  std::map<std::string, int64_t> out;
  auto r = client.Get("/metrics");
  if (!r || r->status != 200) return out;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    constexpr absl::string_view kPrefix = "tender_sd_discovered_targets{job=\"";
    if (line.substr(0, kPrefix.size()) != kPrefix) continue;
    line.remove_prefix(kPrefix.size());
    const size_t q = line.find('"');
    const size_t sp = line.rfind(' ');
    if (q == absl::string_view::npos || sp == absl::string_view::npos) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(sp + 1), &v)) {
      out[std::string(line.substr(0, q))] = static_cast<int64_t>(v);
    }
  }
  return out;
}

struct ProcStats {
  int64_t rss_kib = 0;
  int64_t hwm_kib = 0;
  double cpu_seconds = 0;
};

ProcStats ReadProc(pid_t pid) {
  ProcStats s;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    int64_t v = 0;
    in >> key >> v;
    if (key == "VmRSS:") s.rss_kib = v;
    if (key == "VmHWM:") s.hwm_kib = v;
  }
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
  const size_t close = all.rfind(')');
  if (close != std::string::npos) {
    std::vector<std::string> f = absl::StrSplit(all.substr(close + 2), ' ');
    int64_t utime = 0, stime = 0;
    if (f.size() > 12 && absl::SimpleAtoi(f[11], &utime) && absl::SimpleAtoi(f[12], &stime)) {
      s.cpu_seconds =
          static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return s;
}

std::string Config(const std::string& api, const std::string& receiver) {
  return absl::StrCat(R"(global:
  scrape_interval: 1h
  scrape_timeout: 5s
scrape_configs:
  - job_name: nodes
    kubernetes_sd_configs:
      - role: node
        api_server: )",
                      api, R"(
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: )",
                      api, R"(
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        action: keep
        regex: metrics
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
  - job_name: endpoints
    kubernetes_sd_configs:
      - role: endpoints
        api_server: )",
                      api, R"(
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_probe]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_endpoint_port_name]
        action: keep
        regex: metrics
      - source_labels: [__address__]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:1
remote_write:
  - url: )",
                      receiver, "\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tender = Flag(argc, argv, "tender", "");
  if (tender.empty()) {
    std::cerr << "usage: k8s_scale --tender=PATH [--nodes=300] [--pods=10000] "
                 "[--idle-seconds=60] [--updates-per-second=10] [--adds=10]\n";
    return 2;
  }
  tender::test_tools::ClusterShape shape;
  shape.nodes = IntFlag(argc, argv, "nodes", 300);
  shape.pods = IntFlag(argc, argv, "pods", 10000);
  const int idle_seconds = IntFlag(argc, argv, "idle-seconds", 60);
  const int updates_per_second = IntFlag(argc, argv, "updates-per-second", 10);
  const int adds = IntFlag(argc, argv, "adds", 10);

  tender::test_tools::FakeApiServer api;
  if (!api.Start().ok()) return 1;
  tender::test_tools::FakeRemoteWriteReceiver receiver;
  if (!receiver.Start().ok()) return 1;
  absl::Time t0 = absl::Now();
  tender::test_tools::LoadFakeCluster(api, shape);
  size_t pod_bytes = tender::test_tools::FakePodJson(shape, 0).size();
  size_t node_bytes = tender::test_tools::FakeNodeJson(shape, 0).size();
  std::cerr << "cluster loaded in " << absl::ToDoubleSeconds(absl::Now() - t0) << " s (pod "
            << pod_bytes << " B, node " << node_bytes << " B of JSON)\n";

  const std::string dir = tender::testing::MakeTempDir("tender-k8s-scale-");
  std::ofstream(dir + "/tender.yml") << Config(api.url(), receiver.url());
  const int port = tender::testing::FreePort();
  absl::Time started = absl::Now();
  ChildProcess proc(
      {tender, "--config.file=" + dir + "/tender.yml",
       absl::StrCat("--web.listen-address=127.0.0.1:", port), "--storage.path=" + dir + "/data"},
      dir + "/tender.log");
  httplib::Client client("127.0.0.1", port);

  const int services = tender::test_tools::FakeServices(shape);
  // Targets before relabeling: a node each; three container ports per pod; per endpoints
  // object 5 addresses × 2 ports plus the 5 pods' proxy ports no endpoint port covers.
  const std::map<std::string, int64_t> want = {{"nodes", shape.nodes},
                                               {"pods", tender::test_tools::FakePodTargets(shape)},
                                               {"endpoints", static_cast<int64_t>(shape.pods) * 3}};
  (void)services;
  if (!tender::testing::WaitFor([&] { return Discovered(client) == want; }, absl::Minutes(5))) {
    std::cerr << "discovery did not reach the expected targets; have:";
    for (const auto& [job, n] : Discovered(client)) std::cerr << " " << job << "=" << n;
    std::cerr << "\nlog: " << dir << "/tender.log\n";
    return 1;
  }
  const double sync_seconds = absl::ToDoubleSeconds(absl::Now() - started);
  const ProcStats synced = ReadProc(proc.pid());
  std::cerr << "synced in " << sync_seconds << " s, RSS " << synced.rss_kib / 1024 << " MiB\n";

  // Idle watching with a trickle of pod status updates.
  int64_t max_rss = 0;
  const ProcStats idle_start = ReadProc(proc.pid());
  const absl::Time idle_t0 = absl::Now();
  int generation = 1;
  int next_pod = 0;
  for (int tick = 0; tick < idle_seconds * updates_per_second; ++tick) {
    api.Upsert("pods", tender::test_tools::FakePodJson(shape, next_pod, generation));
    if (++next_pod == shape.pods) {
      next_pod = 0;
      ++generation;
    }
    if (tick % std::max(1, updates_per_second) == 0) {
      max_rss = std::max(max_rss, ReadProc(proc.pid()).rss_kib);
    }
    absl::SleepFor(idle_t0 + absl::Seconds(1) * (tick + 1) / std::max(1, updates_per_second) -
                   absl::Now());
  }
  const ProcStats idle_end = ReadProc(proc.pid());
  const double idle_wall = absl::ToDoubleSeconds(absl::Now() - idle_t0);
  const double idle_cpu = (idle_end.cpu_seconds - idle_start.cpu_seconds) / idle_wall;

  // Discovery latency of an added pod: from the API write to the discovered-targets gauge.
  std::vector<double> latencies;
  tender::test_tools::ClusterShape grown = shape;
  for (int i = 0; i < adds; ++i) {
    const int64_t before = Discovered(client)["pods"];
    grown.pods = shape.pods + i + 1;
    const absl::Time t = absl::Now();
    api.Upsert("pods", tender::test_tools::FakePodJson(grown, shape.pods + i));
    while (Discovered(client)["pods"] < before + 3 && absl::Now() - t < absl::Seconds(30)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    latencies.push_back(absl::ToDoubleSeconds(absl::Now() - t));
  }
  std::sort(latencies.begin(), latencies.end());
  const ProcStats end = ReadProc(proc.pid());

  std::printf(
      "{\"nodes\": %d, \"pods\": %d, \"services\": %d, \"pod_json_bytes\": %zu, "
      "\"node_json_bytes\": %zu, \"sync_seconds\": %.2f, \"rss_synced_mib\": %.1f, "
      "\"rss_idle_max_mib\": %.1f, \"rss_end_mib\": %.1f, \"rss_peak_mib\": %.1f, "
      "\"idle_seconds\": %.1f, \"updates_per_second\": %d, \"idle_cpu_cores\": %.4f, "
      "\"add_latency_median_s\": %.3f, \"add_latency_max_s\": %.3f, \"list_requests\": %d, "
      "\"watch_requests\": %d}\n",
      shape.nodes, shape.pods, services, pod_bytes, node_bytes, sync_seconds,
      synced.rss_kib / 1024.0, max_rss / 1024.0, end.rss_kib / 1024.0, end.hwm_kib / 1024.0,
      idle_wall, updates_per_second, idle_cpu,
      latencies.empty() ? 0.0 : latencies[latencies.size() / 2],
      latencies.empty() ? 0.0 : latencies.back(), api.list_requests(), api.watch_requests());
  proc.Stop(SIGTERM, absl::Seconds(15));
  return 0;
}
