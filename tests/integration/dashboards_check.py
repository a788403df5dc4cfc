#!/usr/bin/python3
"""Runs every PromQL expression of every dashboard in dashboards/ against the real Prometheus,
fed by tender scraping a fixture cluster (kube-state-metrics and per-node cAdvisor expositions
from tests/tools/fixture_server.py, the real node-exporter, tender itself). Every expression
must parse and return data; every panel needs a title and a unit; every template variable must
have values. Usage: dashboards_check.py SOURCE_DIR BINARY_DIR"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_http(url, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        try:
            get(url)
            return True
        except Exception:
            time.sleep(0.3)
    return False


def query(prom, expr):
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return json.loads(get(url))
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def fill(expr):
    # Template variables: every value ("All"), and a rate window that fits a 2 s interval.
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "10s")
    return re.sub(r"\$(cluster|node|namespace|pod)\b", ".*", expr)


def main():
    src, binary = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="tender-dashboards-")
    prom, node, fixture, tender = free_port(), free_port(), free_port(), free_port()
    procs = []
    failures = []
    try:
        with open(f"{work}/prometheus.yml", "w") as f:
            f.write("global:\n  scrape_interval: 1m\n")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={work}/prometheus.yml",
             f"--storage.tsdb.path={work}/prom", f"--web.listen-address=127.0.0.1:{prom}",
             "--web.enable-remote-write-receiver"],
            stdout=open(f"{work}/prometheus.log", "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [sys.executable, f"{src}/tests/tools/fixture_server.py", "--port", str(fixture),
             "--nodes", "2"], stdout=open(f"{work}/fixture.log", "w"), stderr=subprocess.STDOUT))
        for url in (f"http://127.0.0.1:{prom}/-/ready", f"http://127.0.0.1:{node}/metrics",
                    f"http://127.0.0.1:{fixture}/healthz"):
            if not wait_http(url, 120):
                print("not ready:", url)
                return 1
        cadvisor = "".join(
            f"""  - job_name: kubelet-cadvisor-node-{i}
    metrics_path: /nodes/node-{i}/metrics/cadvisor
    static_configs:
      - targets: ['127.0.0.1:{fixture}']
        labels: {{node: node-{i}}}
""" for i in (1, 2))
        with open(f"{work}/tender.yml", "w") as f:
            f.write(f"""global:
  scrape_interval: 2s
  scrape_timeout: 2s
  external_labels: {{cluster: ci}}
scrape_configs:
  - job_name: tender
    static_configs: [{{targets: ['127.0.0.1:{tender}']}}]
  - job_name: node-exporter
    static_configs: [{{targets: ['127.0.0.1:{node}'], labels: {{node: node-1}}}}]
  - job_name: kube-state-metrics
    honor_labels: true
    metrics_path: /ksm/metrics
    static_configs: [{{targets: ['127.0.0.1:{fixture}']}}]
{cadvisor}remote_write:
  - url: http://127.0.0.1:{prom}/api/v1/write
    queue_config: {{batch_send_deadline: 500ms}}
""")
        procs.append(subprocess.Popen(
            [f"{binary}/collector/app/tender", f"--config.file={work}/tender.yml",
             f"--web.listen-address=127.0.0.1:{tender}", f"--storage.path={work}/data"],
            stdout=open(f"{work}/tender.log", "w"), stderr=subprocess.STDOUT))
        # Enough scrapes for rate() over 1m and increase() over 1h.
        deadline = time.time() + 120
        while time.time() < deadline:
            r = query(prom, 'count(count_over_time(up{job="tender"}[1m]) >= 8)')
            if r.get("data", {}).get("result"):
                break
            time.sleep(1)
        else:
            failures.append("tender's samples did not reach Prometheus")

        exprs = 0
        files = sorted(glob.glob(f"{src}/dashboards/*.json"))
        if len(files) < 5:
            failures.append(f"only {len(files)} dashboards")
        for path in files:
            board = json.load(open(path))
            name = os.path.basename(path)
            for v in board["templating"]["list"]:
                m = re.match(r"label_values\((.*),\s*(\w+)\)$", v["query"]["query"])
                if not m:
                    failures.append(f"{name}: variable {v['name']}: unexpected query")
                    continue
                url = (f"http://127.0.0.1:{prom}/api/v1/label/{m.group(2)}/values?" +
                       urllib.parse.urlencode({"match[]": fill(m.group(1))}))
                if not json.loads(get(url)).get("data"):
                    failures.append(f"{name}: variable {v['name']} has no values")
            for p in board["panels"]:
                if not p.get("title"):
                    failures.append(f"{name}: panel {p['id']} has no title")
                if p["type"] == "row":
                    continue
                if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
                    failures.append(f"{name}: panel '{p['title']}' has no unit")
                for t in p["targets"]:
                    exprs += 1
                    r = query(prom, fill(t["expr"]))
                    if r.get("status") != "success":
                        failures.append(f"{name}: '{p['title']}': {r.get('error')}")
                    elif not r["data"]["result"]:
                        failures.append(f"{name}: '{p['title']}': no data for {t['expr']}")
        print(f"checked {exprs} expressions in {len(files)} dashboards")
    finally:
        for p in reversed(procs):  # tender first, while Prometheus still takes its last writes.
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(open(f"{work}/tender.log").read()[-3000:])
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
