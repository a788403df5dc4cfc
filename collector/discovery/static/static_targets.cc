#include "collector/discovery/static/static_targets.h"

#include <iterator>
#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
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

JobTargetBuilder::JobTargetBuilder(
    const config::ScrapeConfig& job,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy)
    : proxy_(proxy), job_(std::make_shared<const config::ScrapeConfig>(job)) {
  auto target_relabel = relabel::Relabeler::Compile(job.relabel_configs);
  auto metric_relabel = relabel::Relabeler::Compile(job.metric_relabel_configs);
  if (!target_relabel.ok() || !metric_relabel.ok()) {
    log::Error("discovery", "relabel rules failed to compile; job skipped",
               {{"job", job.job_name}});
    return;
  }
  ok_ = true;
  target_relabel_.emplace(std::move(target_relabel).value());
  metric_relabel_ = std::make_shared<const relabel::Relabeler>(std::move(metric_relabel).value());
}

namespace {

// The discovered labels of target `i` of a group.
model::Labels DiscoveredLabels(const model::Labels& group_labels,
                               const std::vector<std::string>& targets,
                               const std::vector<model::Labels>* target_labels, size_t i) {
  model::Labels discovered = group_labels;
  if (target_labels != nullptr && i < target_labels->size()) {
    discovered.insert(discovered.end(), (*target_labels)[i].begin(), (*target_labels)[i].end());
  }
  discovered.push_back({std::string(model::kAddressLabel), targets[i]});
  model::Normalize(discovered);  // The last of duplicate names wins: target over group.
  return discovered;
}

}  // namespace

JobTargetBuilder::GroupResult JobTargetBuilder::BuildGroup(
    const model::Labels& group_labels, const std::vector<std::string>& targets,
    const std::vector<model::Labels>* target_labels) const {
  GroupResult out;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (auto t = MakeTarget(DiscoveredLabels(group_labels, targets, target_labels, i), job_,
                            &*target_relabel_, proxy_)) {
      t->metric_relabel = metric_relabel_;
      out.active.push_back(std::move(t));
    } else {
      out.dropped.push_back(static_cast<uint32_t>(i));
    }
  }
  return out;
}

size_t JobTargetBuilder::Build(const std::vector<const Groups*>& lists) {
  size_t discovered = 0;
  for (const Groups* list : lists) {
    for (const auto& g : *list) discovered += g->targets.size();
  }
  if (!ok_) return discovered;
  // A target_limit marks every target of the job when exceeded: targets handed out earlier
  // must not change, so such a job is built anew each time.
  const bool limited = job_->target_limit > 0;
  absl::flat_hash_map<const TargetGroup*, GroupResult*> before;
  if (!limited) {
    before.reserve(groups_.size());
    for (auto& [group, result] : groups_) before.emplace(group.get(), &result);
  }
  std::vector<std::pair<std::shared_ptr<const TargetGroup>, GroupResult>> next;
  next.reserve(groups_.size());
  if (limited || !static_built_) {
    static_built_ = true;
    static_.clear();
    for (const auto& group : job_->static_configs) {
      static_.push_back(BuildGroup(group.labels, group.targets, nullptr));
    }
  }
  for (const Groups* list : lists) {
    for (const auto& g : *list) {
      if (auto it = before.find(g.get()); it != before.end() && it->second != nullptr) {
        next.emplace_back(g, std::move(*it->second));
        it->second = nullptr;  // A group listed twice is built twice, as before.
      } else {
        next.emplace_back(g, BuildGroup(g->labels, g->targets, &g->target_labels));
      }
    }
  }
  groups_ = std::move(next);
  if (limited) {
    size_t active = 0;
    for (const auto& r : static_) active += r.active.size();
    for (const auto& [g, r] : groups_) active += r.active.size();
    if (active > static_cast<size_t>(job_->target_limit)) {
      const std::string err =
          "target_limit exceeded (number of targets: " + std::to_string(active) +
          ", limit: " + std::to_string(job_->target_limit) + ")";
      for (auto& r : static_) {
        for (auto& t : r.active) t->forced_error = err;
      }
      for (auto& [g, r] : groups_) {
        for (auto& t : r.active) t->forced_error = err;
      }
    }
  }
  return discovered;
}

void JobTargetBuilder::AppendActive(std::vector<std::shared_ptr<const scrape::Target>>* out) const {
  for (const auto& r : static_) out->insert(out->end(), r.active.begin(), r.active.end());
  for (const auto& [g, r] : groups_) out->insert(out->end(), r.active.begin(), r.active.end());
}

void JobTargetBuilder::AppendDropped(std::vector<scrape::DroppedTarget>* out) const {
  auto append = [&](const GroupResult& r, const model::Labels& labels,
                    const std::vector<std::string>& targets,
                    const std::vector<model::Labels>* target_labels) {
    for (uint32_t i : r.dropped) {
      out->push_back({job_->job_name,
                      WithJobDefaults(DiscoveredLabels(labels, targets, target_labels, i), *job_)});
    }
  };
  for (size_t i = 0; i < static_.size(); ++i) {
    append(static_[i], job_->static_configs[i].labels, job_->static_configs[i].targets, nullptr);
  }
  for (const auto& [g, r] : groups_) append(r, g->labels, g->targets, &g->target_labels);
}

scrape::TargetSet BuildJobTargets(
    const config::ScrapeConfig& sc, const std::vector<const std::vector<TargetGroup>*>& groups,
    const absl::StatusOr<std::shared_ptr<scrape::ApiServerProxy>>* proxy) {
  std::vector<JobTargetBuilder::Groups> shared(groups.size());
  std::vector<const JobTargetBuilder::Groups*> lists;
  for (size_t i = 0; i < groups.size(); ++i) {
    for (const auto& g : *groups[i]) shared[i].push_back(std::make_shared<const TargetGroup>(g));
    lists.push_back(&shared[i]);
  }
  JobTargetBuilder builder(sc, proxy);
  builder.Build(lists);
  scrape::TargetSet out;
  builder.AppendActive(&out.active);
  builder.AppendDropped(&out.dropped);
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
