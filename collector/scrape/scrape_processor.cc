#include "collector/scrape/scrape_processor.h"

#include <snappy.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"
#include "collector/model/hash.h"
#include "collector/model/log.h"
#include "collector/model/protowire.h"

namespace tender::scrape {
namespace {

constexpr std::string_view kExportedPrefix = "exported_";

// Name order with the common case (different first byte) decided without a memcmp call.
inline bool NameLess(std::string_view a, std::string_view b) {
  if (!a.empty() && !b.empty() && a[0] != b[0]) {
    return static_cast<unsigned char>(a[0]) < static_cast<unsigned char>(b[0]);
  }
  return a < b;
}

template <typename T>
void InsertionSortByName(T* v, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    if (!NameLess(v[i].name, v[i - 1].name)) continue;  // Usually already in order.
    T x = v[i];
    size_t j = i;
    while (j > 0 && NameLess(x.name, v[j - 1].name)) {
      v[j] = v[j - 1];
      --j;
    }
    v[j] = x;
  }
}

// Hash of the labels part of one encoded entry (the same bytes SeriesEncoder::CurrentLabels
// covers). `entry` is a TimeSeries message.
uint64_t EntryLabelsHash(std::string_view entry) {
  const char* p = entry.data();
  const char* end = p + entry.size();
  const char* labels_end = p;
  while (p < end && static_cast<uint8_t>(*p) == 0x0a) {
    ++p;
    uint64_t len = 0;
    if (!protowire::ReadVarint(&p, end, &len)) break;
    p += len;
    labels_end = p;
  }
  return model::Hash64(std::string_view(entry.data(), labels_end - entry.data()));
}

// Removes the second and later entries of a series from out.data[start:], keeping the first
// (Prometheus keeps the first and counts the rest as duplicates). Returns how many it removed.
uint32_t RemoveDuplicateEntries(model::SeriesBatch& out, size_t start) {
  absl::flat_hash_set<uint64_t> seen;
  std::string kept;
  kept.reserve(out.data.size() - start);
  const char* p = out.data.data() + start;
  const char* end = out.data.data() + out.data.size();
  uint32_t removed = 0;
  while (p < end) {
    const char* entry_start = p;
    ++p;  // Tag of WriteRequest.timeseries.
    uint64_t len = 0;
    if (!protowire::ReadVarint(&p, end, &len)) break;
    const std::string_view ts(p, len);
    p += len;
    if (seen.insert(EntryLabelsHash(ts)).second) {
      kept.append(entry_start, p - entry_start);
    } else {
      ++removed;
    }
  }
  out.data.resize(start);
  out.data += kept;
  out.samples -= removed;
  if (removed > 0) model::RebuildEntryMarks(&out);
  return removed;
}

bool HasAdjacentDuplicates(const std::vector<uint64_t>& sorted) {
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

std::string StatusText(int code) {
  switch (code) {
    case 404:
      return "404 Not Found";
    case 500:
      return "500 Internal Server Error";
    case 503:
      return "503 Service Unavailable";
    default:
      return std::to_string(code);
  }
}

}  // namespace

ScrapeProcessor::ScrapeProcessor(model::Labels external_labels)
    : external_labels_(std::move(external_labels)) {}

bool ScrapeProcessor::MergeLabels(const Target& target, const LabelView* scraped, size_t ns,
                                  bool relabel) {
  const model::Labels& tl = target.labels;
  const size_t cap = ns + tl.size() + external_labels_.size();
  if (merged_.size() < cap) merged_.resize(cap);
  LabelView* m = merged_.data();
  size_t n = 0;
  const bool honor = target.config && target.config->honor_labels;
  bool clash = false;
  size_t i = 0;
  size_t j = 0;
  while (i < ns || j < tl.size()) {
    if (j == tl.size() || (i < ns && NameLess(scraped[i].name, tl[j].name))) {
      m[n++] = scraped[i++];
    } else if (i == ns || NameLess(tl[j].name, scraped[i].name)) {
      m[n++] = {tl[j].name, tl[j].value};
      ++j;
    } else {
      // Same name in the exposition and on the target.
      if (honor) {
        m[n++] = scraped[i];
      } else {
        clash = true;
        m[n++] = {tl[j].name, tl[j].value};
      }
      ++i;
      ++j;
    }
  }
  if (clash) {
    // Slow path (Prometheus resolveConflictingExposedLabels): the target keeps the name, the
    // scraped value moves to exported_<name>, prefixed again while that name is taken.
    std::vector<LabelView> conflicts;
    for (size_t k = 0; k < ns; ++k) {
      if (!model::Get(tl, scraped[k].name).empty()) conflicts.push_back(scraped[k]);
    }
    std::stable_sort(
        conflicts.begin(), conflicts.end(),
        [](const LabelView& a, const LabelView& b) { return a.name.size() < b.name.size(); });
    renamed_.clear();
    merged_.resize(n + conflicts.size() + external_labels_.size());
    m = merged_.data();
    for (const auto& c : conflicts) {
      std::string name = absl::StrCat(ToAbsl(kExportedPrefix), ToAbsl(c.name));
      while (std::any_of(m, m + n, [&](const LabelView& l) { return l.name == name; })) {
        name.insert(0, kExportedPrefix);
      }
      renamed_.push_back(std::move(name));
      m[n++] = {renamed_.back(), c.value};
    }
    InsertionSortByName(m, n);
  }
  if (relabel && target.metric_relabel && !target.metric_relabel->empty()) {
    // metric_relabel_configs see the labels after the target's are merged in, and before the
    // external labels (which Prometheus adds only when sending).
    relabel_scratch_.Clear();
    relabel_buf_.assign(m, m + n);
    if (!target.metric_relabel->Apply(relabel_buf_, relabel_scratch_)) return false;
    n = relabel_buf_.size();
    if (merged_.size() < n + external_labels_.size()) {
      merged_.resize(n + external_labels_.size());
    }
    m = merged_.data();
    std::copy(relabel_buf_.begin(), relabel_buf_.end(), m);
  }
  if (!external_labels_.empty()) {
    // External labels apply only where the series has no such label (as remote write does).
    const size_t before = n;
    for (const auto& e : external_labels_) {
      const LabelView* it = std::lower_bound(
          m, m + before, e.name,
          [](const LabelView& l, std::string_view name) { return NameLess(l.name, name); });
      if (it == m + before || it->name != e.name) m[n++] = {e.name, e.value};
    }
    if (n != before) InsertionSortByName(m, n);
  }
  merged_n_ = n;
  return true;
}

template <typename Keep>
uint64_t ScrapeProcessor::EncodeMerged(int64_t ts, uint64_t value_bits, model::SeriesBatch& out,
                                       Keep&& keep) {
  const LabelView* m = merged_.data();
  size_t n = 0;
  for (size_t i = 0; i < merged_n_; ++i) {
    n += model::LabelFieldSize(m[i].name.size(), m[i].value.size());
  }
  model::SeriesEncoder enc(&out);
  enc.Begin(n, ts);
  for (size_t i = 0; i < merged_n_; ++i) enc.AddLabel(m[i].name, m[i].value);
  const uint64_t h = model::Hash64(enc.CurrentLabels());
  last_hash_ = h;
  if (keep(h)) {
    enc.Finish(value_bits);
  } else {
    enc.Abandon();
  }
  return h;
}

bool ScrapeProcessor::HasMetricName() const {
  for (size_t i = 0; i < merged_n_; ++i) {
    if (merged_[i].name == model::kMetricName) return true;
  }
  return false;
}

absl::Status ScrapeProcessor::CheckLabelLimits(const config::ScrapeConfig& cfg,
                                               ScrapeReport& report) const {
  const LabelView* m = merged_.data();
  std::string_view metric;
  for (size_t i = 0; i < merged_n_; ++i) {
    if (m[i].name == model::kMetricName) metric = m[i].value;
  }
  metric = metric.substr(0, 50);
  if (cfg.label_limit > 0 && merged_n_ > static_cast<size_t>(cfg.label_limit)) {
    report.limit_hit = "label_limit";
    return absl::ResourceExhaustedError(
        absl::StrCat("label_limit exceeded (metric: ", ToAbsl(metric),
                     ", number of labels: ", merged_n_, ", limit: ", cfg.label_limit, ")"));
  }
  for (size_t i = 0; i < merged_n_; ++i) {
    if (cfg.label_name_length_limit > 0 &&
        m[i].name.size() > static_cast<size_t>(cfg.label_name_length_limit)) {
      report.limit_hit = "label_name_length_limit";
      return absl::ResourceExhaustedError(absl::StrCat(
          "label_name_length_limit exceeded (metric: ", ToAbsl(metric),
          ", label name: ", ToAbsl(m[i].name.substr(0, 50)), ", length: ", m[i].name.size(),
          ", limit: ", cfg.label_name_length_limit, ")"));
    }
    if (cfg.label_value_length_limit > 0 &&
        m[i].value.size() > static_cast<size_t>(cfg.label_value_length_limit)) {
      report.limit_hit = "label_value_length_limit";
      return absl::ResourceExhaustedError(absl::StrCat(
          "label_value_length_limit exceeded (metric: ", ToAbsl(metric), ", label name: ",
          ToAbsl(m[i].name.substr(0, 50)), ", value: \"", ToAbsl(m[i].value.substr(0, 50)),
          "\", length: ", m[i].value.size(), ", limit: ", cfg.label_value_length_limit, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ScrapeProcessor::Walk(const Target& target, std::string_view body,
                                   textparse::Format format, Mode mode, int64_t timestamp_ms,
                                   const SeriesState* state, const std::vector<uint64_t>* stale_set,
                                   model::SeriesBatch& out, ScrapeReport& report) {
  const config::ScrapeConfig* cfg = target.config.get();
  const bool honor_ts = cfg == nullptr || cfg->honor_timestamps;
  const bool track_ts = cfg != nullptr && cfg->track_timestamps_staleness;
  textparse::Parser parser(body, format);
  while (parser.Next()) {
    if (mode == Mode::kScrape) ++report.samples_scraped;
    const size_t need = parser.num_labels() + 1;
    if (scraped_.size() < need) scraped_.resize(need);
    LabelView* sv = scraped_.data();
    size_t ns = 0;
    sv[ns++] = {model::kMetricName, parser.name()};
    for (size_t k = 0; k < parser.num_labels(); ++k) {
      const std::string_view v = parser.label_value(k);
      if (v.empty()) continue;  // An empty label value is an absent label.
      sv[ns++] = {parser.label_name(k), v};
    }
    InsertionSortByName(sv, ns);
    for (size_t k = 1; k < ns; ++k) {
      if (sv[k].name == sv[k - 1].name) {
        return absl::InvalidArgumentError(absl::StrCat("line ", parser.line(), ": label name \"",
                                                       ToAbsl(sv[k].name), "\" is not unique"));
      }
    }
    if (parser.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", parser.line(), ": series without a metric name"));
    }
    if (!MergeLabels(target, sv, ns, /*relabel=*/true)) continue;  // Dropped by relabeling.
    if (target.metric_relabel && !target.metric_relabel->empty() && !HasMetricName()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", parser.line(), ": metric relabeling removed the metric name"));
    }

    if (mode == Mode::kStale) {
      EncodeMerged(timestamp_ms, model::kStaleNaNBits, out, [&](uint64_t h) {
        if (!std::binary_search(stale_set->begin(), stale_set->end(), h)) return false;
        if (std::find(marked_.begin(), marked_.end(), h) != marked_.end()) return false;
        marked_.push_back(h);
        return true;
      });
      continue;
    }

    ++report.samples_post_relabeling;
    if (cfg != nullptr) {
      // Limits, checked as Prometheus does after the labels are final; any hit fails the scrape.
      if (cfg->sample_limit > 0 &&
          report.samples_post_relabeling > static_cast<uint64_t>(cfg->sample_limit)) {
        report.limit_hit = "sample_limit";
        return absl::ResourceExhaustedError("sample limit exceeded");
      }
      if (cfg->label_limit > 0 || cfg->label_name_length_limit > 0 ||
          cfg->label_value_length_limit > 0) {
        if (absl::Status st = CheckLabelLimits(*cfg, report); !st.ok()) return st;
      }
    }
    if (honor_ts && parser.has_timestamp()) {
      const int64_t ts = parser.timestamp_ms();
      EncodeMerged(ts, parser.value_bits(), out, [&](uint64_t h) {
        const int64_t last = LastExplicitTimestamp(*state, h);
        if (ts <= last) {
          ++report.dropped_stale_timestamp;
          explicit_.emplace_back(h, last);
          return false;
        }
        explicit_.emplace_back(h, ts);
        return true;
      });
      if (track_ts) hashes_.push_back(last_hash_);
    } else {
      hashes_.push_back(
          EncodeMerged(timestamp_ms, parser.value_bits(), out, [](uint64_t) { return true; }));
    }
  }
  return parser.status();
}

void ScrapeProcessor::EmitStaleFromStored(const Target& target, SeriesState& state,
                                          const std::vector<uint64_t>& vanished, int64_t ts,
                                          model::SeriesBatch& out, ScrapeReport& report) {
  if (vanished.empty() || state.stored_body.empty()) return;
  decompressed_.clear();
  if (!snappy::Uncompress(state.stored_body.data(), state.stored_body.size(), &decompressed_)) {
    log::Error("scrape", "stored exposition is corrupt; stale markers skipped",
               {{"target", target.url}});
    return;
  }
  marked_.clear();
  const uint32_t before = out.samples;
  ScrapeReport ignored;
  const absl::Status st = Walk(target, decompressed_, state.stored_format, Mode::kStale, ts, &state,
                               &vanished, out, ignored);
  if (!st.ok()) {
    log::Error("scrape", "re-parsing the stored exposition failed",
               {{"target", target.url}, {"err", FromAbsl(st.message())}});
  }
  report.stale_markers += out.samples - before;
}

int64_t ScrapeProcessor::LastExplicitTimestamp(const SeriesState& state, uint64_t h) {
  // Expositions keep their order between scrapes, so the previous scrape's entry at the cursor
  // is almost always the one wanted; only a miss pays for a sorted index.
  const auto& prev = state.explicit_ts;
  if (cursor_ < prev.size() && prev[cursor_].first == h) return prev[cursor_++].second;
  ++explicit_misses_;
  if (!sorted_prev_built_) {
    sorted_prev_.clear();
    for (size_t i = 0; i < prev.size(); ++i) sorted_prev_.push_back({prev[i].first, i});
    std::sort(sorted_prev_.begin(), sorted_prev_.end());
    sorted_prev_built_ = true;
  }
  auto it =
      std::lower_bound(sorted_prev_.begin(), sorted_prev_.end(), std::make_pair(h, size_t{0}));
  if (it == sorted_prev_.end() || it->first != h) {
    ++explicit_new_;
    return std::numeric_limits<int64_t>::min();
  }
  cursor_ = it->second + 1;  // Resynchronise with the previous order.
  return prev[it->second].second;
}

namespace {

// Removes later occurrences of a key, keeping the first and the order.
template <typename T, typename KeyOf>
void DedupKeepFirst(std::vector<T>& v, KeyOf key) {
  absl::flat_hash_set<uint64_t> seen;
  std::erase_if(v, [&](const T& x) { return !seen.insert(key(x)).second; });
}

}  // namespace

bool ScrapeProcessor::ReconcileSlow(SeriesState& state, model::SeriesBatch& out, size_t start,
                                    ScrapeReport& report, std::vector<uint64_t>* vanished) {
  std::vector<uint64_t> now_sorted(hashes_);
  std::sort(now_sorted.begin(), now_sorted.end());
  std::vector<uint64_t> explicit_sorted;
  explicit_sorted.reserve(explicit_.size());
  for (const auto& e : explicit_) explicit_sorted.push_back(e.first);
  std::sort(explicit_sorted.begin(), explicit_sorted.end());
  if (HasAdjacentDuplicates(now_sorted) || HasAdjacentDuplicates(explicit_sorted)) {
    report.dropped_duplicate = RemoveDuplicateEntries(out, start);
    DedupKeepFirst(hashes_, [](uint64_t h) { return h; });
    DedupKeepFirst(explicit_, [](const std::pair<uint64_t, int64_t>& e) { return e.first; });
    now_sorted.erase(std::unique(now_sorted.begin(), now_sorted.end()), now_sorted.end());
    // A duplicate counted as new when first seen in this scrape is not new twice.
    explicit_sorted.erase(std::unique(explicit_sorted.begin(), explicit_sorted.end()),
                          explicit_sorted.end());
  }
  std::vector<uint64_t> prev_sorted(state.tracked);
  std::sort(prev_sorted.begin(), prev_sorted.end());
  auto a = prev_sorted.begin();
  auto b = now_sorted.begin();
  while (a != prev_sorted.end() || b != now_sorted.end()) {
    if (b == now_sorted.end() || (a != prev_sorted.end() && *a < *b)) {
      vanished->push_back(*a++);
    } else if (a == prev_sorted.end() || *b < *a) {
      ++report.series_added;
      ++b;
    } else {
      ++a;
      ++b;
    }
  }
  report.series_added += explicit_new_ > explicit_.size() ? explicit_.size() : explicit_new_;
  return now_sorted != prev_sorted;
}

ScrapeReport ScrapeProcessor::Process(const Target& target, SeriesState& state,
                                      int64_t timestamp_ms, absl::Time started,
                                      const FetchOutcome& fetch, model::SeriesBatch& out) {
  ScrapeReport report;
  hashes_.clear();
  explicit_.clear();
  cursor_ = 0;
  explicit_misses_ = 0;
  explicit_new_ = 0;
  sorted_prev_built_ = false;
  const size_t start = out.data.size();
  const uint32_t start_samples = out.samples;

  if (!fetch.status.ok()) {
    report.status = fetch.status;
  } else if (fetch.http_status != 200) {
    report.status = absl::UnavailableError(
        absl::StrCat("server returned HTTP status ", StatusText(fetch.http_status)));
  } else {
    // Prometheus 2.x behaviour: a missing or unknown Content-Type is parsed as text.
    const auto format =
        textparse::FormatFromContentType(fetch.content_type).value_or(textparse::Format::kText);
    report.status =
        Walk(target, fetch.body, format, Mode::kScrape, timestamp_ms, &state, nullptr, out, report);
    if (report.status.ok()) {
      // Steady state: the same series in the same order as last time. Then nothing was added,
      // nothing vanished and there are no duplicates (the last scrape had none), and no sort
      // is needed. Anything else takes the slow path.
      const bool same = hashes_ == state.tracked && explicit_misses_ == 0 &&
                        explicit_.size() == state.explicit_ts.size();
      if (!same) {
        std::vector<uint64_t> vanished;
        const bool set_changed = ReconcileSlow(state, out, start, report, &vanished);
        EmitStaleFromStored(target, state, vanished, timestamp_ms, out, report);
        if (set_changed || state.stored_body.empty()) {
          // The set of series changed: remember this exposition for future stale markers.
          state.stored_body.clear();
          if (!hashes_.empty()) {
            // Into a scratch buffer that is not zero-filled first: snappy writes only the
            // compressed bytes (a fifth of a kube-state-metrics body), and the pages of a large
            // buffer that are never written are never mapped in.
            const size_t bound = snappy::MaxCompressedLength(fetch.body.size());
            const auto scratch = std::make_unique_for_overwrite<char[]>(bound);
            size_t length = 0;
            snappy::RawCompress(fetch.body.data(), fetch.body.size(), scratch.get(), &length);
            state.stored_body.assign(scratch.get(), length);
            state.stored_body.shrink_to_fit();
          }
          state.stored_format = format;
        }
        state.tracked.assign(hashes_.begin(), hashes_.end());
      }
      state.explicit_ts.swap(explicit_);
    } else {
      // A bad exposition fails the whole scrape: nothing of it is sent.
      out.data.resize(start);
      out.samples = start_samples;
      if (out.marks.size() > start_samples / model::kEntryMarkStride) {
        out.marks.resize(start_samples / model::kEntryMarkStride);
      }
    }
  }
  if (!report.status.ok()) {
    // A failed scrape counts as an empty one: every tracked series goes stale.
    std::vector<uint64_t> all(state.tracked);
    std::sort(all.begin(), all.end());
    EmitStaleFromStored(target, state, all, timestamp_ms, out, report);
    state.tracked.clear();
    state.stored_body.clear();
    report.samples_post_relabeling = 0;
  }
  report.duration = absl::Now() - started;
  WriteReport(target, timestamp_ms, report, fetch, /*stale=*/false, out);
  state.reported = true;
  return report;
}

uint32_t ScrapeProcessor::EndOfTarget(const Target& target, SeriesState& state,
                                      int64_t timestamp_ms, model::SeriesBatch& out) {
  ScrapeReport report;
  std::vector<uint64_t> all(state.tracked);
  std::sort(all.begin(), all.end());
  EmitStaleFromStored(target, state, all, timestamp_ms, out, report);
  const uint32_t before = out.samples;
  if (state.reported) WriteReport(target, timestamp_ms, report, FetchOutcome{}, true, out);
  const uint32_t markers = report.stale_markers + (out.samples - before);
  state = SeriesState{};
  return markers;
}

void ScrapeProcessor::WriteReport(const Target& target, int64_t ts, const ScrapeReport& report,
                                  const FetchOutcome& fetch, bool stale, model::SeriesBatch& out) {
  auto emit = [&](std::string_view name, double value, std::string_view phase = {}) {
    LabelView sv[2] = {{model::kMetricName, name}, {"phase", phase}};
    // Report series are not subject to metric relabeling (as in Prometheus).
    MergeLabels(target, sv, phase.empty() ? 1 : 2, /*relabel=*/false);
    const uint64_t bits = stale ? model::kStaleNaNBits : protowire::DoubleBits(value);
    EncodeMerged(ts, bits, out, [](uint64_t) { return true; });
  };
  emit("up", report.status.ok() ? 1 : 0);
  emit("scrape_duration_seconds", absl::ToDoubleSeconds(report.duration));
  emit("scrape_samples_scraped", report.samples_scraped);
  emit("scrape_samples_post_metric_relabeling", report.samples_post_relabeling);
  emit("scrape_series_added", report.series_added);
  // tender's per-phase timings of the fetch: where a slow link spends its time.
  const absl::Duration before_body = fetch.dns + fetch.connect + fetch.tls + fetch.first_byte;
  const absl::Duration transfer =
      fetch.total > before_body ? fetch.total - before_body : absl::ZeroDuration();
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(fetch.dns), "dns");
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(fetch.connect), "connect");
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(fetch.tls), "tls");
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(fetch.first_byte), "first_byte");
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(transfer), "transfer");
  // Everything after the body arrived: parse, relabel, encode, series state.
  const absl::Duration parse =
      report.duration > fetch.total ? report.duration - fetch.total : absl::ZeroDuration();
  emit("tender_scrape_phase_seconds", absl::ToDoubleSeconds(parse), "parse");
}

}  // namespace tender::scrape
