#!/usr/bin/env python3
"""Offline checks of stylizer's Dockerfiles and .dockerignore (no Docker
engine needed): what can be proved about an image without building it, past
what hadolint checks (scripts/test.d/50-k8s-manifests.sh runs both; hadolint
with docker/hadolint.yaml). hadolint has the generic rules: tags on literal
base images (DL3006, DL3007), no root USER (DL3002), exec-form ENTRYPOINT
(DL3025), --no-install-recommends on apt-get (DL3015), instruction order
(DL3061) and the rest. This file keeps what needs the repository, the
project's conventions or a resolved build argument:

  - every base image named by a build argument is pinned (a tag other than
    latest, or a digest) with the arguments resolved to their defaults
    (hadolint does not resolve them);
  - multi-stage: the build stage runs the project's own install and build
    scripts (leaving the build's job count to build.sh unless JOBS is
    given), the final stage runs neither;
  - every script a RUN calls and every COPY source exists in the repository
    and is not excluded by .dockerignore; scripts are executable; a model a
    RUN reads (--model models/...) is not excluded (and, while it is not yet
    committed, a warning says the image build will fail);
  - the final stage has a USER (hadolint only refuses a root one), a
    HEALTHCHECK through the `stylizer health` command, an ENTRYPOINT that
    starts stylizer-server, and exposes the gRPC and metrics ports;
  - an apt-get install run through another command (`xargs ... apt-get
    install`, which hadolint's DL3015 does not see) never pulls recommended
    packages; no ADD of a URL (hadolint allows it);
  - version build arguments the image promises exist.

  lint.py [--root DIR] Dockerfile...
"""

import argparse
import json
import os
import re
import shlex
import sys

GRPC_PORT = '50051'
METRICS_PORT = '9464'


class Instruction:
  """One Dockerfile instruction: keyword, its text, the line it starts on."""

  def __init__(self, keyword, text, line):
    self.keyword = keyword
    self.text = text
    self.line = line

  def exec_form(self):
    """The JSON array of an exec-form instruction, or None."""
    text = self.text.strip()
    if not text.startswith('['):
      return None
    try:
      value = json.loads(text)
    except json.JSONDecodeError:
      return None
    return value if isinstance(value, list) else None


def parse(text):
  """Instructions of a Dockerfile (continuations joined, comments dropped)."""
  instructions = []
  pending, start = '', 0
  for number, raw in enumerate(text.splitlines(), 1):
    stripped = raw.strip()
    if not pending and (not stripped or stripped.startswith('#')):
      continue
    if pending and stripped.startswith('#'):
      continue
    if not pending:
      start = number
    if stripped.endswith('\\'):
      pending += stripped[:-1].rstrip() + ' '
      continue
    pending += stripped
    keyword, _, rest = pending.partition(' ')
    instructions.append(Instruction(keyword.upper(), rest.strip(), start))
    pending = ''
  if pending:
    keyword, _, rest = pending.partition(' ')
    instructions.append(Instruction(keyword.upper(), rest.strip(), start))
  return instructions


def _substitute(text, args):
  def value(match):
    return args.get(match.group(1) or match.group(2), '')

  for _ in range(5):  # defaults may refer to earlier arguments
    new = re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)',
                 value, text)
    if new == text:
      break
    text = new
  return text


def _arg(instruction, args):
  name, sep, default = instruction.text.partition('=')
  name = name.strip()
  if sep:
    args[name] = _substitute(default.strip().strip('"'), args)
  else:
    args.setdefault(name, '')
  return name


def _wrapped_apt_install(command):
  """Whether a shell command runs `apt-get install` as the argument of
  another program (xargs, env, ...): hadolint checks direct calls only."""
  try:
    words = shlex.split(command)
  except ValueError:
    words = command.split()
  while words and re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*=.*', words[0]):
    words = words[1:]  # VAR=value before the command
  if not words or words[0] == 'apt-get' or 'apt-get' not in words:
    return False
  return 'install' in words[words.index('apt-get'):]


class DockerIgnore:
  """.dockerignore matching (patterns relative to the context root, `**`
  for any depth, `!` re-includes; the last matching pattern decides)."""

  def __init__(self, text):
    self.patterns = []
    for line in text.splitlines():
      line = line.strip()
      if not line or line.startswith('#'):
        continue
      negate = line.startswith('!')
      pattern = line.lstrip('!').strip().lstrip('/').rstrip('/')
      self.patterns.append((negate, os.path.normpath(pattern)))

  @staticmethod
  def _match(pattern, path):
    """Go filepath.Match semantics plus `**` (any number of directories)."""
    regex, i = '', 0
    while i < len(pattern):
      if pattern.startswith('**/', i):
        regex, i = regex + '(?:.*/)?', i + 3
      elif pattern.startswith('**', i):
        regex, i = regex + '.*', i + 2
      elif pattern[i] == '*':
        regex, i = regex + '[^/]*', i + 1
      elif pattern[i] == '?':
        regex, i = regex + '[^/]', i + 1
      elif pattern[i] == '[' and ']' in pattern[i + 1:]:
        close = pattern.index(']', i + 1)
        body = pattern[i + 1:close].replace('\\', '\\\\')
        if body.startswith('^'):
          body = '^' + body[1:]
        regex, i = regex + '[' + body + ']', close + 1
      else:
        regex, i = regex + re.escape(pattern[i]), i + 1
    return re.fullmatch(regex, path) is not None

  def excluded(self, path):
    """Whether `path` (relative to the root) is left out of the context."""
    path = os.path.normpath(path)
    parts = path.split('/')
    result = False
    for negate, pattern in self.patterns:
      for depth in range(1, len(parts) + 1):
        if self._match(pattern, '/'.join(parts[:depth])):
          result = not negate
          break
    return result


