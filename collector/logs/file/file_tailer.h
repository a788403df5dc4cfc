// FileTailer: follows log files matched by globs and hands their lines to a sink as
// model::LogEntry batches (DESIGN decision 9). One thread polls: it re-globs (files appearing
// later), reads what was appended, and notices rotation by rename (the path now names another
// inode: the old file is read to its end first), by copytruncate (the file got shorter: read
// again from 0) and deletion + recreation. Files are identified by device + inode; the read
// offset of each is persisted under the storage directory, so a restart resumes where the last
// run stopped. A partial last line is held until its newline arrives; longer lines than
// max_line_size are cut (counted); invalid UTF-8 is replaced with U+FFFD (counted); docker
// json-file lines are decoded to their message, stream and timestamp.
// Start/Shutdown/PollOnce: the owning thread; the sink is called on the tailer thread (or the
// PollOnce caller).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/log_entry.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tender::logs {

// Replaces every ill-formed UTF-8 sequence (RFC 3629) of `*s` with U+FFFD, one per bad byte.
// Returns how many replacements were made.
size_t SanitizeUtf8(std::string* s);

// Decodes one docker json-file line `{"log":"...","stream":"stdout","time":"<RFC 3339>"}`.
// `*log` gets the message with its trailing newline kept (a message without one is a partial
// message that continues in the next line). False when the line is not such an object.
bool ParseDockerLine(std::string_view line, std::string* log, std::string* stream,
                     int64_t* timestamp_ns);

class FileTailer {
 public:
  using Sink = std::function<void(std::vector<model::LogEntry>&&)>;

  struct Settings {
    std::vector<config::FileLogConfig> files;
    // File of persisted offsets (created with its directory); empty = none kept.
    std::string positions_path;
    Sink sink;
    prometheus::Registry* registry = nullptr;  // Null: private metrics.
    absl::Duration poll_interval = absl::Milliseconds(250);
    // How often the offsets are written (also at Shutdown).
    absl::Duration positions_interval = absl::Seconds(1);
    // A file no glob matches any more (renamed away or deleted) is read until it has not grown
    // for this long, then closed.
    absl::Duration unmatched_grace = absl::Seconds(1);
    // Bytes read from one file per poll, so one busy file cannot starve the others.
    int64_t read_chunk_bytes = 4 << 20;
    std::function<absl::Time()> clock;  // Null: absl::Now (timestamps of plain lines).
  };

  explicit FileTailer(Settings settings);
  ~FileTailer();  // Calls Shutdown.

  FileTailer(const FileTailer&) = delete;
  FileTailer& operator=(const FileTailer&) = delete;

  // Loads the positions and starts the polling thread. Errors: bad glob configuration, or
  // called twice.
  absl::Status Start();
  // Stops the thread after its current poll and writes the positions. Safe before Start and
  // twice.
  void Shutdown();

  // One poll, on the caller's thread (tests; not while the thread runs). Loads the positions
  // on the first call.
  void PollOnce();
  // Writes the positions file now.
  absl::Status SavePositions();

  size_t open_files() const;

 private:
  struct Tracked;
  struct Metrics;
  using FileId = std::pair<dev_t, ino_t>;

  void LoadPositions();
  void Poll(absl::Time now);
  // Reads what is new in `t`; true when it read something.
  bool ReadFile(Tracked* t, std::vector<model::LogEntry>* out, absl::Time now);
  void EmitLine(Tracked* t, std::string line, std::vector<model::LogEntry>* out, absl::Time now);
  void Run();

  Settings settings_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<prometheus::Registry> own_registry_;

  // Tailer thread (or PollOnce caller) only.
  std::map<FileId, std::unique_ptr<Tracked>> tracked_;
  struct SavedPosition {
    int64_t offset = 0;
    int64_t fingerprint_len = 0;  // 0: none saved (a file written by an older version).
    uint64_t fingerprint = 0;
  };
  std::map<FileId, SavedPosition> saved_offsets_;  // From the positions file, until used.
  std::map<std::string, int64_t> last_timestamp_;  // Selector → newest plain-line time.
  bool positions_loaded_ = false;
  bool backlog_ = false;  // The last poll left unread bytes in a file (its budget ran out).
  absl::Time positions_saved_ = absl::InfinitePast();

  // mu_ covers stop_, started_ and the count for open_files().
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool started_ = false;
  size_t open_files_ = 0;
  std::thread thread_;
};

}  // namespace tender::logs
