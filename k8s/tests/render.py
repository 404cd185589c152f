#!/usr/bin/env python3
"""A small kustomize renderer for the manifest checks (kustomize itself is not
packaged for Debian 12).

It renders a kustomization directory the way `kustomize build` does for the
subset of fields stylizer's manifests use, and refuses any other field rather
than ignore it:

  resources (files and kustomization directories), namespace, labels,
  commonLabels, commonAnnotations, images, configMapGenerator (files,
  literals; behavior create/merge/replace), generatorOptions
  (disableNameSuffixHash), patches (strategic merge and JSON 6902, from a
  file or inline, with or without a target).

ConfigMap names get kustomize's content-hash suffix and every reference from a
pod spec follows the new name. Objects come out in kustomize's legacy order.

  render.py DIR            YAML stream on stdout
  render.py --json DIR     a JSON list on stdout
"""

import argparse
import copy
import hashlib
import json
import os
import re
import sys

import yaml


class RenderError(Exception):
  """A kustomization this renderer cannot render, with the reason."""


# ---------------------------------------------------------------------------
# YAML: the 1.2 core schema's booleans (true/false only), as kustomize reads.


class _Loader(yaml.SafeLoader):
  """SafeLoader whose implicit booleans are only true/false (YAML 1.2)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx)
            for tag, rx in resolvers
            if tag != 'tag:yaml.org,2002:bool']
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    'tag:yaml.org,2002:bool',
    re.compile(r'^(?:true|True|TRUE|false|False|FALSE)$'), list('tTfF'))


def load_yaml_documents(text, where):
  """Parses a YAML stream; empty documents are dropped."""
  try:
    return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
  except yaml.YAMLError as e:
    raise RenderError(f'{where}: invalid YAML: {e}') from e


class _Dumper(yaml.SafeDumper):
  """Dumps multi-line strings as literal blocks, like kustomize."""


def _str_representer(dumper, value):
  style = '|' if '\n' in value else None
  return dumper.represent_scalar('tag:yaml.org,2002:str', value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(objects):
  """The objects as one YAML stream, keys sorted."""
  return '---\n'.join(
      yaml.dump(o, Dumper=_Dumper, sort_keys=True, default_flow_style=False)
      for o in objects)


# ---------------------------------------------------------------------------
# Kinds.

CLUSTER_SCOPED_KINDS = {
    'APIService', 'CertificateSigningRequest', 'ClusterRole',
    'ClusterRoleBinding', 'CSIDriver', 'CSINode', 'CustomResourceDefinition',
    'IngressClass', 'MutatingWebhookConfiguration', 'Namespace', 'Node',
    'PersistentVolume', 'PodSecurityPolicy', 'PriorityClass', 'RuntimeClass',
    'StorageClass', 'ValidatingWebhookConfiguration', 'VolumeAttachment'
}

# kustomize's legacy output order: these kinds first, in this order, ...
_ORDER_FIRST = [
    'Namespace', 'ResourceQuota', 'StorageClass', 'CustomResourceDefinition',
    'ServiceAccount', 'PodSecurityPolicy', 'Role', 'ClusterRole',
    'RoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Secret', 'Endpoints',
    'Service', 'LimitRange', 'PriorityClass', 'PersistentVolume',
    'PersistentVolumeClaim', 'Deployment', 'StatefulSet', 'CronJob',
    'PodDisruptionBudget'
]
# ... these last, everything else between, by group_version_kind then name.
_ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']

# Where a kind keeps its pod template (path of keys down to the PodSpec).
_POD_SPEC_PATHS = {
    'Pod': ('spec',),
    'Deployment': ('spec', 'template', 'spec'),
    'ReplicaSet': ('spec', 'template', 'spec'),
    'ReplicationController': ('spec', 'template', 'spec'),
    'StatefulSet': ('spec', 'template', 'spec'),
    'DaemonSet': ('spec', 'template', 'spec'),
    'Job': ('spec', 'template', 'spec'),
    'CronJob': ('spec', 'jobTemplate', 'spec', 'template', 'spec'),
}


def split_api_version(api_version):
  """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
  if '/' in api_version:
    group, version = api_version.split('/', 1)
    return group, version
  return '', api_version


