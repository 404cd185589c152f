#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server process.

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

Run one row:  python3 tests/hostile/hostile_test.py -v -k row6
Environment: see harness.py (CTest sets it).
"""
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import media  # noqa: E402

grpc, pb, pb_grpc, health_pb, health_grpc = harness.stubs()
Code = grpc.StatusCode

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


class MovieRowsTest(HostileTestCase):
    """Rows 1-3: movies the server should take (or refuse cleanly)."""

    def two_style_job(self, **fields):
        return pb.VideoJob(styles=[pb.Style(index=0), pb.Style(index=1)],
                           max_side=64, **fields)

    def assert_audio_change_handled(self, first, second):
        path = media.ts_with_audio_change(
            os.path.join(self.tmp, f"change-{first}-{second}.ts"), first,
            second)
        with open(path, "rb") as f:
            data = f.read()
        result = run_video(self.stub, video_requests(self.two_style_job(),
                                                     data))
        # Completing (audio resampled or re-encoded, its timing intact) or
        # refusing the audio change with a clear message are both
        # acceptable; dying is not.
        self.assert_status(result.code, result.details,
                           (Code.OK, Code.INVALID_ARGUMENT), "audio")
        if result.code == Code.OK:
            self.assert_outputs_play(result, 2, frames=40, audio_seconds=4)

    def test_row1_ts_mp2_stereo_to_mono_mid_stream(self):
        """FAILS ON main @ 65128ad: the server dies (SIGSEGV)."""
        self.assert_audio_change_handled((2, 48000), (1, 48000))

    def test_row1_ts_mp2_48k_to_22k_mid_stream(self):
        """FAILS ON main @ 65128ad: here OK, but the 48 kHz half is
        re-encoded as 22.05 kHz, so the audio lasts 6.6 s instead of 4 s
        (the issue saw SIGSEGV with other inputs)."""
        self.assert_audio_change_handled((2, 48000), (2, 22050))

    def assert_aac_ts_converts(self, container, suffix):
        path = media.ts_with_aac(os.path.join(self.tmp, "aac.ts"))
        with open(path, "rb") as f:
            data = f.read()
        result = run_video(self.stub, video_requests(
            self.two_style_job(container=container), data))
        self.assertEqual(result.code, Code.OK, result.details)
        self.assert_outputs_play(result, 2, frames=20, audio="aac",
                                 audio_seconds=2, suffix=suffix)

    def test_row2_ts_aac_to_mp4(self):
        """FAILS ON main @ 65128ad: INTERNAL "writing the output: Operation
        not permitted" (ADTS AAC copied into MP4 without aac_adtstoasc)."""
        self.assert_aac_ts_converts(pb.CONTAINER_MP4, ".mp4")

    def test_row2_ts_aac_to_matroska(self):
        """FAILS ON main @ 65128ad: INTERNAL "writing the output: Operation
        not permitted"."""
        self.assert_aac_ts_converts(pb.CONTAINER_MATROSKA, ".mkv")

    def large_mp4(self):
        path = os.path.join(self.tmp, "large.mp4")
        if not os.path.exists(path):
            media.large_mp4(path)
        with open(path, "rb") as f:
            return f.read()

    def test_row3_large_mp4_without_input_size(self):
        """FAILS ON main @ 65128ad: hangs until the client's deadline (the
        index at the end lies beyond the spool's read-ahead)."""
        data = self.large_mp4()
        job = pb.VideoJob(styles=[pb.Style(index=0)], max_side=64)
        # 10 frames: seconds of work; 60 s is wide and bounds the hang.
        result = run_video(self.stub, video_requests(job, data), timeout=60)
        self.assertEqual(result.code, Code.OK, result.details)
        self.assert_outputs_play(result, 1, frames=10)

    def test_row3_large_mp4_with_input_size(self):
        """The same file with input_size (works on main: the control)."""
        data = self.large_mp4()
        job = pb.VideoJob(styles=[pb.Style(index=0)], max_side=64,
                          input_size=len(data))
        result = run_video(self.stub, video_requests(job, data))
        self.assertEqual(result.code, Code.OK, result.details)
        self.assert_outputs_play(result, 1, frames=10)


