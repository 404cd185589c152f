"""A real stylizer-server process and a real Python gRPC client, for the hostile
suite (tests/hostile/) and the soak benchmark (bench/soak/).

* Stubs: generated into a temporary folder from proto/stylizer/v1/stylizer.proto
  (and the standard health proto) with grpc_tools, Debian's python3-grpc-tools.
* ServerProcess: stylizer-server on a free loopback port, its log in a file,
  its memory read from /proc/PID/status (VmRSS, VmHWM; the peak can be reset
  through /proc/PID/clear_refs, so each test sees its own peak).
* Media: made on the fly with the ffmpeg CLI.

Environment (set by CTest; defaults work from the source root after a build):
STYLIZER_SERVER_BIN, STYLIZER_MODEL, STYLIZER_SOURCE_DIR, STYLIZER_BUILD_DIR.
"""
import atexit
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from build_paths import BUILD, SOURCE  # noqa: E402
from build_paths import SERVER as SERVER_BIN  # noqa: E402

MODEL = os.environ.get("STYLIZER_MODEL",
                       os.path.join(SOURCE, "models", "default.pt"))

_stubs = None


def stubs():
    """Returns (grpc, stylizer_pb2, stylizer_pb2_grpc, health_pb2,
    health_pb2_grpc), generating the Python stubs once per process."""
    global _stubs
    if _stubs is not None:
        return _stubs
    import grpc  # noqa: F401  (python3-grpcio)
    out = tempfile.mkdtemp(prefix="stylizer-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    # The health proto is copied under another folder name: a module path
    # starting with grpc/ would be shadowed by the installed grpc package.
    health_dir = os.path.join(out, "src", "stylizer_health")
    os.makedirs(health_dir)
    shutil.copy(os.path.join(SOURCE, "proto", "grpc",
                             "health", "v1", "health.proto"), health_dir)
    protos = [
        (os.path.join(SOURCE, "proto"), "stylizer/v1/stylizer.proto"),
        (os.path.join(out, "src"), "stylizer_health/health.proto"),
    ]
    for include, proto in protos:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                        "-I" + include, "--python_out=" + out,
                        "--grpc_python_out=" + out, proto], check=True)
    sys.path.insert(0, out)
    _stubs = (grpc,
              importlib.import_module("stylizer.v1.stylizer_pb2"),
              importlib.import_module("stylizer.v1.stylizer_pb2_grpc"),
              importlib.import_module("stylizer_health.health_pb2"),
              importlib.import_module("stylizer_health.health_pb2_grpc"))
    return _stubs


def channel(address):
    """A client channel that reconnects quickly (the server may still be
    starting) and takes messages as large as the server's limits."""
    grpc = stubs()[0]
    return grpc.insecure_channel(address, options=[
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 500),
        ("grpc.max_receive_message_length", 512 << 20),
        ("grpc.max_send_message_length", 512 << 20),
    ])


