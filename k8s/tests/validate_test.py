#!/usr/bin/env python3
"""Tests of validate.py: the project's rendered kustomizations are valid, and
each kind of mistake (unknown field, wrong type, out-of-range integer, missing
required field, unknown kind, a bad ServiceMonitor) is reported against the
object and field it is in. Needs the packages of scripts/install-pytools.sh."""

import contextlib
import io
import json
import os
import tempfile
import unittest

import render
import validate

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.dirname(HERE)


def rendered(kustomization):
  return render.build(os.path.join(K8S, kustomization))


def server(objects):
  deployment = next(o for o in objects if o['kind'] == 'Deployment')
  return deployment['spec']['template']['spec']['containers'][0]


def service_monitor(objects):
  return next(o for o in objects if o['kind'] == 'ServiceMonitor')


class ValidateTest(unittest.TestCase):

  def assertProblem(self, problems, prefix):
    self.assertTrue(any(p.startswith(prefix) for p in problems),
                    f'no problem starts with {prefix!r}: {problems}')

  def test_project_kustomizations_are_valid(self):
    for kustomization in ('base', 'overlays/gpu', 'overlays/cpu',
                          'examples/model-volume', 'examples/token-auth',
                          'examples/network-policy'):
      with self.subTest(kustomization=kustomization):
        self.assertEqual(validate.validate(rendered(kustomization)), [])

  def test_every_kind_the_manifests_use_has_a_schema(self):
    for api_version, kind in validate.KINDS:
      with self.subTest(kind=kind):
        obj = {'apiVersion': api_version, 'kind': kind,
               'metadata': {'name': 'x'}, 'bogusField': 1}
        self.assertIn(f'{kind}/x: bogusField: unknown field',
                      validate.validate([obj]))

  def test_misspelt_field_is_named(self):
    objects = rendered('overlays/gpu')
    container = server(objects)
    container['readinesProbe'] = container.pop('readinessProbe')
    self.assertEqual(validate.validate(objects), [
        'Deployment/stylizer: spec.template.spec.containers[0].readinesProbe:'
        ' unknown field'
    ])

  def test_misspelt_field_deep_in_a_pod_template(self):
    objects = rendered('overlays/cpu')
    server(objects)['securityContext']['runAsNonroot'] = True
    self.assertEqual(validate.validate(objects), [
        'Deployment/stylizer: spec.template.spec.containers[0]'
        '.securityContext.runAsNonroot: unknown field'
    ])

  def test_wrong_type(self):
    objects = rendered('overlays/gpu')
    server(objects)['ports'][0]['containerPort'] = '50051'
    self.assertEqual(validate.validate(objects), [
        'Deployment/stylizer: spec.template.spec.containers[0].ports[0]'
        ".containerPort: '50051' is not of type 'integer'"
    ])

  def test_integer_out_of_int32_range(self):
    objects = rendered('overlays/gpu')
    server(objects)['ports'][0]['containerPort'] = 2**31
    self.assertProblem(
        validate.validate(objects), 'Deployment/stylizer: spec.template.spec'
        '.containers[0].ports[0].containerPort: 2147483648 is not')

  def test_missing_required_field(self):
    objects = rendered('overlays/cpu')
    del server(objects)['name']
    self.assertEqual(validate.validate(objects), [
        "Deployment/stylizer: spec.template.spec.containers[0]: 'name' is a "
        'required property'
    ])

  def test_field_newer_than_the_oldest_release_is_reported_with_it(self):
    # Service.spec.trafficDistribution came with Kubernetes 1.30.
    objects = rendered('base')
    service = next(o for o in objects if o['kind'] == 'Service')
    service['spec']['trafficDistribution'] = 'PreferClose'
    self.assertEqual(validate.validate(objects), [
        f'Service/{service["metadata"]["name"]}: spec.trafficDistribution: '
        'unknown field (Kubernetes 1.25)'
    ])

  def test_unknown_kind_is_refused(self):
    self.assertEqual(
        validate.validate([{
            'apiVersion': 'example.com/v1',
            'kind': 'Widget',
            'metadata': {'name': 'w'}
        }, {
            'apiVersion': 'v1',
            'kind': 'Pod',
            'metadata': {'name': 'p'}
        }, 'text']), [
            'Widget/w: no schema for apiVersion example.com/v1 kind Widget',
            'Pod/p: no schema for apiVersion v1 kind Pod',
            '?/?: no schema for apiVersion None kind None',
        ])

  def test_service_monitor_unknown_field(self):
    objects = rendered('overlays/gpu')
    service_monitor(objects)['spec']['endpoints'][0]['portName'] = 'metrics'
    self.assertEqual(validate.validate(objects), [
        'ServiceMonitor/stylizer: spec.endpoints[0].portName: unknown field'
    ])
    objects = rendered('overlays/gpu')
    service_monitor(objects)['metadata']['lables'] = {}
    self.assertEqual(validate.validate(objects),
                     ['ServiceMonitor/stylizer: metadata.lables: unknown field'])

  def test_service_monitor_enum_pattern_and_required_fields(self):
    objects = rendered('overlays/gpu')
    endpoint = service_monitor(objects)['spec']['endpoints'][0]
    endpoint['scheme'] = 'ftp'
    endpoint['interval'] = '15 seconds'
    del service_monitor(objects)['spec']['selector']
    problems = validate.validate(objects)
    self.assertEqual(len(problems), 3, problems)
    self.assertProblem(problems, 'ServiceMonitor/stylizer: spec.endpoints[0]'
                       ".scheme: 'ftp' is not one of ['http', 'https']")
    self.assertProblem(problems, 'ServiceMonitor/stylizer: spec.endpoints[0]'
                       ".interval: '15 seconds' does not match")
    self.assertProblem(problems, "ServiceMonitor/stylizer: spec: 'selector' "
                       'is a required property')

  def test_every_problem_of_every_object_is_reported(self):
    objects = rendered('overlays/gpu')
    container = server(objects)
    container['readinesProbe'] = container.pop('readinessProbe')
    container['ports'][0]['containerPort'] = '50051'
    service_monitor(objects)['spec']['endpoints'][0]['portName'] = 'metrics'
    self.assertEqual(len(validate.validate(objects)), 3)

  def test_main_exit_status_and_lines(self):
    good = rendered('overlays/cpu')
    bad = rendered('overlays/cpu')
    server(bad)['readinesProbe'] = {}
    with tempfile.TemporaryDirectory() as tmp:
      paths = []
      for name, objects in (('good', good), ('bad', bad), ('map', {})):
        paths.append(os.path.join(tmp, f'{name}.json'))
        with open(paths[-1], 'w', encoding='utf-8') as f:
          json.dump(objects, f)
      out, err = io.StringIO(), io.StringIO()
      with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        self.assertEqual(validate.main(paths[:1]), 0)
        self.assertEqual(validate.main(paths), 1)
    self.assertIn(f'{paths[0]}: {len(good)} objects valid', out.getvalue())
    self.assertIn(f'{paths[1]}: Deployment/stylizer: ', err.getvalue())
    self.assertIn('readinesProbe: unknown field', err.getvalue())
    self.assertIn(f'{paths[2]}: not a JSON list of objects', err.getvalue())


if __name__ == '__main__':
  unittest.main()
