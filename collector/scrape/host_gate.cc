#include "collector/scrape/host_gate.h"

#include <utility>

#include "absl/time/clock.h"

namespace tender::scrape {

bool HostGate::Acquire(const std::string& host, std::function<void()> start, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Host& h = hosts_[host];
  const int max = limit > 0 ? limit : max_per_host_;
  if (max <= 0 || h.running < max) {
    ++h.running;
    return true;
  }
  h.waiting.push_back(std::move(start));
  return false;
}

void HostGate::Release(const std::string& host) {
  std::function<void()> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;
    Host& h = it->second;
    if (!h.waiting.empty()) {
      next = std::move(h.waiting.front());  // The slot passes to it: running stays the same.
      h.waiting.pop_front();
    } else if (--h.running <= 0 && h.blocked_until <= absl::Now()) {
      hosts_.erase(it);
    }
  }
  if (next) next();
}

void HostGate::Block(const std::string& host, absl::Time until) {
  std::lock_guard<std::mutex> lock(mu_);
  Host& h = hosts_[host];
  if (until > h.blocked_until) h.blocked_until = until;
}

absl::Time HostGate::BlockedUntil(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? absl::InfinitePast() : it->second.blocked_until;
}

size_t HostGate::running(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : static_cast<size_t>(it->second.running);
}

size_t HostGate::waiting(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.waiting.size();
}

std::string HostKey(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("/?#", start);
  return end == std::string::npos ? url : url.substr(0, end);
}

}  // namespace tender::scrape
