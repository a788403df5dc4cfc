// FakeCluster: realistic Kubernetes objects (the size and shape of what a real API server
// returns: labels, annotations, owner references, containers with ports, resources, probes and
// volume mounts, statuses, managedFields) for scale tests and benchmarks of kubernetes
// discovery, loaded into a FakeApiServer. Pods are grouped into deployments of
// `pods_per_service` replicas, each with a service and an endpoints object listing its pods.
// Deterministic: the same shape gives the same objects. Pure functions: any thread.
#pragma once

#include <string>

#include "tests/tools/fake_apiserver.h"

namespace tender::test_tools {

struct ClusterShape {
  int nodes = 300;
  int pods = 10000;
  int namespaces = 20;
  int pods_per_service = 5;
  // Every n-th deployment's pods carry prometheus.io/scrape: "true" (with a "metrics" port).
  int scrape_every = 3;
};

// Objects of the cluster. `generation` changes the pod's resourceVersion-independent content
// (a status timestamp and a restart count), as a status update does.
std::string FakeNodeJson(const ClusterShape& shape, int node);
std::string FakePodJson(const ClusterShape& shape, int pod, int generation = 0);
std::string FakeServiceJson(const ClusterShape& shape, int service);
std::string FakeEndpointsJson(const ClusterShape& shape, int service);
std::string FakeNamespaceJson(int ns);
int FakeServices(const ClusterShape& shape);
// Pod targets the pod role yields without relabeling (one per container port).
int FakePodTargets(const ClusterShape& shape);
// Pods marked for scraping (prometheus.io/scrape: "true").
int FakeScrapedPods(const ClusterShape& shape);

// Upserts every node, namespace, pod, service and endpoints object.
void LoadFakeCluster(FakeApiServer& api, const ClusterShape& shape);

}  // namespace tender::test_tools
