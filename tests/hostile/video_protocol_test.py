#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server. StylizeVideo protocol
abuse, uploads that stop, readers that stall.

What every test checks, and how to run one: README.md; shared parts:
hostile_case.py.
"""
import os
import random
import subprocess
import sys
import threading
import time
import unittest

from hostile_case import (CALL_TIMEOUT_S, Code, HostileTestCase, VideoResult,
                          grpc, media, pb, raw_image, run_video,
                          video_requests)


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


if __name__ == "__main__":
    unittest.main()
