#include "collector/logs/file/file_tailer.h"

#include <fcntl.h>
#include <glob.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <rapidjson/document.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/model/absl_compat.h"
#include "collector/model/hash.h"
#include "collector/model/labels.h"
#include "collector/model/log.h"
#include "collector/model/utf8.h"

namespace tender::logs {
namespace {

constexpr std::string_view kComponent = "logs_file";

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 table 3-7), 0 when ill-formed.
size_t SequenceLength(std::string_view s, size_t i) {
  const auto b = [&s](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // Overlong.
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // Surrogates.
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // Overlong.
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // Above U+10FFFF.
    return 4;
  }
  return 0;
}

}  // namespace

size_t SanitizeUtf8(std::string* s) {
  if (model::ValidUtf8(*s)) return 0;
  std::string out;
  out.reserve(s->size() + 16);
  size_t replaced = 0;
  for (size_t i = 0; i < s->size();) {
    const size_t n = SequenceLength(*s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++replaced;
      ++i;
    } else {
      out.append(*s, i, n);
      i += n;
    }
  }
  *s = std::move(out);
  return replaced;
}

bool ParseDockerLine(std::string_view line, std::string* log, std::string* stream,
                     int64_t* timestamp_ns) {
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto l = doc.FindMember("log");
  auto s = doc.FindMember("stream");
  auto t = doc.FindMember("time");
  if (l == doc.MemberEnd() || !l->value.IsString() || t == doc.MemberEnd() ||
      !t->value.IsString()) {
    return false;
  }
  absl::Time time;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, t->value.GetString(), &time, &err)) return false;
  log->assign(l->value.GetString(), l->value.GetStringLength());
  if (s != doc.MemberEnd() && s->value.IsString()) {
    stream->assign(s->value.GetString(), s->value.GetStringLength());
  } else {
    stream->clear();
  }
  *timestamp_ns = absl::ToUnixNanos(time);
  return true;
}

namespace {

// Bytes of a file's start whose hash is kept with its position (Vector and Fluent Bit also
// fingerprint a file's first bytes): enough to tell two log files apart by their first lines.
constexpr int64_t kFingerprintBytes = 256;

// Hash of the first `len` bytes of `fd`; false when the file is shorter.
bool Fingerprint(int fd, int64_t len, uint64_t* out) {
  std::string buf(static_cast<size_t>(len), '\0');
  const ssize_t n = pread(fd, buf.data(), buf.size(), 0);
  if (n != static_cast<ssize_t>(len)) return false;
  *out = model::Hash64(buf);
  return true;
}

}  // namespace

struct FileTailer::Metrics {
  prometheus::Counter* lines = nullptr;
  prometheus::Counter* bytes = nullptr;
  prometheus::Counter* truncated = nullptr;
  prometheus::Counter* invalid_utf8 = nullptr;
  prometheus::Counter* rotated_rename = nullptr;
  prometheus::Counter* rotated_truncate = nullptr;
  prometheus::Counter* docker_errors = nullptr;
  prometheus::Counter* errors = nullptr;
  prometheus::Gauge* open_files = nullptr;

  explicit Metrics(prometheus::Registry& r) {
    auto counter = [&r](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
    };
    lines = counter("tender_logs_file_lines_total", "Lines read from tailed files.");
    bytes = counter("tender_logs_file_bytes_total", "Bytes read from tailed files.");
    truncated = counter("tender_logs_file_lines_truncated_total",
                        "Lines longer than max_line_size, cut to it.");
    invalid_utf8 = counter("tender_logs_file_invalid_utf8_lines_total",
                           "Lines whose ill-formed UTF-8 was replaced with U+FFFD.");
    auto& rotations = prometheus::BuildCounter()
                          .Name("tender_logs_file_rotations_total")
                          .Help(
                              "Rotations noticed: rename (a new file at the path) or "
                              "truncate (copytruncate: the file got shorter).")
                          .Register(r);
    rotated_rename = &rotations.Add({{"kind", "rename"}});
    rotated_truncate = &rotations.Add({{"kind", "truncate"}});
    docker_errors = counter("tender_logs_file_docker_errors_total",
                            "Lines of docker-format files that are not docker JSON (sent as is).");
    errors = counter("tender_logs_file_errors_total", "Failed opens, reads and position writes.");
    open_files = &prometheus::BuildGauge()
                      .Name("tender_logs_file_open_files")
                      .Help("Files being tailed.")
                      .Register(r)
                      .Add({});
  }
};

