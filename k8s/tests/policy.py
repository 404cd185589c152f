#!/usr/bin/env python3
"""Policy checks on rendered stylizer manifests: what the schemas cannot say.

The server's behaviour that the manifests rely on (gRPC health that is
NOT_SERVING until the model is warm and while draining, drain on SIGTERM, the
metrics port) is tested where the server is built; these checks prove the
manifests ask for it, consistently:

  - images pinned (a tag other than latest, or a digest);
  - every container has cpu and memory requests and limits;
  - non-root, no privilege escalation, read-only root filesystem, no
    capabilities; a writable volume for TMPDIR;
  - startup, readiness and liveness probes are native gRPC probes on the
    server's --port, and the startup probe allows for model load;
  - a preStop sleep, and terminationGracePeriodSeconds > preStop sleep +
    --drain_timeout + the server's 15 s stuck-drain grace (read from the
    ConfigMap flag files the server is started with), + on a CPU the longest
    device batch, which the drain waits for after the calls have ended;
  - where the model may run on the CPU (cpu and base): the memory budget plus
    the model's working memory for a batch of the largest frames fits under
    the container's memory limit;
  - ports, Services, the headless Service, the PodDisruptionBudget, the
    ServiceMonitor and the HorizontalPodAutoscaler all point at the server;
  - the autoscaler scales on the device busy ratio (not on queue depth,
    which one movie fills on its own pod) with a target below 1, and the
    prometheus-adapter rule serves that metric as the rate of
    stylizer_inference_seconds_sum over stylizer_device_workers, per pod;
  - the model the server is pointed at (--model or $STYLIZER_MODEL) is the
    image's bundled one or lies on a volume mounted read-only;
  - the credential files (--auth_token_file, --tls_cert, --tls_key,
    --tls_client_ca) lie on a Secret volume mounted read-only and whole
    (not through subPath, which the kubelet never updates: rotation without
    a restart needs the file to change in place);
  - per overlay: gpu asks for nvidia.com/gpu, GPU nodes and --device=cuda;
    cpu asks for no GPU and --device=cpu.

  policy.py --profile gpu|cpu|base --adapter-rules values.yaml rendered.json
"""

import argparse
import json
import math
import posixpath
import re
import sys

import yaml

SERVER_CONTAINER = 'server'
GPU_RESOURCE = 'nvidia.com/gpu'
# The custom metric the autoscaler scales on, and the server's series the
# adapter rule computes it from: seconds of inference per second, divided
# by the pod's device workers.
SCALING_METRIC = 'stylizer_device_busy_ratio'
BUSY_SERIES = 'stylizer_inference_seconds_sum'
WORKERS_SERIES = 'stylizer_device_workers'
# Queue depth: one movie keeps --video_frames_in_flight x styles items (64
# in 8 styles) queued on its one pod, which looked like several pods' load.
QUEUE_METRIC = 'stylizer_queue_items'
# Where the images keep the bundled model.
IMAGE_MODEL_DIR = '/usr/share/stylizer/models'
# The startup probe must give model load and warm-up at least this long.
MIN_STARTUP_SECONDS = 120
# A drain still running this long after --drain_timeout ends the server
# (kStuckDrainGrace in server/main.cc): the kubelet's SIGKILL must not come
# first, or the drain_stuck line that says why is lost.
STUCK_DRAIN_GRACE_SECONDS = 15
# After the calls have ended the drain waits for the batch still on the
# device (draining_device); on a CPU one batch of large frames takes tens of
# seconds, and a SIGKILL during it loses the stopped line (docs/server.md,
# "Graceful shutdown": add the longest batch). Measured: one 1920x1080 frame
# (a batch of its own: --max_batch_pixels caps CPU batches at 1048576 pixels,
# and a batch always takes one item) took 27.3 s of inference with
# --threads=2 on a shared 2-core machine, an upper-end figure. More threads
# are taken as no faster (conservative), one thread as half as fast.
CPU_BATCH_SECONDS_PER_PIXEL_2_THREADS = 27.3 / (1920 * 1080)
# --max_batch_pixels=0 on a CPU (server/server_flags.cc).
DEFAULT_CPU_MAX_BATCH_PIXELS = 1024 * 1024

# The model's host memory on a CPU, which --memory_budget_bytes does not
# count (docs/server.md, "Sizing"): the server's peak resident memory over
# still images, fp32 (the most; bf16 takes less), measured with
# bench/model/host_memory.sh. A base (resident memory before the first
# call and what the first forward of a shape adds), then bytes per pixel of
# a frame and per pixel of each further frame of a batch; 10 % added.
MODEL_BASE_BYTES = 0.85e9 * 1.1
MODEL_BYTES_PER_PIXEL = 430 * 1.1
MODEL_BYTES_PER_BATCH_PIXEL = 35 * 1.1
# The server's defaults (server/server_flags.cc; the budget share in
# server/server_options.cc).
DEFAULT_MAX_FRAME_PIXELS = 4096 * 2160
DEFAULT_MAX_BATCH_SIZE = 8
DEFAULT_BUDGET_FRACTION = 0.8

_DURATION_UNITS = {
    'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0,
    'h': 3600.0
}


