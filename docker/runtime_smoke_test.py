#!/usr/bin/env python3
"""Runs the real binaries the way the images and the Kubernetes manifests run
them, without a container engine: staged by docker/stage-runtime.sh, as the
images' unprivileged user (10001, when started as root), with the model from
$STYLIZER_MODEL, the flags from the cpu overlay's rendered ConfigMap
(--flagfile), and a private TMPDIR. Then checks what the deployment relies on:

  - the images' HEALTHCHECK command (`stylizer --server=... health`) fails
    before the server is up and exits 0 once it serves;
  - /metrics on --metrics_port exports stylizer_inference_seconds_sum and
    stylizer_device_workers (1 once serving), the series the autoscaler's
    device busy ratio is computed from;
  - SIGTERM (what the kubelet and `docker stop` send) drains and exits 0.

Needs a build: $STYLIZER_BUILD_DIR (default build/) with
server/stylizer-server, client/stylizer and testdata/random4.pt; skipped
otherwise. The model runs on the CPU.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get('STYLIZER_BUILD_DIR', os.path.join(ROOT, 'build'))
SERVER = os.path.join(BUILD, 'server', 'stylizer-server')
CLI = os.path.join(BUILD, 'client', 'stylizer')
MODEL = os.path.join(BUILD, 'testdata', 'random4.pt')
IMAGE_UID = 10001
# Generous bounds: only a hang fails them.
START_SECONDS = 180
EXIT_SECONDS = 90

sys.path.insert(0, os.path.join(ROOT, 'k8s', 'tests'))
import render  # pylint: disable=wrong-import-position


def free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@unittest.skipUnless(
    all(os.path.exists(p) for p in (SERVER, CLI, MODEL)),
    f'needs {SERVER}, {CLI} and {MODEL}')
class RuntimeSmokeTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    cls.dir = tempfile.mkdtemp(prefix='runtime_smoke_')
    os.chmod(cls.dir, 0o755)
    model = os.path.join(cls.dir, 'default.pt')
    shutil.copyfile(MODEL, model)
    root = os.path.join(cls.dir, 'root')
    subprocess.run([
        os.path.join(HERE, 'stage-runtime.sh'), '--dest', root, '--model',
        model, SERVER, CLI
    ], check=True, capture_output=True)
    cls.bin = os.path.join(root, 'opt', 'stylizer', 'bin')
    cls.model = os.path.join(root, 'usr', 'share', 'stylizer', 'models',
                             'default.pt')
    # The flag files exactly as the cpu overlay's ConfigMap holds them.
    cls.flags = os.path.join(cls.dir, 'flags')
    os.makedirs(cls.flags)
    objects = render.build(os.path.join(ROOT, 'k8s', 'overlays', 'cpu'))
    config_map = [o for o in objects if o['kind'] == 'ConfigMap'][0]
    for key, value in config_map['data'].items():
      with open(os.path.join(cls.flags, key), 'w', encoding='utf-8') as f:
        f.write(value)
    deployment = [o for o in objects if o['kind'] == 'Deployment'][0]
    args = deployment['spec']['template']['spec']['containers'][0]['args']
    cls.flagfile = [a for a in args if a.startswith('--flagfile=')][0].replace(
        '/etc/stylizer', cls.flags)
    # Readable by the image user; a sticky, world-writable TMPDIR like /tmp.
    for dirpath, dirnames, filenames in os.walk(cls.dir):
      for name in dirnames:
        os.chmod(os.path.join(dirpath, name), 0o755)
      for name in filenames:
        path = os.path.join(dirpath, name)
        if not os.path.islink(path):
          os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
    cls.tmp = os.path.join(cls.dir, 'tmp')
    os.makedirs(cls.tmp)
    os.chmod(cls.tmp, 0o1777)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.dir, ignore_errors=True)

  def as_image_user(self, argv):
    if os.geteuid() == 0 and shutil.which('setpriv'):
      return ['setpriv', f'--reuid={IMAGE_UID}', f'--regid={IMAGE_UID}',
              '--clear-groups', '--'] + argv
    return argv

  def health(self, port):
    return subprocess.run(
        self.as_image_user([os.path.join(self.bin, 'stylizer'),
                            f'--server=127.0.0.1:{port}', 'health']),
        capture_output=True, text=True, timeout=30, check=False)

  def test_health_metrics_and_drain(self):
    port, metrics_port = free_port(), free_port()
    self.assertNotEqual(self.health(port).returncode, 0,
                        'health passes with no server')
    env = {'PATH': '/usr/bin:/bin', 'STYLIZER_MODEL': self.model,
           'TMPDIR': self.tmp}
    log = open(os.path.join(self.dir, 'server.log'), 'w+', encoding='utf-8')
    self.addCleanup(log.close)
    server = subprocess.Popen(
        self.as_image_user([os.path.join(self.bin, 'stylizer-server'),
                            self.flagfile, f'--port={port}',
                            f'--metrics_port={metrics_port}']),
        env=env, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT)

    def stop():
      if server.poll() is None:
        server.kill()
        server.wait()

    self.addCleanup(stop)

    deadline = time.monotonic() + START_SECONDS
    while True:
      result = self.health(port)
      if result.returncode == 0:
        break
      if server.poll() is not None or time.monotonic() > deadline:
        log.seek(0)
        self.fail(f'server never became healthy: {result.stdout}'
                  f'{result.stderr}\nserver log:\n{log.read()}')
      time.sleep(0.5)

    with urllib.request.urlopen(
        f'http://127.0.0.1:{metrics_port}/metrics', timeout=10) as response:
      metrics = response.read().decode()
    self.assertIn('\nstylizer_inference_seconds_sum ', '\n' + metrics)
    self.assertIn('\nstylizer_device_workers 1\n', '\n' + metrics)

    server.send_signal(signal.SIGTERM)
    self.assertEqual(server.wait(timeout=EXIT_SECONDS), 0)
    log.seek(0)
    lines = [l for l in log.read().splitlines() if l.startswith('{')]
    self.assertTrue(lines, 'no JSON log lines (--log_format=json from the '
                    'ConfigMap)')
    for line in lines:
      json.loads(line)
    self.assertNotEqual(self.health(port).returncode, 0)


if __name__ == '__main__':
  unittest.main()
