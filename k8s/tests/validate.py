#!/usr/bin/env python3
"""Validates rendered Kubernetes objects offline against their API schemas,
refusing unknown fields (a misspelt "readinesProbe" passes a lenient schema
check but is silently dropped by the API server).

  - Kubernetes kinds: the strict JSON schemas of the upstream OpenAPI that the
    PyPI package kubernetes-validate ships, one set per Kubernetes release
    (every object is checked against each release in KUBERNETES_VERSIONS);
  - the Prometheus Operator ServiceMonitor: a JSON schema generated from the
    pydantic models of cloudcoil-models-prometheus-operator (generated from
    the operator's CRD), made strict the same way;
  - objects of any kind not in KINDS are refused, never passed unchecked.

Types, required fields, enums, patterns and int32/int64 ranges are checked;
every problem of every object is reported, one line each.

  validate.py rendered.json [more.json ...]

Each file holds a JSON list of objects (render.py --json). Exit status 0 when
every object is valid, 1 otherwise; one line per problem on stderr. Needs the
packages that scripts/install-pytools.sh installs.
"""

import argparse
import functools
import importlib.resources
import json
import sys

import jsonschema
import referencing

# The releases checked: the oldest whose schemas kubernetes-validate ships
# (docs/deploy.md asks for 1.24 or later) and the newest.
KUBERNETES_VERSIONS = ('1.25', '1.37')

SERVICE_MONITOR = ('monitoring.coreos.com/v1', 'ServiceMonitor')

# (apiVersion, kind) of every kind the manifests may use -> the name of its
# schema file in kubernetes-validate (None: the ServiceMonitor model).
KINDS = {
    ('v1', 'Namespace'): 'namespace-v1',
    ('v1', 'ConfigMap'): 'configmap-v1',
    ('v1', 'Secret'): 'secret-v1',
    ('v1', 'Service'): 'service-v1',
    ('v1', 'ServiceAccount'): 'serviceaccount-v1',
    ('v1', 'PersistentVolume'): 'persistentvolume-v1',
    ('v1', 'PersistentVolumeClaim'): 'persistentvolumeclaim-v1',
    ('apps/v1', 'Deployment'): 'deployment-apps-v1',
    ('policy/v1', 'PodDisruptionBudget'): 'poddisruptionbudget-policy-v1',
    ('autoscaling/v2', 'HorizontalPodAutoscaler'):
        'horizontalpodautoscaler-autoscaling-v2',
    ('networking.k8s.io/v1', 'NetworkPolicy'): 'networkpolicy-networking-v1',
    SERVICE_MONITOR: None,
}

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks('int32')
def _int32(value):
  return not isinstance(value, int) or -2**31 <= value < 2**31


@_FORMATS.checks('int64')
def _int64(value):
  return not isinstance(value, int) or -2**63 <= value < 2**63


def _schema_dir(version):
  return importlib.resources.files('kubernetes_validate').joinpath(
      'kubernetes-json-schema', f'v{version}.0-local-strict')


@functools.lru_cache(maxsize=None)
def _kubernetes_validator(version, name):
  directory = _schema_dir(version)
  if not directory.is_dir():
    raise SystemExit(f'kubernetes-validate ships no schemas for {version}')
  schema = json.loads(directory.joinpath(f'{name}.json').read_text())
  definitions = json.loads(directory.joinpath('_definitions.json').read_text())
  registry = referencing.Registry().with_resources([
      (schema['$id'], referencing.Resource.from_contents(schema)),
      (definitions['$id'], referencing.Resource.from_contents(definitions)),
  ])
  return jsonschema.Draft202012Validator(schema, registry=registry,
                                         format_checker=_FORMATS)


def _forbid_unknown_fields(schema):
  """Sets additionalProperties false on every object schema that lists its
  properties and says nothing of others (what kubernetes-validate's strict
  schemas do), in place."""
  if isinstance(schema, dict):
    if 'properties' in schema and 'additionalProperties' not in schema:
      schema['additionalProperties'] = False
    for value in schema.values():
      _forbid_unknown_fields(value)
  elif isinstance(schema, list):
    for value in schema:
      _forbid_unknown_fields(value)


