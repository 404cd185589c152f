"""Shared parts of the hostile-client tests (tests/hostile/*_test.py): limits,
request helpers, and HostileTestCase.

Each test sends one input or call pattern that a careless or malicious client
could send (issue 13's table, one test per row, plus protocol abuse), then
checks:
  * the status code and that its message says something a person can act on;
  * that the server process is still alive and still serves a normal small
    StylizeImage afterwards;
  * the server's peak RSS during the test (VmHWM, reset before each test)
    stays within MEMORY_BUDGET_MIB of its RSS when the test began.

Tests named test_rowN_* are the rows of the issue's table, in its order; the
ones marked "FAILS ON main @ 65128ad" in their docstring fail before the
fixes of issue 13 (the expected behaviour is the fixed one).

Environment: see harness.py (CTest sets it).
"""
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import media  # noqa: E402

grpc, pb, pb_grpc, health_pb, health_grpc = harness.stubs()
Code = grpc.StatusCode

__all__ = ["CALL_TIMEOUT_S", "COMMON_FLAGS", "Code", "FLT_MAX", "HostileTestCase",
           "MEMORY_BUDGET_MIB", "MEMORY_GUARD_MIB", "VideoResult", "call_image",
           "grpc", "harness", "health_grpc", "health_pb", "media", "pb",
           "pb_grpc", "probe_file", "raw_h2_call_never_read", "raw_image",
           "run_video", "video_requests"]

MEMORY_BUDGET_MIB = 512
# The harness kills a server that grows this far above a test's start (an
# unbounded input would otherwise take the whole machine).
MEMORY_GUARD_MIB = 1536
# Client deadline of ordinary calls: a safety net far above what any call
# needs on a loaded 2-core machine, so that a hang fails instead of blocking.
CALL_TIMEOUT_S = 90
# Flags of every server in the suite: one CPU thread per forward pass and
# two work threads keep the tests cheap on a shared 2-core CI machine
# (several CPU threads spin-waiting for each other there are much slower).
COMMON_FLAGS = ["--threads=1", "--work_threads=2"]
FLT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def raw_image(width, height):
    return pb.Image(raw=pb.RawImage(width=width, height=height,
                                    rgb=media.raw_rgb(width, height)))


def video_requests(job, data, chunk_bytes=64 << 10):
    yield pb.StylizeVideoRequest(job=job)
    for i in range(0, len(data), chunk_bytes):
        yield pb.StylizeVideoRequest(chunk=data[i:i + chunk_bytes])


class VideoResult:
    """What a StylizeVideo call returned: code, details, per-output bytes."""

    def __init__(self):
        self.code = Code.OK
        self.details = ""
        self.accepted = None
        self.summary = None
        self.outputs = {}
        self.progress = []

    def take(self, response):
        kind = response.WhichOneof("msg")
        if kind == "accepted":
            self.accepted = response.accepted
        elif kind == "progress":
            self.progress.append(response.progress)
        elif kind == "chunk":
            index = response.chunk.output_index
            self.outputs[index] = self.outputs.get(index, b"") + \
                response.chunk.data
        elif kind == "summary":
            self.summary = response.summary


def run_video(stub, requests, timeout=CALL_TIMEOUT_S):
    result = VideoResult()
    try:
        for response in stub.StylizeVideo(requests, timeout=timeout):
            result.take(response)
    except grpc.RpcError as e:
        result.code, result.details = e.code(), e.details() or ""
    return result


