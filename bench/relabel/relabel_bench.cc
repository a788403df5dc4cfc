// Metric relabeling throughput (series/s) over the cadvisor fixture's label sets with a typical
// metric_relabel_configs: drop by an alternation of names, labeldrop id|name, keep by prefix.
// Fast matchers vs forced RE2. Every iteration checks the kept count and the surviving label
// count against a plain loop over the same data, so a fast wrong path fails.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "collector/relabel/relabeler.h"
#include "collector/textparse/parser.h"

namespace tender::relabel {
namespace {

using Series = std::vector<std::pair<std::string, std::string>>;

std::string SourceDir() {
  const char* env = std::getenv("TENDER_SOURCE_DIR");
  return env != nullptr ? std::string(env) : std::string(TENDER_SOURCE_DIR_DEFAULT);
}

// Label sets of every sample: __name__ plus the labels, sorted, empty values left out.
std::vector<Series> LoadCadvisor() {
  std::ifstream in(SourceDir() + "/tests/testdata/expositions/cadvisor.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string body = ss.str();
  std::vector<Series> out;
  textparse::Parser parser(body, textparse::Format::kText);
  while (parser.Next()) {
    Series s;
    s.emplace_back("__name__", std::string(parser.name()));
    for (size_t i = 0; i < parser.num_labels(); ++i) {
      if (!parser.label_value(i).empty()) {
        s.emplace_back(std::string(parser.label_name(i)), std::string(parser.label_value(i)));
      }
    }
    std::sort(s.begin(), s.end());
    out.push_back(std::move(s));
  }
  return parser.status().ok() ? out : std::vector<Series>();
}

const std::vector<std::string> kDroppedNames = {
    "container_tasks_state", "container_memory_failures_total", "container_threads_max",
    "container_start_time_seconds", "container_last_seen"};

std::vector<RuleConfig> TypicalRules() {
  RuleConfig drop;
  drop.action = Action::kDrop;
  drop.source_labels = {"__name__"};
  drop.regex.clear();
  for (const std::string& n : kDroppedNames) {
    drop.regex += (drop.regex.empty() ? "" : "|") + n;
  }
  RuleConfig labeldrop;
  labeldrop.action = Action::kLabelDrop;
  labeldrop.regex = "id|name";
  RuleConfig keep;
  keep.action = Action::kKeep;
  keep.source_labels = {"__name__"};
  keep.regex = "container_.*";
  return {drop, labeldrop, keep};
}

// What TypicalRules must produce, computed with plain string operations.
std::pair<size_t, size_t> Expected(const std::vector<Series>& series) {
  const std::set<std::string> dropped(kDroppedNames.begin(), kDroppedNames.end());
  size_t kept = 0, labels = 0;
  for (const Series& s : series) {
    const std::string& name = s.front().first == "__name__" ? s.front().second : "";
    if (dropped.count(name) > 0 || name.rfind("container_", 0) != 0) {
      continue;
    }
    ++kept;
    for (const auto& [n, v] : s) {
      labels += (n != "id" && n != "name") ? 1 : 0;
    }
  }
  return {kept, labels};
}

void BM_MetricRelabel(benchmark::State& state, bool fast) {
  const std::vector<Series> series = LoadCadvisor();
  if (series.size() < 6000) {
    state.SkipWithError("cadvisor fixture missing or unparsable");
    return;
  }
  auto relabeler = Relabeler::Compile(TypicalRules(), CompileOptions{.disable_fast_paths = !fast});
  if (!relabeler.ok()) {
    state.SkipWithError("compile failed");
    return;
  }
  const auto [want_kept, want_labels] = Expected(series);
  std::vector<std::vector<LabelRef>> refs;
  for (const Series& s : series) {
    std::vector<LabelRef> r;
    for (const auto& [n, v] : s) {
      r.push_back(LabelRef{n, v});
    }
    refs.push_back(std::move(r));
  }
  Scratch scratch;
  std::vector<LabelRef> work;
  for (auto _ : state) {
    size_t kept = 0, labels = 0;
    for (const std::vector<LabelRef>& r : refs) {
      work.assign(r.begin(), r.end());
      scratch.Clear();
      if (relabeler->Apply(work, scratch)) {
        ++kept;
        labels += work.size();
      }
    }
    if (kept != want_kept || labels != want_labels) {
      state.SkipWithError("wrong relabel result");
      return;
    }
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * refs.size()));
  state.counters["kept"] = static_cast<double>(want_kept);
}

BENCHMARK_CAPTURE(BM_MetricRelabel, fast_matchers, true);
BENCHMARK_CAPTURE(BM_MetricRelabel, re2_only, false);

}  // namespace
}  // namespace tender::relabel

BENCHMARK_MAIN();