class Linter:
  """Findings for one Dockerfile."""

  def __init__(self, root, dockerfile):
    self.root = root
    self.dockerfile = dockerfile
    self.findings = []
    self.warnings = []
    ignore_path = os.path.join(root, '.dockerignore')
    text = ''
    if os.path.exists(ignore_path):
      with open(ignore_path, encoding='utf-8') as f:
        text = f.read()
    else:
      self.add(0, 'the repository has no .dockerignore')
    self.ignore = DockerIgnore(text)

  def add(self, line, message):
    name = os.path.relpath(self.dockerfile, self.root)
    self.findings.append(f'{name}:{line}: {message}')

  def run(self):
    with open(self.dockerfile, encoding='utf-8') as f:
      instructions = parse(f.read())
    args = {}
    stages = []  # (name, [instructions], from-instruction)
    for ins in instructions:
      if ins.keyword == 'ARG' and not stages:
        _arg(ins, args)
      elif ins.keyword == 'FROM':
        self._check_from(ins, args, [s[0] for s in stages])
        words = ins.text.split()
        name = words[-1] if len(words) >= 3 and words[-2].lower() == 'as' else ''
        stages.append((name, [], ins))
      elif stages:
        stages[-1][1].append(ins)
    if len(stages) < 2:
      self.add(1, 'not a multi-stage build (build and runtime stages)')
      return self.findings
    all_args = dict(args)
    for _, body, _ in stages:
      for ins in body:
        if ins.keyword == 'ARG':
          _arg(ins, all_args)
        self._check_instruction(ins)
    self._check_build_stages(stages[:-1])
    self._check_final_stage(stages[-1])
    return self.findings

  def _check_from(self, ins, args, earlier_stages):
    words = [w for w in ins.text.split() if not w.startswith('--')]
    if not words:
      self.add(ins.line, 'FROM without an image')
      return
    if '$' not in words[0]:
      return  # a literal image: hadolint's DL3006 and DL3007
    image = _substitute(words[0], args)
    if image in earlier_stages:
      return
    if not image or '$' in image:
      self.add(ins.line, f"base image '{words[0]}' has no default")
      return
    name, _, digest = image.partition('@')
    last = name.rsplit('/', 1)[-1]
    tag = last.split(':', 1)[1] if ':' in last else ''
    if not digest and not tag:
      self.add(ins.line, f"base image '{image}' has no tag (means latest)")
    elif tag == 'latest':
      self.add(ins.line, f"base image '{image}' uses the latest tag")

  def _check_instruction(self, ins):
    if ins.keyword == 'RUN':
      for script in re.findall(r'(?<![\w/.])\./((?:scripts|docker)/[\w./-]+)',
                               ins.text):
        self._check_repo_path(ins.line, script, executable=True)
      # Data a build step reads from the context, e.g. the bundled model.
      for data in re.findall(r'--model[= ]+((?:models)/[\w./-]+)', ins.text):
        if not os.path.exists(os.path.join(self.root, data)):
          self.warnings.append(
              f'{os.path.relpath(self.dockerfile, self.root)}:{ins.line}: '
              f'{data} does not exist yet: the image build fails until it is '
              f'committed')
        elif self.ignore.excluded(data):
          self.add(ins.line, f'{data} is excluded by .dockerignore')
      for command in re.split(r'&&|;|\|\|', ins.text):
        if _wrapped_apt_install(command) and (
            '--no-install-recommends' not in command):
          self.add(ins.line, 'apt-get install without --no-install-recommends')
    elif ins.keyword in ('COPY', 'ADD'):
      words = shlex.split(ins.text)
      if any(w.startswith('--from') for w in words):
        return
      sources = [w for w in words if not w.startswith('--')][:-1]
      if ins.keyword == 'ADD' and any('://' in s for s in sources):
        self.add(ins.line, 'ADD of a URL: download in a RUN with a checksum')
      for source in sources:
        if source in ('.', './'):
          continue
        self._check_repo_path(ins.line, source.rstrip('/'), executable=False)

  def _check_repo_path(self, line, path, executable):
    full = os.path.join(self.root, path)
    if not os.path.exists(full):
      self.add(line, f'{path} does not exist in the repository')
    elif executable and os.path.isfile(full) and not os.access(full, os.X_OK):
      self.add(line, f'{path} is not executable')
    if self.ignore.excluded(path):
      self.add(line, f'{path} is excluded by .dockerignore')

  def _check_build_stages(self, stages):
    text = ' '.join(i.text for _, body, _ in stages for i in body
                    if i.keyword == 'RUN')
    for script in ('./scripts/install-deps.sh', './scripts/build.sh'):
      if script not in text:
        self.add(1, f'no build stage runs {script}')
    # build.sh lowers its job count where the builder's memory is short,
    # but only when JOBS is empty: a default of $(nproc) turns that off.
    for _, body, _ in stages:
      for i in body:
        if (i.keyword == 'RUN' and 'build.sh' in i.text and
            re.search(r'JOBS=\S*nproc', i.text)):
          self.add(i.line, 'JOBS defaults to $(nproc) for scripts/build.sh, '
                   'which then never lowers it for a builder short of memory '
                   '(pass JOBS through as it is)')
    # Every file the build reads comes from the context: COPY . . or more.
    copies = [i for _, body, _ in stages for i in body if i.keyword == 'COPY']
    if not any(shlex.split(i.text)[0] in ('.', './') for i in copies):
      self.add(1, 'no build stage copies the source tree (COPY . .)')

  def _check_final_stage(self, stage):
    _, body, from_ins = stage
    for script in ('install-deps.sh', 'build.sh'):
      if any(i.keyword == 'RUN' and script in i.text for i in body):
        self.add(from_ins.line, f'the runtime stage runs {script}')
    if not any(i.keyword == 'USER' for i in body):
      self.add(from_ins.line, 'the runtime stage has no USER (runs as root)')
    checks = [i for i in body if i.keyword == 'HEALTHCHECK']
    if not checks:
      self.add(from_ins.line, 'the runtime stage has no HEALTHCHECK')
    else:
      text = checks[-1].text
      if 'NONE' in text.split():
        self.add(checks[-1].line, 'HEALTHCHECK is disabled')
      command = text[text.find('CMD') + 3:].strip() if 'CMD' in text else ''
      words = json.loads(command) if command.startswith('[') else shlex.split(
          command)
      if not words or os.path.basename(words[0]) != 'stylizer' or (
          'health' not in words):
        self.add(checks[-1].line, 'HEALTHCHECK does not run `stylizer ... '
                 'health` (the gRPC health service)')
    entrypoints = [i for i in body if i.keyword == 'ENTRYPOINT']
    if not entrypoints:
      self.add(from_ins.line, 'the runtime stage has no ENTRYPOINT')
    else:
      words = entrypoints[-1].exec_form() or shlex.split(entrypoints[-1].text)
      if not words or os.path.basename(words[0]) != 'stylizer-server':
        self.add(entrypoints[-1].line, 'ENTRYPOINT does not start '
                 'stylizer-server')
    ports = ' '.join(i.text for i in body if i.keyword == 'EXPOSE').split()
    ports = [p.split('/')[0] for p in ports]
    for port in (GRPC_PORT, METRICS_PORT):
      if port not in ports:
        self.add(from_ins.line, f'the runtime stage does not EXPOSE {port}')


