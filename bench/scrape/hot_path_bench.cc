// The whole hot path of one scrape on checked-in fixtures: parse -> label merge -> series
// state (hashes, staleness, explicit timestamps) -> remote-write encoding -> snappy, as the
// remote-write sender compresses it. Reports samples/s and exposition bytes/s on one core, and
// the series-state bytes per series.
#include <benchmark/benchmark.h>
#include <snappy.h>
#include <zlib.h>

#include <algorithm>
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

// gzip as the targets send it (zlib level 6, Go's default), then inflated with zlib as the
// fetcher's libcurl does: the cost of `Accept-Encoding: gzip` per scraped sample, to set beside
// BM_HotPath (the fetcher inflates in 16 KiB pieces; one buffer here).
void BM_Gunzip(benchmark::State& state, const std::string& fixture) {
  const std::string body = ReadFixture(fixture);
  if (body.empty()) {
    state.SkipWithError("fixture missing; set TENDER_SOURCE_DIR");
    return;
  }
  uint64_t series = 0;
  for (size_t pos = 0; pos < body.size();) {
    const size_t end = std::min(body.find('\n', pos), body.size());
    if (end > pos && body[pos] != '#') ++series;
    pos = end + 1;
  }
  z_stream z{};
  std::string gz(compressBound(body.size()) + 64, '\0');
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    state.SkipWithError("deflateInit2");
    return;
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(gz.data());
  z.avail_out = static_cast<uInt>(gz.size());
  deflate(&z, Z_FINISH);
  gz.resize(z.total_out);
  deflateEnd(&z);
  std::string out(body.size(), '\0');
  uint64_t samples = 0;
  for (auto _ : state) {
    z_stream in{};
    inflateInit2(&in, 16 + MAX_WBITS);
    in.next_in = reinterpret_cast<Bytef*>(gz.data());
    in.avail_in = static_cast<uInt>(gz.size());
    in.next_out = reinterpret_cast<Bytef*>(out.data());
    in.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&in, Z_FINISH);
    inflateEnd(&in);
    if (rc != Z_STREAM_END || out != body) {
      state.SkipWithError("inflate failed");
      return;
    }
    samples += series;
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.counters["ns_per_sample"] = benchmark::Counter(
      static_cast<double>(samples), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["gzip_ratio"] = static_cast<double>(body.size()) / static_cast<double>(gz.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

BENCHMARK_CAPTURE(BM_Gunzip, cadvisor, std::string("cadvisor.txt"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gunzip, ksm, std::string("ksm.txt"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gunzip, node, std::string("node.txt"))->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_HotPath, cadvisor, std::string("cadvisor.txt"), true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HotPath, ksm, std::string("ksm.txt"), true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_HotPath, node, std::string("node.txt"), true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tender::scrape

BENCHMARK_MAIN();
