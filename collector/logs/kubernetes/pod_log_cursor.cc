#include "collector/logs/kubernetes/pod_log_cursor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/logs/file/file_tailer.h"
#include "collector/model/absl_compat.h"
#include "collector/model/hash.h"

namespace tender::logs {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// The kubelet's fixed-width form, "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (30 bytes).
bool ParseFixedWidth(std::string_view ts, int64_t* unix_ns) {
  if (ts.size() != 30 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' ||
      ts[16] != ':' || ts[19] != '.' || ts[29] != 'Z') {
    return false;
  }
  int y, mo, d, h, mi, s, frac_hi, frac_lo;
  if (!Digits(ts, 0, 4, &y) || !Digits(ts, 5, 2, &mo) || !Digits(ts, 8, 2, &d) ||
      !Digits(ts, 11, 2, &h) || !Digits(ts, 14, 2, &mi) || !Digits(ts, 17, 2, &s) ||
      !Digits(ts, 20, 4, &frac_hi) || !Digits(ts, 24, 5, &frac_lo)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  const absl::Time t = absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
  *unix_ns = absl::ToUnixSeconds(t) * 1000000000 + int64_t{frac_hi} * 100000 + frac_lo;
  return true;
}

}  // namespace

bool ParseTimestampedLine(std::string_view line, int64_t* unix_ns, std::string_view* text) {
  const size_t space = line.find(' ');
  const std::string_view ts = line.substr(0, space);
  if (!ParseFixedWidth(ts, unix_ns)) {
    absl::Time t;
    std::string err;
    if (ts.empty() || ts.size() > 40 ||
        !absl::ParseTime(absl::RFC3339_full, ToAbsl(ts), &t, &err)) {
      return false;
    }
    *unix_ns = absl::ToUnixNanos(t);
  }
  *text = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  return true;
}

std::string SinceTime(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(unix_ns), absl::UTCTimeZone());
}

void LineSplitter::Add(std::string_view chunk, std::vector<std::string>* out) {
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const std::string_view piece = chunk.substr(0, nl);
    if (!skipping_) {
      const size_t room = static_cast<size_t>(max_line_size_) - partial_.size();
      if (piece.size() > room) {
        partial_.append(piece.data(), room);
        skipping_ = true;
        ++truncated_;
      } else {
        partial_.append(piece.data(), piece.size());
      }
    }
    if (nl == std::string_view::npos) return;
    chunk.remove_prefix(nl + 1);
    skipping_ = false;
    Emit(std::move(partial_), out);
    partial_.clear();
  }
}

void LineSplitter::Finish(std::vector<std::string>* out) {
  if (has_partial()) Emit(std::move(partial_), out);
  Reset();
}

void LineSplitter::Reset() {
  partial_.clear();
  skipping_ = false;
}

void LineSplitter::Emit(std::string line, std::vector<std::string>* out) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (SanitizeUtf8(&line) > 0) ++invalid_utf8_;
  out->push_back(std::move(line));
}

bool CursorFilter::Accept(int64_t ts, std::string_view text) {
  const uint64_t h = model::Hash64(text);
  PodLogCursor& c = *cursor_;
  if (c.empty() || ts > c.timestamp_ns) {
    c.timestamp_ns = ts;
    c.delivered.clear();
    c.delivered[h] = 1;
    seen_.clear();
    seen_[h] = 1;
    replaying_ = false;
    return true;
  }
  if (ts == c.timestamp_ns) {
    const uint32_t seen = ++seen_[h];
    uint32_t& delivered = c.delivered[h];
    if (replaying_ && seen <= delivered) return false;
    delivered = std::max(delivered, seen);
    replaying_ = false;
    return true;
  }
  // Older than the cursor: a replayed line, unless the replay is over (a clock that stepped
  // back on the node); the cursor does not move back.
  return !replaying_;
}

std::string SerializeCursors(const std::map<std::string, PodLogCursor>& cursors) {
  std::string out;
  for (const auto& [key, c] : cursors) {
    absl::StrAppend(&out, key, " ", c.container_id.empty() ? "-" : c.container_id, " ",
                    c.timestamp_ns, " ");
    bool first = true;
    for (const auto& [h, n] : c.delivered) {
      absl::StrAppend(&out, first ? "" : ",", absl::Hex(h), ":", n);
      first = false;
    }
    if (first) out += "-";
    out += "\n";
  }
  return out;
}

absl::StatusOr<std::map<std::string, PodLogCursor>> ParseCursors(std::string_view text) {
  std::map<std::string, PodLogCursor> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n', absl::SkipEmpty())) {
    ++line_no;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    PodLogCursor c;
    auto bad = [&] {
      return absl::InvalidArgumentError(absl::StrCat("cursor line ", line_no, ": malformed"));
    };
    if (f.size() != 4 || f[0].empty() || !absl::SimpleAtoi(f[2], &c.timestamp_ns)) return bad();
    if (f[1] != "-") c.container_id = std::string(f[1]);
    if (f[3] != "-") {
      for (absl::string_view pair : absl::StrSplit(f[3], ',')) {
        std::pair<absl::string_view, absl::string_view> hn = absl::StrSplit(pair, ':');
        uint64_t h = 0;
        uint32_t n = 0;
        if (!absl::SimpleHexAtoi(hn.first, &h) || !absl::SimpleAtoi(hn.second, &n)) return bad();
        c.delivered[h] = n;
      }
    }
    out[std::string(f[0])] = std::move(c);
  }
  return out;
}

}  // namespace tender::logs
