#!/usr/bin/env bash
# Deployment checks, offline but for the first run of
# scripts/install-pytools.sh (pinned PyPI packages into a venv it reuses):
#  1. unit tests of the manifest renderer, the policy checks, the schema
#     validator and the Docker lint (Python unittest);
#  2. the Dockerfiles: hadolint (docker/hadolint.yaml) and the project's own
#     lint (docker/lint.py), shell syntax of their scripts, CMake configure
#     with the images' options, and (when CI built them) the runtime-stage
#     staging of the real binaries and the real server accepting every
#     overlay's flag files, and those binaries run as the images run them
#     (docker/runtime_smoke_test.py);
#  3. every kustomization (base, overlays/gpu, overlays/cpu and the examples
#     examples/model-volume, examples/token-auth and examples/network-policy)
#     rendered, checked against the Kubernetes and Prometheus Operator schemas
#     (unknown fields refused) and the policy checks; and, where a kustomize
#     is installed, compared with its render.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
BUILD_DIR=${BUILD_DIR:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kubernetes-validate, the ServiceMonitor models and hadolint (PyPI).
tools=$(./scripts/install-pytools.sh)
TOOLS_PY=$tools/bin/python
export STYLIZER_HADOLINT=$tools/bin/hadolint

# Runs a command quietly: its last lines when it passes, all of it when not.
quiet() {
  if "$@" > "$work/log" 2>&1; then
    grep -E "^(Ran |OK|FAILED|# (tests|pass|fail) )" "$work/log" || tail -n 3 "$work/log"
  else
    cat "$work/log"
    echo "failed: $*" >&2
    exit 1
  fi
}

echo "-- unit tests: renderer, policy, schema validator, Docker lint"
(cd k8s/tests && quiet "$PY" -m unittest render_test policy_test)
(cd k8s/tests && quiet "$TOOLS_PY" -m unittest validate_test)
(cd docker && quiet "$PY" -m unittest lint_test)

echo "-- Dockerfiles"
"$STYLIZER_HADOLINT" --config docker/hadolint.yaml \
  docker/Dockerfile.cpu docker/Dockerfile.cuda
echo "hadolint: docker/Dockerfile.cpu docker/Dockerfile.cuda ok"
"$PY" docker/lint.py docker/Dockerfile.cpu docker/Dockerfile.cuda
for script in docker/*.sh; do bash -n "$script"; done
# Dockerfile.cuda's LIBTORCH_URL / LIBTORCH_SHA256 reach the wheel script as
# TORCH_WHEEL / TORCH_WHEEL_SHA256: a wheel of the wrong name or checksum is
# refused before anything is fetched.
fake="$work/wheel/torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl"
mkdir -p "$(dirname "$fake")" && echo "not a wheel" > "$fake"
expect_refusal() {  # expect_refusal WHAT MESSAGE ENV...
  local what=$1 says=$2; shift 2
  if env STYLIZER_CACHE_DIR="$work/wheel-cache" "$@" \
      scripts/install-torch-wheel.sh > "$work/wheel.log" 2>&1; then
    echo "install-torch-wheel.sh accepted $what" >&2; exit 1
  fi
  grep -q "$says" "$work/wheel.log" || {
    cat "$work/wheel.log"; echo "install-torch-wheel.sh: no '$says' for $what" >&2; exit 1; }
}
expect_refusal "a wrong checksum" "does not have the SHA-256" \
  TORCH_WHEEL="$fake" TORCH_WHEEL_SHA256="$(printf '0%.0s' {1..64})"
cp "$fake" "$work/wheel/mirror.whl"
expect_refusal "a wheel named otherwise" "is not named as a torch" \
  TORCH_WHEEL="$work/wheel/mirror.whl"
echo "install-torch-wheel.sh: mirror wheels checked by name and SHA-256"
# The images configure with tests and benchmarks off: keep that working.
cmake -S . -B "$work/image-configure" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSTYLIZER_BUILD_TESTS=OFF -DSTYLIZER_BUILD_BENCH=OFF > "$work/configure.log" 2>&1 || {
  cat "$work/configure.log"; echo "the image build's CMake configure failed" >&2; exit 1; }
echo "configure with -DSTYLIZER_BUILD_TESTS=OFF -DSTYLIZER_BUILD_BENCH=OFF: ok"
server=$BUILD_DIR/server/stylizer-server
cli=$BUILD_DIR/client/stylizer
if [ -x "$server" ] && [ -x "$cli" ]; then
  # What the CPU image's runtime stage would install for these binaries.
  ./docker/stage-runtime.sh --dest "$work/stage" --mode packages "$server" "$cli"
  grep -qx 'libtorch1.13' "$work/stage/opt/stylizer/runtime-packages.txt" || {
    echo "runtime packages lack libtorch1.13" >&2; exit 1; }
  # The staged binaries as the images run them: image user, flags from the
  # cpu overlay, HEALTHCHECK command, /metrics, SIGTERM drain.
  (export STYLIZER_BUILD_DIR; STYLIZER_BUILD_DIR=$(realpath -m "$BUILD_DIR")
   cd docker && quiet "$PY" -m unittest runtime_smoke_test)
else
  echo "no $server and $cli: runtime staging of the real binaries skipped"
fi

echo "-- manifests"
kustomizations=(base overlays/gpu overlays/cpu examples/model-volume
                examples/token-auth examples/network-policy)
for overlay in "${kustomizations[@]}"; do
  name=$(basename "$overlay")
  case "$name" in base|gpu|cpu) profile=$name ;; *) profile=gpu ;; esac
  "$PY" k8s/tests/render.py --json "k8s/$overlay" > "$work/$name.json"
  "$PY" k8s/tests/render.py "k8s/$overlay" > "$work/$name.yaml"
  "$PY" k8s/tests/policy.py --profile "$profile" \
    --adapter-rules k8s/prometheus-adapter/values.yaml "$work/$name.json"
  if [ -x "$server" ]; then
    # The real server parses this overlay's flag files (--version exits 0
    # after a clean parse, 1 on an unknown flag or a bad value).
    mkdir -p "$work/flags-$name"
    "$PY" - "$work/$name.json" "$work/flags-$name" <<'EOF'
import json, os, sys
for o in json.load(open(sys.argv[1])):
  if o['kind'] == 'ConfigMap':
    for key, value in o.get('data', {}).items():
      with open(os.path.join(sys.argv[2], key), 'w') as f:
        f.write(value)
EOF
    files=$(ls "$work/flags-$name"/*.flags | tr '\n' ',' | sed 's/,$//')
    "$server" --flagfile="$files" --version > /dev/null || {
      echo "stylizer-server refuses the $name flag files" >&2; exit 1; }
    echo "$name: stylizer-server accepts the flag files"
  fi
done
(repo=$PWD; cd "$work" && "$TOOLS_PY" "$repo/k8s/tests/validate.py" *.json)

kustomize_cmd=()
if command -v kustomize > /dev/null; then
  kustomize_cmd=(kustomize build)
elif command -v kubectl > /dev/null && kubectl kustomize --help > /dev/null 2>&1; then
  kustomize_cmd=(kubectl kustomize)
fi
if [ ${#kustomize_cmd[@]} -gt 0 ]; then
  for overlay in "${kustomizations[@]}"; do
    name=$(basename "$overlay")
    "${kustomize_cmd[@]}" "k8s/$overlay" > "$work/$name.kustomize.yaml"
    "$PY" - "$work/$name.yaml" "$work/$name.kustomize.yaml" <<'EOF'
import sys, yaml
ours, theirs = (list(yaml.safe_load_all(open(p))) for p in sys.argv[1:])
if ours != theirs:
  sys.exit(f'render.py and kustomize differ for {sys.argv[1]}')
EOF
  done
  echo "render.py matches ${kustomize_cmd[*]} for every kustomization"
else
  echo "no kustomize installed: comparison with it skipped"
fi
echo "k8s manifests and Dockerfiles: all checks passed"
