#!/usr/bin/env python3
"""A TCP proxy that makes loopback look like a wide-area link, for tests and benchmarks.

  wan_proxy.py --route 127.0.0.1:9400=127.0.0.1:9300 [--route ...] \\
      [--delay 0.75] [--jitter 0.05] [--bandwidth 1000000] \\
      [--reset-conn-prob 0.01] [--reset-every-bytes 1000000 --reset-prob 0.1] \\
      [--stats-port 0] [--stats-file FILE] [--print-every 10] [--seed 1]

Each --route LISTEN=UPSTREAM listens on LISTEN and forwards every accepted connection to a new
connection to UPSTREAM. Both directions get:

  --delay S         one-way delay in seconds, added to every chunk (round trip = 2 × S)
  --jitter S        plus a uniform random 0..S per chunk; chunks of one connection and direction
                    still arrive in order (a chunk is never delivered before the one before it)
  --bandwidth B     bytes per second per direction, shared by all connections like one link;
                    0 = unlimited

Chunks are timestamped when read and delivered by a per-direction writer task when due, so the
delay does not limit throughput or concurrency (every connection is served by its own tasks on
one asyncio loop).

Resets (the proxy closes both sides with SO_LINGER 0, so both peers see a TCP RST):

  --reset-conn-prob P                 each accepted connection is reset with probability P,
                                      after a uniformly random 0..--reset-window bytes
  --reset-every-bytes N --reset-prob Q after every N bytes forwarded on a connection (both
                                      directions together), reset it with probability Q

Partition: SIGUSR1 black-holes every connection open at that moment: from then on whatever
either peer sends on it is read and dropped, and the connection stays open, as when a network
partition has lost its state (a NAT or load balancer forgot it) while new connections work
(counted as `blackholed`).

Counting: connections accepted, upstream connections opened, upstream connect failures, resets,
bytes each way and connections active. They are printed every --print-every seconds (0 = never)
and at exit, written to --stats-file (JSON, rewritten atomically when they change, at most 10
times a second), and served as JSON on http://127.0.0.1:<stats-port>/ when --stats-port is given
(0 picks a free port; the chosen ports are printed as `listening ...` and `stats ...` lines).
"""
import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time

CHUNK = 64 * 1024


class Link:
    """One direction of the shared link: serialises chunks at --bandwidth bytes per second."""

    def __init__(self, bandwidth):
        self.bandwidth = bandwidth
        self.free_at = 0.0

    def transmit(self, now, size):
        """Returns when a chunk of `size` bytes read at `now` has left the link."""
        if self.bandwidth <= 0:
            return now
        start = max(now, self.free_at)
        self.free_at = start + size / self.bandwidth
        return self.free_at


