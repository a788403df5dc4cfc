// Fetcher: one thread that drives every scrape request through a libcurl multi handle
// (keep-alive, gzip, TLS, basic/bearer auth, timeouts, a decompressed-body limit, per-phase
// timings). Fetch() and RecycleBuffer() are thread-safe; completion callbacks run on the fetcher
// thread. Start()/Shutdown() are called by the owner (any one thread at a time).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collector/config/config.h"
#include "collector/model/buffer_pool.h"

namespace tender::scrape {

// Replaces FetchRequest::http for a request to a Kubernetes API server (api_server_proxy
// jobs): TLS material in memory and the credential of the moment, from a kubeconfig. Such
// requests use a connection tuned to carry many scrapes (see Fetcher). Immutable; shared.
struct ApiServerConnection {
  // "scheme://host:port" of the API server: requests with the same key share connection
  // health (a silent connection is reset for all of them).
  std::string host_key;
  std::string ca_pem;  // PEM; "" = the system store.
  std::string client_cert_pem;
  std::string client_key_pem;
  bool insecure_skip_verify = false;
  std::string server_name;    // SNI and verification name when not the URL host.
  std::string proxy_url;      // HTTP(S) proxy to the API server, or "".
  std::string authorization;  // The Authorization header value ("Bearer ..."), or "".

  friend bool operator==(const ApiServerConnection&, const ApiServerConnection&) = default;
};

// One GET request. Plain value; moved into the fetcher.
struct FetchRequest {
  std::string url;
  // Extra request headers, sent as given ("Name: value"). The caller sets Accept, User-Agent and
  // X-Prometheus-Scrape-Timeout-Seconds; a header named here replaces the one curl would send.
  std::vector<std::pair<std::string, std::string>> headers;
  // Auth and TLS; may be null. Must stay valid until `done` has run.
  const config::HttpClientConfig* http = nullptr;
  // Whole-request deadline (connect, TLS, request, body). Zero or negative = no deadline.
  absl::Duration timeout;
  // 0 = none. Applies to the decompressed body: a gzip bomb is cut off when the limit is passed,
  // it is never inflated fully. A body of exactly the limit is accepted (Prometheus semantics).
  int64_t body_size_limit = 0;
  // Accept-Encoding: gzip, else identity. A compressed response is decoded either way.
  bool accept_gzip = true;
  // Requests with the same key share one cached easy handle (TLS session, keep-alive
  // connection). Use one key per target. Two overlapping requests with one key both work; the
  // second one just gets a temporary handle.
  uint64_t connection_key = 0;
  // When set, the request goes to a Kubernetes API server with these settings; `http` is
  // ignored.
  std::shared_ptr<const ApiServerConnection> api_server;
};

// Durations of each phase, not cumulative offsets. A reused connection has dns, connect and tls
// of zero. transfer time (body download) = total - dns - connect - tls - first_byte, roughly.
struct PhaseTimings {
  absl::Duration dns;         // Name lookup.
  absl::Duration connect;     // TCP connect, after the lookup.
  absl::Duration tls;         // TLS handshake; zero for http:// or a reused connection.
  absl::Duration first_byte;  // From the request being sent to the first response byte.
  absl::Duration total;       // Whole request, including redirects.
};

struct FetchResult {
  // OK when a complete HTTP response was received, whatever its status code. Otherwise:
  //   DeadlineExceeded   the timeout passed;
  //   ResourceExhausted  "body size limit exceeded";
  //   Unavailable        connect/resolve/TLS/network error, or the peer spoke no valid HTTP;
  //   DataLoss           the body failed to decode (bad gzip);
  //   InvalidArgument    bad or unsupported URL;
  //   FailedPrecondition a local problem (unreadable password/credentials/CA/cert file);
  //   Cancelled          the fetcher shut down first;
  //   Internal           anything else.
  absl::Status status;
  int http_status = 0;       // The last response's status code; 0 when none was received.
  std::string content_type;  // The Content-Type header as sent, "" when absent.
  std::string body;          // Decompressed. Partial (≤ the limit) when status is not OK.
  int64_t wire_bytes = 0;    // Body bytes received on the wire, before decompression.
  PhaseTimings timings;
  bool reused_connection = false;  // No new connection was opened for this request.
  // The connection broke before a complete response: reset, closed without a reply, a send or
  // receive error, or a body cut short. Worth one quick retry on a flaky link.
  bool connection_lost = false;
  // The response's Retry-After (seconds or an HTTP date, as curl parses it); zero when absent.
  absl::Duration retry_after;
  // An API-server request timed out on a connection that had answered before, while nothing
  // had come back from that API server since it started: that connection was shut down so that
  // no further request waits on it.
  bool connection_reset = false;
};

// Drives all requests on one thread through curl multi.
//
// TLS server_name: libcurl 7.88 has no option to send an SNI and verify a host name that differ
// from the URL host. So the fetcher rewrites the URL host to server_name and adds
// CURLOPT_CONNECT_TO "server_name:port:original_host:port" (the TCP connection still goes to the
// original host), plus a "Host: original_host[:port]" header so the request itself is unchanged.
// SNI and certificate verification then use server_name, as Go's tls.Config.ServerName does.
//
// Secrets: password_file and credentials_file are read (and trimmed of surrounding whitespace,
// as Prometheus does) at every request, so a rotated secret needs no reload.
//
// API-server requests (FetchRequest::api_server): HTTP/2 over TLS when the server offers it,
// with many requests multiplexed on one connection (CURLPIPE_MULTIPLEX, CURLOPT_PIPEWAIT);
// plain scrapes stay on HTTP/1.1 as Prometheus's do. A network partition must not leave every
// scrape hanging on a dead connection, so these connections send TCP keep-alive probes after
// 10 s idle (every 5 s, 3 probes) and give up on unacknowledged data after 30 s
// (TCP_USER_TIMEOUT). And when a request times out on a connection that has answered before
// while nothing at all came back from that API server since the request started, that
// connection is shut down (all requests on it fail at once and may be retried) and the next
// request to that API server opens a fresh connection. libcurl 7.88's HTTP/2 PING
// (CURLOPT_UPKEEP_INTERVAL_MS) runs only from curl_easy_upkeep on handles used with
// curl_easy_perform, not for a multi handle's connections, so the keep-alive probes stand in for
// it.
//
// The process should ignore SIGPIPE (curl runs with CURLOPT_NOSIGNAL, as threaded programs must).
//
// Thread-safety: Fetch(), RecycleBuffer() and GetStats() may be called from any thread.
// Start() and Shutdown() must not race with each other and must not be called from `done`.
class Fetcher {
 public:
  struct Settings {
    int max_total_connections = 0;  // 0 = unlimited; otherwise further requests queue in curl.
    std::string user_agent;         // Default User-Agent; a request header overrides it.
    // Where bodies come from and RecycleBuffer gives them back; nullptr = the process-wide
    // model::LargeBufferPool(), which the scrape workers' batches share.
    model::BufferPool* body_pool = nullptr;
  };