class ImageRowsTest(HostileTestCase):
    """Rows 4, 5, 7 and 8: still images and styles."""

    @classmethod
    def bomb(cls):
        if not hasattr(cls, "_bomb"):
            cls._bomb = media.zlib_bomb()
        return cls._bomb

    def assert_bomb_cheap(self, encoded):
        start = time.monotonic()
        code, details, response = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=encoded), styles=[pb.Style(index=0)]))
        elapsed = time.monotonic() - start
        # The pixels are fine: serving them (ignoring or bounding the
        # ancillary chunk) or refusing the chunk are both acceptable.
        self.assert_status(code, details, (Code.OK, Code.INVALID_ARGUMENT),
                           "png", "chunk", "metadata", "profile", "text")
        if code == Code.OK:
            self.assertEqual(len(response.images), 1)
        # A 16x16 image takes well under a second; 15 s is a wide margin
        # against a loaded machine, and far below inflating 1 GiB twice.
        self.assertLess(elapsed, 15, "a 16x16 PNG took this long")
        # The memory check in tearDown catches the inflated chunk.

    def test_row4_png_ztxt_bomb(self):
        """FAILS ON main @ 65128ad: OK after 10-33 s and +2-3 GB RSS."""
        self.assert_bomb_cheap(media.png_with_ztxt_bomb(self.bomb()))

    def test_row4_png_iccp_bomb(self):
        """FAILS ON main @ 65128ad: OK after 10-33 s and +2-3 GB RSS."""
        self.assert_bomb_cheap(media.png_with_iccp_bomb(self.bomb()))

    def test_row7_jpeg_cut_at_25_percent(self):
        """FAILS ON main @ 65128ad: OK with a half-grey picture."""
        data = media.jpeg(os.path.join(self.tmp, "whole.jpg"))
        code, details, _ = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=data[:len(data) // 4]),
            styles=[pb.Style(index=0)]))
        self.assert_status(code, details, Code.INVALID_ARGUMENT,
                           "truncated", "incomplete", "corrupt", "jpeg",
                           "decode")

    def test_row7_png_bad_crc(self):
        """FAILS ON main @ 65128ad: OK with a half-grey picture."""
        code, details, _ = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=media.png(64, 64, bad_idat_crc=True)),
            styles=[pb.Style(index=0)]))
        self.assert_status(code, details, Code.INVALID_ARGUMENT,
                           "crc", "corrupt", "png", "decode", "checksum")

    def test_row8_blend_flt_max_weights(self):
        """FAILS ON main @ 65128ad: INVALID_ARGUMENT "weight is inf". Two
        equal weights of one style are that style."""
        image = raw_image(48, 32)
        code, details, blended = call_image(self.stub, pb.StylizeImageRequest(
            image=image, styles=[pb.Style(blend=pb.StyleBlend(
                indices=[0, 0], weights=[FLT_MAX, FLT_MAX]))]))
        self.assertEqual(code, Code.OK, details)
        code, details, plain = call_image(self.stub, pb.StylizeImageRequest(
            image=image, styles=[pb.Style(index=0)]))
        self.assertEqual(code, Code.OK, details)
        a = blended.images[0].image.raw.rgb
        b = plain.images[0].image.raw.rgb
        self.assertEqual(len(a), len(b))
        mean_diff = sum(abs(x - y) for x, y in zip(a, b)) / len(a)
        self.assertLess(mean_diff, 2.0, "blend [0,0] differs from style 0")

    # -- beyond the table ----------------------------------------------------

    def test_extra_bad_blends_are_refused(self):
        cases = [
            ([0, 1], [0, 0], "zero"),
            ([0, 1], [math.nan, 1], "weight"),
            ([0, 1], [-1, 1], "negative"),
            ([0, 1], [1], "weight"),
            ([0, 99], [1, 1], "range"),
            ([], [], "indices"),
        ]
        for indices, weights, word in cases:
            with self.subTest(indices=indices, weights=weights):
                code, details, _ = call_image(
                    self.stub, pb.StylizeImageRequest(
                        image=raw_image(16, 16),
                        styles=[pb.Style(blend=pb.StyleBlend(
                            indices=indices, weights=weights))]))
                self.assert_status(code, details, Code.INVALID_ARGUMENT, word)

    def test_extra_wrong_field_combinations(self):
        cases = [
            ("no image", pb.StylizeImageRequest(styles=[pb.Style(index=0)]),
             ("image",)),
            ("raw size mismatch", pb.StylizeImageRequest(
                image=pb.Image(raw=pb.RawImage(width=16, height=16,
                                               rgb=b"\x00" * 100))),
             ("bytes", "768")),
            ("raw zero width", pb.StylizeImageRequest(
                image=pb.Image(raw=pb.RawImage(width=0, height=16))),
             ("width",)),
            ("empty style", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style()]),
             ("style",)),
            ("style out of range", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style(index=1000)]),
             ("range", "1000")),
            ("too many styles", pb.StylizeImageRequest(
                image=raw_image(16, 16),
                styles=[pb.Style(index=0)] * 65),
             ("65", "64", "styles")),
            ("unknown output format", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style(index=0)],
                output_format=99), ("format",)),
            ("empty encoded", pb.StylizeImageRequest(
                image=pb.Image(encoded=b""), styles=[pb.Style(index=0)]),
             ("empty", "image")),
            ("garbage encoded", pb.StylizeImageRequest(
                image=pb.Image(encoded=os.urandom(4096)),
                styles=[pb.Style(index=0)]), ("png", "jpeg", "decode")),
            ("huge PNG header", pb.StylizeImageRequest(
                image=pb.Image(encoded=media.png_header_only(100000, 100000)),
                styles=[pb.Style(index=0)]), ("pixels", "limit", "100000")),
        ]
        for name, request, words in cases:
            with self.subTest(name):
                code, details, _ = call_image(self.stub, request)
                self.assert_status(code, details, Code.INVALID_ARGUMENT,
                                   *words)

    def test_extra_malformed_protobuf_bytes(self):
        """Bytes that are not a StylizeImageRequest at all."""
        method = self.server.channel.unary_unary(
            "/stylizer.v1.Stylizer/StylizeImage",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        for name, payload in [
                ("truncated varint", b"\x0a\xff\xff\xff\xff\xff"),
                ("length beyond the end", b"\x0a\x40\x12\x3e\x08"),
                ("wrong wire type", b"\x0d\x00\x00\x00"),
                ("random", os.urandom(512))]:
            with self.subTest(name):
                try:
                    method(payload, timeout=CALL_TIMEOUT_S)
                    code, details = Code.OK, ""
                except grpc.RpcError as e:
                    code, details = e.code(), e.details() or ""
                # gRPC's own parser answers before the service: its callback
                # API fails a unary call whose request does not parse with
                # UNIMPLEMENTED and no message, which the service cannot
                # change. What matters is a clean error and a server that
                # lives on.
                self.assertIn(code, (Code.INVALID_ARGUMENT, Code.INTERNAL,
                                     Code.UNIMPLEMENTED), details)

    def test_extra_tiny_deadline_on_a_big_image(self):
        code, details, _ = call_image(
            self.stub, pb.StylizeImageRequest(image=raw_image(1024, 768)),
            timeout=0.05)
        self.assertEqual(code, Code.DEADLINE_EXCEEDED, details)


class ThinFrameTest(HostileTestCase):
    """Row 5: frames of one row. The model pads each side to a multiple of 4
    and its convolutions pad further, so a 1-pixel-high frame costs many
    times a square frame of the same pixel count unless the server refuses
    or handles it. Own server: the RSS left cached by other tests would blur
    the comparison."""

    def cost_kb(self, width, height):
        """(code, details, peak RSS above the server's idle RSS) of one
        image, in kB."""
        self.server.reset_hwm()
        code, details, _ = call_image(self.stub, pb.StylizeImageRequest(
            image=raw_image(width, height), styles=[pb.Style(index=0)]))
        peak_kb = self.server.hwm_kb()
        if not self.server.alive() or peak_kb is None:
            self.server.proc.wait()
            self.fail(self.server.guard_tripped or
                      f"{width}x{height}: the server died "
                      f"({self.server.exit_description()})")
        return code, details, peak_kb - self.server.idle_rss_kb

    def test_row5_thin_frame_costs_at_most_twice_a_square(self):
        """FAILS ON main @ 65128ad: 262144x1 costs ~2.4 GB, a 512x512
        frame (the same pixels) ~0.2 GB. The issue's rule, checked at a
        size a CI machine can afford."""
        code, details, square_kb = self.cost_kb(512, 512)
        self.assertEqual(code, Code.OK, details)
        self.server.set_memory_guard(max(2 * square_kb // 1024, 256) + 256)
        code, details, thin_kb = self.cost_kb(262144, 1)
        self.assert_status(code, details, (Code.OK, Code.INVALID_ARGUMENT),
                           "width", "height", "aspect", "side", "262144")
        if code == Code.OK:
            self.assertLessEqual(
                thin_kb, 2 * square_kb,
                f"262144x1 peaked {thin_kb // 1024} MiB above idle, 512x512 "
                f"{square_kb // 1024} MiB")

    def test_row5_raw_image_8847360x1(self):
        """FAILS ON main @ 65128ad: ~10-21 GB RSS (the OOM killer ends it).
        Expected: INVALID_ARGUMENT naming the shape, or a cheap path. A
        square frame of these 8.8 M pixels costs ~8 GB on the CPU at fp32,
        more than a CI machine has to spare, so here even "at most twice a
        square frame" is over the memory guard: the test above checks that
        rule at a smaller size."""
        width = 8847360
        code, details, _ = self.cost_kb(width, 1)
        self.assert_status(code, details, (Code.OK, Code.INVALID_ARGUMENT),
                           "width", "height", "aspect", "side", str(width))



class VideoProtocolTest(HostileTestCase):
    """StylizeVideo protocol abuse, uploads that stop, readers that stall."""

    @classmethod
    def movie(cls):
        if not hasattr(cls, "_movie"):
            path = media.small_movie(os.path.join(cls.tmp, "small.mp4"))
            with open(path, "rb") as f:
                cls._movie = f.read()
        return cls._movie

    def job(self, **fields):
        fields.setdefault("styles", [pb.Style(index=0)])
        fields.setdefault("max_side", 64)
        return pb.VideoJob(**fields)

    def run_messages(self, messages):
        return run_video(self.stub, iter(messages))

    def test_extra_chunk_before_job(self):
        r = self.run_messages([pb.StylizeVideoRequest(chunk=self.movie()),
                               pb.StylizeVideoRequest(job=self.job())])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT,
                           "first message", "VideoJob")

    def test_extra_job_repeated(self):
        data = self.movie()
        r = self.run_messages([
            pb.StylizeVideoRequest(job=self.job()),
            pb.StylizeVideoRequest(chunk=data[:1000]),
            pb.StylizeVideoRequest(job=self.job()),
            pb.StylizeVideoRequest(chunk=data[1000:])])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT, "twice")

    def test_extra_no_job_at_all(self):
        r = self.run_messages([])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT,
                           "VideoJob")

    def test_extra_zero_byte_upload(self):
        r = self.run_messages([pb.StylizeVideoRequest(job=self.job())])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT, "empty")

    def test_extra_empty_chunks_only(self):
        r = self.run_messages([pb.StylizeVideoRequest(job=self.job())] +
                              [pb.StylizeVideoRequest(chunk=b"")] * 100)
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT, "empty")

    def test_extra_long_header_beside_a_running_upload(self):
        """A call with 20 KB of headers ended every call on its connection
        (gRPC's 8 KiB limit ends the connection): behind a proxy that shares
        connections, one caller's long header cancelled other callers'
        jobs. The limit is now 64 KiB, above what proxies forward."""
        data = self.movie()
        header_sent = threading.Event()

        def upload():
            yield pb.StylizeVideoRequest(job=self.job())
            yield pb.StylizeVideoRequest(chunk=data[:len(data) // 2])
            header_sent.wait(60)
            yield pb.StylizeVideoRequest(chunk=data[len(data) // 2:])

        result = {}
        video = threading.Thread(
            target=lambda: result.update(r=run_video(self.stub, upload())))
        video.start()
        try:
            time.sleep(1)  # the upload is under way on the same connection
            self.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30,
                                   metadata=[("x-note", "n" * 20000)])
        finally:
            header_sent.set()
            video.join()
        r = result["r"]
        self.assertEqual(r.code, Code.OK, r.details)
        self.assertIsNotNone(r.summary)

    def test_extra_huge_declared_input_size(self):
        r = self.run_messages([
            pb.StylizeVideoRequest(job=self.job(input_size=(1 << 64) - 1)),
            pb.StylizeVideoRequest(chunk=self.movie())])
        self.assert_status(r.code, r.details, Code.RESOURCE_EXHAUSTED,
                           "limit", "max_upload_bytes")

    def test_extra_declared_size_smaller_than_upload(self):
        """FAILS ON main @ 65128ad in most runs (5 of 6 here; the outcome
        depends on timing): the server reads only input_size bytes and
        answers INVALID_ARGUMENT "the input has no video stream", which sends
        the caller looking in the wrong place."""
        data = self.movie()
        r = self.run_messages([
            pb.StylizeVideoRequest(job=self.job(input_size=100)),
            pb.StylizeVideoRequest(chunk=data)])
        # Either the declared size is enforced (INVALID_ARGUMENT naming it) or
        # it is only a hint and the movie is served; never a crash or hang.
        self.assert_status(r.code, r.details,
                           (Code.OK, Code.INVALID_ARGUMENT), "input_size")

    def test_extra_wrong_job_fields(self):
        cases = [
            ("crf", self.job(crf=99)),
            ("container", self.job(container=99)),
            ("codec", self.job(codec=99)),
            ("style", self.job(styles=[pb.Style(index=1000)])),
            ("blend", self.job(styles=[pb.Style(blend=pb.StyleBlend())])),
        ]
        for word, job in cases:
            with self.subTest(word):
                r = self.run_messages([pb.StylizeVideoRequest(job=job),
                                       pb.StylizeVideoRequest(
                                           chunk=self.movie())])
                self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT,
                                   word)

    def test_extra_garbage_upload(self):
        # Seeded, not os.urandom: about 1 in 1000 random 64 KiB blobs holds
        # an H.263 picture start code that FFmpeg's raw H.263 demuxer reads
        # as a one-frame movie (1408x1152, served as such), and the test
        # failed then.
        garbage = random.Random(7).randbytes(65536)
        r = self.run_messages([pb.StylizeVideoRequest(job=self.job()),
                               pb.StylizeVideoRequest(chunk=garbage)])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT,
                           "not a movie", "recognis")

    def test_extra_truncated_movie(self):
        data = self.movie()
        r = self.run_messages([pb.StylizeVideoRequest(job=self.job()),
                               pb.StylizeVideoRequest(
                                   chunk=data[:len(data) // 2])])
        self.assert_status(r.code, r.details, Code.INVALID_ARGUMENT,
                           "truncated", "not a movie")

    def test_extra_malformed_protobuf_stream(self):
        method = self.server.channel.stream_stream(
            "/stylizer.v1.Stylizer/StylizeVideo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            for _ in method(iter([b"\x0a\xff\xff\xff", b"\x12\x05ab"]),
                            timeout=CALL_TIMEOUT_S):
                pass
            code, details = Code.OK, ""
        except grpc.RpcError as e:
            code, details = e.code(), e.details() or ""
        self.assertIn(code, (Code.INVALID_ARGUMENT, Code.INTERNAL), details)

    def test_extra_client_cancels_mid_upload(self):
        data = self.movie()
        gate = threading.Event()

        def requests():
            yield pb.StylizeVideoRequest(job=self.job())
            yield pb.StylizeVideoRequest(chunk=data[:len(data) // 2])
            gate.wait(CALL_TIMEOUT_S)

        call = self.stub.StylizeVideo(requests(), timeout=CALL_TIMEOUT_S)
        threading.Timer(0.5, call.cancel).start()
        with self.assertRaises(grpc.RpcError) as caught:
            for _ in call:
                pass
        gate.set()
        self.assertEqual(caught.exception.code(), Code.CANCELLED)

    def test_extra_client_process_dies_mid_upload(self):
        """A client process that exits abruptly (no RST_STREAM, no GOAWAY:
        the kernel closes its socket) half way through an upload."""
        data = self.movie()
        path = os.path.join(self.tmp, "half.mp4")
        with open(path, "wb") as f:
            f.write(data)
        child = f"""
import os, sys, time
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import harness
grpc, pb, pb_grpc, _, _ = harness.stubs()
data = open({path!r}, 'rb').read()
def requests():
    yield pb.StylizeVideoRequest(job=pb.VideoJob(styles=[pb.Style(index=0)]))
    yield pb.StylizeVideoRequest(chunk=data[:len(data) // 2])
    time.sleep(0.5)
    os._exit(0)
stub = pb_grpc.StylizerStub(harness.channel({self.server.address()!r}))
for _ in stub.StylizeVideo(requests(), timeout=60):
    pass
"""
        # The child's os._exit skips the atexit that removes its generated
        # stubs: they go under this class's folder, which tearDownClass removes.
        subprocess.run([sys.executable, "-c", child], timeout=CALL_TIMEOUT_S,
                       env=dict(os.environ, TMPDIR=self.tmp))
        # The server notices the closed connection; tearDown checks it lives.

    def test_extra_slow_video_reader(self):
        """A caller that uploads, then reads nothing for a while: the server
        stops producing (bounded output) and finishes once it reads."""
        data = self.movie()
        call = self.stub.StylizeVideo(video_requests(
            self.job(styles=[pb.Style(index=0), pb.Style(index=1)],
                     max_side=0), data), timeout=CALL_TIMEOUT_S)
        first = next(call)  # the server has accepted the job
        self.assertEqual(first.WhichOneof("msg"), "accepted")
        time.sleep(3)  # not a synchronisation: the time a slow reader idles
        result = VideoResult()
        for response in call:
            result.take(response)
        self.assertIsNotNone(result.summary)
        self.assertEqual(sorted(result.outputs), [0, 1])

    def test_extra_slow_frames_reader(self):
        """A frame stream that keeps sending big frames and never reads: the
        server stops reading (flow control), so memory stays bounded."""
        sent = [0]
        stop = threading.Event()
        frame = raw_image(512, 512)

        def requests():
            while not stop.is_set():
                sent[0] += 1
                yield pb.StylizeFramesRequest(sequence=sent[0], image=frame,
                                              styles=[pb.Style(index=0)])

        call = self.stub.StylizeFrames(requests(), timeout=CALL_TIMEOUT_S)
        # Wait until the client is blocked by flow control: `sent` stops
        # growing. Each round lasts long enough for many frames to pass.
        last = -1
        for _ in range(60):
            time.sleep(0.5)
            if sent[0] == last:
                break
            last = sent[0]
        held = sent[0]
        stop.set()
        call.cancel()
        # 512x512 raw is 768 KiB a frame: an unbounded reader would let the
        # client push far more than this in the time it had.
        self.assertLess(held, 300, "frames the server took without the "
                        "caller reading any answer")


class IdleStreamsTest(HostileTestCase):
    """Row 6: callers that open streams and then send nothing."""

    server_flags = ["--max_concurrent_streams=4", "--stream_idle_timeout=2s",
                    "--handshake_timeout=2s"]

    def test_a_connection_that_never_speaks_is_closed(self):
        # Plain TCP, no TLS and no HTTP/2 preface: gRPC kept such a socket
        # 120 s, so a flood of them used up the open-file limit, accept
        # failed, and the server exited (listener_failed).
        sockets = [socket.create_connection(("127.0.0.1", self.server.port))
                   for _ in range(20)]
        try:
            start = time.monotonic()
            for sock in sockets:
                sock.settimeout(max(0.1, 60 - (time.monotonic() - start)))
                try:
                    while sock.recv(1024):  # the server's own settings
                        pass
                except ConnectionResetError:
                    pass  # closed too
            # 2 s, with a margin for a loaded machine, and below the 10 s
            # default (the flag reaches gRPC).
            self.assertLess(time.monotonic() - start, 8)
        finally:
            for sock in sockets:
                sock.close()
        self.assertIsNone(self.server.proc.poll(), "the server exited")

    def hold_streams(self, open_call, count):
        """Opens `count` calls whose request stream then stays silent;
        returns (code, details, seconds) of each, after they end (or are
        cancelled by this test after 30 s)."""
        release = threading.Event()
        results = [None] * count

        def idle_requests(first):
            if first is not None:
                yield first
            release.wait(120)

        def one(i):
            start = time.monotonic()
            call = open_call(idle_requests)
            timer = threading.Timer(30, call.cancel)
            timer.start()
            try:
                for _ in call:
                    pass
                results[i] = (Code.OK, "", time.monotonic() - start)
            except grpc.RpcError as e:
                results[i] = (e.code(), e.details() or "",
                              time.monotonic() - start)
            timer.cancel()

        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        release.set()
        return results

    def assert_idle_ended(self, results):
        for code, details, seconds in results:
            # A call this test cancelled after 30 s shows up as CANCELLED.
            self.assert_status(code, details, Code.DEADLINE_EXCEEDED,
                               "idle", "stream_idle_timeout")

    def test_row6_four_video_streams_send_job_then_nothing(self):
        """FAILS ON main @ 65128ad: the 4 calls hold every stream slot until
        the client gives up."""
        job = pb.StylizeVideoRequest(job=pb.VideoJob(
            styles=[pb.Style(index=0)], max_side=64))
        results = self.hold_streams(
            lambda reqs: self.stub.StylizeVideo(reqs(job), timeout=300), 4)
        self.assert_idle_ended(results)
        # The slots are free again: a real movie goes through.
        data = media.small_movie(os.path.join(self.tmp, "after.mp4"))
        with open(data, "rb") as f:
            movie = f.read()
        result = run_video(self.stub, video_requests(pb.VideoJob(
            styles=[pb.Style(index=0)], max_side=64), movie))
        self.assertEqual(result.code, Code.OK, result.details)

    def test_row6_four_frame_streams_send_nothing(self):
        """FAILS ON main @ 65128ad (the flag is not used yet)."""
        results = self.hold_streams(
            lambda reqs: self.stub.StylizeFrames(reqs(None), timeout=300), 4)
        self.assert_idle_ended(results)
        call = self.stub.StylizeFrames(iter([pb.StylizeFramesRequest(
            sequence=1, image=raw_image(16, 16), styles=[pb.Style(index=0)])]),
            timeout=CALL_TIMEOUT_S)
        self.assertEqual([r.sequence for r in call], [1])


    def test_extra_image_client_that_never_takes_its_answer(self):
        """A still image whose client announces an HTTP/2 window of 0 and
        never opens it: the computed answer cannot be sent. The call held its
        memory-budget reservation for as long as the client kept the
        connection (other callers got "memory budget is spent"); it is now
        cancelled after --stream_idle_timeout (2 s here), as idle streams
        are: the server ends the stream."""
        host, port = self.server.address().rsplit(":", 1)
        request = pb.StylizeImageRequest(
            image=raw_image(128, 96), styles=[pb.Style(index=i)
                                              for i in range(4)])
        start = time.monotonic()
        ended = raw_h2_call_never_read(
            host, int(port), "/stylizer.v1.Stylizer/StylizeImage",
            request.SerializeToString(), wait_s=20)
        # Ended by the server: its trailers (CANCELLED) or a reset. No
        # answer could have been sent through a window of 0.
        self.assertIn(ended, ("trailers", "RST_STREAM"),
                      "the server still held the call after 20 s")
        self.assertLess(time.monotonic() - start, 20)


class FairnessTest(HostileTestCase):
    """Row 9: a movie among many image callers."""

    IMAGE_CALLERS = 24
    # Frames the movie must get done while every image caller keeps calling.
    FRAMES_WANTED = 5
    # How long that may take: a few seconds of model time even with the
    # movie's fair share cut to one 25th; 90 s is a very wide margin.
    PROGRESS_WITHIN_S = 90

    def test_row9_movie_progresses_among_24_image_callers(self):
        """FAILS ON main @ 65128ad: the movie gets 0 frames in 80 s. Here:
        the movie (5 s, 2 styles, max_side=64) must get FRAMES_WANTED frames
        done while 24 callers send 128x96 images without pause; then the
        callers stop and the movie must complete."""
        path = media.small_movie(os.path.join(self.tmp, "five.mp4"),
                                 seconds=5, size="128x96", rate=10)
        with open(path, "rb") as f:
            movie = f.read()
        stop = threading.Event()
        lock = threading.Lock()
        counts = {"images": 0, "refused": 0, "errors": []}
        request = pb.StylizeImageRequest(image=raw_image(128, 96),
                                         styles=[pb.Style(index=2)])

        def image_caller():
            while not stop.is_set():
                code, details, _ = call_image(self.stub, request, timeout=60)
                with lock:
                    if code == Code.OK:
                        counts["images"] += 1
                    elif code == Code.RESOURCE_EXHAUSTED:
                        counts["refused"] += 1  # queue full: a fair answer
                    else:
                        counts["errors"].append((code, details))

        callers = [threading.Thread(target=image_caller)
                   for _ in range(self.IMAGE_CALLERS)]
        for t in callers:
            t.start()
        result = VideoResult()
        progressed = None
        try:
            # The callers are all busy before the movie arrives.
            while counts["images"] + counts["refused"] < self.IMAGE_CALLERS:
                time.sleep(0.1)
            call = self.stub.StylizeVideo(video_requests(pb.VideoJob(
                styles=[pb.Style(index=0), pb.Style(index=1)], max_side=64),
                movie), timeout=self.PROGRESS_WITHIN_S + CALL_TIMEOUT_S)
            starved = threading.Timer(self.PROGRESS_WITHIN_S, call.cancel)
            starved.start()
            try:
                for response in call:
                    result.take(response)
                    if progressed is None and result.progress and \
                            result.progress[-1].frames_done >= \
                            self.FRAMES_WANTED:
                        starved.cancel()
                        progressed = dict(counts, errors=None)
                        stop.set()  # the rest of the movie runs alone
            except grpc.RpcError as e:
                result.code, result.details = e.code(), e.details() or ""
            starved.cancel()
        finally:
            stop.set()
            for t in callers:
                t.join()
        done = max((p.frames_done for p in result.progress), default=0)
        self.assertIsNotNone(
            progressed, f"the movie got {done} frames done in "
            f"{self.PROGRESS_WITHIN_S} s while the callers got "
            f"{counts['images']} images ({result.code.name} "
            f"{result.details})")
        self.assertGreater(progressed["images"], 0,
                           "no image was served before the movie progressed")
        self.assertEqual(result.code, Code.OK, result.details)
        self.assert_outputs_play(result, 2, frames=50)
        self.assertEqual(counts["errors"], [])


class ImpostorServerTest(unittest.TestCase):
    """The CLI against a server that answers with bytes that are not the
    image or movie asked for (broken, or not a stylizer server): it wrote
    them as out.png or movie.klimt.mp4, printed the path and exited 0."""

    # What the impostor serves as every movie.
    NOT_A_MOVIE = b"<html>not a movie</html>"

    @classmethod
    def setUpClass(cls):
        from concurrent import futures
        grpc, pb, pb_grpc, _, _ = harness.stubs()

        class Impostor(pb_grpc.StylizerServicer):
            def GetModelInfo(self, request, context):
                return pb.ModelInfo(name="impostor", styles=[
                    pb.StyleInfo(index=0, name="klimt"),
                    pb.StyleInfo(index=1, name="mosaic")])

            def StylizeImage(self, request, context):
                return pb.StylizeImageResponse(images=[
                    pb.StyledImage(output_index=i, image=pb.Image(
                        encoded=b"not a png at all"))
                    for i in range(max(1, len(request.styles)))])

            def StylizeFrames(self, request_iterator, context):
                # Each frame's bytes back as another picture: its width and
                # height swapped.
                for request in request_iterator:
                    raw = request.image.raw
                    yield pb.StylizeFramesResponse(
                        sequence=request.sequence, images=[pb.StyledImage(
                            output_index=0, image=pb.Image(raw=pb.RawImage(
                                width=raw.height, height=raw.width,
                                rgb=raw.rgb)))])

            def StylizeVideo(self, request_iterator, context):
                # The whole upload first, as the real server answers.
                job, upload = None, b""
                for request in request_iterator:
                    if request.HasField("job"):
                        job = request.job
                    upload += request.chunk
                outputs = max(1, len(job.styles)) if job is not None else 1
                accepted = pb.StylizeVideoResponse(accepted=pb.JobAccepted(
                    job_id="impostor", input=pb.VideoInfo(width=96, height=64)))
                yield accepted
                # Style 1 (mosaic): the job accepted twice, then the upload
                # back as every output, a movie; else bytes that are not one.
                movie = ImpostorServerTest.NOT_A_MOVIE
                if job is not None and job.styles and job.styles[0].index == 1:
                    yield accepted
                    movie = upload
                for i in range(outputs):
                    yield pb.StylizeVideoResponse(chunk=pb.OutputChunk(
                        output_index=i, data=movie))
                yield pb.StylizeVideoResponse(summary=pb.JobSummary(outputs=[
                    pb.OutputSummary(output_index=i, frames=40,
                                     bytes=len(movie))
                    for i in range(outputs)]))

        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        pb_grpc.add_StylizerServicer_to_server(Impostor(), cls.server)
        cls.port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.tmp = tempfile.mkdtemp(prefix="stylizer-impostor-")
        cls.photo = os.path.join(cls.tmp, "photo.png")
        harness.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v",
                       "1", cls.photo)
        # Long enough for --split=2 (a keyframe every second).
        cls.movie = os.path.join(cls.tmp, "movie.mp4")
        harness.make_movie(cls.movie, seconds=4, extra=["-g", "10"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cli(self, *args):
        return subprocess.run(
            [os.path.join(harness.BUILD, "client", "stylizer"),
             f"--server=127.0.0.1:{self.port}", *args],
            capture_output=True, timeout=60)

    def test_cli_refuses_an_image_that_is_not_one(self):
        out = os.path.join(self.tmp, "out")
        r = self.cli("image", self.photo, "--styles=0",
                     f"--out={out}/styled.png")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"stylizer: error: the server returned output 0 as 16 "
                      b"bytes that are not a PNG image; nothing was written "
                      b"for this input", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "styled.png")))
        # To standard output: nothing written either.
        r = self.cli("image", self.photo, "--styles=0", "--format=jpg",
                     "--out=-")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"not a JPEG image", r.stderr)
        self.assertEqual(r.stdout, b"")

    def test_cli_refuses_a_movie_that_is_not_one(self):
        out = os.path.join(self.tmp, "movies")
        says = (b"stylizer: error: the server returned output 0 (klimt) as "
                b"bytes that are not an MP4 movie (they begin 3c 68 74 6d 6c "
                b"3e 6e 6f); nothing was written for this input\n")
        r = self.cli("video", self.movie, "--styles=0", f"--out={out}",
                     "--progress=none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, says)
        self.assertEqual(r.stdout, b"")
        self.assertFalse(os.path.exists(out))
        # Each segment of a split job is checked before the join.
        r = self.cli("video", self.movie, "--styles=0", f"--out={out}",
                     "--split=2", "--progress=none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"as bytes that are not an MP4 movie", r.stderr)
        self.assertFalse(os.path.exists(out))
        # Matroska, to standard output: not a byte written.
        r = self.cli("video", self.movie, "--styles=0", "--container=mkv",
                     "--out=-", "--progress=none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"as bytes that are not a Matroska movie", r.stderr)
        self.assertEqual(r.stdout, b"")

    def test_cli_refuses_a_job_accepted_twice(self):
        # A second JobAccepted, then a good movie: it was taken silently.
        out = os.path.join(self.tmp, "accepted_twice")
        r = self.cli("video", self.movie, "--styles=1", f"--out={out}",
                     "--progress=none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, b"stylizer: error: the server sent a second "
                         b"JobAccepted for the job\n")
        self.assertFalse(os.path.exists(out))

    def test_cli_refuses_frames_of_another_size(self):
        # The bytes of a 96x64 frame answered as a 64x96 picture: they were
        # written as if they were the stylized frame.
        frames = bytes(range(256)) * (96 * 64 * 3 * 2 // 256)
        r = subprocess.run(
            [os.path.join(harness.BUILD, "client", "stylizer"),
             f"--server=127.0.0.1:{self.port}", "frames", "--size=96x64",
             "--styles=klimt", "--progress=none"],
            input=frames, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, b"stylizer: error: the server's answer to "
                         b"frame 0 is a 64x96 picture where the frame sent "
                         b"was 96x64\n")
        self.assertEqual(r.stdout, b"")


if __name__ == "__main__":
    unittest.main()
