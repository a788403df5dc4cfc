// Encoding + snappy of one Loki batch the size Promtail sends (batch_size 1 MiB of lines):
// about 7,000 access-log-like lines of ~150 bytes over 20 streams (one per pod). Reports
// lines/s and line bytes/s for protobuf + snappy and for JSON; fails when the compressed
// protobuf does not decode to exactly the batch's lines.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "exporters/loki/push_encoder.h"
#include "exporters/proto/push.pb.h"
#include "exporters/remote_write/request_builder.h"

namespace tender::loki {
namespace {

constexpr int kStreams = 20;
constexpr size_t kBatchBytes = 1 << 20;

struct Corpus {
  std::vector<std::string> selectors;
  std::vector<std::vector<std::pair<int64_t, std::string>>> lines;  // Per stream.
  size_t line_count = 0;
  size_t line_bytes = 0;
};

// Deterministic nginx-style access lines; varied enough that snappy does not flatter them.
const Corpus& BuildCorpus() {
  static const Corpus corpus = [] {
    Corpus c;
    c.lines.resize(kStreams);
    for (int s = 0; s < kStreams; ++s) {
      c.selectors.push_back(absl::StrCat(
          R"({app="web", container="nginx", filename="/var/log/pods/default_web-)", 7000 + s,
          R"(/nginx/0.log", job="pods", namespace="default", pod="web-)", 7000 + s, R"("})"));
    }
    uint64_t x = 88172645463325252ull;
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    int64_t ts = 1700000000000000000;
    while (c.line_bytes < kBatchBytes) {
      const int s = static_cast<int>(next() % kStreams);
      std::string line = absl::StrCat(
          "10.", next() % 256, ".", next() % 256, ".", next() % 256,
          " - - [14/Nov/2023:22:13:20 +0000] \"GET /api/v1/items/", next() % 100000,
          "?page=", next() % 50, " HTTP/1.1\" ", (next() % 10 == 0) ? 404 : 200, " ",
          next() % 20000, " \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=0.", next() % 1000);
      ts += static_cast<int64_t>(next() % 1000000);
      c.line_bytes += line.size();
      ++c.line_count;
      c.lines[s].emplace_back(ts, std::move(line));
    }
    return c;
  }();
  return corpus;
}

std::vector<StreamView> Views(const Corpus& c) {
  std::vector<StreamView> views;
  for (int s = 0; s < kStreams; ++s) {
    StreamView v;
    v.labels = c.selectors[s];
    for (const auto& [ts, line] : c.lines[s]) v.entries.push_back({ts, line});
    views.push_back(std::move(v));
  }
  return views;
}

void BM_ProtobufSnappy(benchmark::State& state) {
  const Corpus& c = BuildCorpus();
  const std::vector<StreamView> views = Views(c);
  std::string raw;
  std::string compressed;
  for (auto _ : state) {
    raw.clear();
    AppendProtobufPush(views, &raw);
    remote_write::SnappyCompress(raw, &compressed);
    benchmark::DoNotOptimize(compressed.data());
  }
  // Check the result: the request decodes to every line.
  std::string decoded;
  logproto::PushRequest push;
  size_t lines = 0;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &decoded) ||
      !push.ParseFromString(decoded)) {
    state.SkipWithError("request does not decode");
    return;
  }
  for (const auto& s : push.streams()) lines += s.entries_size();
  if (lines != c.line_count) {
    state.SkipWithError("wrong number of lines");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.line_count));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.line_bytes));
  state.counters["compressed_ratio"] =
      static_cast<double>(compressed.size()) / static_cast<double>(raw.size());
  state.counters["lines_per_batch"] = static_cast<double>(c.line_count);
}
BENCHMARK(BM_ProtobufSnappy)->Unit(benchmark::kMillisecond);

void BM_Json(benchmark::State& state) {
  const Corpus& c = BuildCorpus();
  const std::vector<StreamView> views = Views(c);
  std::string body;
  for (auto _ : state) {
    body.clear();
    AppendJsonPush(views, &body);
    benchmark::DoNotOptimize(body.data());
  }
  if (body.size() < c.line_bytes) {
    state.SkipWithError("JSON body shorter than its lines");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.line_count));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.line_bytes));
}
BENCHMARK(BM_Json)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tender::loki

BENCHMARK_MAIN();