def resource_id(obj):
  """(group, version, kind, namespace, name) of an object."""
  group, version = split_api_version(obj.get('apiVersion', ''))
  meta = obj.get('metadata') or {}
  return (group, version, obj.get('kind', ''), meta.get('namespace', ''),
          meta.get('name', ''))


def describe(obj):
  """'Kind/name' for messages."""
  meta = obj.get('metadata') or {}
  return f"{obj.get('kind')}/{meta.get('name')}"


def _sort_key(obj):
  group, version, kind, namespace, name = resource_id(obj)
  if kind in _ORDER_FIRST:
    rank = _ORDER_FIRST.index(kind) - len(_ORDER_FIRST)
  elif kind in _ORDER_LAST:
    rank = 1 + _ORDER_LAST.index(kind)
  else:
    rank = 0
  gvk = '_'.join([group or '~G', version or '~V', kind or '~K'])
  return (rank, gvk, namespace, name)


def legacy_order(objects):
  """The objects in kustomize's legacy output order (stable)."""
  return sorted(objects, key=_sort_key)


def pod_spec(obj):
  """The PodSpec inside a workload object, or None."""
  path = _POD_SPEC_PATHS.get(obj.get('kind'))
  if not path:
    return None
  node = obj
  for key in path:
    if not isinstance(node, dict) or not isinstance(node.get(key), dict):
      return None
    node = node[key]
  return node


def _containers(spec):
  for field in ('initContainers', 'containers', 'ephemeralContainers'):
    for c in spec.get(field) or []:
      if isinstance(c, dict):
        yield c


# ---------------------------------------------------------------------------
# Strategic merge patch.

# List fields merged element by element, by key; every other list is replaced.
_MERGE_KEYS = {
    'containers': 'name',
    'initContainers': 'name',
    'ephemeralContainers': 'name',
    'env': 'name',
    'envFrom': None,  # replaced (no merge key)
    'volumes': 'name',
    'volumeMounts': 'mountPath',
    'volumeDevices': 'devicePath',
    'imagePullSecrets': 'name',
    'hostAliases': 'ip',
    'topologySpreadConstraints': 'topologyKey',
    'readinessGates': 'conditionType',
    'resourceClaims': 'name',
}


def _merge_key(path, field):
  """The merge key of list `field` found under `path`, or None."""
  if field == 'ports':
    # Container ports merge on containerPort; a Service's on port.
    return 'containerPort' if path and path[-1] in (
        'containers', 'initContainers', 'ephemeralContainers') else 'port'
  return _MERGE_KEYS.get(field)


def strategic_merge(target, patch, path=()):
  """Returns `target` with the strategic merge `patch` applied.

  Maps merge key by key (a null value deletes the key; `$patch: replace`
  replaces the map, `$patch: delete` removes it); lists with a merge key merge
  their elements by that key (patch elements first, in patch order, then the
  target's others, as kustomize orders them; an element with
  `$patch: delete` removes its match); other lists are replaced.
  """
  if not isinstance(patch, dict):
    return copy.deepcopy(patch)
  directive = patch.get('$patch')
  if directive == 'replace':
    return {k: copy.deepcopy(v) for k, v in patch.items() if k != '$patch'}
  if directive not in (None, 'merge'):
    raise RenderError(f"unsupported $patch directive '{directive}' at "
                      f"{'/'.join(map(str, path)) or 'top level'}")
  result = copy.deepcopy(target) if isinstance(target, dict) else {}
  for key, value in patch.items():
    if key == '$patch':
      continue
    if key.startswith('$'):
      raise RenderError(f"unsupported strategic merge directive '{key}'")
    if value is None:
      result.pop(key, None)
    elif isinstance(value, dict):
      if isinstance(value.get('$patch'), str) and value['$patch'] == 'delete':
        result.pop(key, None)
      else:
        result[key] = strategic_merge(result.get(key), value, path + (key,))
    elif isinstance(value, list):
      merge_key = _merge_key(path + (key,), key)
      if merge_key and isinstance(result.get(key), list):
        result[key] = _merge_list(result[key], value, merge_key, path + (key,))
      else:
        result[key] = [
            _strip_directives(v) for v in value
            if not (isinstance(v, dict) and v.get('$patch') == 'delete')
        ]
    else:
      result[key] = copy.deepcopy(value)
  return result


