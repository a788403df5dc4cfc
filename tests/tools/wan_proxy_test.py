#!/usr/bin/env python3
"""Tests for wan_proxy.py: added delay, order under jitter, bandwidth cap, resets, counting,
black-holing (SIGUSR1).

Each test starts the proxy as a subprocess in front of an echo server on a free loopback port
and talks to it with plain sockets. Standard library only.
"""
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "wan_proxy.py")


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def wait_for(predicate, timeout=10.0, what="condition"):
    """Polls `predicate` until it returns a true value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


class WanProxyTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer(("127.0.0.1", 0), EchoHandler)
        threading.Thread(target=self.echo.serve_forever, daemon=True).start()
        self.proc = None

    def tearDown(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
        self.echo.shutdown()
        self.echo.server_close()

    def start_proxy(self, *flags):
        """Starts the proxy with `flags`; sets self.port and self.stats_url."""
        echo_port = self.echo.server_address[1]
        self.proc = subprocess.Popen(
            [sys.executable, PROXY, "--route", f"127.0.0.1:0=127.0.0.1:{echo_port}",
             "--stats-port", "0", "--seed", "7", *flags],
            stdout=subprocess.PIPE, text=True)
        listening = self.proc.stdout.readline().split()
        self.assertEqual(listening[0], "listening")
        self.port = int(listening[1].rsplit(":", 1)[1])
        stats = self.proc.stdout.readline().split()
        self.assertEqual(stats[0], "stats")
        self.stats_url = stats[1]

    def stats(self):
        with urllib.request.urlopen(self.stats_url, timeout=5) as r:
            return json.load(r)

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def test_round_trip_is_delayed_by_twice_the_one_way_delay(self):
        self.start_proxy("--delay", "0.25")
        with self.connect() as s:
            start = time.monotonic()
            s.sendall(b"ping")
            self.assertEqual(recv_exactly(s, 4), b"ping")
            elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.5)

    def test_jitter_keeps_the_byte_order(self):
        self.start_proxy("--delay", "0.02", "--jitter", "0.05")
        sent = b"".join(b"%05d;" % i for i in range(400))
        with self.connect() as s:
            for i in range(0, len(sent), 6):
                s.sendall(sent[i:i + 6])
            self.assertEqual(recv_exactly(s, len(sent)), sent)

    def test_bandwidth_cap_paces_the_transfer(self):
        self.start_proxy("--bandwidth", "400000")
        payload = os.urandom(200_000)
        with self.connect() as s:
            start = time.monotonic()
            threading.Thread(target=s.sendall, args=(payload,), daemon=True).start()
            self.assertEqual(recv_exactly(s, len(payload)), payload)
            elapsed = time.monotonic() - start
        # 200 kB each way over a 400 kB/s link: at least 0.5 s, whatever the chunking.
        self.assertGreaterEqual(elapsed, 0.45)

    def test_connection_reset_with_probability_one(self):
        self.start_proxy("--reset-conn-prob", "1")
        with self.connect() as s:
            with self.assertRaises(ConnectionResetError):
                s.sendall(b"hello")
                if not s.recv(10):
                    raise AssertionError("orderly close instead of a reset")
        wait_for(lambda: self.stats()["resets"] == 1, what="one reset counted")

    def test_reset_after_n_bytes(self):
        self.start_proxy("--reset-every-bytes", "10000", "--reset-prob", "1")
        received = b""
        with self.connect() as s:
            with self.assertRaises(ConnectionResetError):
                for _ in range(100):
                    s.sendall(b"x" * 1000)
                    chunk = s.recv(65536)
                    if not chunk:
                        raise AssertionError("orderly close instead of a reset")
                    received += chunk
        self.assertLess(len(received), 100 * 1000)
        wait_for(lambda: self.stats()["resets"] == 1, what="one reset counted")

    def test_sigusr1_blackholes_open_connections_only(self):
        import signal
        self.start_proxy()
        old = self.connect()
        self.addCleanup(old.close)
        old.sendall(b"before")
        self.assertEqual(recv_exactly(old, 6), b"before")
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: self.stats()["blackholed"] == 1, what="one connection black-holed")
        # The old connection stays open but nothing gets through any more.
        old.sendall(b"after")
        old.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            old.recv(10)
        # A new connection works.
        with self.connect() as new:
            new.sendall(b"fresh")
            self.assertEqual(recv_exactly(new, 5), b"fresh")
        self.assertEqual(self.stats()["blackholed"], 1)

    def test_counts_connections_and_serves_them_concurrently(self):
        stats_file = os.path.join(
            os.environ.get("TMPDIR", "/tmp"), f"wan_proxy_test_{os.getpid()}.json")
        self.addCleanup(lambda: os.path.exists(stats_file) and os.remove(stats_file))
        self.start_proxy("--delay", "0.3", "--stats-file", stats_file)
        socks = [self.connect() for _ in range(5)]
        try:
            for i, s in enumerate(socks):
                s.sendall(b"conn%d" % i)
            # All five are open through the proxy at once, while their data is still delayed.
            def all_open():
                st = self.stats()
                return st if st["active"] == 5 and st["upstream_opened"] == 5 else None

            st = wait_for(all_open, what="five connections open upstream")
            self.assertEqual(st["accepted"], 5)
            self.assertEqual(st["upstream_opened"], 5)
            for i, s in enumerate(socks):
                self.assertEqual(recv_exactly(s, 5), b"conn%d" % i)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: self.stats()["active"] == 0, what="connections closed")
        st = self.stats()
        self.assertEqual(st["accepted"], 5)
        self.assertEqual(st["upstream_opened"], 5)
        self.assertEqual(st["resets"], 0)
        self.assertEqual(st["bytes_up"], 25)
        self.assertEqual(st["bytes_down"], 25)

        def file_says_closed():
            try:
                with open(stats_file) as f:
                    data = json.load(f)
            except (OSError, ValueError):
                return None
            return data if data["active"] == 0 and data["accepted"] == 5 else None

        self.assertEqual(wait_for(file_says_closed, what="stats file")["upstream_opened"], 5)


if __name__ == "__main__":
    unittest.main()
