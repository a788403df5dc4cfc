// The admin HTTP server on --web.listen-address: /metrics (tender's own metrics),
// /-/healthy, /-/ready, /api/v1/targets (Prometheus API shape). Runs its own listener thread
// (cpp-httplib's pool); public methods are thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "collector/scrape/scrape_manager.h"

namespace httplib {
class Server;
}
namespace prometheus {
class Registry;
}

namespace tender::server {

class AdminServer {
 public:
  struct Settings {
    std::string listen_address = "0.0.0.0:9099";  // HOST:PORT; port 0 picks a free port.
    std::shared_ptr<prometheus::Registry> registry;
    // Returns the targets to show; may be empty before start-up completes.
    std::function<std::vector<scrape::TargetStatus>()> targets;
    std::function<std::vector<scrape::DroppedTarget>()> dropped_targets;
    // The running config as YAML with secrets redacted (/config).
    std::function<std::string()> config_yaml;
    // POST|PUT /-/reload: reloads and returns the outcome. Served only when
    // enable_lifecycle is set (--web.enable-lifecycle); otherwise 403, as Prometheus.
    std::function<absl::Status()> reload;
    bool enable_lifecycle = false;
    // Runs before each /metrics collection, to refresh gauges sampled from other components.
    std::function<void()> before_collect;
  };

  explicit AdminServer(Settings settings);
  ~AdminServer();

  // Binds and starts serving. Fails when the address cannot be bound.
  absl::Status Start();
  void Shutdown();  // Safe before Start and twice.

  void SetReady(bool ready) { ready_.store(ready); }
  int port() const { return port_; }

 private:
  Settings settings_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  int port_ = 0;
};

// Splits "HOST:PORT" ("[::1]:9090", ":9090" means all interfaces).
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace tender::server