def parse_duration(text):
  """Seconds in an Abseil/Go duration ("60s", "1m30s", "1.5m", "500ms").

  A bare number counts as seconds. Raises ValueError otherwise.
  """
  text = str(text).strip()
  if re.fullmatch(r'\d+(\.\d+)?', text):
    return float(text)
  sign = -1.0 if text.startswith('-') else 1.0
  body = text.lstrip('+-')
  parts = re.findall(r'(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)', body)
  if not parts or ''.join(n + u for n, u in parts) != body:
    raise ValueError(f"'{text}' is not a duration")
  return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_quantity(value):
  """A Kubernetes quantity ("500m", "2", "4Gi") as a float."""
  text = str(value).strip()
  match = re.fullmatch(r'([0-9.]+)([a-zA-Z]*)', text)
  if not match:
    raise ValueError(f"'{text}' is not a quantity")
  number, suffix = float(match.group(1)), match.group(2)
  scale = {
      '': 1, 'm': 1e-3, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12,
      'Ki': 2**10, 'Mi': 2**20, 'Gi': 2**30, 'Ti': 2**40
  }
  if suffix not in scale:
    raise ValueError(f"'{text}' has an unknown unit")
  return number * scale[suffix]


def _kind(objects, kind):
  return [o for o in objects if o.get('kind') == kind]


def _name(obj):
  return (obj.get('metadata') or {}).get('name', '')


def _labels_match(selector, labels):
  return bool(selector) and all(
      (labels or {}).get(k) == v for k, v in selector.items())


class Report:
  """Collects findings, each naming the object it is about."""

  def __init__(self):
    self.findings = []

  def add(self, where, message):
    self.findings.append(f'{where}: {message}')


def server_flags(deployment, objects, report):
  """The flags the server container starts with: the --flagfile files (from
  ConfigMap volumes) in order, then the other args. Last value wins."""
  where = f'Deployment/{_name(deployment)}'
  spec = deployment['spec']['template']['spec']
  container = _server_container(deployment)
  config_maps = {_name(c): c for c in _kind(objects, 'ConfigMap')}
  volumes = {v.get('name'): v for v in spec.get('volumes') or []}
  mounts = []
  for mount in container.get('volumeMounts') or []:
    volume = volumes.get(mount.get('name')) or {}
    if 'configMap' in volume:
      mounts.append((mount['mountPath'].rstrip('/'), volume['configMap']))
  flags = {}

  def take(line, origin):
    line = line.strip()
    if not line or line.startswith('#'):
      return
    match = re.fullmatch(r'--?([A-Za-z0-9_]+)(?:=(.*))?', line)
    if not match:
      report.add(where, f"{origin}: '{line}' is not a --flag=value line")
      return
    flags[match.group(1)] = match.group(2) if match.group(2) is not None else (
        'true')

  for arg in (container.get('command') or [])[1:] + (container.get('args') or
                                                     []):
    if arg.startswith('--flagfile='):
      for path in arg.split('=', 1)[1].split(','):
        text = _config_map_file(path, mounts, config_maps)
        if text is None:
          report.add(where, f"--flagfile {path} is not a key of a mounted "
                     f'ConfigMap of this render')
          continue
        for line in text.splitlines():
          take(line, path)
    else:
      take(arg, 'args')
  return flags


def _config_map_file(path, mounts, config_maps):
  for mount_path, source in mounts:
    if posixpath.dirname(path) != mount_path:
      continue
    key = posixpath.basename(path)
    for item in source.get('items') or []:
      if item.get('path') == key:
        key = item.get('key')
    data = (config_maps.get(source.get('name')) or {}).get('data') or {}
    if key in data:
      return data[key]
  return None


def _server_container(deployment):
  containers = deployment['spec']['template']['spec'].get('containers') or []
  for c in containers:
    if c.get('name') == SERVER_CONTAINER:
      return c
  return containers[0] if containers else {}


def check_images(objects, report):
  for d in _kind(objects, 'Deployment'):
    spec = d['spec']['template']['spec']
    for c in (spec.get('initContainers') or []) + (spec.get('containers') or
                                                    []):
      image = str(c.get('image', ''))
      where = f"Deployment/{_name(d)} container {c.get('name')}"
      name, _, digest = image.partition('@')
      tag = name.rsplit(':', 1)[1] if ':' in name.rsplit('/', 1)[-1] else ''
      if not image:
        report.add(where, 'has no image')
      elif not digest and not tag:
        report.add(where, f"image '{image}' has no tag (means latest)")
      elif tag == 'latest':
        report.add(where, f"image '{image}' uses the latest tag")


def check_resources(objects, report):
  for d in _kind(objects, 'Deployment'):
    spec = d['spec']['template']['spec']
    for c in (spec.get('initContainers') or []) + (spec.get('containers') or
                                                    []):
      where = f"Deployment/{_name(d)} container {c.get('name')}"
      resources = c.get('resources') or {}
      for section in ('requests', 'limits'):
        for resource in ('cpu', 'memory'):
          if resource not in (resources.get(section) or {}):
            report.add(where, f'has no {resource} {section[:-1]}')
      for resource, request in (resources.get('requests') or {}).items():
        limit = (resources.get('limits') or {}).get(resource)
        try:
          if limit is not None and parse_quantity(request) > parse_quantity(
              limit):
            report.add(where, f'{resource} request {request} exceeds its '
                       f'limit {limit}')
        except ValueError as e:
          report.add(where, str(e))


