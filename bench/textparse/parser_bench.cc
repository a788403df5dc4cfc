// Parser throughput on the checked-in fixtures (tests/testdata/expositions). Each run checks the
// sample count against MANIFEST, so a fast wrong path fails instead of reporting a number.
// Target: >= 550 MB/s on cadvisor.txt on one core.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "benchmark/benchmark.h"
#include "collector/textparse/parser.h"

namespace tender::textparse {
namespace {

std::string SourceDir() {
  const char* env = std::getenv("TENDER_SOURCE_DIR");
  return env != nullptr ? std::string(env) : std::string(TENDER_SOURCE_DIR_DEFAULT);
}

std::string ReadFile(const std::string& name) {
  std::ifstream in(SourceDir() + "/tests/testdata/expositions/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t ExpectedSamples(const std::string& file) {
  std::istringstream in(ReadFile("MANIFEST"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    size_t n = 0;
    if (fields >> name >> n && name == file) {
      return n;
    }
  }
  return 0;
}

void BM_Parse(benchmark::State& state, const std::string& file, Format format, bool strict) {
  const std::string body = ReadFile(file);
  const size_t expected = ExpectedSamples(file);
  if (body.empty() || expected == 0) {
    state.SkipWithError("fixture or MANIFEST entry missing");
    return;
  }
  uint64_t checksum = 0;
  for (auto _ : state) {
    Parser parser(body, format, ParserOptions{.strict = strict});
    size_t samples = 0;
    while (parser.Next()) {
      ++samples;
      // Consume what a scrape consumes, so nothing can be optimised away.
      checksum += parser.value_bits() + parser.num_labels() + parser.name().size();
      for (size_t i = 0; i < parser.num_labels(); ++i) {
        checksum += parser.label_value(i).size();
      }
      if (parser.has_timestamp()) {
        checksum += static_cast<uint64_t>(parser.timestamp_ms());
      }
    }
    if (!parser.status().ok()) {
      state.SkipWithError(std::string(parser.status().message()).c_str());
      return;
    }
    if (samples != expected) {
      state.SkipWithError("sample count differs from MANIFEST");
      return;
    }
  }
  benchmark::DoNotOptimize(checksum);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(expected),
                         benchmark::Counter::kIsRate);
  state.counters["bytes_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(body.size()),
                         benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Parse, cadvisor, std::string("cadvisor.txt"), Format::kText, false);
BENCHMARK_CAPTURE(BM_Parse, ksm, std::string("ksm.txt"), Format::kText, false);
BENCHMARK_CAPTURE(BM_Parse, node, std::string("node.txt"), Format::kText, false);
BENCHMARK_CAPTURE(BM_Parse, om, std::string("om.txt"), Format::kOpenMetrics, false);
BENCHMARK_CAPTURE(BM_Parse, om_strict, std::string("om.txt"), Format::kOpenMetrics, true);

}  // namespace
}  // namespace tender::textparse

BENCHMARK_MAIN();
