#include "collector/scrape/scrape_manager.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "collector/model/protowire.h"
#include "exporters/proto/remote.pb.h"

namespace tender::scrape {
namespace {

TEST(ScheduleTest, FirstScrapeTimeIsOnTheTargetsGrid) {
  const absl::Duration iv = absl::Seconds(15);
  const absl::Time now = absl::FromUnixMillis(1700000000123);
  for (uint64_t hash : {0ULL, 1ULL, 123456789ULL, ~0ULL}) {
    SCOPED_TRACE(hash);
    const absl::Time t = FirstScrapeTime(now, iv, hash);
    EXPECT_GE(t, now);
    EXPECT_LT(t - now, iv);
    // The offset within the interval depends only on the hash.
    const int64_t offset = absl::ToUnixNanos(t) % absl::ToInt64Nanoseconds(iv);
    EXPECT_EQ(static_cast<uint64_t>(offset),
              hash % static_cast<uint64_t>(absl::ToInt64Nanoseconds(iv)));
    // Later starts land on the same grid.
    const absl::Time later = FirstScrapeTime(now + absl::Seconds(40), iv, hash);
    EXPECT_GE(later, now + absl::Seconds(40));
    EXPECT_LT(later - (now + absl::Seconds(40)), iv);
    EXPECT_EQ(absl::ToInt64Nanoseconds(later - t) % absl::ToInt64Nanoseconds(iv), 0);
  }
  // Different targets spread over the interval.
  EXPECT_NE(FirstScrapeTime(now, iv, 1), FirstScrapeTime(now, iv, 1ULL << 40));
}

TEST(ScheduleTest, TimeoutHeaderInShortestForm) {
  EXPECT_EQ(FormatSecondsShortest(absl::Seconds(10)), "10");
  EXPECT_EQ(FormatSecondsShortest(absl::Milliseconds(500)), "0.5");
  EXPECT_EQ(FormatSecondsShortest(absl::Milliseconds(2250)), "2.25");
}

class ScrapeManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      const int now = ++concurrent_;
      int seen = max_concurrent_.load();
      while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
      }
      {
        std::lock_guard<std::mutex> lock(headers_mu_);
        accept_ = req.get_header_value("Accept");
        timeout_header_ = req.get_header_value("X-Prometheus-Scrape-Timeout-Seconds");
      }
      ++requests_;
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
      --concurrent_;
      if (throttle_next_.exchange(false)) {
        res.status = 429;
        res.set_header("Retry-After", "2");
        return;
      }
      res.set_content("m{a=\"1\"} 1\n", "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }

  std::shared_ptr<const Target> MakeTarget(absl::Duration interval, absl::Duration timeout) {
    auto cfg = std::make_shared<config::ScrapeConfig>();
    cfg->job_name = "j";
    auto t = std::make_shared<Target>();
    t->job = "j";
    t->url = "http://127.0.0.1:" + std::to_string(port_) + "/metrics";
    t->labels = {{"instance", "x"}, {"job", "j"}};
    t->config = cfg;
    t->interval = interval;
    t->timeout = timeout;
    t->hash = TargetHash(t->job, t->labels);
    return t;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> concurrent_{0};
  std::atomic<int> max_concurrent_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> throttle_next_{false};
  std::mutex headers_mu_;  // The server answers on several threads.
  std::string accept_, timeout_header_;
};

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

// Pops batches until `pred` holds on the decoded series names seen so far or time runs out.
bool DrainUntil(BatchRing& ring, std::vector<std::pair<std::string, uint64_t>>& seen,
                const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    model::SeriesBatch b;
    if (ring.Pop(0, &b, absl::Milliseconds(50))) {
      tender::prompb::WriteRequest req;
      EXPECT_TRUE(req.ParseFromString(b.data));
      for (const auto& ts : req.timeseries()) {
        seen.emplace_back(ts.labels(0).value(), protowire::DoubleBits(ts.samples(0).value()));
      }
    }
    if (pred()) return true;
  }
  return false;
}

TEST_F(ScrapeManagerTest, ScrapesNeverOverlapAndRemovedTargetsGoStale) {
  BatchRing ring(1, 64);
  ScrapeManager::Settings s;
  s.ring = &ring;
  s.workers = 2;
  ScrapeManager manager(s);
  ASSERT_TRUE(manager.Start().ok());
  delay_ms_ = 250;  // Longer than the interval: ticks must be skipped, not overlapped.
  manager.ApplyTargets({MakeTarget(absl::Milliseconds(50), absl::Seconds(1))});
  std::vector<std::pair<std::string, uint64_t>> seen;
  auto count = [&](const std::string& name) {
    int n = 0;
    for (const auto& [k, v] : seen) n += k == name;
    return n;
  };
  ASSERT_TRUE(DrainUntil(
      ring, seen, [&] { return count("up") >= 3; }, absl::Seconds(10)));
  EXPECT_EQ(max_concurrent_.load(), 1);
  {
    std::lock_guard<std::mutex> lock(headers_mu_);
    EXPECT_EQ(timeout_header_, "1");
    EXPECT_NE(accept_.find("application/openmetrics-text;version=1.0.0"), std::string::npos);
  }
  EXPECT_EQ(manager.Snapshot().size(), 1u);
  EXPECT_EQ(manager.Snapshot()[0].health, "up");

  // The target goes away: its series and report series get stale markers.
  manager.ApplyTargets({});
  auto stale = [&](const std::string& name) {
    for (const auto& [k, v] : seen) {
      if (k == name && v == model::kStaleNaNBits) return true;
    }
    return false;
  };
  ASSERT_TRUE(DrainUntil(
      ring, seen, [&] { return stale("m") && stale("up"); }, absl::Seconds(10)));
  EXPECT_TRUE(manager.Snapshot().empty());
  manager.Shutdown();
  manager.Shutdown();
}

TEST_F(ScrapeManagerTest, UnreachableTargetIsDown) {
  BatchRing ring(1, 64);
  ScrapeManager::Settings s;
  s.ring = &ring;
  ScrapeManager manager(s);
  ASSERT_TRUE(manager.Start().ok());
  auto t = std::make_shared<Target>(*MakeTarget(absl::Milliseconds(50), absl::Seconds(1)));
  t->url = "http://127.0.0.1:1/metrics";
  t->hash ^= 1;
  manager.ApplyTargets({t});
  std::vector<std::pair<std::string, uint64_t>> seen;
  ASSERT_TRUE(DrainUntil(
      ring, seen,
      [&] {
        for (const auto& [k, v] : seen) {
          if (k == "up" && v == protowire::DoubleBits(0.0)) return true;
        }
        return false;
      },
      absl::Seconds(10)));
  EXPECT_EQ(manager.Snapshot()[0].health, "down");
  EXPECT_FALSE(manager.Snapshot()[0].last_error.empty());
}

// A raw TCP server that resets every `reset_every`-th connection right after reading the
// request (SO_LINGER 0, so the peer sees RST) and answers the others with a small exposition.
class ResettingServer {
 public:
  explicit ResettingServer(int reset_every) : reset_every_(reset_every) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~ResettingServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void Run() {
    while (!stop_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      const int n = ++connections_;
      char buf[4096];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t r = read(c, buf, sizeof(buf));
        if (r <= 0) break;
        req.append(buf, static_cast<size_t>(r));
      }
      if (n % reset_every_ == 1 || reset_every_ == 1) {
        linger l{1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      } else {
        const std::string body = "m{a=\"1\"} 1\n";
        const std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        [[maybe_unused]] ssize_t w = write(c, resp.data(), resp.size());
      }
      close(c);
    }
  }

