#!/usr/bin/env python3
"""End-to-end benchmark: tender, vmagent and Prometheus agent on the same targets and receiver.

Run through bench/e2e/run (which installs and builds what this needs). For every sweep point
(N simulated nodes, scrape interval) the agents run in turn, A B C A B C ..., each with a fresh
data directory, the same scrape config (kube-state-metrics once, cAdvisor and node-exporter per
node, served by targets.py) and the same remote-write receiver (counting_receiver). Each run has
a warm-up, then a measurement window in which:

  samples/s       samples decoded by the receiver in the window / window length
  CPU s / M       (utime + stime of the agent, /proc/PID/stat) per million delivered samples
  steady RSS      median of VmRSS sampled every second in the window
  peak RSS        VmHWM at the end of the window (start-up included)
  B/series        steady RSS / distinct series the receiver saw in the window
  B/sample        snappy-compressed request bytes / samples

With --wan the targets are reached through tests/tools/wan_proxy.py (--wan-rtt, default 1.5 s)
and the report adds scrape success (`up` == 1 share) and scrape duration
(`scrape_duration_seconds`, as each agent reports it in what it sends) and the number of TCP
connections each agent opened through the proxy.

Results: DIR/results.json (every run), DIR/results.md (tables), DIR/e2e.png (plot).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TICKS = os.sysconf("SC_CLK_TCK")
AGENTS = ("tender", "vmagent", "prometheus")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def http_post(url, timeout=30):
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def wait_http(url, timeout=60, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            http_get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Procs:
    """Child processes started by the benchmark, stopped newest first."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log_dir, **kw):
        log = open(os.path.join(log_dir, name + ".log"), "wb")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)
        p.log = log
        p.name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.log.close()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, timeout=10)


def scrape_config(nodes, interval, host_port_of, with_remote_write, receiver_url):
    """The Prometheus-style config every agent gets. `host_port_of(host)` maps a target host to
    the host:port to scrape (the targets server, or the WAN proxy in front of it)."""
    timeout = min(10, interval)
    lines = [
        "global:",
        f"  scrape_interval: {interval}s",
        f"  scrape_timeout: {timeout}s",
        "scrape_configs:",
        "  - job_name: kube-state-metrics",
        "    metrics_path: /ksm/metrics",
        "    static_configs:",
        f"      - targets: ['{host_port_of('127.0.0.1')}']",
        "  - job_name: kubelet-cadvisor",
        "    metrics_path: /metrics/cadvisor",
        "    static_configs:",
        "      - targets:",
    ]
    lines += [f"          - '{host_port_of(f'127.0.1.{i}')}'" for i in range(1, nodes + 1)]
    lines += ["  - job_name: node-exporter", "    static_configs:", "      - targets:"]
    lines += [f"          - '{host_port_of(f'127.0.1.{i}')}'" for i in range(1, nodes + 1)]
    if with_remote_write:
        lines += ["remote_write:", f"  - url: {receiver_url}"]
    return "\n".join(lines) + "\n"


