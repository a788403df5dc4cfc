// counting_receiver: a remote-write 1.0 receiver for the end-to-end benchmark. It decodes every
// request (snappy block format, then a hand-written walk over the WriteRequest protobuf), answers
// 204, and counts requests, samples, compressed bytes and distinct series. It keeps no samples,
// so it stays cheap at hundreds of thousands of samples per second.
//
//   counting_receiver --port=0 [--port-file=FILE]
//
//   POST /api/v1/write   (any path but /stats and /reset)
//   GET  /stats          JSON counters since the last reset
//   POST /reset          zero the counters (the series set too)
//
// For `up` and `scrape_duration_seconds` samples it also keeps the count, the number of `up`
// samples equal to 1, and the sum and maximum of the durations, so a benchmark can report scrape
// success and duration of any agent from what the agent itself sends.
//
// Threads: cpp-httplib's worker threads call Handle concurrently; one std::mutex covers the
// counters and the series set.
#include <snappy.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "httplib.h"

namespace {

// Reads one base-128 varint at `p`; returns false when the buffer ends first.
bool ReadVarint(const char*& p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Skips a field of wire type `wire`; false on a truncated or unsupported field.
bool SkipField(const char*& p, const char* end, uint64_t wire) {
  uint64_t n = 0;
  switch (wire) {
    case 0:
      return ReadVarint(p, end, &n);
    case 1:
      if (end - p < 8) return false;
      p += 8;
      return true;
    case 2:
      if (!ReadVarint(p, end, &n) || static_cast<uint64_t>(end - p) < n) return false;
      p += n;
      return true;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      return true;
    default:
      return false;
  }
}

// FNV-1a, 64 bit: good enough to count distinct label sets.
uint64_t Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

// What one request contained.
struct Counts {
  uint64_t samples = 0;
  uint64_t series_entries = 0;
  uint64_t up_samples = 0;
  uint64_t up_ok = 0;
  uint64_t duration_samples = 0;
  double duration_sum = 0;
  double duration_max = 0;
  std::vector<uint64_t> series_hashes;
};

// Returns the value of label `__name__` in the encoded labels of one TimeSeries, or "".
std::string_view MetricName(const char* p, const char* end) {
  while (p < end) {
    uint64_t key = 0;
    if (!ReadVarint(p, end, &key)) return {};
    if ((key >> 3) != 1 || (key & 7) != 2) {
      if (!SkipField(p, end, key & 7)) return {};
      continue;
    }
    uint64_t len = 0;
    if (!ReadVarint(p, end, &len) || static_cast<uint64_t>(end - p) < len) return {};
    const char* q = p;
    const char* lend = p + len;
    p = lend;
    std::string_view name, value;
    while (q < lend) {
      uint64_t k = 0, l = 0;
      if (!ReadVarint(q, lend, &k) || (k & 7) != 2 || !ReadVarint(q, lend, &l) ||
          static_cast<uint64_t>(lend - q) < l) {
        return {};
      }
      if ((k >> 3) == 1) name = std::string_view(q, l);
      if ((k >> 3) == 2) value = std::string_view(q, l);
      q += l;
    }
    if (name == "__name__") return value;
  }
  return {};
}

// Walks one TimeSeries message: field 1 labels, field 2 samples (Sample: 1 value, 2 timestamp).
bool CountSeries(const char* p, const char* end, Counts* c) {
  const char* start = p;
  const char* labels_end = p;
  uint64_t samples = 0;
  std::vector<double> values;
  while (p < end) {
    uint64_t key = 0;
    if (!ReadVarint(p, end, &key)) return false;
    uint64_t field = key >> 3, wire = key & 7;
    if (field == 2 && wire == 2) {
      uint64_t len = 0;
      if (!ReadVarint(p, end, &len) || static_cast<uint64_t>(end - p) < len) return false;
      const char* q = p;
      const char* send = p + len;
      while (q < send) {
        uint64_t k = 0;
        if (!ReadVarint(q, send, &k)) return false;
        if (k == ((1 << 3) | 1) && send - q >= 8) {
          double v;
          std::memcpy(&v, q, 8);
          values.push_back(v);
          q += 8;
        } else if (!SkipField(q, send, k & 7)) {
          return false;
        }
      }
      p = send;
      ++samples;
    } else {
      if (!SkipField(p, end, wire)) return false;
      if (field == 1) labels_end = p;
    }
  }
  c->samples += samples;
  ++c->series_entries;
  // Labels come first in every encoder we know; hashing the label bytes identifies the series.
  c->series_hashes.push_back(Hash(std::string_view(start, labels_end - start)));
  std::string_view name = MetricName(start, labels_end);
  if (name == "up") {
    for (double v : values) {
      ++c->up_samples;
      if (v == 1.0) ++c->up_ok;
    }
  } else if (name == "scrape_duration_seconds") {
    for (double v : values) {
      if (v != v) continue;  // A stale marker (NaN).
      ++c->duration_samples;
      c->duration_sum += v;
      c->duration_max = std::max(c->duration_max, v);
    }
  }
  return true;
}

// Walks a WriteRequest: field 1 is a repeated TimeSeries; metadata (field 3) is skipped.
bool CountRequest(std::string_view body, Counts* c) {
  const char* p = body.data();
  const char* end = p + body.size();
  while (p < end) {
    uint64_t key = 0;
    if (!ReadVarint(p, end, &key)) return false;
    if (key == ((1 << 3) | 2)) {
      uint64_t len = 0;
      if (!ReadVarint(p, end, &len) || static_cast<uint64_t>(end - p) < len) return false;
      if (!CountSeries(p, p + len, c)) return false;
      p += len;
    } else if (!SkipField(p, end, key & 7)) {
      return false;
    }
  }
  return true;
}

// Everything counted since the last reset. Guarded by mu.
struct Totals {
  std::mutex mu;
  uint64_t requests = 0;
  uint64_t bad_requests = 0;
  uint64_t samples = 0;
  uint64_t series_entries = 0;
  uint64_t compressed_bytes = 0;
  uint64_t uncompressed_bytes = 0;
  uint64_t up_samples = 0;
  uint64_t up_ok = 0;
  uint64_t duration_samples = 0;
  double duration_sum = 0;
  double duration_max = 0;
  std::unordered_set<uint64_t> series;
};

std::string StatsJson(Totals& t) {
  std::lock_guard<std::mutex> lock(t.mu);
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "{\"requests\":%llu,\"bad_requests\":%llu,\"samples\":%llu,"
      "\"series_entries\":%llu,\"compressed_bytes\":%llu,\"uncompressed_bytes\":%llu,"
      "\"distinct_series\":%zu,\"up_samples\":%llu,\"up_ok\":%llu,"
      "\"duration_samples\":%llu,\"duration_sum\":%.6f,\"duration_max\":%.6f}\n",
      static_cast<unsigned long long>(t.requests), static_cast<unsigned long long>(t.bad_requests),
      static_cast<unsigned long long>(t.samples), static_cast<unsigned long long>(t.series_entries),
      static_cast<unsigned long long>(t.compressed_bytes),
      static_cast<unsigned long long>(t.uncompressed_bytes), t.series.size(),
      static_cast<unsigned long long>(t.up_samples), static_cast<unsigned long long>(t.up_ok),
      static_cast<unsigned long long>(t.duration_samples), t.duration_sum, t.duration_max);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.rfind("--port=", 0) == 0) {
      port = std::atoi(argv[i] + 7);
    } else if (a.rfind("--port-file=", 0) == 0) {
      port_file = std::string(a.substr(12));
    } else {
      std::fprintf(stderr, "usage: counting_receiver [--port=N] [--port-file=FILE]\n");
      return 2;
    }
  }

  Totals totals;
  httplib::Server server;
  // Each keep-alive connection holds a worker thread; Prometheus alone may open one connection
  // per remote-write shard (up to 200), so the pool is large enough that no sender waits for a
  // thread, and /stats is always answered.
  server.new_task_queue = [] { return new httplib::ThreadPool(512); };
  server.set_keep_alive_max_count(100000);
  server.set_payload_max_length(256u << 20);
  server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatsJson(totals), "application/json");
  });
  server.Post("/reset", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(totals.mu);
    totals.requests = totals.bad_requests = totals.samples = totals.series_entries = 0;
    totals.compressed_bytes = totals.uncompressed_bytes = 0;
    totals.up_samples = totals.up_ok = totals.duration_samples = 0;
    totals.duration_sum = totals.duration_max = 0;
    totals.series.clear();
    res.status = 204;
  });
  server.Post(".*", [&](const httplib::Request& req, httplib::Response& res) {
    std::string raw;
    Counts c;
    bool ok = snappy::Uncompress(req.body.data(), req.body.size(), &raw) && CountRequest(raw, &c);
    std::lock_guard<std::mutex> lock(totals.mu);
    ++totals.requests;
    totals.compressed_bytes += req.body.size();
    if (!ok) {
      ++totals.bad_requests;
      res.status = 400;
      return;
    }
    totals.uncompressed_bytes += raw.size();
    totals.samples += c.samples;
    totals.series_entries += c.series_entries;
    totals.up_samples += c.up_samples;
    totals.up_ok += c.up_ok;
    totals.duration_samples += c.duration_samples;
    totals.duration_sum += c.duration_sum;
    totals.duration_max = std::max(totals.duration_max, c.duration_max);
    totals.series.insert(c.series_hashes.begin(), c.series_hashes.end());
    res.status = 204;
  });

  int bound = port == 0 ? server.bind_to_any_port("127.0.0.1") : port;
  if (port != 0 && !server.bind_to_port("127.0.0.1", port)) bound = -1;
  if (bound < 0) {
    std::fprintf(stderr, "counting_receiver: cannot bind 127.0.0.1:%d\n", port);
    return 1;
  }
  std::printf("counting_receiver listening on 127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", bound);
      std::fclose(f);
      std::rename(tmp.c_str(), port_file.c_str());
    }
  }
  server.listen_after_bind();
  return 0;
}