def _strip_directives(value):
  if isinstance(value, dict):
    return {k: _strip_directives(v) for k, v in value.items() if k != '$patch'}
  if isinstance(value, list):
    return [_strip_directives(v) for v in value]
  return value


def _merge_list(target, patch, merge_key, path):
  by_key = {}
  for item in target:
    if isinstance(item, dict) and merge_key in item:
      by_key[item[merge_key]] = item
  merged, used = [], set()
  for item in patch:
    if not isinstance(item, dict) or merge_key not in item:
      raise RenderError(f"{'/'.join(path)}: a patch element lacks its merge "
                        f"key '{merge_key}'")
    key = item[merge_key]
    used.add(key)
    if item.get('$patch') == 'delete':
      continue
    merged.append(strategic_merge(by_key.get(key), item, path))
  for item in target:
    if not (isinstance(item, dict) and item.get(merge_key) in used):
      merged.append(copy.deepcopy(item))
  return merged


# ---------------------------------------------------------------------------
# JSON 6902 patch.


def _pointer(path):
  if path == '':
    return []
  if not path.startswith('/'):
    raise RenderError(f"JSON patch path '{path}' must start with '/'")
  return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def _walk(doc, parts, op_path):
  node = doc
  for part in parts:
    if isinstance(node, dict) and part in node:
      node = node[part]
    elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
      node = node[int(part)]
    else:
      raise RenderError(f"JSON patch path '{op_path}' does not exist")
  return node


def json_patch(doc, operations):
  """Returns `doc` with the RFC 6902 operations applied."""
  doc = copy.deepcopy(doc)
  if not isinstance(operations, list):
    raise RenderError('a JSON patch must be a list of operations')
  for op in operations:
    kind, op_path = op.get('op'), op.get('path')
    if kind not in ('add', 'remove', 'replace', 'test', 'move', 'copy'):
      raise RenderError(f"unsupported JSON patch op '{kind}'")
    if not isinstance(op_path, str):
      raise RenderError(f"JSON patch op '{kind}' needs a path")
    parts = _pointer(op_path)
    if kind == 'test':
      if _walk(doc, parts, op_path) != op.get('value'):
        raise RenderError(f"JSON patch test failed at '{op_path}'")
      continue
    if kind in ('move', 'copy'):
      source = _pointer(op['from'])
      value = copy.deepcopy(_walk(doc, source, op['from']))
      if kind == 'move':
        _remove(doc, source, op['from'])
      _add(doc, parts, op_path, value)
    elif kind == 'add':
      _add(doc, parts, op_path, copy.deepcopy(op.get('value')))
    elif kind == 'remove':
      _remove(doc, parts, op_path)
    else:  # replace
      _walk(doc, parts, op_path)
      _remove(doc, parts, op_path)
      _add(doc, parts, op_path, copy.deepcopy(op.get('value')))
  return doc


def _add(doc, parts, op_path, value):
  if not parts:
    raise RenderError('a JSON patch may not replace the whole object')
  parent = _walk(doc, parts[:-1], op_path)
  last = parts[-1]
  if isinstance(parent, dict):
    parent[last] = value
  elif isinstance(parent, list):
    if last == '-':
      parent.append(value)
    elif last.isdigit() and int(last) <= len(parent):
      parent.insert(int(last), value)
    else:
      raise RenderError(f"JSON patch index in '{op_path}' is out of range")
  else:
    raise RenderError(f"JSON patch path '{op_path}' has no container")


