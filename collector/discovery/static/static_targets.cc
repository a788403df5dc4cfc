#include "collector/discovery/static/static_targets.h"

#include <iterator>
#include <map>
#include <string>

#include "collector/config/config.h"
#include "collector/model/log.h"

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

model::Labels WithJobDefaults(model::Labels labels, const config::ScrapeConfig& job) {
  // Prometheus PopulateLabels: defaults where the target has no value, params always.
  model::Normalize(labels);
  SetIfAbsent(labels, model::kJobLabel, job.job_name);
  SetIfAbsent(labels, model::kScrapeIntervalLabel, config::FormatDuration(job.scrape_interval));
  SetIfAbsent(labels, model::kScrapeTimeoutLabel, config::FormatDuration(job.scrape_timeout));
  SetIfAbsent(labels, model::kMetricsPathLabel, job.metrics_path);
  SetIfAbsent(labels, model::kSchemeLabel, job.scheme);
  for (const auto& [name, values] : job.params) {
    if (!values.empty()) {
      model::Set(labels, std::string(model::kParamLabelPrefix) + name, values.front());
    }
  }
  return labels;
}

namespace {}  // namespace

std::shared_ptr<scrape::Target> MakeTarget(
    model::Labels discovered, std::shared_ptr<const config::ScrapeConfig> job,
    const relabel::Relabeler* target_relabel,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy) {
  model::Labels labels = WithJobDefaults(std::move(discovered), *job);
  const model::Labels pre_relabel = labels;
  if (target_relabel != nullptr && !target_relabel->Apply(labels)) return nullptr;
  const std::string address(model::Get(labels, model::kAddressLabel));
  if (address.empty()) return nullptr;
  SetIfAbsent(labels, model::kInstanceLabel, address);

  auto t = std::make_shared<scrape::Target>();
  t->job = job->job_name;
  t->config = job;
  t->interval = job->scrape_interval;
  t->timeout = job->scrape_timeout;
  // Query: the job's params, the first value of each replaced by its __param_<name> label,
  // plus __param_ labels relabeling created; encoded sorted by key like Go's url.Values.
  std::map<std::string, std::vector<std::string>> params(job->params.begin(), job->params.end());
  for (const auto& l : labels) {
    if (l.name.rfind(model::kParamLabelPrefix, 0) != 0) continue;
    auto& values = params[l.name.substr(model::kParamLabelPrefix.size())];
    if (values.empty()) {
      values.push_back(l.value);
    } else {
      values[0] = l.value;
    }
  }
  std::string query;
  for (const auto& [name, values] : params) {
    for (const auto& v : values) {
      query += query.empty() ? '?' : '&';
      query += QueryEscape(name);
      query += '=';
      query += QueryEscape(v);
    }
  }
  t->url = std::string(model::Get(labels, model::kSchemeLabel)) + "://" + address +
           std::string(model::Get(labels, model::kMetricsPathLabel)) + query;
  if (job->api_server_proxy.has_value()) {
    // The same metrics path and query, below the API server's proxy path for the target.
    if (proxy == nullptr) {
      t->forced_error = "api_server_proxy: no API server for the job";
    } else if (!proxy->ok()) {
      t->forced_error = "api_server_proxy: " + std::string(proxy->status().message());
    } else {
      absl::StatusOr<std::string> path = scrape::ApiProxyPath(
          labels, model::Get(pre_relabel, model::kAddressLabel), *job->api_server_proxy);
      if (!path.ok()) {
        t->forced_error = std::string(path.status().message());
      } else {
        t->api_server_proxy = **proxy;
        t->url = t->api_server_proxy->server() + *path +
                 std::string(model::Get(labels, model::kMetricsPathLabel)) + query;
      }
    }
  }
  for (const auto& l : labels) {
    if (l.name.rfind("__", 0) != 0) t->labels.push_back(l);
  }
  t->discovered_labels = pre_relabel;
  t->hash = scrape::TargetHash(t->job, t->labels);
  return t;
}

scrape::TargetSet BuildJobTargets(
    const config::ScrapeConfig& sc, const std::vector<const std::vector<TargetGroup>*>& groups,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy) {
  scrape::TargetSet out;
  auto job = std::make_shared<const config::ScrapeConfig>(sc);
  // The loader validated every regex, so compiling cannot fail here; if it did, the job
  // would run unrelabeled, which is worse than not running it.
  auto target_relabel = relabel::Relabeler::Compile(sc.relabel_configs);
  auto metric_relabel = relabel::Relabeler::Compile(sc.metric_relabel_configs);
  if (!target_relabel.ok() || !metric_relabel.ok()) {
    log::Error("discovery", "relabel rules failed to compile; job skipped", {{"job", sc.job_name}});
    return out;
  }
  auto metric_rules = std::make_shared<const relabel::Relabeler>(std::move(metric_relabel).value());
  std::vector<std::shared_ptr<scrape::Target>> targets;
  auto add = [&](const model::Labels& group_labels, const std::string& address,
                 const model::Labels* own_labels = nullptr) {
    model::Labels discovered = group_labels;
    if (own_labels != nullptr) {
      discovered.insert(discovered.end(), own_labels->begin(), own_labels->end());
    }
    discovered.push_back({std::string(model::kAddressLabel), address});
    model::Normalize(discovered);  // The last of duplicate names wins: target over group.
    if (auto t = MakeTarget(discovered, job, &*target_relabel, proxy)) {
      t->metric_relabel = metric_rules;
      targets.push_back(std::move(t));
    } else {
      out.dropped.push_back({sc.job_name, WithJobDefaults(std::move(discovered), *job)});
    }
  };
  for (const auto& group : sc.static_configs) {
    for (const auto& address : group.targets) add(group.labels, address);
  }
  for (const std::vector<TargetGroup>* list : groups) {
    for (const auto& group : *list) {
      for (size_t i = 0; i < group.targets.size(); ++i) {
        add(group.labels, group.targets[i],
            i < group.target_labels.size() ? &group.target_labels[i] : nullptr);
      }
    }
  }
  if (sc.target_limit > 0 && targets.size() > static_cast<size_t>(sc.target_limit)) {
    const std::string err =
        "target_limit exceeded (number of targets: " + std::to_string(targets.size()) +
        ", limit: " + std::to_string(sc.target_limit) + ")";
    for (auto& t : targets) t->forced_error = err;
  }
  out.active.insert(out.active.end(), std::make_move_iterator(targets.begin()),
                    std::make_move_iterator(targets.end()));
  return out;
}

scrape::TargetSet BuildTargets(const config::Config& config, const DiscoveredGroups& groups,
                               const ApiServerProxies* proxies) {
  scrape::TargetSet out;
  for (const auto& sc : config.scrape_configs) {
    std::vector<const std::vector<TargetGroup>*> lists;
    if (auto it = groups.find(sc.job_name); it != groups.end()) lists.push_back(&it->second);
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy = nullptr;
    if (proxies != nullptr) {
      if (auto it = proxies->find(sc.job_name); it != proxies->end()) proxy = &it->second;
    }
    scrape::TargetSet job = BuildJobTargets(sc, lists, proxy);
    out.active.insert(out.active.end(), std::make_move_iterator(job.active.begin()),
                      std::make_move_iterator(job.active.end()));
    out.dropped.insert(out.dropped.end(), std::make_move_iterator(job.dropped.begin()),
                       std::make_move_iterator(job.dropped.end()));
  }
  return out;
}

}  // namespace tender::discovery