def check_security(objects, report):
  for d in _kind(objects, 'Deployment'):
    spec = d['spec']['template']['spec']
    pod = spec.get('securityContext') or {}
    volumes = {v.get('name'): v for v in spec.get('volumes') or []}
    for c in (spec.get('initContainers') or []) + (spec.get('containers') or
                                                    []):
      where = f"Deployment/{_name(d)} container {c.get('name')}"
      sc = c.get('securityContext') or {}
      if not sc.get('runAsNonRoot', pod.get('runAsNonRoot')):
        report.add(where, 'does not set runAsNonRoot: true')
      if sc.get('runAsUser', pod.get('runAsUser')) == 0:
        report.add(where, 'runs as user 0')
      if sc.get('allowPrivilegeEscalation') is not False:
        report.add(where, 'does not set allowPrivilegeEscalation: false')
      if sc.get('readOnlyRootFilesystem') is not True:
        report.add(where, 'does not set readOnlyRootFilesystem: true')
      if sc.get('privileged'):
        report.add(where, 'is privileged')
      if 'ALL' not in ((sc.get('capabilities') or {}).get('drop') or []):
        report.add(where, 'does not drop ALL capabilities')
      if (sc.get('capabilities') or {}).get('add'):
        report.add(where, 'adds capabilities')
      # With a read-only root, TMPDIR (movie spool) must be a writable mount.
      tmpdir = next((e.get('value') for e in c.get('env') or []
                     if e.get('name') == 'TMPDIR'), '/tmp')
      mount = next((m for m in c.get('volumeMounts') or []
                    if m.get('mountPath', '').rstrip('/') == tmpdir.rstrip('/')
                   ), None)
      if c.get('name') == SERVER_CONTAINER and (
          mount is None or mount.get('readOnly') or
          'emptyDir' not in volumes.get(mount.get('name'), {}) and
          'ephemeral' not in volumes.get(mount.get('name'), {})):
        report.add(where, f'TMPDIR {tmpdir} is not a writable emptyDir or '
                   f'ephemeral volume')


def longest_cpu_batch(deployment, flags):
  """(seconds, pixels, threads) of the longest device batch the server may
  run on a CPU: one frame of --max_frame_pixels alone, or as many frames as
  --max_batch_size and --max_batch_pixels let into one batch. Raises
  ValueError on a flag that is not a number."""
  frame = int(flags.get('max_frame_pixels', DEFAULT_MAX_FRAME_PIXELS))
  size = int(flags.get('max_batch_size', DEFAULT_MAX_BATCH_SIZE))
  cap = int(flags.get('max_batch_pixels', 0))
  if cap == 0:
    cap = DEFAULT_CPU_MAX_BATCH_PIXELS
  pixels = size * frame if cap < 0 else max(frame, min(cap, size * frame))
  threads = int(flags.get('threads', 0))
  if threads <= 0:  # one per CPU of the container's limit
    limit = ((_server_container(deployment).get('resources') or
              {}).get('limits') or {}).get('cpu')
    threads = math.ceil(parse_quantity(limit)) if limit is not None else 1
  seconds = pixels * CPU_BATCH_SECONDS_PER_PIXEL_2_THREADS * 2 / min(
      threads, 2)
  return seconds, pixels, threads


def check_probes_and_lifecycle(deployment, flags, report):
  where = f'Deployment/{_name(deployment)}'
  spec = deployment['spec']['template']['spec']
  container = _server_container(deployment)
  port = int(flags.get('port', 50051))
  for probe_name in ('startupProbe', 'readinessProbe', 'livenessProbe'):
    probe = container.get(probe_name)
    if not probe:
      report.add(where, f'has no {probe_name}')
      continue
    if set(probe) & {'httpGet', 'tcpSocket', 'exec'} or 'grpc' not in probe:
      report.add(where, f'{probe_name} is not a gRPC probe')
      continue
    if probe['grpc'].get('port') != port:
      report.add(where, f"{probe_name} probes port {probe['grpc'].get('port')}"
                 f', the server listens on --port={port}')
  startup = container.get('startupProbe') or {}
  budget = startup.get('periodSeconds', 10) * startup.get('failureThreshold', 3)
  if startup and budget < MIN_STARTUP_SECONDS:
    report.add(where, f'startupProbe allows {budget}s for model load and '
               f'warm-up, less than {MIN_STARTUP_SECONDS}s')
  readiness = container.get('readinessProbe') or {}
  if readiness and readiness.get('failureThreshold', 3) * readiness.get(
      'periodSeconds', 10) > 30:
    report.add(where, 'readinessProbe takes over 30s to notice a drain')

  pre_stop = (container.get('lifecycle') or {}).get('preStop') or {}
  sleep = None
  if 'sleep' in pre_stop:
    sleep = float(pre_stop['sleep'].get('seconds', 0))
  elif 'exec' in pre_stop:
    command = pre_stop['exec'].get('command') or []
    if (len(command) == 2 and posixpath.basename(command[0]) == 'sleep'):
      try:
        sleep = parse_duration(command[1])
      except ValueError:
        sleep = None
  if not sleep or sleep <= 0:
    report.add(where, 'has no preStop sleep to let endpoints drop the pod '
               'before SIGTERM')
    sleep = 0.0

  if 'drain_timeout' not in flags:
    report.add(where, 'the server flags set no --drain_timeout')
    return
  try:
    drain = parse_duration(flags['drain_timeout'])
  except ValueError as e:
    report.add(where, f'--drain_timeout: {e}')
    return
  grace = spec.get('terminationGracePeriodSeconds', 30)
  batch, batch_text = 0.0, ''
  if not flags.get('device', 'auto').startswith('cuda'):
    try:
      batch, pixels, threads = longest_cpu_batch(deployment, flags)
    except ValueError as e:
      report.add(where, f'batch flags: {e}')
      return
    batch_text = (f' + the longest CPU batch ({batch:.0f}s: {pixels} pixels '
                  f'with {threads} thread(s))')
  if not grace > sleep + drain + STUCK_DRAIN_GRACE_SECONDS + batch:
    report.add(where, f'terminationGracePeriodSeconds {grace} is not longer '
               f'than preStop sleep {sleep:g}s + --drain_timeout {drain:g}s '
               f'+ the server\'s {STUCK_DRAIN_GRACE_SECONDS}s stuck-drain '
               f'grace{batch_text}')