struct FileTailer::Tracked {
  std::string path;
  // Hash of the file's first fingerprint_len bytes (at most kFingerprintBytes, never past
  // what was read): tells this file from a later one that reuses its inode.
  int64_t fingerprint_len = 0;
  uint64_t fingerprint = 0;
  const config::FileLogConfig* config = nullptr;
  FileId id;
  int fd = -1;
  int64_t offset = 0;          // Next byte to read.
  std::string partial;         // Bytes of the line being read (before its newline).
  bool discarding = false;     // Skipping the rest of a line that was cut.
  std::string docker_partial;  // Docker messages split without a newline.
  absl::Time last_growth;
  bool matched = true;
  model::Labels labels;                          // Config labels + filename.
  std::map<std::string, std::string> selectors;  // Docker stream ("" for plain) → selector.

  ~Tracked() {
    if (fd >= 0) close(fd);
  }
  // Offset of the first byte not yet handed on as a whole line: what a restart resumes from.
  int64_t committed() const {
    return discarding ? offset : offset - static_cast<int64_t>(partial.size());
  }
  const std::string& Selector(const std::string& stream) {
    auto it = selectors.find(stream);
    if (it != selectors.end()) return it->second;
    model::Labels l = labels;
    if (!stream.empty()) model::Set(l, "stream", stream);
    return selectors.emplace(stream, model::ToString(l)).first->second;
  }
};

FileTailer::FileTailer(Settings settings) : settings_(std::move(settings)) {
  prometheus::Registry* registry = settings_.registry;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<prometheus::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<Metrics>(*registry);
}

FileTailer::~FileTailer() { Shutdown(); }

absl::Status FileTailer::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return absl::FailedPreconditionError("file tailer already started");
  for (const auto& c : settings_.files) {
    if (c.paths.empty()) return absl::InvalidArgumentError("logs.files entry without paths");
  }
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void FileTailer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    if (absl::Status s = SavePositions(); !s.ok()) {
      log::Error(kComponent, "cannot write positions", {{"error", FromAbsl(s.message())}});
    }
  }
}

void FileTailer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    PollOnce();
    lock.lock();
    // A file that filled its read budget has more waiting: read on at once rather than at
    // read_chunk_bytes per poll_interval (16 MiB/s per file at the defaults).
    if (backlog_) continue;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(settings_.poll_interval),
                 [this] { return stop_; });
  }
}

void FileTailer::PollOnce() {
  if (!positions_loaded_) LoadPositions();
  const absl::Time now = settings_.clock ? settings_.clock() : absl::Now();
  Poll(now);
  if (now - positions_saved_ >= settings_.positions_interval) {
    if (absl::Status s = SavePositions(); !s.ok()) {
      static log::Throttle throttle(absl::Seconds(30));
      if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
        log::Warn(kComponent, "cannot write positions", {{"error", FromAbsl(s.message())}});
      }
    }
    positions_saved_ = now;
  }
}

size_t FileTailer::open_files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_files_;
}

void FileTailer::LoadPositions() {
  positions_loaded_ = true;
  if (settings_.positions_path.empty()) return;
  std::ifstream in(settings_.positions_path);
  std::string line;
  while (std::getline(in, line)) {
    // "<dev> <inode> <offset>[:<fingerprint length>:<fingerprint hex>] <path>"
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
    uint64_t dev = 0;
    uint64_t ino = 0;
    if (f.size() < 3 || !absl::SimpleAtoi(f[0], &dev) || !absl::SimpleAtoi(f[1], &ino)) {
      continue;
    }
    std::vector<std::string> p = absl::StrSplit(f[2], ':');
    SavedPosition saved;
    if (!absl::SimpleAtoi(p[0], &saved.offset) ||
        (p.size() == 3 && (!absl::SimpleAtoi(p[1], &saved.fingerprint_len) ||
                           !absl::SimpleHexAtoi(p[2], &saved.fingerprint))) ||
        (p.size() != 1 && p.size() != 3)) {
      continue;
    }
    saved_offsets_[{static_cast<dev_t>(dev), static_cast<ino_t>(ino)}] = saved;
  }
}

