#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server.

Starts stylizer-server on a free loopback port with the 4-style random test
archive, then runs every CLI command as a user would and checks exit codes,
messages, and the files (decoded with ffprobe). Inputs are tiny movies and
images made here with the ffmpeg CLI.

Environment: STYLIZER_CLI, STYLIZER_SERVER_BIN, STYLIZER_TEST_MODEL (set by
CTest), or STYLIZER_BUILD_DIR to find them.
"""
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from server_process import ServerProcess, free_port  # noqa: E402
from stream_slots import SlotHolder  # noqa: E402

BUILD = os.environ.get("STYLIZER_BUILD_DIR", "build")
CLI = os.environ.get("STYLIZER_CLI", os.path.join(BUILD, "client", "stylizer"))
SERVER = os.environ.get("STYLIZER_SERVER_BIN",
                        os.path.join(BUILD, "server", "stylizer-server"))
MODEL = os.environ.get("STYLIZER_TEST_MODEL",
                       os.path.join(BUILD, "testdata", "random4.pt"))
STYLES = ["klimt", "mosaic", "outcry", "picasso"]


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                    "-y", *args], check=True)


def probe(path):
    """ffprobe's view of a file: streams with frame counts (decoded)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams",
         "-show_format", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def stream(info, kind):
    for s in info["streams"]:
        if s["codec_type"] == kind:
            return s
    return None


def stop_server(cls):
    """Stops a test class's server (SIGTERM, then SIGKILL) and removes its files."""
    if getattr(cls, "server", None) is not None:
        cls.server.stop()
    if getattr(cls, "tmp", None):
        shutil.rmtree(cls.tmp, ignore_errors=True)


def make_class_dir(cls, prefix):
    """Skips the class when the binaries are not built; else gives it a
    temporary folder, cls.tmp."""
    for path in (CLI, SERVER, MODEL):
        if not os.path.exists(path):
            raise unittest.SkipTest(f"{path} is not built")
    cls.tmp = tempfile.mkdtemp(prefix=prefix)


def start_server(cls, *flags):
    """Starts stylizer-server for a test class on a free loopback port with
    the test archive and `flags`, its log cls.tmp/server.log; sets cls.port
    and cls.server (a ServerProcess)."""
    cls.server = ServerProcess(SERVER, MODEL,
                               os.path.join(cls.tmp, "server.log"), *flags)
    cls.port = cls.server.port


def wait_until_healthy(cls):
    """Waits until cls.cli("health") says SERVING, or stops the class."""
    r = cls.cli("health", "--wait=180s")
    if r.returncode != 0:
        cls.tearDownClass()
        raise RuntimeError("server did not become healthy:\n" + r.stderr)


class CliEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make_class_dir(cls, "cli_e2e_test.")
        cls.movie = os.path.join(cls.tmp, "clip.mp4")
        # 1 s, 10 fps, 96x64, with a tone: 10 frames.
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1",
               "-f", "lavfi", "-i", "sine=f=440:d=1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
               "-shortest", "-movflags", "+faststart", cls.movie)
        cls.png = os.path.join(cls.tmp, "photo.png")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
               cls.png)
        cls.text = os.path.join(cls.tmp, "notes.txt")
        with open(cls.text, "w") as f:
            f.write("this is not a picture or a movie\n")
        start_server(cls, "--threads=2")
        cls.server_addr = f"127.0.0.1:{cls.port}"
        wait_until_healthy(cls)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)

    @classmethod
    def cli(cls, *args, server=None):
        return subprocess.run(
            [CLI, f"--server={server or cls.server_addr}", "--progress=plain",
             *args], capture_output=True, text=True, timeout=300)

    def out_dir(self, name):
        return os.path.join(self.tmp, "out", self._testMethodName, name)

    def assert_failed_cleanly(self, r, code, says, nothing_at=None):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertTrue(lines, "no error line")
        self.assertTrue(lines[-1].startswith("stylizer: error: "), lines[-1])
        self.assertIn(says, lines[-1])
        if nothing_at:
            self.assertFalse(os.path.exists(nothing_at),
                             f"{nothing_at} was written")

    def skip_if_unimplemented(self, r):
        if r.returncode != 0 and "does not offer this call" in r.stderr:
            self.skipTest("this server does not implement StylizeVideo yet")

    # --- health and styles ---

    def test_health(self):
        r = self.cli("health")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "SERVING")

    def test_styles(self):
        r = self.cli("styles")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i, name in enumerate(STYLES):
            self.assertRegex(r.stdout, rf"\b{i}\s+{name}\b")
        self.assertIn("cpu", r.stdout)
        # Which archive the server loaded, by content.
        with open(MODEL, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.assertIn(f"archive sha256 {digest}\n", r.stdout)
        r = self.cli("styles", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual(info["archive_sha256"], digest)
        self.assertEqual([s["name"] for s in info["styles"]], STYLES)
        self.assertEqual(info["device"], "cpu")

    # --- image ---

    def test_image_every_style(self):
        out = self.out_dir("all")
        r = self.cli("image", self.png, "--styles=all", f"--out={out}/")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in STYLES:
            path = os.path.join(out, f"photo.{name}.png")
            self.assertIn(path, r.stdout)
            v = stream(probe(path), "video")
            self.assertEqual((v["codec_name"], v["width"], v["height"]),
                             ("png", 64, 48))
        self.assertEqual(len(os.listdir(out)), 4)

    def test_image_one_style_to_jpeg(self):
        out = os.path.join(self.out_dir("one"), "result.jpg")
        r = self.cli("image", self.png, "--styles=2", f"--out={out}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stream(probe(out), "video")["codec_name"], "mjpeg")

    def test_image_several_inputs_in_one_command(self):
        # Ten photos of two sizes and both formats, 4 in flight; one input
        # that is not an image is named and the others are still written.
        src = self.out_dir("many_in")
        os.makedirs(src, exist_ok=True)
        inputs = []
        for i in range(10):
            ext = "png" if i % 2 == 0 else "jpg"
            path = os.path.join(src, f"p{i}.{ext}")
            ffmpeg("-f", "lavfi", "-i",
                   f"testsrc2=s={64 + 16 * (i % 3)}x48", "-frames:v", "1",
                   path)
            inputs.append(path)
        out = self.out_dir("many")
        r = self.cli("image", *inputs, self.text, "--styles=klimt,outcry",
                     f"--out={out}")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("1 of 11 images failed", r.stderr.strip().splitlines()[-1])
        # Named once.
        self.assertIn(f"stylizer: {self.text} is not a PNG or JPEG image",
                      r.stderr)
        self.assertEqual(len(r.stdout.split()), 20, r.stdout)
        for i in range(10):
            for style in ("klimt", "outcry"):
                v = stream(probe(os.path.join(out, f"p{i}.{style}.png")),
                           "video")
                self.assertEqual(int(v["width"]), 64 + 16 * (i % 3))

    def exif_photo(self, name, orientation):
        """A 64x48 JPEG in self.tmp whose EXIF segment holds only
        `orientation` (1-8), right after its start-of-image marker, as a
        camera writes it (little-endian TIFF)."""
        stored = os.path.join(self.tmp, f"stored-{name}")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
               stored)
        with open(stored, "rb") as f:
            jpeg = f.read()
        ifd = (struct.pack("<HHHIHH", 1, 0x0112, 3, 1, orientation, 0) +
               b"\0\0\0\0")
        body = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
        app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
        photo = os.path.join(self.tmp, name)
        with open(photo, "wb") as f:
            f.write(jpeg[:2] + app1 + jpeg[2:])
        return photo

    def test_image_phone_photo_comes_out_upright(self):
        # A phone's portrait photo: a 64x48 picture with EXIF orientation 6
        # ("rotate 90 degrees clockwise"). Viewers show it 48x64; so is the
        # output (the tag used to be dropped with the metadata, and the output
        # came out lying on its side).
        photo = self.exif_photo("portrait.jpg", 6)
        out = os.path.join(self.out_dir("upright"), "out.png")
        r = self.cli("image", photo, "--styles=klimt", f"--out={out}")
        self.assertEqual(r.returncode, 0, r.stderr)
        v = stream(probe(out), "video")
        self.assertEqual((v["width"], v["height"]), (48, 64))
        # The same photo as a one-frame movie: the pixels stay as stored and
        # the output carries the orientation as a display matrix, as a phone
        # movie's (it used to have none: a movie lying on its side).
        movies = self.out_dir("movie")
        sheet = os.path.join(movies, "sheet.png")
        r = self.cli("video", photo, "--styles=klimt", f"--out={movies}",
                     f"--contact_sheet={sheet}")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Said, since `stylizer image` was more often meant.
        self.assertIn(f"stylizer: note: {photo} is a still picture (JPEG): "
                      "each output is a one-frame movie", r.stderr)
        # Its two tiles are portrait too (136x180; landscape 240x180 before,
        # the stylized one squeezed in).
        v = stream(probe(sheet), "video")
        self.assertEqual(v["width"], 6 + 2 * (136 + 6))
        self.assertIn("rotated 270", r.stderr)
        v = stream(probe(os.path.join(movies, "portrait.klimt.mp4")), "video")
        self.assertEqual((v["width"], v["height"], v["nb_read_frames"]),
                         (64, 48, "1"))
        rotations = [d.get("rotation") for d in v.get("side_data_list", [])]
        self.assertEqual(rotations, [-90])

    def test_video_of_a_mirrored_photo_says_so(self):
        # EXIF orientation 5 ("transpose"): turned 270 counter-clockwise,
        # then mirrored. The job line said "rotated 270" (FFmpeg's angle of
        # that matrix), the mirror lost, and a Matroska output was turned
        # without it.
        photo = self.exif_photo("transposed.jpg", 5)
        movies = self.out_dir("transposed")
        r = self.cli("video", photo, "--styles=klimt", f"--out={movies}",
                     "--container=mkv")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("64x48 rotated 270 mirrored", r.stderr)
        v = stream(probe(os.path.join(movies, "transposed.klimt.mkv")),
                   "video")
        self.assertEqual((v["width"], v["height"]), (48, 64))

    def test_image_names_and_blends(self):
        out = self.out_dir("blend")
        r = self.cli("image", self.png,
                     "--styles=Mosaic,klimt:0.7+outcry:0.3,3", f"--out={out}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(out)), sorted([
            "photo.mosaic.png", "photo.klimt0.7+outcry0.3.png",
            "photo.picasso.png"]))

    def test_image_bad_spec_is_usage_error(self):
        out = self.out_dir("badspec")
        r = self.cli("image", self.png, "--styles=waves", f"--out={out}")
        self.assert_failed_cleanly(r, 2, "unknown style 'waves'", out)
        self.assertIn("klimt", r.stderr)
        r = self.cli("image", self.png, "--styles=klimt:-1+mosaic",
                     f"--out={out}")
        self.assert_failed_cleanly(r, 2, "bad weight", out)

    def test_image_non_image_input(self):
        out = self.out_dir("x")
        r = self.cli("image", self.text, f"--out={out}")
        self.assert_failed_cleanly(r, 1, "is not a PNG or JPEG image", out)

    def test_image_undecodable_png_is_rejected_by_server(self):
        broken = os.path.join(self.tmp, "broken.png")
        with open(self.png, "rb") as f:
            data = f.read()
        with open(broken, "wb") as f:
            f.write(data[:40])  # a PNG signature, then nothing usable
        out = self.out_dir("x")
        r = self.cli("image", broken, f"--out={out}")
        self.assert_failed_cleanly(r, 1, "the server rejected the input", out)

    def test_a_failed_call_names_the_request_id_the_server_logged(self):
        broken = os.path.join(self.tmp, "broken_for_id.png")
        with open(self.png, "rb") as f:
            data = f.read()
        with open(broken, "wb") as f:
            f.write(data[:40])
        out = self.out_dir("x")
        # Given, and made up (16 hex digits) when not given.
        r = self.cli("image", broken, f"--out={out}", "--request_id=e2e-req-7")
        self.assert_failed_cleanly(r, 1, "(request id e2e-req-7)", out)
        r = self.cli("image", broken, f"--out={out}")
        self.assert_failed_cleanly(r, 1, "(request id ", out)
        made_up = re.search(r"\(request id ([0-9a-f]{16})\)$",
                            r.stderr.strip().splitlines()[-1])
        self.assertIsNotNone(made_up, r.stderr)
        # The server writes its line as the call ends, perhaps a moment
        # after the CLI has the status: poll the log.
        wanted = [r"rpc method=StylizeImage .*request_id=" + re.escape(i) + " "
                  for i in ("e2e-req-7", made_up.group(1))]
        deadline = time.monotonic() + 10
        while True:
            with open(os.path.join(self.tmp, "server.log")) as f:
                log = f.read()
            if all(re.search(w, log) for w in wanted) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for w in wanted:
            self.assertRegex(log, w)
        r = self.cli("styles", "--request_id=two words")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--request_id", r.stderr)

    def test_image_missing_file(self):
        out = self.out_dir("x")
        r = self.cli("image", os.path.join(self.tmp, "nope.png"),
                     f"--out={out}")
        self.assert_failed_cleanly(r, 1, "No such file", out)

    def test_unreachable_server(self):
        out = self.out_dir("x")
        dead = f"127.0.0.1:{free_port()}"
        for args in (["image", self.png, f"--out={out}"],
                     ["video", self.movie, f"--out={out}"],
                     ["styles"], ["health"]):
            r = self.cli(*args, "--retries=1", server=dead)
            self.assert_failed_cleanly(r, 1, f"cannot reach stylizer-server at {dead}", out)
            # Nothing listens there: no word of TLS.
            self.assertNotIn("--tls", r.stderr)
            self.assertNotIn("dialled 443", r.stderr)
        # gRPC dials a name without a port on 443, not on the server's
        # 50051: the error says so (nothing listens on 443 here).
        r = self.cli("styles", "--retries=0", server="localhost")
        self.assert_failed_cleanly(r, 1, "cannot reach stylizer-server at localhost")
        self.assertIn("gRPC dialled 443", r.stderr)
        self.assertIn("--server=localhost:50051", r.stderr)

    def test_usage_errors(self):
        for args, says in (([], "no command given"),
                           (["paint"], "unknown command"),
                           (["video"], "usage: stylizer video"),
                           (["video", self.movie, "--crf=99"], "--crf"),
                           (["video", self.movie, "--container=avi"], "mp4 or mkv"),
                           (["styles", "--colour=red"], "unknown flag"),
                           (["bench", "--mode=audio"], "--mode")):
            r = self.cli(*args)
            self.assert_failed_cleanly(r, 2, says)

    # --- video ---

    def test_video_every_style_with_contact_sheet(self):
        out = self.out_dir("demo")
        sheet = os.path.join(out, "contact.png")
        r = self.cli("video", self.movie, "--styles=all", f"--out={out}",
                     f"--contact_sheet={sheet}")
        self.skip_if_unimplemented(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("progress:", r.stderr)
        src = probe(self.movie)
        frames = int(stream(src, "video")["nb_read_frames"])
        for name in STYLES:
            path = os.path.join(out, f"clip.{name}.mp4")
            self.assertIn(path, r.stdout)
            info = probe(path)
            v = stream(info, "video")
            self.assertEqual(v["codec_name"], "h264")
            self.assertEqual((v["width"], v["height"]), (96, 64))
            self.assertEqual(int(v["nb_read_frames"]), frames)
            self.assertIsNotNone(stream(info, "audio"), f"{path} lost its sound")
        s = stream(probe(sheet), "video")
        self.assertEqual(s["codec_name"], "png")
        self.assertGreater(s["width"], s["height"])  # 5 tiles: 3 x 2
        self.assertEqual(sorted(os.listdir(out)),
                         sorted([f"clip.{n}.mp4" for n in STYLES] + ["contact.png"]))

    def test_video_several_movies_in_one_command(self):
        # Two movies (one Matroska without sound) and a text file: both
        # movies in both styles, the text file named, exit 1.
        src = os.path.join(self.tmp, "several")
        os.makedirs(src, exist_ok=True)
        second = os.path.join(src, "second.mkv")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", second)
        out = self.out_dir("several")
        r = self.cli("video", self.movie, self.text, second,
                     "--styles=klimt,outcry", f"--out={out}")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("1 of 3 movies failed", r.stderr.strip().splitlines()[-1])
        self.assertIn(f"stylizer: {self.text}: ", r.stderr)
        self.assertEqual(len(r.stdout.split()), 4, r.stdout)
        for stem, size, frames in (("clip", (96, 64), 10),
                                   ("second", (64, 48), 10)):
            for style in ("klimt", "outcry"):
                v = stream(probe(os.path.join(out, f"{stem}.{style}.mp4")),
                           "video")
                self.assertEqual((v["width"], v["height"]), size)
                self.assertEqual(int(v["nb_read_frames"]), frames)

    def test_frames_from_a_live_pipe_in_order(self):
        # Raw frames from ffmpeg through `frames`, and frame 7 alone through
        # `image`: the stream's 8th picture is that one (in order, same model).
        w, h, n = 96, 64, 12
        raw = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
             f"testsrc2=s={w}x{h}:r=10", "-frames:v", str(n), "-f", "rawvideo",
             "-pix_fmt", "rgb24", "pipe:1"], check=True,
            capture_output=True).stdout
        frame = w * h * 3
        self.assertEqual(len(raw), n * frame)
        r = subprocess.run(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], input=raw, capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(r.stdout), n * frame)
        self.assertNotEqual(r.stdout, raw)
        out = self.out_dir("frames")
        os.makedirs(out)
        still = os.path.join(out, "seventh.png")
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f",
             "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "pipe:0",
             "-frames:v", "1", still], input=raw[7 * frame:8 * frame],
            check=True)
        styled = os.path.join(out, "seventh.klimt.png")
        r2 = self.cli("image", still, "--styles=klimt", f"--out={styled}")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        alone = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", styled, "-f",
             "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], check=True,
            capture_output=True).stdout

        def mean_diff(a, b):
            return sum(abs(x - y) for x, y in zip(a, b)) / len(a)

        self.assertLess(mean_diff(r.stdout[7 * frame:8 * frame], alone), 1.0)
        self.assertGreater(mean_diff(r.stdout[0:frame], alone), 2.0)

    def start_idle_server(self, log):
        """A server of its own for this test that ends a stream after 2 s
        without a message from the client; stopped at the test's end."""
        server = ServerProcess(SERVER, MODEL, os.path.join(self.tmp, log),
                               "--threads=1", "--stream_idle_timeout=2s",
                               metrics=False)
        self.addCleanup(server.stop)
        r = subprocess.run([CLI, f"--server={server.addr}", "health",
                            "--wait=180s"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return server

    def test_frames_ends_when_the_server_does_while_the_source_is_silent(self):
        # A source that stops sending (a camera that hangs): a server with
        # a 2 s idle limit ends the stream, and the command ends with its
        # reason at once, where it used to wait for a frame that never came.
        server = self.start_idle_server("idle_server.log")
        w, h = 16, 16
        cli = subprocess.Popen(
            [CLI, f"--server={server.addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cli.stdin.write(bytes(w * h * 3))  # one frame, then silence
        cli.stdin.flush()
        try:
            code = cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
        cli.stdin.close()  # ends a command that still waits
        out, err = cli.stdout.read(), cli.stderr.read()
        cli.wait(timeout=60)
        cli.stdout.close()
        cli.stderr.close()
        self.assertIsNotNone(code, "frames still waited for its source "
                             "60 s after the server ended the stream")
        self.assertEqual(code, 1, err.decode())
        self.assertIn("sent nothing for 2s", err.decode())
        self.assertEqual(len(out), w * h * 3)

    def test_video_from_a_silent_pipe_ends_with_the_call(self):
        # A live capture piped in that stops sending, with the pipe left
        # open: the command ends when the call does (the server's 2 s idle
        # limit; a SIGTERM), where it used to wait for the pipe's next bytes.
        server = self.start_idle_server("idle_video.log")
        ts = os.path.join(self.out_dir("silent"), "clip.ts")
        os.makedirs(os.path.dirname(ts))
        ffmpeg("-i", self.movie, "-c", "copy", "-f", "mpegts", ts)
        with open(ts, "rb") as f:
            movie = f.read()
        for how, says in (("idle", "sent nothing for 2s"),
                          ("signal", "interrupted")):
            cli = subprocess.Popen(
                [CLI, f"--server={server.addr}", "--progress=plain", "video",
                 "-", "--styles=klimt", f"--out={self.out_dir(how)}"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            cli.stdin.write(movie[:len(movie) // 2])  # then silence
            cli.stdin.flush()
            if how == "signal":
                time.sleep(1)
                cli.send_signal(signal.SIGTERM)
            try:
                code = cli.wait(timeout=60)
            except subprocess.TimeoutExpired:
                code = None
            cli.stdin.close()  # ends a command that still waits
            err = cli.stderr.read().decode()
            cli.wait(timeout=60)
            cli.stderr.close()
            self.assertIsNotNone(code, f"{how}: video still waited for its "
                                 "source 60 s after the call ended")
            self.assertEqual(code, 1, f"{how}: {err}")
            self.assertIn(says, err.strip().splitlines()[-1], how)

    def start_video_writing_outputs(self, name, **popen_args):
        """Starts `video -` on a piped movie that stops three quarters in
        (then silence: the job cannot end by itself), and returns the Popen
        and its --out once an output's `.NAME.part-XXXXXX` file exists."""
        out = self.out_dir(name)
        ts = os.path.join(self.out_dir(name + "_src"), "clip.ts")
        os.makedirs(os.path.dirname(ts))
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=30",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
               "yuv420p", "-f", "mpegts", ts)
        with open(ts, "rb") as f:
            movie = f.read()
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "--progress=none", "video",
             "-", "--styles=klimt", f"--out={out}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, **popen_args)
        cli.stdin.write(movie[:len(movie) * 3 // 4])  # then silence
        cli.stdin.flush()
        deadline = time.time() + 60
        while time.time() < deadline and not (
                os.path.isdir(out) and
                any(".part-" in name for name in os.listdir(out))):
            time.sleep(0.05)
        self.assertTrue(any(".part-" in name for name in os.listdir(out)),
                        "no output was started")
        return cli, out

    def assert_no_part_files(self, out):
        left = os.listdir(out) if os.path.isdir(out) else []
        self.assertEqual([n for n in left if ".part-" in n], [])

    def test_a_second_interrupt_leaves_no_part_files(self):
        # Ctrl-C twice (or `timeout -s INT`, which signals the process and
        # its group): the second ends the command at once, and its
        # unfinished outputs' `.NAME.part-XXXXXX` files stayed behind.
        cli, out = self.start_video_writing_outputs("twice")
        cli.send_signal(signal.SIGINT)
        time.sleep(0.02)  # two signals at once would be taken as one
        cli.send_signal(signal.SIGINT)
        code = cli.wait(timeout=60)
        cli.stdin.close()
        cli.stderr.close()
        self.assertIn(code, (1, 130))
        self.assert_no_part_files(out)

    def test_a_hangup_ends_video_as_sigterm_does(self):
        # A closed terminal or a dropped ssh connection (SIGHUP) killed the
        # command, its `.NAME.part-XXXXXX` files left behind.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            cli, out = self.start_video_writing_outputs(sig.name)
            cli.send_signal(sig)
            try:
                code = cli.wait(timeout=60)
            finally:
                cli.kill()
                cli.stdin.close()
                err = cli.stderr.read().decode()
                cli.stderr.close()
            self.assertEqual(code, 1, f"{sig.name}: {err}")
            self.assertEqual(err.strip().splitlines()[-1],
                             "stylizer: error: interrupted", sig.name)
            self.assert_no_part_files(out)

    def test_a_hangup_under_nohup_is_ignored(self):
        # nohup ignores SIGHUP so that the command outlives its terminal:
        # the CLI's own handling must not take that back.
        cli, out = self.start_video_writing_outputs(
            "nohup", preexec_fn=lambda: signal.signal(signal.SIGHUP,
                                                      signal.SIG_IGN))
        cli.send_signal(signal.SIGHUP)
        time.sleep(1)
        still_running = cli.poll() is None
        cli.send_signal(signal.SIGTERM)
        code = cli.wait(timeout=60)
        cli.stdin.close()
        cli.stderr.close()
        self.assertTrue(still_running, "SIGHUP ended a command under nohup")
        self.assertEqual(code, 1)
        self.assert_no_part_files(out)

    def test_an_interrupted_bench_reports_the_run_so_far(self):
        # Ctrl-C during a load test printed nothing and exited 130: the
        # measurements so far were lost.
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "bench", "--duration=120s",
             "--size=64x64", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)  # well past its start: the run is on
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
        self.assertEqual(cli.returncode, 1, err)
        self.assertIn("stylizer: error: interrupted", err)
        report = json.loads(out)
        self.assertTrue(report["interrupted"])
        self.assertLess(report["elapsed_seconds"], 60)
        self.assertEqual(report["errors"], 0, report)

    def assert_interrupted(self, cli):
        """Sends `cli` (a Popen with stdin and stderr piped) SIGINT and
        checks that it ends with status 1 and "interrupted"."""
        cli.send_signal(signal.SIGINT)
        try:
            code = cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
            cli.kill()  # so that reading its stderr below ends
        finally:
            with contextlib.suppress(OSError):
                cli.stdin.close()
            err = cli.stderr.read().decode()
            cli.wait(timeout=60)
            for pipe in (cli.stdout, cli.stderr):
                if pipe:
                    pipe.close()
        self.assertIsNotNone(code, "one SIGINT did not end the command")
        self.assertEqual(code, 1, err)
        self.assertEqual(err.strip().splitlines()[-1],
                         "stylizer: error: interrupted", err)

    def test_frames_interrupted(self):
        # Ctrl-C while frames are streamed: the frames already answered stay
        # on standard output, and the command says "interrupted", as image
        # and video do (it used to say "the request was cancelled").
        w, h = 16, 16
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cli.stdin.write(bytes(w * h * 3))
        cli.stdin.flush()
        got = cli.stdout.read(w * h * 3)  # the first answer has come
        self.assert_interrupted(cli)
        self.assertEqual(len(got), w * h * 3)

    def test_frames_interrupted_while_nobody_reads_its_output(self):
        # Ctrl-C while the answers' writes are blocked on a pipe nobody
        # reads (a paused player): the write never saw the cancel, and one
        # signal did nothing at all.
        w, h = 64, 64
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def feed():
            try:
                for _ in range(40):  # 480 KiB of answers: the pipe holds 64
                    cli.stdin.write(bytes(w * h * 3))
                    cli.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(5)  # the answers have filled the pipe by now
        self.assert_interrupted(cli)

    def test_image_from_a_silent_pipe_interrupted(self):
        # Ctrl-C while `image -` waits for standard input, before any call:
        # the command ended with status 130 and no line.
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "image", "-", "--styles=klimt",
             f"--out={self.out_dir('silent')}"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(3)  # reading by now (a later signal is the same)
        self.assert_interrupted(cli)

    def test_pipes_in_and_out(self):
        # A live MPEG-TS from ffmpeg piped in, the stylized Matroska piped
        # out into a file; and a photo through stdin and stdout.
        out = os.path.join(self.out_dir("pipes"))
        os.makedirs(out)
        movie = os.path.join(out, "piped.mkv")
        maker = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc2=s=96x64:r=10:d=2", "-f", "lavfi", "-i",
             "sine=f=440:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-f", "mpegts", "pipe:1"],
            stdout=subprocess.PIPE)
        with open(movie, "wb") as sink:
            r = subprocess.run(
                [CLI, f"--server={self.server_addr}", "--progress=plain",
                 "video", "-", "--styles=klimt", "--container=mkv",
                 "--out=-"],
                stdin=maker.stdout, stdout=sink, stderr=subprocess.PIPE,
                text=False, timeout=300)
        maker.stdout.close()
        self.assertEqual(maker.wait(), 0)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        info = probe(movie)
        self.assertIn("matroska", info["format"]["format_name"])
        v = stream(info, "video")
        self.assertEqual((v["width"], v["height"]), (96, 64))
        self.assertEqual(int(v["nb_read_frames"]), 20)
        self.assertIsNotNone(stream(info, "audio"))

        # A photo through stdin and stdout: PNG by default, JPEG asked for.
        for name, flags, codec in (("piped.png", [], "png"),
                                   ("piped.jpg", ["--format=jpg"], "mjpeg")):
            photo = os.path.join(out, name)
            with open(self.png, "rb") as source, open(photo, "wb") as sink:
                r = subprocess.run(
                    [CLI, f"--server={self.server_addr}", "image", "-",
                     "--styles=outcry", "--out=-", *flags],
                    stdin=source, stdout=sink, stderr=subprocess.PIPE,
                    timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            v = stream(probe(photo), "video")
            self.assertEqual((v["codec_name"], v["width"], v["height"]),
                             (codec, 64, 48))

    def test_a_reader_that_goes_away_gets_an_error_line(self):
        # `... --out=- | head -c 1`: the pipe's reader is gone before the
        # output comes. The command says so and exits 1 (not 141, SIGPIPE).
        for args, source in ((["video", self.movie, "--styles=klimt"], None),
                             (["image", "-", "--styles=klimt"], self.png)):
            with contextlib.ExitStack() as stack:
                stdin = (stack.enter_context(open(source, "rb"))
                         if source else subprocess.DEVNULL)
                p = subprocess.Popen(
                    [CLI, f"--server={self.server_addr}", "--progress=plain",
                     *args, "--out=-"],
                    stdin=stdin, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
                p.stdout.close()
                _, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 1, f"{args[0]}: {err}")
            self.assertIn("stylizer: error: cannot write to standard output",
                          err.strip().splitlines()[-1])

    def test_closed_standard_input_or_output_is_an_error(self):
        # `stylizer frames ... <&-`: descriptor 0 became gRPC's eventfd, and
        # the command read its wakeups as frames until killed.
        for args, closed, says in (
                (["frames", "--size=64x48", "--styles=klimt"], 0,
                 "standard input"),
                (["video", "-", "--styles=klimt", f"--out={self.out_dir('closed')}"], 0,
                 "standard input"),
                (["styles"], 1, "cannot write to standard output")):
            r = subprocess.run(
                [CLI, f"--server={self.server_addr}", "--progress=none", *args],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                preexec_fn=lambda fd=closed: os.close(fd))
            self.assert_failed_cleanly(r, 1, says)

    def test_a_full_disk_on_standard_output_is_an_error(self):
        # `stylizer styles --json > report.json` on a full disk: nothing was
        # written and the command exited 0. The error names the full disk:
        # `video --out=- > x.mp4` said "the reader went away".
        for args, source in ((["styles", "--json"], None), (["styles"], None),
                             (["health"], None),
                             (["video", self.movie, "--styles=klimt",
                               "--out=-"], None),
                             (["image", "-", "--styles=klimt", "--out=-"],
                              self.png)):
            with contextlib.ExitStack() as stack:
                full = stack.enter_context(open("/dev/full", "w"))
                stdin = (stack.enter_context(open(source, "rb"))
                         if source else subprocess.DEVNULL)
                r = subprocess.run(
                    [CLI, f"--server={self.server_addr}", "--progress=none",
                     *args],
                    stdin=stdin, stdout=full, stderr=subprocess.PIPE,
                    text=True, timeout=300)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stderr}")
            last = r.stderr.strip().splitlines()[-1]
            self.assertIn("stylizer: error: cannot write to standard output",
                          last)
            self.assertIn("No space left on device", last, args)

    def test_video_hdr_phone_clip_comes_out_sdr(self):
        # A phone's HDR clip (10-bit HLG, BT.2020): tone-mapped to SDR and
        # tagged BT.709, where it used to come out as 8-bit HLG.
        hlg = os.path.join(self.tmp, "phone_hlg.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=0.5", "-vf",
               "format=yuv420p10le", "-c:v", "libx264", "-color_primaries",
               "bt2020", "-color_trc", "arib-std-b67", "-colorspace",
               "bt2020nc", hlg)
        out = self.out_dir("hdr")
        r = self.cli("video", hlg, "--styles=klimt", f"--out={out}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("96x64 HDR (arib-std-b67) -> SDR,", r.stderr)
        v = stream(probe(os.path.join(out, "phone_hlg.klimt.mp4")), "video")
        self.assertEqual((v["pix_fmt"], v["color_transfer"],
                          v["color_primaries"], v["color_space"]),
                         ("yuv420p", "bt709", "bt709", "bt709"))
        self.assertEqual(v["nb_read_frames"], "5")

    def test_video_mkv_blend_downscaled_silent(self):
        out = self.out_dir("mkv")
        r = self.cli("video", self.movie, "--styles=klimt:1+picasso:1",
                     "--container=mkv", "--drop_audio", "--max_side=48",
                     "--crf=30", f"--out={out}")
        self.skip_if_unimplemented(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(out, "clip.klimt0.5+picasso0.5.mkv")
        info = probe(path)
        self.assertIn("matroska", info["format"]["format_name"])
        v = stream(info, "video")
        self.assertEqual(max(v["width"], v["height"]), 48)
        self.assertIsNone(stream(info, "audio"))

    def test_video_output_that_is_a_directory_fails_before_any_work(self):
        # It used to fail only at the rename, after the whole job, leaving
        # the outputs renamed before it in place.
        out = self.out_dir("taken")
        os.makedirs(os.path.join(out, "clip.picasso.mp4"))
        r = self.cli("video", self.movie, "--styles=klimt,picasso",
                     f"--out={out}")
        self.assert_failed_cleanly(r, 1, "clip.picasso.mp4 is a directory")
        self.assertNotIn("progress:", r.stderr)  # nothing was uploaded
        self.assertEqual(os.listdir(out), ["clip.picasso.mp4"])
        # The same for a contact sheet under a file.
        blocker = os.path.join(out, "file")
        with open(blocker, "w") as f:
            f.write("x")
        r = self.cli("video", self.movie, "--styles=klimt", f"--out={out}",
                     f"--contact_sheet={blocker}/sheet.png")
        self.assert_failed_cleanly(r, 1, "is not a directory")
        self.assertEqual(sorted(os.listdir(out)), ["clip.picasso.mp4", "file"])

    def test_image_output_that_is_a_directory_fails_before_the_call(self):
        out = self.out_dir("taken")
        os.makedirs(os.path.join(out, "photo.picasso.png"))
        r = self.cli("image", self.png, "--styles=klimt,picasso",
                     f"--out={out}")
        self.assert_failed_cleanly(r, 1, "photo.picasso.png is a directory")
        self.assertEqual(os.listdir(out), ["photo.picasso.png"])

    def test_video_prints_no_ffmpeg_lines(self):
        # An MP4 with cover art made FFmpeg print "[mov,mp4,...] stream 2,
        # timescale not set" among the command's own lines.
        cover = os.path.join(self.tmp, "cover.png")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
               cover)
        movie = os.path.join(self.tmp, "with_cover.mp4")
        ffmpeg("-i", self.movie, "-i", cover, "-map", "0", "-map", "1",
               "-c:v:0", "copy", "-c:a", "copy", "-c:v:1", "png",
               "-disposition:v:1", "attached_pic", movie)
        out = self.out_dir("cover")
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([l for l in r.stderr.splitlines()
                          if l.startswith("[")], [], r.stderr)
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=2", "--verbose")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("timescale not set", r.stderr)
        # --verbose shows FFmpeg's warnings about the files the command
        # reads, not about its own segments: a Matroska movie's first
        # packets carry no decode time, and the segment muxer told the user
        # "Timestamps are unset in a packet ... Fix your code".
        mkv = os.path.join(self.tmp, "bframes.mkv")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=2", "-c:v",
               "libx264", "-g", "10", "-bf", "2", "-pix_fmt", "yuv420p", mkv)
        r = self.cli("video", mkv, "--styles=klimt", f"--out={out}",
                     "--split=2", "--verbose")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("split into 2 segments", r.stderr)
        self.assertNotIn("Fix your code", r.stderr)

    def test_video_split_into_more_segments_than_the_server_has_slots(self):
        # 70 one-frame segments to one server with 64 stream slots: they
        # were all sent at once, and the job failed at once with the
        # server's "already serves 64 streams". Now 4 go at a time.
        movie = os.path.join(self.tmp, "all_keyframes.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=7", "-c:v",
               "libx264", "-g", "1", "-pix_fmt", "yuv420p", movie)
        out = self.out_dir("many")
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=70")
        self.assertEqual(r.returncode, 0, r.stderr)
        # (Not the replica count: under load the first answer may take
        # longer than the 3 s the CLI waits for it.)
        self.assertIn("split into 70 segments at keyframes; sending 4 at a "
                      "time to ", r.stderr)
        v = stream(probe(os.path.join(out, "all_keyframes.klimt.mp4")),
                   "video")
        self.assertEqual(int(v["nb_read_frames"]), 70)

    def test_video_says_when_damaged_frames_were_skipped(self):
        # An MJPEG movie whose fifth frame header names arithmetic coding:
        # the server skips that frame, as ffmpeg does. The outputs were a
        # frame short and the CLI said nothing.
        movie = os.path.join(self.tmp, "damaged.avi")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-c:v",
               "mjpeg", movie)
        with open(movie, "rb") as f:
            data = bytearray(f.read())
        at = -1
        for _ in range(5):
            at = data.index(b"\xff\xc0", at + 1)
        data[at + 1] = 0xC9  # SOF0 becomes SOF9
        with open(movie, "wb") as f:
            f.write(data)
        out = self.out_dir("damaged")
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--progress=none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stylizer: warning: 1 damaged video packet was skipped, "
                      "as ffmpeg skips them: the outputs are missing its "
                      "frame", r.stderr)
        v = stream(probe(os.path.join(out, "damaged.klimt.mp4")), "video")
        self.assertEqual(int(v["nb_read_frames"]), 9)
        # Split, the segment that had it says so.
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=2", "--progress=none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"stylizer: warning: segment [12]: 1 "
                         r"damaged video packet was skipped")
        # Several movies: the line names the one that had it.
        clean = os.path.join(self.tmp, "clean.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-c:v",
               "libx264", "-pix_fmt", "yuv420p", clean)
        r = self.cli("video", clean, movie, "--styles=klimt", f"--out={out}",
                     "--progress=none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"stylizer: warning: {movie}: 1 damaged video packet "
                      "was skipped", r.stderr)
        self.assertEqual(r.stderr.count("damaged video packet"), 1, r.stderr)

    def probed_times(self, path, stream, entry):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", stream,
             "-show_entries", entry, "-of", "csv=p=0", path],
            check=True, capture_output=True, text=True).stdout
        return [round(float(t.strip(",")), 3) for t in out.split()]

    def shown_frame_times(self, path):
        return self.probed_times(path, "v", "frame=pts_time")

    def start_times(self, path):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "stream=codec_type,start_time", "-of", "csv=p=0", path],
            check=True, capture_output=True, text=True).stdout
        return {kind: float(t) for kind, t in
                (line.split(",")[:2] for line in out.split())}

    def sound_packet_times(self, path):
        return self.probed_times(path, "a", "packet=pts_time")

    def test_video_split_matches_unsplit(self):
        # Three sources whose outputs were wrong:
        # - `ffmpeg -ss 1.5 -c copy` keeps the GOP before the cut and hides
        #   its frames with an edit list. The first segment's start was
        #   taken from the hidden frames, and every frame of it came out
        #   1.5 s early (its first ones hidden, then a frozen gap).
        # - a capture whose MPEG-TS clock reads 100 s: every MP4 output
        #   opened with an empty edit of 101.4 s (nothing to show for that
        #   long). Outputs now start at 0, as ffmpeg's do, split or not.
        source = os.path.join(self.tmp, "trim_source.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=6", "-c:v",
               "libx264", "-g", "20", "-bf", "0", "-pix_fmt", "yuv420p",
               source)
        trimmed = os.path.join(self.tmp, "trimmed.mp4")
        ffmpeg("-ss", "1.5", "-i", source, "-c", "copy", trimmed)
        late = os.path.join(self.tmp, "late.ts")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=6", "-f",
               "lavfi", "-i", "sine=f=440:d=6", "-c:v", "libx264", "-g",
               "20", "-pix_fmt", "yuv420p", "-c:a", "aac",
               "-output_ts_offset", "100", "-f", "mpegts", late)
        # - two captures joined byte for byte, the second one's sound a
        #   second ahead of its picture: the picture goes forward, the sound
        #   goes back. The join failed after every segment was stylized.
        #   The server now moves everything after the sound's jump (joined
        #   recordings follow on), which a segment cut after it would not
        #   be: such a movie is sent whole.
        parts = []
        for k, (v_at, a_at) in enumerate((("0", "0"), ("4", "1"))):
            parts.append(os.path.join(self.tmp, f"part{k}.ts"))
            ffmpeg("-itsoffset", v_at, "-f", "lavfi", "-i",
                   "testsrc2=s=96x64:r=10:d=3", "-itsoffset", a_at, "-f",
                   "lavfi", "-i", "sine=f=440:d=3", "-c:v", "libx264", "-g",
                   "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts",
                   parts[-1])
        joined = os.path.join(self.tmp, "joined.ts")
        with open(joined, "wb") as f:
            for part in parts:
                with open(part, "rb") as src:
                    f.write(src.read())
        # - a screen recording whose last frame follows a pause: an MP4
        #   track ends at its last packet in decode order, and the server
        #   stretches that packet to the last frame's end; the join did not
        #   (2 s of 3.03 in players).
        paused = os.path.join(self.tmp, "paused.mkv")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=30:d=2", "-vf",
               "setpts='if(lt(N,59),N/30/TB,3/TB)'", "-fps_mode",
               "passthrough", "-c:v", "libx264", "-g", "15", "-pix_fmt",
               "yuv420p", paused)
        for movie in (trimmed, late, joined, paused):
            name = os.path.splitext(os.path.basename(movie))[0]
            times, starts, sounds, lengths = {}, {}, {}, {}
            for split in ("1", "2"):
                out = self.out_dir(f"{name}{split}")
                r = self.cli("video", movie, "--styles=klimt",
                             f"--out={out}", f"--split={split}")
                self.assertEqual(r.returncode, 0, r.stderr)
                if split == "2" and movie == joined:
                    self.assertIn("not split: its timestamps jump 1 time",
                                  r.stderr)
                elif split == "2":
                    self.assertIn("split into 2 segments", r.stderr)
                output = os.path.join(out, f"{name}.klimt.mp4")
                times[split] = self.shown_frame_times(output)
                starts[split] = self.start_times(output)
                sounds[split] = self.sound_packet_times(output)
                lengths[split] = float(subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries",
                     "format=duration", "-of", "csv=p=0", output],
                    capture_output=True, text=True, check=True).stdout)
            # The earlier stream starts at 0 (the sound, 23 ms before the
            # picture, in the capture).
            self.assertEqual(min(starts["1"].values()), 0.0, name)
            self.assertLess(times["1"][0], 0.05, name)
            self.assertEqual(times["2"], times["1"], name)
            self.assertEqual(sounds["2"], sounds["1"], name)
            self.assertAlmostEqual(lengths["2"], lengths["1"], 2, name)
            if movie == paused:
                self.assertAlmostEqual(lengths["1"], 3.033, 2)
            for kind, t in starts["1"].items():
                self.assertAlmostEqual(starts["2"][kind], t, 3,
                                       f"{name} {kind}")

    def test_video_non_video_input(self):
        out = self.out_dir("x")
        r = self.cli("video", self.text, f"--out={out}")
        self.skip_if_unimplemented(r)
        self.assert_failed_cleanly(r, 1, "the server rejected the input", out)

    def test_video_missing_file(self):
        out = self.out_dir("x")
        r = self.cli("video", os.path.join(self.tmp, "nope.mp4"), f"--out={out}")
        self.assert_failed_cleanly(r, 1, "No such file", out)

    # --- bench ---

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


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


