#!/usr/bin/env python3
"""Tests of docker/lint.py (the project's Dockerfiles pass; each rule catches
its mistake in a small Dockerfile) and of docker/stage-runtime.sh (run on real
binaries of this machine: the packages it names own their libraries, bundle
mode copies them, and missing libraries, binaries or models fail)."""

import os
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
    self.assertTrue(any(__import__('re').search(pattern, f) for f in findings),
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

  def test_runtime_user(self):
    self.assertFinding(GOOD.replace('USER 10001:10001\n', ''), 'has no USER')
    self.assertFinding(GOOD.replace('USER 10001:10001', 'USER root'),
                       'runs as root')
    self.assertFinding(GOOD.replace('USER 10001:10001', 'USER 0:0'),
                       'runs as 0')

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

  def test_entrypoint_exec_form(self):
    self.assertFinding(
        GOOD.replace('ENTRYPOINT ["/opt/stylizer/bin/stylizer-server"]',
                     'ENTRYPOINT /opt/stylizer/bin/stylizer-server'),
        'shell form')

  def test_ports(self):
    self.assertFinding(GOOD.replace('EXPOSE 50051 9464', 'EXPOSE 50051'),
                       'does not EXPOSE 9464')

  def test_apt_recommends(self):
    self.assertFinding(GOOD.replace(' --no-install-recommends', ''),
                       'without --no-install-recommends')

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