absl::Status FileTailer::SavePositions() {
  if (settings_.positions_path.empty()) return absl::OkStatus();
  std::ostringstream out;
  auto position = [](int64_t offset, int64_t fingerprint_len, uint64_t fingerprint) {
    return fingerprint_len == 0
               ? absl::StrCat(offset)
               : absl::StrCat(offset, ":", fingerprint_len, ":", absl::Hex(fingerprint));
  };
  for (const auto& [id, t] : tracked_) {
    const int64_t want = std::min(kFingerprintBytes, t->committed());
    if (want > t->fingerprint_len && Fingerprint(t->fd, want, &t->fingerprint)) {
      t->fingerprint_len = want;
    }
    out << static_cast<uint64_t>(id.first) << ' ' << static_cast<uint64_t>(id.second) << ' '
        << position(t->committed(), t->fingerprint_len, t->fingerprint) << ' ' << t->path << '\n';
  }
  // Offsets loaded but not yet used (a file not seen again yet) are kept.
  for (const auto& [id, saved] : saved_offsets_) {
    if (tracked_.count(id) == 0) {
      out << static_cast<uint64_t>(id.first) << ' ' << static_cast<uint64_t>(id.second) << ' '
          << position(saved.offset, saved.fingerprint_len, saved.fingerprint) << " -\n";
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(settings_.positions_path).parent_path(),
                                      ec);
  const std::string tmp = settings_.positions_path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << out.str();
    if (!f.flush()) {
      metrics_->errors->Increment();
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), settings_.positions_path.c_str()) != 0) {
    metrics_->errors->Increment();
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void FileTailer::Poll(absl::Time now) {
  backlog_ = false;
  std::set<FileId> matched;
  for (const config::FileLogConfig& c : settings_.files) {
    for (const std::string& pattern : c.paths) {
      glob_t g{};
      if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          const std::string path = g.gl_pathv[i];
          struct stat st {};
          if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
          const FileId id{st.st_dev, st.st_ino};
          if (!matched.insert(id).second || tracked_.count(id) > 0) continue;
          const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) {
            metrics_->errors->Increment();
            static log::Throttle throttle(absl::Seconds(30));
            if (uint64_t suppressed = 0; throttle.Allow(&suppressed)) {
              log::Warn(kComponent, "cannot open log file",
                        {{"path", path}, {"error", std::strerror(errno)}});
            }
            continue;
          }
          auto t = std::make_unique<Tracked>();
          t->path = path;
          t->config = &c;
          t->id = id;
          t->fd = fd;
          t->last_growth = now;
          t->labels = c.labels;
          if (model::Get(t->labels, "filename").empty()) model::Set(t->labels, "filename", path);
          if (auto it = saved_offsets_.find(id); it != saved_offsets_.end()) {
            const SavedPosition& saved = it->second;
            uint64_t fingerprint = 0;
            if (saved.fingerprint_len > 0 &&
                (!Fingerprint(fd, saved.fingerprint_len, &fingerprint) ||
                 fingerprint != saved.fingerprint)) {
              // Another file that got the inode of one deleted while we were away: new.
              metrics_->rotated_rename->Increment();
            } else if (saved.offset <= st.st_size) {
              t->offset = saved.offset;
              t->fingerprint_len = saved.fingerprint_len;
              t->fingerprint = saved.fingerprint;
            }
            // Otherwise the file is shorter than its position: truncated while we were away.
            saved_offsets_.erase(it);
          }
          // A new file at a path we were reading from: the old one was rotated away.
          for (const auto& [other_id, other] : tracked_) {
            if (other->path == path) {
              metrics_->rotated_rename->Increment();
              break;
            }
          }
          log::Debug(kComponent, "tailing", {{"path", path}});
          tracked_.emplace(id, std::move(t));
        }
      }
      globfree(&g);
    }
  }
  // Files no glob names any more (rotated away, deleted) first: their lines are older than
  // those of a file that replaced them.
  std::vector<model::LogEntry> out;
  for (int pass = 0; pass < 2; ++pass) {
    for (auto it = tracked_.begin(); it != tracked_.end();) {
      Tracked* t = it->second.get();
      t->matched = matched.count(it->first) > 0;
      if (t->matched != (pass == 1)) {
        ++it;
        continue;
      }
      if (ReadFile(t, &out, now)) t->last_growth = now;
      if (!t->matched && now - t->last_growth >= settings_.unmatched_grace) {
        // The file is finished: a last line without a newline is complete now.
        if (!t->partial.empty() && !t->discarding) {
          EmitLine(t, std::move(t->partial), &out, now);
          t->partial.clear();
        }
        it = tracked_.erase(it);
        continue;
      }
      ++it;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_files_ = tracked_.size();
  }
  metrics_->open_files->Set(static_cast<double>(tracked_.size()));
  if (!out.empty() && settings_.sink) settings_.sink(std::move(out));
}

