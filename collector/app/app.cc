#include "collector/app/app.h"

#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/app/discovery_manager.h"
#include "collector/config/config.h"
#include "collector/discovery/static/static_targets.h"
#include "collector/logs/events/events_source.h"
#include "collector/logs/file/file_tailer.h"
#include "collector/logs/kubernetes/pod_log_source.h"
#include "collector/model/absl_compat.h"
#include "collector/model/log.h"
#include "collector/ring/ingest_ring.h"
#include "collector/scrape/scrape_manager.h"
#include "collector/server/admin_server.h"
#include "collector/server/process_metrics.h"
#include "collector/textparse/check.h"
#include "collector/textparse/parser.h"
#include "exporters/loki/exporter.h"
#include "exporters/remote_write/exporter.h"

#ifndef TENDER_VERSION
#define TENDER_VERSION "0.0.0"
#endif

namespace tender::app {
namespace {

// A job name as a file name: every byte outside [A-Za-z0-9._-] becomes '_'.
std::string PositionsFileName(const std::string& job_name) {
  std::string out = job_name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

constexpr char kUsage[] =
    "usage: tender [flags]\n"
    "       tender check config FILE\n"
    "       tender check metrics [--format=auto|text|openmetrics] [--print] < FILE\n"
    "       tender version\n"
    "\n"
    "flags:\n"
    "  --config.file=FILE            Prometheus-style config (default: built-in, scrapes\n"
    "                                tender and node-exporter on localhost:9100, writes to\n"
    "                                http://localhost:9090/api/v1/write)\n"
    "  --web.listen-address=H:P      admin and /metrics address (default 0.0.0.0:9099)\n"
    "  --storage.path=DIR            data directory (default data/)\n"
    "  --log.level=LEVEL             debug|info|warn|error (default info)\n"
    "  --log.format=FORMAT           logfmt|json (default logfmt)\n"
    "  --web.enable-lifecycle        serve POST /-/reload\n"
    "  --scrape.max-concurrent-per-host=N\n"
    "                                scrapes at once against one host:port, e.g. an API\n"
    "                                server proxying many targets (default 16; 0 = no limit)\n";

struct Flags {
  std::string config_file;
  std::string listen_address = "0.0.0.0:9099";
  std::string storage_path = "data/";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  bool enable_lifecycle = false;
  int max_concurrent_per_host = 16;
  // Not in the usage text: for measuring the retry (docs/benchmarks.md).
  bool retry_on_reset = true;
};

// Parses --name=value and --name value. Returns false (with a message) on unknown flags.
bool ParseFlags(const std::vector<std::string>& args, Flags* flags, std::string* err) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.rfind("--", 0) != 0) {
      *err = "unexpected argument: " + a;
      return false;
    }
    std::string name = a.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    if (name == "web.enable-lifecycle") {
      flags->enable_lifecycle = true;
      continue;
    }
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      *err = "flag --" + name + " needs a value";
      return false;
    }
    if (name == "config.file") {
      flags->config_file = value;
    } else if (name == "web.listen-address") {
      flags->listen_address = value;
    } else if (name == "storage.path") {
      flags->storage_path = value;
    } else if (name == "log.level") {
      flags->log_level = value;
    } else if (name == "log.format") {
      flags->log_format = value;
    } else if (name == "scrape.max-concurrent-per-host") {
      if (!absl::SimpleAtoi(value, &flags->max_concurrent_per_host) ||
          flags->max_concurrent_per_host < 0) {
        *err = "flag --scrape.max-concurrent-per-host needs a number >= 0";
        return false;
      }
    } else if (name == "scrape.retry-on-reset") {
      if (value != "true" && value != "false") {
        *err = "flag --scrape.retry-on-reset needs true or false";
        return false;
      }
      flags->retry_on_reset = value == "true";
    } else {
      *err = "unknown flag --" + name;
      return false;
    }
  }
  return true;
}

