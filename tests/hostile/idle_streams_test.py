#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server. Row 6: callers that open
streams and then send nothing.

What every test checks, and how to run one: README.md; shared parts:
hostile_case.py.
"""
import os
import socket
import threading
import time
import unittest

from hostile_case import (CALL_TIMEOUT_S, Code, HostileTestCase, grpc, media,
                          pb, raw_h2_call_never_read, raw_image, run_video,
                          video_requests)


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


if __name__ == "__main__":
    unittest.main()
