#include "collector/server/admin_server.h"

#include <httplib.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/model/absl_compat.h"

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
  http_->Get("/api/v1/targets", [targets](const httplib::Request&, httplib::Response& res) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("status");
    w.String("success");
    w.Key("data");
    w.StartObject();
    w.Key("activeTargets");
    w.StartArray();
    for (const auto& s : targets ? targets() : std::vector<scrape::TargetStatus>{}) {
      const auto& t = *s.target;
      w.StartObject();
      w.Key("discoveredLabels");
      w.StartObject();
      for (const auto& l : t.discovered_labels) {
        w.Key(l.name.c_str());
        w.String(l.value.c_str());
      }
      w.EndObject();
      w.Key("labels");
      w.StartObject();
      for (const auto& l : t.labels) {
        w.Key(l.name.c_str());
        w.String(l.value.c_str());
      }
      w.EndObject();
      w.Key("scrapePool");
      w.String(t.job.c_str());
      w.Key("scrapeUrl");
      w.String(t.url.c_str());
      w.Key("globalUrl");
      w.String(t.url.c_str());
      w.Key("lastError");
      w.String(s.last_error.c_str());
      w.Key("lastScrape");
      const std::string last =
          s.last_scrape == absl::InfinitePast()
              ? "0001-01-01T00:00:00Z"
              : absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", s.last_scrape, absl::UTCTimeZone());
      w.String(last.c_str());
      w.Key("lastScrapeDuration");
      w.Double(absl::ToDoubleSeconds(s.last_duration));
      w.Key("health");
      w.String(s.health.c_str());
      w.Key("scrapeInterval");
      w.String(absl::StrCat(absl::ToInt64Seconds(t.interval), "s").c_str());
      w.Key("scrapeTimeout");
      w.String(absl::StrCat(absl::ToInt64Seconds(t.timeout), "s").c_str());
      w.EndObject();
    }
    w.EndArray();
    w.Key("droppedTargets");
    w.StartArray();
    w.EndArray();
    w.EndObject();
    w.EndObject();
    res.set_content(buf.GetString(), "application/json");
  });
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