def check_ports_and_services(objects, deployment, flags, report):
  where = f'Deployment/{_name(deployment)}'
  template = deployment['spec']['template']
  pod_labels = (template.get('metadata') or {}).get('labels') or {}
  selector = deployment['spec'].get('selector', {}).get('matchLabels') or {}
  if not _labels_match(selector, pod_labels):
    report.add(where, 'selector does not match its pod template labels')
  container = _server_container(deployment)
  ports = {p.get('name'): p.get('containerPort')
           for p in container.get('ports') or []}
  for flag, port_name, default in (('port', 'grpc', 50051),
                                   ('metrics_port', 'metrics', 9464)):
    want = int(flags.get(flag, default))
    if ports.get(port_name) != want:
      report.add(where, f"container port '{port_name}' is "
                 f'{ports.get(port_name)}, the server uses --{flag}={want}')

  services = _kind(objects, 'Service')
  selecting = [
      s for s in services
      if _labels_match((s.get('spec') or {}).get('selector'), pod_labels)
  ]
  if not selecting:
    report.add(where, 'no Service selects the server pods')
  for s in selecting:
    for p in s['spec'].get('ports') or []:
      target = p.get('targetPort', p.get('port'))
      if target not in ports and target not in ports.values():
        report.add(f'Service/{_name(s)}',
                   f"port {p.get('name')} targets {target}, which the server "
                   f'container does not expose')
  if not any(s['spec'].get('clusterIP') == 'None' and any(
      p.get('name') == 'grpc' for p in s['spec'].get('ports') or [])
             for s in selecting):
    report.add(where, 'no headless Service with a grpc port for client-side '
               'load balancing')
  if not any(
      s['spec'].get('clusterIP') != 'None' and any(
          p.get('name') == 'metrics' for p in s['spec'].get('ports') or [])
      for s in selecting):
    report.add(where, 'no Service exposes the metrics port')

  pdbs = [
      p for p in _kind(objects, 'PodDisruptionBudget') if _labels_match(
          (p['spec'].get('selector') or {}).get('matchLabels'), pod_labels)
  ]
  if not pdbs:
    report.add(where, 'no PodDisruptionBudget covers the server pods')
  for p in pdbs:
    if 'minAvailable' in p['spec'] and 'maxUnavailable' not in p['spec']:
      report.add(f'PodDisruptionBudget/{_name(p)}', 'uses minAvailable, which '
                 'blocks node drains when only that many replicas run; use '
                 'maxUnavailable')

  for config_map in (v['configMap']['name']
                     for v in template['spec'].get('volumes') or []
                     if 'configMap' in v):
    if config_map not in {_name(c) for c in _kind(objects, 'ConfigMap')}:
      report.add(where, f"mounts ConfigMap '{config_map}', which this render "
                 f'does not contain')


def check_service_monitors(objects, report):
  services = _kind(objects, 'Service')
  for m in _kind(objects, 'ServiceMonitor'):
    where = f'ServiceMonitor/{_name(m)}'
    if m.get('apiVersion') != 'monitoring.coreos.com/v1':
      report.add(where, f"apiVersion {m.get('apiVersion')} is not "
                 f'monitoring.coreos.com/v1')
    spec = m.get('spec') or {}
    selector = (spec.get('selector') or {}).get('matchLabels') or {}
    selected = [
        s for s in services
        if _labels_match(selector, (s.get('metadata') or {}).get('labels'))
    ]
    if not selected:
      report.add(where, 'selects no Service of this render')
    endpoints = spec.get('endpoints') or []
    if not endpoints:
      report.add(where, 'has no endpoints')
    for e in endpoints:
      port = e.get('port')
      if not any(p.get('name') == port for s in selected
                 for p in s['spec'].get('ports') or []):
        report.add(where, f"endpoint port '{port}' is not a named port of a "
                   f'selected Service')
      if e.get('path', '/metrics') != '/metrics':
        report.add(where, f"endpoint path {e.get('path')} is not /metrics")
      seconds = {}
      for field in ('interval', 'scrapeTimeout'):
        if field in e:
          try:
            seconds[field] = parse_duration(e[field])
          except ValueError as err:
            report.add(where, f'{field}: {err}')
      if len(seconds) == 2 and seconds['scrapeTimeout'] > seconds['interval']:
        report.add(where, 'scrapeTimeout exceeds interval')


