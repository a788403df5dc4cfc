// Test helpers for the fetcher tests: an httplib server on 127.0.0.1 with an OS-chosen port, a
// raw TCP peer that answers with fixed bytes, a gate that blocks handlers, a result collector,
// gzip, and a throwaway CA + server/client certificates. Test-only; each class states its
// thread rules.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "collector/scrape/http/fetcher.h"

namespace tender::scrape::testing {

// Test helpers use std::mutex, not absl::Mutex, so ThreadSanitizer sees them (Debian's abseil
// is not instrumented).

// A latch that handlers wait on. Thread-safe.
class Gate {
 public:
  void Open();
  // True when opened before `timeout` passed.
  bool WaitOpen(absl::Duration timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;  // Guarded by mu_.
};

// Counts up; waiters block until a value is reached. Thread-safe.
class Counter {
 public:
  void Add(int n = 1);
  int Get();
  // True when the count reached `target` before `timeout` passed.
  bool WaitAtLeast(int target, absl::Duration timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int value_ = 0;  // Guarded by mu_.
};

// What a handler saw of one request. Filled on server threads.
struct SeenRequest {
  std::string path;
  std::multimap<std::string, std::string> headers;  // Names as sent (httplib is case-insensitive).
  int remote_port = 0;
  std::string Header(const std::string& name) const;  // "" when absent.
};

// An httplib server (plain or TLS) on 127.0.0.1:<free port>, serving on its own thread.
// Register handlers through server() before Start(). The destructor opens gate() (releasing
// blocked handlers) and stops the server.
class TestServer {
 public:
  TestServer();
  explicit TestServer(std::unique_ptr<httplib::Server> server, bool tls);
  ~TestServer();

  httplib::Server& server() { return *server_; }
  Gate& gate() { return gate_; }
  int port() const { return port_; }

  // Binds, starts serving, and returns once the accept loop runs. ASSERTs on failure.
  void Start();
  // "http://127.0.0.1:<port><path>" (https when TLS).
  std::string Url(const std::string& path) const;

  // Records `req` (call from a handler); thread-safe.
  void Record(const httplib::Request& req);
  std::vector<SeenRequest> Seen();
  Counter& requests() { return requests_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  Gate gate_;
  Counter requests_;
  std::mutex mu_;
  std::vector<SeenRequest> seen_;  // Guarded by mu_.
};

// A TCP peer that reads one request head per connection, writes `response` verbatim and
// closes. For bad-peer tests. Serves on its own thread until destroyed.
class RawServer {
 public:
  explicit RawServer(std::string response);
  ~RawServer();
  int port() const { return port_; }
  std::string Url() const;

 private:
  void Serve();
  std::string response_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A 127.0.0.1 port that refuses connections: a socket bound to it but not listening, so no
// one else can take the port while it lives.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Collects fetch results by index, for many concurrent fetches. Thread-safe.
class ResultSink {
 public:
  explicit ResultSink(int n) : results_(n), calls_(n, 0) {}
  std::function<void(FetchResult&&)> Callback(int index);
  // True when every index completed before `timeout`.
  bool WaitAll(absl::Duration timeout);
  // Read these only after WaitAll() returned true.
  FetchResult& result(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_[i];
  }
  int calls(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FetchResult> results_;  // Guarded by mu_.
  std::vector<int> calls_;            // Guarded by mu_.
  int done_ = 0;                      // Guarded by mu_.
};

// Fetches and waits (up to 60 s) for the result. ADD_FAILUREs and returns Internal on timeout.
FetchResult FetchAndWait(Fetcher& fetcher, FetchRequest request);

// gzip (RFC 1952) of `data`.
std::string Gzip(const std::string& data);
// gzip of `zero_bytes` zero bytes, compressed in slices so the input is never held whole.
std::string GzipZeros(int64_t zero_bytes);

// A throwaway PKI written as PEM files into `dir`: ca.pem, server.pem/server.key (SAN = the
// given DNS names), client.pem/client.key. Returns false on failure.
struct TestPki {
  std::string ca_cert, server_cert, server_key, client_cert, client_key;
};
bool MakeTestPki(const std::string& dir, const std::vector<std::string>& server_dns_names,
                 TestPki* out);

// A fresh temporary directory, removed with its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, const std::string& content);

 private:
  std::string path_;
};

}  // namespace tender::scrape::testing
