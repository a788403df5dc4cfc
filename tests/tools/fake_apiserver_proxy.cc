// FakeApiServer's API-server proxy endpoints (see fake_apiserver.h).
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/model/absl_compat.h"
#include "tests/tools/fake_apiserver.h"

namespace tender::test_tools {

struct FakeApiServer::ProxyState {
  std::mutex mu;                               // Covers everything below.
  std::map<std::string, std::string> targets;  // "kind/ns/name[:port]" -> base URL.
  absl::Duration delay;
  int fail_status = 0;
  int fail_next = 0;
  int fraction_status = 0;
  double fraction = 0;
  int64_t fraction_seen = 0;  // Requests counted for the fraction since it was set.
  int in_flight = 0;
  ProxyStats stats;
};

std::shared_ptr<FakeApiServer::ProxyState> FakeApiServer::NewProxyState() {
  return std::make_shared<ProxyState>();
}

void FakeApiServer::SetProxyTarget(std::string_view kind, std::string_view ns,
                                   std::string_view name_port, std::string base_url) {
  std::lock_guard<std::mutex> lock(proxy_->mu);
  proxy_->targets[absl::StrCat(ToAbsl(kind), "/", ToAbsl(ns), "/", ToAbsl(name_port))] =
      std::move(base_url);
}

void FakeApiServer::set_proxy_delay(absl::Duration delay) {
  std::lock_guard<std::mutex> lock(proxy_->mu);
  proxy_->delay = delay;
}

void FakeApiServer::FailNextProxy(int status, int count) {
  std::lock_guard<std::mutex> lock(proxy_->mu);
  proxy_->fail_status = status;
  proxy_->fail_next = count;
}

void FakeApiServer::FailProxyFraction(int status, double fraction) {
  std::lock_guard<std::mutex> lock(proxy_->mu);
  proxy_->fraction_status = status;
  proxy_->fraction = std::clamp(fraction, 0.0, 1.0);
  proxy_->fraction_seen = 0;
}

FakeApiServer::ProxyStats FakeApiServer::proxy_stats() const {
  std::lock_guard<std::mutex> lock(proxy_->mu);
  return proxy_->stats;
}

void FakeApiServer::RegisterProxyRoutes() {
  server_->Get(R"(/api/v1/nodes/([^/]+)/proxy(/.*)?)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 HandleProxy(req, res, "nodes", "", req.matches[1].str(), req.matches[2].str());
               });
  server_->Get(R"(/api/v1/namespaces/([^/]+)/(pods|services)/([^/]+)/proxy(/.*)?)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 HandleProxy(req, res, req.matches[2].str(), req.matches[1].str(),
                             req.matches[3].str(), req.matches[4].str());
               });
}

void FakeApiServer::HandleProxy(const httplib::Request& req, httplib::Response& res,
                                const std::string& kind, const std::string& ns,
                                const std::string& name_part, const std::string& path) {
  ProxyState& p = *proxy_;
  std::string token;
  {
    std::lock_guard<std::mutex> lock(mu_);
    token = token_;
  }
  // [scheme:]name[:port]: the scheme is for the API server's side of the hop, not the lookup.
  std::string name_port = name_part;
  for (std::string_view scheme : {"https:", "http:"}) {
    if (absl::StartsWith(name_port, ToAbsl(scheme))) {
      name_port = name_port.substr(scheme.size());
      break;
    }
  }
  std::string base_url;
  absl::Duration delay;
  int fail = 0;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    ++p.stats.requests;
    ++p.stats.by_path[req.path];
    if (!token.empty() && req.get_header_value("Authorization") != "Bearer " + token) {
      ++p.stats.unauthorized;
      res.status = 401;
      res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":401})",
                      "application/json");
      return;
    }
    if (p.fail_next > 0) {
      --p.fail_next;
      fail = p.fail_status;
    } else if (p.fraction > 0) {
      // Evenly spread: request n fails when floor(n * fraction) steps up.
      const int64_t n = ++p.fraction_seen;
      if (std::floor(static_cast<double>(n) * p.fraction) >
          std::floor(static_cast<double>(n - 1) * p.fraction)) {
        fail = p.fraction_status;
      }
    }
    if (fail != 0) {
      ++p.stats.failed;
      res.status = fail;
      res.set_header("Retry-After", "1");
      res.set_content(absl::StrCat(R"({"kind":"Status","apiVersion":"v1","status":"Failure",)",
                                   R"("message":"scripted proxy failure","code":)", fail, "}"),
                      "application/json");
      return;
    }
    auto it = p.targets.find(absl::StrCat(kind, "/", ns, "/", name_port));
    if (it == p.targets.end()) {
      res.status = 404;
      res.set_content(absl::StrCat("no proxy target ", kind, "/", ns, "/", name_port),
                      "text/plain");
      return;
    }
    base_url = it->second;
    delay = p.delay;
    ++p.in_flight;
    p.stats.max_in_flight = std::max(p.stats.max_in_flight, p.in_flight);
  }
  if (delay > absl::ZeroDuration()) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(delay));  // Simulated backend time.
  }
  // base_url may carry a path prefix: the client takes scheme://host:port only.
  const size_t host_start = base_url.find("://");
  const size_t path_start =
      base_url.find('/', host_start == std::string::npos ? 0 : host_start + 3);
  const std::string prefix = path_start == std::string::npos ? "" : base_url.substr(path_start);
  httplib::Client client(base_url.substr(0, path_start));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  std::string target = prefix + (path.empty() ? "/" : path);
  if (!req.params.empty()) {
    char sep = '?';
    for (const auto& [key, value] : req.params) {
      absl::StrAppend(&target, std::string(1, sep), httplib::detail::encode_query_param(key), "=",
                      httplib::detail::encode_query_param(value));
      sep = '&';
    }
  }
  httplib::Headers headers;
  if (req.has_header("Accept")) headers.emplace("Accept", req.get_header_value("Accept"));
  auto answer = client.Get(target, headers);
  {
    std::lock_guard<std::mutex> lock(p.mu);
    --p.in_flight;
    if (answer) ++p.stats.forwarded;
  }
  if (!answer) {
    res.status = 503;
    res.set_content("error trying to reach service", "text/plain");
    return;
  }
  res.status = answer->status;
  res.set_content(answer->body, answer->get_header_value("Content-Type"));
}

}  // namespace tender::test_tools
