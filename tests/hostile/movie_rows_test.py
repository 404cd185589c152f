#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server. Rows 1-3: movies the
server should take (or refuse cleanly).

What every test checks, and how to run one: README.md; shared parts:
hostile_case.py.
"""
import os
import unittest

from hostile_case import (Code, HostileTestCase, media, pb, run_video,
                          video_requests)


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


if __name__ == "__main__":
    unittest.main()
