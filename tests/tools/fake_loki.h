// FakeLoki: an in-process Loki push endpoint for tests (protocols.md §6). It binds 127.0.0.1 on
// an OS-chosen port and serves POST /loki/api/v1/push: protobuf + snappy (block format) or
// JSON by Content-Type, gzip/deflate Content-Encoding, X-Scope-OrgID when multi-tenant, stream
// selector validation, and Loki's per-stream rules (entries more than the ordering window
// behind the stream's newest are rejected with 400 while the rest are kept; an entry identical
// to the stream's last accepted one (same time, line and structured metadata) is dropped silently
// and counted as a duplicate). Answers can be scripted (status, Retry-After, delay). Every accepted
// entry is recorded per tenant and stream. Thread-safe: requests arrive on server threads; tests
// read from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tender::test_tools {

struct LokiEntry {
  int64_t timestamp_ns = 0;
  std::string line;
  // Structured metadata (protocols.md §6.2, §6.3); empty when the entry has none.
  std::map<std::string, std::string> metadata;

  friend bool operator==(const LokiEntry&, const LokiEntry&) = default;
};

// A scripted answer. A non-2xx status rejects the whole request unprocessed (as Loki does for
// 429 and 5xx); `delay` is slept before answering (simulated latency).
struct LokiResponse {
  int status = 204;
  std::string retry_after;
  std::string body;
  absl::Duration delay = absl::ZeroDuration();
};

// One request as the fake saw it.
struct LokiRequest {
  std::map<std::string, std::string> headers;  // Names lowercased.
  std::string tenant;                          // After the tenant rules; empty if rejected.
  bool json = false;
  size_t body_bytes = 0;
  size_t entries = 0;  // Entries decoded.
  int status = 0;      // What the fake answered.
  absl::Time received;
};

class FakeLoki {
 public:
  using Responder = std::function<LokiResponse(const LokiRequest&)>;

  struct Options {
    // true: X-Scope-OrgID is required (401 without); false: every push goes to tenant "fake".
    bool multi_tenant = false;
    // Entries older than (newest of the stream - window) are rejected: max_chunk_age / 2.
    absl::Duration ordering_window = absl::Hours(1);
  };

  FakeLoki() : FakeLoki(Options{}) {}
  explicit FakeLoki(Options options);
  ~FakeLoki();

  FakeLoki(const FakeLoki&) = delete;
  FakeLoki& operator=(const FakeLoki&) = delete;

  // Binds 127.0.0.1 on a free port (or `port` when not 0) and starts serving. Call once.
  absl::Status Start(int port = 0);
  // Stops serving and joins the server thread. Idempotent.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/loki/api/v1/push".
  std::string url() const;

  // Answers the next requests with `responses`, in order; then the responder (or normal
  // processing) answers.
  void ScriptResponses(std::vector<LokiResponse> responses);
  // Called for every unscripted request before it is processed; a non-2xx answer rejects the
  // request. Must be thread-safe. Null (the default): process normally.
  void SetResponder(Responder responder);

  // Accepted entries: tenant → canonical stream selector (labels sorted, `{a="1", b="2"}`) →
  // entries in arrival order.
  std::map<std::string, std::map<std::string, std::vector<LokiEntry>>> entries() const;
  // The entries of one stream of one tenant (empty when absent).
  std::vector<LokiEntry> stream(const std::string& tenant, const std::string& selector) const;
  size_t accepted_entries() const;
  size_t duplicates() const;        // Entries dropped by the identical-duplicate rule.
  size_t rejected_entries() const;  // Entries rejected with 400 (too far behind, bad stream).
  std::vector<LokiRequest> requests() const;
  // Protocol problems of the client: bad Content-Type, framed or broken snappy, undecodable
  // bodies, bad selectors, unknown Content-Encoding, JSON number timestamps, missing tenant.
  std::vector<std::string> violations() const;

  bool WaitForEntries(size_t n, absl::Duration timeout) const;
  bool WaitForRequests(size_t n, absl::Duration timeout) const;

 private:
  struct Stream {
    std::vector<LokiEntry> entries;
    int64_t newest_ns = INT64_MIN;
    bool has_last = false;
    LokiEntry last;  // Last accepted entry, for the identical-duplicate rule.
  };
  struct Decoded {
    std::string selector;
    std::vector<LokiEntry> entries;
  };

  // Processes one request: returns the status and body to answer.
  LokiResponse Handle(LokiRequest* request, const std::string& body);
  absl::Status Decode(const LokiRequest& request, const std::string& body,
                      std::vector<Decoded>* out);

  const Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  // std::mutex so that ThreadSanitizer sees the synchronisation. Covers everything below.
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<LokiResponse> script_;
  Responder responder_;
  std::map<std::string, std::map<std::string, Stream>> tenants_;
  std::vector<LokiRequest> requests_;
  std::vector<std::string> violations_;
  size_t accepted_ = 0;
  size_t duplicates_ = 0;
  size_t rejected_ = 0;
};

}  // namespace tender::test_tools