@functools.lru_cache(maxsize=None)
def _service_monitor_validator():
  # Imported here: a second to load, needed only when a ServiceMonitor is.
  from cloudcoil.models.prometheus_operator import v1
  schema = v1.ServiceMonitor.model_json_schema(by_alias=True,
                                                mode='validation')
  _forbid_unknown_fields(schema)
  # The model accepts a missing apiVersion and kind (it fills them in); a
  # manifest must carry both.
  schema['required'] = sorted(set(schema.get('required', [])) |
                              {'apiVersion', 'kind'})
  return jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)


def _describe(obj):
  if not isinstance(obj, dict):
    return '?/?'
  metadata = obj.get('metadata')
  name = metadata.get('name') if isinstance(metadata, dict) else None
  return f'{obj.get("kind") or "?"}/{name or "?"}'


def _path(parts):
  text = ''
  for part in parts:
    text += f'[{part}]' if isinstance(part, int) else f'.{part}'
  return text.lstrip('.') or '(object)'


def _messages(error):
  """(path, message) lines for one schema error: each unknown field on its
  own; for anyOf/oneOf, the closest alternative's error."""
  if error.validator in ('anyOf', 'oneOf') and error.context:
    # The models' optional fields are "X or null": the error against X says
    # what is wrong, "is not of type 'null'" does not.
    errors = [e for e in error.context
              if not (e.validator == 'type' and e.validator_value == 'null')]
    return _messages(jsonschema.exceptions.best_match(errors or error.context))
  if error.validator == 'additionalProperties' and error.validator_value is \
      False and isinstance(error.instance, dict):
    known = error.schema.get('properties', {})
    return [(_path([*error.absolute_path, field]), 'unknown field')
            for field in error.instance if field not in known]
  return [(_path(error.absolute_path), error.message)]


def _validators(obj):
  key = (obj.get('apiVersion'), obj.get('kind'))
  if key == SERVICE_MONITOR:
    return [('', _service_monitor_validator())]
  return [(f' (Kubernetes {version})', _kubernetes_validator(version,
                                                             KINDS[key]))
          for version in KUBERNETES_VERSIONS]


def validate(objects):
  """Problems of a list of objects, one line each; empty when all are valid.
  A problem found against every Kubernetes release is reported once."""
  problems = []
  for obj in objects:
    if not isinstance(obj, dict) or (obj.get('apiVersion'),
                                     obj.get('kind')) not in KINDS:
      api = obj.get('apiVersion') if isinstance(obj, dict) else None
      kind = obj.get('kind') if isinstance(obj, dict) else None
      problems.append(f'{_describe(obj)}: no schema for apiVersion {api} '
                      f'kind {kind}')
      continue
    validators = _validators(obj)
    found = {}  # (path, message) -> the releases it was found against
    for release, validator in validators:
      for error in validator.iter_errors(obj):
        for line in _messages(error):
          found.setdefault(line, []).append(release)
    for (path, message), releases in sorted(found.items()):
      where = ''.join(releases) if len(releases) < len(validators) else ''
      problems.append(f'{_describe(obj)}: {path}: {message}{where}')
  return problems


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('files', nargs='+', help='render.py --json output')
  args = parser.parse_args(argv)
  failed = False
  for name in args.files:
    with open(name, encoding='utf-8') as f:
      objects = json.load(f)
    if not isinstance(objects, list):
      print(f'{name}: not a JSON list of objects', file=sys.stderr)
      failed = True
      continue
    problems = validate(objects)
    for problem in problems:
      print(f'{name}: {problem}', file=sys.stderr)
    if problems:
      failed = True
    else:
      print(f'{name}: {len(objects)} objects valid (Kubernetes '
            f'{" and ".join(KUBERNETES_VERSIONS)} schemas, unknown fields '
            f'refused)')
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
