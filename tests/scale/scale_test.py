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
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from server_process import ServerProcess  # noqa: E402
from build_paths import CLI, SERVER  # noqa: E402
from build_paths import TEST_MODEL as MODEL  # noqa: E402

REPLICAS = 3
MAX_FRAME_PIXELS = 40000
STYLES = "klimt,mosaic"
# Generous bound for polling loops (the CI machine is small and busy).
PATIENCE_S = 180


class Replica(ServerProcess):
    """One stylizer-server process on loopback."""

    def __init__(self, tmp, name):
        self.name = name
        super().__init__(
            SERVER, MODEL, os.path.join(tmp, f"{name}.log"),
            "--threads=1", "--drain_timeout=300s",
            # Small enough that a 320x240 movie is refused (INVALID_ARGUMENT).
            f"--max_frame_pixels={MAX_FRAME_PIXELS}")

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


def cli(*args, server, timeout=600):
    return subprocess.run([CLI, f"--server={server}", "--progress=none", *args],
                          capture_output=True, text=True, timeout=timeout)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-y", *args], check=True)


def structure(path):
    """What must not change when a movie is split: every packet's stream,
    presentation time and duration (sorted by stream and time: frame by
    frame), decoded frame counts, stream and container durations. Not decode
    times: they follow each encoder's B-frame choices."""
    packets = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "packet=stream_index,pts_time,duration_time", "-of", "csv",
         path], check=True, capture_output=True, text=True).stdout.split()
    packets.sort(key=lambda line: (line.split(",")[1],
                                   float(line.split(",")[2])))
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,codec_name,width,height,time_base,duration,"
         "nb_read_frames:format=duration", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout)
    return {"packets": packets, "streams": info["streams"],
            "format": info["format"]}


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
        # 20 s, 10 fps with every 7th frame dropped (variable frame rate), a
        # keyframe every 2 s, B-frames, and AAC sound.
        cls.movie = os.path.join(cls.tmp, "movie.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=128x72:r=10:d=20",
               "-f", "lavfi", "-i", "sine=f=440:d=20",
               "-vf", "select='not(eq(mod(n\\,7)\\,3))'", "-fps_mode", "vfr",
               "-c:v", "libx264", "-g", "20", "-bf", "2", "-pix_fmt",
               "yuv420p", "-c:a", "aac", "-shortest", cls.movie)
        cls.big_movie = os.path.join(cls.tmp, "big.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=10:d=4",
               "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p",
               cls.big_movie)
        cls.reference = None
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


    # --- one movie over many replicas ---

    def split_env(self):
        """A private temporary directory for the CLI, to check it is left
        empty."""
        tmpdir = tempfile.mkdtemp(dir=self.tmp, prefix="clitmp.")
        return tmpdir, dict(os.environ, TMPDIR=tmpdir)

    def unsplit_reference(self):
        """The movie stylized in one job on one replica (computed once)."""
        if ScaleTest.reference is None:
            out = os.path.join(self.tmp, "unsplit")
            r = cli("video", self.movie, f"--styles={STYLES}", f"--out={out}",
                    server=self.replicas[0].addr)
            self.assertEqual(r.returncode, 0, r.stderr)
            ScaleTest.reference = {
                style: structure(os.path.join(out, f"movie.{style}.mp4"))
                for style in STYLES.split(",")}
        return ScaleTest.reference

    def assert_matches_unsplit(self, out):
        reference = self.unsplit_reference()
        self.assertEqual(sorted(os.listdir(out)),
                         sorted(f"movie.{s}.mp4" for s in reference))
        for style, want in reference.items():
            got = structure(os.path.join(out, f"movie.{style}.mp4"))
            self.assertEqual(got["streams"], want["streams"], style)
            self.assertEqual(got["format"], want["format"], style)
            self.assertEqual(len(got["packets"]), len(want["packets"]), style)
            for g, w in zip(got["packets"], want["packets"]):
                self.assertEqual(g, w, style)

    def split_matches_unsplit(self, movie, name, segments):
        """Stylizes `movie` (klimt) unsplit and with --split=`segments`,
        asserts the two outputs have the same structure, and returns the
        split one's and the split run's notes."""
        outputs = {}
        for split in (1, segments):
            out = os.path.join(self.tmp, f"{name}_split{split}")
            r = cli("video", movie, "--styles=klimt", f"--out={out}",
                    f"--split={split}", server=self.target())
            self.assertEqual(r.returncode, 0, r.stderr)
            stem = os.path.splitext(os.path.basename(movie))[0]
            outputs[split] = structure(os.path.join(out,
                                                    f"{stem}.klimt.mp4"))
        want, got = outputs[1], outputs[segments]
        self.assertEqual(got["streams"], want["streams"])
        self.assertEqual(got["format"], want["format"])
        self.assertEqual(got["packets"], want["packets"])
        return got, r.stderr

    def test_split_movie_matches_the_unsplit_one(self):
        self.unsplit_reference()
        before = [r.calls("StylizeVideo") for r in self.replicas]
        out = os.path.join(self.tmp, "split3")
        tmpdir, env = self.split_env()
        r = subprocess.run(
            [CLI, f"--server={self.target()}", "--progress=plain", "video",
             self.movie, f"--styles={STYLES}", f"--out={out}", "--split=3",
             "--verbose"], capture_output=True, text=True, timeout=600,
            env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("split into 3 segments", r.stderr)
        self.assertEqual(len(re.findall(r"^segment \d/3: \d+ frames from ",
                                        r.stderr, re.M)), 3, r.stderr)
        # The last progress line gives the whole job's rate (it used to
        # read "0 fps, ETA ?": finished segments count 0 in the current
        # rate).
        last = re.findall(r"^progress: .*$", r.stderr, re.M)[-1]
        rate = re.search(r"frames (\d+) of ~(\d+), ([\d.]+) fps, ETA 0:00",
                         last)
        self.assertIsNotNone(rate, last)
        self.assertEqual(rate.group(1), rate.group(2), last)
        self.assertGreater(float(rate.group(3)), 0, last)
        self.assertEqual(os.listdir(tmpdir), [])
        self.assert_matches_unsplit(out)
        got = [r.calls("StylizeVideo") - b
               for r, b in zip(self.replicas, before)]
        self.assertEqual(sum(got), 3, got)
        # Sent at once after every replica was connected: round robin gives
        # each its own (two at least, a wide margin).
        self.assertGreaterEqual(sum(1 for n in got if n > 0), 2, got)

    def test_split_survives_a_killed_replica(self):
        self.unsplit_reference()
        out = os.path.join(self.tmp, "killed")
        tmpdir, env = self.split_env()
        frames_before = [r.count("stylizer_frames_total")
                         for r in self.replicas]
        job = subprocess.Popen(
            [CLI, f"--server={self.target()}", "--progress=plain", "video",
             self.movie, f"--styles={STYLES}", f"--out={out}", "--split=3",
             "--verbose"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        victim = None
        try:
            # Kill a replica that is busy with a segment, mid-way.
            def busy():
                nonlocal victim
                for i, rep in enumerate(self.replicas):
                    if (rep.count("stylizer_active_streams",
                                  method="StylizeVideo") >= 1 and
                            rep.count("stylizer_frames_total") >
                            frames_before[i]):
                        victim = i
                        return True
                return job.poll() is not None
            wait_until("a replica busy with a segment", busy)
            self.assertIsNotNone(victim, "the job ended before any replica "
                                 "was seen working")
            self.replicas[victim].proc.kill()
            self.replicas[victim].proc.wait()
            stdout, stderr = job.communicate(timeout=600)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
        self.assertEqual(job.returncode, 0, stderr)
        self.assertIn("sending it again from its start", stderr)
        self.assertEqual(os.listdir(tmpdir), [])
        self.assert_matches_unsplit(out)
        self.replicas[victim].stop()
        self.start_replica(victim)
        self.await_serving(victim)

    def test_split_invalid_argument_fails_at_once(self):
        out = os.path.join(self.tmp, "refused")
        tmpdir, env = self.split_env()
        r = subprocess.run(
            [CLI, f"--server={self.target()}", "--progress=none", "video",
             self.big_movie, "--styles=klimt", f"--out={out}", "--split=2"],
            capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("stylizer: error: "), last)
        self.assertIn("max_side", last)  # the server's message
        self.assertNotIn("sending it again", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(os.listdir(tmpdir), [])

    def test_matroska_movie_splits(self):
        # Matroska segments keep the source's times, and Matroska declares
        # its duration from timestamp 0: the server used to refuse every
        # segment after the first as truncated.
        mkv = os.path.join(self.tmp, "movie.mkv")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=8",
               "-f", "lavfi", "-i", "sine=f=440:d=8", "-c:v", "libx264",
               "-g", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
               mkv)
        out = os.path.join(self.tmp, "matroska")
        r = cli("video", mkv, "--styles=klimt", f"--out={out}", "--split=2",
                "--verbose", server=self.target())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("split into 2 segments", r.stderr)
        frames = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0",
             "-count_packets", "-show_entries", "stream=nb_read_packets",
             "-of", "csv=p=0", os.path.join(out, "movie.klimt.mp4")],
            check=True, capture_output=True, text=True).stdout.strip()
        self.assertEqual(frames, "80")

    def test_mpegts_movie_with_aac_splits(self):
        # MPEG-TS carries AAC in ADTS form: the join copied it unconverted
        # and failed after all the work ("writing a movie: Operation not
        # permitted"). The split output must equal the unsplit one.
        ts = os.path.join(self.tmp, "movie.ts")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=8",
               "-f", "lavfi", "-i", "sine=f=440:d=8", "-c:v", "libx264",
               "-g", "20", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac",
               "-f", "mpegts", ts)
        got, notes = self.split_matches_unsplit(ts, "mpegts", 2)
        self.assertIn("split into 2 segments", notes)
        self.assertEqual([s["codec_name"] for s in got["streams"]],
                         ["h264", "aac"])

    def test_open_gop_movie_is_cut_only_where_a_gop_closes(self):
        # x264's open GOPs with a fixed B-frame pattern: each keyframe but
        # one (a forced IDR frame at 10 s) is followed in decode order by a
        # frame shown before it that needs the GOP before. Cuts there used
        # to lose those frames (198 of 200 came back).
        movie = os.path.join(self.tmp, "open_gop.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=128x72:r=10:d=20",
               "-c:v", "libx264", "-x264-params",
               "open-gop=1:keyint=20:min-keyint=20:bframes=2:b-adapt=0:"
               "scenecut=0", "-force_key_frames", "expr:eq(n,100)",
               "-forced-idr", "1", "-pix_fmt", "yuv420p", movie)
        got, notes = self.split_matches_unsplit(movie, "open_gop", 3)
        self.assertIn("split into 2 segments, not 3", notes)
        self.assertIn("open a GOP", notes)
        self.assertEqual(got["streams"][0]["nb_read_frames"], "200")

    def test_short_movie_is_not_split(self):
        short = os.path.join(self.tmp, "short.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-c:v",
               "libx264", "-pix_fmt", "yuv420p", short)
        out = os.path.join(self.tmp, "short")
        r = cli("video", short, "--styles=klimt", f"--out={out}",
                "--split=auto", server=self.target())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("not split:", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "short.klimt.mp4")))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a != "--"])
