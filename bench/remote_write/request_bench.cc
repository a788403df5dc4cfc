// Request building + snappy for a cAdvisor-sized scrape: ~6000 entries whose labels take
// ~370 bytes each (protocols.md §8), split into max_samples_per_send (2000) requests. Reports
// samples/s and uncompressed bytes/s; fails when the compressed requests do not decode to
// exactly the batch's samples.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/model/labels.h"
#include "collector/model/series_batch.h"
#include "exporters/proto/remote.pb.h"
#include "exporters/remote_write/request_builder.h"

namespace tender::remote_write {
namespace {

constexpr int kPods = 60;
constexpr int kMetricsPerPod = 100;  // 6000 entries.
constexpr uint32_t kMaxSamplesPerSend = 2000;

// cAdvisor-like label sets (kubelet /metrics/cadvisor): long cgroup ids, image, pod, namespace.
model::SeriesBatch CadvisorBatch(double* label_bytes_per_entry) {
  model::SeriesBatch batch;
  size_t label_bytes = 0;
  for (int pod = 0; pod < kPods; ++pod) {
    const std::string uid = absl::StrCat("4f1c9d2e-7a3b-4c5d-9e8f-", 100000000000 + pod * 7919);
    const std::string pod_name = absl::StrCat("api-server-7d9f8b6c5-", pod * 31 + 10000);
    const std::string container_id =
        absl::StrCat("3e5a7c9b1d2f4a6c8e0b", pod * 104729 + 1000000000, "9d7f5b3a1c2e4f6a8b0d",
                     pod * 15485863 + 100000000);
    for (int m = 0; m < kMetricsPerPod; ++m) {
      model::Labels labels = {
          {"__name__", absl::StrCat("container_metric_", m % 40, "_total")},
          {"container", "api"},
          {"id", absl::StrCat("/kubepods/burstable/pod", uid, "/", container_id)},
          {"image", "registry.example.com/platform/api-server:v1.28.3"},
          {"instance", "node-17.cluster.internal:10250"},
          {"job", "kubernetes-cadvisor"},
          {"namespace", "default"},
          {"pod", pod_name},
      };
      size_t size = 0;
      for (const auto& l : labels) {
        size += model::LabelFieldSize(l.name.size(), l.value.size());
      }
      label_bytes += size;
      model::SeriesEncoder encoder(&batch);
      encoder.Begin(size, 1700000000000 + m);
      for (const auto& l : labels) {
        encoder.AddLabel(l.name, l.value);
      }
      encoder.FinishDouble(pod * 1000.0 + m);
    }
  }
  *label_bytes_per_entry = static_cast<double>(label_bytes) / batch.samples;
  return batch;
}

// Splits the whole batch into requests and compresses each; returns the compressed bodies'
// total size and, when `out` is set, copies the bodies there.
size_t BuildAll(const model::SeriesBatch& batch, RequestBuilder& builder,
                std::vector<std::string>* out) {
  size_t offset = 0;
  uint32_t taken = 0;
  size_t compressed = 0;
  while (offset < batch.data.size()) {
    builder.Clear();
    const auto r = builder.Append(batch, taken, &offset);
    taken += r.entries;
    if (r.malformed || r.entries == 0) {
      return 0;
    }
    const std::string_view body = builder.Compress();
    compressed += body.size();
    if (out != nullptr) {
      out->emplace_back(body);
    }
  }
  return compressed;
}

// Decodes the requests with the generated classes and counts their samples.
int CountDecodedSamples(const std::vector<std::string>& bodies) {
  int samples = 0;
  for (const std::string& body : bodies) {
    std::string raw;
    tender::prompb::WriteRequest request;
    if (!snappy::Uncompress(body.data(), body.size(), &raw) || !request.ParseFromString(raw)) {
      return -1;
    }
    for (const auto& ts : request.timeseries()) {
      samples += ts.samples_size();
    }
  }
  return samples;
}

void BM_BuildAndCompressCadvisorBatch(benchmark::State& state) {
  double label_bytes = 0;
  const model::SeriesBatch batch = CadvisorBatch(&label_bytes);
  RequestBuilder builder(kMaxSamplesPerSend);
  size_t compressed = 0;
  for (auto _ : state) {
    compressed = BuildAll(batch, builder, nullptr);
    // A copy: DoNotOptimize's "+r,m" asm on a variable read later can be miscompiled by
    // GCC (seen under -fsanitize), leaving `compressed` zero.
    size_t sink = compressed;
    benchmark::DoNotOptimize(sink);
  }
  std::vector<std::string> bodies;
  const size_t checked = BuildAll(batch, builder, &bodies);
  const int decoded = CountDecodedSamples(bodies);
  if (decoded != static_cast<int>(batch.samples) || bodies.size() != 3 || checked != compressed) {
    state.SkipWithError(absl::StrCat("decoded ", decoded, " samples in ", bodies.size(),
                                     " requests, want ", batch.samples, " in 3")
                            .c_str());
    return;
  }
  state.SetItemsProcessed(state.iterations() * batch.samples);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.data.size()));
  state.counters["label_bytes_per_entry"] = label_bytes;
  state.counters["compression_ratio"] =
      static_cast<double>(batch.data.size()) / static_cast<double>(compressed);
}
BENCHMARK(BM_BuildAndCompressCadvisorBatch);

// Framing alone (split at entry boundaries), without snappy.
void BM_FrameOnlyCadvisorBatch(benchmark::State& state) {
  double label_bytes = 0;
  const model::SeriesBatch batch = CadvisorBatch(&label_bytes);
  RequestBuilder builder(kMaxSamplesPerSend);
  uint64_t entries = 0;
  for (auto _ : state) {
    size_t offset = 0;
    uint32_t taken = 0;
    entries = 0;
    while (offset < batch.data.size()) {
      builder.Clear();
      const auto r = builder.Append(batch, taken, &offset);
      taken += r.entries;
      entries += r.entries;
      size_t size = builder.body_size();
      benchmark::DoNotOptimize(size);
      if (r.entries == 0) {
        break;
      }
    }
  }
  if (entries != batch.samples) {
    state.SkipWithError(absl::StrCat("framed ", entries, " entries, want ", batch.samples).c_str());
    return;
  }
  state.SetItemsProcessed(state.iterations() * batch.samples);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.data.size()));
}
BENCHMARK(BM_FrameOnlyCadvisorBatch);

}  // namespace
}  // namespace tender::remote_write

BENCHMARK_MAIN();