class Proxy:
    """The proxy: listeners, per-connection pumps, counters. Runs on one asyncio loop."""

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.up_link = Link(args.bandwidth)    # client -> upstream
        self.down_link = Link(args.bandwidth)  # upstream -> client
        self.stats = {"accepted": 0, "upstream_opened": 0, "upstream_failed": 0, "resets": 0,
                      "peer_errors": 0, "active": 0, "bytes_up": 0, "bytes_down": 0,
                      "blackholed": 0}
        self.open_conns = {}  # id -> connection, for blackhole_all()
        self.dirty = True
        self.listen_ports = []

    def delay(self):
        a = self.args
        return a.delay + (self.rng.uniform(0, a.jitter) if a.jitter > 0 else 0.0)

    async def handle(self, upstream, creader, cwriter):
        self.stats["accepted"] += 1
        self.stats["active"] += 1
        self.dirty = True
        conn = {"bytes": 0, "reset_at": None, "next_check": self.args.reset_every_bytes,
                "done": False, "writers": [cwriter], "blackholed": False}
        self.open_conns[id(conn)] = conn
        if self.args.reset_conn_prob > 0 and self.rng.random() < self.args.reset_conn_prob:
            conn["reset_at"] = self.rng.randint(0, max(0, self.args.reset_window))
        try:
            try:
                ureader, uwriter = await asyncio.open_connection(*upstream)
            except OSError:
                self.stats["upstream_failed"] += 1
                return
            self.stats["upstream_opened"] += 1
            self.dirty = True
            conn["writers"].append(uwriter)
            if conn["reset_at"] == 0:
                self.reset(conn)
                return
            await asyncio.gather(
                self.pump(conn, creader, uwriter, self.up_link, "bytes_up"),
                self.pump(conn, ureader, cwriter, self.down_link, "bytes_down"))
        finally:
            self.open_conns.pop(id(conn), None)
            self.stats["active"] -= 1
            self.dirty = True
            for w in conn["writers"]:
                w.close()

    def blackhole_all(self):
        """From now on every connection open now drops what either side sends (SIGUSR1)."""
        for conn in self.open_conns.values():
            if not conn["blackholed"]:
                conn["blackholed"] = True
                self.stats["blackholed"] += 1
        self.dirty = True

    def reset(self, conn, injected=True):
        """Closes both sides of `conn` with an RST. `injected`: a reset the proxy chose (counted
        as `resets`), not one passed on because a peer failed (`peer_errors`)."""
        if conn["done"]:
            return
        conn["done"] = True
        self.stats["resets" if injected else "peer_errors"] += 1
        self.dirty = True
        for w in conn["writers"]:
            sock = w.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            w.transport.abort()

    def count(self, conn, n):
        """Adds `n` forwarded bytes to `conn`; returns True when the connection must be reset."""
        a = self.args
        conn["bytes"] += n
        if conn["reset_at"] is not None and conn["bytes"] >= conn["reset_at"]:
            return True
        while a.reset_every_bytes > 0 and conn["bytes"] >= conn["next_check"]:
            conn["next_check"] += a.reset_every_bytes
            if self.rng.random() < a.reset_prob:
                return True
        return False

    async def pump(self, conn, reader, writer, link, counter):
        """Reads chunks from `reader` and delivers each to `writer` when it is due, in order."""
        queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if conn["done"]:
                    return
                if conn["blackholed"]:
                    continue  # Lost in the partition, EOF included.
                if data is None:  # EOF from the reader: half-close towards the peer.
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                self.stats[counter] += len(data)
                self.dirty = True
                if self.count(conn, len(data)):
                    self.reset(conn)
                    return
                await writer.drain()

        async def deliver_or_reset():
            try:
                await deliver()
            except (ConnectionError, OSError):
                self.reset(conn, injected=False)

        task = asyncio.ensure_future(deliver_or_reset())
        last_due = 0.0
        try:
            while not conn["done"]:
                data = await reader.read(CHUNK)
                now = loop.time()
                if not data:
                    break
                if conn["blackholed"]:
                    continue  # Lost in the partition.
                # Serialisation on the shared link, then propagation; never before the previous
                # chunk of this direction, so order is kept.
                due = max(link.transmit(now, len(data)) + self.delay(), last_due)
                last_due = due
                queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            self.reset(conn, injected=False)
        # EOF (or an error) travels behind the data, with the same delay.
        queue.put_nowait((max(loop.time() + self.delay(), last_due), None))
        await task

    def snapshot(self):
        return dict(self.stats, listen_ports=self.listen_ports)

    async def write_stats_file(self):
        path = self.args.stats_file
        while True:
            if self.dirty:
                self.dirty = False
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.snapshot(), f)
                    f.write("\n")
                os.replace(tmp, path)
            await asyncio.sleep(0.1)

    async def serve_stats(self, reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = json.dumps(self.snapshot()).encode() + b"\n"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def print_stats(self):
        print("stats " + json.dumps(self.snapshot()), flush=True)

    async def printer(self):
        while True:
            await asyncio.sleep(self.args.print_every)
            self.print_stats()

    async def run(self):
        servers = []
        for listen, upstream in self.args.route:
            server = await asyncio.start_server(
                lambda r, w, up=upstream: self.handle(up, r, w), listen[0], listen[1],
                reuse_address=True, backlog=1024)
            port = server.sockets[0].getsockname()[1]
            self.listen_ports.append(port)
            print(f"listening {listen[0]}:{port} -> {upstream[0]}:{upstream[1]}", flush=True)
            servers.append(server)
        if self.args.stats_port is not None:
            server = await asyncio.start_server(self.serve_stats, "127.0.0.1",
                                                self.args.stats_port, reuse_address=True)
            print(f"stats http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
            servers.append(server)
        tasks = []
        if self.args.stats_file:
            tasks.append(asyncio.ensure_future(self.write_stats_file()))
        if self.args.print_every > 0:
            tasks.append(asyncio.ensure_future(self.printer()))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, self.blackhole_all)
        await stop.wait()
        for s in servers:
            s.close()
        for t in tasks:
            t.cancel()
        self.print_stats()


def host_port(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def route(text):
    listen, sep, upstream = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("write LISTEN_HOST:PORT=UPSTREAM_HOST:PORT")
    return host_port(listen), host_port(upstream)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--route", type=route, action="append", required=True,
                    help="LISTEN_HOST:PORT=UPSTREAM_HOST:PORT (port 0: pick a free one)")
    ap.add_argument("--delay", type=float, default=0.0, help="one-way delay, seconds")
    ap.add_argument("--jitter", type=float, default=0.0, help="extra uniform 0..S per chunk")
    ap.add_argument("--bandwidth", type=float, default=0.0, help="bytes/s per direction; 0 = off")
    ap.add_argument("--reset-conn-prob", type=float, default=0.0)
    ap.add_argument("--reset-window", type=int, default=0,
                    help="a connection picked by --reset-conn-prob is reset after a random "
                         "0..N bytes")
    ap.add_argument("--reset-every-bytes", type=int, default=0)
    ap.add_argument("--reset-prob", type=float, default=0.0)
    ap.add_argument("--stats-port", type=int, default=None)
    ap.add_argument("--stats-file", default=None)
    ap.add_argument("--print-every", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    asyncio.run(Proxy(args).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
