#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server: a
busy server (one stream slot, held by another caller).

Shared set-up: cli_support.py.
"""
import os
import re
import subprocess
import unittest

from cli_support import (CLI, SlotHolder, ffmpeg, main, make_class_dir, probe,
                         start_server, stop_server, stream, wait_until_healthy)


class CliBusyServerTest(unittest.TestCase):
    """A server whose one stream slot another caller holds: it refuses with
    RESOURCE_EXHAUSTED and a retry hint, and the CLI waits as asked and then
    gets in, where it used to fail at once."""

    @classmethod
    def setUpClass(cls):
        make_class_dir(cls, "cli_e2e_busy.")
        cls.movie = os.path.join(cls.tmp, "clip.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", cls.movie)
        start_server(cls, "--threads=2", "--max_concurrent_streams=1",
                     "--stream_idle_timeout=120s")
        cls.addr = f"127.0.0.1:{cls.port}"
        wait_until_healthy(cls)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)

    @classmethod
    def cli(cls, *args):
        return subprocess.run(
            [CLI, f"--server={cls.addr}", "--progress=plain", *args],
            capture_output=True, text=True, timeout=300)

    def hold_the_slot(self):
        """Holds the server's one stream slot (SlotHolder); returns (a
        function that frees it, the refused probe's trailers)."""
        holder = SlotHolder(self.addr)
        self.addCleanup(holder.close)
        return holder.free, holder.hold_one()

    def test_video_waits_for_a_busy_server(self):
        free, trailers = self.hold_the_slot()
        # What any gRPC client sees: the pushback gRPC's retry policies obey,
        # and a google.rpc.Status with a RetryInfo in the details.
        self.assertEqual(trailers.get("grpc-retry-pushback-ms"), "1000")
        self.assertIn(b"type.googleapis.com/google.rpc.RetryInfo",
                      trailers.get("grpc-status-details-bin", b""))
        out = os.path.join(self.tmp, "out")
        cli = subprocess.Popen(
            [CLI, f"--server={self.addr}", "--progress=plain", "video",
             self.movie, "--styles=klimt", f"--out={out}", "--retries=20"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        lines = []
        try:
            # It used to fail here at once; now it says it waits, and
            # waits until the slot is free.
            for line in cli.stderr:
                lines.append(line)
                # The 1 s hint, and up to a quarter more (the jitter).
                if re.search(r"retry 1 of 20 in 1(\.\d+)?s", line):
                    free()
                    break
            lines += cli.stderr.readlines()
            self.assertEqual(cli.wait(timeout=120), 0, "".join(lines))
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
            cli.stderr.close()
        said = "".join(lines)
        self.assertIn("is busy (it asks to retry in 1s", said)
        self.assertIn("already serves 1 streams", said)
        v = stream(probe(os.path.join(out, "clip.klimt.mp4")), "video")
        self.assertEqual(int(v["nb_read_frames"]), 10)

    def test_split_segments_take_turns_at_the_one_slot(self):
        # Three segments at once to a server with one stream slot: two were
        # refused busy, and the job failed once their retries ran out, after
        # 3.5 s, while the first was being served. Now a segment refused
        # while the job's own others hold the slots waits for one of them,
        # without a retry of its own (--retries=0 fails at the first
        # refusal otherwise).
        movie = os.path.join(self.tmp, "gops.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=3", "-c:v",
               "libx264", "-g", "10", "-pix_fmt", "yuv420p", movie)
        out = os.path.join(self.tmp, "out_split")
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=3", "--retries=0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("refused as busy while this job's other segments are "
                      "in flight; it waits for one of them (sending at most "
                      "1 at a time now)", r.stderr)
        v = stream(probe(os.path.join(out, "gops.klimt.mp4")), "video")
        self.assertEqual(int(v["nb_read_frames"]), 30)

    def test_without_retries_the_busy_error_says_what_to_do(self):
        self.hold_the_slot()
        out = os.path.join(self.tmp, "out0")
        r = self.cli("video", self.movie, "--styles=klimt", f"--out={out}",
                     "--retries=0")
        self.assertEqual(r.returncode, 1, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertIn("is busy (it asks to retry in 1s; --retries", last)
        self.assertFalse(os.path.exists(os.path.join(out, "clip.klimt.mp4")))


if __name__ == "__main__":
    main()