def _admits_port(rule, port_name, port_number):
  """Whether one ingress rule admits the container port (a rule without
  ports admits every port)."""
  ports = rule.get('ports')
  if not ports:
    return True
  return any(p.get('port') in (port_name, port_number) or 'port' not in p
             for p in ports)


def check_network_policies(objects, deployment, report):
  """A NetworkPolicy over the server pods must still admit its clients to
  the grpc port, and Prometheus to the metrics port when a ServiceMonitor
  scrapes it: a policy selects pods, and everything it does not admit is
  dropped."""
  template = deployment['spec']['template']
  pod_labels = (template.get('metadata') or {}).get('labels') or {}
  ports = {p.get('name'): p.get('containerPort')
           for p in _server_container(deployment).get('ports') or []}
  for policy in _kind(objects, 'NetworkPolicy'):
    spec = policy.get('spec') or {}
    selector = (spec.get('podSelector') or {}).get('matchLabels') or {}
    if selector and not _labels_match(selector, pod_labels):
      continue  # about other pods
    types = spec.get('policyTypes') or ['Ingress']
    if 'Ingress' not in types:
      continue
    where = f'NetworkPolicy/{_name(policy)}'
    rules = spec.get('ingress') or []
    wanted = [('grpc', 'its clients')]
    if _kind(objects, 'ServiceMonitor'):
      wanted.append(('metrics', 'Prometheus'))
    for port_name, who in wanted:
      if not any(_admits_port(r, port_name, ports.get(port_name))
                 for r in rules):
        report.add(where, f"admits nothing to the server's {port_name} port: "
                   f'{who} would be cut off')


def adapter_metric_names(rules):
  """The custom metric names a prometheus-adapter rule list serves."""
  names = set()
  for rule in rules:
    name = rule.get('name') or {}
    series = rule.get('seriesQuery', '')
    base = re.match(r'\s*([A-Za-z_:][A-Za-z0-9_:]*)', series)
    if 'as' in name:
      names.add(name['as'])
    elif base:
      names.add(base.group(1))
  return names


def check_adapter_rules(rules, report):
  where = 'prometheus-adapter rules'
  if not isinstance(rules, list) or not rules:
    report.add(where, 'no rules')
    return
  for i, rule in enumerate(rules):
    w = f'{where}[{i}]'
    series = rule.get('seriesQuery', '')
    overrides = (rule.get('resources') or {}).get('overrides') or {}
    for label in ('namespace', 'pod'):
      if (overrides.get(label) or {}).get('resource') != label:
        report.add(w, f"does not map the '{label}' label to the {label} "
                   f'resource')
      if f'{label}!=""' not in series.replace(' ', ''):
        report.add(w, f'seriesQuery does not require a {label} label')
    query = rule.get('metricsQuery', '')
    for placeholder in ('<<.Series>>', '<<.LabelMatchers>>', '<<.GroupBy>>'):
      if placeholder not in query:
        report.add(w, f'metricsQuery lacks {placeholder}')
    name = rule.get('name') or {}
    if 'matches' in name:
      try:
        re.compile(name['matches'])
      except re.error as e:
        report.add(w, f'name.matches: {e}')
    if SCALING_METRIC in adapter_metric_names([rule]):
      check_busy_ratio_rule(rule, w, report)
  if SCALING_METRIC not in adapter_metric_names(rules):
    report.add(where, f'no rule serves {SCALING_METRIC}')


def _series_name(rule):
  match = re.match(r'\s*([A-Za-z_:][A-Za-z0-9_:]*)', rule.get('seriesQuery', ''))
  return match.group(1) if match else ''


def check_busy_ratio_rule(rule, where, report):
  """The busy ratio: the rate of the pod's inference seconds divided by its
  device workers (only where there are some: a pod still loading has 0),
  both for the pods asked about."""
  query = ' '.join(rule.get('metricsQuery', '').split())
  if _series_name(rule) != BUSY_SERIES:
    report.add(where, f'{SCALING_METRIC} is not computed from {BUSY_SERIES} '
               f"(the seriesQuery names '{_series_name(rule)}')")
  if not re.search(r'\brate\(\s*<<\.Series>>\{<<\.LabelMatchers>>\}\[\w+\]\)',
                   query):
    report.add(where, f'{SCALING_METRIC} does not take the rate() of '
               f'{BUSY_SERIES} for the pods asked about')
  workers = re.search(
      r'/\s*(?:sum|max)\s+by\s*\(\s*<<\.GroupBy>>\s*\)\s*\(\s*' +
      WORKERS_SERIES + r'\{<<\.LabelMatchers>>\}\s*>\s*0\s*\)', query)
  if not workers:
    report.add(where, f'{SCALING_METRIC} is not divided by the pod\'s '
               f'{WORKERS_SERIES} (> 0, grouped by <<.GroupBy>>)')


