// What one target remembers between scrapes, kept compact (DESIGN decision 5): the sorted
// 64-bit hashes of its staleness-tracked series, the last timestamp of series that carry
// explicit timestamps, and the exposition that last changed the series set, snappy-compressed,
// so that a vanished series can still get its stale marker by re-parsing it.
// Owned by one target's scrape loop; only one scrape of a target runs at a time, so it is
// used by one worker thread at a time (thread-compatible).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "collector/textparse/parser.h"

namespace tender::scrape {

struct SeriesState {
  // Hashes of the series of the last successful scrape that had no explicit timestamp, in
  // exposition order, unique. These get stale markers when they vanish. Kept in exposition
  // order so that an unchanged scrape is recognised by one comparison, without sorting.
  std::vector<uint64_t> tracked;
  // (hash, timestamp ms) of series with an explicit timestamp, in exposition order. A sample whose
  // timestamp is not newer than the one remembered is dropped (Prometheus would reject it as
  // out of order or duplicate; a receiver would reject the whole request).
  std::vector<std::pair<uint64_t, int64_t>> explicit_ts;
  // Snappy-compressed exposition whose label sets cover every hash in `tracked`.
  std::string stored_body;
  textparse::Format stored_format = textparse::Format::kText;
  // Whether report series were written (they get stale markers when the target goes away).
  bool reported = false;

  // Bytes held, for the memory-per-series figure.
  size_t MemoryBytes() const {
    return tracked.capacity() * sizeof(uint64_t) +
           explicit_ts.capacity() * sizeof(std::pair<uint64_t, int64_t>) + stored_body.capacity() +
           sizeof(*this);
  }
};

}  // namespace tender::scrape
