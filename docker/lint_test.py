#!/usr/bin/env python3
"""Tests of docker/lint.py (the project's Dockerfiles pass; each rule catches
its mistake in a small Dockerfile), of hadolint with docker/hadolint.yaml (the
project's Dockerfiles pass; the generic rules lint.py leaves to it still fail
their mistakes) and of docker/stage-runtime.sh (run on real binaries of this
machine: the packages it names own their libraries, bundle mode copies them,
and missing libraries, binaries or models fail).

hadolint is the one scripts/install-pytools.sh installs, named by
$STYLIZER_HADOLINT (the suite sets it), else the one on PATH; without either
the hadolint tests are skipped."""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import lint

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STAGE = os.path.join(HERE, 'stage-runtime.sh')

GOOD = """\
# syntax=docker/dockerfile:1
ARG BASE=debian:12-slim
FROM ${BASE} AS build
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh
COPY . .
RUN ./scripts/build.sh \\
 && ./docker/stage.sh
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends libfoo1
COPY --from=build /stage/ /
USER 10001:10001
EXPOSE 50051 9464
HEALTHCHECK CMD ["/opt/stylizer/bin/stylizer", "--server=127.0.0.1:50051", "health"]
ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]
"""


class LintTest(unittest.TestCase):

  def setUp(self):
    self.root = tempfile.mkdtemp(prefix='lint_test_')
    self.addCleanup(shutil.rmtree, self.root)
    for path in ('scripts/install-deps.sh', 'scripts/build.sh',
                 'docker/stage.sh'):
      self.write(path, '#!/bin/sh\n', mode=0o755)
    self.write('.dockerignore', '.git\nbuild\n')

  def write(self, path, text, mode=0o644):
    full = os.path.join(self.root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as f:
      f.write(text)
    os.chmod(full, mode)
    return full

  def findings(self, text):
    return lint.lint(self.root, self.write('docker/Dockerfile', text))

  def assertFinding(self, text, pattern):
    findings = self.findings(text)
    self.assertTrue(any(re.search(pattern, f) for f in findings),
                    f'no finding matches {pattern!r}: {findings}')

  def test_project_dockerfiles_pass(self):
    for name in ('Dockerfile.cpu', 'Dockerfile.cuda'):
      with self.subTest(name=name):
        self.assertEqual(
            lint.lint(ROOT, os.path.join(HERE, name), lint.REQUIRED_ARGS[name]),
            [])

  def test_good_example_passes(self):
    self.assertEqual(self.findings(GOOD), [])

  def test_base_image_tags(self):
    self.assertFinding(GOOD.replace('debian:12-slim', 'debian:latest'),
                       "'debian:latest' uses the latest tag")
    self.assertFinding(GOOD.replace('debian:12-slim', 'debian'),
                       "'debian' has no tag")
    self.assertFinding(GOOD.replace('ARG BASE=debian:12-slim', 'ARG BASE'),
                       'has no default')
    self.assertEqual(
        self.findings(GOOD.replace('debian:12-slim',
                                   'debian@sha256:' + 'a' * 64)), [])
    # A registry port is not a tag.
    self.assertFinding(GOOD.replace('debian:12-slim', 'registry:5000/debian'),
                       'has no tag')
    # A literal image is hadolint's (DL3006, DL3007; see HadolintTest).
    self.assertEqual(
        self.findings(GOOD.replace('FROM ${BASE} AS build',
                                   'FROM debian:latest AS build')), [])

  def test_single_stage_is_refused(self):
    single = GOOD.split('FROM ${BASE}\n')[0]
    self.assertFinding(single, 'not a multi-stage build')

  def test_scripts_must_exist_be_executable_and_be_in_the_context(self):
    self.assertFinding(GOOD.replace('docker/stage.sh', 'docker/absent.sh'),
                       'docker/absent.sh does not exist')
    os.chmod(os.path.join(self.root, 'docker/stage.sh'), 0o644)
    self.assertFinding(GOOD, 'docker/stage.sh is not executable')
    os.chmod(os.path.join(self.root, 'docker/stage.sh'), 0o755)
    self.write('.dockerignore', 'docker/*.sh\n')
    self.assertFinding(GOOD, 'docker/stage.sh is excluded by .dockerignore')
    self.write('.dockerignore', 'docker/*.sh\n!docker/stage.sh\n')
    self.assertEqual(self.findings(GOOD), [])

  def test_model_read_by_a_build_step(self):
    text = GOOD.replace('./docker/stage.sh', './docker/stage.sh --model '
                        'models/default.pt')
    warnings = []
    self.assertEqual(
        lint.lint(self.root, self.write('docker/Dockerfile', text), (),
                  warnings), [])
    self.assertEqual(len(warnings), 1)
    self.assertIn('models/default.pt does not exist yet', warnings[0])
    self.write('models/default.pt', 'archive')
    self.assertEqual(self.findings(text), [])
    self.write('.dockerignore', '*.pt\nmodels/*.pt\n')
    self.assertFinding(text, 'models/default.pt is excluded by .dockerignore')

  def test_copy_sources_must_exist(self):
    self.assertFinding(
        GOOD.replace('COPY . .', 'COPY . .\nCOPY models/default.pt /m/'),
        'models/default.pt does not exist')

  def test_build_stage_runs_the_project_scripts(self):
    self.assertFinding(GOOD.replace('RUN ./scripts/install-deps.sh\n', ''),
                       'no build stage runs ./scripts/install-deps.sh')

  def test_build_jobs_are_left_to_the_build_script(self):
    self.assertFinding(
        GOOD.replace('RUN ./scripts/build.sh',
                     'RUN JOBS="${JOBS:-$(nproc)}" ./scripts/build.sh'),
        r'JOBS defaults to \$\(nproc\)')

  def test_runtime_user(self):
    # A root USER is hadolint's DL3002; a missing one only lint.py sees.
    self.assertFinding(GOOD.replace('USER 10001:10001\n', ''), 'has no USER')

  def test_healthcheck(self):
    self.assertFinding(
        '\n'.join(l for l in GOOD.splitlines() if 'HEALTHCHECK' not in l),
        'no HEALTHCHECK')
    self.assertFinding(
        GOOD.replace('"health"]', '"styles"]'), 'does not run `stylizer')
    self.assertFinding(
        GOOD.replace(
            'HEALTHCHECK CMD',
            'HEALTHCHECK --interval=5s CMD ["true"]\n#') , 'does not run')

  def test_entrypoint_starts_the_server(self):
    self.assertFinding(
        GOOD.replace('bin/stylizer-server"]', 'bin/stylizer", "serve"]'),
        'ENTRYPOINT does not start stylizer-server')
    self.assertFinding(
        GOOD.replace('ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]',
                     'ENTRYPOINT /bin/sh -c true'),
        'ENTRYPOINT does not start stylizer-server')
    self.assertFinding(
        GOOD.replace('ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]\n', ''),
        'has no ENTRYPOINT')
    # The shell form is hadolint's DL3025.
    self.assertEqual(
        self.findings(
            GOOD.replace('ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]',
                         'ENTRYPOINT /opt/stylizer/bin/stylizer-server')), [])

  def test_ports(self):
    self.assertFinding(GOOD.replace('EXPOSE 50051 9464', 'EXPOSE 50051'),
                       'does not EXPOSE 9464')

  def test_apt_recommends_through_another_command(self):
    xargs = GOOD.replace(
        'apt-get install -y --no-install-recommends libfoo1',
        'DEBIAN_FRONTEND=noninteractive xargs -a /tmp/p apt-get install -y '
        '--no-install-recommends')
    self.assertEqual(self.findings(xargs), [])
    self.assertFinding(xargs.replace(' --no-install-recommends', ''),
                       'without --no-install-recommends')
    # A direct apt-get is hadolint's DL3015.
    self.assertEqual(
        self.findings(GOOD.replace(' --no-install-recommends', '')), [])

  def test_add_of_a_url(self):
    self.assertFinding(
        GOOD.replace('COPY . .', 'COPY . .\nADD https://example.com/a.zip /a'),
        'ADD of a URL')

  def test_dockerignore_matching(self):
    ignore = lint.DockerIgnore('build\n**/node_modules\n*.swp\n/out\n'
                               'docs/*.md\n!docs/keep.md\n')
    self.assertTrue(ignore.excluded('build/server/x'))
    self.assertFalse(ignore.excluded('scripts/build.sh'))
    self.assertTrue(ignore.excluded('k8s/tests/node_modules/a/b.js'))
    self.assertTrue(ignore.excluded('out'))
    self.assertTrue(ignore.excluded('a.swp'))
    self.assertFalse(ignore.excluded('docs/a.swp'))
    self.assertTrue(ignore.excluded('docs/deploy.md'))
    self.assertFalse(ignore.excluded('docs/keep.md'))

  def test_parse_joins_continuations_and_skips_comments(self):
    instructions = lint.parse('FROM a:1\n# note\nRUN one \\\n  # inner\n'
                              '  two\nCMD ["x"]\n')
    self.assertEqual([(i.keyword, i.text) for i in instructions],
                     [('FROM', 'a:1'), ('RUN', 'one two'), ('CMD', '["x"]')])
    self.assertEqual(instructions[2].exec_form(), ['x'])


def _hadolint():
  path = os.environ.get('STYLIZER_HADOLINT')
  if path and not os.access(path, os.X_OK):
    raise RuntimeError(f'STYLIZER_HADOLINT={path} is not an executable')
  return path or shutil.which('hadolint')


# A Dockerfile hadolint passes; HadolintTest makes one mistake at a time.
HADOLINT_GOOD = """\
FROM debian:12 AS build
RUN mkdir /stage
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends libfoo1 \\
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /stage/ /
USER 10001:10001
ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]
"""


@unittest.skipUnless(_hadolint(), 'no hadolint (scripts/install-pytools.sh)')
class HadolintTest(unittest.TestCase):
  """The project's hadolint settings: both Dockerfiles pass, and the generic
  rules lint.py leaves to hadolint are not among the accepted ones."""

  def hadolint(self, *paths):
    return subprocess.run(
        [_hadolint(), '--config', os.path.join(HERE, 'hadolint.yaml'),
         *paths], capture_output=True, text=True, check=False)

  def test_project_dockerfiles_pass(self):
    result = self.hadolint(os.path.join(HERE, 'Dockerfile.cpu'),
                           os.path.join(HERE, 'Dockerfile.cuda'))
    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

  def test_generic_rules_fail(self):
    runtime = HADOLINT_GOOD
    mistakes = {
        'DL3006': runtime.replace('debian:12-slim', 'debian'),
        'DL3007': runtime.replace('debian:12-slim', 'debian:latest'),
        'DL3002': runtime.replace('USER 10001:10001', 'USER 0:0'),
        'DL3025': runtime.replace(
            'ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]',
            'ENTRYPOINT /opt/stylizer/bin/stylizer-server'),
        'DL3015': runtime.replace(' --no-install-recommends', ''),
        'DL3061': 'RUN true\n' + runtime,
    }
    with tempfile.TemporaryDirectory() as tmp:
      good = os.path.join(tmp, 'Dockerfile.good')
      with open(good, 'w', encoding='utf-8') as f:
        f.write(runtime)
      result = self.hadolint(good)
      self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
      for rule, text in mistakes.items():
        with self.subTest(rule=rule):
          path = os.path.join(tmp, f'Dockerfile.{rule}')
          with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
          result = self.hadolint(path)
          self.assertEqual(result.returncode, 1, result.stdout)
          self.assertIn(rule, result.stdout)


@unittest.skipUnless(shutil.which('ldd') and shutil.which('dpkg-query'),
                     'needs ldd and dpkg')
class StageRuntimeTest(unittest.TestCase):

  def setUp(self):
    self.dir = tempfile.mkdtemp(prefix='stage_test_')
    self.addCleanup(shutil.rmtree, self.dir)

  def stage(self, *args):
    return subprocess.run([STAGE, '--dest', os.path.join(self.dir, 'out'),
                           *args], capture_output=True, text=True, check=False)

  def compile(self, name, source, *flags):
    path = os.path.join(self.dir, name)
    src = os.path.join(self.dir, name + '.c')
    with open(src, 'w', encoding='utf-8') as f:
      f.write(textwrap.dedent(source))
    subprocess.run(['cc', '-o', path, src, *flags], check=True)
    return path

  def program_using_own_library(self, name, rpath=False):
    """(lib_dir, program): a program linked to lib<name>.so, built in lib_dir
    (which the program's RUNPATH names when rpath is set)."""
    lib_dir = os.path.join(self.dir, 'lib')
    os.makedirs(lib_dir)
    subprocess.run(['cc', '-shared', '-fPIC', '-o',
                    os.path.join(lib_dir, f'lib{name}.so'), '-x', 'c', '-'],
                   input=f'int {name}(void){{return 0;}}\n', text=True,
                   check=True)
    program = self.compile('prog', f'int {name}(void);\n'
                           f'int main(void){{return {name}();}}\n',
                           '-L' + lib_dir, f'-l{name}',
                           *(['-Wl,-rpath,' + lib_dir] if rpath else []))
    return lib_dir, program

  def test_packages_own_the_libraries(self):
    # A program that loads zlib: its package is named, glibc's is not.
    program = self.compile(
        'zprog', '#include <zlib.h>\nint main(void){return !zlibVersion();}\n',
        '-lz')
    model = os.path.join(self.dir, 'default.pt')
    with open(model, 'wb') as f:
      f.write(b'archive')
    result = self.stage('--model', model, program)
    self.assertEqual(result.returncode, 0, result.stderr)
    out = os.path.join(self.dir, 'out')
    with open(os.path.join(out, 'opt/stylizer/runtime-packages.txt'),
              encoding='utf-8') as f:
      packages = f.read().split()
    self.assertEqual(packages, ['zlib1g'])
    self.assertTrue(os.access(os.path.join(out, 'opt/stylizer/bin/zprog'),
                              os.X_OK))
    self.assertTrue(os.path.isfile(
        os.path.join(out, 'usr/share/stylizer/models/default.pt')))
    self.assertEqual(os.readlink(os.path.join(out, 'opt/stylizer/share/stylizer')),
                     '/usr/share/stylizer')

  def test_bundle_copies_libraries_but_not_libc(self):
    program = self.compile(
        'zprog', '#include <zlib.h>\nint main(void){return !zlibVersion();}\n',
        '-lz')
    result = self.stage('--mode', 'bundle', program)
    self.assertEqual(result.returncode, 0, result.stderr)
    libs = os.listdir(os.path.join(self.dir, 'out/opt/stylizer/lib'))
    self.assertEqual(libs, ['libz.so.1'])

  def test_missing_library_fails(self):
    lib_dir, program = self.program_using_own_library('gone')
    shutil.rmtree(lib_dir)
    result = self.stage(program)
    self.assertEqual(result.returncode, 1)
    self.assertIn('libgone.so is not found by the loader', result.stderr)

  def test_unowned_library_fails_in_packages_mode(self):
    lib_dir, program = self.program_using_own_library('mine', rpath=True)
    result = self.stage(program)
    self.assertEqual(result.returncode, 1)
    self.assertIn('no Debian package owns', result.stderr)
    # Skipped directories are the Dockerfile's business.
    result = self.stage('--skip-lib-dir', lib_dir, program)
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_static_binary_needs_no_package(self):
    program = self.compile('static', 'int main(void){return 0;}\n', '-static')
    result = self.stage(program)
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(os.path.join(self.dir, 'out/opt/stylizer/runtime-packages.txt'),
              encoding='utf-8') as f:
      self.assertEqual(f.read(), '')

  def test_bad_arguments(self):
    self.assertEqual(self.stage().returncode, 2)
    self.assertEqual(self.stage('--mode', 'zip', '/bin/true').returncode, 2)
    result = self.stage(os.path.join(self.dir, 'absent'))
    self.assertEqual(result.returncode, 1)
    self.assertIn('is not an executable file', result.stderr)
    result = self.stage('--model', os.path.join(self.dir, 'none.pt'),
                        '/bin/true')
    self.assertEqual(result.returncode, 1)
    self.assertIn('model', result.stderr)


if __name__ == '__main__':
  unittest.main()
