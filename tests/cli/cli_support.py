"""Shared parts of the `stylizer` CLI's end-to-end tests (tests/cli/*_test.py).

Each test module starts stylizer-server on a free loopback port with the
4-style random test archive, then runs CLI commands as a user would and checks
exit codes, messages, and the files (decoded with ffprobe). Inputs are tiny
movies and images made with the ffmpeg CLI.

Environment: STYLIZER_CLI, STYLIZER_SERVER_BIN, STYLIZER_TEST_MODEL (set by
CTest), or STYLIZER_BUILD_DIR to find them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from server_process import ServerProcess, free_port  # noqa: E402
from stream_slots import SlotHolder  # noqa: E402
from build_paths import BUILD, CLI, SERVER  # noqa: E402
from build_paths import TEST_MODEL as MODEL  # noqa: E402

STYLES = ["klimt", "mosaic", "outcry", "picasso"]

__all__ = ["BUILD", "CLI", "MODEL", "SERVER", "STYLES", "SampleServerTestCase",
           "ServerProcess", "SlotHolder", "ffmpeg", "free_port", "main",
           "make_class_dir", "probe", "start_server", "stop_server", "stream",
           "wait_until_healthy"]


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



class SampleServerTestCase(unittest.TestCase):
    """A server with --threads=2, and three inputs in cls.tmp: a 1 s 96x64
    movie with a tone (cls.movie), a 64x48 PNG (cls.png) and a text file
    (cls.text). Test classes derive from it."""

    @classmethod
    def setUpClass(cls):
        make_class_dir(cls, f"cli_{cls.__name__}.")
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


def main():
    """Runs the calling module's tests (unittest's command line)."""
    unittest.main(module="__main__")
