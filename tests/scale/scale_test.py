#!/usr/bin/env python3
"""Scaling out: three real stylizer-server processes behind one gRPC target.

Starts three servers (fp32, one thread each) on free loopback ports and calls
them through one `ipv4:a:p,b:p,c:p` target with the `stylizer` CLI. Each
server's /metrics tells which replica served which calls.

Environment: STYLIZER_CLI, STYLIZER_SERVER_BIN, STYLIZER_TEST_MODEL (set by
CTest), or STYLIZER_BUILD_DIR to find them.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BUILD = os.environ.get("STYLIZER_BUILD_DIR", "build")
CLI = os.environ.get("STYLIZER_CLI", os.path.join(BUILD, "client", "stylizer"))
SERVER = os.environ.get("STYLIZER_SERVER_BIN",
                        os.path.join(BUILD, "server", "stylizer-server"))
MODEL = os.environ.get("STYLIZER_TEST_MODEL",
                       os.path.join(BUILD, "testdata", "random4.pt"))
REPLICAS = 3
# Generous bound for polling loops (the CI machine is small and busy).
PATIENCE_S = 180


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """One stylizer-server process on loopback."""

    def __init__(self, tmp, name):
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [SERVER, f"--port={self.port}",
             f"--metrics_port={self.metrics_port}", "--host=127.0.0.1",
             f"--model={MODEL}", "--device=cpu", "--precision=fp32",
             "--threads=1", "--drain_timeout=300s"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def metrics(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read().decode()

    def count(self, family, **labels):
        """Sum of the samples of `family` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
            if not m or m.group(1) != family:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def calls(self, method):
        return self.count("stylizer_requests_total", method=method)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cli(*args, server, timeout=600):
    return subprocess.run([CLI, f"--server={server}", "--progress=none", *args],
                          capture_output=True, text=True, timeout=timeout)


def wait_until(what, predicate):
    deadline = time.monotonic() + PATIENCE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class ScaleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (CLI, SERVER, MODEL):
            if not os.path.exists(path):
                raise unittest.SkipTest(f"{path} is not built")
        cls.tmp = tempfile.mkdtemp(prefix="scale_test.")
        cls.replicas = [None] * REPLICAS
        try:
            for i in range(REPLICAS):
                cls.start_replica(i)
            for i in range(REPLICAS):
                cls.await_serving(i)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for r in getattr(cls, "replicas", []):
            if r is not None:
                r.stop()
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start_replica(cls, i):
        cls.replicas[i] = Replica(cls.tmp, f"replica{i}")

    @classmethod
    def await_serving(cls, i):
        r = cli("health", "--wait=180s", server=cls.replicas[i].addr)
        if r.returncode != 0:
            raise RuntimeError(f"replica {i} did not become healthy:\n"
                               + r.stderr)

    @classmethod
    def target(cls):
        return "ipv4:" + ",".join(r.addr for r in cls.replicas)

    def image_calls(self):
        return [r.calls("StylizeImage") for r in self.replicas]

    def bench_images(self, count):
        r = cli("bench", "--mode=image", "--size=32x24", f"--count={count}",
                "--concurrency=1", "--json", server=self.target())
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["errors"], 0, r.stdout)
        return report

    def test_image_calls_are_spread_over_every_replica(self):
        before = self.image_calls()
        self.bench_images(60)
        after = self.image_calls()
        got = [a - b for a, b in zip(after, before)]
        self.assertEqual(sum(got), 60, got)
        # Round robin: 20 each once all three are connected; a wide margin
        # for the first calls, which may find only some replicas ready.
        for n in got:
            self.assertGreaterEqual(n, 10, got)

    def test_draining_replica_gets_no_new_calls(self):
        drained = self.replicas[-1]
        # A frame stream in flight keeps the replica draining (not exited)
        # after SIGTERM, as a pod is during its termination grace period.
        holder = subprocess.Popen(
            [CLI, f"--server={drained.addr}", "--progress=none", "bench",
             "--mode=frames", "--size=32x24", "--concurrency=1",
             "--duration=600s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until("the frame stream", lambda: drained.count(
                "stylizer_active_streams", method="StylizeFrames") >= 1)
            drained.proc.send_signal(signal.SIGTERM)
            wait_until("NOT_SERVING", lambda: cli(
                "health", "--retries=0", server=drained.addr).stdout.strip()
                == "NOT_SERVING")
            self.assertIsNone(drained.proc.poll(), "the replica exited")
            before = self.image_calls()
            self.bench_images(30)
            after = self.image_calls()
            got = [a - b for a, b in zip(after, before)]
            # Not even a refused call reached the draining replica.
            self.assertEqual(got[-1], 0, got)
            self.assertEqual(sum(got), 30, got)
            self.assertIsNone(drained.proc.poll(), "the replica exited early")
        finally:
            holder.send_signal(signal.SIGINT)
            try:
                holder.wait(timeout=60)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
        drained.stop()
        self.start_replica(len(self.replicas) - 1)
        self.await_serving(len(self.replicas) - 1)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a != "--"])
