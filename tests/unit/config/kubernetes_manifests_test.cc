// Checks the manifests in config/kubernetes/ that users apply to their cluster: every document
// is well-formed, tender's ClusterRoles are read-only and least-privilege per variant, and the
// bindings, token Secret, Services and workloads refer to each other correctly.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace tender::config {
namespace {

struct Doc {
  std::string file;
  YAML::Node node;
};

std::vector<Doc> LoadManifests() {
  std::vector<Doc> docs;
  const std::string dir = std::string(TENDER_SOURCE_DIR_FOR_TESTS) + "/config/kubernetes";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    for (const YAML::Node& node : YAML::LoadAllFromFile(entry.path().string())) {
      if (node.IsNull()) continue;
      docs.push_back({entry.path().filename().string(), node});
    }
  }
  return docs;
}

const YAML::Node* Find(const std::vector<Doc>& docs, const std::string& kind,
                       const std::string& name) {
  for (const Doc& d : docs) {
    if (d.node["kind"].as<std::string>() == kind &&
        d.node["metadata"]["name"].as<std::string>() == name) {
      return &d.node;
    }
  }
  return nullptr;
}

std::set<std::string> Strings(const YAML::Node& list) {
  std::set<std::string> out;
  if (list) {
    for (const auto& item : list) out.insert(item.as<std::string>());
  }
  return out;
}

TEST(KubernetesManifestsTest, EveryDocumentHasKindNameAndVersion) {
  const std::vector<Doc> docs = LoadManifests();
  ASSERT_GE(docs.size(), 10u);
  for (const Doc& d : docs) {
    SCOPED_TRACE(d.file);
    ASSERT_TRUE(d.node.IsMap());
    EXPECT_TRUE(d.node["apiVersion"].IsScalar());
    EXPECT_TRUE(d.node["kind"].IsScalar());
    EXPECT_TRUE(d.node["metadata"]["name"].IsScalar());
  }
}

TEST(KubernetesManifestsTest, TenderRolesAreReadOnlyAndLeastPrivilege) {
  const std::vector<Doc> docs = LoadManifests();
  for (const std::string role : {"tender-proxy", "tender-direct"}) {
    SCOPED_TRACE(role);
    const YAML::Node* r = Find(docs, "ClusterRole", role);
    ASSERT_NE(r, nullptr);
    std::set<std::string> resources;
    std::set<std::string> non_resource;
    for (const auto& rule : (*r)["rules"]) {
      const std::set<std::string> verbs = Strings(rule["verbs"]);
      for (const std::string& v : verbs) {
        EXPECT_TRUE(v == "get" || v == "list" || v == "watch") << v;
      }
      for (const std::string& g : Strings(rule["apiGroups"])) EXPECT_NE(g, "*");
      for (const std::string& res : Strings(rule["resources"])) {
        EXPECT_NE(res, "*");
        EXPECT_NE(res, "secrets");  // Nothing of tender's reads secrets.
        // Subresources are only ever read with get.
        if (res.find('/') != std::string::npos) {
          EXPECT_EQ(verbs, std::set<std::string>{"get"}) << res;
        }
        resources.insert(res);
      }
      for (const std::string& url : Strings(rule["nonResourceURLs"])) non_resource.insert(url);
    }
    // What discovery and logs.events need, in both variants.
    for (const char* res :
         {"nodes", "pods", "services", "endpoints", "endpointslices", "ingresses", "events"}) {
      EXPECT_TRUE(resources.count(res)) << res;
    }
    EXPECT_TRUE(resources.count("pods/log"));  // logs.kubernetes.
    EXPECT_EQ(non_resource, std::set<std::string>{"/metrics"});
    if (role == "tender-proxy") {
      EXPECT_TRUE(resources.count("nodes/proxy"));
      EXPECT_TRUE(resources.count("services/proxy"));
      EXPECT_FALSE(resources.count("nodes/metrics"));
    } else {
      EXPECT_TRUE(resources.count("nodes/metrics"));
      for (const std::string& res : resources) {
        EXPECT_EQ(res.find("/proxy"), std::string::npos) << res;
      }
    }
  }
}

TEST(KubernetesManifestsTest, BindingsTokenAndServicesReferToWhatExists) {
  const std::vector<Doc> docs = LoadManifests();
  for (const Doc& d : docs) {
    if (d.node["kind"].as<std::string>() != "ClusterRoleBinding") continue;
    SCOPED_TRACE(d.file + " " + d.node["metadata"]["name"].as<std::string>());
    EXPECT_NE(Find(docs, "ClusterRole", d.node["roleRef"]["name"].as<std::string>()), nullptr);
    for (const auto& s : d.node["subjects"]) {
      const YAML::Node* sa = Find(docs, "ServiceAccount", s["name"].as<std::string>());
      ASSERT_NE(sa, nullptr);
      EXPECT_EQ((*sa)["metadata"]["namespace"].as<std::string>(), s["namespace"].as<std::string>());
      EXPECT_NE(Find(docs, "Namespace", s["namespace"].as<std::string>()), nullptr);
    }
  }
  const YAML::Node* token = Find(docs, "Secret", "tender-token");
  ASSERT_NE(token, nullptr);
  EXPECT_EQ((*token)["type"].as<std::string>(), "kubernetes.io/service-account-token");
  EXPECT_EQ(
      (*token)["metadata"]["annotations"]["kubernetes.io/service-account.name"].as<std::string>(),
      "tender");

  // Workloads: the selector matches the pod template; a Service selects pods that exist and
  // targets a named container port.
  std::map<std::string, std::map<std::string, std::string>> pod_labels;
  std::map<std::string, std::set<std::string>> port_names;
  for (const Doc& d : docs) {
    const std::string kind = d.node["kind"].as<std::string>();
    if (kind != "Deployment" && kind != "DaemonSet") continue;
    const std::string name = d.node["metadata"]["name"].as<std::string>();
    SCOPED_TRACE(name);
    const auto labels =
        d.node["spec"]["template"]["metadata"]["labels"].as<std::map<std::string, std::string>>();
    for (const auto& [k, v] :
         d.node["spec"]["selector"]["matchLabels"].as<std::map<std::string, std::string>>()) {
      EXPECT_EQ(labels.count(k) ? labels.at(k) : "", v) << k;
    }
    pod_labels[name] = labels;
    for (const auto& c : d.node["spec"]["template"]["spec"]["containers"]) {
      for (const auto& p : c["ports"]) port_names[name].insert(p["name"].as<std::string>());
    }
  }
  EXPECT_TRUE(pod_labels.count("kube-state-metrics"));
  EXPECT_TRUE(pod_labels.count("node-exporter"));
  for (const Doc& d : docs) {
    if (d.node["kind"].as<std::string>() != "Service") continue;
    const auto selector = d.node["spec"]["selector"].as<std::map<std::string, std::string>>();
    bool matched = false;
    for (const auto& [workload, labels] : pod_labels) {
      bool all = true;
      for (const auto& [k, v] : selector) all = all && labels.count(k) && labels.at(k) == v;
      if (!all) continue;
      matched = true;
      for (const auto& p : d.node["spec"]["ports"]) {
        EXPECT_TRUE(port_names[workload].count(p["targetPort"].as<std::string>()));
      }
    }
    EXPECT_TRUE(matched) << d.node["metadata"]["name"].as<std::string>();
  }
}

}  // namespace
}  // namespace tender::config