int CheckConfig(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::cerr << kUsage;
    return 2;
  }
  const config::LoadResult r = config::LoadConfigFile(args[0]);
  for (const auto& w : r.warnings) std::cerr << args[0] << ": warning: " << w << "\n";
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) std::cerr << e.ToString(args[0]) << "\n";
    std::cerr << "FAILED: " << r.errors.size() << " error(s) in " << args[0] << "\n";
    return 2;
  }
  std::cout << "SUCCESS: " << args[0] << " is a valid config file\n";
  return 0;
}

int CheckMetrics(const std::vector<std::string>& args) {
  std::optional<textparse::Format> format;
  bool strict = false;
  bool print = false;
  for (const auto& a : args) {
    if (a == "--print") {
      print = true;
    } else if (a == "--format=auto") {
      format.reset();
    } else if (a == "--format=text") {
      format = textparse::Format::kText;
    } else if (a == "--format=openmetrics") {
      format = textparse::Format::kOpenMetrics;
      strict = true;
    } else {
      std::cerr << "unknown argument " << a << "\n" << kUsage;
      return 2;
    }
  }
  std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string out;
  const absl::Status st = textparse::CheckExposition(body, format, strict, print, &out);
  std::cout << out;
  if (!st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  return 0;
}

// Hands batches from one ring shard to every exporter, the last one by move.
class Pump {
 public:
  Pump(scrape::BatchRing* ring, size_t shard,
       std::vector<remote_write::RemoteWriteExporter*> exporters)
      : ring_(ring), shard_(shard), exporters_(std::move(exporters)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Pump() { thread_.join(); }

 private:
  void Run() {
    model::SeriesBatch batch;
    // Pop returns false on timeout, or once the ring is closed and drained.
    while (true) {
      if (ring_->Pop(shard_, &batch, absl::Milliseconds(200))) {
        for (size_t i = 0; i + 1 < exporters_.size(); ++i) {
          model::SeriesBatch copy = batch;
          exporters_[i]->Consume(std::move(copy));
        }
        if (!exporters_.empty()) exporters_.back()->Consume(std::move(batch));
        batch = model::SeriesBatch{};
      } else if (ring_->IsDrained(shard_)) {
        return;
      }
    }
  }

  scrape::BatchRing* ring_;
  size_t shard_;
  std::vector<remote_write::RemoteWriteExporter*> exporters_;
  std::thread thread_;
};

std::string SelfAddress(const std::string& listen) {
  std::string host;
  int port = 0;
  if (!server::SplitHostPort(listen, &host, &port).ok()) return "localhost:9099";
  if (host == "0.0.0.0" || host == "::") host = "localhost";
  return host + ":" + std::to_string(port);
}

int RunCollector(const Flags& flags) {
  // Buffers of 256 KiB and more (scrape bodies and batches, 2-4 MB for cAdvisor and
  // kube-state-metrics) get their own mapping and go back to the system when freed. glibc's
  // default raises this threshold to the size of each such buffer freed, after which they come
  // from the heaps of the many thread arenas, where freed memory stays: at 92 k series 60 % of
  // the heap was free memory. The cost is page faults when a batch is written (docs/benchmarks.md).
  // MALLOC_MMAP_THRESHOLD_ in the environment still wins.
  if (getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 256 << 10);
  // Signals are taken synchronously by this thread; every thread started later inherits the
  // mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto load = [&]() -> config::LoadResult {
    if (flags.config_file.empty()) {
      return config::LoadConfigString(config::DefaultConfigYaml(SelfAddress(flags.listen_address)));
    }
    return config::LoadConfigFile(flags.config_file);
  };
  const std::string source = flags.config_file.empty() ? "<default>" : flags.config_file;
  config::LoadResult loaded = load();
  for (const auto& w : loaded.warnings) log::Warn("config", w, {{"file", source}});
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::cerr << e.ToString(source) << "\n";
    return 2;
  }
  config::Config cfg = *loaded.config;
  std::error_code ec;
  std::filesystem::create_directories(flags.storage_path, ec);
  if (ec) {
    log::Error("app", "cannot create storage path",
               {{"path", flags.storage_path}, {"err", ec.message()}});
    return 1;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("tender_build_info")
      .Help("tender version.")
      .Register(*registry)
      .Add({{"version", TENDER_VERSION}})
      .Set(1);
  const std::string user_agent = absl::StrCat("tender/", TENDER_VERSION);

  // The default bound of each destination's disk queue: a tenth of the free space.
  int64_t max_disk_bytes = cfg.storage.max_bytes;
  if (max_disk_bytes == 0) {
    struct statvfs fs {};
    if (statvfs(flags.storage_path.c_str(), &fs) == 0) {
      max_disk_bytes = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize) / 10;
    }
    // Whole MiB, at least 64 MiB.
    max_disk_bytes = std::max<int64_t>(max_disk_bytes >> 20 << 20, int64_t{64} << 20);
  }
  log::Info("app", "remote-write queue bounds",
            {{"storage_path", flags.storage_path},
             {"max_bytes_per_destination", config::FormatByteSize(max_disk_bytes)},
             {"memory_bytes_per_destination", config::FormatByteSize(cfg.storage.memory_bytes)},
             {"max_age", config::FormatDuration(cfg.storage.max_age)}});

  // Exporters start first and stop last.
  std::vector<std::unique_ptr<remote_write::RemoteWriteExporter>> exporters;
  std::vector<remote_write::RemoteWriteExporter*> raw;
  for (const auto& rw : cfg.remote_write) {
    remote_write::RemoteWriteExporter::Settings s;
    s.config = rw;
    s.registry = registry.get();
    s.user_agent = user_agent;
    s.queue_dir = absl::StrCat(flags.storage_path, "/queue/remote_write/", rw.name);
    s.storage = cfg.storage;
    s.max_disk_bytes = max_disk_bytes;
    auto e = std::make_unique<remote_write::RemoteWriteExporter>(std::move(s));
    if (absl::Status st = e->Start(); !st.ok()) {
      log::Error("app", "remote write failed to start", {{"err", FromAbsl(st.message())}});
      return 1;
    }
    raw.push_back(e.get());
    exporters.push_back(std::move(e));
  }

  // Logs: one LokiExporter per logs.loki destination, fed by the file tailer.
  std::vector<std::unique_ptr<loki::LokiExporter>> loki_exporters;
  for (const auto& lc : cfg.logs.loki) {
    loki::LokiExporter::Settings s;
    s.config = lc;
    s.registry = registry.get();
    s.user_agent = user_agent;
    s.queue_dir = absl::StrCat(flags.storage_path, "/queue/loki/", lc.name);
    s.storage = cfg.storage;
    s.max_disk_bytes = max_disk_bytes;
    auto e = std::make_unique<loki::LokiExporter>(std::move(s));
    if (absl::Status st = e->Start(); !st.ok()) {
      log::Error("app", "loki exporter failed to start", {{"err", FromAbsl(st.message())}});
      return 1;
    }
    loki_exporters.push_back(std::move(e));
  }
  std::unique_ptr<logs::FileTailer> tailer;
  if (!cfg.logs.files.empty() && loki_exporters.empty()) {
    log::Warn("app", "logs.files is set but logs.loki is empty; not tailing any file");
  } else if (!cfg.logs.files.empty()) {
    logs::FileTailer::Settings ts;
    ts.files = cfg.logs.files;
    ts.positions_path = absl::StrCat(flags.storage_path, "/positions/files");
    ts.registry = registry.get();
    std::vector<loki::LokiExporter*> sinks;
    for (auto& e : loki_exporters) sinks.push_back(e.get());
    ts.sink = [sinks](std::vector<model::LogEntry>&& entries) {
      for (size_t i = 0; i + 1 < sinks.size(); ++i) {
        sinks[i]->Consume(std::vector<model::LogEntry>(entries));
      }
      sinks.back()->Consume(std::move(entries));
    };
    tailer = std::make_unique<logs::FileTailer>(std::move(ts));
    if (absl::Status st = tailer->Start(); !st.ok()) {
      log::Error("app", "file tailer failed to start", {{"err", FromAbsl(st.message())}});
      return 1;
    }
  }

  // Kubernetes events: one source per logs.events entry, into the same Loki exporters.
  std::vector<std::unique_ptr<logs::EventsSource>> event_sources;
  if (!cfg.logs.events.empty() && loki_exporters.empty()) {
    log::Warn("app", "logs.events is set but logs.loki is empty; not watching events");
  } else {
    for (const auto& ec : cfg.logs.events) {
      logs::EventsSource::Settings es;
      es.config = ec;
      es.state_path = absl::StrCat(flags.storage_path, "/positions/events/", ec.job_name);
      es.registry = registry.get();
      std::vector<loki::LokiExporter*> sinks;
      for (auto& e : loki_exporters) sinks.push_back(e.get());
      es.sink = [sinks](std::vector<model::LogEntry>&& entries) {
        for (size_t i = 0; i + 1 < sinks.size(); ++i) {
          sinks[i]->Consume(std::vector<model::LogEntry>(entries));
        }
        sinks.back()->Consume(std::move(entries));
      };
      auto source = std::make_unique<logs::EventsSource>(std::move(es));
      if (absl::Status st = source->Start(); !st.ok()) {
        log::Error("app", "events source failed to start",
                   {{"job", ec.job_name}, {"err", FromAbsl(st.message())}});
        return 1;
      }
      event_sources.push_back(std::move(source));
    }
  }

  // Pod logs through the API server: one source per logs.kubernetes entry.
  std::vector<std::unique_ptr<logs::PodLogSource>> pod_log_sources;
  if (!cfg.logs.kubernetes.empty() && loki_exporters.empty()) {
    log::Warn("app", "logs.kubernetes is set but logs.loki is empty; not reading pod logs");
  } else {
    for (const auto& kc : cfg.logs.kubernetes) {
      logs::PodLogSource::Settings ps;
      ps.config = kc;
      ps.cursors_path = absl::StrCat(flags.storage_path, "/positions/kubernetes/",
                                     PositionsFileName(kc.job_name));
      ps.registry = registry.get();
      std::vector<loki::LokiExporter*> sinks;
      for (auto& e : loki_exporters) sinks.push_back(e.get());
      ps.sink = [sinks](std::vector<model::LogEntry>&& entries) {
        for (size_t i = 0; i + 1 < sinks.size(); ++i) {
          sinks[i]->Consume(std::vector<model::LogEntry>(entries));
        }
        sinks.back()->Consume(std::move(entries));
      };
      auto source = std::make_unique<logs::PodLogSource>(std::move(ps));
      if (absl::Status st = source->Start(); !st.ok()) {
        log::Error("app", "pod log source failed to start",
                   {{"job", kc.job_name}, {"err", FromAbsl(st.message())}});
        return 1;
      }
      pod_log_sources.push_back(std::move(source));
    }
  }

  const size_t shards = std::max<size_t>(2, std::thread::hardware_concurrency());
  scrape::BatchRing ring(shards, 1024);
  std::vector<std::unique_ptr<Pump>> pumps;
  for (size_t i = 0; i < shards; ++i) pumps.push_back(std::make_unique<Pump>(&ring, i, raw));

  scrape::ScrapeManager::Settings ms;
  ms.external_labels = cfg.global.external_labels;
  ms.workers = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  ms.ring = &ring;
  ms.registry = registry.get();
  ms.user_agent = user_agent;
  ms.max_concurrent_per_host = flags.max_concurrent_per_host;
  ms.retry_on_reset = flags.retry_on_reset;
  scrape::ScrapeManager manager(ms);

  // Gauges sampled from the ring and the scrape state whenever /metrics is collected.
  auto& ring_depth = prometheus::BuildGauge()
                         .Name("tender_ring_depth")
                         .Help("Batches waiting in the ingest ring, per shard.")
                         .Register(*registry);
  std::vector<prometheus::Gauge*> depth_gauges;
  for (size_t i = 0; i < shards; ++i) {
    depth_gauges.push_back(&ring_depth.Add({{"shard", std::to_string(i)}}));
  }
  auto& ring_full = prometheus::BuildCounter()
                        .Name("tender_ring_full_events_total")
                        .Help("Times a producer found its ring shard full.")
                        .Register(*registry)
                        .Add({});
  auto& ring_timeouts = prometheus::BuildCounter()
                            .Name("tender_ring_push_timeouts_total")
                            .Help("Pushes that failed after waiting for a full shard.")
                            .Register(*registry)
                            .Add({});
  auto& state_bytes = prometheus::BuildGauge()
                          .Name("tender_scrape_series_state_bytes")
                          .Help("Bytes of per-target series state (hashes, stored expositions).")
                          .Register(*registry)
                          .Add({});
  auto& active_series = prometheus::BuildGauge()
                            .Name("tender_scrape_active_series")
                            .Help("Series seen in the last scrape of every target.")
                            .Register(*registry)
                            .Add({});

  auto& reload_ok = prometheus::BuildGauge()
                        .Name("tender_config_last_reload_successful")
                        .Help("Whether the last configuration reload attempt was successful.")
                        .Register(*registry)
                        .Add({});
  auto& reload_time = prometheus::BuildGauge()
                          .Name("tender_config_last_reload_success_timestamp_seconds")
                          .Help("Timestamp of the last successful configuration reload.")
                          .Register(*registry)
                          .Add({});
  reload_ok.Set(1);
  reload_time.Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));

  // The running config, for /config; discovery owns the targets.
  std::mutex state_mu;  // Guards running.
  config::Config running = cfg;
  DiscoveryManager discovery_manager(&manager, registry.get());
  std::mutex reload_mu;  // One reload at a time (SIGHUP and /-/reload).
  auto reload = [&]() -> absl::Status {
    std::lock_guard<std::mutex> reload_lock(reload_mu);
    config::LoadResult r = load();
    for (const auto& w : r.warnings) log::Warn("config", w, {{"file", source}});
    if (!r.errors.empty()) {
      std::string all;
      for (const auto& e : r.errors) {
        log::Error("config", e.ToString(source));
        if (!all.empty()) all += "; ";
        all += e.ToString(source);
      }
      log::Error("config", "reload failed; keeping the running config", {{"file", source}});
      reload_ok.Set(0);
      return absl::InvalidArgumentError(all);
    }
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (!(r.config->remote_write == running.remote_write) ||
          !(r.config->storage == running.storage) || !(r.config->logs == running.logs) ||
          !(r.config->global.external_labels == running.global.external_labels)) {
        log::Warn("config",
                  "remote_write, storage, logs and external_labels changes take effect after a "
                  "restart");
      }
    }
    discovery_manager.ApplyConfig(*r.config);
    {
      std::lock_guard<std::mutex> lock(state_mu);
      running = *r.config;
    }
    reload_ok.Set(1);
    reload_time.Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    log::Info("config", "reloaded", {{"file", source}});
    return absl::OkStatus();
  };

  server::AdminServer::Settings ss;
  ss.dropped_targets = [&] { return discovery_manager.Dropped(); };
  ss.config_yaml = [&] {
    std::lock_guard<std::mutex> lock(state_mu);
    return config::RedactedYaml(running);
  };
  ss.reload = reload;
  ss.enable_lifecycle = flags.enable_lifecycle;
  std::mutex collect_mu;  // /metrics requests may run concurrently; the deltas below must not.
  server::ProcessMetrics process_metrics(*registry);
  ss.before_collect = [&] {
    std::lock_guard<std::mutex> lock(collect_mu);
    (void)process_metrics.Update();
    for (size_t i = 0; i < shards; ++i) {
      depth_gauges[i]->Set(static_cast<double>(ring.Depth(i)));
    }
    // The ring counts with plain atomics; the counters catch up with it here.
    ring_full.Increment(static_cast<double>(ring.full_events()) - ring_full.Value());
    ring_timeouts.Increment(static_cast<double>(ring.push_timeouts()) - ring_timeouts.Value());
    size_t bytes = 0;
    size_t series = 0;
    manager.StateSize(&bytes, &series);
    state_bytes.Set(static_cast<double>(bytes));
    active_series.Set(static_cast<double>(series));
  };
  ss.listen_address = flags.listen_address;
  ss.registry = registry;
  ss.targets = [&manager] { return manager.Snapshot(); };
  server::AdminServer admin(ss);
  if (absl::Status st = admin.Start(); !st.ok()) {
    log::Error("app", "admin server failed", {{"err", FromAbsl(st.message())}});
    return 1;
  }
  if (absl::Status st = manager.Start(); !st.ok()) {
    log::Error("app", "scrape manager failed", {{"err", FromAbsl(st.message())}});
    return 1;
  }
  discovery_manager.ApplyConfig(cfg);
  admin.SetReady(true);
  log::Info("app", "tender started",
            {{"version", TENDER_VERSION},
             {"config", source},
             {"listen", flags.listen_address},
             {"targets", std::to_string(discovery_manager.active_targets())}});

  while (true) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGHUP) {
      (void)reload();
      continue;
    }
    log::Info("app", "shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    break;
  }
  admin.SetReady(false);
  discovery_manager.Shutdown();
  manager.Shutdown();
  ring.Close();
  pumps.clear();  // Joins after the ring is drained into the exporters.
  // The tailer stops and writes its positions before the Loki exporters flush what it read.
  if (tailer != nullptr) tailer->Shutdown();
  for (auto& source : event_sources) source->Shutdown();
  // Likewise the pod-log streams: their last lines are in the exporters before they flush.
  for (auto& source : pod_log_sources) source->Shutdown();
  // In parallel: each destination sends what it can for 4 s, then writes the rest to disk.
  {
    std::vector<std::thread> stopping;
    for (auto& e : exporters) {
      stopping.emplace_back([&e] { e->Shutdown(absl::Seconds(8)); });
    }
    for (auto& e : loki_exporters) {
      stopping.emplace_back([&e] { e->Shutdown(absl::Seconds(8)); });
    }
    for (auto& t : stopping) t.join();
  }
  admin.Shutdown();
  log::Info("app", "stopped");
  return 0;
}

}  // namespace

int Main(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "version") {
    std::cout << "tender version " << TENDER_VERSION << "\n";
    return 0;
  }
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.size() >= 2 && args[0] == "check") {
    std::vector<std::string> rest(args.begin() + 2, args.end());
    if (args[1] == "config") return CheckConfig(rest);
    if (args[1] == "metrics") return CheckMetrics(rest);
  }
  if (!args.empty() && args[0] == "check") {
    std::cerr << kUsage;
    return 2;
  }
  Flags flags;
  std::string err;
  if (!ParseFlags(args, &flags, &err)) {
    std::cerr << "tender: " << err << "\n" << kUsage;
    return 2;
  }
  log::Level level;
  log::Format format;
  if (!log::ParseLevel(flags.log_level, &level) || !log::ParseFormat(flags.log_format, &format)) {
    std::cerr << "tender: bad --log.level or --log.format\n" << kUsage;
    return 2;
  }
  log::SetLevel(level);
  log::SetFormat(format);
  return RunCollector(flags);
}

}  // namespace tender::app
