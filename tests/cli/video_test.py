#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server:
video: whole movies, several at once, HDR, damaged frames (--split:
split_test.py).

Shared set-up: cli_support.py.
"""
import os

from cli_support import (STYLES, SampleServerTestCase, ffmpeg, main, probe,
                         stream)


class CliVideoTest(SampleServerTestCase):
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

    def test_video_non_video_input(self):
        out = self.out_dir("x")
        r = self.cli("video", self.text, f"--out={out}")
        self.skip_if_unimplemented(r)
        self.assert_failed_cleanly(r, 1, "the server rejected the input", out)

    def test_video_missing_file(self):
        out = self.out_dir("x")
        r = self.cli("video", os.path.join(self.tmp, "nope.mp4"), f"--out={out}")
        self.assert_failed_cleanly(r, 1, "No such file", out)


if __name__ == "__main__":
    main()
