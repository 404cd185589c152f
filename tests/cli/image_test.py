#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server:
health, styles and image: the CLI's still-picture commands.

Shared set-up: cli_support.py.
"""
import hashlib
import json
import os
import re
import struct
import time

from cli_support import (MODEL, STYLES, SampleServerTestCase, ffmpeg,
                         free_port, main, probe, stream)


class CliImageTest(SampleServerTestCase):
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


if __name__ == "__main__":
    main()