  const int reset_every_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// A connection reset early in the timeout is retried once, so the scrape still succeeds; a
// target that resets every connection is down after exactly one retry per scrape.
TEST_F(ScrapeManagerTest, ConnectionResetIsRetriedOnce) {
  prometheus::Registry registry;
  BatchRing ring(1, 64);
  ScrapeManager::Settings s;
  s.ring = &ring;
  s.registry = &registry;
  ScrapeManager manager(s);
  ASSERT_TRUE(manager.Start().ok());
  ResettingServer flaky(2);   // Connections 1, 3, 5, ... are reset.
  ResettingServer broken(1);  // Every connection is reset.
  auto target = [&](int port, const std::string& instance) {
    auto t = std::make_shared<Target>(*MakeTarget(absl::Seconds(1), absl::Seconds(2)));
    t->url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    t->labels = {{"instance", instance}, {"job", "j"}};
    t->hash = TargetHash(t->job, t->labels);
    return std::shared_ptr<const Target>(t);
  };
  manager.ApplyTargets({target(flaky.port(), "flaky"), target(broken.port(), "broken")});
  std::vector<std::pair<std::string, uint64_t>> seen;
  auto ups = [&](double v) {
    int n = 0;
    for (const auto& [k, bits] : seen) n += k == "up" && bits == protowire::DoubleBits(v);
    return n;
  };
  ASSERT_TRUE(DrainUntil(
      ring, seen, [&] { return ups(1.0) >= 2 && ups(0.0) >= 2; }, absl::Seconds(20)));
  manager.Shutdown();
  // Scrapes that were in flight reached the ring during Shutdown: take them too.
  DrainUntil(
      ring, seen, [] { return false; }, absl::Milliseconds(300));
  // The flaky target never failed a scrape: every scrape took two connections.
  EXPECT_EQ(ups(0.0) + ups(1.0) > 0, true);
  EXPECT_EQ(ups(1.0) * 2, flaky.connections());
  // The broken one: one retry per scrape, then down.
  EXPECT_EQ(ups(0.0) * 2, broken.connections());
  double retries = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "tender_scrape_retries_total") continue;
    for (const auto& m : family.metric) retries += m.counter.value;
  }
  EXPECT_EQ(retries, ups(1.0) + ups(0.0));
}

