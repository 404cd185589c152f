#!/usr/bin/env python3
"""Tests of policy.py: the project's overlays pass, and each rule catches the
mistake it exists for (one mutation of a real render per test)."""

import copy
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import yaml

import policy
import render

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.dirname(HERE)
ADAPTER_RULES = policy.load_adapter_rules(
    os.path.join(K8S, 'prometheus-adapter', 'values.yaml'))

_RENDERS = {}


def rendered(profile):
  """A fresh copy of the render of base/ or an overlay."""
  if profile not in _RENDERS:
    directory = 'base' if profile == 'base' else f'overlays/{profile}'
    _RENDERS[profile] = render.build(os.path.join(K8S, directory))
  return copy.deepcopy(_RENDERS[profile])


def of_kind(objects, kind):
  return [o for o in objects if o['kind'] == kind][0]


def server(objects):
  return of_kind(objects, 'Deployment')['spec']['template']['spec'][
      'containers'][0]


def set_flag(objects, key, line):
  cm = of_kind(objects, 'ConfigMap')
  cm['data'][key] += line + '\n'


def drop_flag(objects, flag):
  """Removes every line setting `flag` from the flag files."""
  cm = of_kind(objects, 'ConfigMap')
  for key in cm['data']:
    cm['data'][key] = '\n'.join(
        line for line in cm['data'][key].splitlines()
        if not line.startswith(flag)) + '\n'