def raw_h2_call_never_read(host, port, path, message, wait_s):
    """Makes one gRPC call over a hand-written HTTP/2 connection whose
    stream window is 0 (SETTINGS_INITIAL_WINDOW_SIZE), so that no response
    byte can be sent, and never opens it. Acknowledges SETTINGS and PING, as
    a live client does. Returns how the call's stream ended: "RST_STREAM",
    "GOAWAY", "trailers", or "" if it had not after `wait_s` seconds."""
    def frame(kind, flags, stream, payload):
        return (struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) +
                struct.pack(">I", stream) + payload)

    def header(name, value):  # HPACK literal without indexing, new name
        assert len(name) < 127 and len(value) < 127
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    headers = b"".join(header(k, v) for k, v in (
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()),
        (b":authority", host.encode()), (b"content-type", b"application/grpc"),
        (b"te", b"trailers")))
    body = b"\x00" + struct.pack(">I", len(message)) + message
    with socket.create_connection((host, port), timeout=wait_s) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                  frame(4, 0, 0, struct.pack(">HI", 4, 0)))  # window 0
        s.sendall(frame(1, 4, 1, headers))  # HEADERS, END_HEADERS
        for i in range(0, len(body), 16384):
            last = i + 16384 >= len(body)
            s.sendall(frame(0, 1 if last else 0, 1, body[i:i + 16384]))
        deadline = time.monotonic() + wait_s
        data = b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                more = s.recv(65536)
            except socket.timeout:
                break
            if not more:
                return "GOAWAY"
            data += more
            while len(data) >= 9:
                length = int.from_bytes(data[:3], "big")
                if len(data) < 9 + length:
                    break
                kind, flags = data[3], data[4]
                stream = int.from_bytes(data[5:9], "big") & 0x7fffffff
                payload = data[9:9 + length]
                data = data[9 + length:]
                if kind == 4 and not flags & 1:  # SETTINGS: acknowledge
                    s.sendall(frame(4, 1, 0, b""))
                elif kind == 6 and not flags & 1:  # PING: answer
                    s.sendall(frame(6, 1, 0, payload))
                elif kind == 3 and stream == 1:
                    return "RST_STREAM"
                elif kind == 7:
                    return "GOAWAY"
                elif kind == 1 and stream == 1 and flags & 1:
                    return "trailers"
    return ""


def call_image(stub, request, timeout=CALL_TIMEOUT_S):
    """(code, details, response) of a StylizeImage call."""
    try:
        return Code.OK, "", stub.StylizeImage(request, timeout=timeout)
    except grpc.RpcError as e:
        return e.code(), e.details() or "", None