def proc_status_kb(pid, field):
    """A 'kB' field of /proc/PID/status (VmRSS, VmHWM), or None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class ServerProcess:
    """stylizer-server as a child process on a free loopback port.

    A memory guard thread polls the server's RSS every 10 ms and kills it
    (SIGKILL) above a limit, so that an input that makes the server grow
    without bound fails its test instead of pushing a shared machine into
    its OOM killer. `guard_tripped` then says what happened."""

    GUARD_POLL_S = 0.01

    def __init__(self, workdir, flags=(), name="server"):
        self.workdir = workdir
        self.flags = list(flags)
        self.name = name
        self.proc = None
        self.port = None
        self.log_path = None
        self.starts = 0
        self.guard_limit_kb = None
        self.guard_tripped = None
        self._guard_stop = threading.Event()
        self._guard = None

    def start(self, timeout=120):
        grpc, pb, pb_grpc, _, _ = stubs()
        self.starts += 1
        self.log_path = os.path.join(self.workdir,
                                     f"{self.name}-{self.starts}.log")
        self._log = open(self.log_path, "wb")
        # Port 0: the server picks a free port and logs it (one picked here
        # and released could be taken by another test first).
        args = [SERVER_BIN, "--port=0", "--host=127.0.0.1",
                "--metrics_port=-1", f"--model={MODEL}", "--device=cpu",
                "--precision=fp32", *self.flags]
        self.proc = subprocess.Popen(args, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            self._await_ready(grpc, pb, pb_grpc, timeout)
        except RuntimeError:
            self.proc.kill()  # not left running behind a failed setUpClass
            self.proc.wait()
            raise
        self.idle_rss_kb = self.rss_kb()
        self.guard_tripped = None
        self._guard_stop.clear()
        self._guard = threading.Thread(target=self._guard_loop, daemon=True)
        self._guard.start()

    def _await_ready(self, grpc, pb, pb_grpc, timeout):
        """Reads the port from the log, then waits until GetModelInfo
        answers; RuntimeError, with the log, if the process exits or the
        time runs out first."""
        end = time.monotonic() + timeout
        self.port = None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n"
                    f"{self.log_tail()}")
            if time.monotonic() > end:
                raise RuntimeError(f"{self.name} not ready:\n"
                                   f"{self.log_tail()}")
            if self.port is None:
                with open(self.log_path, "rb") as f:
                    found = re.search(rb"\blistening port=(\d+)", f.read())
                if found:
                    self.port = int(found.group(1))
                    self.channel = channel(self.address())
                    self.stub = pb_grpc.StylizerStub(self.channel)
                else:
                    time.sleep(0.05)
                    continue
            try:
                self.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
                return
            except grpc.RpcError:
                time.sleep(0.1)

    def set_memory_guard(self, mib_above_now):
        """Kills the server once its RSS exceeds its current RSS plus
        `mib_above_now` MiB (None: no limit)."""
        if mib_above_now is None:
            self.guard_limit_kb = None
        else:
            self.guard_limit_kb = (self.rss_kb() or 0) + mib_above_now * 1024

    def _guard_loop(self):
        proc = self.proc
        while not self._guard_stop.wait(self.GUARD_POLL_S):
            rss = proc_status_kb(proc.pid, "VmRSS")
            if rss is None or proc.poll() is not None:
                return
            limit = self.guard_limit_kb
            if limit is not None and rss > limit:
                # Marked first: a big process takes a while to exit after
                # SIGKILL, and callers must not take it for alive meanwhile.
                self.guard_tripped = (
                    f"the memory guard killed the server at {rss // 1024} MiB "
                    f"RSS (limit {limit // 1024} MiB)")
                proc.kill()
                proc.wait()
                return

    def address(self):
        return f"127.0.0.1:{self.port}"

    def alive(self):
        return (self.proc is not None and self.guard_tripped is None and
                self.proc.poll() is None)

    def exit_description(self):
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                return f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exited with {rc}"

    def rss_kb(self):
        return proc_status_kb(self.proc.pid, "VmRSS")

    def hwm_kb(self):
        return proc_status_kb(self.proc.pid, "VmHWM")

    def reset_hwm(self):
        """Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "WARNING: ThreadSanitizer")

    def sanitizer_report(self):
        """The first sanitizer report in the server's log, if the binary is
        an instrumented build (scripts/test.d/25-sanitizers.sh) and found
        something; else None."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        for mark in self.SANITIZER_MARKS:
            at = text.find(mark)
            if at >= 0:
                return text[max(0, at - 200):at + 3000]
        return None

    def stop(self, timeout=60):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        self._guard_stop.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.channel.close()
        self._log.close()
        return self.proc.returncode


def ffmpeg(*args):
    """Runs the ffmpeg CLI quietly; raises with its message on failure."""
    result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
                             "error", "-y", *args], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)}: {result.stderr}")


def make_movie(path, seconds=1, size="96x64", rate=10, audio=None,
               extra=()):
    """A small test movie: testsrc2 video (H.264), optional sine audio given
    as a list of ffmpeg output args, e.g. ['-c:a', 'aac']."""
    args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]
    if audio is not None:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:d={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += list(audio or ["-an"]) + list(extra) + [path]
    ffmpeg(*args)
    return path


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
