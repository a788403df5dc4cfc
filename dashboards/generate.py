#!/usr/bin/env python3
"""Writes the Grafana dashboards of dashboards/*.json. Edit the panels here, then run
`python3 dashboards/generate.py`; tests/integration/dashboards_check.py runs every PromQL
expression against a real Prometheus fed by tender and checks titles and units."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}


def var(name, query, multi=True, ds=PROM):
    return {"name": name, "label": name, "type": "query", "datasource": ds,
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
            "includeAll": True, "allValue": ".*", "multi": multi, "sort": 1,
            "current": {"text": "All", "value": "$__all"}}


CLUSTER = var("cluster", "label_values(up, cluster)")


class Board:
    def __init__(self, uid, title, variables, tags):
        self.uid, self.title, self.variables, self.tags = uid, title, variables, tags
        self.panels, self.x, self.y, self.next_id, self.line_h = [], 0, 0, 1, 8

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + self.line_h
        self.panels.append({"id": self.next_id, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.next_id += 1
        self.y += 1

    def panel(self, title, exprs, unit, kind="timeseries", width=12, legend=None, stack=False,
              ds=PROM, height=8):
        if self.x + width > 24:
            self.x, self.y = 0, self.y + self.line_h
        if self.x == 0:
            self.line_h = 0
        self.line_h = max(self.line_h, height)
        targets = []
        for i, expr in enumerate(exprs if isinstance(exprs, list) else [exprs]):
            e, leg = (expr if isinstance(expr, tuple) else (expr, legend))
            t = {"refId": chr(65 + i), "datasource": ds, "expr": e,
                 "legendFormat": leg or "__auto", "range": kind in ("timeseries", "logs"),
                 "instant": kind not in ("timeseries", "logs")}
            if kind == "logs":
                t["queryType"] = "range"
                del t["legendFormat"]
            targets.append(t)
        p = {"id": self.next_id, "type": kind, "title": title, "datasource": ds,
             "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y}, "targets": targets,
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": {"legend": {"displayMode": "list", "placement": "bottom"}}}
        if stack:
            p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"},
                                                      "fillOpacity": 30}
        if kind == "logs":
            p["options"] = {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending",
                            "enableLogDetails": True, "dedupStrategy": "none"}
        self.panels.append(p)
        self.next_id += 1
        self.x += width

    def write(self):
        doc = {"uid": self.uid, "title": self.title, "tags": ["tender"] + self.tags,
               "timezone": "browser", "schemaVersion": 39, "version": 1, "refresh": "30s",
               "time": {"from": "now-1h", "to": "now"},
               "templating": {"list": self.variables}, "panels": self.panels,
               "annotations": {"list": []}, "editable": True}
        with open(os.path.join(HERE, self.uid + ".json"), "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")


def cluster_overview():
    b = Board("tender-cluster", "Cluster overview", [CLUSTER], ["kubernetes"])
    c = 'cluster=~"$cluster"'
    b.row("Nodes")
    b.panel("Nodes ready", f'sum(kube_node_status_condition{{{c},condition="Ready",status="true"}})',
            "short", "stat", 6)
    b.panel("Nodes not ready",
            f'sum(kube_node_status_condition{{{c},condition="Ready",status!="true"}})', "short",
            "stat", 6)
    b.panel("Pods running", f'sum(kube_pod_status_phase{{{c},phase="Running"}})', "short",
            "stat", 6)
    b.panel("Container restarts (1h)",
            f"sum(increase(kube_pod_container_status_restarts_total{{{c}}}[1h]))", "short",
            "stat", 6)
    b.row("Resources per node")
    b.panel("CPU busy per node",
            f'1 - avg by (node) (rate(node_cpu_seconds_total{{{c},mode="idle"}}[$__rate_interval]))',
            "percentunit", legend="{{node}}")
    b.panel("Memory used per node",
            f"1 - node_memory_MemAvailable_bytes{{{c}}} / node_memory_MemTotal_bytes{{{c}}}",
            "percentunit", legend="{{node}}")
    b.panel("Disk used per node",
            f'max by (node) (1 - node_filesystem_avail_bytes{{{c},fstype!~"tmpfs|overlay"}} '
            f'/ node_filesystem_size_bytes{{{c},fstype!~"tmpfs|overlay"}})', "percentunit",
            legend="{{node}}")
    b.panel("Network received per node",
            f'sum by (node) (rate(node_network_receive_bytes_total{{{c},device!="lo"}}[$__rate_interval]))',
            "Bps", legend="{{node}}")
    b.row("Pods")
    b.panel("Pods by phase", f"sum by (phase) (kube_pod_status_phase{{{c}}})", "short",
            legend="{{phase}}", stack=True)
    b.panel("Restarts by namespace (1h)",
            f"sum by (namespace) (increase(kube_pod_container_status_restarts_total{{{c}}}[1h]))",
            "short", "bargauge", legend="{{namespace}}")
    b.write()


def nodes():
    b = Board("tender-nodes", "Nodes", [CLUSTER, var("node", 'label_values(node_uname_info{cluster=~"$cluster"}, node)')],
              ["node-exporter"])
    s = 'cluster=~"$cluster",node=~"$node"'
    b.row("CPU and memory")
    b.panel("CPU by mode",
            f'sum by (node, mode) (rate(node_cpu_seconds_total{{{s},mode!="idle"}}[$__rate_interval]))',
            "short", legend="{{node}} {{mode}}", stack=True)
    b.panel("Load average (1m)", f"node_load1{{{s}}}", "short", legend="{{node}}")
    b.panel("Memory available", f"node_memory_MemAvailable_bytes{{{s}}}", "bytes",
            legend="{{node}}")
    b.panel("Memory total", f"node_memory_MemTotal_bytes{{{s}}}", "bytes", legend="{{node}}")
    b.row("Disk and network")
    b.panel("Filesystem available",
            f'node_filesystem_avail_bytes{{{s},fstype!~"tmpfs|overlay"}}', "bytes",
            legend="{{node}} {{mountpoint}}")
    b.panel("Disk I/O time",
            f"rate(node_disk_io_time_seconds_total{{{s}}}[$__rate_interval])", "percentunit",
            legend="{{node}} {{device}}")
    b.panel("Network received",
            f'rate(node_network_receive_bytes_total{{{s},device!="lo"}}[$__rate_interval])',
            "Bps", legend="{{node}} {{device}}")
    b.panel("Network transmitted",
            f'rate(node_network_transmit_bytes_total{{{s},device!="lo"}}[$__rate_interval])',
            "Bps", legend="{{node}} {{device}}")
    b.write()


def workloads():
    ns = var("namespace", 'label_values(kube_pod_info{cluster=~"$cluster"}, namespace)')
    b = Board("tender-workloads", "Workloads", [CLUSTER, ns], ["kube-state-metrics"])
    s = 'cluster=~"$cluster",namespace=~"$namespace"'
    b.row("Deployments")
    b.panel("Deployments: desired vs available",
            [(f"sum by (namespace, deployment) (kube_deployment_spec_replicas{{{s}}})",
              "{{namespace}}/{{deployment}} desired"),
             (f"sum by (namespace, deployment) (kube_deployment_status_replicas_available{{{s}}})",
              "{{namespace}}/{{deployment}} available")], "short")
    b.panel("Deployments with unavailable replicas",
            f"sum by (namespace, deployment) (kube_deployment_status_replicas_unavailable{{{s}}}) > 0 or "
            f"sum by (namespace) (kube_deployment_status_replicas_unavailable{{{s}}}) * 0",
            "short", "table")
    b.row("Pods and containers")
    b.panel("Pods by phase", f"sum by (namespace, phase) (kube_pod_status_phase{{{s}}})",
            "short", legend="{{namespace}} {{phase}}", stack=True)
    b.panel("Containers waiting, by reason",
            f"sum by (reason) (kube_pod_container_status_waiting_reason{{{s}}}) or "
            f"sum(kube_pod_container_status_waiting{{{s}}})", "short", legend="{{reason}}")
    b.panel("Containers terminated, by reason",
            f"sum by (reason) (kube_pod_container_status_terminated_reason{{{s}}}) or "
            f"sum(kube_pod_container_status_terminated{{{s}}})", "short", legend="{{reason}}")
    b.panel("Container restarts",
            f"sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{{s}}}[1h]))",
            "short", "table")
    b.row("Requests and limits vs usage")
    b.panel("CPU: requests, limits, usage",
            [(f'sum(kube_pod_container_resource_requests{{{s},resource="cpu"}})', "requests"),
             (f'sum(kube_pod_container_resource_limits{{{s},resource="cpu"}}) or vector(0)',
              "limits"),
             (f'sum(rate(container_cpu_usage_seconds_total{{{s},container!=""}}[$__rate_interval]))',
              "usage")], "short")
    b.panel("Memory: requests, limits, working set",
            [(f'sum(kube_pod_container_resource_requests{{{s},resource="memory"}})', "requests"),
             (f'sum(kube_pod_container_resource_limits{{{s},resource="memory"}}) or vector(0)',
              "limits"),
             (f'sum(container_memory_working_set_bytes{{{s},container!=""}})', "working set")],
            "bytes")
    b.write()


def containers():
    ns = var("namespace", 'label_values(container_cpu_usage_seconds_total{cluster=~"$cluster"}, namespace)')
    pod = var("pod", 'label_values(container_cpu_usage_seconds_total{cluster=~"$cluster",namespace=~"$namespace"}, pod)')
    b = Board("tender-containers", "Containers", [CLUSTER, ns, pod], ["cadvisor"])
    s = 'cluster=~"$cluster",namespace=~"$namespace",pod=~"$pod",container!=""'
    b.row("CPU")
    b.panel("CPU usage per pod",
            f"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{s}}}[$__rate_interval]))",
            "short", legend="{{namespace}}/{{pod}}")
    b.panel("CPU throttled periods",
            f"sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total{{{s}}}[$__rate_interval])) "
            f"/ sum by (namespace, pod) (rate(container_cpu_cfs_periods_total{{{s}}}[$__rate_interval]))",
            "percentunit", legend="{{namespace}}/{{pod}}")
    b.row("Memory and network")
    b.panel("Memory working set per pod",
            f"sum by (namespace, pod) (container_memory_working_set_bytes{{{s}}})", "bytes",
            legend="{{namespace}}/{{pod}}")
    b.panel("Network received per pod",
            f'sum by (namespace, pod) (rate(container_network_receive_bytes_total{{cluster=~"$cluster",namespace=~"$namespace",pod=~"$pod"}}[$__rate_interval]))',
            "Bps", legend="{{namespace}}/{{pod}}")
    b.panel("Network transmitted per pod",
            f'sum by (namespace, pod) (rate(container_network_transmit_bytes_total{{cluster=~"$cluster",namespace=~"$namespace",pod=~"$pod"}}[$__rate_interval]))',
            "Bps", legend="{{namespace}}/{{pod}}")
    b.panel("OOM events", f"sum by (namespace, pod) (increase(container_oom_events_total{{{s}}}[1h]))",
            "short", "table")
    b.write()


def tender():
    b = Board("tender-self", "tender", [CLUSTER], ["self"])
    c = 'cluster=~"$cluster"'
    b.row("Targets")
    b.panel("Targets up per job", f"sum by (job) (up{{{c}}})", "short", legend="{{job}}")
    b.panel("Targets down per job", f"count by (job) (up{{{c}}} == 0) or sum by (job) (up{{{c}}}) * 0",
            "short", legend="{{job}}")
    b.panel("Scrape duration per job (p90 over targets)",
            f"quantile by (job) (0.9, scrape_duration_seconds{{{c}}})", "s", legend="{{job}}")
    b.panel("Scrape phases across the link (avg per job)",
            f"avg by (job, phase) (tender_scrape_phase_seconds{{{c}}})", "s",
            legend="{{job}} {{phase}}", stack=True)
    b.panel("Samples scraped per second",
            f"sum by (job) (rate(tender_scrape_samples_total{{{c}}}[$__rate_interval]))", "short",
            legend="{{job}}")
    b.panel("Scrape retries and failures",
            [(f"sum by (job) (rate(tender_scrape_failures_total{{{c}}}[$__rate_interval])) or "
              f"sum by (job) (rate(tender_scrapes_total{{{c}}}[$__rate_interval])) * 0",
              "{{job}} failures"),
             (f"sum by (job) (rate(tender_scrape_retries_total{{{c}}}[$__rate_interval])) or "
              f"sum by (job) (rate(tender_scrapes_total{{{c}}}[$__rate_interval])) * 0",
              "{{job}} retries")], "ops")
    b.row("Pipeline")
    b.panel("Ingest ring depth", f"sum(tender_ring_batches{{{c}}}) or sum(tender_ring_depth{{{c}}})",
            "short")
    b.panel("Samples sent per second",
            f"sum by (remote_name) (rate(tender_remote_write_samples_sent_total{{{c}}}[$__rate_interval]))",
            "short", legend="{{remote_name}}")
    b.panel("Queue bytes in memory and on disk",
            f"sum by (remote_name, where) (tender_queue_bytes{{{c}}})", "bytes",
            legend="{{remote_name}} {{where}}", stack=True)
    b.panel("Oldest queued sample",
            f"max by (remote_name) (tender_queue_oldest_sample_age_seconds{{{c}}})", "s",
            legend="{{remote_name}}")
    b.panel("Remote-write retries and drops",
            [(f"sum by (remote_name) (rate(tender_remote_write_samples_retried_total{{{c}}}[$__rate_interval]))",
              "{{remote_name}} retried"),
             (f"sum by (remote_name, reason) (rate(tender_remote_write_samples_dropped_total{{{c}}}[$__rate_interval]))",
              "{{remote_name}} dropped {{reason}}")], "short")
    b.panel("Queue drops by reason",
            f"sum by (remote_name, reason) (increase(tender_queue_dropped_bytes_total{{{c}}}[1h]))",
            "bytes", "table")
    b.row("Logs")
    b.panel("Log lines read per second, by source",
            [(f"sum(rate(tender_logs_kubernetes_lines_total{{{c}}}[$__rate_interval])) or vector(0)",
              "pod logs"),
             (f'sum(rate(tender_logs_events_total{{{c},outcome="sent"}}[$__rate_interval])) or vector(0)',
              "events"),
             (f"sum(rate(tender_logs_file_lines_total{{{c}}}[$__rate_interval])) or vector(0)",
              "files")], "short")
    b.panel("Pod log streams followed",
            f"sum(tender_logs_kubernetes_streams{{{c}}}) or vector(0)", "short")
    b.panel("Loki entries sent, retried, dropped",
            [(f"sum by (loki_name) (rate(tender_loki_entries_sent_total{{{c}}}[$__rate_interval]))",
              "{{loki_name}} sent"),
             (f"sum by (loki_name) (rate(tender_loki_entries_retried_total{{{c}}}[$__rate_interval]))",
              "{{loki_name}} retried"),
             (f"sum by (loki_name, reason) (rate(tender_loki_entries_dropped_total{{{c}}}[$__rate_interval]))",
              "{{loki_name}} dropped {{reason}}")], "short")
    b.panel("Loki pushes by status",
            f"sum by (loki_name, code) (rate(tender_loki_requests_total{{{c}}}[$__rate_interval]))",
            "reqps", legend="{{loki_name}} {{code}}")
    b.panel("Loki entries waiting", f"sum by (loki_name) (tender_loki_queue_entries{{{c}}})",
            "short", legend="{{loki_name}}")
    b.row("Process")
    b.panel("CPU", f'rate(process_cpu_seconds_total{{{c},job="tender"}}[$__rate_interval])',
            "percentunit", legend="{{instance}}")
    b.panel("Resident memory", f'process_resident_memory_bytes{{{c},job="tender"}}', "bytes",
            legend="{{instance}}")
    b.write()


def logs():
    # Loki stream labels set by tender's pod-log source (job, namespace, pod, container, node,
    # app) and its events source (job, namespace, kind, type); the test checks them against what
    # tender sends.
    pods = '{job="kubernetes-pods", namespace=~"$namespace", pod=~"$pod", container=~"$container"}'
    events = '{job="kubernetes-events", namespace=~"$namespace"}'
    b = Board("tender-logs", "Logs", [
        var("namespace", 'label_values({job=~"kubernetes-pods|kubernetes-events"}, namespace)',
            ds=LOKI),
        var("pod", 'label_values({job="kubernetes-pods", namespace=~"$namespace"}, pod)', ds=LOKI),
        var("container", 'label_values({job="kubernetes-pods", namespace=~"$namespace", '
            'pod=~"$pod"}, container)', ds=LOKI)], ["loki"])
    b.row("Volume")
    b.panel("Log lines by namespace",
            f'sum by (namespace) (count_over_time({pods}[$__interval]))', "short",
            legend="{{namespace}}", stack=True, ds=LOKI)
    b.panel("Log bytes by namespace",
            f'sum by (namespace) (bytes_over_time({pods}[$__interval]))', "bytes",
            legend="{{namespace}}", stack=True, ds=LOKI)
    b.panel("Log lines by container",
            f'topk(20, sum by (namespace, pod, container) (count_over_time({pods}[$__interval])))',
            "short", legend="{{namespace}}/{{pod}}/{{container}}", ds=LOKI)
    b.panel("Kubernetes events by type",
            f'sum by (type) (count_over_time({events}[$__interval]))', "short",
            legend="{{type}}", stack=True, ds=LOKI)
    b.row("Logs")
    b.panel("Pod logs", pods, "short", "logs", 24, ds=LOKI, height=12)
    b.row("Kubernetes events")
    b.panel("Warning events by reason",
            f'sum by (namespace, kind, reason) (count_over_time({events[:-1]}, type="Warning"}} '
            f'| logfmt [$__range]))', "short", "table", ds=LOKI)
    b.panel("Events", events, "short", "logs", 12, ds=LOKI)
    b.write()


if __name__ == "__main__":
    cluster_overview()
    nodes()
    workloads()
    containers()
    tender()
    logs()
