"""A stylizer-server process for the Python tests.

ServerProcess starts the server binary on free loopback ports with a model
archive on the CPU in fp32 (no start-up precision trials) and the test's own
flags, its output appended to a log file; stop() sends SIGTERM (a graceful
drain) and kills it if it has not exited within a minute.
"""
import signal
import socket
import subprocess


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, server, model, log_path, *flags, metrics=True):
        """Starts `server` with `model` and `flags`; `metrics`: serve
        /metrics on a free port (else --metrics_port=-1)."""
        self.port = free_port()
        self.metrics_port = free_port() if metrics else -1
        self.addr = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "a")
        self.proc = subprocess.Popen(
            [server, f"--port={self.port}",
             f"--metrics_port={self.metrics_port}", "--host=127.0.0.1",
             f"--model={model}", "--device=cpu", "--precision=fp32", *flags],
            stdout=self._log, stderr=subprocess.STDOUT)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops the process (`sig`, then SIGKILL after 60 s) and closes
        its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