def _remove(doc, parts, op_path):
  if not parts:
    raise RenderError('a JSON patch may not remove the whole object')
  parent = _walk(doc, parts[:-1], op_path)
  last = parts[-1]
  if isinstance(parent, dict) and last in parent:
    del parent[last]
  elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
    del parent[int(last)]
  else:
    raise RenderError(f"JSON patch path '{op_path}' does not exist")


# ---------------------------------------------------------------------------
# ConfigMap name hash, as kustomize computes it.


def _go_json(value):
  """JSON as Go's encoding/json writes it (sorted keys, HTML-safe)."""
  text = json.dumps(value, sort_keys=True, separators=(',', ':'),
                    ensure_ascii=False)
  for char, escape in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'),
                       ('\u2028', '\\u2028'), ('\u2029', '\\u2029')):
    text = text.replace(char, escape)
  return text


def config_map_hash(config_map):
  """kustomize's 10-character content hash of a ConfigMap.

  kustomize 5 hashes the JSON of kind, data (and binaryData) with an empty
  name, so the suffix depends on the contents alone.
  """
  encoded = {
      'kind': 'ConfigMap',
      'name': '',
      'data': config_map.get('data') or {},
  }
  if config_map.get('binaryData'):
    encoded['binaryData'] = config_map['binaryData']
  digest = hashlib.sha256(_go_json(encoded).encode('utf-8')).hexdigest()
  return digest[:10].translate(str.maketrans('013ae', 'ghkmt'))


# ---------------------------------------------------------------------------
# The renderer.

_SUPPORTED_FIELDS = {
    'apiVersion', 'kind', 'resources', 'namespace', 'labels', 'commonLabels',
    'commonAnnotations', 'images', 'configMapGenerator', 'generatorOptions',
    'patches'
}

# Internal marker: the generated ConfigMap wants a hash suffix at the end.
_HASH_MARK = 'x-render.stylizer/needs-hash'


def _read(path):
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except OSError as e:
    raise RenderError(f'cannot read {path}: {e.strerror}') from e


def _kustomization_file(directory):
  for name in ('kustomization.yaml', 'kustomization.yml', 'Kustomization'):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  raise RenderError(f'{directory}: no kustomization.yaml')


def _inside(base, path):
  """`path` relative to the kustomization directory `base`; absolute paths
  are refused, as kustomize refuses them."""
  if os.path.isabs(path):
    raise RenderError(f"absolute path '{path}' is not allowed")
  return os.path.normpath(os.path.join(base, path))


def build(directory):
  """Renders the kustomization in `directory`; returns a list of objects."""
  objects = _build(os.path.abspath(directory), stack=())
  objects = _finish_names(objects)
  return legacy_order(objects)


def _build(directory, stack):
  if directory in stack:
    raise RenderError(f'{directory}: kustomization cycle')
  path = _kustomization_file(directory)
  docs = load_yaml_documents(_read(path), path)
  if len(docs) != 1 or not isinstance(docs[0], dict):
    raise RenderError(f'{path}: must hold one mapping')
  k = docs[0]
  unknown = sorted(set(k) - _SUPPORTED_FIELDS)
  if unknown:
    raise RenderError(f"{path}: unsupported field(s) {', '.join(unknown)}")

  objects = []
  for entry in k.get('resources') or []:
    target = _inside(directory, entry)
    if os.path.isdir(target):
      objects.extend(_build(target, stack + (directory,)))
    elif os.path.isfile(target):
      for doc in load_yaml_documents(_read(target), target):
        _check_object(doc, target)
        objects.append(doc)
    else:
      raise RenderError(f"{path}: resource '{entry}' does not exist")
  _check_unique(objects, path)

  objects = _generate(k, directory, objects, path)
  objects = _apply_patches(k, directory, objects, path)
  if 'namespace' in k:
    objects = [_set_namespace(o, k['namespace']) for o in objects]
  for spec in k.get('labels') or []:
    objects = [
        _add_labels(o, spec.get('pairs') or {},
                    selectors=bool(spec.get('includeSelectors', False)),
                    templates=bool(spec.get('includeTemplates', False)))
        for o in objects
    ]
  if k.get('commonLabels'):
    objects = [
        _add_labels(o, k['commonLabels'], selectors=True, templates=True)
        for o in objects
    ]
  if k.get('commonAnnotations'):
    objects = [_add_annotations(o, k['commonAnnotations']) for o in objects]
  for image in k.get('images') or []:
    objects = [_set_image(o, image) for o in objects]
  return objects