def expand_metrics_query(rule, namespace, pods):
  """The PromQL prometheus-adapter runs for the rule when asked for the
  metric of `pods` in `namespace` (the pods resource: grouped by pod)."""
  matchers = f'namespace="{namespace}",pod=~"{"|".join(pods)}"'
  return (rule.get('metricsQuery', '').replace('<<.Series>>', _series_name(
      rule)).replace('<<.LabelMatchers>>', matchers).replace(
          '<<.GroupBy>>', 'pod'))


def check_autoscalers(objects, rules, report):
  deployments = {_name(d): d for d in _kind(objects, 'Deployment')}
  for h in _kind(objects, 'HorizontalPodAutoscaler'):
    where = f'HorizontalPodAutoscaler/{_name(h)}'
    spec = h.get('spec') or {}
    ref = spec.get('scaleTargetRef') or {}
    if ref.get('kind') != 'Deployment' or ref.get('name') not in deployments:
      report.add(where, f'scales {ref.get("kind")}/{ref.get("name")}, not a '
                 f'Deployment of this render')
    elif 'replicas' in deployments[ref['name']].get('spec', {}):
      report.add(f"Deployment/{ref['name']}", 'sets spec.replicas although '
                 'an autoscaler owns the count (each apply would reset it)')
    if spec.get('minReplicas', 1) > spec.get('maxReplicas', 0):
      report.add(where, 'minReplicas exceeds maxReplicas')
    served = adapter_metric_names(rules or [])
    busy_metrics = [
        m for m in spec.get('metrics') or [] if m.get('type') == 'Pods' and
        (m.get('pods') or {}).get('metric', {}).get('name') == SCALING_METRIC
    ]
    if not busy_metrics:
      report.add(where, f'does not scale on the Pods metric {SCALING_METRIC}')
    for m in spec.get('metrics') or []:
      if m.get('type') in ('Pods', 'Object', 'External'):
        body = m.get(m['type'].lower()) or {}
        name = (body.get('metric') or {}).get('name')
        if name not in served:
          report.add(where, f"metric '{name}' is served by no "
                     f'prometheus-adapter rule')
        if name == QUEUE_METRIC:
          report.add(where, f'scales on {QUEUE_METRIC}, which one movie fills '
                     f'(frames in flight x styles) while its call stays on '
                     f'one pod: it asks for pods that cannot take that work')
        target = body.get('target') or {}
        if m['type'] == 'Pods' and target.get('type') != 'AverageValue':
          report.add(where, f"Pods metric '{name}' needs an AverageValue "
                     f'target')
        elif name == SCALING_METRIC:
          try:
            value = parse_quantity(target.get('averageValue'))
          except ValueError as e:
            report.add(where, f'{SCALING_METRIC} target: {e}')
            continue
          if not 0 < value < 1:
            report.add(where, f"{SCALING_METRIC} target "
                       f"{target.get('averageValue')} is not between 0 and 1: "
                       f'a pod\'s busy ratio stays at or below 1, so the '
                       f'autoscaler would never scale up')


def check_model_claim(claim_name, objects, report):
  """A claim that only reads (ReadOnlyMany) gets nothing written to it:
  dynamic provisioning would give it an empty volume, or none (block storage
  refuses ReadOnlyMany), and the server would find no model. It must come
  with the archive: bind a volume that holds it (volumeName, with the
  volume's storageClassName stated, "" for none, so that the default class is
  not filled in; or a selector), or be made from one (dataSource, a snapshot
  or a clone)."""
  claim = next((c for c in _kind(objects, 'PersistentVolumeClaim')
                if _name(c) == claim_name), None)
  if claim is None:
    return  # made outside this render
  spec = claim.get('spec') or {}
  if set(spec.get('accessModes') or []) != {'ReadOnlyMany'}:
    return
  if spec.get('dataSource') or spec.get('dataSourceRef') or spec.get('selector'):
    return
  if not spec.get('volumeName') or 'storageClassName' not in spec:
    report.add(f'PersistentVolumeClaim/{claim_name}',
               'a ReadOnlyMany claim is never written to: bind it to the '
               'volume that holds the model (volumeName, with that volume\'s '
               'storageClassName stated, "" for none, so that no default '
               'class provisions an empty one; or a selector), or make it '
               'from one (dataSource)')


def check_model(deployment, flags, report, objects=()):
  where = f'Deployment/{_name(deployment)}'
  container = _server_container(deployment)
  env = {e.get('name'): e.get('value') for e in container.get('env') or []}
  model = flags.get('model') or env.get('STYLIZER_MODEL')
  if not model:
    return  # the image's bundled model
  if posixpath.dirname(model) == IMAGE_MODEL_DIR:
    return
  volumes = {v.get('name'): v for v in deployment['spec']['template']['spec']
             .get('volumes') or []}
  for mount in container.get('volumeMounts') or []:
    root = mount.get('mountPath', '').rstrip('/')
    if model.startswith(root + '/'):
      volume = volumes.get(mount.get('name'), {})
      if not mount.get('readOnly') and 'configMap' not in volume:
        report.add(where, f'the model volume at {root} is not mounted '
                   f'read-only')
      claim = (volume.get('persistentVolumeClaim') or {}).get('claimName')
      if claim:
        check_model_claim(claim, objects, report)
      return
  report.add(where, f'the model {model} is neither in the image '
             f'({IMAGE_MODEL_DIR}) nor on a mounted volume')


