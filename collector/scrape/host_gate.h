// HostGate: protects one scrape destination (host:port) from tender. At most `max_per_host`
// scrapes run against one host at a time (the rest wait in order and start as slots free up),
// and a host that answered 429 or 503 with Retry-After is left alone until then. This matters
// when many targets are scraped through one API server's proxy: the API server is then the
// host of every kubelet, node-exporter and kube-state-metrics target.
// Thread-safe: Acquire/Release/Block/BlockedUntil from any thread. The `start` callbacks run on
// the thread that calls Release (outside the gate's lock).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/time/time.h"

namespace tender::scrape {

class HostGate {
 public:
  // `max_per_host` <= 0: no concurrency limit (Retry-After is still honoured).
  explicit HostGate(int max_per_host) : max_per_host_(max_per_host) {}

  // Takes a slot for `host` and returns true, or queues `start` (to run when a slot frees up)
  // and returns false. `limit` > 0 replaces `max_per_host` for this call (an API server's
  // api_server_proxy max_concurrent).
  bool Acquire(const std::string& host, std::function<void()> start, int limit = 0);

  // Frees the slot of a finished scrape; starts the oldest waiting one, if any.
  void Release(const std::string& host);

  // No scrape should reach `host` before `until` (monotonic in `until`: a later block wins).
  void Block(const std::string& host, absl::Time until);
  absl::Time BlockedUntil(const std::string& host) const;

  // Scrapes running and waiting for `host`.
  size_t running(const std::string& host) const;
  size_t waiting(const std::string& host) const;

 private:
  struct Host {
    int running = 0;
    std::deque<std::function<void()>> waiting;
    absl::Time blocked_until = absl::InfinitePast();
  };

  const int max_per_host_;
  mutable std::mutex mu_;
  std::map<std::string, Host> hosts_;  // Entries with nothing running, waiting or blocked go.
};

// "scheme://host:port" of a URL (the part before the path), the key of a HostGate.
std::string HostKey(const std::string& url);

}  // namespace tender::scrape
