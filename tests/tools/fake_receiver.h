// FakeRemoteWriteReceiver: an in-process remote-write 1.0 receiver for tests. It binds
// 127.0.0.1 on an OS-chosen port, decodes every request (snappy block format, then the
// protoc-generated WriteRequest), checks headers, label rules and per-series timestamp order,
// records accepted samples, and answers scripted responses.
// Thread-safe: requests arrive on the server's worker threads; tests read from any thread.
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

// One accepted sample; the value is kept as raw bits so NaN payloads compare exactly.
struct ReceivedSample {
  int64_t timestamp_ms = 0;
  uint64_t value_bits = 0;

  friend bool operator==(const ReceivedSample&, const ReceivedSample&) = default;
};

// What the receiver answers to one request.
struct ReceiverResponse {
  int status = 204;
  std::string retry_after;  // Sent as Retry-After when not empty.
  std::string body;
  // Latency to simulate: the answer is sent this long after the request was processed.
  absl::Duration delay = absl::ZeroDuration();
};

// One request as the receiver saw it.
struct ReceivedRequest {
  std::map<std::string, std::string> headers;  // Names lowercased.
  int retry_attempt = 0;                       // Value of Retry-Attempt; 0 when absent.
  size_t compressed_bytes = 0;
  size_t samples = 0;    // Samples decoded (0 when the body did not decode).
  bool decoded = false;  // Snappy and protobuf decoding succeeded.
  int status = 0;        // What the receiver answered.
  absl::Time received;   // When the request arrived.
  int remote_port = 0;   // Client port: equal ports mean a reused connection.
};

class FakeRemoteWriteReceiver {
 public:
  using Responder = std::function<ReceiverResponse(const ReceivedRequest&)>;

  // `worker_threads` bounds concurrent connections (each keep-alive connection holds a thread).
  explicit FakeRemoteWriteReceiver(int worker_threads = 64);
  // Stops the server.
  ~FakeRemoteWriteReceiver();

  FakeRemoteWriteReceiver(const FakeRemoteWriteReceiver&) = delete;
  FakeRemoteWriteReceiver& operator=(const FakeRemoteWriteReceiver&) = delete;

  // Binds 127.0.0.1 on a free port and starts serving. Call once.
  absl::Status Start();
  // Stops serving and joins the server thread. Idempotent.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/api/v1/write" (any path is accepted).
  std::string url() const;

  // Answers the next requests with `responses`, in order (appended to what is left of an
  // earlier script). Once the script is used up, the responder (or 204) answers.
  void ScriptResponses(std::vector<ReceiverResponse> responses);
  // Answers every unscripted request; called on server threads, must be thread-safe.
  void SetResponder(Responder responder);

  // Samples of every request answered with 2xx, per series. The key is the series' label set
  // rendered sorted, `{__name__="up", job="x"}`; samples are in arrival order.
  std::map<std::string, std::vector<ReceivedSample>> series() const;
  std::vector<ReceivedRequest> requests() const;
  size_t request_count() const;
  size_t accepted_samples() const;  // Samples of 2xx-answered requests.

  // Every protocol problem seen: bad headers, framed or broken snappy, undecodable protobuf,
  // unsorted/duplicate/empty labels, a missing __name__, and per-series timestamps that do not
  // increase across accepted samples (`out of order` or `duplicate timestamp`).
  std::vector<std::string> violations() const;
  size_t order_violations() const;

  // Wait until at least `n` samples were accepted / `n` requests were answered, or `timeout`
  // passed. Return whether the condition holds.
  bool WaitForAcceptedSamples(size_t n, absl::Duration timeout) const;
  bool WaitForRequests(size_t n, absl::Duration timeout) const;

 private:
  // Decodes and checks one request body, answers it, and records what was accepted.
  ReceiverResponse Handle(ReceivedRequest request, const std::string& body);
  ReceiverResponse NextResponse(const ReceivedRequest& request);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  // std::mutex (not absl::Mutex) so that ThreadSanitizer understands the synchronisation.
  // Covers everything below.
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // A request was recorded.
  std::deque<ReceiverResponse> script_;
  Responder responder_;
  std::map<std::string, std::vector<ReceivedSample>> series_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::string> violations_;
  size_t accepted_samples_ = 0;
  size_t order_violations_ = 0;
};

}  // namespace tender::test_tools