def _check_object(doc, where):
  if not isinstance(doc, dict):
    raise RenderError(f'{where}: a document is not a mapping')
  for field in ('apiVersion', 'kind'):
    if not isinstance(doc.get(field), str) or not doc[field]:
      raise RenderError(f'{where}: a document has no {field}')
  if not (doc.get('metadata') or {}).get('name'):
    raise RenderError(f'{where}: {doc["kind"]} has no metadata.name')


def _check_unique(objects, where):
  seen = set()
  for o in objects:
    rid = resource_id(o)
    if rid in seen:
      raise RenderError(f'{where}: {describe(o)} is defined twice')
    seen.add(rid)


def _generate(k, directory, objects, path):
  options = k.get('generatorOptions') or {}
  for gen in k.get('configMapGenerator') or []:
    name = gen.get('name')
    if not name:
      raise RenderError(f'{path}: a configMapGenerator has no name')
    unknown = set(gen) - {'name', 'namespace', 'behavior', 'files', 'literals',
                          'options'}
    if unknown:
      raise RenderError(f"{path}: configMapGenerator '{name}': unsupported "
                        f"field(s) {', '.join(sorted(unknown))}")
    data = {}
    for entry in gen.get('files') or []:
      key, _, file_path = entry.rpartition('=')
      key = key or os.path.basename(file_path)
      data[key] = _read(_inside(directory, file_path))
    for literal in gen.get('literals') or []:
      key, sep, value = literal.partition('=')
      if not sep:
        raise RenderError(f"{path}: literal '{literal}' is not KEY=VALUE")
      data[key] = value
    gen_options = dict(options)
    gen_options.update(gen.get('options') or {})
    behavior = gen.get('behavior', 'create')
    matches = [
        o for o in objects if o['kind'] == 'ConfigMap' and
        (o.get('metadata') or {}).get('name') == name
    ]
    if behavior == 'create':
      if matches:
        raise RenderError(f"{path}: ConfigMap '{name}' already exists; use "
                          f'behavior merge or replace')
      cm = {'apiVersion': 'v1', 'kind': 'ConfigMap',
            'metadata': {'name': name}, 'data': data}
      if gen.get('namespace'):
        cm['metadata']['namespace'] = gen['namespace']
      if not gen_options.get('disableNameSuffixHash'):
        cm['metadata'].setdefault('annotations', {})[_HASH_MARK] = 'true'
      objects = objects + [cm]
    elif behavior in ('merge', 'replace'):
      if len(matches) != 1:
        raise RenderError(f"{path}: behavior {behavior} needs exactly one "
                          f"ConfigMap '{name}' from the resources")
      cm = copy.deepcopy(matches[0])
      if behavior == 'merge':
        cm.setdefault('data', {}).update(data)
      else:
        cm['data'] = data
      objects = [cm if o is matches[0] else o for o in objects]
    else:
      raise RenderError(f"{path}: unknown generator behavior '{behavior}'")
  return objects


def _patch_documents(entry, directory, path):
  if 'path' in entry and 'patch' in entry:
    raise RenderError(f'{path}: a patch has both path and patch')
  if 'path' in entry:
    file_path = _inside(directory, entry['path'])
    return load_yaml_documents(_read(file_path), file_path)
  if 'patch' in entry:
    return load_yaml_documents(entry['patch'], f'{path} (inline patch)')
  raise RenderError(f'{path}: a patch needs path or patch')


