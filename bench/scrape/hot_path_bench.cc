// The whole hot path of one scrape on checked-in fixtures: parse -> label merge -> series
// state (hashes, staleness, explicit timestamps) -> remote-write encoding -> snappy, as the
// remote-write sender compresses it. Reports samples/s and exposition bytes/s on one core, and
// the series-state bytes per series.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "collector/scrape/scrape_processor.h"

namespace tender::scrape {
namespace {

std::string ReadFixture(const std::string& name) {
  const char* dir = std::getenv("TENDER_SOURCE_DIR");
  const std::string path = std::string(dir ? dir : ".") + "/tests/testdata/expositions/" + name;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void BM_HotPath(benchmark::State& state, const std::string& fixture, bool timestamps) {
  const std::string body = ReadFixture(fixture);
  if (body.empty()) {
    state.SkipWithError("fixture missing; set TENDER_SOURCE_DIR");
    return;
  }
  auto cfg = std::make_shared<config::ScrapeConfig>();
  cfg->job_name = "kubelet";
  cfg->honor_timestamps = timestamps;
  Target target;
  target.job = "kubelet";
  target.labels = {{"instance", "node-1:10250"}, {"job", "kubelet"}, {"node", "node-1"}};
  target.config = cfg;
  ScrapeProcessor processor(model::Labels{{"cluster", "prod"}});
  SeriesState series;
  FetchOutcome fetch;
  fetch.http_status = 200;
  fetch.body = body;
  fetch.content_type = "text/plain; version=0.0.4";
  std::string compressed;
  model::SeriesBatch batch;
  int64_t ts = 1700000000000;
  uint64_t samples = 0;
  uint32_t first_scraped = 0;
  for (auto _ : state) {
    batch.data.clear();
    batch.samples = 0;
    ts += 15000;
    const ScrapeReport r = processor.Process(target, series, ts, absl::Now(), fetch, batch);
    if (!r.status.ok()) {
      state.SkipWithError("scrape failed");
      return;
    }
    if (first_scraped == 0) first_scraped = r.samples_scraped;
    if (r.samples_scraped != first_scraped || r.stale_markers != 0) {
      state.SkipWithError("unstable sample count");
      return;
    }
    snappy::Compress(batch.data.data(), batch.data.size(), &compressed);
    samples += r.samples_scraped;
    benchmark::DoNotOptimize(compressed.data());
  }
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.counters["series"] = first_scraped;
  state.counters["state_bytes_per_series"] =
      static_cast<double>(series.MemoryBytes()) / std::max<uint32_t>(1, first_scraped);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

BENCHMARK_CAPTURE(BM_HotPath, cadvisor, std::string("cadvisor.txt"), true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HotPath, ksm, std::string("ksm.txt"), true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HotPath, node, std::string("node.txt"), true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tender::scrape

BENCHMARK_MAIN();