class PolicyTest(unittest.TestCase):

  def assertFinding(self, objects, pattern, profile='gpu', rules=None):
    findings = policy.check(objects, profile,
                            ADAPTER_RULES if rules is None else rules)
    self.assertTrue(
        any(__import__('re').search(pattern, f) for f in findings),
        f'no finding matches {pattern!r}; findings: {findings}')

  def test_project_overlays_pass(self):
    for profile in ('base', 'gpu', 'cpu'):
      with self.subTest(profile=profile):
        self.assertEqual(policy.check(rendered(profile), profile,
                                      ADAPTER_RULES), [])

  def test_latest_and_missing_tags(self):
    objects = rendered('gpu')
    server(objects)['image'] = 'stylizer:latest'
    self.assertFinding(objects, 'uses the latest tag')
    server(objects)['image'] = 'registry.example:5000/stylizer'
    self.assertFinding(objects, 'has no tag')

  def test_digest_is_pinned(self):
    objects = rendered('gpu')
    server(objects)['image'] = 'registry.example/stylizer@sha256:' + 'a' * 64
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_limits_and_requests(self):
    objects = rendered('gpu')
    del server(objects)['resources']['limits']['memory']
    self.assertFinding(objects, 'has no memory limit')
    objects = rendered('cpu')
    server(objects)['resources']['requests']['cpu'] = '3'
    self.assertFinding(objects, 'cpu request 3 exceeds its limit 2', 'cpu')

  def test_security_context(self):
    for field, value, pattern in (
        ('allowPrivilegeEscalation', True, 'allowPrivilegeEscalation'),
        ('readOnlyRootFilesystem', False, 'readOnlyRootFilesystem'),
        ('runAsNonRoot', False, 'runAsNonRoot'),
        ('privileged', True, 'is privileged'),
        ('capabilities', {'drop': []}, 'drop ALL')):
      with self.subTest(field=field):
        objects = rendered('gpu')
        server(objects)['securityContext'][field] = value
        if field == 'runAsNonRoot':
          of_kind(objects, 'Deployment')['spec']['template']['spec'][
              'securityContext'].pop('runAsNonRoot')
        self.assertFinding(objects, pattern)

  def test_tmpdir_must_be_writable(self):
    objects = rendered('gpu')
    mounts = server(objects)['volumeMounts']
    server(objects)['volumeMounts'] = [
        m for m in mounts if m['mountPath'] != '/tmp'
    ]
    self.assertFinding(objects, 'TMPDIR /tmp is not a writable')

  def test_uploads_must_fit_the_spool_volume(self):
    # The default 8 GiB upload against the CPU overlay's 3Gi /tmp.
    objects = rendered('cpu')
    drop_flag(objects, '--max_upload_bytes')
    self.assertFinding(objects, 'two uploads that large do not fit the /tmp '
                       r'volume \(sizeLimit 3Gi\)', profile='cpu')

  def test_the_spool_disk_budget_keeps_uploads_within_the_volume(self):
    objects = rendered('gpu')
    drop_flag(objects, '--spool_disk_bytes')
    self.assertFinding(objects, '--spool_disk_bytes=0 does not keep the '
                       r'uploads within the /tmp volume \(sizeLimit 16Gi\)')
    objects = rendered('gpu')
    drop_flag(objects, '--spool_disk_bytes')
    set_flag(objects, 'device.flags', '--spool_disk_bytes=1073741824')
    self.assertFinding(objects, 'is below --max_upload_bytes')

  def test_probes_must_be_grpc_on_the_server_port(self):
    objects = rendered('gpu')
    server(objects)['readinessProbe'] = {'httpGet': {'port': 9464,
                                                     'path': '/metrics'}}
    self.assertFinding(objects, 'readinessProbe is not a gRPC probe')
    objects = rendered('gpu')
    del server(objects)['startupProbe']
    self.assertFinding(objects, 'has no startupProbe')
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--port=6000')
    self.assertFinding(objects, 'livenessProbe probes port 50051, the server '
                       'listens on --port=6000')
    self.assertFinding(objects, "container port 'grpc' is 50051")

  def test_startup_probe_allows_for_model_load(self):
    objects = rendered('gpu')
    server(objects)['startupProbe']['failureThreshold'] = 3
    self.assertFinding(objects, 'startupProbe allows 15s')

  def test_grace_period_exceeds_prestop_plus_drain(self):
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--drain_timeout=2m')
    self.assertFinding(
        objects, 'terminationGracePeriodSeconds 90 is not longer than '
        'preStop sleep 10s \\+ --drain_timeout 120s')
    objects = rendered('gpu')
    of_kind(objects, 'Deployment')['spec']['template']['spec'][
        'terminationGracePeriodSeconds'] = 70
    self.assertFinding(objects, 'terminationGracePeriodSeconds 70')

  def test_grace_period_covers_the_stuck_drain_grace(self):
    # 10 s preStop + 60 s drain fit in 75 s, but the server waits 15 s more
    # before it gives up on a stuck drain.
    objects = rendered('gpu')
    of_kind(objects, 'Deployment')['spec']['template']['spec'][
        'terminationGracePeriodSeconds'] = 75
    self.assertFinding(objects, "terminationGracePeriodSeconds 75 .* \\+ the "
                       "server's 15s stuck-drain grace")

  def test_grace_period_on_a_cpu_covers_the_longest_batch(self):
    # 10 s preStop + 60 s drain + 15 s fit in 90 s, but the drain then waits
    # for the batch on the device: a 1080p frame, ~27 s on 2 CPU threads.
    for profile, threads in (('cpu', 2), ('base', 4)):
      with self.subTest(profile=profile):
        objects = rendered(profile)
        of_kind(objects, 'Deployment')['spec']['template']['spec'][
            'terminationGracePeriodSeconds'] = 90
        self.assertFinding(
            objects, r"terminationGracePeriodSeconds 90 is not longer than "
            r"preStop sleep 10s \+ --drain_timeout 60s \+ the server's 15s "
            r"stuck-drain grace \+ the longest CPU batch \(27s: 2073600 "
            rf"pixels with {threads} thread\(s\)\)", profile=profile)
    # One thread: half as fast.
    objects = rendered('cpu')
    set_flag(objects, 'device.flags', '--threads=1')
    self.assertFinding(objects, r'longest CPU batch \(55s: 2073600 pixels '
                       r'with 1 thread', profile='cpu')
    # No cap on a batch's pixels: two 1080p frames in one batch.
    objects = rendered('cpu')
    set_flag(objects, 'device.flags', '--max_batch_pixels=-1')
    self.assertFinding(objects, r'longest CPU batch \(55s: 4147200 pixels',
                       profile='cpu')
    # Smaller frames need less: with 720p frames (12 s) 100 s is enough.
    objects = rendered('cpu')
    set_flag(objects, 'device.flags', '--max_frame_pixels=921600')
    of_kind(objects, 'Deployment')['spec']['template']['spec'][
        'terminationGracePeriodSeconds'] = 100
    self.assertFalse(any('terminationGracePeriodSeconds' in f for f in
                         policy.check(objects, 'cpu', ADAPTER_RULES)))
    # A GPU's batches take milliseconds: the gpu overlay keeps 90 s.
    self.assertEqual(of_kind(rendered('gpu'), 'Deployment')['spec'][
        'template']['spec']['terminationGracePeriodSeconds'], 90)

  def test_model_memory_on_a_cpu_fits_the_limit(self):
    # The default 4K frames: one batch of them takes more than the 3Gi pod.
    for profile in ('cpu', 'base'):
      objects = rendered(profile)
      drop_flag(objects, '--max_frame_pixels')
      self.assertFinding(objects, 'below the memory budget .* working memory '
                         'on a CPU .* --max_frame_pixels=8847360',
                         profile=profile)
    # The default budget (80 % of the limit) leaves too little beside it.
    objects = rendered('cpu')
    set_flag(objects, 'device.flags', '--memory_budget_bytes=0')
    self.assertFinding(objects, r'memory limit 3Gi is below the memory budget '
                       r'\(2.40 GiB\)', profile='cpu')
    # No budget at all cannot be held under any limit.
    objects = rendered('cpu')
    set_flag(objects, 'device.flags', '--memory_budget_bytes=-1')
    self.assertFinding(objects, 'no memory budget', profile='cpu')
    # A GPU keeps the activations in its own memory.
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--max_frame_pixels=8847360')
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_drain_timeout_must_be_set_and_parse(self):
    objects = rendered('gpu')
    cm = of_kind(objects, 'ConfigMap')
    cm['data']['server.flags'] = cm['data']['server.flags'].replace(
        '--drain_timeout=60s', '')
    self.assertFinding(objects, 'no --drain_timeout')
    set_flag(objects, 'device.flags', '--drain_timeout=soon')
    self.assertFinding(objects, "'soon' is not a duration")

  def test_prestop_sleep(self):
    objects = rendered('gpu')
    del server(objects)['lifecycle']
    self.assertFinding(objects, 'no preStop sleep')
    objects = rendered('gpu')
    server(objects)['lifecycle']['preStop'] = {'sleep': {'seconds': 5}}
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_flagfile_must_resolve(self):
    objects = rendered('gpu')
    server(objects)['args'] = ['--flagfile=/etc/stylizer/missing.flags']
    self.assertFinding(objects, 'missing.flags is not a key of a mounted')

  def test_gpu_profile(self):
    objects = rendered('gpu')
    del server(objects)['resources']['limits']['nvidia.com/gpu']
    self.assertFinding(objects, 'limits nvidia.com/gpu is None, not 1')
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--device=cpu')
    self.assertFinding(objects, 'gpu: the server runs with --device=cpu')
    objects = rendered('gpu')
    spec = of_kind(objects, 'Deployment')['spec']['template']['spec']
    del spec['tolerations']
    del spec['nodeSelector']
    self.assertFinding(objects, 'no toleration')
    self.assertFinding(objects, 'no node selector')
    # The base (CPU image, --device=auto) is not a GPU deployment.
    self.assertFinding(rendered('base'), 'gpu: limits nvidia.com/gpu')

  def test_cpu_profile(self):
    objects = rendered('cpu')
    server(objects)['resources']['limits']['nvidia.com/gpu'] = '1'
    self.assertFinding(objects, 'cpu: asks for nvidia.com/gpu', 'cpu')
    self.assertFinding(rendered('gpu'), 'cpu: the server runs with '
                       '--device=cuda', 'cpu')

  def test_services_select_the_pods(self):
    objects = rendered('gpu')
    for s in [o for o in objects if o['kind'] == 'Service']:
      s['spec']['selector'] = {'app': 'other'}
    self.assertFinding(objects, 'no Service selects the server pods')
    objects = rendered('gpu')
    of_kind(objects, 'Service')['spec']['ports'][0]['targetPort'] = 'nope'
    self.assertFinding(objects, 'targets nope')

  def test_headless_service_required(self):
    objects = [o for o in rendered('gpu')
               if o['metadata']['name'] != 'stylizer-headless']
    self.assertFinding(objects, 'no headless Service')

  def test_pod_disruption_budget(self):
    objects = rendered('gpu')
    pdb = of_kind(objects, 'PodDisruptionBudget')
    del pdb['spec']['maxUnavailable']
    pdb['spec']['minAvailable'] = 1
    self.assertFinding(objects, 'uses minAvailable')
    objects = [o for o in rendered('gpu') if o['kind'] != 'PodDisruptionBudget']
    self.assertFinding(objects, 'no PodDisruptionBudget')

  def test_service_monitor_shape(self):
    objects = rendered('gpu')
    monitor = of_kind(objects, 'ServiceMonitor')
    monitor['spec']['endpoints'][0]['port'] = 'http'
    monitor['spec']['endpoints'][0]['interval'] = 'often'
    self.assertFinding(objects, "endpoint port 'http' is not a named port")
    self.assertFinding(objects, "interval: 'often' is not a duration")
    monitor['spec']['selector']['matchLabels'] = {'app': 'other'}
    self.assertFinding(objects, 'selects no Service')

  def test_autoscaler_and_adapter_rule(self):
    objects = rendered('gpu')
    hpa = of_kind(objects, 'HorizontalPodAutoscaler')
    hpa['spec']['metrics'][0]['pods']['metric']['name'] = 'stylizer_queue'
    self.assertFinding(objects, "metric 'stylizer_queue' is served by no")
    self.assertFinding(objects, 'does not scale on the Pods metric')
    objects = rendered('gpu')
    of_kind(objects, 'Deployment')['spec']['replicas'] = 2
    self.assertFinding(objects, 'sets spec.replicas although an autoscaler')
    objects = rendered('gpu')
    of_kind(objects, 'HorizontalPodAutoscaler')['spec']['minReplicas'] = 9
    self.assertFinding(objects, 'minReplicas exceeds maxReplicas')

  def test_autoscaler_scales_on_the_device_busy_ratio(self):
    # Queue depth: one movie in 8 styles holds 64 items on its one pod,
    # which took the base to its maximum of 4 pods.
    objects = rendered('base')
    metric = of_kind(objects, 'HorizontalPodAutoscaler')['spec']['metrics'][0]
    metric['pods']['metric']['name'] = 'stylizer_queue_items'
    metric['pods']['target']['averageValue'] = '16'
    self.assertFinding(objects, 'scales on stylizer_queue_items, which one '
                       'movie fills', profile='base')
    self.assertFinding(objects, 'does not scale on the Pods metric '
                       'stylizer_device_busy_ratio', profile='base')
    # A ratio stays at or below 1: a target of 1 or more never scales up.
    for value in ('1', '1500m', '0'):
      with self.subTest(averageValue=value):
        objects = rendered('gpu')
        of_kind(objects, 'HorizontalPodAutoscaler')['spec']['metrics'][0][
            'pods']['target']['averageValue'] = value
        self.assertFinding(objects, f'stylizer_device_busy_ratio target '
                           f'{value} is not between 0 and 1')
    objects = rendered('gpu')
    of_kind(objects, 'HorizontalPodAutoscaler')['spec']['metrics'][0]['pods'][
        'target']['averageValue'] = '0.8'
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_the_shipped_targets(self):
    # The base and the gpu overlay scale on the same metric and target; the
    # gpu overlay allows more replicas.
    for profile, most in (('base', 4), ('gpu', 8)):
      with self.subTest(profile=profile):
        spec = of_kind(rendered(profile), 'HorizontalPodAutoscaler')['spec']
        self.assertEqual(spec['maxReplicas'], most)
        self.assertEqual(spec['metrics'], [{
            'type': 'Pods',
            'pods': {
                'metric': {'name': 'stylizer_device_busy_ratio'},
                'target': {'type': 'AverageValue', 'averageValue': '700m'}
            }
        }])

  def test_adapter_rule_shape(self):
    rules = copy.deepcopy(ADAPTER_RULES)
    del rules[0]['resources']['overrides']['pod']
    rules[0]['metricsQuery'] = 'sum(<<.Series>>)'
    self.assertFinding(rendered('gpu'), "does not map the 'pod' label", rules=rules)
    self.assertFinding(rendered('gpu'), 'metricsQuery lacks <<.LabelMatchers>>',
                       rules=rules)
    self.assertFinding(rendered('gpu'), 'no rules', rules=[])

  def test_adapter_rule_computes_the_busy_ratio(self):
    for change, pattern in (
        (lambda r: r.update(seriesQuery=
                            'stylizer_queue_items{namespace!="",pod!=""}'),
         "is not computed from stylizer_inference_seconds_sum"),
        (lambda r: r.update(metricsQuery=r['metricsQuery'].replace(
            'rate(', 'sum(')),
         'does not take the rate'),
        (lambda r: r.update(metricsQuery=r['metricsQuery'].split('/')[0]),
         "is not divided by the pod's stylizer_device_workers"),
        (lambda r: r.update(metricsQuery=r['metricsQuery'].replace(
            ' > 0', '')),
         "is not divided by the pod's stylizer_device_workers"),
        (lambda r: r['name'].update({'as': 'stylizer_busy'}),
         'no rule serves stylizer_device_busy_ratio')):
      with self.subTest(pattern=pattern):
        rules = copy.deepcopy(ADAPTER_RULES)
        change(rules[0])
        self.assertFinding(rendered('gpu'), pattern, rules=rules)

  @unittest.skipUnless(shutil.which('promtool'),
                       'promtool (Debian package prometheus) not installed')
  def test_adapter_query_evaluates_to_the_busy_ratio(self):
    # The rule's query as prometheus-adapter expands it for two pods, run by
    # promtool on 15 s scrapes: a busy 0.5 s a second on its one device
    # (0.5); b busy 1.2 s a second over two GPUs (0.6); c still loading (0
    # workers: no value); d, another namespace's pod of the same name as a,
    # not counted.
    rule = [r for r in ADAPTER_RULES
            if r['name'].get('as') == policy.SCALING_METRIC][0]
    query = policy.expand_metrics_query(rule, 'stylizer', ['a', 'b', 'c'])
    tests = textwrap.dedent("""\
        rule_files: []
        evaluation_interval: 15s
        tests:
          - interval: 15s
            input_series:
              - series: 'stylizer_inference_seconds_sum{namespace="stylizer",pod="a"}'
                values: '0+7.5x40'
              - series: 'stylizer_device_workers{namespace="stylizer",pod="a"}'
                values: '1x40'
              - series: 'stylizer_inference_seconds_sum{namespace="stylizer",pod="b"}'
                values: '0+18x40'
              - series: 'stylizer_device_workers{namespace="stylizer",pod="b"}'
                values: '2x40'
              - series: 'stylizer_inference_seconds_sum{namespace="stylizer",pod="c"}'
                values: '0x40'
              - series: 'stylizer_device_workers{namespace="stylizer",pod="c"}'
                values: '0x40'
              - series: 'stylizer_inference_seconds_sum{namespace="other",pod="a"}'
                values: '0+15x40'
              - series: 'stylizer_device_workers{namespace="other",pod="a"}'
                values: '1x40'
            promql_expr_test:
              - expr: 'EXPR'
                eval_time: 5m
                exp_samples:
                  - labels: '{pod="a"}'
                    value: 0.5
                  - labels: '{pod="b"}'
                    value: 0.6
        """).replace('EXPR', query.replace("'", "''"))
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, 'adapter_test.yml')
      with open(path, 'w', encoding='utf-8') as f:
        f.write(tests)
      result = subprocess.run(['promtool', 'test', 'rules', path],
                              capture_output=True, text=True, check=False)
    self.assertEqual(result.returncode, 0,
                     f'{query}\n{result.stdout}{result.stderr}')

  def test_credentials_on_a_whole_secret_volume(self):
    example = render.build(os.path.join(K8S, 'examples', 'token-auth'))
    self.assertEqual(policy.check(example, 'gpu', ADAPTER_RULES), [])
    # Mounted through subPath: the kubelet never updates the file.
    objects = copy.deepcopy(example)
    for mount in server(objects)['volumeMounts']:
      if mount['name'] == 'auth':
        mount['mountPath'] = '/etc/stylizer/auth/tokens'
        mount['subPath'] = 'tokens'
    self.assertFinding(objects, 'mounted through subPath')
    # Writable, or not a Secret.
    objects = copy.deepcopy(example)
    for mount in server(objects)['volumeMounts']:
      if mount['name'] == 'auth':
        mount['readOnly'] = False
    self.assertFinding(objects, 'not mounted read-only')
    objects = copy.deepcopy(example)
    spec = of_kind(objects, 'Deployment')['spec']['template']['spec']
    for volume in spec['volumes']:
      if volume['name'] == 'auth':
        del volume['secret']
        volume['emptyDir'] = {}
    self.assertFinding(objects, 'is not on a Secret volume')
    # A certificate flag with no volume under it.
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--tls_cert=/certs/tls.crt')
    self.assertFinding(objects, r'--tls_cert=/certs/tls.crt is not on a '
                       'mounted volume')

  def test_network_policy_admits_clients_and_prometheus(self):
    example = render.build(os.path.join(K8S, 'examples', 'network-policy'))
    self.assertEqual(policy.check(example, 'gpu', ADAPTER_RULES), [])
    # The clients' rule gone: the server is cut off from every client.
    objects = copy.deepcopy(example)
    rules = of_kind(objects, 'NetworkPolicy')['spec']['ingress']
    del rules[0]
    self.assertFinding(objects, "admits nothing to the server's grpc port: "
                       'its clients would be cut off')
    # The metrics rule on another port: Prometheus cannot scrape.
    objects = copy.deepcopy(example)
    rules = of_kind(objects, 'NetworkPolicy')['spec']['ingress']
    rules[1]['ports'] = [{'port': 8080, 'protocol': 'TCP'}]
    self.assertFinding(objects, "admits nothing to the server's metrics port: "
                       'Prometheus would be cut off')
    # Without a ServiceMonitor, nothing scrapes the pods: no finding.
    objects = [o for o in objects if o['kind'] != 'ServiceMonitor']
    self.assertFalse(any('metrics port' in f for f in
                         policy.check(objects, 'gpu', ADAPTER_RULES)))
    # The port by number is as good as by name; a policy of other pods is
    # not about the server.
    objects = copy.deepcopy(example)
    rules = of_kind(objects, 'NetworkPolicy')['spec']['ingress']
    rules[0]['ports'] = [{'port': 50051}]
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])
    objects = copy.deepcopy(example)
    netpol = of_kind(objects, 'NetworkPolicy')
    netpol['spec']['ingress'] = []
    netpol['spec']['podSelector'] = {'matchLabels': {'app': 'other'}}
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_adapter_values_name_the_operators_prometheus(self):
    # The chart's default URL (prometheus.default.svc) is no Prometheus the
    # Operator makes: the autoscaler would get no metric.
    with open(os.path.join(K8S, 'prometheus-adapter', 'values.yaml'),
              encoding='utf-8') as f:
      values = yaml.safe_load(f)
    self.assertRegex(values['prometheus']['url'],
                     r'^http://prometheus-operated\.[a-z0-9-]+\.svc$')
    self.assertEqual(values['prometheus']['port'], 9090)

  def test_model_location(self):
    example = render.build(os.path.join(K8S, 'examples', 'model-volume'))
    self.assertEqual(policy.check(example, 'gpu', ADAPTER_RULES), [])
    for mount in server(example)['volumeMounts']:
      if mount['name'] == 'models':
        mount['readOnly'] = False
    self.assertFinding(example, 'model volume at /models is not mounted '
                       'read-only')
    example = render.build(os.path.join(K8S, 'examples', 'model-volume'))
    del of_kind(example, 'PersistentVolumeClaim')['spec']['volumeName']
    self.assertFinding(example, 'a ReadOnlyMany claim is never written to')
    example = render.build(os.path.join(K8S, 'examples', 'model-volume'))
    del of_kind(example, 'PersistentVolumeClaim')['spec']['storageClassName']
    self.assertFinding(example, 'a ReadOnlyMany claim is never written to')
    # Other ways to come with the model: a static volume of a class of its
    # own, a selector, a snapshot.
    for change in ({'storageClassName': 'efs-sc'},
                   {'volumeName': None,
                    'selector': {'matchLabels': {'app': 'stylizer-models'}}},
                   {'volumeName': None, 'storageClassName': 'csi-rox',
                    'dataSource': {'name': 'models-snapshot',
                                   'kind': 'VolumeSnapshot',
                                   'apiGroup': 'snapshot.storage.k8s.io'}}):
      example = render.build(os.path.join(K8S, 'examples', 'model-volume'))
      spec = of_kind(example, 'PersistentVolumeClaim')['spec']
      spec.update(change)
      if spec['volumeName'] is None:
        del spec['volumeName']
      self.assertEqual(policy.check(example, 'gpu', ADAPTER_RULES), [], change)
    objects = rendered('gpu')
    set_flag(objects, 'device.flags', '--model=/data/custom.pt')
    self.assertFinding(objects, 'the model /data/custom.pt is neither in the '
                       'image')
    objects = rendered('gpu')
    set_flag(objects, 'device.flags',
             '--model=/usr/share/stylizer/models/default.pt')
    self.assertEqual(policy.check(objects, 'gpu', ADAPTER_RULES), [])

  def test_parse_duration(self):
    for text, seconds in (('60s', 60), ('1m30s', 90), ('1.5m', 90),
                          ('500ms', 0.5), ('2h', 7200), ('45', 45)):
      self.assertAlmostEqual(policy.parse_duration(text), seconds)
    for bad in ('', 's', '1x', '1m 30s', 'soon'):
      with self.assertRaises(ValueError):
        policy.parse_duration(bad)

  def test_parse_quantity(self):
    self.assertEqual(policy.parse_quantity('500m'), 0.5)
    self.assertEqual(policy.parse_quantity('4Gi'), 4 * 2**30)
    self.assertEqual(policy.parse_quantity(2), 2)
    with self.assertRaises(ValueError):
      policy.parse_quantity('4GB')

  def test_later_flags_win(self):
    objects = rendered('gpu')
    report = policy.Report()
    set_flag(objects, 'device.flags', '--max_batch_size=32')
    flags = policy.server_flags(of_kind(objects, 'Deployment'), objects, report)
    self.assertEqual(flags['max_batch_size'], '32')
    self.assertEqual(flags['device'], 'cuda')
    self.assertEqual(flags['drain_timeout'], '60s')
    self.assertEqual(report.findings, [])


if __name__ == '__main__':
  unittest.main()