def _matches_target(obj, target):
  group, version, kind, namespace, name = resource_id(obj)
  if 'group' in target and target['group'] != group:
    return False
  if 'version' in target and target['version'] != version:
    return False
  if 'kind' in target and target['kind'] != kind:
    return False
  if 'namespace' in target and target['namespace'] != namespace:
    return False
  if 'name' in target and not re.fullmatch(target['name'], name):
    return False
  labels = (obj.get('metadata') or {}).get('labels') or {}
  for term in filter(None, (target.get('labelSelector') or '').split(',')):
    key, sep, value = term.partition('=')
    if not sep or labels.get(key.strip()) != value.strip():
      return False
  unknown = set(target) - {'group', 'version', 'kind', 'namespace', 'name',
                           'labelSelector'}
  if unknown:
    raise RenderError(f"unsupported patch target field(s) {', '.join(unknown)}")
  return True


def _apply_patches(k, directory, objects, path):
  for entry in k.get('patches') or []:
    target = entry.get('target')
    docs = _patch_documents(entry, directory, path)
    if len(docs) == 1 and isinstance(docs[0], list):
      if not target:
        raise RenderError(f'{path}: a JSON 6902 patch needs a target')
      hits = [o for o in objects if _matches_target(o, target)]
      if not hits:
        raise RenderError(f'{path}: patch target {target} matches nothing')
      objects = [json_patch(o, docs[0]) if o in hits else o for o in objects]
      continue
    for doc in docs:
      if not isinstance(doc, dict):
        raise RenderError(f'{path}: a strategic merge patch is not a mapping')
      if target:
        hits = [o for o in objects if _matches_target(o, target)]
      else:
        group, version, kind, namespace, name = resource_id(doc)
        hits = [
            o for o in objects if resource_id(o)[:3] == (group, version, kind)
            and resource_id(o)[4] == name and
            (not namespace or resource_id(o)[3] == namespace)
        ]
      if not hits:
        raise RenderError(f'{path}: patch for {describe(doc)} matches nothing')
      if doc.get('$patch') == 'delete':
        objects = [o for o in objects if not any(o is h for h in hits)]
        continue
      body = {key: v for key, v in doc.items() if key not in ('apiVersion',
                                                              'kind')}
      if target:
        # A targeted patch never renames its targets.
        body = copy.deepcopy(body)
        (body.get('metadata') or {}).pop('name', None)
        (body.get('metadata') or {}).pop('namespace', None)
      objects = [
          strategic_merge(o, body) if any(o is h for h in hits) else o
          for o in objects
      ]
  return objects


def _set_namespace(obj, namespace):
  if obj['kind'] in CLUSTER_SCOPED_KINDS:
    return obj
  obj = copy.deepcopy(obj)
  obj.setdefault('metadata', {})['namespace'] = namespace
  return obj


# Selector fields that labels with includeSelectors (and commonLabels) extend.
_SELECTOR_PATHS = {
    'Service': [('spec', 'selector')],
    'Deployment': [('spec', 'selector', 'matchLabels')],
    'ReplicaSet': [('spec', 'selector', 'matchLabels')],
    'StatefulSet': [('spec', 'selector', 'matchLabels')],
    'DaemonSet': [('spec', 'selector', 'matchLabels')],
    'PodDisruptionBudget': [('spec', 'selector', 'matchLabels')],
    'ReplicationController': [('spec', 'selector')],
}

_TEMPLATE_PATHS = {
    'Deployment': ('spec', 'template', 'metadata', 'labels'),
    'ReplicaSet': ('spec', 'template', 'metadata', 'labels'),
    'StatefulSet': ('spec', 'template', 'metadata', 'labels'),
    'DaemonSet': ('spec', 'template', 'metadata', 'labels'),
    'Job': ('spec', 'template', 'metadata', 'labels'),
    'ReplicationController': ('spec', 'template', 'metadata', 'labels'),
    'CronJob': ('spec', 'jobTemplate', 'spec', 'template', 'metadata',
                'labels'),
}


def _ensure_map(obj, path):
  node = obj
  for key in path:
    if not isinstance(node.get(key), dict):
      node[key] = {}
    node = node[key]
  return node