def agent_command(agent, binaries, config, data_dir, port, receiver_url):
    if agent == "tender":
        return [binaries["tender"], f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={data_dir}",
                "--log.level=warn"]
    if agent == "vmagent":
        return [binaries["vmagent"], f"-promscrape.config={config}",
                f"-remoteWrite.url={receiver_url}", f"-remoteWrite.tmpDataPath={data_dir}",
                f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=WARN"]
    if agent == "prometheus":
        return [binaries["prometheus"], "--enable-feature=agent", f"--config.file={config}",
                f"--storage.agent.path={data_dir}", f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn"]
    raise ValueError(agent)


def ready_url(agent, port):
    return {"tender": f"http://127.0.0.1:{port}/-/ready",
            "vmagent": f"http://127.0.0.1:{port}/health",
            "prometheus": f"http://127.0.0.1:{port}/-/ready"}[agent]


def run_one(args, procs, agent, point, rep, work, receiver, aux_procs, proxy_stats_url):
    nodes, interval = point
    tag = f"{agent}-n{nodes}-i{interval}-r{rep}"
    run_dir = os.path.join(work, tag)
    os.makedirs(run_dir, exist_ok=True)
    port = free_port()
    cfg_name = "scrape-rw.yml" if agent != "vmagent" else "scrape.yml"
    config = os.path.join(work, f"n{nodes}-i{interval}-{cfg_name}")
    cmd = agent_command(agent, args.binaries, config, os.path.join(run_dir, "data"), port,
                        receiver["url"])
    warmup = args.warmup_intervals * interval + args.warmup_extra
    window = max(args.measure_intervals * interval, args.min_window)
    print(f"[{time.strftime('%H:%M:%S')}] {tag}: warm-up {warmup} s, window {window} s",
          flush=True)
    start = time.monotonic()
    p = procs.start(tag, cmd, run_dir)
    try:
        wait_http(ready_url(agent, port), timeout=60, proc=p)
        time.sleep(max(0.0, warmup - (time.monotonic() - start)))
        if p.poll() is not None:
            raise RuntimeError(f"{tag} exited with {p.returncode}")
        conns0 = json.loads(http_get(proxy_stats_url)) if proxy_stats_url else None
        http_post(receiver["stats"].replace("/stats", "/reset"))
        aux0 = {name: cpu_seconds(h.pid) for name, h in aux_procs.items()}
        cpu0 = cpu_seconds(p.pid)
        t0 = time.monotonic()
        rss = []
        while time.monotonic() - t0 < window:
            rss.append(status_kb(p.pid, "VmRSS") * 1024)
            time.sleep(1.0)
        stats = json.loads(http_get(receiver["stats"]))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(p.pid) - cpu0
        aux_cpu = {name: cpu_seconds(h.pid) - aux0[name] for name, h in aux_procs.items()}
        peak = status_kb(p.pid, "VmHWM") * 1024
        conns1 = json.loads(http_get(proxy_stats_url)) if proxy_stats_url else None
    finally:
        procs.stop(p)
    samples = stats["samples"]
    steady = statistics.median(rss)
    row = {
        "agent": agent, "nodes": nodes, "interval": interval, "rep": rep, "window_s": elapsed,
        "samples": samples, "samples_per_s": samples / elapsed,
        "cpu_s": cpu, "cpu_s_per_m": cpu / (samples / 1e6) if samples else None,
        "cpu_share": cpu / elapsed,
        "rss_steady": steady, "rss_peak": peak,
        "series": stats["distinct_series"],
        "rss_per_series": steady / stats["distinct_series"] if stats["distinct_series"] else None,
        "bytes_per_sample": stats["compressed_bytes"] / samples if samples else None,
        "requests": stats["requests"], "bad_requests": stats["bad_requests"],
        "up_samples": stats["up_samples"], "up_ok": stats["up_ok"],
        "scrape_success": stats["up_ok"] / stats["up_samples"] if stats["up_samples"] else None,
        "scrape_duration_mean": (stats["duration_sum"] / stats["duration_samples"]
                                 if stats["duration_samples"] else None),
        "scrape_duration_max": stats["duration_max"],
        "aux_cpu_share": {k: v / elapsed for k, v in aux_cpu.items()},
    }
    if conns0 is not None:
        row["proxy_connections"] = conns1["upstream_opened"] - conns0["upstream_opened"]
        row["proxy_resets"] = conns1["resets"] - conns0["resets"]
    print(f"    {samples / elapsed:,.0f} samples/s, {row['series']:,} series, "
          f"CPU {cpu:.2f} s ({row['cpu_s_per_m'] or 0:.3f} s/M), RSS {steady / 2**20:.1f} MiB "
          f"(peak {peak / 2**20:.1f}), {row['bytes_per_sample'] or 0:.2f} B/sample, "
          f"up {row['scrape_success']}, aux_procs {row['aux_cpu_share']}", flush=True)
    return row


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def mmm(values, spec):
    """min / median / max of a list, formatted."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return format(vals[0], spec)
    return (f"{format(min(vals), spec)} / **{format(statistics.median(vals), spec)}** / "
            f"{format(max(vals), spec)}")


def report(rows, wan):
    """Markdown tables: per point and agent (medians), then tender's ratios per point."""
    out = []
    points = sorted({(r["nodes"], r["interval"]) for r in rows})
    agents = [a for a in AGENTS if any(r["agent"] == a for r in rows)]
    med = lambda rs, k: (statistics.median([r[k] for r in rs if r[k] is not None])
                         if any(r[k] is not None for r in rs) else None)
    out.append("| nodes | interval | agent | runs | series | samples/s | CPU s per M samples "
               "| CPU % of a core | steady RSS MiB | peak RSS MiB | RSS B/series | B/sample |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, i in points:
        for a in agents:
            rs = [r for r in rows if (r["nodes"], r["interval"], r["agent"]) == (n, i, a)]
            if not rs:
                continue
            out.append(
                f"| {n} | {i} s | {a} | {len(rs)} | {fmt(med(rs, 'series'), ',.0f')} "
                f"| {fmt(med(rs, 'samples_per_s'), ',.0f')} "
                f"| {mmm([r['cpu_s_per_m'] for r in rs], '.3f')} "
                f"| {fmt(100 * med(rs, 'cpu_share'), '.1f')} "
                f"| {mmm([r['rss_steady'] / 2**20 for r in rs], '.1f')} "
                f"| {mmm([r['rss_peak'] / 2**20 for r in rs], '.1f')} "
                f"| {fmt(med(rs, 'rss_per_series'), '.0f')} "
                f"| {fmt(med(rs, 'bytes_per_sample'), '.2f')} |")
    out.append("")
    out.append("Ratios tender / other, min / **median** / max over the repetitions (repetition k "
               "of tender against repetition k of the other agent; below 1 = tender uses less):")
    out.append("")
    out.append("| nodes | interval | vs | CPU per sample | peak RSS | steady RSS | B/sample "
               "| samples/s |")
    out.append("|---|---|---|---|---|---|---|---|")
    for n, i in points:
        t = {r["rep"]: r for r in rows if (r["nodes"], r["interval"], r["agent"]) ==
             (n, i, "tender")}
        for other in [a for a in agents if a != "tender"]:
            o = {r["rep"]: r for r in rows if (r["nodes"], r["interval"], r["agent"]) ==
                 (n, i, other)}
            reps = sorted(set(t) & set(o))
            if not reps:
                continue

            def ratio(key):
                return [t[k][key] / o[k][key] for k in reps
                        if t[k][key] is not None and o[k][key]]

            out.append(f"| {n} | {i} s | {other} | {mmm(ratio('cpu_s_per_m'), '.2f')} "
                       f"| {mmm(ratio('rss_peak'), '.2f')} | {mmm(ratio('rss_steady'), '.2f')} "
                       f"| {mmm(ratio('bytes_per_sample'), '.2f')} "
                       f"| {mmm(ratio('samples_per_s'), '.3f')} |")
    if wan:
        out.append("")
        out.append("Through the WAN proxy:")
        out.append("")
        out.append("| nodes | interval | agent | scrape success | scrape duration mean s "
                   "| max s | TCP connections opened in the window |")
        out.append("|---|---|---|---|---|---|---|")
        for n, i in points:
            for a in agents:
                rs = [r for r in rows if (r["nodes"], r["interval"], r["agent"]) == (n, i, a)]
                if rs:
                    out.append(
                        f"| {n} | {i} s | {a} | {fmt(med(rs, 'scrape_success'), '.4f')} "
                        f"| {fmt(med(rs, 'scrape_duration_mean'), '.3f')} "
                        f"| {fmt(max(r['scrape_duration_max'] for r in rs), '.3f')} "
                        f"| {fmt(med(rs, 'proxy_connections'), '.0f')} |")
    return "\n".join(out) + "\n"


def plot(rows, path):
    """CPU per delivered sample, steady and peak RSS against active series, per agent and
    interval. The x value of a sweep point is the median series count over all agents."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colors = {"tender": "tab:green", "vmagent": "tab:blue", "prometheus": "tab:orange"}
    intervals = sorted({r["interval"] for r in rows}, reverse=True)
    styles = dict(zip(intervals, ["-", "--", ":"]))
    x_of = {n: statistics.median([r["series"] for r in rows if r["nodes"] == n])
            for n in {r["nodes"] for r in rows}}
    panels = (("CPU seconds per million delivered samples", lambda r: r["cpu_s_per_m"] or 0,
               False),
              ("steady RSS (MiB, log scale)", lambda r: r["rss_steady"] / 2**20, True),
              ("peak RSS (MiB, log scale)", lambda r: r["rss_peak"] / 2**20, True))
    for ax, (title, value, log_y) in zip(axes, panels):
        for a in AGENTS:
            for i in intervals:
                rs = [r for r in rows if r["agent"] == a and r["interval"] == i]
                if not rs:
                    continue
                ns = sorted({r["nodes"] for r in rs})
                ys = [statistics.median([value(r) for r in rs if r["nodes"] == n]) for n in ns]
                ax.plot([x_of[n] for n in ns], ys, styles[i], marker="o", color=colors[a],
                        label=f"{a}, {i} s")
        ax.set_title(title)
        ax.set_xlabel("active series")
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
        if log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(rows, work, wan):
    table = report(rows, wan)
    with open(os.path.join(work, "results.md"), "w") as f:
        f.write(table)
    print(table)
    try:
        plot(rows, os.path.join(work, "e2e.png"))
        print(f"plot: {os.path.join(work, 'e2e.png')}")
    except ImportError as e:
        print(f"no plot: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tender")
    ap.add_argument("--receiver", help="counting_receiver binary")
    ap.add_argument("--report-only", nargs="+", metavar="RESULTS_JSON[:SECTION]",
                    help="merge these results.json files (or named sections of a file such as "
                         "results-2026-12-01.json) into one report in --out; run nothing")
    ap.add_argument("--vmagent", default="vmagent")
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--nodes", default="10,50,200")
    ap.add_argument("--intervals", default="15,5")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--agents", default=",".join(AGENTS))
    ap.add_argument("--warmup-intervals", type=float, default=2)
    ap.add_argument("--warmup-extra", type=float, default=5)
    ap.add_argument("--measure-intervals", type=float, default=4)
    ap.add_argument("--min-window", type=float, default=30)
    ap.add_argument("--quick", action="store_true",
                    help="N=10 at 5 s, one repetition, short warm-up and window")
    ap.add_argument("--wan", action="store_true", help="targets behind wan_proxy.py")
    ap.add_argument("--wan-rtt", type=float, default=1.5)
    ap.add_argument("--wan-jitter", type=float, default=0.0)
    ap.add_argument("--wan-bandwidth", type=float, default=0.0, help="bytes/s; 0 = unlimited")
    ap.add_argument("--wan-reset-every-bytes", type=int, default=0,
                    help="with --wan-reset-prob: maybe reset a connection every N bytes")
    ap.add_argument("--wan-reset-prob", type=float, default=0.0)
    ap.add_argument("--gzip-stamped", action="store_true",
                    help="gzip the timestamped cAdvisor bodies too (costs the server CPU)")
    ap.add_argument("--port", type=int, default=0, help="targets port (0: a free one)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build-e2e-results"))
    args = ap.parse_args()
    if args.report_only:
        rows = []
        for spec in args.report_only:
            # FILE, or FILE:SECTION for a file that keeps several runs under named sections.
            path, _, section = spec.partition(":")
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                if section not in data:
                    ap.error(f"{path}: name a section: {', '.join(sorted(data))}")
                data = data[section]
            rows += data
        os.makedirs(args.out, exist_ok=True)
        write_report(rows, args.out, any("proxy_connections" in r for r in rows))
        return 0
    if not args.tender or not args.receiver:
        ap.error("--tender and --receiver are required")
    if args.quick:
        args.nodes, args.intervals, args.reps = "10", "5", 1
        args.warmup_intervals, args.measure_intervals, args.min_window = 2, 3, 15
    args.binaries = {"tender": args.tender, "vmagent": args.vmagent,
                     "prometheus": args.prometheus}
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    points = [(int(n), int(i)) for n in args.nodes.split(",") for i in args.intervals.split(",")]

    work = os.path.abspath(args.out)
    os.makedirs(work, exist_ok=True)
    procs = Procs()
    rows = []
    results_json = os.path.join(work, "results.json")

    def handle_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle_term)
    try:
        rport_file = os.path.join(work, "receiver.port")
        if os.path.exists(rport_file):
            os.remove(rport_file)
        receiver_proc = procs.start("receiver", [args.receiver, f"--port-file={rport_file}"],
                                    work)
        deadline = time.monotonic() + 10
        while not os.path.exists(rport_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        rport = int(open(rport_file).read())
        receiver = {"url": f"http://127.0.0.1:{rport}/api/v1/write",
                    "stats": f"http://127.0.0.1:{rport}/stats"}
        for n in sorted({p[0] for p in points}):
            tport = args.port or free_port()
            cmd = [sys.executable, os.path.join(HERE, "targets.py"), "--nodes", str(n),
                   "--port", str(tport)]
            if args.gzip_stamped:
                cmd.append("--gzip-stamped")
            targets = procs.start(f"targets-n{n}", cmd, work)
            wait_http(f"http://127.0.0.1:{tport}/healthz", timeout=900, proc=targets)
            aux_procs = {"receiver": receiver_proc, "targets": targets}
            host_port_of = lambda host: f"{host}:{tport}"
            proxy_stats_url = None
            proxy = None
            if args.wan:
                pport = free_port()
                hosts = ["127.0.0.1"] + [f"127.0.1.{i}" for i in range(1, n + 1)]
                cmd = [sys.executable, os.path.join(ROOT, "tests", "tools", "wan_proxy.py"),
                       "--delay", str(args.wan_rtt / 2), "--jitter", str(args.wan_jitter),
                       "--bandwidth", str(args.wan_bandwidth), "--stats-port", "0",
                       "--reset-every-bytes", str(args.wan_reset_every_bytes),
                       "--reset-prob", str(args.wan_reset_prob), "--seed", "1"]
                for h in hosts:
                    cmd += ["--route", f"{h}:{pport}={h}:{tport}"]
                proxy = procs.start(f"wan-proxy-n{n}", cmd, work)
                log = os.path.join(work, f"wan-proxy-n{n}.log")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and proxy_stats_url is None:
                    for line in open(log):
                        if line.startswith("stats http"):
                            proxy_stats_url = line.split()[1]
                    time.sleep(0.1)
                aux_procs["wan_proxy"] = proxy
                host_port_of = lambda host: f"{host}:{pport}"
            for _, i in [p for p in points if p[0] == n]:
                for name, rw in (("scrape-rw.yml", True), ("scrape.yml", False)):
                    with open(os.path.join(work, f"n{n}-i{i}-{name}"), "w") as f:
                        f.write(scrape_config(n, i, host_port_of, rw, receiver["url"]))
                for rep in range(1, args.reps + 1):
                    for agent in agents:
                        rows.append(run_one(args, procs, agent, (n, i), rep, work, receiver,
                                            aux_procs, proxy_stats_url))
                        with open(results_json, "w") as f:
                            json.dump(rows, f, indent=1)
            if proxy is not None:
                procs.stop(proxy)
            procs.stop(targets)
    except KeyboardInterrupt:
        print("interrupted: reporting what was measured", flush=True)
    finally:
        procs.stop_all()
    if not rows:
        return 1
    write_report(rows, work, args.wan)
    print(f"results: {results_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
