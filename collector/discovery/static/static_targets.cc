#include "collector/discovery/static/static_targets.h"

#include <string>

#include "collector/config/config.h"

namespace tender::discovery {
namespace {

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

std::string QueryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void SetIfAbsent(model::Labels& labels, std::string_view name, std::string_view value) {
  if (model::Get(labels, name).empty()) model::Set(labels, name, value);
}

}  // namespace

std::shared_ptr<scrape::Target> MakeTarget(model::Labels discovered,
                                           std::shared_ptr<const config::ScrapeConfig> job) {
  model::Normalize(discovered);
  model::Labels labels = discovered;
  SetIfAbsent(labels, model::kJobLabel, job->job_name);
  SetIfAbsent(labels, model::kSchemeLabel, job->scheme);
  SetIfAbsent(labels, model::kMetricsPathLabel, job->metrics_path);
  SetIfAbsent(labels, model::kScrapeIntervalLabel, config::FormatDuration(job->scrape_interval));
  SetIfAbsent(labels, model::kScrapeTimeoutLabel, config::FormatDuration(job->scrape_timeout));
  for (const auto& [name, values] : job->params) {
    if (!values.empty()) {
      SetIfAbsent(labels, std::string(model::kParamLabelPrefix) + name, values.front());
    }
  }
  // (Target relabeling runs here.)
  const std::string address(model::Get(labels, model::kAddressLabel));
  if (address.empty()) return nullptr;
  SetIfAbsent(labels, model::kInstanceLabel, address);

  auto t = std::make_shared<scrape::Target>();
  t->job = job->job_name;
  t->config = job;
  t->interval = job->scrape_interval;
  t->timeout = job->scrape_timeout;
  std::string url = std::string(model::Get(labels, model::kSchemeLabel)) + "://" + address +
                    std::string(model::Get(labels, model::kMetricsPathLabel));
  // Query: the job's params, with __param_<name> overriding the first value of each.
  std::string query;
  auto add = [&](std::string_view k, std::string_view v) {
    query += query.empty() ? '?' : '&';
    query += QueryEscape(k);
    query += '=';
    query += QueryEscape(v);
  };
  for (const auto& [name, values] : job->params) {
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string_view override_value =
          i == 0 ? model::Get(labels, std::string(model::kParamLabelPrefix) + name)
                 : std::string_view();
      add(name, override_value.empty() ? values[i] : override_value);
    }
  }
  for (const auto& l : labels) {
    if (l.name.rfind(model::kParamLabelPrefix, 0) == 0) {
      const std::string name = l.name.substr(model::kParamLabelPrefix.size());
      if (!job->params.count(name)) add(name, l.value);
    }
  }
  t->url = url + query;
  for (const auto& l : labels) {
    if (l.name.rfind("__", 0) != 0) t->labels.push_back(l);
  }
  t->discovered_labels = std::move(discovered);
  t->hash = scrape::TargetHash(t->job, t->labels);
  return t;
}

scrape::TargetSet StaticTargets(const config::Config& config) {
  scrape::TargetSet out;
  for (const auto& sc : config.scrape_configs) {
    auto job = std::make_shared<const config::ScrapeConfig>(sc);
    std::vector<std::shared_ptr<scrape::Target>> targets;
    for (const auto& group : sc.static_configs) {
      for (const auto& address : group.targets) {
        model::Labels discovered = group.labels;
        discovered.push_back({std::string(model::kAddressLabel), address});
        model::Normalize(discovered);
        if (auto t = MakeTarget(discovered, job)) {
          targets.push_back(std::move(t));
        } else {
          out.dropped.push_back({sc.job_name, std::move(discovered)});
        }
      }
    }
    if (sc.target_limit > 0 && targets.size() > static_cast<size_t>(sc.target_limit)) {
      const std::string err =
          "target_limit exceeded (number of targets: " + std::to_string(targets.size()) +
          ", limit: " + std::to_string(sc.target_limit) + ")";
      for (auto& t : targets) t->forced_error = err;
    }
    out.active.insert(out.active.end(), targets.begin(), targets.end());
  }
  return out;
}

}  // namespace tender::discovery