# The server's --max_upload_bytes default (server/server_flags.cc).
DEFAULT_MAX_UPLOAD_BYTES = 8 << 30


def check_upload_space(deployment, flags, report):
  """Movie uploads spool to the TMPDIR volume (or --spool_dir) in files with
  no name, which the kubelet's walk of the volume does not see: its sizeLimit
  never fires, and uploads past it fill the node's disk. --spool_disk_bytes
  must keep them within the sizeLimit, and take the largest upload the
  server accepts; two of the largest at once must fit the volume."""
  where = f'Deployment/{_name(deployment)}'
  container = _server_container(deployment)
  env = {e.get('name'): e.get('value') for e in container.get('env') or []}
  spool = (flags.get('spool_dir') or env.get('TMPDIR') or '/tmp').rstrip('/')
  volumes = {v.get('name'): v for v in deployment['spec']['template']['spec']
             .get('volumes') or []}
  mount = next((m for m in container.get('volumeMounts') or []
                if m.get('mountPath', '').rstrip('/') == spool), None)
  limit = ((volumes.get(mount.get('name')) or {}).get('emptyDir') or
           {}).get('sizeLimit') if mount else None
  if limit is None:
    return  # no emptyDir there: check_security reports it
  try:
    max_upload = int(flags.get('max_upload_bytes', DEFAULT_MAX_UPLOAD_BYTES))
  except ValueError:
    report.add(where, f"--max_upload_bytes={flags['max_upload_bytes']} is "
               f'not a number of bytes')
    return
  if 2 * max_upload > parse_quantity(limit):
    report.add(where, f'--max_upload_bytes={max_upload}: two uploads that '
               f'large do not fit the {spool} volume (sizeLimit {limit}); '
               f'lower the flag or raise the limit')
  try:
    disk = int(flags.get('spool_disk_bytes', '0'))
  except ValueError:
    report.add(where, f"--spool_disk_bytes={flags['spool_disk_bytes']} is "
               f'not a number of bytes')
    return
  if disk <= 0 or disk > parse_quantity(limit):
    report.add(where, f'--spool_disk_bytes={disk} does not keep the uploads '
               f'within the {spool} volume (sizeLimit {limit}), whose limit '
               f'does not see their nameless files; set it below the limit')
  elif disk < max_upload:
    report.add(where, f'--spool_disk_bytes={disk} is below '
               f'--max_upload_bytes={max_upload}: the largest uploads would '
               f'always be refused')


def model_host_bytes(max_frame_pixels, max_batch_size):
  """The model's host memory on a CPU at its largest: a batch of
  max_batch_size frames of max_frame_pixels."""
  return (MODEL_BASE_BYTES + max_frame_pixels *
          (MODEL_BYTES_PER_PIXEL +
           (max_batch_size - 1) * MODEL_BYTES_PER_BATCH_PIXEL))


def check_host_memory(deployment, flags, report):
  """A model on the CPU keeps its activations in the container's memory,
  outside --memory_budget_bytes: the budget plus the model's working memory
  for a batch of the largest frames must fit under the memory limit, or one
  large image (or a few at once) gets the pod killed for memory, ending
  every call on it."""
  if flags.get('device', 'auto').startswith('cuda'):
    return
  where = f'Deployment/{_name(deployment)}'
  limits = (_server_container(deployment).get('resources') or
            {}).get('limits') or {}
  if 'memory' not in limits:
    return  # check_resources reports it
  try:
    limit = parse_quantity(limits['memory'])
    pixels = int(flags.get('max_frame_pixels', DEFAULT_MAX_FRAME_PIXELS))
    batch = int(flags.get('max_batch_size', DEFAULT_MAX_BATCH_SIZE))
    budget = int(flags.get('memory_budget_bytes', 0))
  except ValueError as e:
    report.add(where, f'memory flags: {e}')
    return
  if budget < 0:
    report.add(where, '--memory_budget_bytes=-1: no memory budget, so the '
               'calls\' memory and the model\'s working memory on a CPU '
               'cannot be held under the memory limit; set a budget')
    return
  if budget == 0:
    budget = DEFAULT_BUDGET_FRACTION * limit
  model = model_host_bytes(pixels, batch)
  if budget + model > limit:
    report.add(
        where, f'memory limit {limits["memory"]} is below the memory budget '
        f'({budget / 2**30:.2f} GiB) + the model\'s working memory on a CPU '
        f'for {batch} frame(s) of --max_frame_pixels={pixels} '
        f'({model / 2**30:.2f} GiB); set --max_frame_pixels and '
        f'--memory_budget_bytes lower, or the limit higher')


CREDENTIAL_FLAGS = ('auth_token_file', 'tls_cert', 'tls_key', 'tls_client_ca')


