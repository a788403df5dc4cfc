#!/usr/bin/env python3
"""Serves the end-to-end benchmark's scrape targets for N simulated nodes, on loopback only.

Every simulated node has its own address, 127.0.1.<i> (i = 1..N; Linux routes all of 127/8 to
the loopback interface), and answers on the same port:

  http://127.0.1.<i>:PORT/metrics/cadvisor   kubelet cAdvisor metrics of node-<i> (timestamped)
  http://127.0.1.<i>:PORT/metrics            node-exporter-like exposition
  http://127.0.0.1:PORT/ksm/metrics          kube-state-metrics for the whole cluster
  http://127.0.0.1:PORT/healthz              200
  http://127.0.0.1:PORT/stats                requests and bytes served, as JSON

Expositions come from tests/tools/gen_fixtures.py (cached in --cache-dir). Trailing sample
timestamps are set to the time of the request, as a live kubelet does, by joining precomputed
pieces (no regex per request). Bodies without timestamps are gzipped once and served gzipped to
clients that ask. Timestamped (cAdvisor) bodies change on every request, and gzipping 2 MB costs
40-90 ms of CPU here, more than the agents spend on it: they are sent uncompressed (a server may
ignore Accept-Encoding) unless --gzip-stamped, which gzips them per request on worker threads.

One asyncio loop, HTTP/1.1 keep-alive; the only per-request work is the join and the gzip.
"""
import argparse
import asyncio
import concurrent.futures
import gzip
import json
import os
import re
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tools"))
import gen_fixtures  # noqa: E402

TS_RE = re.compile(rb" \d{13}(?=\n)")
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def fixture(cache_dir, kind, node, seed):
    """Returns the exposition bytes of one fixture, generating and caching it on first use."""
    path = os.path.join(cache_dir, f"{kind}-{node}-{seed}.txt")
    if not os.path.exists(path):
        args = types.SimpleNamespace(node=node, seed=seed, pods=None, scale=1.0)
        text = gen_fixtures.GENERATORS[kind](args).text()
        with open(path + ".tmp", "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    with open(path, "rb") as f:
        return f.read()


class Body:
    """One exposition, ready to serve: static (with its gzip form) or timestamped pieces."""

    def __init__(self, data):
        self.pieces = TS_RE.split(data)
        self.stamped = len(self.pieces) > 1
        self.data = data
        self.gz = None if self.stamped else gzip.compress(data, compresslevel=1)

    def render(self, want_gzip):
        if not self.stamped:
            return (self.gz, True) if want_gzip else (self.data, False)
        now = b" %d" % int(time.time() * 1000)
        data = now.join(self.pieces)
        if want_gzip:
            return gzip.compress(data, compresslevel=1), True
        return data, False


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=9300)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--cache-dir", default=os.path.join("/tmp", "tender-e2e-fixtures"))
    ap.add_argument("--gzip-stamped", action="store_true",
                    help="gzip timestamped bodies too, per request, when the client asks")
    ap.add_argument("--workers", type=int, default=2, help="threads that gzip timestamped bodies")
    args = ap.parse_args()
    if not 1 <= args.nodes <= 254:
        ap.error("--nodes must be 1..254 (one 127.0.1.x address each)")
    os.makedirs(args.cache_dir, exist_ok=True)

    node_body = Body(fixture(args.cache_dir, "node", "node", 1))
    ksm = Body(fixture(args.cache_dir, "ksm", "ip-172-20-31-7", 1))
    cadvisor = {}
    for i in range(1, args.nodes + 1):
        cadvisor[f"127.0.1.{i}"] = Body(fixture(args.cache_dir, "cadvisor", f"node-{i}", i))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.workers)
    stats = {"requests": 0, "bytes": 0, "errors": 0}

    def route(host, path):
        if host == "127.0.0.1":
            if path == "/ksm/metrics":
                return ksm
        elif host in cadvisor:
            if path == "/metrics/cadvisor":
                return cadvisor[host]
            if path == "/metrics":
                return node_body
        return None

    async def handle(reader, writer):
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) < 2:
                    break
                path = parts[1].split("?", 1)[0]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                close = headers.get("connection", "").lower() == "close"
                body = route(host, path)
                extra = b""
                if path == "/healthz":
                    status, data = b"200 OK", b"ok\n"
                elif path == "/stats":
                    status, data = b"200 OK", json.dumps(stats).encode() + b"\n"
                elif body is None:
                    status, data = b"404 Not Found", b"not found\n"
                    stats["errors"] += 1
                else:
                    want = "gzip" in headers.get("accept-encoding", "")
                    if body.stamped and not args.gzip_stamped:
                        want = False
                    if body.stamped and want:
                        data, gz = await asyncio.get_running_loop().run_in_executor(
                            pool, body.render, True)
                    else:
                        data, gz = body.render(want)
                    status = b"200 OK"
                    extra = b"Content-Type: " + CONTENT_TYPE + b"\r\n"
                    if gz:
                        extra += b"Content-Encoding: gzip\r\n"
                    stats["requests"] += 1
                    stats["bytes"] += len(data)
                writer.write(b"HTTP/1.1 " + status + b"\r\n" + extra +
                             b"Content-Length: %d\r\n" % len(data) +
                             (b"Connection: close\r\n" if close else b"") + b"\r\n")
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def serve():
        hosts = ["127.0.0.1"] + sorted(cadvisor)
        server = await asyncio.start_server(handle, host=hosts, port=args.port, backlog=1024,
                                            reuse_address=True)
        print(f"targets: {args.nodes} nodes on 127.0.1.1-{args.nodes}:{args.port}, "
              f"ksm on 127.0.0.1:{args.port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
