// Turns one fetched exposition into remote-write entries (DESIGN decisions 3-5): parse, merge
// the sample's labels with the target's and the external labels, encode straight into the
// batch, drop samples whose explicit timestamp did not advance, write stale markers for
// vanished series, and append the report series (`up`, `scrape_duration_seconds`, ...).
// One ScrapeProcessor per worker thread: it owns reusable scratch buffers and is not
// thread-safe; it may process any target.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/model/labels.h"
#include "collector/model/series_batch.h"
#include "collector/relabel/relabeler.h"
#include "collector/scrape/series_state.h"
#include "collector/scrape/target.h"
#include "collector/textparse/parser.h"

namespace tender::scrape {

// What the fetch produced, as the processor needs it. Views live for the call.
struct FetchOutcome {
  absl::Status status;  // Transport outcome: OK when a complete response arrived.
  int http_status = 0;
  std::string_view content_type;
  std::string_view body;
  // Time spent in each phase of the fetch (not cumulative), and the whole fetch.
  absl::Duration dns, connect, tls, first_byte, total;
};

struct ScrapeReport {
  absl::Status status;  // OK, or why the scrape failed (then `up` is 0).
  uint32_t samples_scraped = 0;
  uint32_t samples_post_relabeling = 0;
  uint32_t series_added = 0;
  uint32_t stale_markers = 0;
  uint32_t dropped_stale_timestamp = 0;  // Explicit timestamp not newer than the last one.
  uint32_t dropped_duplicate = 0;        // Same series twice in one exposition.
  std::string limit_hit;                 // Which limit failed the scrape, if one did.
  absl::Duration duration;               // Fetch + processing.
};

class ScrapeProcessor {
 public:
  explicit ScrapeProcessor(model::Labels external_labels);

  // Processes one scrape of `target` that started at `timestamp_ms`, updating `state` and
  // appending entries to `out` (whose shard_key and job are set). `started` is the monotonic
  // start of the scrape, for scrape_duration_seconds. Never fails as a call: a bad exposition
  // is reported in the returned status and written as `up` 0 with stale markers.
  ScrapeReport Process(const Target& target, SeriesState& state, int64_t timestamp_ms,
                       absl::Time started, const FetchOutcome& fetch, model::SeriesBatch& out);

  // The target went away (not on shutdown): stale markers at `timestamp_ms` for every tracked
  // series and for the report series. Clears `state`. Returns the number of markers.
  uint32_t EndOfTarget(const Target& target, SeriesState& state, int64_t timestamp_ms,
                       model::SeriesBatch& out);

 private:
  using LabelView = relabel::LabelRef;
  enum class Mode { kScrape, kStale };

  // Parses `body`; in kScrape mode encodes every sample and fills hashes_/explicit_; in
  // kStale mode writes a stale marker for each series whose hash is in `stale_set` (sorted)
  // and not yet marked. Returns the parse status.
  absl::Status Walk(const Target& target, std::string_view body, textparse::Format format,
                    Mode mode, int64_t timestamp_ms, const SeriesState* state,
                    const std::vector<uint64_t>* stale_set, model::SeriesBatch& out,
                    ScrapeReport& report);

  // Merges `scraped[0..n)` (sorted by name, unique names, non-empty values, includes __name__)
  // with the target labels, applies the job's metric relabeling when `relabel` is set, then
  // adds the external labels, into merged_[0..merged_n_). Returns false when relabeling dropped
  // the series.
  bool MergeLabels(const Target& target, const LabelView* scraped, size_t n, bool relabel);

  // Encodes merged_ with one sample; returns the series hash. When `keep` returns false for
  // the hash, the entry is abandoned instead.
  template <typename Keep>
  uint64_t EncodeMerged(int64_t ts, uint64_t value_bits, model::SeriesBatch& out, Keep&& keep);

  bool HasMetricName() const;
  // label_limit, label_name_length_limit, label_value_length_limit on merged_.
  absl::Status CheckLabelLimits(const config::ScrapeConfig& cfg, ScrapeReport& report) const;
  // Last explicit timestamp of series `h` in the previous scrape, or INT64_MIN.
  int64_t LastExplicitTimestamp(const SeriesState& state, uint64_t h);
  // After a scrape whose series differ from the last one's: removes duplicate entries, counts
  // added series, fills `vanished` (sorted). Returns whether the set of tracked series changed.
  bool ReconcileSlow(SeriesState& state, model::SeriesBatch& out, size_t start,
                     ScrapeReport& report, std::vector<uint64_t>* vanished);
  void WriteReport(const Target& target, int64_t ts, const ScrapeReport& report,
                   const FetchOutcome& fetch, bool stale, model::SeriesBatch& out);
  void EmitStaleFromStored(const Target& target, SeriesState& state,
                           const std::vector<uint64_t>& vanished, int64_t ts,
                           model::SeriesBatch& out, ScrapeReport& report);

  const model::Labels external_labels_;
  // Scratch, reused across calls.
  std::vector<LabelView> scraped_;
  std::vector<LabelView> merged_;  // Sized to capacity; merged_n_ entries are valid.
  size_t merged_n_ = 0;
  uint64_t last_hash_ = 0;           // Hash of the entry EncodeMerged built last.
  std::deque<std::string> renamed_;  // Storage for exported_* names (stable references).
  std::vector<uint64_t> hashes_;     // Tracked series of this scrape, in exposition order.
  std::vector<std::pair<uint64_t, int64_t>> explicit_;
  std::vector<uint64_t> marked_;  // Stale markers already written in this walk.
  // Lookup of the previous scrape's explicit timestamps (see LastExplicitTimestamp).
  size_t cursor_ = 0;
  size_t explicit_misses_ = 0;
  size_t explicit_new_ = 0;
  bool sorted_prev_built_ = false;
  std::vector<std::pair<uint64_t, size_t>> sorted_prev_;
  std::string decompressed_;
  std::vector<LabelView> relabel_buf_;
  relabel::Scratch relabel_scratch_;
};

}  // namespace tender::scrape