def check_credentials(deployment, flags, report):
  where = f'Deployment/{_name(deployment)}'
  container = _server_container(deployment)
  volumes = {v.get('name'): v for v in deployment['spec']['template']['spec']
             .get('volumes') or []}
  for flag in CREDENTIAL_FLAGS:
    path = flags.get(flag)
    if not path:
      continue
    mount = next((m for m in container.get('volumeMounts') or []
                  if path.startswith(m.get('mountPath', '').rstrip('/') + '/')
                  or path == m.get('mountPath')), None)
    if mount is None:
      report.add(where, f'--{flag}={path} is not on a mounted volume')
      continue
    if 'secret' not in volumes.get(mount.get('name'), {}):
      report.add(where, f'--{flag}={path} is not on a Secret volume')
    if mount.get('subPath') or mount.get('subPathExpr'):
      report.add(where, f'--{flag}={path} is mounted through subPath: the '
                 f'kubelet never updates it, so it cannot rotate')
    if not mount.get('readOnly'):
      report.add(where, f'--{flag}={path} is on a volume not mounted '
                 f'read-only')


def check_profile(objects, deployment, flags, profile, report):
  where = f'Deployment/{_name(deployment)}'
  spec = deployment['spec']['template']['spec']
  container = _server_container(deployment)
  limits = (container.get('resources') or {}).get('limits') or {}
  requests = (container.get('resources') or {}).get('requests') or {}
  device = flags.get('device', 'auto')
  if profile == 'gpu':
    if str(limits.get(GPU_RESOURCE)) != '1':
      report.add(where, f'gpu: limits {GPU_RESOURCE} is '
                 f'{limits.get(GPU_RESOURCE)}, not 1')
    if GPU_RESOURCE in requests and str(requests[GPU_RESOURCE]) != str(
        limits.get(GPU_RESOURCE)):
      report.add(where, f'gpu: {GPU_RESOURCE} request differs from its limit')
    if not device.startswith('cuda'):
      report.add(where, f'gpu: the server runs with --device={device}')
    if not spec.get('nodeSelector') and not (spec.get('affinity') or
                                             {}).get('nodeAffinity'):
      report.add(where, 'gpu: no node selector or node affinity for GPU nodes')
    if not any(t.get('key') == GPU_RESOURCE for t in spec.get('tolerations') or
               []):
      report.add(where, f'gpu: no toleration for the {GPU_RESOURCE} taint')
    if not _kind(objects, 'HorizontalPodAutoscaler'):
      report.add(where, 'gpu: no HorizontalPodAutoscaler')
    if not _kind(objects, 'ServiceMonitor'):
      report.add(where, 'gpu: no ServiceMonitor')
  else:
    if GPU_RESOURCE in limits or GPU_RESOURCE in requests:
      report.add(where, f'{profile}: asks for {GPU_RESOURCE}')
    if device.startswith('cuda'):
      report.add(where, f'{profile}: the server runs with --device={device}')
    if profile == 'cpu' and device != 'cpu':
      report.add(where, f'cpu: the server runs with --device={device}, not cpu')


def check(objects, profile, adapter_rules):
  """All findings for one rendered overlay; empty when it passes."""
  report = Report()
  deployments = _kind(objects, 'Deployment')
  if len(deployments) != 1:
    report.add('render', f'expected one Deployment, found {len(deployments)}')
    return report.findings
  deployment = deployments[0]
  flags = server_flags(deployment, objects, report)
  check_images(objects, report)
  check_resources(objects, report)
  check_security(objects, report)
  check_probes_and_lifecycle(deployment, flags, report)
  check_ports_and_services(objects, deployment, flags, report)
  check_model(deployment, flags, report, objects)
  check_upload_space(deployment, flags, report)
  check_host_memory(deployment, flags, report)
  check_credentials(deployment, flags, report)
  check_service_monitors(objects, report)
  check_network_policies(objects, deployment, report)
  if _kind(objects, 'HorizontalPodAutoscaler'):
    check_adapter_rules(adapter_rules, report)
  check_autoscalers(objects, adapter_rules, report)
  check_profile(objects, deployment, flags, profile, report)
  return report.findings


def load_adapter_rules(path):
  """The rule list of a prometheus-adapter chart values file (rules.custom)
  or adapter config file (rules)."""
  with open(path, encoding='utf-8') as f:
    values = yaml.safe_load(f) or {}
  rules = values.get('rules')
  if isinstance(rules, dict):
    rules = rules.get('custom')
  return rules or []


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--profile', choices=('gpu', 'cpu', 'base'),
                      required=True)
  parser.add_argument('--adapter-rules', required=True,
                      help='prometheus-adapter values or config file')
  parser.add_argument('rendered', help='render.py --json output')
  args = parser.parse_args(argv)
  with open(args.rendered, encoding='utf-8') as f:
    objects = json.load(f)
  findings = check(objects, args.profile, load_adapter_rules(args.adapter_rules))
  for finding in findings:
    print(f'{args.rendered}: {finding}', file=sys.stderr)
  if not findings:
    print(f'{args.rendered}: policy checks passed ({args.profile})')
  return 1 if findings else 0


if __name__ == '__main__':
  sys.exit(main())
