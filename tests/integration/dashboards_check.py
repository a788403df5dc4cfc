#!/usr/bin/python3
"""Runs every PromQL expression of every dashboard in dashboards/ against the real Prometheus,
fed by tender scraping a fixture cluster (kube-state-metrics and per-node cAdvisor expositions
from tests/tools/fixture_server.py, the real node-exporter, tender itself). Every expression
must parse and return data; every panel needs a title and a unit; every template variable must
have values. Usage: dashboards_check.py SOURCE_DIR BINARY_DIR
LogQL (Loki panels): dashboards_check.py --logql SOURCE_DIR RECORD, run by
e2e_logs_dashboard_test with what tender sent to a fake Loki."""
import glob
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request


class LokiSink(http.server.BaseHTTPRequestHandler):
    """Accepts every push (204), so that tender's Loki metrics have data."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def is_loki(ds):
    return isinstance(ds, dict) and ds.get("type") == "loki"


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


SELECTOR = re.compile(r"\{([^{}]*)\}")
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_selector(text):
    """The matchers of one LogQL stream selector body: [(label, op, value)]."""
    out, pos = [], 0
    while pos < len(text):
        m = MATCHER.match(text, pos)
        if not m:
            raise ValueError(f"bad selector {{{text}}}")
        out.append((m.group(1), m.group(2), m.group(3).replace('\\"', '"')))
        pos = m.end()
    return out


def matches(labels, matchers):
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None,
              "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


def logfmt_keys(line):
    return set(re.findall(r'(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=', line))


def check_logql(name, title, expr, streams, failures):
    """Every stream selector of `expr` (variables set to all values) must use only labels that
    the recorded streams carry and must select at least one of them; every grouping label must
    be a stream label of the selected streams or, after `| logfmt`, a key of their lines."""
    expr = fill(expr)
    selected = []
    for body in SELECTOR.findall(expr):
        try:
            matchers = parse_selector(body)
        except ValueError as e:
            failures.append(f"{name}: '{title}': {e}")
            return
        for label, _, _ in matchers:
            if not any(label in s["labels"] for s in streams):
                failures.append(f"{name}: '{title}': label '{label}' is not set by tender")
        hit = [s for s in streams if matches(s["labels"], matchers)]
        if not hit:
            failures.append(f"{name}: '{title}': {{{body}}} selects no stream tender sent")
        selected += hit
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        for label in [g.strip() for g in group.split(",") if g.strip()]:
            if any(label in s["labels"] for s in selected):
                continue
            if "| logfmt" in expr and any(label in logfmt_keys(l) for s in selected
                                          for l in s["lines"]):
                continue
            failures.append(f"{name}: '{title}': grouping label '{label}' is never set")


def fill(expr):
    # Template variables: every value ("All"), and a rate window that fits a 2 s interval.
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "10s")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$(cluster|node|namespace|pod|container)\b", ".*", expr)


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
        loki = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LokiSink)
        threading.Thread(target=loki.serve_forever, daemon=True).start()
        with open(f"{work}/app.log", "w") as f:
            f.write("started\n")
        with open(f"{work}/tender.yml", "w") as f:
            f.write(f"""global:
  scrape_interval: 2s
  scrape_timeout: 2s
  external_labels: {{cluster: ci}}
scrape_configs:
  - job_name: tender
    honor_labels: true
    static_configs: [{{targets: ['127.0.0.1:{tender}']}}]
  - job_name: node-exporter
    static_configs: [{{targets: ['127.0.0.1:{node}'], labels: {{node: node-1}}}}]
  - job_name: kube-state-metrics
    honor_labels: true
    metrics_path: /ksm/metrics
    static_configs: [{{targets: ['127.0.0.1:{fixture}']}}]
{cadvisor}logs:
  loki:
    - url: http://127.0.0.1:{loki.server_address[1]}/loki/api/v1/push
      batch_wait: 200ms
  files:
    - paths: [{work}/app.log]
      labels: {{job: app}}
remote_write:
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
            with open(f"{work}/app.log", "a") as f:
                f.write(f"line {time.time()}\n")
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
                if is_loki(v.get("datasource")):
                    continue  # LogQL: checked by --logql against what tender sent.
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
                if is_loki(p.get("datasource")):
                    continue
                for t in p["targets"]:
                    exprs += 1
                    r = query(prom, fill(t["expr"]))
                    if r.get("status") != "success":
                        failures.append(f"{name}: '{p['title']}': {r.get('error')}")
                    elif not r["data"]["result"]:
                        failures.append(f"{name}: '{p['title']}': no data for {t['expr']}")
        # tender's self metrics keep the job they describe (honor_labels on the tender job).
        r = query(prom, 'count(count by (job) (tender_scrape_samples_total{job!="tender"}))')
        if not r.get("data", {}).get("result") or int(r["data"]["result"][0]["value"][1]) < 2:
            failures.append(f"tender_scrape_samples_total lost its job label: {r}")
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


def check_logql_dashboards(src, record_path):
    """--logql SOURCE_DIR RECORD: RECORD is what a fake Loki received from tender running the
    logs section of config/tender.yml, as [{"selector": "{a=\"1\"}", "lines": [...]}]."""
    streams = []
    for s in json.load(open(record_path)):
        streams.append({"labels": {k: v for k, _, v in parse_selector(s["selector"][1:-1])},
                        "lines": s["lines"]})
    failures, exprs = [], 0
    for path in sorted(glob.glob(f"{src}/dashboards/*.json")):
        board = json.load(open(path))
        name = os.path.basename(path)
        for v in board["templating"]["list"]:
            if not is_loki(v.get("datasource")):
                continue
            exprs += 1
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", v["query"]["query"])
            if not m:
                failures.append(f"{name}: variable {v['name']}: unexpected query")
                continue
            check_logql(name, "variable " + v["name"], m.group(1), streams, failures)
            selected = [s for body in SELECTOR.findall(fill(m.group(1)))
                        for s in streams if matches(s["labels"], parse_selector(body))]
            if not any(m.group(2) in s["labels"] for s in selected):
                failures.append(f"{name}: variable {v['name']}: label {m.group(2)} never set")
        for p in board["panels"]:
            if p["type"] == "row" or not is_loki(p.get("datasource")):
                continue
            for t in p["targets"]:
                exprs += 1
                check_logql(name, p["title"], t["expr"], streams, failures)
    print(f"checked {exprs} LogQL expressions against {len(streams)} streams")
    if exprs == 0:
        failures.append("no LogQL expression found")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--logql":
        sys.exit(check_logql_dashboards(os.path.abspath(sys.argv[2]), sys.argv[3]))
    sys.exit(main())