def probe_file(path):
    """ffprobe's view of an output: (video frames decoded, audio codec or
    None, the audio's length in seconds (end of its last packet less the
    start of its first: MPEG-TS inputs start at 1.4 s or later, and the
    outputs keep the input's timestamps) or None)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,codec_name,nb_read_frames", "-of", "csv=p=0",
         path], capture_output=True, text=True)
    video_frames, audio = None, None
    for line in out.stdout.splitlines():
        fields = line.split(",")
        if "video" in fields:
            video_frames = int(fields[-1]) if fields[-1].isdigit() else None
        elif "audio" in fields:
            audio = fields[0]
    audio_end, audio_start = None, None
    if audio is not None:
        packets = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a",
             "-show_entries", "packet=pts_time,duration_time", "-of",
             "csv=p=0", path], capture_output=True, text=True)
        for line in packets.stdout.splitlines():
            try:
                pts, duration = (float(x) for x in line.split(",")[:2])
            except ValueError:
                continue
            audio_end = max(audio_end or 0, pts + duration)
            audio_start = pts if audio_start is None else min(audio_start, pts)
    if audio_end is not None:
        audio_end -= audio_start
    return video_frames, audio, audio_end


class HostileTestCase(unittest.TestCase):
    """One server per class; restarted if a test killed it."""

    server_flags = []

    @classmethod
    def setUpClass(cls):
        for path in (harness.SERVER_BIN, harness.MODEL):
            if not os.path.exists(path):
                raise unittest.SkipTest(f"{path} is not built")
        cls.tmp = harness.tmpdir("stylizer-hostile-")
        cls.server = harness.ServerProcess(
            cls.tmp, COMMON_FLAGS + cls.server_flags, name=cls.__name__)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        server = getattr(cls, "server", None)
        report = None
        if server is not None:
            server.stop()
            # An instrumented server reports leaks when it exits.
            report = server.sanitizer_report()
        harness.rmtree(getattr(cls, "tmp", None) or "/nonexistent")
        if report:
            raise AssertionError(f"sanitizer report at exit:\n{report}")

    def setUp(self):
        if not self.server.alive():
            self.server.stop()
            self.server.start()
        self.stub = self.server.stub
        self.server.reset_hwm()
        self.rss_before_kb = self.server.rss_kb()
        self.server.set_memory_guard(MEMORY_GUARD_MIB)

    def tearDown(self):
        self.assert_server_fine()

    # -- checks --------------------------------------------------------------

    def assert_server_fine(self):
        """The server is alive, serves a small image, and its peak RSS during
        the test stayed within the budget (and, for an instrumented server,
        no sanitizer spoke)."""
        report = self.server.sanitizer_report()
        if report:
            self.server.stop()  # the next test starts a clean one
            self.fail(f"sanitizer report in the server's log:\n{report}")
        peak_kb = self.server.hwm_kb()
        if not self.server.alive() or peak_kb is None:
            self.server.proc.wait()
            self.fail(self.server.guard_tripped or
                      f"the server died ({self.server.exit_description()}); "
                      f"log:\n{self.server.log_tail()}")
        code, details, response = call_image(
            self.stub, pb.StylizeImageRequest(image=raw_image(32, 24),
                                              styles=[pb.Style(index=1)]))
        self.assertEqual(code, Code.OK,
                         f"a normal image after the test: {details}")
        self.assertEqual(len(response.images), 1)
        self.assertEqual(len(response.images[0].image.raw.rgb), 32 * 24 * 3)
        growth_mib = (peak_kb - self.rss_before_kb) / 1024
        self.assertLessEqual(
            growth_mib, MEMORY_BUDGET_MIB,
            f"peak RSS {peak_kb // 1024} MiB is {growth_mib:.0f} MiB above "
            f"the {self.rss_before_kb // 1024} MiB at the test's start")

    def assert_status(self, code, details, expected, *words):
        """`code` is `expected` (or one of them) and the message names at
        least one of `words` (case-insensitive)."""
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if code not in allowed and self.server.guard_tripped:
            self.fail(f"{self.server.guard_tripped} (the call got "
                      f"{code.name} {details!r})")
        self.assertIn(code, allowed, f"message: {details!r}")
        if words and code != Code.OK:
            self.assertTrue(
                any(w.lower() in details.lower() for w in words),
                f"{code.name} message {details!r} names none of {words}")

    def assert_outputs_play(self, result, count, frames=None, audio=None,
                            audio_seconds=None, suffix=".mp4"):
        """`count` outputs that ffprobe decodes (with `frames` video frames,
        an audio stream of codec `audio` and audio ending within 0.3 s of
        `audio_seconds`, where given)."""
        self.assertEqual(sorted(result.outputs), list(range(count)))
        for index, data in result.outputs.items():
            path = os.path.join(self.tmp, f"out-{self.id()}-{index}{suffix}")
            with open(path, "wb") as f:
                f.write(data)
            got_frames, got_audio, audio_end = probe_file(path)
            if frames is not None:
                self.assertEqual(got_frames, frames, f"output {index}")
            else:
                self.assertGreater(got_frames or 0, 0, f"output {index}")
            if audio is not None:
                self.assertEqual(got_audio, audio, f"output {index}")
            if audio_seconds is not None:
                self.assertIsNotNone(audio_end, f"output {index}: no audio")
                self.assertAlmostEqual(
                    audio_end, audio_seconds, delta=0.3,
                    msg=f"output {index}: the audio lasts {audio_end:.2f} "
                    f"s, the input's {audio_seconds} s")
