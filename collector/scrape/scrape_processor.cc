#include "collector/scrape/scrape_processor.h"

#include <snappy.h>

#include <algorithm>
#include <cmath>

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

template <typename T>
void InsertionSortByName(std::vector<T>& v) {
  for (size_t i = 1; i < v.size(); ++i) {
    T x = v[i];
    size_t j = i;
    while (j > 0 && x.name < v[j - 1].name) {
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

bool ScrapeProcessor::MergeLabels(const Target& target, const std::vector<LabelView>& scraped) {
  merged_.clear();
  const model::Labels& tl = target.labels;
  const bool honor = target.config && target.config->honor_labels;
  bool clash = false;
  size_t i = 0;
  size_t j = 0;
  while (i < scraped.size() || j < tl.size()) {
    if (j == tl.size() || (i < scraped.size() && scraped[i].name < tl[j].name)) {
      merged_.push_back(scraped[i++]);
    } else if (i == scraped.size() || tl[j].name < scraped[i].name) {
      merged_.push_back({tl[j].name, tl[j].value});
      ++j;
    } else {
      // Same name in the exposition and on the target.
      if (honor) {
        merged_.push_back(scraped[i]);
      } else {
        clash = true;
        merged_.push_back({tl[j].name, tl[j].value});
      }
      ++i;
      ++j;
    }
  }
  if (clash) {
    // Slow path (Prometheus resolveConflictingExposedLabels): the target keeps the name, the
    // scraped value moves to exported_<name>, prefixed again while that name is taken.
    std::vector<LabelView> conflicts;
    for (const auto& s : scraped) {
      if (!model::Get(tl, std::string(s.name)).empty()) conflicts.push_back(s);
    }
    std::stable_sort(conflicts.begin(), conflicts.end(), [](const LabelView& a, const LabelView& b) {
      return a.name.size() < b.name.size();
    });
    renamed_.clear();
    for (const auto& c : conflicts) {
      std::string name = absl::StrCat(ToAbsl(kExportedPrefix), ToAbsl(c.name));
      while (std::any_of(merged_.begin(), merged_.end(),
                         [&](const LabelView& l) { return l.name == name; })) {
        name.insert(0, kExportedPrefix);
      }
      renamed_.push_back(std::move(name));
      merged_.push_back({renamed_.back(), c.value});
    }
    InsertionSortByName(merged_);
  }
  if (!external_labels_.empty()) {
    // External labels apply only where the series has no such label (as remote write does).
    const size_t n = merged_.size();
    bool added = false;
    for (const auto& e : external_labels_) {
      auto it = std::lower_bound(merged_.begin(), merged_.begin() + n, e.name,
                                 [](const LabelView& l, std::string_view name) {
                                   return l.name < name;
                                 });
      if (it == merged_.begin() + n || it->name != e.name) {
        merged_.push_back({e.name, e.value});
        added = true;
      }
    }
    if (added) InsertionSortByName(merged_);
  }
  return true;
}

template <typename Keep>
uint64_t ScrapeProcessor::EncodeMerged(int64_t ts, uint64_t value_bits, model::SeriesBatch& out,
                                       Keep&& keep) {
  size_t n = 0;
  for (const auto& l : merged_) n += model::LabelFieldSize(l.name.size(), l.value.size());
  model::SeriesEncoder enc(&out);
  enc.Begin(n, ts);
  for (const auto& l : merged_) enc.AddLabel(l.name, l.value);
  const uint64_t h = model::Hash64(enc.CurrentLabels());
  if (keep(h)) {
    enc.Finish(value_bits);
  } else {
    enc.Abandon();
  }
  return h;
}

absl::Status ScrapeProcessor::Walk(const Target& target, std::string_view body,
                                   textparse::Format format, Mode mode, int64_t timestamp_ms,
                                   const SeriesState* state,
                                   const std::vector<uint64_t>* stale_set,
                                   model::SeriesBatch& out, ScrapeReport& report) {
  const bool honor_ts = target.config == nullptr || target.config->honor_timestamps;
  textparse::Parser parser(body, format);
  while (parser.Next()) {
    if (mode == Mode::kScrape) ++report.samples_scraped;
    scraped_.clear();
    scraped_.push_back({model::kMetricName, parser.name()});
    for (size_t k = 0; k < parser.num_labels(); ++k) {
      const std::string_view v = parser.label_value(k);
      if (v.empty()) continue;  // An empty label value is an absent label.
      scraped_.push_back({parser.label_name(k), v});
    }
    InsertionSortByName(scraped_);
    for (size_t k = 1; k < scraped_.size(); ++k) {
      if (scraped_[k].name == scraped_[k - 1].name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", parser.line(), ": label name \"", ToAbsl(scraped_[k].name),
            "\" is not unique"));
      }
    }
    if (parser.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", parser.line(), ": series without a metric name"));
    }
    MergeLabels(target, scraped_);

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
    if (honor_ts && parser.has_timestamp()) {
      const int64_t ts = parser.timestamp_ms();
      EncodeMerged(ts, parser.value_bits(), out, [&](uint64_t h) {
        int64_t last = std::numeric_limits<int64_t>::min();
        auto it = std::lower_bound(
            state->explicit_ts.begin(), state->explicit_ts.end(), h,
            [](const std::pair<uint64_t, int64_t>& e, uint64_t key) { return e.first < key; });
        if (it != state->explicit_ts.end() && it->first == h) last = it->second;
        if (ts <= last) {
          ++report.dropped_stale_timestamp;
          explicit_.emplace_back(h, last);
          return false;
        }
        explicit_.emplace_back(h, ts);
        return true;
      });
    } else {
      hashes_.push_back(EncodeMerged(timestamp_ms, parser.value_bits(), out,
                                     [](uint64_t) { return true; }));
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
  const absl::Status st = Walk(target, decompressed_, state.stored_format, Mode::kStale, ts,
                               &state, &vanished, out, ignored);
  if (!st.ok()) {
    log::Error("scrape", "re-parsing the stored exposition failed",
               {{"target", target.url}, {"err", FromAbsl(st.message())}});
  }
  report.stale_markers += out.samples - before;
}

ScrapeReport ScrapeProcessor::Process(const Target& target, SeriesState& state,
                                      int64_t timestamp_ms, absl::Time started,
                                      const FetchOutcome& fetch, model::SeriesBatch& out) {
  ScrapeReport report;
  hashes_.clear();
  explicit_.clear();
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
    report.status = Walk(target, fetch.body, format, Mode::kScrape, timestamp_ms, &state,
                         nullptr, out, report);
    if (report.status.ok()) {
      std::sort(hashes_.begin(), hashes_.end());
      std::sort(explicit_.begin(), explicit_.end());
      const bool dup_explicit =
          std::adjacent_find(explicit_.begin(), explicit_.end(), [](const auto& a, const auto& b) {
            return a.first == b.first;
          }) != explicit_.end();
      if (HasAdjacentDuplicates(hashes_) || dup_explicit) {
        report.dropped_duplicate = RemoveDuplicateEntries(out, start);
        hashes_.erase(std::unique(hashes_.begin(), hashes_.end()), hashes_.end());
        explicit_.erase(std::unique(explicit_.begin(), explicit_.end(),
                                    [](const auto& a, const auto& b) { return a.first == b.first; }),
                        explicit_.end());
      }
      // Series added: new tracked hashes plus new explicitly-timestamped ones.
      std::vector<uint64_t> vanished;
      {
        auto a = state.tracked.begin();
        auto b = hashes_.begin();
        while (a != state.tracked.end() || b != hashes_.end()) {
          if (b == hashes_.end() || (a != state.tracked.end() && *a < *b)) {
            vanished.push_back(*a++);
          } else if (a == state.tracked.end() || *b < *a) {
            ++report.series_added;
            ++b;
          } else {
            ++a;
            ++b;
          }
        }
      }
      for (const auto& [h, ts] : explicit_) {
        if (!std::binary_search(
                state.explicit_ts.begin(), state.explicit_ts.end(), std::make_pair(h, ts),
                [](const auto& x, const auto& y) { return x.first < y.first; })) {
          ++report.series_added;
        }
      }
      EmitStaleFromStored(target, state, vanished, timestamp_ms, out, report);
      if (hashes_ != state.tracked) {
        // The set of series changed: remember this exposition for future stale markers.
        state.tracked.assign(hashes_.begin(), hashes_.end());
        state.stored_body.clear();
        if (!hashes_.empty()) {
          snappy::Compress(fetch.body.data(), fetch.body.size(), &state.stored_body);
          state.stored_body.shrink_to_fit();
        }
        state.stored_format = format;
      }
      state.explicit_ts.swap(explicit_);
    } else {
      // A bad exposition fails the whole scrape: nothing of it is sent.
      out.data.resize(start);
      out.samples = start_samples;
    }
  }
  if (!report.status.ok()) {
    // A failed scrape counts as an empty one: every tracked series goes stale.
    EmitStaleFromStored(target, state, state.tracked, timestamp_ms, out, report);
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
  EmitStaleFromStored(target, state, state.tracked, timestamp_ms, out, report);
  const uint32_t before = out.samples;
  if (state.reported) WriteReport(target, timestamp_ms, report, FetchOutcome{}, true, out);
  const uint32_t markers = report.stale_markers + (out.samples - before);
  state = SeriesState{};
  return markers;
}

void ScrapeProcessor::WriteReport(const Target& target, int64_t ts, const ScrapeReport& report,
                                  const FetchOutcome& fetch, bool stale,
                                  model::SeriesBatch& out) {
  auto emit = [&](std::string_view name, double value, std::string_view phase = {}) {
    scraped_.clear();
    scraped_.push_back({model::kMetricName, name});
    if (!phase.empty()) scraped_.push_back({"phase", phase});
    MergeLabels(target, scraped_);
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
}

}  // namespace tender::scrape