  // Counters since construction; each field is read atomically (not as one snapshot).
  struct Stats {
    uint64_t requests = 0;             // Fetch() calls.
    uint64_t completed = 0;            // Callbacks run with any status.
    uint64_t failed = 0;               // Callbacks run with a non-OK status (incl. cancelled).
    uint64_t timeouts = 0;             // DeadlineExceeded.
    uint64_t body_limit_exceeded = 0;  // ResourceExhausted.
    uint64_t cancelled = 0;            // Cancelled by Shutdown.
    uint64_t reused_connections = 0;   // Completed requests that reused a connection.
    uint64_t connection_resets = 0;    // API-server connections shut down as silent.
    int64_t in_flight = 0;             // Accepted and not yet completed.
  };

  explicit Fetcher(Settings settings);
  // Shuts down (cancelling what is in flight) if the owner did not.
  ~Fetcher();

  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Initialises curl and starts the fetcher thread. Requests fetched before Start() wait for
  // it. Returns FailedPrecondition when called twice or after Shutdown(), Internal when curl
  // cannot be initialised.
  [[nodiscard]] absl::Status Start();

  // Aborts in-flight and queued requests (their callbacks get Cancelled, each exactly once) and
  // joins the thread. Safe before Start() and twice. Callbacks run on the fetcher thread, or on
  // this thread when the fetcher was never started.
  void Shutdown();

  // Queues a request; never blocks on the network. `done` runs exactly once, on the fetcher
  // thread, with the result; keep it short (hand work off) and do not throw from it. After
  // Shutdown(), `done` runs at once on the calling thread with Cancelled.
  void Fetch(FetchRequest request, std::function<void(FetchResult&&)> done);

  // Gives a body buffer back so a later fetch can reuse its capacity (zero allocation in steady
  // state). Optional; buffers are kept up to the pool's byte budget, the rest freed.
  void RecycleBuffer(std::string&& buffer);

  Stats GetStats() const;

 private:
  struct Impl;  // curl state and the transfers in flight; fetcher thread only.
  struct Pending {
    FetchRequest request;
    std::function<void(FetchResult&&)> done;
  };
  enum class State { kNew, kRunning, kStopped };
  struct Counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> completed{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> timeouts{0};
    std::atomic<uint64_t> body_limit_exceeded{0};
    std::atomic<uint64_t> cancelled{0};
    std::atomic<uint64_t> reused_connections{0};
    std::atomic<uint64_t> connection_resets{0};
    std::atomic<int64_t> in_flight{0};
  };

  // The fetcher thread's loop.
  void Run();
  // Updates the counters and runs `done`; any thread.
  void Complete(std::function<void(FetchResult&&)>& done, FetchResult&& result);
  // Completes each of `pending` with Cancelled on the calling thread.
  void CancelPending(std::vector<Pending>& pending);

  const Settings settings_;
  std::unique_ptr<Impl> impl_;  // Created by Start(); then owned by the fetcher thread.

  // Covers state_ and pending_, and orders curl_multi_wakeup() (called under it while running)
  // before the multi handle is destroyed (after state_ became kStopped). std::mutex rather than
  // absl::Mutex so that ThreadSanitizer sees it (Debian's abseil is not instrumented).
  std::mutex mu_;
  State state_ = State::kNew;     // Guarded by mu_.
  std::vector<Pending> pending_;  // Guarded by mu_.

  model::BufferPool* const bodies_;  // Recycled body buffers; not owned.

  std::thread thread_;
  Counters counters_;
};

}  // namespace tender::scrape
