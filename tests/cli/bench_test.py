#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server:
bench: the load generator's reports.

Shared set-up: cli_support.py.
"""
import json

from cli_support import SampleServerTestCase, main


class CliBenchTest(SampleServerTestCase):
    def bench(self, *args):
        r = self.cli("bench", "--json", "--size=64x48", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def check_report(self, rep, requests, frames_per_request):
        self.assertEqual(rep["requests"], requests)
        self.assertEqual(rep["errors"], 0)
        self.assertEqual(rep["frames"], requests * frames_per_request)
        self.assertGreater(rep["elapsed_seconds"], 0)
        self.assertGreater(rep["requests_per_second"], 0)
        lat = rep["latency_ms"]
        self.assertGreater(lat["p50"], 0)
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["max"])
        # Sanity, not timing: no request can outlast the whole run.
        self.assertLessEqual(lat["max"], rep["elapsed_seconds"] * 1000 + 1)

    def test_bench_image(self):
        rep = self.bench("--mode=image", "--count=8", "--concurrency=2",
                         "--styles=klimt,mosaic")
        self.check_report(rep, 8, 2)
        self.assertEqual(rep["mode"], "image")
        self.assertEqual(rep["styles"], "klimt,mosaic")

    def test_bench_frames(self):
        rep = self.bench("--mode=frames", "--count=6", "--concurrency=2")
        self.check_report(rep, 6, 1)

    def test_bench_frames_runs_longer_than_its_timeout(self):
        # --timeout is per frame; each worker's stream carries every frame.
        # The stream got --timeout as its own deadline, so a 3 s run with
        # --timeout=1s failed with DEADLINE_EXCEEDED ("raise --timeout")
        # while every frame took milliseconds.
        rep = self.bench("--mode=frames", "--duration=3s", "--timeout=1s",
                         "--size=16x16")
        self.assertEqual(rep["errors"], 0, rep)
        self.assertGreater(rep["requests"], 0)

    def test_bench_video(self):
        r = self.cli("bench", "--json", "--mode=video", f"--input={self.movie}",
                     "--count=1")
        self.skip_if_unimplemented(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = json.loads(r.stdout)
        self.check_report(rep, 1, 10)

    def test_bench_text_report(self):
        r = self.cli("bench", "--count=2", "--size=32x32")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("p99", r.stdout)
        self.assertIn("requests/s", r.stdout)


if __name__ == "__main__":
    main()
