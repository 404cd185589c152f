#!/usr/bin/env python3
"""Runs examples/python/stylize_client.py as a user would, against a real
stylizer-server with the 4-style random test archive: an image in two
styles, a movie in one, and a movie sent while the server's only stream slot
is held, which the example must wait out (its retry on the server's hint).

Environment: STYLIZER_SERVER_BIN, STYLIZER_TEST_MODEL (set by CTest), or
STYLIZER_BUILD_DIR to find them.
"""
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from server_process import ServerProcess  # noqa: E402
from stream_slots import SlotHolder  # noqa: E402
from build_paths import SERVER, SOURCE as ROOT  # noqa: E402
from build_paths import TEST_MODEL as MODEL  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "python", "stylize_client.py")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True)


def frames(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of",
         "json", path], capture_output=True, text=True, check=True).stdout
    video = [s for s in json.loads(out)["streams"]
             if s["codec_type"] == "video"][0]
    return int(video["nb_read_frames"]), video["codec_name"]


def make_stubs(out_dir):
    """Generates the Python stubs of the API into out_dir; returns (pb,
    pb_grpc)."""
    os.makedirs(out_dir)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                    "-I" + os.path.join(ROOT, "proto"),
                    "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
                    "stylizer/v1/stylizer.proto"], check=True)
    sys.path.insert(0, out_dir)
    return (importlib.import_module("stylizer.v1.stylizer_pb2"),
            importlib.import_module("stylizer.v1.stylizer_pb2_grpc"))


def wait_for_model_info(server, pb, pb_grpc):
    """The ModelInfo of `server` (a ServerProcess), once it answers:
    UNAVAILABLE until the model is loaded and warm (minutes on a loaded
    machine). RuntimeError, with the log, if the process exits first."""
    with grpc.insecure_channel(server.addr) as channel:
        stub = pb_grpc.StylizerStub(channel)
        deadline = time.monotonic() + 240
        while True:
            try:
                return stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
            except grpc.RpcError as e:
                if (e.code() != grpc.StatusCode.UNAVAILABLE or
                        time.monotonic() > deadline):
                    raise
            if not server.running():
                with open(server.log_path, errors="replace") as f:
                    raise RuntimeError(f"stylizer-server exited:\n{f.read()[-4000:]}")
            time.sleep(0.2)


class PythonClientExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (SERVER, MODEL):
            if not os.path.exists(path):
                raise unittest.SkipTest(f"{path} is not built")
        cls.tmp = tempfile.mkdtemp(prefix="python_client_test.")
        cls.png = os.path.join(cls.tmp, "photo.png")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
               cls.png)
        cls.movie = os.path.join(cls.tmp, "clip.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1", "-c:v",
               "libx264", "-pix_fmt", "yuv420p", cls.movie)
        cls.stubs = os.path.join(cls.tmp, "stubs")
        pb, pb_grpc = make_stubs(cls.stubs)
        # One stream slot, so that a held stream makes the server busy.
        cls.server = ServerProcess(
            SERVER, MODEL, os.path.join(cls.tmp, "server.log"),
            "--threads=2", "--max_concurrent_streams=1",
            "--stream_idle_timeout=120s", metrics=False)
        cls.addr = cls.server.addr
        try:
            wait_for_model_info(cls.server, pb, pb_grpc)
        except Exception:
            # tearDownClass does not run when setUpClass fails.
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def example(self, *args, **kwargs):
        return subprocess.run(
            [sys.executable, EXAMPLE, f"--server={self.addr}",
             f"--stubs={self.stubs}", *args],
            capture_output=True, text=True, timeout=240, **kwargs)

    def test_image_in_two_styles(self):
        out = os.path.join(self.tmp, "image_out")
        r = self.example("image", self.png, out, "0", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        paths = r.stdout.split()
        self.assertEqual([os.path.basename(p) for p in paths],
                         ["photo.0.png", "photo.3.png"])
        for p in paths:
            self.assertEqual(frames(p), (1, "png"))

    def test_movie_in_one_style(self):
        out = os.path.join(self.tmp, "video_out")
        r = self.example("video", self.movie, out, "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("job ", r.stderr)
        (path,) = r.stdout.split()
        self.assertEqual(frames(path), (10, "h264"))
        # Named by style; no .part left.
        self.assertEqual(os.listdir(out), ["clip.2.mp4"])

    def test_movie_waits_for_a_busy_server(self):
        holder = SlotHolder(self.addr)
        try:
            holder.hold_one()
            out = os.path.join(self.tmp, "busy_out")
            example = subprocess.Popen(
                [sys.executable, EXAMPLE, f"--server={self.addr}",
                 f"--stubs={self.stubs}", "video", self.movie, out, "1"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            said = []
            for line in example.stderr:
                said.append(line)
                if "retry 1 in 1.0 s" in line:
                    break
            holder.free()
            stdout, rest = example.communicate(timeout=240)
            said.append(rest)
            self.assertEqual(example.returncode, 0, "".join(said))
            self.assertIn("RESOURCE_EXHAUSTED, retry 1 in 1.0 s",
                          "".join(said))
            self.assertEqual(frames(stdout.split()[0]), (10, "h264"))
        finally:
            holder.close()


    def test_mistakes_are_one_line_and_make_no_folder(self):
        # A missing input ended in a traceback after the output folder was
        # made; a negative style in protobuf's ValueError traceback.
        out = os.path.join(self.tmp, "mistake_out")
        for kind in ("image", "video"):
            r = self.example(kind, os.path.join(self.tmp, "nope.png"), out)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr.strip().splitlines(),
                             [f"{self.tmp}/nope.png: No such file or "
                              "directory"])
        r = self.example("image", self.png, out, "-1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("'-1' is not a style index (0 or more)", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        # Outputs are named by style: the second would overwrite the first.
        r = self.example("video", self.movie, out, "3", "3")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("style 3 is named twice", r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_stubs_made_on_the_fly_leave_no_folder(self):
        # Without --stubs the example makes them in a temporary folder; each
        # run left one behind.
        tmpdir = os.path.join(self.tmp, "own_tmp")
        os.makedirs(tmpdir)
        out = os.path.join(self.tmp, "fly_out")
        r = subprocess.run(
            [sys.executable, EXAMPLE, f"--server={self.addr}", "image",
             self.png, out, "1"],
            capture_output=True, text=True, timeout=240,
            env=dict(os.environ, TMPDIR=tmpdir))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(tmpdir), [])


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, pushback=None):
        self._code, self._details = code, details
        self._trailers = (("grpc-retry-pushback-ms", pushback),) if (
            pushback is not None) else ()

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


class RetryWaitTest(unittest.TestCase):
    """Which failures the example retries, and after how long."""

    @classmethod
    def setUpClass(cls):
        spec = importlib.util.spec_from_file_location("stylize_client",
                                                      EXAMPLE)
        cls.example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.example)

    def wait(self, *args):
        return self.example.retry_wait(FakeRpcError(*args), 0)

    def test_busy_too_large_and_quota(self):
        busy = grpc.StatusCode.RESOURCE_EXHAUSTED
        self.assertEqual(self.wait(busy, "busy", "2000"), 2.0)
        self.assertIsNone(self.wait(busy, "too large", "-1"))
        self.assertIsNone(self.wait(busy, "too large"))
        # gRPC's own refusal when the server's buffer quota is spent: busy,
        # without a hint; it was taken as too large and final.
        self.assertEqual(
            self.wait(busy, "Received RST_STREAM with error code 11"), 1.0)
        self.assertEqual(self.wait(grpc.StatusCode.UNAVAILABLE, "draining"),
                         0.25)
        self.assertIsNone(self.wait(grpc.StatusCode.INVALID_ARGUMENT, "bad"))


class UnicodeStyleNamesTest(unittest.TestCase):
    """Style names past U+FFFF reach clients intact. The exporter's JSON
    escapes them as surrogate pairs, which the server turned into invalid
    UTF-8: every GetModelInfo failed in the client ("Exception deserializing
    response"), and the CLI said the server did not offer the call."""

    def test_get_model_info_names_them(self):
        for path in (SERVER, MODEL):
            if not os.path.exists(path):
                self.skipTest(f"{path} is not built")
        sys.path.insert(0, os.path.join(ROOT, "training"))
        from export_seed import random_state_dict
        from stylizer_training.export import export_archive
        tmp = tempfile.mkdtemp(prefix="unicode_names_test.")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        archive = os.path.join(tmp, "emoji.pt")
        names = ["\U0001F3A8 art", "caf\u00e9", "\u6c34\u58a8"]
        export_archive(random_state_dict(3, 0), names, archive,
                       {"name": "palette \U0001F58C"})
        pb, pb_grpc = make_stubs(os.path.join(tmp, "stubs"))
        server = ServerProcess(SERVER, archive, os.path.join(tmp, "server.log"),
                               "--threads=1", "--precision=fp32",
                               metrics=False)
        self.addCleanup(server.stop)
        info = wait_for_model_info(server, pb, pb_grpc)
        self.assertEqual([s.name for s in info.styles], names)
        self.assertEqual(info.name, "palette \U0001F58C")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a != "--"])