// Many targets behind one host (an API server proxying them): at most
// max_concurrent_per_host scrapes reach it at once, the others wait their turn and still
// succeed; a 429 with Retry-After keeps every scrape of that host back until then.
TEST_F(ScrapeManagerTest, ProtectsASharedHost) {
  prometheus::Registry registry;
  BatchRing ring(1, 256);
  ScrapeManager::Settings s;
  s.ring = &ring;
  s.registry = &registry;
  s.max_concurrent_per_host = 2;
  ScrapeManager manager(s);
  ASSERT_TRUE(manager.Start().ok());
  delay_ms_ = 200;
  std::vector<std::shared_ptr<const Target>> targets;
  for (int i = 0; i < 6; ++i) {
    auto t = std::make_shared<Target>(*MakeTarget(absl::Seconds(1), absl::Seconds(3)));
    t->labels = {{"instance", "node-" + std::to_string(i)}, {"job", "j"}};
    t->hash = TargetHash(t->job, t->labels);
    targets.push_back(t);
  }
  manager.ApplyTargets(targets);
  std::vector<std::pair<std::string, uint64_t>> seen;
  auto ups = [&](double v) {
    int n = 0;
    for (const auto& [k, bits] : seen) n += k == "up" && bits == protowire::DoubleBits(v);
    return n;
  };
  ASSERT_TRUE(DrainUntil(
      ring, seen, [&] { return ups(1.0) >= 12; }, absl::Seconds(30)));
  EXPECT_LE(max_concurrent_.load(), 2);
  EXPECT_EQ(ups(0.0), 0);
  auto counter = [&](const std::string& name, const std::string& reason) {
    double total = 0;
    for (const auto& family : registry.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "reason" && l.value == reason) total += m.counter.value;
        }
      }
    }
    return total;
  };
  EXPECT_GT(counter("tender_scrape_throttled_total", "concurrency"), 0);

  // The host answers 429 with Retry-After: 2; for two seconds no scrape is sent to it.
  delay_ms_ = 0;
  throttle_next_ = true;
  ASSERT_TRUE(WaitFor([&] { return !throttle_next_.load(); }, absl::Seconds(10)));
  const int requests_after_429 = requests_.load();
  // For the next second the scrapes due are failed without a request (two were possibly on
  // their way already, within the concurrency cap).
  DrainUntil(
      ring, seen, [] { return false; }, absl::Seconds(1));
  EXPECT_LE(requests_.load() - requests_after_429, 2);
  EXPECT_GE(counter("tender_scrape_throttled_total", "retry_after"), 3);
  // Afterwards scraping resumes.
  const int before = requests_.load();
  EXPECT_TRUE(WaitFor([&] { return requests_.load() > before + 3; }, absl::Seconds(10)));
  manager.Shutdown();
}

}  // namespace
}  // namespace tender::scrape
