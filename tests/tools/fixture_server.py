#!/usr/bin/env python3
"""Serves realistic exporter expositions for the demo and end-to-end benchmarks.

  /ksm/metrics                      kube-state-metrics for the whole simulated cluster
  /nodes/<node>/metrics/cadvisor    kubelet cAdvisor metrics of one node
  /node-exporter/metrics            a node-exporter-like exposition
  /healthz                          200

Expositions are generated once at start by gen_fixtures.py. Trailing sample timestamps (the
kubelet stamps every cAdvisor sample) are rewritten to the time of the request, as a live
kubelet would, so receivers accept them. gzip is used when the client asks for it.
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
TS_RE = re.compile(rb" \d{13}$", re.M)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def generate(kind, out, extra):
    cmd = [sys.executable, os.path.join(HERE, "gen_fixtures.py"), "--kind", kind, "--out", out]
    subprocess.run(cmd + extra, check=True)
    with open(out, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9300)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tender-fixtures-")
    bodies = {"/ksm/metrics": generate("ksm", os.path.join(tmp, "ksm.txt"), []),
              "/node-exporter/metrics": generate("node", os.path.join(tmp, "node.txt"), [])}
    for i in range(1, args.nodes + 1):
        node = f"node-{i}"
        bodies[f"/nodes/{node}/metrics/cadvisor"] = generate(
            "cadvisor", os.path.join(tmp, f"cadvisor-{node}.txt"),
            ["--node", node, "--seed", str(i)])
    stamped = {path for path, body in bodies.items() if TS_RE.search(body)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # Quiet: one line per request is too much.
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                body = b"ok\n"
            elif path in bodies:
                body = bodies[path]
                if path in stamped:
                    now = b" %d" % int(time.time() * 1000)
                    body = TS_RE.sub(now, body)
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, compresslevel=1)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"fixture server on {args.host}:{args.port}: {', '.join(sorted(bodies))}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
