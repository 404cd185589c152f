"""A stylizer-server process for the Python tests.

ServerProcess starts the server binary on loopback ports that the server
picks itself (port 0: a port picked here and released could be taken by
another test before the server bound it), reads them from its log, with a
model archive on the CPU in fp32 (no start-up precision trials) and the
test's own flags, its output appended to a log file; stop() sends SIGTERM (a
graceful drain) and kills it if it has not exited within a minute.
"""
import os
import re
import signal
import socket
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, server, model, log_path, *flags, metrics=True):
        """Starts `server` with `model` and `flags`; `metrics`: serve
        /metrics too (else --metrics_port=-1). Returns once the ports are
        bound (the model may still be loading); raises RuntimeError, with
        the log, if the process exits first."""
        self.log_path = log_path
        self._log = open(log_path, "a")
        start = os.path.getsize(log_path)
        self._log_start = start
        self.proc = subprocess.Popen(
            [server, "--port=0", f"--metrics_port={0 if metrics else -1}",
             "--host=127.0.0.1", f"--model={model}", "--device=cpu",
             "--precision=fp32", *flags],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.port = self._logged_port(start, r"\blistening port=(\d+)")
            self.metrics_port = (self._logged_port(start, r"\bmetrics host=\S+ port=(\d+)")
                                 if metrics else -1)
        except RuntimeError:
            self.stop(signal.SIGKILL)
            raise
        self.addr = f"127.0.0.1:{self.port}"

    def _logged_port(self, start, pattern, timeout=120):
        """The port the log line matching `pattern` names, read from byte
        `start` of the log on."""
        return int(self._wait_for_log(start, pattern, timeout, "bind its ports").group(1))

    def wait_for_log(self, pattern, timeout=120):
        """The first match of `pattern` in what this process logged, once
        there is one (the `serving` line, say); raises RuntimeError, with
        the log, if the process exits or `timeout` seconds pass first."""
        return self._wait_for_log(self._log_start, pattern, timeout,
                                  f"log /{pattern}/")

    def _wait_for_log(self, start, pattern, timeout, what):
        end = time.monotonic() + timeout
        while True:
            with open(self.log_path, errors="replace") as f:
                f.seek(start)
                text = f.read()
            found = re.search(pattern, text)
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"stylizer-server did not {what} "
                                   f"(exit status {self.proc.poll()}):\n{text[-4000:]}")
            time.sleep(0.05)

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
