#!/usr/bin/env python3
"""The bench and demo scripts' failure paths, with stub binaries in a fake
build directory (BUILD_DIR): no build, no model, no network needed.

- bench/cli (local_server.sh): a server that exits at start fails the script
  at once (it waited 300 s) and shows the end of the server's log (it was
  deleted unread); a MODEL given from another directory is read there, and a
  missing one is an error (the test archive replaced it in silence).
- bench/scale/run_scale_bench.sh: a failed job fails the script with the
  CLI's log (it printed a row with a made-up throughput).
- bench/model/startup_time.sh: the seconds come without bc.
- scripts/lib/build_jobs.sh (scripts/build.sh's compile jobs): one job, not
  every core, when less than 2 GiB of memory is available.
- scripts/demo.sh: -h/--help prints the usage, other arguments are refused
  (they were ignored, and the whole demo ran); a MODEL that is not there is
  refused before any install or build (the test archive stood in for it).
"""
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def write_script(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/bash\n" + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


class BenchScriptsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bench-scripts-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.build = os.path.join(self.tmp, "build")
        self.model = os.path.join(self.tmp, "model.pt")
        with open(self.model, "w") as f:
            f.write("not read by the stub server\n")

    def stub_build(self, server, cli):
        write_script(os.path.join(self.build, "server", "stylizer-server"), server)
        write_script(os.path.join(self.build, "client", "stylizer"), cli)

    def run_script(self, argv, cwd=None, timeout=60, **env):
        start = time.monotonic()
        done = subprocess.run(argv, cwd=cwd or self.tmp, capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, **env))
        return done, time.monotonic() - start

    def build_jobs(self, meminfo):
        path = os.path.join(self.tmp, "meminfo")
        with open(path, "w") as f:
            f.write(meminfo)
        return subprocess.run(
            ["bash", "-c", f'source {SOURCE}/scripts/lib/build_jobs.sh && build_jobs "$1"',
             "build_jobs", path], capture_output=True, text=True, check=True).stdout.strip()

    def test_build_jobs_follow_the_memory_available(self):
        cores = os.cpu_count()
        gib = 1024 * 1024
        self.assertEqual(self.build_jobs(f"MemAvailable: {gib // 2} kB\n"), "1")
        self.assertEqual(self.build_jobs(f"MemAvailable: {5 * gib} kB\n"), str(min(cores, 2)))
        self.assertEqual(self.build_jobs(f"MemAvailable: {1000 * gib} kB\n"), str(cores))
        # Unknown: every core.
        self.assertEqual(self.build_jobs("MemTotal: 1 kB\n"), str(cores))

    def test_a_server_that_dies_at_start_fails_at_once_with_its_log(self):
        self.stub_build('echo "startup_failed error=bad flag for the test" >&2; exit 1\n',
                        "exit 1\n")
        done, seconds = self.run_script(
            [os.path.join(SOURCE, "bench/cli/frames_pipe.sh"), self.model, "2", "16x16", "1"],
            BUILD_DIR=self.build)
        self.assertNotEqual(done.returncode, 0, done.stderr)
        self.assertLess(seconds, 30)
        self.assertIn("stylizer-server exited during start-up", done.stderr)
        self.assertIn("server: startup_failed error=bad flag for the test", done.stderr)

    def test_a_model_given_is_read_from_the_callers_directory(self):
        # The server stub writes the --model it was given, then dies.
        self.stub_build('for a; do case $a in --model=*) echo "model ${a#--model=}" >&2;; '
                        'esac; done; exit 1\n', "exit 1\n")
        script = os.path.join(SOURCE, "bench/cli/frames_pipe.sh")
        done, _ = self.run_script([script, "model.pt", "2", "16x16", "1"],
                                  BUILD_DIR="build")
        self.assertIn(f"server: model {self.model}", done.stderr)
        done, _ = self.run_script([script, "nosuch.pt", "2", "16x16", "1"],
                                  BUILD_DIR="build")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn(f"no model archive {os.path.join(self.tmp, 'nosuch.pt')}", done.stderr)

    def test_a_failed_scale_job_fails_the_script(self):
        # The server stub serves (sleeps); the CLI stub's health passes and
        # its video job fails.
        self.stub_build("exec sleep 60\n",
                        'for a; do case $a in health) exit 0;; video) '
                        'echo "error: unknown style nosuchstyle" >&2; exit 1;; esac; done\n')
        done, seconds = self.run_script(
            [os.path.join(SOURCE, "bench/scale/run_scale_bench.sh"), self.model, "1", "64x48"],
            BUILD_DIR=self.build, timeout=90)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("failed (exit 1)", done.stderr)
        self.assertIn("error: unknown style nosuchstyle", done.stderr)
        self.assertNotIn("| 1 server", done.stdout)

    def test_startup_time_needs_no_bc(self):
        self.stub_build("echo loaded model; exec sleep 60\n", "exit 0\n")
        nobc = os.path.join(self.tmp, "nobc")
        write_script(os.path.join(nobc, "bc"), "echo 'bc: command not found' >&2; exit 127\n")
        done, _ = self.run_script(
            [os.path.join(SOURCE, "bench/model/startup_time.sh"), "--build", self.build],
            PATH=nobc + os.pathsep + os.environ["PATH"])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, r"run 1: serving after \d+\.\d s")
        self.assertNotIn("bc", done.stderr)

    def test_demo_takes_no_arguments(self):
        demo = os.path.join(SOURCE, "scripts/demo.sh")
        # Should the arguments be ignored again, no install, no build and no
        # server: it stops at once for want of binaries.
        safe = dict(SKIP_SETUP="1", BUILD_DIR=self.build, OUT=os.path.join(self.tmp, "out"))
        done, _ = self.run_script([demo, "--help"], **safe)
        self.assertEqual(done.returncode, 0)
        self.assertIn("usage: scripts/demo.sh", done.stdout)
        done, _ = self.run_script([demo, "clip.mp4"], **safe)
        self.assertEqual(done.returncode, 2)
        self.assertIn("demo: unknown argument clip.mp4", done.stderr)
        self.assertIn("usage: scripts/demo.sh", done.stderr)

    def test_demo_refuses_a_model_that_is_not_there(self):
        # Without SKIP_SETUP: it must say so before installing or building.
        done, seconds = self.run_script([os.path.join(SOURCE, "scripts/demo.sh")],
                                        BUILD_DIR=self.build, MODEL="mymodel.pt")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn(f"demo: no model archive {self.tmp}/mymodel.pt", done.stderr)
        self.assertLess(seconds, 10)


if __name__ == "__main__":
    unittest.main()
