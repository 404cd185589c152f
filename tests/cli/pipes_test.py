#!/usr/bin/env python3
"""End-to-end tests of the `stylizer` CLI against a real stylizer-server:
pipes, signals and standard streams: frames from a live pipe, interrupts,
hangups, closed or full standard output.

Shared set-up: cli_support.py.
"""
import contextlib
import json
import os
import signal
import subprocess
import threading
import time

from cli_support import (CLI, MODEL, SERVER, SampleServerTestCase,
                         ServerProcess, ffmpeg, main, probe, stream)


class CliPipesTest(SampleServerTestCase):
    def test_frames_from_a_live_pipe_in_order(self):
        # Raw frames from ffmpeg through `frames`, and frame 7 alone through
        # `image`: the stream's 8th picture is that one (in order, same model).
        w, h, n = 96, 64, 12
        raw = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
             f"testsrc2=s={w}x{h}:r=10", "-frames:v", str(n), "-f", "rawvideo",
             "-pix_fmt", "rgb24", "pipe:1"], check=True,
            capture_output=True).stdout
        frame = w * h * 3
        self.assertEqual(len(raw), n * frame)
        r = subprocess.run(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], input=raw, capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(r.stdout), n * frame)
        self.assertNotEqual(r.stdout, raw)
        out = self.out_dir("frames")
        os.makedirs(out)
        still = os.path.join(out, "seventh.png")
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f",
             "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "pipe:0",
             "-frames:v", "1", still], input=raw[7 * frame:8 * frame],
            check=True)
        styled = os.path.join(out, "seventh.klimt.png")
        r2 = self.cli("image", still, "--styles=klimt", f"--out={styled}")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        alone = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", styled, "-f",
             "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], check=True,
            capture_output=True).stdout

        def mean_diff(a, b):
            return sum(abs(x - y) for x, y in zip(a, b)) / len(a)

        self.assertLess(mean_diff(r.stdout[7 * frame:8 * frame], alone), 1.0)
        self.assertGreater(mean_diff(r.stdout[0:frame], alone), 2.0)

    def start_idle_server(self, log):
        """A server of its own for this test that ends a stream after 2 s
        without a message from the client; stopped at the test's end."""
        server = ServerProcess(SERVER, MODEL, os.path.join(self.tmp, log),
                               "--threads=1", "--stream_idle_timeout=2s",
                               metrics=False)
        self.addCleanup(server.stop)
        r = subprocess.run([CLI, f"--server={server.addr}", "health",
                            "--wait=180s"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return server

    def test_frames_ends_when_the_server_does_while_the_source_is_silent(self):
        # A source that stops sending (a camera that hangs): a server with
        # a 2 s idle limit ends the stream, and the command ends with its
        # reason at once, where it used to wait for a frame that never came.
        server = self.start_idle_server("idle_server.log")
        w, h = 16, 16
        cli = subprocess.Popen(
            [CLI, f"--server={server.addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cli.stdin.write(bytes(w * h * 3))  # one frame, then silence
        cli.stdin.flush()
        try:
            code = cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
        cli.stdin.close()  # ends a command that still waits
        out, err = cli.stdout.read(), cli.stderr.read()
        cli.wait(timeout=60)
        cli.stdout.close()
        cli.stderr.close()
        self.assertIsNotNone(code, "frames still waited for its source "
                             "60 s after the server ended the stream")
        self.assertEqual(code, 1, err.decode())
        self.assertIn("sent nothing for 2s", err.decode())
        self.assertEqual(len(out), w * h * 3)

    def test_video_from_a_silent_pipe_ends_with_the_call(self):
        # A live capture piped in that stops sending, with the pipe left
        # open: the command ends when the call does (the server's 2 s idle
        # limit; a SIGTERM), where it used to wait for the pipe's next bytes.
        server = self.start_idle_server("idle_video.log")
        ts = os.path.join(self.out_dir("silent"), "clip.ts")
        os.makedirs(os.path.dirname(ts))
        ffmpeg("-i", self.movie, "-c", "copy", "-f", "mpegts", ts)
        with open(ts, "rb") as f:
            movie = f.read()
        for how, says in (("idle", "sent nothing for 2s"),
                          ("signal", "interrupted")):
            cli = subprocess.Popen(
                [CLI, f"--server={server.addr}", "--progress=plain", "video",
                 "-", "--styles=klimt", f"--out={self.out_dir(how)}"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            cli.stdin.write(movie[:len(movie) // 2])  # then silence
            cli.stdin.flush()
            if how == "signal":
                time.sleep(1)
                cli.send_signal(signal.SIGTERM)
            try:
                code = cli.wait(timeout=60)
            except subprocess.TimeoutExpired:
                code = None
            cli.stdin.close()  # ends a command that still waits
            err = cli.stderr.read().decode()
            cli.wait(timeout=60)
            cli.stderr.close()
            self.assertIsNotNone(code, f"{how}: video still waited for its "
                                 "source 60 s after the call ended")
            self.assertEqual(code, 1, f"{how}: {err}")
            self.assertIn(says, err.strip().splitlines()[-1], how)

    def start_video_writing_outputs(self, name, **popen_args):
        """Starts `video -` on a piped movie that stops three quarters in
        (then silence: the job cannot end by itself), and returns the Popen
        and its --out once an output's `.NAME.part-XXXXXX` file exists."""
        out = self.out_dir(name)
        ts = os.path.join(self.out_dir(name + "_src"), "clip.ts")
        os.makedirs(os.path.dirname(ts))
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=30",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
               "yuv420p", "-f", "mpegts", ts)
        with open(ts, "rb") as f:
            movie = f.read()
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "--progress=none", "video",
             "-", "--styles=klimt", f"--out={out}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, **popen_args)
        cli.stdin.write(movie[:len(movie) * 3 // 4])  # then silence
        cli.stdin.flush()
        deadline = time.time() + 60
        while time.time() < deadline and not (
                os.path.isdir(out) and
                any(".part-" in name for name in os.listdir(out))):
            time.sleep(0.05)
        self.assertTrue(any(".part-" in name for name in os.listdir(out)),
                        "no output was started")
        return cli, out

    def assert_no_part_files(self, out):
        left = os.listdir(out) if os.path.isdir(out) else []
        self.assertEqual([n for n in left if ".part-" in n], [])

    def test_a_second_interrupt_leaves_no_part_files(self):
        # Ctrl-C twice (or `timeout -s INT`, which signals the process and
        # its group): the second ends the command at once, and its
        # unfinished outputs' `.NAME.part-XXXXXX` files stayed behind.
        cli, out = self.start_video_writing_outputs("twice")
        cli.send_signal(signal.SIGINT)
        time.sleep(0.02)  # two signals at once would be taken as one
        cli.send_signal(signal.SIGINT)
        code = cli.wait(timeout=60)
        cli.stdin.close()
        cli.stderr.close()
        self.assertIn(code, (1, 130))
        self.assert_no_part_files(out)

    def test_a_hangup_ends_video_as_sigterm_does(self):
        # A closed terminal or a dropped ssh connection (SIGHUP) killed the
        # command, its `.NAME.part-XXXXXX` files left behind.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            cli, out = self.start_video_writing_outputs(sig.name)
            cli.send_signal(sig)
            try:
                code = cli.wait(timeout=60)
            finally:
                cli.kill()
                cli.stdin.close()
                err = cli.stderr.read().decode()
                cli.stderr.close()
            self.assertEqual(code, 1, f"{sig.name}: {err}")
            self.assertEqual(err.strip().splitlines()[-1],
                             "stylizer: error: interrupted", sig.name)
            self.assert_no_part_files(out)

    def test_a_hangup_under_nohup_is_ignored(self):
        # nohup ignores SIGHUP so that the command outlives its terminal:
        # the CLI's own handling must not take that back.
        cli, out = self.start_video_writing_outputs(
            "nohup", preexec_fn=lambda: signal.signal(signal.SIGHUP,
                                                      signal.SIG_IGN))
        cli.send_signal(signal.SIGHUP)
        time.sleep(1)
        still_running = cli.poll() is None
        cli.send_signal(signal.SIGTERM)
        code = cli.wait(timeout=60)
        cli.stdin.close()
        cli.stderr.close()
        self.assertTrue(still_running, "SIGHUP ended a command under nohup")
        self.assertEqual(code, 1)
        self.assert_no_part_files(out)

    def test_an_interrupted_bench_reports_the_run_so_far(self):
        # Ctrl-C during a load test printed nothing and exited 130: the
        # measurements so far were lost.
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "bench", "--duration=120s",
             "--size=64x64", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)  # well past its start: the run is on
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=60)
        self.assertEqual(cli.returncode, 1, err)
        self.assertIn("stylizer: error: interrupted", err)
        report = json.loads(out)
        self.assertTrue(report["interrupted"])
        self.assertLess(report["elapsed_seconds"], 60)
        self.assertEqual(report["errors"], 0, report)

    def assert_interrupted(self, cli):
        """Sends `cli` (a Popen with stdin and stderr piped) SIGINT and
        checks that it ends with status 1 and "interrupted"."""
        cli.send_signal(signal.SIGINT)
        try:
            code = cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
            cli.kill()  # so that reading its stderr below ends
        finally:
            with contextlib.suppress(OSError):
                cli.stdin.close()
            err = cli.stderr.read().decode()
            cli.wait(timeout=60)
            for pipe in (cli.stdout, cli.stderr):
                if pipe:
                    pipe.close()
        self.assertIsNotNone(code, "one SIGINT did not end the command")
        self.assertEqual(code, 1, err)
        self.assertEqual(err.strip().splitlines()[-1],
                         "stylizer: error: interrupted", err)

    def test_frames_interrupted(self):
        # Ctrl-C while frames are streamed: the frames already answered stay
        # on standard output, and the command says "interrupted", as image
        # and video do (it used to say "the request was cancelled").
        w, h = 16, 16
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cli.stdin.write(bytes(w * h * 3))
        cli.stdin.flush()
        got = cli.stdout.read(w * h * 3)  # the first answer has come
        self.assert_interrupted(cli)
        self.assertEqual(len(got), w * h * 3)

    def test_frames_interrupted_while_nobody_reads_its_output(self):
        # Ctrl-C while the answers' writes are blocked on a pipe nobody
        # reads (a paused player): the write never saw the cancel, and one
        # signal did nothing at all.
        w, h = 64, 64
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "frames", f"--size={w}x{h}",
             "--styles=klimt"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def feed():
            try:
                for _ in range(40):  # 480 KiB of answers: the pipe holds 64
                    cli.stdin.write(bytes(w * h * 3))
                    cli.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(5)  # the answers have filled the pipe by now
        self.assert_interrupted(cli)

    def test_image_from_a_silent_pipe_interrupted(self):
        # Ctrl-C while `image -` waits for standard input, before any call:
        # the command ended with status 130 and no line.
        cli = subprocess.Popen(
            [CLI, f"--server={self.server_addr}", "image", "-", "--styles=klimt",
             f"--out={self.out_dir('silent')}"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(3)  # reading by now (a later signal is the same)
        self.assert_interrupted(cli)

    def test_pipes_in_and_out(self):
        # A live MPEG-TS from ffmpeg piped in, the stylized Matroska piped
        # out into a file; and a photo through stdin and stdout.
        out = os.path.join(self.out_dir("pipes"))
        os.makedirs(out)
        movie = os.path.join(out, "piped.mkv")
        maker = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc2=s=96x64:r=10:d=2", "-f", "lavfi", "-i",
             "sine=f=440:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-f", "mpegts", "pipe:1"],
            stdout=subprocess.PIPE)
        with open(movie, "wb") as sink:
            r = subprocess.run(
                [CLI, f"--server={self.server_addr}", "--progress=plain",
                 "video", "-", "--styles=klimt", "--container=mkv",
                 "--out=-"],
                stdin=maker.stdout, stdout=sink, stderr=subprocess.PIPE,
                text=False, timeout=300)
        maker.stdout.close()
        self.assertEqual(maker.wait(), 0)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        info = probe(movie)
        self.assertIn("matroska", info["format"]["format_name"])
        v = stream(info, "video")
        self.assertEqual((v["width"], v["height"]), (96, 64))
        self.assertEqual(int(v["nb_read_frames"]), 20)
        self.assertIsNotNone(stream(info, "audio"))

        # A photo through stdin and stdout: PNG by default, JPEG asked for.
        for name, flags, codec in (("piped.png", [], "png"),
                                   ("piped.jpg", ["--format=jpg"], "mjpeg")):
            photo = os.path.join(out, name)
            with open(self.png, "rb") as source, open(photo, "wb") as sink:
                r = subprocess.run(
                    [CLI, f"--server={self.server_addr}", "image", "-",
                     "--styles=outcry", "--out=-", *flags],
                    stdin=source, stdout=sink, stderr=subprocess.PIPE,
                    timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            v = stream(probe(photo), "video")
            self.assertEqual((v["codec_name"], v["width"], v["height"]),
                             (codec, 64, 48))

    def test_a_reader_that_goes_away_gets_an_error_line(self):
        # `... --out=- | head -c 1`: the pipe's reader is gone before the
        # output comes. The command says so and exits 1 (not 141, SIGPIPE).
        for args, source in ((["video", self.movie, "--styles=klimt"], None),
                             (["image", "-", "--styles=klimt"], self.png)):
            with contextlib.ExitStack() as stack:
                stdin = (stack.enter_context(open(source, "rb"))
                         if source else subprocess.DEVNULL)
                p = subprocess.Popen(
                    [CLI, f"--server={self.server_addr}", "--progress=plain",
                     *args, "--out=-"],
                    stdin=stdin, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
                p.stdout.close()
                _, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 1, f"{args[0]}: {err}")
            self.assertIn("stylizer: error: cannot write to standard output",
                          err.strip().splitlines()[-1])

    def test_closed_standard_input_or_output_is_an_error(self):
        # `stylizer frames ... <&-`: descriptor 0 became gRPC's eventfd, and
        # the command read its wakeups as frames until killed.
        for args, closed, says in (
                (["frames", "--size=64x48", "--styles=klimt"], 0,
                 "standard input"),
                (["video", "-", "--styles=klimt", f"--out={self.out_dir('closed')}"], 0,
                 "standard input"),
                (["styles"], 1, "cannot write to standard output")):
            r = subprocess.run(
                [CLI, f"--server={self.server_addr}", "--progress=none", *args],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                preexec_fn=lambda fd=closed: os.close(fd))
            self.assert_failed_cleanly(r, 1, says)

    def test_a_full_disk_on_standard_output_is_an_error(self):
        # `stylizer styles --json > report.json` on a full disk: nothing was
        # written and the command exited 0. The error names the full disk:
        # `video --out=- > x.mp4` said "the reader went away".
        for args, source in ((["styles", "--json"], None), (["styles"], None),
                             (["health"], None),
                             (["video", self.movie, "--styles=klimt",
                               "--out=-"], None),
                             (["image", "-", "--styles=klimt", "--out=-"],
                              self.png)):
            with contextlib.ExitStack() as stack:
                full = stack.enter_context(open("/dev/full", "w"))
                stdin = (stack.enter_context(open(source, "rb"))
                         if source else subprocess.DEVNULL)
                r = subprocess.run(
                    [CLI, f"--server={self.server_addr}", "--progress=none",
                     *args],
                    stdin=stdin, stdout=full, stderr=subprocess.PIPE,
                    text=True, timeout=300)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stderr}")
            last = r.stderr.strip().splitlines()[-1]
            self.assertIn("stylizer: error: cannot write to standard output",
                          last)
            self.assertIn("No space left on device", last, args)


if __name__ == "__main__":
    main()