bool FileTailer::ReadFile(Tracked* t, std::vector<model::LogEntry>* out, absl::Time now) {
  struct stat st {};
  if (fstat(t->fd, &st) == 0 && st.st_size < t->offset) {
    // copytruncate: the file was copied away and emptied; what follows is new.
    metrics_->rotated_truncate->Increment();
    t->offset = 0;
    t->fingerprint_len = 0;
    t->partial.clear();
    t->discarding = false;
  }
  const size_t max_line = static_cast<size_t>(std::max<int64_t>(1, t->config->max_line_size));
  char buf[64 << 10];
  int64_t budget = settings_.read_chunk_bytes;
  bool any = false;
  while (budget > 0) {
    const ssize_t n =
        pread(t->fd, buf, static_cast<size_t>(std::min<int64_t>(sizeof(buf), budget)), t->offset);
    if (n < 0) {
      metrics_->errors->Increment();
      break;
    }
    if (n == 0) break;
    any = true;
    t->offset += n;
    budget -= n;
    if (budget == 0) backlog_ = true;
    metrics_->bytes->Increment(static_cast<double>(n));
    const char* p = buf;
    const char* end = buf + n;
    while (p < end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* seg_end = nl != nullptr ? nl : end;
      if (!t->discarding) {
        const size_t len = seg_end - p;
        const size_t room = max_line - std::min(max_line, t->partial.size());
        if (len > room) {
          t->partial.append(p, room);
          metrics_->truncated->Increment();
          EmitLine(t, std::move(t->partial), out, now);
          t->partial.clear();
          t->discarding = true;
        } else {
          t->partial.append(p, len);
        }
      }
      if (nl == nullptr) break;
      if (!t->discarding) {
        EmitLine(t, std::move(t->partial), out, now);
        t->partial.clear();
      }
      t->discarding = false;
      p = nl + 1;
    }
  }
  return any;
}

void FileTailer::EmitLine(Tracked* t, std::string line, std::vector<model::LogEntry>* out,
                          absl::Time now) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  metrics_->lines->Increment();
  std::string stream;
  int64_t ts = absl::ToUnixNanos(now);
  if (t->config->format == config::FileLogConfig::Format::kDocker) {
    std::string log;
    int64_t docker_ts = 0;
    if (ParseDockerLine(line, &log, &stream, &docker_ts)) {
      // Docker splits messages over 16 KiB; the parts before the last have no newline.
      t->docker_partial += log;
      if (t->docker_partial.empty() || t->docker_partial.back() != '\n') return;
      t->docker_partial.pop_back();
      line = std::move(t->docker_partial);
      t->docker_partial.clear();
      ts = docker_ts;
    } else {
      metrics_->docker_errors->Increment();
    }
  }
  if (SanitizeUtf8(&line) > 0) metrics_->invalid_utf8->Increment();
  model::LogEntry e;
  e.labels = t->Selector(stream);
  if (t->config->format == config::FileLogConfig::Format::kPlain) {
    // Read time, strictly increasing per stream: Loki drops an entry identical to the previous
    // one (same time and line), so two equal lines read together must not share a time.
    int64_t& last = last_timestamp_[e.labels];
    ts = std::max(ts, last + 1);
    last = ts;
  }
  e.timestamp_ns = ts;
  e.line = std::move(line);
  out->push_back(std::move(e));
}

}  // namespace tender::logs