def lint(root, dockerfile, required_args=(), warnings=None):
  """Findings for one Dockerfile; empty when it passes. Warnings (files the
  build reads that other work has not committed yet) go to `warnings`."""
  linter = Linter(root, dockerfile)
  findings = linter.run()
  if warnings is not None:
    warnings.extend(linter.warnings)
  with open(dockerfile, encoding='utf-8') as f:
    declared = {
        i.text.partition('=')[0].strip()
        for i in parse(f.read())
        if i.keyword == 'ARG'
    }
  for arg in required_args:
    if arg not in declared:
      findings.append(f'{os.path.relpath(dockerfile, root)}: no build '
                      f'argument {arg}')
  return findings


# Build arguments each image promises (docs/deploy.md documents them).
REQUIRED_ARGS = {
    'Dockerfile.cpu': ('DEBIAN_IMAGE', 'JOBS'),
    'Dockerfile.cuda': ('DEBIAN_IMAGE', 'CUDA_VERSION', 'LIBTORCH_VERSION',
                        'LIBTORCH_CUDA', 'LIBTORCH_URL', 'LIBTORCH_SHA256',
                        'JOBS'),
}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--root', default=os.path.dirname(
      os.path.dirname(os.path.abspath(__file__))))
  parser.add_argument('dockerfiles', nargs='+')
  args = parser.parse_args(argv)
  failed = False
  for dockerfile in args.dockerfiles:
    warnings = []
    findings = lint(args.root, dockerfile,
                    REQUIRED_ARGS.get(os.path.basename(dockerfile), ()),
                    warnings)
    for warning in warnings:
      print(f'warning: {warning}', file=sys.stderr)
    for finding in findings:
      print(finding, file=sys.stderr)
    if findings:
      failed = True
    else:
      print(f'{dockerfile}: ok')
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
