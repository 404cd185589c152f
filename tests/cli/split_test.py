#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server: video
--split (segments cut at keyframes, sent a few at a time, joined).

Shared set-up: cli_support.py.
"""
import os
import subprocess

from cli_support import SampleServerTestCase, ffmpeg, main, probe, stream


class CliSplitTest(SampleServerTestCase):
    def test_video_split_into_more_segments_than_the_server_has_slots(self):
        # 70 one-frame segments to one server with 64 stream slots: they
        # were all sent at once, and the job failed at once with the
        # server's "already serves 64 streams". Now 4 go at a time.
        movie = os.path.join(self.tmp, "all_keyframes.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=7", "-c:v",
               "libx264", "-g", "1", "-pix_fmt", "yuv420p", movie)
        out = self.out_dir("many")
        r = self.cli("video", movie, "--styles=klimt", f"--out={out}",
                     "--split=70")
        self.assertEqual(r.returncode, 0, r.stderr)
        # (Not the replica count: under load the first answer may take
        # longer than the 3 s the CLI waits for it.)
        self.assertIn("split into 70 segments at keyframes; sending 4 at a "
                      "time to ", r.stderr)
        v = stream(probe(os.path.join(out, "all_keyframes.klimt.mp4")),
                   "video")
        self.assertEqual(int(v["nb_read_frames"]), 70)


    def probed_times(self, path, stream, entry):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", stream,
             "-show_entries", entry, "-of", "csv=p=0", path],
            check=True, capture_output=True, text=True).stdout
        return [round(float(t.strip(",")), 3) for t in out.split()]

    def shown_frame_times(self, path):
        return self.probed_times(path, "v", "frame=pts_time")

    def start_times(self, path):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "stream=codec_type,start_time", "-of", "csv=p=0", path],
            check=True, capture_output=True, text=True).stdout
        return {kind: float(t) for kind, t in
                (line.split(",")[:2] for line in out.split())}

    def sound_packet_times(self, path):
        return self.probed_times(path, "a", "packet=pts_time")

    def test_video_split_matches_unsplit(self):
        # Three sources whose outputs were wrong:
        # - `ffmpeg -ss 1.5 -c copy` keeps the GOP before the cut and hides
        #   its frames with an edit list. The first segment's start was
        #   taken from the hidden frames, and every frame of it came out
        #   1.5 s early (its first ones hidden, then a frozen gap).
        # - a capture whose MPEG-TS clock reads 100 s: every MP4 output
        #   opened with an empty edit of 101.4 s (nothing to show for that
        #   long). Outputs now start at 0, as ffmpeg's do, split or not.
        source = os.path.join(self.tmp, "trim_source.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=6", "-c:v",
               "libx264", "-g", "20", "-bf", "0", "-pix_fmt", "yuv420p",
               source)
        trimmed = os.path.join(self.tmp, "trimmed.mp4")
        ffmpeg("-ss", "1.5", "-i", source, "-c", "copy", trimmed)
        late = os.path.join(self.tmp, "late.ts")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=6", "-f",
               "lavfi", "-i", "sine=f=440:d=6", "-c:v", "libx264", "-g",
               "20", "-pix_fmt", "yuv420p", "-c:a", "aac",
               "-output_ts_offset", "100", "-f", "mpegts", late)
        # - two captures joined byte for byte, the second one's sound a
        #   second ahead of its picture: the picture goes forward, the sound
        #   goes back. The join failed after every segment was stylized.
        #   The server now moves everything after the sound's jump (joined
        #   recordings follow on), which a segment cut after it would not
        #   be: such a movie is sent whole.
        parts = []
        for k, (v_at, a_at) in enumerate((("0", "0"), ("4", "1"))):
            parts.append(os.path.join(self.tmp, f"part{k}.ts"))
            ffmpeg("-itsoffset", v_at, "-f", "lavfi", "-i",
                   "testsrc2=s=96x64:r=10:d=3", "-itsoffset", a_at, "-f",
                   "lavfi", "-i", "sine=f=440:d=3", "-c:v", "libx264", "-g",
                   "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts",
                   parts[-1])
        joined = os.path.join(self.tmp, "joined.ts")
        with open(joined, "wb") as f:
            for part in parts:
                with open(part, "rb") as src:
                    f.write(src.read())
        # - a screen recording whose last frame follows a pause: an MP4
        #   track ends at its last packet in decode order, and the server
        #   stretches that packet to the last frame's end; the join did not
        #   (2 s of 3.03 in players).
        paused = os.path.join(self.tmp, "paused.mkv")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=30:d=2", "-vf",
               "setpts='if(lt(N,59),N/30/TB,3/TB)'", "-fps_mode",
               "passthrough", "-c:v", "libx264", "-g", "15", "-pix_fmt",
               "yuv420p", paused)
        for movie in (trimmed, late, joined, paused):
            name = os.path.splitext(os.path.basename(movie))[0]
            times, starts, sounds, lengths = {}, {}, {}, {}
            for split in ("1", "2"):
                out = self.out_dir(f"{name}{split}")
                r = self.cli("video", movie, "--styles=klimt",
                             f"--out={out}", f"--split={split}")
                self.assertEqual(r.returncode, 0, r.stderr)
                if split == "2" and movie == joined:
                    self.assertIn("not split: its timestamps jump 1 time",
                                  r.stderr)
                elif split == "2":
                    self.assertIn("split into 2 segments", r.stderr)
                output = os.path.join(out, f"{name}.klimt.mp4")
                times[split] = self.shown_frame_times(output)
                starts[split] = self.start_times(output)
                sounds[split] = self.sound_packet_times(output)
                lengths[split] = float(subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries",
                     "format=duration", "-of", "csv=p=0", output],
                    capture_output=True, text=True, check=True).stdout)
            # The earlier stream starts at 0 (the sound, 23 ms before the
            # picture, in the capture).
            self.assertEqual(min(starts["1"].values()), 0.0, name)
            self.assertLess(times["1"][0], 0.05, name)
            self.assertEqual(times["2"], times["1"], name)
            self.assertEqual(sounds["2"], sounds["1"], name)
            self.assertAlmostEqual(lengths["2"], lengths["1"], 2, name)
            if movie == paused:
                self.assertAlmostEqual(lengths["1"], 3.033, 2)
            for kind, t in starts["1"].items():
                self.assertAlmostEqual(starts["2"][kind], t, 3,
                                       f"{name} {kind}")


if __name__ == "__main__":
    main()