class CliSecurityTest(unittest.TestCase):
    """TLS, mutual TLS and bearer tokens from the CLI's side."""

    @classmethod
    def setUpClass(cls):
        make_class_dir(cls, "cli_e2e_security.")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=stylizer test CA", cwd=cls.tmp)
        for name, san in (("server", "IP:127.0.0.1,DNS:localhost"),
                          ("client", "DNS:client")):
            openssl("req", *ec, "-keyout", f"{name}.key", "-out",
                    f"{name}.csr", "-subj", f"/CN={name}", cwd=cls.tmp)
            with open(os.path.join(cls.tmp, f"{name}.ext"), "w") as f:
                f.write(f"subjectAltName={san}\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                    "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                    "-out", f"{name}.pem", "-extfile", f"{name}.ext",
                    cwd=cls.tmp)
        cls.token = os.path.join(cls.tmp, "token")
        with open(cls.token, "w") as f:
            f.write("a-long-enough-test-token-0123456789\n")
        cls.bad_token = os.path.join(cls.tmp, "bad_token")
        with open(cls.bad_token, "w") as f:
            f.write("not-the-right-token-but-long-enough\n")
        t = cls.tmp
        start_server(cls, f"--tls_cert={t}/server.pem",
                     f"--tls_key={t}/server.key", f"--tls_client_ca={t}/ca.pem",
                     f"--auth_token_file={cls.token}")
        cls.addr = f"127.0.0.1:{cls.port}"
        wait_until_healthy(cls)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls)

    @classmethod
    def cli(cls, *args, tls=True, cert=True, token=None):
        flags = [f"--server={cls.addr}"]
        if tls:
            flags.append(f"--ca={cls.tmp}/ca.pem")
        if cert:
            flags += [f"--cert={cls.tmp}/client.pem", f"--key={cls.tmp}/client.key"]
        if token:
            flags.append(f"--token_file={token}")
        return subprocess.run([CLI, *flags, "--retries=0", *args],
                              capture_output=True, text=True, timeout=120)

    def test_right_certificate_and_token(self):
        r = self.cli("styles", token=self.token)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("klimt", r.stdout)

    def test_health_needs_no_token(self):
        r = self.cli("health")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_or_wrong_token(self):
        for token in (None, self.bad_token):
            r = self.cli("styles", token=token)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("refused our credentials", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_without_client_certificate_or_tls(self):
        for kwargs in ({"cert": False}, {"tls": False, "cert": False}):
            r = self.cli("styles", token=self.token, **kwargs)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(self.addr, r.stderr)
        # Plaintext against TLS reads as "cannot reach": the address takes
        # connections, so the TLS flags are named (people went looking for
        # a server that was running).
        self.assertIn("its TLS setup and ours differ", r.stderr)

    def test_tls_server_name(self):
        # An exec probe dials 127.0.0.1 of a server whose certificate names
        # its Service: the name to check is given apart from the address.
        r = self.cli("--tls_server_name=localhost", "health")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("--tls_server_name=stylizer.example", "health")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(self.addr, r.stderr)

    def test_a_failed_handshake_is_one_line(self):
        # --tls with the system's roots, which do not trust this server's CA:
        # gRPC's own "Handshake failed" lines came before the command's.
        r = subprocess.run([CLI, f"--server={self.addr}", "--tls", "--retries=0", "styles"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("stylizer: error: "), r.stderr)
        # --verbose shows them.
        r = subprocess.run([CLI, f"--server={self.addr}", "--tls", "--retries=0", "--verbose",
                            "styles"], capture_output=True, text=True, timeout=120)
        self.assertIn("grpc: ", r.stderr)

    def test_unreadable_token_file(self):
        r = self.cli("styles", token=os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot read the token file", r.stderr)

    def test_token_and_tls_files_must_be_small_regular_files(self):
        # A named pipe blocked the command until something wrote to it
        # (first: before the fix this ends the test at its timeout, before
        # /dev/zero, which was read until memory ran out).
        fifo = os.path.join(self.tmp, "token.fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        r = subprocess.run([CLI, f"--server={self.addr}", f"--token_file={fifo}",
                            "styles"], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the token file (--token_file) {fifo} is not a regular file",
                      r.stderr)
        for flags, says in (
                (["--token_file=/dev/zero"], "token file (--token_file) /dev/zero"),
                (["--token_file=/dev/stdin"], "(--token_file) /dev/stdin"),
                (["--ca=/dev/zero"], "CA file (--ca) /dev/zero"),
                ([f"--cert={self.tmp}/client.pem", f"--key={fifo}"],
                 f"client key (--key) {fifo}")):
            r = subprocess.run([CLI, f"--server={self.addr}", *flags, "styles"],
                               capture_output=True, text=True, timeout=20,
                               stdin=subprocess.PIPE)
            self.assertEqual(r.returncode, 1, (flags, r.stderr))
            self.assertIn(says, r.stderr)
            self.assertIn("is not a regular file", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        big = os.path.join(self.tmp, "big_token")
        with open(big, "w") as f:
            f.write("a" * (64 << 10) + "\n")
        r = self.cli("styles", token=big)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the token file (--token_file) {big} is 65537 bytes, more than "
                      "such a file may be (65536)", r.stderr)

    def test_a_token_longer_than_the_servers_headers_take(self):
        # Under the CLI's 64 KiB but over the server's 64 KiB of headers with
        # "authorization: Bearer " and the others: gRPC's "received initial
        # metadata size exceeds limit" read as "the input is too large".
        long_token = os.path.join(self.tmp, "long_token")
        with open(long_token, "w") as f:
            f.write("a" * 65400 + "\n")
        r = self.cli("styles", token=long_token)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the request's headers are larger than the server accepts "
                      "(the token from --token_file is 65400 bytes)", r.stderr)
        self.assertNotIn("too large for the server", r.stderr)
        self.assertNotIn("a" * 64, r.stderr)


def shard_suite(shard, count):
    """Every count-th test of the module, from the shard-th on (in file
    order, so that each class's tests stay together): CTest runs the shards
    as tests of their own, in parallel and each under its own timeout. The
    whole file took 460-570 s of its 600 on a loaded 2-core machine."""
    tests = []

    def flatten(suite):
        for item in suite:
            if isinstance(item, unittest.TestSuite):
                flatten(item)
            else:
                tests.append(item)

    flatten(unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__]))
    return unittest.TestSuite(tests[shard::count])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--"]
    shards = [a for a in args if a.startswith("--shard=")]
    if shards:
        # --shard=K/N: the K-th (from 0) of N shards.
        k, n = (int(x) for x in shards[-1][len("--shard="):].split("/"))
        result = unittest.TextTestRunner(verbosity=2).run(shard_suite(k, n))
        sys.exit(0 if result.wasSuccessful() else 1)
    unittest.main(argv=[sys.argv[0]] + args)