def _add_labels(obj, pairs, selectors, templates):
  obj = copy.deepcopy(obj)
  pairs = {str(k): str(v) for k, v in pairs.items()}
  _ensure_map(obj, ('metadata', 'labels')).update(pairs)
  if templates or selectors:
    path = _TEMPLATE_PATHS.get(obj['kind'])
    if path:
      _ensure_map(obj, path).update(pairs)
  if selectors:
    for path in _SELECTOR_PATHS.get(obj['kind'], []):
      _ensure_map(obj, path).update(pairs)
  return obj


def _add_annotations(obj, pairs):
  obj = copy.deepcopy(obj)
  pairs = {str(k): str(v) for k, v in pairs.items()}
  _ensure_map(obj, ('metadata', 'annotations')).update(pairs)
  path = _TEMPLATE_PATHS.get(obj['kind'])
  if path:
    _ensure_map(obj, path[:-1] + ('annotations',)).update(pairs)
  return obj


def split_image(image):
  """'reg:5000/a/b:1.0@sha256:..' -> ('reg:5000/a/b', '1.0', 'sha256:..')."""
  name, _, digest = image.partition('@')
  tag = ''
  slash = name.rfind('/')
  colon = name.rfind(':')
  if colon > slash:
    name, tag = name[:colon], name[colon + 1:]
  return name, tag, digest


def _set_image(obj, image):
  unknown = set(image) - {'name', 'newName', 'newTag', 'digest'}
  if unknown or 'name' not in image:
    raise RenderError(f'images entry {image} needs name and may only have '
                      f'newName, newTag, digest')
  spec = pod_spec(obj)
  if spec is None:
    return obj
  obj = copy.deepcopy(obj)
  for container in _containers(pod_spec(obj)):
    name, tag, digest = split_image(str(container.get('image', '')))
    if name != image['name']:
      continue
    name = image.get('newName', name)
    if 'digest' in image:
      container['image'] = f"{name}@{image['digest']}"
    elif 'newTag' in image:
      container['image'] = f"{name}:{image['newTag']}"
    else:
      container['image'] = name + (f':{tag}' if tag else '') + (
          f'@{digest}' if digest else '')
  return obj


def _finish_names(objects):
  """Adds hash suffixes to generated ConfigMaps and renames references."""
  renames = {}
  finished = []
  for o in objects:
    annotations = (o.get('metadata') or {}).get('annotations') or {}
    if o['kind'] == 'ConfigMap' and _HASH_MARK in annotations:
      o = copy.deepcopy(o)
      del o['metadata']['annotations'][_HASH_MARK]
      if not o['metadata']['annotations']:
        del o['metadata']['annotations']
      old = o['metadata']['name']
      new = f'{old}-{config_map_hash(o)}'
      o['metadata']['name'] = new
      renames[(o['metadata'].get('namespace', ''), old)] = new
    finished.append(o)
  if not renames:
    return finished
  return [_rename_config_map_refs(o, renames) for o in finished]


def _rename_config_map_refs(obj, renames):
  spec = pod_spec(obj)
  if spec is None:
    return obj
  obj = copy.deepcopy(obj)
  spec = pod_spec(obj)
  namespace = (obj.get('metadata') or {}).get('namespace', '')

  def fix(ref):
    if isinstance(ref, dict) and (namespace, ref.get('name')) in renames:
      ref['name'] = renames[(namespace, ref['name'])]

  for volume in spec.get('volumes') or []:
    fix(volume.get('configMap'))
    for source in (volume.get('projected') or {}).get('sources') or []:
      fix(source.get('configMap'))
  for container in _containers(spec):
    for source in container.get('envFrom') or []:
      fix(source.get('configMapRef'))
    for env in container.get('env') or []:
      fix((env.get('valueFrom') or {}).get('configMapKeyRef'))
  return obj


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('directory', help='a directory with kustomization.yaml')
  parser.add_argument('--json', action='store_true',
                      help='print a JSON list instead of a YAML stream')
  args = parser.parse_args(argv)
  try:
    objects = build(args.directory)
  except RenderError as e:
    print(f'render: {e}', file=sys.stderr)
    return 1
  if args.json:
    json.dump(objects, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')
  else:
    sys.stdout.write(dump_yaml(objects))
  return 0


if __name__ == '__main__':
  sys.exit(main())
