// Test helpers for the queue: temp dirs, batches that name themselves, draining, metrics.
// Header-only; thread-compatible.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "collector/model/series_batch.h"
#include "exporters/queue/shard_queue.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace tender::queue::testing_util {

// A fresh directory under the gtest temp dir, removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/queue_test_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A batch whose shard_key is `id` and whose data is `size` pseudo-random bytes derived from
// `id`, so that content and order can both be checked.
inline model::SeriesBatch MakeBatch(uint64_t id, size_t size, int64_t ts_ms = 1000) {
  model::SeriesBatch b;
  b.shard_key = id;
  b.job = "job-" + std::to_string(id % 7);
  b.samples = static_cast<uint32_t>(id % 1000);
  b.min_timestamp_ms = ts_ms;
  b.max_timestamp_ms = ts_ms + 10;
  std::mt19937_64 rng(id);
  b.data.resize(size);
  for (char& c : b.data) c = static_cast<char>(rng());
  return b;
}

inline bool SameBatch(const model::SeriesBatch& a, const model::SeriesBatch& b) {
  return a.shard_key == b.shard_key && a.job == b.job && a.data == b.data &&
         a.samples == b.samples && a.min_timestamp_ms == b.min_timestamp_ms &&
         a.max_timestamp_ms == b.max_timestamp_ms;
}

// Peeks and pops until empty; returns the batches in the order they came out.
inline std::vector<model::SeriesBatch> Drain(ShardQueue& q) {
  std::vector<model::SeriesBatch> out;
  model::SeriesBatch b;
  while (q.Peek(&b, absl::ZeroDuration())) {
    out.push_back(b);
    q.Pop();
  }
  return out;
}

inline std::vector<uint64_t> Ids(const std::vector<model::SeriesBatch>& batches) {
  std::vector<uint64_t> ids;
  for (const auto& b : batches) ids.push_back(b.shard_key);
  return ids;
}

// Value of the counter or gauge `name` whose labels include `labels`; -1 when absent.
inline double MetricValue(prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      size_t matched = 0;
      for (const auto& pair : metric.label) {
        auto it = labels.find(pair.name);
        if (it != labels.end() && it->second == pair.value) ++matched;
      }
      if (matched != labels.size()) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

inline std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tender::queue::testing_util
