#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server. The CLI against a server
that answers with bytes that are not the image or movie asked for (broken,
or not a stylizer server): it wrote them as out.png or movie.klimt.mp4,
printed the path and exited 0.

What every test checks, and how to run one: README.md; shared parts:
hostile_case.py.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from hostile_case import (harness)


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
