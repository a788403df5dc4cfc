#include "collector/server/admin_server.h"

#include <httplib.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"
#include "collector/server/targets_page.h"

namespace tender::server {

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address ", address, ": missing port"));
  }
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address ", address, ": bad port"));
  }
  *host = h;
  *port = p;
  return absl::OkStatus();
}

AdminServer::AdminServer(Settings settings) : settings_(std::move(settings)) {}

AdminServer::~AdminServer() { Shutdown(); }

absl::Status AdminServer::Start() {
  std::string host;
  int port = 0;
  if (absl::Status st = SplitHostPort(settings_.listen_address, &host, &port); !st.ok()) {
    return st;
  }
  http_ = std::make_unique<httplib::Server>();
  auto registry = settings_.registry;
  auto before_collect = settings_.before_collect;
  http_->Get("/metrics",
             [registry, before_collect](const httplib::Request&, httplib::Response& res) {
               if (before_collect) before_collect();
               prometheus::TextSerializer serializer;
               res.set_content(serializer.Serialize(registry->Collect()),
                               "text/plain; version=0.0.4; charset=utf-8");
             });
  http_->Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("tender is Healthy.\n", "text/plain");
  });
  http_->Get("/-/ready", [this](const httplib::Request&, httplib::Response& res) {
    if (ready_.load()) {
      res.set_content("tender is Ready.\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("Service Unavailable\n", "text/plain");
    }
  });
  auto targets = settings_.targets;
  auto dropped = settings_.dropped_targets;
  auto active_now = [targets] { return targets ? targets() : std::vector<scrape::TargetStatus>{}; };
  auto dropped_now = [dropped] {
    return dropped ? dropped() : std::vector<scrape::DroppedTarget>{};
  };
  http_->Get("/api/v1/targets", [=](const httplib::Request& req, httplib::Response& res) {
    const std::string state = req.has_param("state") ? req.get_param_value("state") : "any";
    res.set_content(TargetsJson(active_now(), dropped_now(), state), "application/json");
  });
  http_->Get("/targets", [=](const httplib::Request&, httplib::Response& res) {
    res.set_content(TargetsHtml(active_now(), dropped_now(), absl::Now()),
                    "text/html; charset=utf-8");
  });
  auto config_yaml = settings_.config_yaml;
  http_->Get("/config", [config_yaml](const httplib::Request&, httplib::Response& res) {
    res.set_content(config_yaml ? config_yaml() : std::string(), "text/plain; charset=utf-8");
  });
  auto reload = settings_.reload;
  const bool lifecycle = settings_.enable_lifecycle;
  auto reload_handler = [reload, lifecycle](const httplib::Request&, httplib::Response& res) {
    if (!lifecycle || !reload) {
      res.status = 403;
      res.set_content("Lifecycle API is not enabled.\n", "text/plain");
      return;
    }
    const absl::Status st = reload();
    if (!st.ok()) {
      res.status = 500;
      res.set_content(absl::StrCat("failed to reload config: ", st.message(), "\n"), "text/plain");
    }
  };
  http_->Post("/-/reload", reload_handler);
  http_->Put("/-/reload", reload_handler);
  if (port == 0) {
    port_ = http_->bind_to_any_port(host.c_str());
    if (port_ <= 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", host));
  } else {
    if (!http_->bind_to_port(host.c_str(), port)) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", settings_.listen_address));
    }
    port_ = port;
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return absl::OkStatus();
}

void AdminServer::Shutdown() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tender::server
