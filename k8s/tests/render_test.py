#!/usr/bin/env python3
"""Tests of render.py: each supported kustomization field on small
kustomizations written to a temporary directory, with the results real
kustomize (v5) gives for them, and a clear error for what is not supported."""

import os
import shutil
import tempfile
import textwrap
import unittest

import render

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.dirname(HERE)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: a
          image: registry.example/team/a:1.0
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
            - name: FROM_MAP
              valueFrom:
                configMapKeyRef: {name: settings, key: k}
          envFrom:
            - configMapRef: {name: settings}
        - name: b
          image: b
      tolerations:
        - {key: one, operator: Exists}
      volumes:
        - name: v1
          configMap: {name: settings}
        - name: v2
          emptyDir: {}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: 8080}
"""


class RenderTestCase(unittest.TestCase):

  def setUp(self):
    self.root = tempfile.mkdtemp(prefix='render_test_')
    self.addCleanup(shutil.rmtree, self.root)

  def write(self, path, text):
    full = os.path.join(self.root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as f:
      f.write(textwrap.dedent(text))
    return full

  def build(self, directory=''):
    return render.build(os.path.join(self.root, directory))

  def find(self, objects, kind, name_prefix=''):
    hits = [
        o for o in objects
        if o['kind'] == kind and o['metadata']['name'].startswith(name_prefix)
    ]
    self.assertEqual(len(hits), 1, f'{kind} {name_prefix}: {hits}')
    return hits[0]


class ResourcesTest(RenderTestCase):

  def test_files_and_nested_directories_with_namespace(self):
    self.write('base/kustomization.yaml', 'resources: [deploy.yaml]\n')
    self.write('base/deploy.yaml', DEPLOYMENT)
    self.write('ov/kustomization.yaml', """\
        namespace: prod
        resources: [../base, svc.yaml, ns.yaml]
        """)
    self.write('ov/svc.yaml', SERVICE)
    self.write('ov/ns.yaml', 'apiVersion: v1\nkind: Namespace\n'
               'metadata: {name: prod}\n')
    objects = self.build('ov')
    self.assertEqual([o['kind'] for o in objects],
                     ['Namespace', 'Service', 'Deployment'])
    self.assertNotIn('namespace', objects[0]['metadata'])
    self.assertEqual(objects[1]['metadata']['namespace'], 'prod')
    self.assertEqual(objects[2]['metadata']['namespace'], 'prod')

  def test_multi_document_file_and_legacy_order(self):
    self.write('kustomization.yaml', 'resources: [all.yaml]\n')
    self.write('all.yaml', """\
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: h}
        ---
        apiVersion: monitoring.coreos.com/v1
        kind: ServiceMonitor
        metadata: {name: m}
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: p}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        """)
    self.assertEqual([o['kind'] for o in self.build()], [
        'ConfigMap', 'PodDisruptionBudget', 'HorizontalPodAutoscaler',
        'ServiceMonitor'
    ])

  def test_yaml_1_2_booleans(self):
    self.write('kustomization.yaml', 'resources: [cm.yaml]\n')
    self.write('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\n'
               'metadata: {name: c}\ndata: {a: yes, b: on, c: true}\n')
    data = self.build()[0]['data']
    self.assertEqual(data, {'a': 'yes', 'b': 'on', 'c': True})

  def test_missing_resource_is_an_error(self):
    self.write('kustomization.yaml', 'resources: [nope.yaml]\n')
    with self.assertRaisesRegex(render.RenderError, "'nope.yaml' does not"):
      self.build()

  def test_unsupported_field_is_an_error(self):
    self.write('kustomization.yaml', 'resources: []\nnamePrefix: x-\n')
    with self.assertRaisesRegex(render.RenderError, 'unsupported.*namePrefix'):
      self.build()

  def test_duplicate_resource_is_an_error(self):
    self.write('kustomization.yaml', 'resources: [a.yaml, b.yaml]\n')
    self.write('a.yaml', SERVICE)
    self.write('b.yaml', SERVICE)
    with self.assertRaisesRegex(render.RenderError, 'Service/web.*twice'):
      self.build()

  def test_cycle_is_an_error(self):
    self.write('a/kustomization.yaml', 'resources: [../b]\n')
    self.write('b/kustomization.yaml', 'resources: [../a]\n')
    with self.assertRaisesRegex(render.RenderError, 'cycle'):
      self.build('a')

  def test_object_without_name_is_an_error(self):
    self.write('kustomization.yaml', 'resources: [a.yaml]\n')
    self.write('a.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {}\n')
    with self.assertRaisesRegex(render.RenderError, 'no metadata.name'):
      self.build()

  def test_invalid_yaml_is_an_error(self):
    self.write('kustomization.yaml', 'resources: [a.yaml]\n')
    self.write('a.yaml', 'kind: [unclosed\n')
    with self.assertRaisesRegex(render.RenderError, 'invalid YAML'):
      self.build()


class ConfigMapGeneratorTest(RenderTestCase):

  def test_hash_matches_kustomize(self):
    # `kustomize build` of exactly this kustomization prints x-4h2mbtbbt6.
    self.write('kustomization.yaml', """\
        configMapGenerator:
          - name: x
            literals: [a=b]
        """)
    self.assertEqual(self.build()[0]['metadata']['name'], 'x-4h2mbtbbt6')

  def test_files_and_references_follow_the_hashed_name(self):
    self.write('kustomization.yaml', """\
        resources: [deploy.yaml]
        configMapGenerator:
          - name: settings
            files: [app.conf, renamed=other.txt]
        """)
    self.write('deploy.yaml', DEPLOYMENT)
    self.write('app.conf', 'x=1\n')
    self.write('other.txt', 'y\n')
    objects = self.build()
    cm = self.find(objects, 'ConfigMap', 'settings-')
    self.assertEqual(cm['data'], {'app.conf': 'x=1\n', 'renamed': 'y\n'})
    name = cm['metadata']['name']
    self.assertRegex(name, r'^settings-[a-z0-9]{10}$')
    spec = self.find(objects, 'Deployment')['spec']['template']['spec']
    self.assertEqual(spec['volumes'][0]['configMap']['name'], name)
    container = spec['containers'][0]
    self.assertEqual(container['envFrom'][0]['configMapRef']['name'], name)
    self.assertEqual(
        container['env'][2]['valueFrom']['configMapKeyRef']['name'], name)

  def test_merge_in_an_overlay_changes_data_and_hash(self):
    self.write('base/kustomization.yaml', """\
        configMapGenerator:
          - name: flags
            literals: [a=1, b=2]
        """)
    self.write('ov/kustomization.yaml', """\
        resources: [../base]
        configMapGenerator:
          - name: flags
            behavior: merge
            literals: [b=3, c=4]
        """)
    base = self.build('base')[0]
    merged = self.build('ov')[0]
    self.assertEqual(merged['data'], {'a': '1', 'b': '3', 'c': '4'})
    self.assertNotEqual(base['metadata']['name'], merged['metadata']['name'])

  def test_replace_and_disabled_hash(self):
    self.write('base/kustomization.yaml', """\
        configMapGenerator:
          - name: flags
            literals: [a=1]
        """)
    self.write('ov/kustomization.yaml', """\
        resources: [../base]
        generatorOptions:
          disableNameSuffixHash: true
        configMapGenerator:
          - name: flags
            behavior: replace
            literals: [z=9]
        """)
    cm = self.build('ov')[0]
    self.assertEqual(cm['data'], {'z': '9'})
    # The base's generator asked for the hash; replace keeps that.
    self.assertRegex(cm['metadata']['name'], r'^flags-[a-z0-9]{10}$')

  def test_merge_without_a_base_map_is_an_error(self):
    self.write('kustomization.yaml', """\
        configMapGenerator:
          - name: flags
            behavior: merge
            literals: [a=1]
        """)
    with self.assertRaisesRegex(render.RenderError, 'needs exactly one'):
      self.build()

  def test_missing_file_is_an_error(self):
    self.write('kustomization.yaml', """\
        configMapGenerator:
          - name: flags
            files: [absent.flags]
        """)
    with self.assertRaisesRegex(render.RenderError, 'cannot read'):
      self.build()


class StrategicMergeTest(RenderTestCase):

  def overlay(self, patch, extra=''):
    self.write('base/kustomization.yaml', 'resources: [deploy.yaml, svc.yaml]\n')
    self.write('base/deploy.yaml', DEPLOYMENT)
    self.write('base/svc.yaml', SERVICE)
    self.write('ov/kustomization.yaml',
               'resources: [../base]\npatches:\n  - path: patch.yaml\n' + extra)
    self.write('ov/patch.yaml', patch)
    return self.build('ov')

  def test_lists_merge_by_key_in_kustomize_order(self):
    objects = self.overlay("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers:
                - name: b
                  env: [{name: Z, value: "9"}]
                - name: new
                  image: n:1
              volumes:
                - name: v2
                  emptyDir: {medium: Memory}
              tolerations:
                - {key: two, operator: Exists}
        """)
    spec = self.find(objects, 'Deployment')['spec']['template']['spec']
    # Patch elements first (merged with their match), then the others.
    self.assertEqual([c['name'] for c in spec['containers']], ['b', 'new', 'a'])
    self.assertEqual(spec['containers'][0],
                     {'name': 'b', 'image': 'b', 'env': [{'name': 'Z',
                                                          'value': '9'}]})
    self.assertEqual([v['name'] for v in spec['volumes']], ['v2', 'v1'])
    self.assertEqual(spec['volumes'][0]['emptyDir'], {'medium': 'Memory'})
    # No merge key: the list is replaced.
    self.assertEqual(spec['tolerations'], [{'key': 'two', 'operator': 'Exists'}])

  def test_null_deletes_and_element_delete(self):
    objects = self.overlay("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              tolerations: null
              containers:
                - name: a
                  env:
                    - {name: A, $patch: delete}
        """)
    spec = self.find(objects, 'Deployment')['spec']['template']['spec']
    self.assertNotIn('tolerations', spec)
    self.assertEqual([e['name'] for e in spec['containers'][0]['env']],
                     ['B', 'FROM_MAP'])

  def test_delete_a_whole_object(self):
    objects = self.overlay("""\
        $patch: delete
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        """)
    self.assertEqual([o['kind'] for o in objects], ['Deployment'])

  def test_service_ports_merge_on_port(self):
    objects = self.overlay("""\
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          ports:
            - {port: 80, name: web}
            - {port: 9090, name: metrics}
        """)
    ports = self.find(objects, 'Service')['spec']['ports']
    self.assertEqual(ports, [{'name': 'web', 'port': 80, 'targetPort': 8080},
                             {'name': 'metrics', 'port': 9090}])

  def test_patch_matching_nothing_is_an_error(self):
    with self.assertRaisesRegex(render.RenderError, 'matches nothing'):
      self.overlay('apiVersion: apps/v1\nkind: Deployment\n'
                   'metadata: {name: other}\nspec: {}\n')

  def test_targeted_patch_applies_to_every_match(self):
    objects = self.overlay(
        'apiVersion: v1\nkind: Any\nmetadata: {name: ignored, labels: {x: y}}\n',
        extra='    target: {name: "w.*"}\n')
    for o in objects:
      self.assertEqual(o['metadata']['name'], 'web')
      self.assertEqual(o['metadata']['labels']['x'], 'y')


class JsonPatchTest(RenderTestCase):

  def overlay(self, ops, target='{kind: Deployment, name: web}'):
    self.write('base/kustomization.yaml', 'resources: [deploy.yaml]\n')
    self.write('base/deploy.yaml', DEPLOYMENT)
    self.write('ov/kustomization.yaml',
               'resources: [../base]\npatches:\n  - path: ops.yaml\n'
               f'    target: {target}\n')
    self.write('ov/ops.yaml', ops)
    return self.build('ov')

  def test_add_replace_remove(self):
    objects = self.overlay("""\
        - op: add
          path: /spec/template/spec/containers/0/resources
          value: {limits: {nvidia.com/gpu: 1}}
        - op: replace
          path: /spec/template/spec/containers/1/image
          value: b:2
        - op: remove
          path: /spec/template/spec/tolerations
        - op: add
          path: /spec/template/spec/volumes/-
          value: {name: v3, emptyDir: {}}
        - op: test
          path: /metadata/name
          value: web
        """)
    spec = objects[0]['spec']['template']['spec']
    self.assertEqual(spec['containers'][0]['resources'],
                     {'limits': {'nvidia.com/gpu': 1}})
    self.assertEqual(spec['containers'][1]['image'], 'b:2')
    self.assertNotIn('tolerations', spec)
    self.assertEqual([v['name'] for v in spec['volumes']], ['v1', 'v2', 'v3'])

  def test_escaped_pointer(self):
    objects = self.overlay("""\
        - op: add
          path: /metadata/labels/example.com~1role
          value: gpu
        """)
    self.assertEqual(objects[0]['metadata']['labels']['example.com/role'],
                     'gpu')

  def test_failed_test_and_bad_path_are_errors(self):
    with self.assertRaisesRegex(render.RenderError, 'test failed'):
      self.overlay('- {op: test, path: /metadata/name, value: other}\n')
    with self.assertRaisesRegex(render.RenderError, 'does not exist'):
      self.overlay('- {op: remove, path: /spec/nothing}\n')

  def test_json_patch_needs_a_target(self):
    self.write('kustomization.yaml',
               'resources: [d.yaml]\npatches:\n  - path: ops.yaml\n')
    self.write('d.yaml', DEPLOYMENT)
    self.write('ops.yaml', '- {op: remove, path: /spec}\n')
    with self.assertRaisesRegex(render.RenderError, 'needs a target'):
      self.build()


class LabelsAndImagesTest(RenderTestCase):

  def kustomization(self, extra):
    self.write('kustomization.yaml',
               'resources: [d.yaml, s.yaml]\n' + textwrap.dedent(extra))
    self.write('d.yaml', DEPLOYMENT)
    self.write('s.yaml', SERVICE)
    objects = self.build()
    return self.find(objects, 'Deployment'), self.find(objects, 'Service')

  def test_labels_without_selectors(self):
    deployment, service = self.kustomization("""\
        labels:
          - pairs: {tier: x}
            includeTemplates: true
        """)
    self.assertEqual(deployment['metadata']['labels']['tier'], 'x')
    self.assertEqual(
        deployment['spec']['template']['metadata']['labels']['tier'], 'x')
    self.assertNotIn('tier', deployment['spec']['selector']['matchLabels'])
    self.assertNotIn('tier', service['spec']['selector'])

  def test_common_labels_extend_selectors(self):
    deployment, service = self.kustomization('commonLabels: {tier: x}\n')
    self.assertEqual(deployment['spec']['selector']['matchLabels']['tier'], 'x')
    self.assertEqual(service['spec']['selector']['tier'], 'x')

  def test_common_annotations(self):
    deployment, _ = self.kustomization('commonAnnotations: {owner: ops}\n')
    self.assertEqual(deployment['metadata']['annotations'], {'owner': 'ops'})
    self.assertEqual(deployment['spec']['template']['metadata']['annotations'],
                     {'owner': 'ops'})

  def test_images(self):
    deployment, _ = self.kustomization("""\
        images:
          - name: registry.example/team/a
            newTag: "2.0"
          - name: b
            newName: mirror.example/b
            digest: sha256:0123
        """)
    containers = deployment['spec']['template']['spec']['containers']
    self.assertEqual(containers[0]['image'], 'registry.example/team/a:2.0')
    self.assertEqual(containers[1]['image'], 'mirror.example/b@sha256:0123')

  def test_split_image(self):
    self.assertEqual(render.split_image('reg:5000/a/b:1.0@sha256:ff'),
                     ('reg:5000/a/b', '1.0', 'sha256:ff'))
    self.assertEqual(render.split_image('reg:5000/a'), ('reg:5000/a', '', ''))


class StylizerManifestsTest(unittest.TestCase):
  """The project's own overlays render and differ where they should."""

  def test_overlays(self):
    for overlay in ('base', 'overlays/gpu', 'overlays/cpu'):
      with self.subTest(overlay=overlay):
        objects = render.build(os.path.join(K8S, overlay))
        kinds = [o['kind'] for o in objects]
        self.assertEqual(kinds.count('Deployment'), 1)
        self.assertEqual(kinds.count('ConfigMap'), 1)
    gpu = render.build(os.path.join(K8S, 'overlays/gpu'))
    cpu = render.build(os.path.join(K8S, 'overlays/cpu'))
    gpu_cm = [o for o in gpu if o['kind'] == 'ConfigMap'][0]
    cpu_cm = [o for o in cpu if o['kind'] == 'ConfigMap'][0]
    self.assertIn('--device=cuda', gpu_cm['data']['device.flags'])
    self.assertIn('--device=cpu', cpu_cm['data']['device.flags'])
    self.assertNotIn('ServiceMonitor', [o['kind'] for o in cpu])
    self.assertIn('ServiceMonitor', [o['kind'] for o in gpu])


if __name__ == '__main__':
  unittest.main()
