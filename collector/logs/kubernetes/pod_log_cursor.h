// The pieces of the pod-log source that decide what a line is and whether it was delivered
// before (protocols.md §7.5): the timestamp prefix of `timestamps=true` output, a splitter that
// turns body chunks into lines (partial lines held, long lines cut, bad UTF-8 replaced), the
// per-container cursor with its dedupe rules at the second-precision `sinceTime`, and the text
// form the cursors are persisted in. Plain values and pure functions: thread-compatible; each
// stream thread owns its own splitter, filter and working cursor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tender::logs {

// Splits "2026-12-02T01:02:03.123456789Z text" into its RFC3339(Nano) timestamp (any number of
// fractional digits, `Z` or a numeric offset) and the text after the one space. False when the
// line does not start with such a timestamp.
bool ParseTimestampedLine(std::string_view line, int64_t* unix_ns, std::string_view* text);

// `sinceTime` for a cursor at `unix_ns`: the cursor's second, RFC3339 in UTC
// ("2026-12-02T01:02:03Z"). The API server passes it on to the kubelet with second precision
// and the kubelet keeps lines at or after it, so the lines of that whole second come again.
std::string SinceTime(int64_t unix_ns);

// Turns the chunks of a log body into complete lines. A line without its newline is held
// until the newline arrives (a chunk boundary or a broken connection mid-line); Reset() drops
// it (the reconnect sends that line again, whole). Lines longer than `max_line_size` bytes
// are cut to it (the rest skipped up to the newline) and counted; ill-formed UTF-8 is
// replaced with U+FFFD and counted; a trailing '\r' is removed.
class LineSplitter {
 public:
  explicit LineSplitter(int64_t max_line_size) : max_line_size_(max_line_size) {}

  // Appends `chunk` and moves each completed line to `*out`.
  void Add(std::string_view chunk, std::vector<std::string>* out);
  // At the clean end of a body: the held partial line, if any, is a line.
  void Finish(std::vector<std::string>* out);
  // Drops the held partial line (a new connection starts).
  void Reset();

  bool has_partial() const { return !partial_.empty() || skipping_; }
  uint64_t truncated_lines() const { return truncated_; }
  uint64_t invalid_utf8_lines() const { return invalid_utf8_; }

 private:
  void Emit(std::string line, std::vector<std::string>* out);

  const int64_t max_line_size_;
  std::string partial_;
  bool skipping_ = false;  // The held line was cut; bytes up to its newline are skipped.
  uint64_t truncated_ = 0;
  uint64_t invalid_utf8_ = 0;
};

// Where a container's log was read up to: the instance (containerID), the timestamp of the
// last line delivered, and how many lines of each content hash were delivered at exactly that
// timestamp (several lines may share one timestamp; identical lines are counted, not merged).
struct PodLogCursor {
  std::string container_id;
  int64_t timestamp_ns = 0;  // 0: nothing delivered yet.
  std::map<uint64_t, uint32_t> delivered;

  bool empty() const { return timestamp_ns == 0; }
  friend bool operator==(const PodLogCursor&, const PodLogCursor&) = default;
};

// The dedupe rules for one connection (one request from `SinceTime(cursor)`), applied to the
// caller's working cursor. While the connection replays what the cursor covers: a line older
// than the cursor is skipped; a line at the cursor's timestamp is skipped while its hash has
// been seen on this connection no more times than it was delivered. The first line that is
// not skipped ends the replay: every later line of the connection is new (the stream is in
// order), and the cursor moves to each line's timestamp (never backwards).
class CursorFilter {
 public:
  explicit CursorFilter(PodLogCursor* cursor) : cursor_(cursor) {}

  // True when the line is new (deliver it; the working cursor already counts it), false when
  // the cursor covers it.
  bool Accept(int64_t timestamp_ns, std::string_view text);

 private:
  PodLogCursor* cursor_;
  bool replaying_ = true;
  std::map<uint64_t, uint32_t> seen_;  // At cursor_->timestamp_ns, on this connection.
};

// Text form of a set of cursors keyed "namespace/pod/container", one per line:
// `<key> <container_id or -> <timestamp_ns> <hash>:<count>,...` (hashes in hex).
std::string SerializeCursors(const std::map<std::string, PodLogCursor>& cursors);
// Parses SerializeCursors' output; a malformed line is an InvalidArgument naming its number.
absl::StatusOr<std::map<std::string, PodLogCursor>> ParseCursors(std::string_view text);

}  // namespace tender::logs
